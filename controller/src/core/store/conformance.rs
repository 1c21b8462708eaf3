//! The one test suite every [`Store`] implementation must pass. Tests call
//! [`run_all`] with a factory of fresh, empty stores.

use super::*;
use futures::StreamExt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

type Case = fn(DynStore) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Every case of the suite, by name.
pub fn cases() -> Vec<(&'static str, Case)> {
    vec![
        ("get_put_revisions", |s| Box::pin(get_put_revisions(s))),
        ("get_many_in_order", |s| Box::pin(get_many_in_order(s))),
        ("get_many_callers_at_once", |s| {
            Box::pin(get_many_callers_at_once(s))
        }),
        ("list_by_prefix_sorted", |s| {
            Box::pin(list_by_prefix_sorted(s))
        }),
        ("compare_and_swap", |s| Box::pin(compare_and_swap(s))),
        ("txn_all_or_nothing", |s| Box::pin(txn_all_or_nothing(s))),
        ("delete", |s| Box::pin(delete(s))),
        ("cas_under_contention", |s| {
            Box::pin(cas_under_contention(s))
        }),
        ("watch_from_revision_in_order", |s| {
            Box::pin(watch_from_revision_in_order(s))
        }),
        ("large_values_chunked_transparently", |s| {
            Box::pin(large_values(s))
        }),
        ("many_large_values_in_one_txn", |s| {
            Box::pin(many_large_values_in_one_txn(s))
        }),
        ("leased_keys_end_with_their_lease", |s| {
            Box::pin(leased_keys_end_with_their_lease(s))
        }),
    ]
}

/// Runs every case against a fresh store from `make`.
pub async fn run_all<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = DynStore>,
{
    for (name, case) in cases() {
        let store = make().await;
        eprintln!("conformance[{}]: {name}", store.backend());
        let r = tokio::time::timeout(Duration::from_secs(120), case(store)).await;
        assert!(r.is_ok(), "conformance case {name} timed out");
    }
}

async fn get_put_revisions(s: DynStore) {
    assert!(s.get("a").await.unwrap().is_none());
    let r0 = s.revision().await.unwrap();
    let r1 = s.put("a", b"one".to_vec()).await.unwrap();
    assert!(r1 > r0);
    let r2 = s.put("a", b"two".to_vec()).await.unwrap();
    assert!(r2 > r1);
    let kv = s.get("a").await.unwrap().unwrap();
    assert_eq!(kv.value.as_slice(), b"two");
    assert_eq!(kv.create_revision, r1);
    assert_eq!(kv.mod_revision, r2);
    assert_eq!(s.revision().await.unwrap(), r2);
    // empty values and unusual keys round-trip
    s.put("b/ü space", Vec::new()).await.unwrap();
    assert_eq!(s.get("b/ü space").await.unwrap().unwrap().value.len(), 0);
}

async fn get_many_in_order(s: DynStore) {
    assert!(s.get_many(&[]).await.unwrap().is_empty());
    s.put("m/a", b"one".to_vec()).await.unwrap();
    s.put("m/c", b"three".to_vec()).await.unwrap();
    let big = vec![7u8; (3 << 20) / 2];
    let r = s.put("m/big", big.clone()).await.unwrap();
    let got = s
        .get_many(&["m/c", "m/b", "m/big", "m/a", "m/c"])
        .await
        .unwrap();
    let values: Vec<Option<Vec<u8>>> = got
        .iter()
        .map(|kv| kv.as_ref().map(|kv| kv.value.to_vec()))
        .collect();
    assert_eq!(
        values,
        vec![
            Some(b"three".to_vec()),
            None,
            Some(big),
            Some(b"one".to_vec()),
            Some(b"three".to_vec())
        ]
    );
    for (kv, key) in got.iter().zip(["m/c", "m/b", "m/big", "m/a", "m/c"]) {
        assert_eq!(kv, &s.get(key).await.unwrap(), "{key}: as get reads it");
    }
    assert_eq!(got[2].as_ref().unwrap().mod_revision, r);
    // More keys than one etcd transaction may hold.
    let keys: Vec<String> = (0..150).map(|i| format!("m/n{i:03}")).collect();
    for k in keys.iter().step_by(3) {
        s.put(k, k.as_bytes().to_vec()).await.unwrap();
    }
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let got = s.get_many(&refs).await.unwrap();
    assert_eq!(got.len(), 150);
    for (i, kv) in got.iter().enumerate() {
        assert_eq!(
            kv.as_ref().map(|kv| kv.key.as_str()),
            (i % 3 == 0).then_some(keys[i].as_str())
        );
    }
}

