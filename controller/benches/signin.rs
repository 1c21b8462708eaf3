//! Sign-in under a flood (issue #22), over loopback gRPC against a controller in
//! this process, beside the cost of a normal sign-in measured in the same run:
//!
//! (a) throughput of a flood of wrong passwords from 10 source addresses
//!     (127.0.0.2–11), and a normal sign-in's latency alone and during the flood;
//! (b) memory (RSS) and store growth after 10,000 failed sign-ins with
//!     64-character names from those 10 sources, and the same from 10,000
//!     different sources (in process: one loopback host has few addresses),
//!     beside the growth of the same number of normal sign-ins' worth of bytes.
//!
//! `cargo bench -p camplane-controller --bench signin`.
//! Env: BENCH_SECS (flood length, default 10), BENCH_N (failed sign-ins in (b),
//! default 10000), BENCH_NORMAL (normal sign-ins measured, default 40).

use camplane_proto::v1 as pb;
use camplane_testkit::controller::{self as ctl};
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint};

// The controller binary's allocator, so the figures are the product's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Resident memory of this process, bytes.
fn rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Bytes under `dir` (the embedded store's files).
fn dir_bytes(dir: &Path) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let m = e.metadata().unwrap();
        n += if m.is_dir() {
            dir_bytes(&e.path())
        } else {
            m.len()
        };
    }
    n
}

async fn channel_from(port: u16, source: IpAddr) -> Channel {
    Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .local_address(Some(source))
        .connect()
        .await
        .unwrap()
}

async fn sign_in(ch: &Channel, user: &str, pw: &str) -> Result<(), tonic::Status> {
    pb::auth_client::AuthClient::new(ch.clone())
        .login(pb::LoginRequest {
            username: user.into(),
            password: pw.into(),
        })
        .await
        .map(|_| ())
}

async fn normal_sign_ins(ch: &Channel, n: u64) -> Duration {
    let mut lat = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        sign_in(ch, "bob", &ctl::user_password("bob"))
            .await
            .unwrap();
        lat.push(t.elapsed());
    }
    median(lat)
}

