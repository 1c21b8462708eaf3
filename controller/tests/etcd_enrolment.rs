//! A hundred gateways enrolling at once through one controller on etcd: the
//! group commit keeps each transaction within etcd's operation limit, every
//! agent record reaches the second replica through its watch, and every agent
//! then opens its control stream on that other replica with its new certificate.

use camplane_testkit::controller::*;
use camplane_testkit::servers::EtcdServer;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_enrolments_replicate_and_connect_anywhere() {
    let etcd = EtcdServer::start();
    std::env::set_var("CAMPLANE_TEST_NO_SUCH_VAR", ADMIN_PW);
    let a = start(config_etcd(&etcd.endpoint(), "/rep"), None).await;
    let b = start(config_etcd(&etcd.endpoint(), "/rep"), None).await;
    apply(&a, &a.admin, CITY).await.unwrap();
    let mut hs = Vec::new();
    for i in 0..100 {
        let ch = a.channel.clone();
        let admin = a.admin.clone();
        hs.push(tokio::spawn(async move {
            let t = camplane_proto::v1::fleet_client::FleetClient::new(ch.clone())
                .create_enroll_token(req(
                    &admin,
                    camplane_proto::v1::EnrollTokenRequest {
                        site: "city-hall".into(),
                        agent: format!("ag-{i}"),
                    },
                ))
                .await
                .unwrap()
                .into_inner();
            let key = rcgen::KeyPair::generate().unwrap();
            let p = rcgen::CertificateParams::default();
            let csr = p.serialize_request(&key).unwrap().pem().unwrap();
            let r = camplane_proto::v1::fleet_client::FleetClient::new(ch)
                .enroll(camplane_proto::v1::EnrollRequest {
                    token: t.token,
                    csr_pem: csr,
                })
                .await
                .unwrap()
                .into_inner();
            (format!("ag-{i}"), r.cert_pem, key.serialize_pem())
        }));
    }
    let mut ids = Vec::new();
    for h in hs {
        ids.push(h.await.unwrap());
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut bad = Vec::new();
    for i in 0..100 {
        let k = format!("objects/agents/ag-{i}");
        let va = a.running.controller.cache.get(&k).unwrap();
        let vb = b.running.controller.cache.get(&k);
        let vs = a.running.controller.store.get(&k).await.unwrap().unwrap();
        if vb.as_ref().map(|v| v.mod_revision) != Some(va.mod_revision)
            || va.mod_revision != vs.mod_revision
        {
            bad.push((
                i,
                va.mod_revision,
                vb.map(|v| v.mod_revision),
                vs.mod_revision,
            ));
        }
    }
    assert!(bad.is_empty(), "{bad:?}");
    let mut fails = Vec::new();
    for (name, cert, key) in &ids {
        let ch = tls_channel(b.running.addr.port(), &b.running.ca_pem, Some((cert, key))).await;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tx.send(camplane_proto::v1::AgentMessage {
            msg: Some(camplane_proto::v1::agent_message::Msg::Hello(
                camplane_proto::v1::Hello {
                    agent: name.clone(),
                    ..Default::default()
                },
            )),
        })
        .await
        .unwrap();
        match camplane_proto::v1::fleet_client::FleetClient::new(ch)
            .control(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
        {
            Ok(mut s) => match s.get_mut().message().await {
                Ok(Some(_)) => {}
                other => fails.push((name.clone(), format!("{other:?}"))),
            },
            Err(e) => fails.push((name.clone(), e.message().to_string())),
        }
    }
    assert!(
        fails.is_empty(),
        "{} of {}: {:?}",
        fails.len(),
        ids.len(),
        &fails[..fails.len().min(3)]
    );
}
