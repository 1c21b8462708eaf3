//! Bounded placement work over gRPC (issue #22): layer uploads stream in
//! chunks after the caller is signed in, are held to
//! `placement.max_layer_bytes` as they arrive, features to their limits; work
//! for a client that hung up stops, and a shutdown does not wait for it.
//! Layers here are SYNTHETIC (built in the test), but for one real layer
//! loaded whole.

use std::time::{Duration, Instant};

use camplane_config::controller::ControllerConfig;
use camplane_controller::approvals::placement::Engine;
use camplane_proto::v1 as pb;
use serde_json::{json, Value};
use tonic::transport::Channel;
use tonic::Code;

use camplane_testkit::controller as ctl;
use camplane_testkit::placement::{config, embedded, gis_dir, ADMIN_PW, PW_ENV};

fn placement(ch: &Channel) -> pb::placement_client::PlacementClient<Channel> {
    pb::placement_client::PlacementClient::new(ch.clone())
        .max_decoding_message_size(camplane_proto::limits::PLACEMENT_MAX_RESPONSE)
}

async fn start(dir: &std::path::Path, edit: impl FnOnce(&mut ControllerConfig)) -> ctl::Harness {
    std::env::set_var(PW_ENV, ADMIN_PW);
    let mut c = config(embedded(dir));
    edit(&mut c);
    ctl::start(c, None).await
}

async fn upload(
    h: &ctl::Harness,
    layer: &str,
    files: Vec<(String, Vec<u8>)>,
) -> Result<pb::LayerVersionInfo, tonic::Status> {
    Ok(placement(&h.channel)
        .load_layer(ctl::req(
            &h.admin,
            tokio_stream::iter(pb::LayerUpload::messages(layer, false, files)),
        ))
        .await?
        .into_inner())
}

async fn versions(h: &ctl::Harness, layer: &str) -> usize {
    let r = placement(&h.channel)
        .list(ctl::req(&h.admin, pb::Empty {}))
        .await
        .unwrap()
        .into_inner();
    let v: Value = serde_json::from_slice(&r.json).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .find(|l| l["layer"] == layer)
        .map_or(0, |l| l["versions"].as_array().map_or(0, Vec::len))
}

/// A star ring of `n` vertices around (lon, lat).
fn star(n: usize, lon: f64, lat: f64) -> Vec<[f64; 2]> {
    let mut ring: Vec<[f64; 2]> = (0..n)
        .map(|k| {
            let a = std::f64::consts::TAU * k as f64 / n as f64;
            let r = if k % 2 == 0 { 0.01 } else { 0.005 };
            [lon + r * a.cos(), lat + r * a.sin()]
        })
        .collect();
    ring.push(ring[0]);
    ring
}

