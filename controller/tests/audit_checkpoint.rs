//! The audit log's witness: the leader signs a checkpoint when it takes the
//! lead and hourly after (injected clock), serves the latest at
//! `/public/audit-checkpoint`, and `audit verify --checkpoint`'s check (the
//! shared `camplane_export::checkpoint::check_against_chain` over the
//! `Audit.Checkpoint` RPC, as the CLI runs it) accepts it and refuses one whose
//! size, hash or signature was changed, or whose head the chain no longer has.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use camplane_controller::clock::ManualClock;
use camplane_controller::core::witness;
use camplane_export::checkpoint::{self, CheckpointProblem, NoteError, Verifier};
use camplane_proto::v1 as pb;
use camplane_testkit::controller::*;
use camplane_testkit::http::http_get;
use std::sync::Arc;
use std::time::Duration;

/// What `camplane audit verify --checkpoint` does with a note, as `token`.
async fn check(h: &Harness, token: &str, note: &str) -> Result<(), CheckpointProblem> {
    let size = match checkpoint::parse(note) {
        Ok((cp, _, _)) => cp.size,
        Err(e) => return Err(e.into()),
    };
    let r = pb::audit_client::AuditClient::new(h.channel.clone())
        .checkpoint(req(token, pb::CheckpointRequest { size }))
        .await
        .unwrap()
        .into_inner();
    let key = Verifier::new(&r.key_name, &r.public_key).unwrap();
    checkpoint::check_against_chain(note, &key, r.found.then_some(&r.entry_hash), r.head_seq)
        .map(drop)
}

async fn latest_size(h: &Harness) -> Option<u64> {
    h.running
        .controller
        .latest_checkpoint()
        .await
        .unwrap()
        .map(|c| c.size)
}

