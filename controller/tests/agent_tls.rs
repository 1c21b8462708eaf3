//! Agent identity over mutual TLS: enrolment with a one-time token, the control
//! stream with the issued certificate, and refusals for a reused token, no
//! certificate, a forged certificate, an expired one, and a revoked agent (whose
//! tokens are cancelled, and who comes back only when reinstated); reports about
//! cameras that are not the agent's are refused, audited and counted.

use camplane_controller::pki::{agent_key_and_csr, Pki};
use camplane_proto::v1 as pb;
use camplane_testkit::controller::*;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
use tonic::Code;

async fn agent_channel(
    h: &Harness,
    cert: &str,
    key: &str,
) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&h.running.ca_pem))
        .identity(Identity::from_pem(cert, key));
    Endpoint::from_shared(format!("https://127.0.0.1:{}", h.running.addr.port()))?
        .tls_config(tls)?
        .connect()
        .await
}

/// Opens the control stream and returns the first message (or the refusal).
async fn first_message(
    ch: tonic::transport::Channel,
) -> Result<pb::ControllerMessage, tonic::Status> {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(pb::AgentMessage {
        msg: Some(pb::agent_message::Msg::Hello(pb::Hello {
            agent: "x".into(),
            config_revision: 0,
            version: "t".into(),
            hotlists: Default::default(),
        })),
    })
    .await
    .unwrap();
    let mut s = pb::fleet_client::FleetClient::new(ch)
        .control(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await?
        .into_inner();
    let m = tokio::time::timeout(std::time::Duration::from_secs(10), s.message())
        .await
        .map_err(|_| tonic::Status::deadline_exceeded("no message"))??;
    drop(tx);
    m.ok_or_else(|| tonic::Status::aborted("stream ended"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_identity_is_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("CAMPLANE_TEST_NO_SUCH_VAR", ADMIN_PW);
    let h = start(config_embedded(dir.path()), None).await;
    apply(&h, &h.admin, CITY).await.unwrap();
    let mut fleet = pb::fleet_client::FleetClient::new(h.channel.clone());
    let t = fleet
        .create_enroll_token(req(
            &h.admin,
            pb::EnrollTokenRequest {
                site: "city-hall".into(),
                agent: "gw1".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    // Only admins issue tokens.
    let viewer = user(&h, "v", &["viewer"], "police").await;
    assert_eq!(
        fleet
            .create_enroll_token(req(
                &viewer,
                pb::EnrollTokenRequest {
                    site: "city-hall".into(),
                    agent: String::new()
                }
            ))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );

    let (key, csr) = agent_key_and_csr("whatever").unwrap();
    let e = fleet
        .enroll(pb::EnrollRequest {
            token: t.token.clone(),
            csr_pem: csr.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(e.agent, "gw1");
    // The token is one-time.
    assert_eq!(
        fleet
            .enroll(pb::EnrollRequest {
                token: t.token.clone(),
                csr_pem: csr.clone()
            })
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    // Garbage CSR and unknown token: clear refusals.
    assert_eq!(
        fleet
            .enroll(pb::EnrollRequest {
                token: "cpe_nope".into(),
                csr_pem: "junk".into()
            })
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );

    // With its certificate the agent gets its config.
    let ch = agent_channel(&h, &e.cert_pem, &key).await.unwrap();
    let m = first_message(ch.clone()).await.unwrap();
    let Some(pb::controller_message::Msg::Config(c)) = m.msg else {
        panic!("{m:?}")
    };
    let d: serde_json::Value = serde_json::from_slice(&c.json).unwrap();
    assert_eq!(d["agent"], "gw1");
    assert_eq!(d["site"], "city-hall");

    // Without a certificate: refused.
    assert_eq!(
        first_message(h.channel.clone()).await.unwrap_err().code(),
        Code::Unauthenticated
    );

    // A certificate from another CA naming the same agent: the handshake or the call fails.
    let forged_key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::default();
    p.distinguished_name.push(rcgen::DnType::CommonName, "gw1");
    let forged = p.self_signed(&forged_key).unwrap();
    match agent_channel(&h, &forged.pem(), &forged_key.serialize_pem()).await {
        Err(_) => {}
        Ok(ch) => assert!(
            first_message(ch).await.is_err(),
            "forged certificate accepted"
        ),
    }

    // A certificate from the real CA that has expired: refused.
    let pki = Pki::load_or_create(&h.running.controller.store, "x", jiff::Timestamp::now())
        .await
        .unwrap();
    let (k2, csr2) = agent_key_and_csr("gw1").unwrap();
    let past = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(24 * 10))
        .unwrap();
    let (expired, _, _) = pki.sign_agent(&csr2, "gw1", past, 1).unwrap();
    match agent_channel(&h, &expired, &k2).await {
        Err(_) => {}
        Ok(ch) => assert!(
            first_message(ch).await.is_err(),
            "expired certificate accepted"
        ),
    }
    // A valid certificate the controller did not issue to gw1 (serial differs): refused.
    let (stale, _, _) = pki
        .sign_agent(&csr2, "gw1", jiff::Timestamp::now(), 1)
        .unwrap();
    let ch2 = agent_channel(&h, &stale, &k2).await.unwrap();
    assert_eq!(
        first_message(ch2).await.unwrap_err().code(),
        Code::Unauthenticated
    );

    // Renewal over mutual TLS: the new certificate works, the replaced one is refused.
    let (k3, csr3) = agent_key_and_csr("gw1").unwrap();
    let renewed = pb::fleet_client::FleetClient::new(ch.clone())
        .renew(pb::RenewRequest { csr_pem: csr3 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        first_message(ch.clone()).await.unwrap_err().code(),
        Code::Unauthenticated,
        "the old certificate is replaced"
    );
    let ch = agent_channel(&h, &renewed.cert_pem, &k3).await.unwrap();
    assert!(first_message(ch.clone()).await.is_ok());

    // Revoked: refused from then on.
    fleet
        .revoke(req(
            &h.admin,
            pb::AgentName {
                agent: "gw1".into(),
            },
        ))
        .await
        .unwrap();
    assert_eq!(
        first_message(ch).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert!(verify(&h).await.ok);
}

async fn token_for(h: &Harness, agent: &str) -> Result<pb::EnrollTokenResponse, tonic::Status> {
    pb::fleet_client::FleetClient::new(h.channel.clone())
        .create_enroll_token(req(
            &h.admin,
            pb::EnrollTokenRequest {
                site: "city-hall".into(),
                agent: agent.into(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

/// Enrols with `token`: the agent's certificate and key.
async fn enroll(h: &Harness, token: &str) -> Result<(String, String), tonic::Status> {
    let (key, csr) = agent_key_and_csr("whatever").unwrap();
    let e = pb::fleet_client::FleetClient::new(h.channel.clone())
        .enroll(pb::EnrollRequest {
            token: token.into(),
            csr_pem: csr,
        })
        .await?
        .into_inner();
    Ok((e.cert_pem, key))
}

async fn entries(h: &Harness, action: &str) -> Vec<serde_json::Value> {
    audit_log(h)
        .await
        .into_iter()
        .filter(|e| e["action"] == action)
        .collect()
}

/// Identities that stay dead: revoking cancels the agent's outstanding tokens,
/// so a gateway holding an old one gets nothing; no new token is issued and no
/// enrolment clears the flag until an admin reinstates the agent with a reason
/// (audited); the old certificate stays refused after that, and the agent
/// enrols again with a new token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_agent_comes_back_only_when_reinstated() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    apply(&h, &h.admin, CITY).await.unwrap();
    let mut fleet = pb::fleet_client::FleetClient::new(h.channel.clone());
    let t1 = token_for(&h, "gw1").await.unwrap();
    let (cert, key) = enroll(&h, &t1.token).await.unwrap();
    // A second token, not yet used, and one for another agent.
    let t2 = token_for(&h, "gw1").await.unwrap();
    let other = token_for(&h, "gw2").await.unwrap();

    fleet
        .revoke(req(
            &h.admin,
            pb::AgentName {
                agent: "gw1".into(),
            },
        ))
        .await
        .unwrap();
    let r = entries(&h, "agent.revoke").await;
    assert_eq!(r[0]["details"]["enrolment_tokens_cancelled"], 1);
    // The old token gets nothing: no certificate, so no config and no hotlists.
    assert_eq!(
        enroll(&h, &t2.token).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let ch = agent_channel(&h, &cert, &key).await.unwrap();
    assert_eq!(
        first_message(ch).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    // Another agent's token still works.
    enroll(&h, &other.token).await.unwrap();
    // Deleting the revoked agent (to enrol its name afresh) is refused, audited.
    let e = pb::objects_client::ObjectsClient::new(h.channel.clone())
        .delete(req(
            &h.admin,
            pb::DeleteRequest {
                kind: "Agent".into(),
                name: "gw1".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(
        e.message().contains("agent reinstate gw1"),
        "{}",
        e.message()
    );
    let d = entries(&h, "delete").await;
    assert!(d.last().unwrap()["result"]
        .as_str()
        .unwrap()
        .starts_with("denied"));
    // No new token for a revoked agent: refused, audited, naming the way back.
    let e = token_for(&h, "gw1").await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(
        e.message().contains("camplane agent reinstate gw1"),
        "{}",
        e.message()
    );
    let t = entries(&h, "agent.enroll_token").await;
    assert!(t.last().unwrap()["result"]
        .as_str()
        .unwrap()
        .starts_with("refused"));

    // Reinstating: admins only, with a reason; both refusals audited.
    let viewer = user(&h, "v", &["viewer"], "police").await;
    for (who, reason, code) in [
        (&viewer, "back in service", Code::PermissionDenied),
        (&h.admin, " ", Code::InvalidArgument),
        (&h.admin, "a\u{1b}[2Jb", Code::InvalidArgument),
    ] {
        let e = fleet
            .reinstate(req(
                who,
                pb::AgentReinstateRequest {
                    agent: "gw1".into(),
                    reason: reason.into(),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(e.code(), code, "{e:?}");
    }
    let ri = entries(&h, "agent.reinstate").await;
    assert_eq!(ri.len(), 3);
    assert!(ri.iter().all(|e| e["result"] != "ok"));
    fleet
        .reinstate(req(
            &h.admin,
            pb::AgentReinstateRequest {
                agent: "gw1".into(),
                reason: "gateway replaced after the break-in (ticket 4711)".into(),
            },
        ))
        .await
        .unwrap();
    let ri = entries(&h, "agent.reinstate").await;
    assert_eq!(ri.last().unwrap()["result"], "ok");
    assert_eq!(
        ri.last().unwrap()["details"]["reason"],
        "gateway replaced after the break-in (ticket 4711)"
    );
    // Reinstating an agent that is not revoked: nothing to do.
    let e = fleet
        .reinstate(req(
            &h.admin,
            pb::AgentReinstateRequest {
                agent: "gw1".into(),
                reason: "again".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    // The old certificate stays refused; a new token enrols and gets its config.
    let ch = agent_channel(&h, &cert, &key).await.unwrap();
    assert_eq!(
        first_message(ch).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let t3 = token_for(&h, "gw1").await.unwrap();
    let (cert, key) = enroll(&h, &t3.token).await.unwrap();
    let ch = agent_channel(&h, &cert, &key).await.unwrap();
    let m = first_message(ch).await.unwrap();
    assert!(matches!(
        m.msg,
        Some(pb::controller_message::Msg::Config(_))
    ));
    assert!(verify(&h).await.ok);
}

fn report(key: &str, kind: &str, json: serde_json::Value) -> pb::AgentMessage {
    pb::AgentMessage {
        msg: Some(pb::agent_message::Msg::Report(pb::Report {
            key: key.into(),
            kind: kind.into(),
            json: serde_json::to_vec(&json).unwrap(),
        })),
    }
}

fn window(camera: &str) -> serde_json::Value {
    serde_json::json!({"camera": camera, "start": "2026-10-01T10:00:00Z",
        "end": "2026-10-01T10:30:00Z", "plates_read": 12})
}

/// An agent speaks only for its own cameras: windows, alerts and health about
/// another agent's camera or made-up names are refused (acknowledged, so the
/// agent lets them go, but not stored, filed or published), audited once per
/// camera per session and counted; its own camera's reports are stored.
/// The city, and two gateways at city-hall: gw1 records cam-1, gw2 cam-2.
/// Returns gw1's enrolment token.
async fn two_gateways(h: &Harness) -> pb::EnrollTokenResponse {
    apply(h, &h.admin, CITY).await.unwrap();
    let t1 = token_for(h, "gw1").await.unwrap();
    token_for(h, "gw2").await.unwrap();
    camera_on(h, "cam-1", "gw1").await;
    camera_on(h, "cam-2", "gw2").await;
    t1
}

/// Applies camera `name` at city-hall, recorded by `agent` (a move when it
/// was another's).
async fn camera_on(h: &Harness, name: &str, agent: &str) {
    let doc = format!(
        "kind: Camera\nname: {name}\nspec:\n  site: city-hall\n  department: police\n  kind: fixed\n  purpose: property_protection\n  location: {{lat: 42.5006, lon: -90.6646}}\n  streams: {{main: \"rtsp://127.0.0.1:8554/{name}\"}}\n  agent: {agent}\n"
    );
    apply(h, &h.admin, &doc).await.unwrap();
}

/// The keys of the next `n` report acknowledgements on `s`, in order.
async fn acks(s: &mut tonic::Streaming<pb::ControllerMessage>, n: usize) -> Vec<String> {
    let mut acked = Vec::new();
    while acked.len() < n {
        let m = tokio::time::timeout(std::time::Duration::from_secs(10), s.message())
            .await
            .expect("acknowledgements")
            .unwrap()
            .unwrap();
        if let Some(pb::controller_message::Msg::ReportAck(a)) = m.msg {
            acked.push(a.key);
        }
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_speaks_only_for_its_own_cameras() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    let t1 = two_gateways(&h).await;
    let (cert, key) = enroll(&h, &t1.token).await.unwrap();
    let ch = agent_channel(&h, &cert, &key).await.unwrap();

    let made_up = ["..", "<b>x</b>", "=cmd|' calc'!A0"];
    let mut msgs = vec![
        pb::AgentMessage {
            msg: Some(pb::agent_message::Msg::Hello(pb::Hello {
                agent: "gw1".into(),
                ..Default::default()
            })),
        },
        report("w-own", "windows", window("cam-1")),
        report("w-other", "windows", window("cam-2")),
    ];
    for (i, n) in made_up.iter().enumerate() {
        msgs.push(report(&format!("w-made-{i}"), "windows", window(n)));
    }
    msgs.push(report(
        "a-other",
        "alert",
        serde_json::json!({"read_id": "1-X", "camera": "cam-2", "plate": "ABC1234",
            "time": "2026-10-01T10:00:00Z", "confidence": 0.9, "list": "ncic.stolen_vehicle",
            "source": "ncic", "category": "stolen_vehicle", "list_version": 1}),
    ));
    msgs.push(report(
        "h-mixed",
        "health",
        serde_json::json!({"cameras": [{"id": "cam-1", "state": "online"}, {"id": "cam-2", "state": "online"}]}),
    ));
    msgs.push(report("w-other-again", "windows", window("cam-2")));
    let keys: Vec<String> = msgs
        .iter()
        .filter_map(|m| match &m.msg {
            Some(pb::agent_message::Msg::Report(r)) => Some(r.key.clone()),
            _ => None,
        })
        .collect();
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    for m in msgs {
        tx.send(m).await.unwrap();
    }
    let mut s = pb::fleet_client::FleetClient::new(ch)
        .control(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    // Every report is acknowledged (a refused one too: resending it would not help).
    let acked = acks(&mut s, keys.len()).await;
    assert_eq!(acked, keys);
    drop(tx);

    // Only the agent's own reports are stored; no window of another camera is
    // filed for the public log, and no alert is raised.
    let store = &h.running.controller.store;
    let mut stored = stored_keys(&h, "reports/gw1/").await;
    stored.sort();
    assert_eq!(stored, ["reports/gw1/h-mixed", "reports/gw1/w-own"]);
    let filed = stored_keys(&h, "windows/").await;
    assert_eq!(filed.len(), 1, "{filed:?}");
    assert!(filed[0].contains("/cam-1/"), "{filed:?}");
    assert!(store.list("alerts/").await.unwrap().kvs.is_empty());
    // Health keeps the agent's own camera only.
    let hl = store.get("health/gw1").await.unwrap().unwrap();
    let hl: serde_json::Value = serde_json::from_slice(&hl.value).unwrap();
    assert_eq!(
        hl["health"]["cameras"],
        serde_json::json!([{"id": "cam-1", "state": "online"}])
    );

    // Audited once per camera per session, names bounded as sent.
    let refused = entries(&h, "agent.report_refused").await;
    let named: Vec<&str> = refused
        .iter()
        .flat_map(|e| e["details"]["cameras"].as_array().unwrap())
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(named, ["cam-2", "..", "<b>x</b>", "=cmd|' calc'!A0"]);
    assert!(
        refused
            .iter()
            .all(|e| e["actor"] == "agent:gw1"
                && e["result"].as_str().unwrap().starts_with("refused"))
    );
    // Counted, every time.
    let m = &h.running.controller.metrics;
    assert_eq!(m.reports_refused_of("windows"), 5);
    assert_eq!(m.reports_refused_of("alert"), 1);
    assert_eq!(m.reports_refused_of("health"), 1);
    assert!(verify(&h).await.ok);
}

/// gw1 enrolled with `token` and its control stream open (its Hello sent):
/// the sender of its messages and the stream of the controller's.
async fn connect_gw1(
    h: &Harness,
    token: &pb::EnrollTokenResponse,
) -> (
    tokio::sync::mpsc::Sender<pb::AgentMessage>,
    tonic::Streaming<pb::ControllerMessage>,
) {
    let (cert, key) = enroll(h, &token.token).await.unwrap();
    let ch = agent_channel(h, &cert, &key).await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(pb::AgentMessage {
        msg: Some(pb::agent_message::Msg::Hello(pb::Hello {
            agent: "gw1".into(),
            ..Default::default()
        })),
    })
    .await
    .unwrap();
    let s = pb::fleet_client::FleetClient::new(ch)
        .control(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    (tx, s)
}

/// A camera moved to another gateway: the gateway it left still counts the
/// reads it made before the move, and sends its last windows late (its
/// session ended with the move, or it was offline): they are filed for the
/// public log. Its alerts about the camera are refused, as any agent's about
/// a camera that is not its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_cameras_late_windows_from_its_old_gateway_still_count() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    let t1 = two_gateways(&h).await;
    camera_on(&h, "cam-1", "gw2").await;
    let (tx, mut s) = connect_gw1(&h, &t1).await;
    let keys = ["w-late", "a-late"];
    tx.send(report("w-late", "windows", window("cam-1")))
        .await
        .unwrap();
    tx.send(report(
        "a-late",
        "alert",
        serde_json::json!({"read_id": "1-X", "camera": "cam-1", "plate": "ABC1234",
            "time": "2026-10-01T10:00:00Z", "confidence": 0.9, "list": "ncic.stolen_vehicle",
            "source": "NCIC", "category": "stolen_vehicle", "list_version": 1,
            "entry": {"plate": "ABC1234"}, "matched_at": "2026-10-01T10:00:01Z"}),
    ))
    .await
    .unwrap();
    // Both acknowledged: the window kept, the alert refused.
    assert_eq!(acks(&mut s, keys.len()).await, keys);
    let store = &h.running.controller.store;
    let filed = stored_keys(&h, "windows/").await;
    assert_eq!(filed.len(), 1, "{filed:?}");
    assert!(filed[0].contains("/cam-1/"), "{filed:?}");
    assert!(store.list("alerts/").await.unwrap().kvs.is_empty());
    drop(tx);
}

/// An enrolment token belongs to the registration it was issued for: the
/// agent deleted and its name registered again, the old token enrols nothing;
/// and a reinstatement cancels any token left from before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_enrols_only_the_registration_it_was_issued_for() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    apply(&h, &h.admin, CITY).await.unwrap();
    let old = token_for(&h, "gw3").await.unwrap();
    pb::objects_client::ObjectsClient::new(h.channel.clone())
        .delete(req(
            &h.admin,
            pb::DeleteRequest {
                kind: "Agent".into(),
                name: "gw3".into(),
            },
        ))
        .await
        .unwrap();
    let new = token_for(&h, "gw3").await.unwrap();
    let e = enroll(&h, &old.token).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    assert!(e.message().contains("earlier registration"), "{e:?}");
    enroll(&h, &new.token).await.unwrap();
    // Revoked, then a token slips in (as if made while the revocation
    // committed), then reinstated: that token is cancelled.
    let mut fleet = pb::fleet_client::FleetClient::new(h.channel.clone());
    fleet
        .revoke(req(
            &h.admin,
            pb::AgentName {
                agent: "gw3".into(),
            },
        ))
        .await
        .unwrap();
    let ctl = &h.running.controller;
    let slipped = "cpe_slipped_in_during_the_revocation";
    let rec = serde_json::json!({"agent": "gw3", "site": "city-hall",
        "expires_at": "2099-01-01T00:00:00Z", "created_by": "admin"});
    let key = format!(
        "meta/enroll/{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(slipped.as_bytes()))
    );
    ctl.store
        .put(&key, serde_json::to_vec(&rec).unwrap())
        .await
        .unwrap();
    fleet
        .reinstate(req(
            &h.admin,
            pb::AgentReinstateRequest {
                agent: "gw3".into(),
                reason: "the gateway was replaced".into(),
            },
        ))
        .await
        .unwrap();
    assert!(ctl.store.get(&key).await.unwrap().is_none(), "cancelled");
}

/// An open session lives on the certificate it connected with: when the
/// agent enrols again (a new certificate), or is revoked and reinstated at
/// once (its certificate cleared), the old session ends within a tick, not
/// when it next reconnects; it is sent nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ends_when_its_certificate_is_replaced_or_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    let t1 = two_gateways(&h).await;
    let ends_soon = |mut s: tonic::Streaming<pb::ControllerMessage>| async move {
        let t = std::time::Instant::now();
        loop {
            match tokio::time::timeout(std::time::Duration::from_secs(12), s.message()).await {
                Err(_) => panic!("the old session still runs after 12 s"),
                Ok(Ok(Some(_))) => continue,
                Ok(Ok(None)) => panic!("ended without saying why"),
                Ok(Err(st)) => return (st, t.elapsed()),
            }
        }
    };
    // Enrolled again with a new token: the first certificate's session ends.
    let (_tx, s) = connect_gw1(&h, &t1).await;
    let t2 = token_for(&h, "gw1").await.unwrap();
    enroll(&h, &t2.token).await.unwrap();
    let (st, _) = ends_soon(s).await;
    assert_eq!(st.code(), Code::Unauthenticated, "{st:?}");
    assert!(st.message().contains("replaced"), "{st:?}");
    // Revoked and reinstated back to back (within one tick): ends too.
    let t3 = token_for(&h, "gw1").await.unwrap();
    let (_tx, s) = connect_gw1(&h, &t3).await;
    let mut fleet = pb::fleet_client::FleetClient::new(h.channel.clone());
    fleet
        .revoke(req(
            &h.admin,
            pb::AgentName {
                agent: "gw1".into(),
            },
        ))
        .await
        .unwrap();
    fleet
        .reinstate(req(
            &h.admin,
            pb::AgentReinstateRequest {
                agent: "gw1".into(),
                reason: "the gateway was stolen and a new one is coming".into(),
            },
        ))
        .await
        .unwrap();
    let (st, _) = ends_soon(s).await;
    assert!(
        matches!(st.code(), Code::Unauthenticated | Code::PermissionDenied),
        "{st:?}"
    );
}

/// A site may have several gateways: a camera's video is asked of the agent
/// that records it (its `spec.agent`), never of another gateway at its site,
/// which would learn who watches what and could answer for a camera that is not
/// its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_is_asked_of_the_cameras_own_agent_only() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    let t1 = two_gateways(&h).await;
    // Only gw1 is connected.
    let (tx, mut s) = connect_gw1(&h, &t1).await;
    s.message().await.unwrap().expect("gw1's first message");

    let viewer = qualified_user(&h, "v-police", "viewer", "police").await;
    let err = pb::viewing_client::ViewingClient::new(h.channel.clone())
        .playback(req(
            &viewer,
            pb::PlaybackRequest {
                camera: "cam-2".into(),
                from: "2026-10-01T00:00:00Z".into(),
                to: "2026-10-01T01:00:00Z".into(),
                reason: "routing".into(),
                unmasked: false,
            },
        ))
        .await
        .expect_err("cam-2's gateway is offline");
    assert!(err.message().contains("gw2"), "{err:?}");
    // gw1 was asked nothing.
    while let Ok(m) = tokio::time::timeout(std::time::Duration::from_secs(2), s.message()).await {
        let Some(m) = m.unwrap() else { break };
        assert!(
            !matches!(m.msg, Some(pb::controller_message::Msg::Query(_))),
            "gw1 was asked about cam-2: {m:?}"
        );
    }
    drop(tx);
}

/// A camera moved to another gateway leaves its older recordings on the old
/// one: its status remembers the old gateway, and a legal hold placed later
/// reaches both (or the old one would age the held recordings out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_cameras_hold_reaches_the_gateway_that_keeps_its_older_recordings() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    two_gateways(&h).await;
    let chief = user(&h, "chief", &["chief"], "police").await;
    camera_on(&h, "cam-2", "gw1").await;
    let cam2 = get_json(&h, &h.admin, "Camera", "cam-2").await.unwrap();
    assert_eq!(cam2["status"]["former_agents"], serde_json::json!(["gw2"]));
    let spec = serde_json::json!({"case_number": "26-04711", "cameras": ["cam-2"],
        "from": "2026-10-01T00:00:00Z", "until": "2026-10-02T00:00:00Z",
        "reason": "criminal_investigation"});
    pb::holds_client::HoldsClient::new(h.channel.clone())
        .create(req(
            &chief,
            pb::SubmitRequest {
                json: serde_json::to_vec(&spec).unwrap(),
            },
        ))
        .await
        .unwrap();
    let fleet = fleet(&h).await;
    for gw in ["gw1", "gw2"] {
        let d = fleet.desired(gw).unwrap();
        assert_eq!(d.holds.len(), 1, "{gw}: {:?}", d.holds);
        assert_eq!(d.holds[0].cameras, ["cam-2"]);
    }
    assert!(
        !fleet
            .desired("gw2")
            .unwrap()
            .cameras
            .iter()
            .any(|c| c.id == "cam-2"),
        "gw2 no longer runs it"
    );
}

/// A camera moved to another gateway: its older recordings stay on the one it
/// left, and are played from there (its own gateway is asked too, and keeps
/// none of the range); a camera that never moved is still asked of its own
/// gateway only (`video_is_asked_of_the_cameras_own_agent_only`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_cameras_older_recordings_play_from_the_gateway_it_left() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    let t1 = two_gateways(&h).await;
    // cam-1 moves from gw1 to gw2 (offline).
    camera_on(&h, "cam-1", "gw2").await;
    let (tx, mut s) = connect_gw1(&h, &t1).await;
    // gw1 keeps cam-1's first half hour of October 1st, and plays it.
    let (asked_tx, mut asked) = tokio::sync::mpsc::unbounded_channel();
    let answering = tokio::spawn(async move {
        while let Ok(Some(m)) = s.message().await {
            let Some(pb::controller_message::Msg::Query(q)) = m.msg else {
                continue;
            };
            let body: serde_json::Value = serde_json::from_slice(&q.json).unwrap();
            let _ = asked_tx.send((q.kind.clone(), body["camera"].clone()));
            let json = match q.kind.as_str() {
                "segments" => serde_json::to_vec(&serde_json::json!([{
                    "seq": 1, "name": "1.ts",
                    "start": "2026-10-01T00:00:00Z", "end": "2026-10-01T00:30:00Z",
                    "size": 10, "sha256": "ab".repeat(32), "prev_sha256": "00".repeat(32)
                }]))
                .unwrap(),
                _ => b"{}".to_vec(),
            };
            let a = pb::QueryAnswer {
                id: q.id,
                json,
                error: String::new(),
                // A playback of it ends at once (no chunk).
                data: vec![],
            };
            let _ = tx
                .send(pb::AgentMessage {
                    msg: Some(pb::agent_message::Msg::Answer(a)),
                })
                .await;
        }
    });
    let viewer = qualified_user(&h, "v-police", "viewer", "police").await;
    let mut stream = pb::viewing_client::ViewingClient::new(h.channel.clone())
        .playback(req(
            &viewer,
            pb::PlaybackRequest {
                camera: "cam-1".into(),
                from: "2026-10-01T00:00:00Z".into(),
                to: "2026-10-01T01:00:00Z".into(),
                reason: "before the move".into(),
                unmasked: false,
            },
        ))
        .await
        .expect("played from the gateway it left, its own being offline")
        .into_inner();
    while stream.message().await.unwrap().is_some() {}
    let mut kinds = vec![];
    while let Ok(Some((kind, camera))) =
        tokio::time::timeout(std::time::Duration::from_secs(2), asked.recv()).await
    {
        assert_eq!(camera, "cam-1");
        kinds.push(kind);
    }
    assert!(kinds.iter().any(|k| k == "segments"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "playback"), "{kinds:?}");
    let starts = entries(&h, "view.start").await;
    assert!(
        starts
            .iter()
            .any(|e| e["actor"] == "v-police" && e["name"] == "cam-1"),
        "{starts:?}"
    );
    answering.abort();
}

/// A crop is taken only from the agent of the camera that read it: a gateway
/// that answers with a crop of another gateway's camera is refused, audited,
/// and the operator gets nothing from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crop_of_another_gateways_camera_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    let t1 = two_gateways(&h).await;
    let op = qualified_user(&h, "op", "alpr_operator", "police").await;
    let (tx, mut s) = connect_gw1(&h, &t1).await;
    // gw1 answers every crop query with a crop it says is cam-2's (gw2's).
    let answering = tokio::spawn(async move {
        while let Ok(Some(m)) = s.message().await {
            if let Some(pb::controller_message::Msg::Query(q)) = m.msg {
                let a = pb::QueryAnswer {
                    id: q.id,
                    json: br#"{"camera": "cam-2"}"#.to_vec(),
                    error: String::new(),
                    data: b"\xff\xd8 not gw1's \xff\xd9".to_vec(),
                };
                let _ = tx
                    .send(pb::AgentMessage {
                        msg: Some(pb::agent_message::Msg::Answer(a)),
                    })
                    .await;
            }
        }
    });
    let e = pb::recordings_client::RecordingsClient::new(h.channel.clone())
        .crop(req(
            &op,
            pb::CropRequest {
                read_id: "1780000000000-ABC1234".into(),
                case_number: "26-04711".into(),
                sites: vec!["city-hall".into()],
            },
        ))
        .await
        .expect_err("no crop from a gateway speaking for another's camera");
    assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
    assert!(e.message().contains("not its own"), "{e:?}");
    let refused = entries(&h, "agent.report_refused").await;
    assert!(
        refused.iter().any(|e| e["actor"] == "agent:gw1"
            && e["details"]["kind"] == "crop"
            && e["details"]["cameras"] == serde_json::json!(["cam-2"])),
        "{refused:?}"
    );
    answering.abort();
}