fn mb(b: i64) -> f64 {
    b as f64 / 1e6
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let secs = env("BENCH_SECS", 10);
    let n_failed = env("BENCH_N", 10_000);
    let n_normal = env("BENCH_NORMAL", 40);
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let mut cfg = ctl::config_embedded(&store_dir);
    cfg.tls.enabled = false;
    std::env::set_var("CAMPLANE_BENCH_PW", ctl::ADMIN_PW);
    cfg.auth.initial_admin_password_env = "CAMPLANE_BENCH_PW".into();
    let h = ctl::start(cfg, None).await;
    let port = h.running.addr.port();
    ctl::user(&h, "ana", &["viewer"], "police").await;
    ctl::user(&h, "bob", &["viewer"], "police").await;
    let clean = channel_from(port, "127.0.0.1".parse().unwrap()).await;

    // (a) A normal sign-in alone.
    let alone = normal_sign_ins(&clean, n_normal).await;

    // The flood: 10 sources, each as fast as it can, wrong passwords for ana
    // and for made-up 64-character names.
    let tries = Arc::new(AtomicU64::new(0));
    let locked = Arc::new(AtomicU64::new(0));
    let stop = Instant::now() + Duration::from_secs(secs);
    let mut flood = Vec::new();
    for s in 2..12u8 {
        let ch = channel_from(port, IpAddr::from([127, 0, 0, s])).await;
        let (tries, locked) = (tries.clone(), locked.clone());
        flood.push(tokio::spawn(async move {
            let mut i = 0u64;
            while Instant::now() < stop {
                let user = if i.is_multiple_of(2) {
                    "ana".to_string()
                } else {
                    format!("{s:03}{:061}", i)
                };
                let e = sign_in(&ch, &user, "wrong-password-x").await.unwrap_err();
                if e.message().contains("locked") {
                    locked.fetch_add(1, Ordering::Relaxed);
                }
                tries.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        }));
    }
    let t0 = Instant::now();
    let during = normal_sign_ins(&clean, n_normal).await;
    for f in flood {
        f.await.unwrap();
    }
    let wall = t0.elapsed().max(Duration::from_secs(secs));
    let n = tries.load(Ordering::Relaxed);
    let per_sec = n as f64 / wall.as_secs_f64();
    println!("(a) sign-in under a flood of wrong passwords from 10 sources ({secs} s)");
    println!(
        "  normal sign-in alone (baseline):   median {alone:>10.2?}  ({:.0}/s one at a time)",
        1.0 / alone.as_secs_f64()
    );
    println!(
        "  flood: {n} wrong tries, {per_sec:.0}/s; {} refused by a lock before any check ({:.1} %)",
        locked.load(Ordering::Relaxed),
        100.0 * locked.load(Ordering::Relaxed) as f64 / n.max(1) as f64
    );
    println!(
        "  normal sign-in during the flood:   median {during:>10.2?}  ({:.2}x the baseline)",
        during.as_secs_f64() / alone.as_secs_f64()
    );
    println!(
        "  flood rate / baseline rate:        {:.1}x",
        per_sec * alone.as_secs_f64()
    );

    // (b) Memory and store growth.
    let ctl_ = h.running.controller.clone();
    let rss0 = rss() as i64;
    let store0 = dir_bytes(&store_dir) as i64;
    let per = n_failed / 10;
    let mut hs = Vec::new();
    for s in 12..22u8 {
        let ch = channel_from(port, IpAddr::from([127, 0, 0, s])).await;
        hs.push(tokio::spawn(async move {
            for i in 0..per {
                let user = format!("{s:03}{:061}", i);
                sign_in(&ch, &user, "wrong-password-x").await.unwrap_err();
            }
        }));
    }
    for x in hs {
        x.await.unwrap();
    }
    let rss1 = rss() as i64;
    let store1 = dir_bytes(&store_dir) as i64;
    println!(
        "(b) growth after {n_failed} failed sign-ins with 64-character names (target: under 5 MB)"
    );
    println!(
        "  from 10 sources:     RSS {:+.2} MB, store {:+.3} MB",
        mb(rss1 - rss0),
        mb(store1 - store0)
    );
    // The worst case for the store: every try from its own address, so no
    // source lock stops it (each failed sign-in is audited, its name bounded).
    let distinct = n_failed.min(env("BENCH_DISTINCT", 2000));
    let t = Instant::now();
    let mut hs = Vec::new();
    for w in 0..4u64 {
        let c = ctl_.clone();
        hs.push(tokio::spawn(async move {
            for i in (w..distinct).step_by(4) {
                let user = format!("d{:063}", i);
                let ip = IpAddr::from([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
                c.login(&user, "wrong-password-x", Some(ip))
                    .await
                    .unwrap_err();
            }
        }));
    }
    for x in hs {
        x.await.unwrap();
    }
    let rss2 = rss() as i64;
    let store2 = dir_bytes(&store_dir) as i64;
    let per_try = (store2 - store1) as f64 / distinct as f64;
    println!(
        "  from {distinct} sources:  RSS {:+.2} MB, store {:+.3} MB ({per_try:.0} B per try, {:.2} MB per 10,000; {:.1} s)",
        mb(rss2 - rss1),
        mb(store2 - store1),
        per_try * 10_000.0 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let (names, sources) = ctl_
        .wing::<camplane_controller::registry::lockout::SignInLimits>()
        .tracked();
    println!(
        "  tracked now: {names} names, {sources} sources (each map at most {})",
        camplane_controller::registry::lockout::MAX_TRACKED
    );
    // Baseline: the same number of normal sign-ins' store bytes.
    let base_n = n_normal;
    let store3 = dir_bytes(&store_dir) as i64;
    let rss3 = rss() as i64;
    normal_sign_ins(&clean, base_n).await;
    let per_ok = (dir_bytes(&store_dir) as i64 - store3) as f64 / base_n as f64;
    println!(
        "  baseline, normal sign-ins: store {per_ok:.0} B each ({:.2} MB per 10,000), RSS {:+.2} MB over {base_n}",
        per_ok * 10_000.0 / 1e6,
        mb(rss() as i64 - rss3)
    );
    h.cancel.cancel();
}