/// Many callers at once (a store may send them together): each gets its own keys,
/// in its order, and sees every write committed before it asked.
async fn get_many_callers_at_once(s: DynStore) {
    s.put("g/shared", b"s".to_vec()).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..96 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let own = format!("g/{i:03}");
            for round in 0..5 {
                let v = format!("{i}-{round}").into_bytes();
                let r = s.put(&own, v.clone()).await.unwrap();
                let got = s
                    .get_many(&[&own, "g/none", "g/shared", &own])
                    .await
                    .unwrap();
                let own_kv = got[0].as_ref().expect("a key written before the read");
                assert_eq!((own_kv.value.as_slice(), own_kv.mod_revision), (&v[..], r));
                assert_eq!(got[3], got[0]);
                assert!(got[1].is_none());
                assert_eq!(got[2].as_ref().unwrap().value.as_slice(), b"s");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

async fn list_by_prefix_sorted(s: DynStore) {
    for k in ["p/c", "p/a", "q/x", "p/b", "pp/z"] {
        s.put(k, k.as_bytes().to_vec()).await.unwrap();
    }
    let l = s.list("p/").await.unwrap();
    let keys: Vec<_> = l.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["p/a", "p/b", "p/c"]);
    assert_eq!(l.revision, s.revision().await.unwrap());
    assert!(s.list("nothing/").await.unwrap().kvs.is_empty());
    // more than one page
    for i in 0..150 {
        s.put(&format!("many/{i:04}"), vec![1]).await.unwrap();
    }
    assert_eq!(s.list("many/").await.unwrap().kvs.len(), 150);
}

async fn compare_and_swap(s: DynStore) {
    let o = s.compare_and_swap("c", 0, b"1".to_vec()).await.unwrap();
    assert!(o.succeeded);
    let again = s.compare_and_swap("c", 0, b"x".to_vec()).await.unwrap();
    assert!(!again.succeeded, "create-if-absent must fail when present");
    let stale = s
        .compare_and_swap("c", o.revision - 1, b"x".to_vec())
        .await
        .unwrap();
    assert!(!stale.succeeded);
    let ok = s
        .compare_and_swap("c", o.revision, b"2".to_vec())
        .await
        .unwrap();
    assert!(ok.succeeded);
    assert_eq!(s.get("c").await.unwrap().unwrap().value.as_slice(), b"2");
}

async fn txn_all_or_nothing(s: DynStore) {
    let r = s.put("t/a", b"a".to_vec()).await.unwrap();
    let out = s
        .txn(
            vec![
                Compare::ModRevision("t/a".into(), r),
                Compare::ModRevision("t/b".into(), 99_999),
            ],
            vec![
                Op::Put("t/a".into(), b"A".to_vec()),
                Op::Put("t/c".into(), b"C".to_vec()),
            ],
        )
        .await
        .unwrap();
    assert!(!out.succeeded);
    assert_eq!(s.get("t/a").await.unwrap().unwrap().value.as_slice(), b"a");
    assert!(s.get("t/c").await.unwrap().is_none());
    let out = s
        .txn(
            vec![
                Compare::ModRevision("t/a".into(), r),
                Compare::ModRevision("t/b".into(), 0),
            ],
            vec![
                Op::Put("t/a".into(), b"A".to_vec()),
                Op::Put("t/c".into(), b"C".to_vec()),
                Op::Delete("t/x".into()),
            ],
        )
        .await
        .unwrap();
    assert!(out.succeeded);
    let a = s.get("t/a").await.unwrap().unwrap();
    let c = s.get("t/c").await.unwrap().unwrap();
    assert_eq!(
        a.mod_revision, c.mod_revision,
        "one transaction, one revision"
    );
}

async fn delete(s: DynStore) {
    s.put("d", b"x".to_vec()).await.unwrap();
    assert!(s.delete("d").await.unwrap());
    assert!(s.get("d").await.unwrap().is_none());
    assert!(!s.delete("d").await.unwrap());
    // recreated keys start a new life
    let r = s.put("d", b"y".to_vec()).await.unwrap();
    assert_eq!(s.get("d").await.unwrap().unwrap().create_revision, r);
}

async fn cas_under_contention(s: DynStore) {
    const TASKS: usize = 16;
    const EACH: usize = 20;
    let mut handles = Vec::new();
    for _ in 0..TASKS {
        let s = s.clone();
        handles.push(tokio::spawn(async move {
            let mut done = 0;
            while done < EACH {
                let cur = s.get("counter").await.unwrap();
                let (n, rev) = match &cur {
                    Some(kv) => (
                        String::from_utf8_lossy(&kv.value).parse::<usize>().unwrap(),
                        kv.mod_revision,
                    ),
                    None => (0, 0),
                };
                if s.compare_and_swap("counter", rev, (n + 1).to_string().into_bytes())
                    .await
                    .unwrap()
                    .succeeded
                {
                    done += 1;
                }
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let v = s.get("counter").await.unwrap().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&v.value),
        (TASKS * EACH).to_string()
    );
}

async fn watch_from_revision_in_order(s: DynStore) {
    let r1 = s.put("w/a", b"1".to_vec()).await.unwrap();
    s.put("other/x", b"no".to_vec()).await.unwrap();
    let r2 = s.put("w/b", b"2".to_vec()).await.unwrap();
    s.delete("w/a").await.unwrap();
    // resume from an earlier revision: history first, then live changes
    let mut w = s.watch("w/", r1).await.unwrap();
    let r3 = s.put("w/c", b"3".to_vec()).await.unwrap();
    let mut got = Vec::new();
    while got.len() < 4 {
        let e = tokio::time::timeout(Duration::from_secs(10), w.next())
            .await
            .expect("watch event")
            .unwrap()
            .unwrap();
        got.push(e);
    }
    assert!(matches!(&got[0], WatchEvent::Put(kv) if kv.key == "w/a" && kv.mod_revision == r1));
    assert!(matches!(&got[1], WatchEvent::Put(kv) if kv.key == "w/b" && kv.mod_revision == r2));
    assert!(matches!(&got[2], WatchEvent::Delete { key, .. } if key == "w/a"));
    assert!(matches!(&got[3], WatchEvent::Put(kv) if kv.key == "w/c" && kv.mod_revision == r3));
    let revs: Vec<_> = got.iter().map(|e| e.revision()).collect();
    assert!(
        revs.windows(2).all(|w| w[0] < w[1]),
        "in revision order: {revs:?}"
    );
    // a second watcher from "now" sees only new changes
    let now = s.revision().await.unwrap();
    let mut w2 = s.watch("w/", now + 1).await.unwrap();
    s.put("w/d", b"4".to_vec()).await.unwrap();
    let e = tokio::time::timeout(Duration::from_secs(10), w2.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(e.key(), "w/d");
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

async fn large_values(s: DynStore) {
    let big = pattern(5 * 1024 * 1024 + 17, 7);
    let now = s.revision().await.unwrap();
    let mut w = s.watch("layers/", now + 1).await.unwrap();
    s.put("layers/streets", big.clone()).await.unwrap();
    assert_eq!(
        s.get("layers/streets")
            .await
            .unwrap()
            .unwrap()
            .value
            .as_slice(),
        &big[..]
    );
    let l = s.list("layers/").await.unwrap();
    assert_eq!(l.kvs[0].value.as_slice(), &big[..]);
    let e = tokio::time::timeout(Duration::from_secs(30), w.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(&e, WatchEvent::Put(kv) if kv.value.as_slice() == &big[..]));
    // replace large with large, then small, then delete
    let big2 = pattern(3 * 1024 * 1024, 9);
    s.put("layers/streets", big2.clone()).await.unwrap();
    assert_eq!(
        s.get("layers/streets")
            .await
            .unwrap()
            .unwrap()
            .value
            .as_slice(),
        &big2[..]
    );
    s.put("layers/streets", b"small".to_vec()).await.unwrap();
    assert_eq!(
        s.get("layers/streets")
            .await
            .unwrap()
            .unwrap()
            .value
            .as_slice(),
        b"small"
    );
    // CAS works on chunked values too
    let kv = s.get("layers/streets").await.unwrap().unwrap();
    assert!(
        s.compare_and_swap("layers/streets", kv.mod_revision, big.clone())
            .await
            .unwrap()
            .succeeded
    );
    assert!(
        !s.compare_and_swap("layers/streets", kv.mod_revision, big2)
            .await
            .unwrap()
            .succeeded
    );
    assert_eq!(
        s.get("layers/streets")
            .await
            .unwrap()
            .unwrap()
            .value
            .as_slice(),
        &big[..]
    );
    assert!(s.delete("layers/streets").await.unwrap());
    assert!(s.get("layers/streets").await.unwrap().is_none());
}

async fn many_large_values_in_one_txn(s: DynStore) {
    let vals: Vec<Vec<u8>> = (0..4).map(|i| pattern(900 * 1024, i)).collect();
    let ops = vals
        .iter()
        .enumerate()
        .map(|(i, v)| Op::Put(format!("m/{i}"), v.clone()))
        .collect();
    assert!(s.txn(vec![], ops).await.unwrap().succeeded);
    let l = s.list("m/").await.unwrap();
    assert_eq!(l.kvs.len(), 4);
    for (kv, v) in l.kvs.iter().zip(&vals) {
        assert_eq!(kv.value.as_slice(), &v[..]);
    }
}

/// Keys put under a lease live while it is kept alive and vanish when it is
/// revoked or left to expire; a plain put detaches a key from its lease.
async fn leased_keys_end_with_their_lease(s: DynStore) {
    let a = s.lease_grant(2).await.unwrap();
    let put = |k: &str, v: &str| Op::Put(k.into(), v.as_bytes().to_vec());
    let out = s
        .txn_leased(
            vec![Compare::ModRevision("p/a".into(), 0)],
            vec![put("p/a", "1")],
            a,
        )
        .await
        .unwrap();
    assert!(out.succeeded);
    // A failed compare writes nothing.
    let out = s
        .txn_leased(
            vec![Compare::ModRevision("p/a".into(), 0)],
            vec![put("p/a", "2")],
            a,
        )
        .await
        .unwrap();
    assert!(!out.succeeded);
    s.txn_leased(vec![], vec![put("p/b", "1"), put("p/c", "1")], a)
        .await
        .unwrap();
    // Kept alive past its time to live, the lease and its keys stay.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(s.lease_keep_alive(a).await.unwrap());
    }
    let keys = |l: Listing| l.kvs.into_iter().map(|kv| kv.key).collect::<Vec<_>>();
    assert_eq!(keys(s.list("p/").await.unwrap()), vec!["p/a", "p/b", "p/c"]);
    // A plain put detaches p/c: it outlives the lease.
    s.put("p/c", b"plain".to_vec()).await.unwrap();
    let r0 = s.revision().await.unwrap();
    let mut w = s.watch("p/", r0 + 1).await.unwrap();
    // Left to expire, the lease takes its keys with it (seen by watches too).
    let t = std::time::Instant::now();
    while s.get("p/a").await.unwrap().is_some() || s.get("p/b").await.unwrap().is_some() {
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "leased keys outlived their lease"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !s.lease_keep_alive(a).await.unwrap(),
        "an expired lease is not renewed"
    );
    assert_eq!(keys(s.list("p/").await.unwrap()), vec!["p/c"]);
    let mut deleted = Vec::new();
    while deleted.len() < 2 {
        let e = tokio::time::timeout(Duration::from_secs(10), w.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let WatchEvent::Delete { key, .. } = e {
            deleted.push(key);
        }
    }
    deleted.sort();
    assert_eq!(deleted, vec!["p/a", "p/b"]);
    // Revoked, a lease's keys go at once; a put under an ended lease is refused.
    let b = s.lease_grant(30).await.unwrap();
    s.txn_leased(vec![], vec![put("p/d", "1")], b)
        .await
        .unwrap();
    assert!(s.get("p/d").await.unwrap().is_some());
    s.lease_revoke(b).await.unwrap();
    assert!(s.get("p/d").await.unwrap().is_none());
    assert!(s
        .txn_leased(vec![], vec![put("p/e", "1")], b)
        .await
        .is_err());
    assert!(s.get("p/e").await.unwrap().is_none());
}
