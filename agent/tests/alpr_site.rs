//! ALPR on a site with real parts: a rendered-plates clip served by a real RTSP
//! server, through the agent's ingest and the real PP-OCRv4 reader, into the read store.

use std::sync::Arc;
use std::time::Duration;

use camplane_agent::alpr::models;
use camplane_agent::alpr::site::AlprSiteOptions;
use camplane_agent::retention::StatvfsProbe;
use camplane_agent::*;
use camplane_testkit::{media::*, servers::*};
use jiff::{SignedDuration, Timestamp};

#[test]
fn rendered_plates_over_rtsp_are_read_merged_and_stored() {
    require_tools();
    let models = models::resolve_dir(None);
    models::verify(&models)
        .unwrap_or_else(|e| panic!("ALPR models not ready: {e}; run deploy/fetch-models.sh"));
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("plates.mp4");
    render_plates(&clip);
    let srv = RtspServer::start(free_port(), &[&format!("/cam=mp4:{}", clip.display())]);
    let root = dir.path().join("rec");
    let sup = Supervisor::new(
        SupervisorOptions {
            root: root.clone(),
            ingest: camplane_agent::ingest::IngestOptions {
                socket_timeout: Duration::from_secs(2),
                silence_timeout: Duration::from_secs(3),
                backoff_base: Duration::from_millis(200),
                backoff_max: Duration::from_secs(1),
                window_merge_gap: SignedDuration::from_secs(5),
                analyze_us: 1_000_000,
            },
            disk: DiskPolicy {
                min_free_bytes: 0,
                min_free_percent: 0.0,
            },
        },
        Arc::new(SystemClock),
        Arc::new(StatvfsProbe { path: root.clone() }),
    )
    .unwrap();
    sup.set_alpr_options(AlprSiteOptions {
        models: Some(models),
        fps: 4.0,
        ..Default::default()
    });
    // A mobile reader: its reads take the gateway's GPS position (a real gpsd
    // reading a stand-in receiver), not its base location.
    let gpsd = Gpsd::start(42.5111, -90.665);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let gps = camplane_agent::gps::Gps::default();
    let gps_stop = tokio_util::sync::CancellationToken::new();
    rt.spawn(camplane_agent::gps::follow(
        format!("127.0.0.1:{}", gpsd.port),
        gps.clone(),
        gps_stop.clone(),
    ));
    sup.set_gps(gps.clone());
    wait_until(Duration::from_secs(15), "a GPS fix from gpsd", || {
        gps.latest().is_some()
    });
    let mut cam = CameraConfig::new("lpr1", srv.url("/cam"));
    cam.segment_seconds = 2;
    cam.alpr = true;
    cam.mobile = true;
    cam.location = Some(camplane_config::model::LatLon { lat: 1.0, lon: 1.0 });
    let start = Timestamp::now();
    let r = sup.reconcile(vec![cam], vec![]);
    assert!(r.rejected.is_empty(), "{r:?}");
    let store = sup.reads();
    let far = start + SignedDuration::from_hours(1);
    wait_until(
        Duration::from_secs(40),
        "both plates in the read store",
        || {
            !store.find("ABC1234", start, far).is_empty()
                && !store.find("XYZ9876", start, far).is_empty()
        },
    );
    // Snapshot now: the clip replays after its end (reconnect), which could add a
    // second pass later; within the first playback each plate is one merged read.
    let abc = store.find("ABC1234", start, far);
    let xyz = store.find("XYZ9876", start, far);
    let all = store.list("lpr1", start, far);
    let h = sup.health();
    sup.shutdown();
    assert_eq!(abc.len(), 1, "ABC1234 merged into one read: {all:?}");
    assert_eq!(xyz.len(), 1, "XYZ9876 merged into one read: {all:?}");
    assert!(abc[0].time < xyz[0].time);
    gps_stop.cancel();
    for r in [&abc[0], &xyz[0]] {
        assert_eq!(r.camera, "lpr1");
        let loc = r.location.expect("located by GPS");
        assert_eq!(loc.source, camplane_agent::alpr::store::LocationSource::Gps);
        assert!(
            (loc.lat - 42.5111).abs() < 1e-4 && (loc.lon + 90.665).abs() < 1e-4,
            "{loc:?}"
        );
        assert!(r.frames >= 2, "{r:?}");
        assert!(r.confidence > 0.5, "{r:?}");
        let p = store.crop_path(r).expect("a crop is stored");
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(&bytes[..2], &[0xFF, 0xD8], "JPEG");
        let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg).unwrap();
        assert!(
            img.width() > 100 && img.height() > 30,
            "{}x{}",
            img.width(),
            img.height()
        );
    }
    // Other texts (misreads) would be extra reads: none within the first playback.
    let first_pass: Vec<_> = all.iter().filter(|r| r.time <= xyz[0].time).collect();
    assert_eq!(first_pass.len(), 2, "{all:?}");
    let a = h.cameras.iter().find(|c| c.id == "lpr1").unwrap();
    let alpr = a.alpr.as_ref().expect("ALPR health");
    assert!(alpr.frames_read >= 4, "{alpr:?}");
    assert!(alpr.plates_read >= 2, "{alpr:?}");
    // Recording went on beside it.
    assert!(!sup.index().lock().unwrap().segments("lpr1").is_empty());
    // The windows count the plates read.
    let windows = sup.take_windows();
    let plates: u64 = windows.iter().map(|w| w.plates_read).sum();
    assert!(plates >= 2, "{windows:?}");
    // The store reopens from disk with the same reads (shutdown flushed any pass
    // of a replay still open, so compare with the store as it is now).
    let now_stored = store.find("ABC1234", start, far);
    assert_eq!(now_stored[0], abc[0]);
    let again = camplane_agent::alpr::store::ReadStore::open(&root).unwrap();
    assert_eq!(again.find("ABC1234", start, far), now_stored);
}
