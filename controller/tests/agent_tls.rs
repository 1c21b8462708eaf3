//! Agent identity over mutual TLS: enrolment with a one-time token, the control
//! stream with the issued certificate, and refusals for a reused token, no
//! certificate, a forged certificate, an expired one, and a revoked agent.

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