async fn wait_for_checkpoint(h: &Harness, newer_than: Option<u64>) -> u64 {
    for _ in 0..200 {
        if let Some(s) = latest_size(h).await {
            if newer_than.is_none_or(|n| s > n) {
                return s;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no new checkpoint after {newer_than:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_are_signed_served_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new("2026-06-02T00:00:00Z".parse().unwrap());
    let mut config = config_embedded(dir.path());
    config.http_listen = Some("127.0.0.1:0".into());
    let h = start(config, Some(Arc::new(clock.clone()))).await;
    let http = h.running.http_addr.unwrap();
    // Signed when the lead begins (with the embedded store, at start).
    let first = wait_for_checkpoint(&h, None).await;

    let (status, ctype, note) = http_get(http, "/public/audit-checkpoint");
    assert_eq!(status, 200, "{note}");
    assert!(ctype.starts_with("text/plain"), "{ctype}");
    let lines: Vec<&str> = note.lines().collect();
    assert_eq!(lines[0], "camplane.testville/audit");
    assert_eq!(lines[1], first.to_string());
    assert_eq!(lines[3], "");
    assert!(
        lines[4].starts_with("\u{2014} camplane.testville/audit "),
        "{note}"
    );
    check(&h, &h.admin, &note)
        .await
        .expect("the served checkpoint verifies");

    // The signing is audited, naming what was signed.
    let log = audit_log(&h).await;
    let signed = log
        .iter()
        .find(|e| e["action"] == "audit.checkpoint")
        .expect("audit.checkpoint entry");
    assert_eq!(signed["details"]["size"], first);
    assert_eq!(signed["actor"], "system");

    // Changed size, hash or signature: refused.
    let size = note.replacen(&format!("\n{first}\n"), &format!("\n{}\n", first + 1), 1);
    let e = check(&h, &h.admin, &size).await.unwrap_err();
    assert!(
        matches!(e, CheckpointProblem::Note(NoteError::BadSignature { .. })),
        "{e}"
    );
    let mut hash = B64.decode(lines[2]).unwrap();
    hash[0] ^= 1;
    let altered = note.replacen(lines[2], &B64.encode(&hash), 1);
    let e = check(&h, &h.admin, &altered).await.unwrap_err();
    assert!(e.to_string().contains("does not verify"), "{e}");
    let sig_b64 = lines[4].rsplit(' ').next().unwrap();
    let mut sig = B64.decode(sig_b64).unwrap();
    sig[20] ^= 1;
    let forged = note.replacen(sig_b64, &B64.encode(&sig), 1);
    assert!(check(&h, &h.admin, &forged).await.is_err());
    let garbled = note.replacen(&format!("\n{first}\n"), "\nmany\n", 1);
    let e = check(&h, &h.admin, &garbled).await.unwrap_err();
    assert!(e.to_string().starts_with("line 2: "), "{e}");

    // Rightly signed but of a head the chain does not have at that size (what a
    // rewritten history looks like to a kept checkpoint): the entry is named.
    let key = h.running.controller.witness_key().await.unwrap();
    let rewritten = checkpoint::sign(
        &checkpoint::Checkpoint {
            origin: key.origin.clone(),
            size: first,
            hash: [9; 32],
        },
        &key.signer().unwrap(),
    )
    .unwrap();
    let e = check(&h, &h.admin, &rewritten).await.unwrap_err();
    assert!(
        e.to_string().contains(&format!("entry {first} differs")),
        "{e}"
    );
    // And of more entries than the chain has.
    let beyond = checkpoint::sign(
        &checkpoint::Checkpoint {
            origin: key.origin.clone(),
            size: 1_000_000,
            hash: [9; 32],
        },
        &key.signer().unwrap(),
    )
    .unwrap();
    let e = check(&h, &h.admin, &beyond).await.unwrap_err();
    assert!(matches!(e, CheckpointProblem::Missing { .. }), "{e}");

    // Only auditors and admins read the chain's hashes; the refusal is audited.
    let viewer = user(&h, "vic", &["viewer"], "police").await;
    let denied = pb::audit_client::AuditClient::new(h.channel.clone())
        .checkpoint(req(&viewer, pb::CheckpointRequest { size: 1 }))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    assert!(audit_log(&h).await.iter().any(|e| e["actor"] == "vic"
        && e["action"] == "audit.verify"
        && e["result"].as_str().unwrap_or("").starts_with("denied")));

    // Hourly on the injected clock: not before the hour, then once.
    clock.advance(Duration::from_secs(59 * 60));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        latest_size(&h).await,
        Some(first),
        "not due before the hour"
    );
    clock.advance(Duration::from_secs(60));
    let second = wait_for_checkpoint(&h, Some(first)).await;
    let (_, _, note2) = http_get(http, "/public/audit-checkpoint");
    assert!(note2.contains(&format!("\n{second}\n")), "{note2}");
    check(&h, &h.admin, &note2).await.unwrap();
    // The earlier one still verifies against the grown chain.
    check(&h, &h.admin, &note).await.unwrap();
    // The month keeps its last one (June 1 in Chicago).
    let month = h
        .running
        .controller
        .month_checkpoint("2026-06")
        .await
        .unwrap()
        .expect("the month's checkpoint");
    assert_eq!(month.note, note2);
    assert!(h
        .running
        .controller
        .store
        .get(&witness::month_key("2026-06"))
        .await
        .unwrap()
        .is_some());
    h.cancel.cancel();
}

/// A controller that lost its lead signs from the head it read: a checkpoint
/// stored meanwhile of a longer chain (the new leader's) is not moved back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_signer_does_not_move_the_checkpoint_back() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    let ctl = h.running.controller.clone();
    let first = wait_for_checkpoint(&h, None).await;
    // The new leader's, of a chain 1000 entries longer than this one's head.
    let kv = ctl.store.get(witness::LATEST).await.unwrap().unwrap();
    let mut newer: serde_json::Value = serde_json::from_slice(&kv.value).unwrap();
    newer["size"] = (first + 1000).into();
    ctl.store
        .put(witness::LATEST, serde_json::to_vec(&newer).unwrap())
        .await
        .unwrap();
    let signed = ctl.sign_checkpoint().await.unwrap();
    assert_eq!(signed.size, first + 1000, "the longer one stands");
    assert_eq!(latest_size(&h).await, Some(first + 1000));
}