fn residential(rings: &[Vec<[f64; 2]>]) -> Vec<u8> {
    let features: Vec<Value> = rings
        .iter()
        .map(|r| json!({"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [r]}}))
        .collect();
    serde_json::to_vec(&json!({"type": "FeatureCollection", "features": features})).unwrap()
}

#[tokio::test]
async fn an_upload_is_refused_before_any_chunk_is_read_unless_signed_in_and_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path(), |_| {}).await;
    // A stream that never yields: a server that read before checking would hang.
    let never = || tokio_stream::pending::<pb::LayerUpload>();
    let mut c = placement(&h.channel);
    let t = Instant::now();
    let e = c
        .load_layer(tonic::Request::new(never()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    let e = c
        .load_layer(ctl::req("forged-token", never()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    // Signed in as the admin, the same stream is read (and waits for a header).
    let r = tokio::time::timeout(
        Duration::from_millis(500),
        c.load_layer(ctl::req(&h.admin, never())),
    )
    .await;
    assert!(r.is_err(), "an allowed upload is read: {r:?}");
}

#[tokio::test]
async fn an_upload_over_max_layer_bytes_is_refused_as_it_arrives_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let limit: u64 = (2 << 20) + 10;
    let h = start(dir.path(), |c| c.placement.max_layer_bytes = limit).await;
    // 3 MiB: the third chunk crosses the limit.
    let big = vec![b' '; 3 << 20];
    let e = upload(&h, "streets", vec![("big.geojson".into(), big)])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(
        e.message().contains("big.geojson")
            && e.message()
                .contains(&format!("placement.max_layer_bytes ({limit} bytes)"))
            && e.message().contains("nothing was stored"),
        "{}",
        e.message()
    );
    assert_eq!(versions(&h, "streets").await, 0);
    // The limit counts every file of the upload together.
    let half = residential(&[star(8, 20.0, 45.0)]);
    let pad = vec![b' '; limit as usize - half.len() + 1];
    let mut second = half.clone();
    second.extend(&pad);
    let e = upload(
        &h,
        "residential",
        vec![
            ("a.geojson".into(), half.clone()),
            ("b.geojson".into(), second),
        ],
    )
    .await
    .unwrap_err();
    assert!(e.message().contains("b.geojson"), "{}", e.message());
    assert_eq!(versions(&h, "residential").await, 0);
    // File names and the number of files count too: many empty files with long
    // names are refused as they arrive.
    let many: Vec<(String, Vec<u8>)> = (0..1000)
        .map(|i| (format!("{i}-{}.geojson", "n".repeat(4000)), Vec::new()))
        .collect();
    let e = upload(&h, "residential", many).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(
        e.message().contains("at most 64 files") && e.message().contains("nothing was stored"),
        "{}",
        e.message()
    );
    assert_eq!(versions(&h, "residential").await, 0);
    // Under it, the same layer loads.
    upload(&h, "residential", vec![("a.geojson".into(), half)])
        .await
        .unwrap();
    assert_eq!(versions(&h, "residential").await, 1);
}

#[tokio::test]
async fn a_real_layer_loads_in_chunks_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path(), |_| {}).await;
    // The largest real layer: 3.2 MB, four chunks.
    let path = gis_dir().join("vracar/streets.geojson");
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 3 * camplane_proto::limits::LAYER_CHUNK);
    let r = upload(
        &h,
        "streets",
        vec![("streets.geojson".into(), bytes.clone())],
    )
    .await
    .unwrap();
    assert_eq!(r.version, 1);
    let v: Value = serde_json::from_slice(&r.json).unwrap();
    assert_eq!(v["bytes"], json!(bytes.len()));
    assert_eq!(v["features"], json!(4411));
}

#[tokio::test]
async fn a_feature_over_the_vertex_limit_is_refused_naming_file_feature_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path(), |c| c.placement.max_vertices_per_feature = 1000).await;
    let bytes = residential(&[star(8, 20.0, 45.0), star(1200, 20.1, 45.0)]);
    let e = upload(&h, "residential", vec![("homes.geojson".into(), bytes)])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().contains("homes.geojson, feature 1")
            && e.message()
                .contains("more than placement.max_vertices_per_feature (1000)"),
        "{}",
        e.message()
    );
    assert_eq!(versions(&h, "residential").await, 0);
}

/// A layer whose check keeps a core busy for a long while (in a debug build,
/// tens of seconds): large stars, each within the default limits.
fn slow_layer() -> Vec<(String, Vec<u8>)> {
    let rings: Vec<Vec<[f64; 2]>> = (0..4)
        .map(|k| star(99_000, 20.0 + 0.05 * k as f64, 45.0))
        .collect();
    vec![("stars.geojson".into(), residential(&rings))]
}

async fn wait_cancelled(h: &ctl::Harness, within: Duration) -> Duration {
    let engine = h.running.controller.wing::<Engine>();
    let t = Instant::now();
    while engine.cancelled_jobs() == 0 {
        assert!(
            t.elapsed() < within,
            "the layer check did not stop within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    t.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_for_a_client_that_hung_up_stops() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path(), |_| {}).await;
    let files = slow_layer();
    let (ch, admin) = (h.channel.clone(), h.admin.clone());
    let call = tokio::spawn(async move {
        placement(&ch)
            .load_layer(ctl::req(
                &admin,
                tokio_stream::iter(pb::LayerUpload::messages("residential", false, files)),
            ))
            .await
    });
    // Let the upload arrive and the check start, then hang up.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!call.is_finished(), "the check ended too soon to test");
    call.abort();
    let took = wait_cancelled(&h, Duration::from_secs(10)).await;
    println!("the check stopped {took:?} after the client hung up");
    assert_eq!(versions(&h, "residential").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_completes_within_10_s_while_a_check_runs() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path(), |_| {}).await;
    let files = slow_layer();
    let (ch, admin) = (h.channel.clone(), h.admin.clone());
    let call = tokio::spawn(async move {
        placement(&ch)
            .load_layer(ctl::req(
                &admin,
                tokio_stream::iter(pb::LayerUpload::messages("residential", false, files)),
            ))
            .await
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!call.is_finished(), "the check ended too soon to test");
    let t = Instant::now();
    h.cancel.cancel();
    wait_cancelled(&h, Duration::from_secs(10)).await;
    let ctl::Harness { running, .. } = h;
    // A correctness bound, not a speed target: the server's task ends.
    tokio::time::timeout(Duration::from_secs(10), running.task)
        .await
        .expect("the server stopped within 10 s")
        .unwrap()
        .unwrap();
    println!("shutdown took {:?}", t.elapsed());
    let r = call.await.unwrap();
    assert!(r.is_err(), "the check was not finished: {r:?}");
}
