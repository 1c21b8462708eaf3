//! Placement online, end to end over gRPC on real controllers: GIS layers and
//! rules loaded as versions, verdicts recorded at submission, the override
//! gate before the City Manager's approval, recheck after a rules change, the
//! placement map (rendered in a real browser), and a 3 MB layer through etcd.
//!
//! The harness (camplane-testkit's `placement`) is shared with the CLI's placement tests.

use camplane_config::controller::{EtcdStoreConfig, StoreConfig};
use camplane_proto::v1 as pb;
use serde_json::{json, Value};
use std::path::PathBuf;
use tonic::transport::Channel;
use tonic::Code;

use camplane_testkit::controller::act;
use camplane_testkit::placement::*;

fn placement(h: &Harness) -> pb::placement_client::PlacementClient<Channel> {
    pb::placement_client::PlacementClient::new(h.channel.clone())
        .max_decoding_message_size(256 << 20)
        .max_encoding_message_size(256 << 20)
}

async fn load(
    h: &Harness,
    token: &str,
    layer: &str,
    files: &[PathBuf],
) -> Result<pb::LayerVersionInfo, tonic::Status> {
    let files = files
        .iter()
        .map(|f| (f.display().to_string(), std::fs::read(f).unwrap()))
        .collect();
    Ok(placement(h)
        .load_layer(req(
            token,
            tokio_stream::iter(pb::LayerUpload::messages(layer, false, files)),
        ))
        .await?
        .into_inner())
}

async fn rules(
    h: &Harness,
    token: &str,
    yaml: &str,
) -> Result<pb::LayerVersionInfo, tonic::Status> {
    Ok(placement(h)
        .apply_rules(req(
            token,
            pb::ApplyRulesRequest {
                file: Some(pb::LayerFile {
                    name: "rules.yaml".into(),
                    data: yaml.as_bytes().to_vec(),
                }),
            },
        ))
        .await?
        .into_inner())
}

async fn gis_list(h: &Harness) -> Value {
    let r = placement(h)
        .list(req(&h.admin, pb::Empty {}))
        .await
        .unwrap()
        .into_inner();
    serde_json::from_slice(&r.json).unwrap()
}

fn layer<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|l| l["layer"] == name)
        .unwrap()
}

async fn recheck(h: &Harness, token: &str) -> Result<Value, tonic::Status> {
    let r = placement(h)
        .recheck(req(token, pb::RecheckRequest { all: false }))
        .await?
        .into_inner();
    Ok(serde_json::from_slice(&r.json).unwrap())
}

/// A house 85 m from the nearest street of any class: not_eligible.
const BLOCK: (f64, f64) = (33.7474451, -84.3576939);

struct People {
    engineer: String,
    chief: String,
    pd: String,
    cm: String,
}

async fn people(h: &Harness) -> People {
    apply(h, &h.admin, CITY).await.unwrap();
    People {
        engineer: user(h, "traffic-engineer", &["engineer"], "public-works").await,
        chief: user(h, "chief", &["chief"], "police").await,
        pd: user(h, "pd-manager", &["dept_manager"], "police").await,
        cm: user(h, "city-manager", &["city_manager"], "city-manager").await,
    }
}

async fn to_city_manager(h: &Harness, p: &People, id: &str) {
    act(h, &p.pd, id, "recommend", "", "needed").await.unwrap();
    act(h, &p.chief, id, "recommend", "", "supports")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layers_verdicts_overrides_and_recheck() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(embedded(dir.path())).await;
    let p = people(&h).await;

    // Before any streets layer: the request is recorded as cannot_check, with a note.
    let r0 = submit(&h, &p.pd, "req-early", EX1.0, EX1.1, json!({})).await;
    assert_eq!(
        r0["status"]["verdict"]["answer"]["verdict"], "cannot_check",
        "{r0}"
    );
    assert!(r0["status"]["verdict"]["note"]
        .as_str()
        .unwrap()
        .contains("no streets layer"));

    // Only an engineer or admin loads layers.
    let e = load(&h, &p.pd, "streets", &[rt("streets.geojson")])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");

    // A bad layer is refused whole, naming file and feature; nothing is stored.
    let e = load(
        &h,
        &p.engineer,
        "city_property",
        &[rt("other_buildings.geojson")],
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("other_buildings.geojson"), "{e:?}");
    assert!(e.message().contains("feature "), "{e:?}");
    let stored = h
        .running
        .controller
        .store
        .list("gis/layers/city_property/")
        .await
        .unwrap();
    assert!(stored.kvs.is_empty());
    assert!(layer(&gis_list(&h).await, "city_property")["current"].is_null());
    // Wrong geometry for the layer, too.
    let e = load(&h, &p.engineer, "kiosks", &[rt("streets.geojson")])
        .await
        .unwrap_err();
    assert!(e.message().contains("feature 0"), "{e:?}");

    let s = load(&h, &p.engineer, "streets", &[rt("streets.geojson")])
        .await
        .unwrap();
    assert_eq!(s.version, 1);
    let r = load(
        &h,
        &p.engineer,
        "residential",
        &[
            rt("residential_houses.geojson"),
            rt("residential_apartments.geojson"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(r.version, 1);
    let list = gis_list(&h).await;
    assert_eq!(layer(&list, "streets")["current"], 1);
    assert_eq!(layer(&list, "streets")["versions"][0]["features"], 755);
    assert_eq!(
        layer(&list, "residential")["versions"][0]["features"],
        1137 + 43
    );

    // The spec's ex-2, recorded with the versions used.
    let r2 = submit(
        &h,
        &p.pd,
        "req-ex2",
        EX2.0,
        EX2.1,
        json!({"purpose": "personal_safety", "view": {"heading_deg": 90, "fov_deg": 90, "range_m": 40}}),
    )
    .await;
    let v = &r2["status"]["verdict"];
    assert_eq!(v["layers"], json!({"streets": 1, "residential": 1}), "{v}");
    assert!(v["rules"].is_null(), "{v}");
    let a = &v["answer"];
    assert_eq!(a["id"], "req-ex2");
    assert_eq!(a["verdict"], "needs_review", "{a}");
    assert_eq!(a["bases"], json!(["intersecting_street"]));
    assert_eq!(a["reasons"], json!(["residential_view"]));
    // The reason links to privacy masks: this request's camera has none yet.
    assert!(
        v["privacy_masks"]
            .as_str()
            .is_some_and(|n| n.contains("add privacy_masks")),
        "{v}"
    );
    assert_eq!(a["nearest_street"]["name"], "Chester Avenue Southeast");
    assert!((a["nearest_street"]["distance_m"].as_f64().unwrap() - 3.87).abs() <= 0.5);
    assert!((a["residential_fraction"].as_f64().unwrap() - 0.4317).abs() <= 0.01);

    let r1 = submit(&h, &p.pd, "req-ex1", EX1.0, EX1.1, json!({})).await;
    assert_eq!(r1["status"]["verdict"]["answer"]["verdict"], "eligible");
    assert_eq!(
        r1["status"]["verdict"]["answer"]["nearest_street"]["name"],
        "Memorial Drive Southeast"
    );

    // not_eligible: blocked at the City Manager until an override.
    let rn = submit(&h, &p.pd, "req-block", BLOCK.0, BLOCK.1, json!({})).await;
    assert_eq!(
        rn["status"]["verdict"]["answer"]["verdict"], "not_eligible",
        "{rn}"
    );
    to_city_manager(&h, &p, "req-block").await;
    let e = act(&h, &p.cm, "req-block", "approve", "", "ok")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("not_eligible"), "{e:?}");
    // Wrong roles for an override.
    for t in [&p.pd, &p.cm] {
        let e = act(&h, t, "req-block", "override", "", "we need it")
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    }
    let e = act(
        &h,
        &p.chief,
        "req-block",
        "override",
        "engineer",
        "we need it",
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    // A justification is required.
    let e = act(&h, &p.chief, "req-block", "override", "", "  ")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let o = act(
        &h,
        &p.chief,
        "req-block",
        "override",
        "chief",
        "repeated burglaries on this block; case 24-1177",
    )
    .await
    .unwrap();
    let steps = o["status"]["steps"].as_array().unwrap();
    let last = steps.last().unwrap();
    assert_eq!(last["action"], "override");
    assert_eq!(last["role"], "chief");
    assert_eq!(last["actor"], "chief");
    assert_eq!(
        o["status"]["state"], "reviewed",
        "an override is not a state change"
    );
    let a = act(
        &h,
        &p.cm,
        "req-block",
        "approve",
        "",
        "approved on override",
    )
    .await
    .unwrap();
    assert_eq!(a["status"]["state"], "approved");

    // needs_review is gated the same way; an engineer's override opens it.
    to_city_manager(&h, &p, "req-ex2").await;
    let e = act(&h, &p.cm, "req-ex2", "approve", "", "")
        .await
        .unwrap_err();
    assert!(e.message().contains("needs_review"), "{e:?}");
    act(
        &h,
        &p.engineer,
        "req-ex2",
        "override",
        "",
        "privacy mask installed over the houses",
    )
    .await
    .unwrap();
    act(&h, &p.cm, "req-ex2", "approve", "", "").await.unwrap();

    // An eligible request has nothing to override and is approved directly.
    let e = act(&h, &p.chief, "req-ex1", "override", "", "why not")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    to_city_manager(&h, &p, "req-ex1").await;
    act(&h, &p.cm, "req-ex1", "approve", "", "").await.unwrap();

    // The request made before the layer was loaded is checked again at the
    // decision: the same place, eligible now, approved without an override.
    to_city_manager(&h, &p, "req-early").await;
    let a = act(&h, &p.cm, "req-early", "approve", "", "")
        .await
        .unwrap();
    assert_eq!(a["status"]["state"], "approved");
    assert_eq!(
        a["status"]["verdict"]["answer"]["verdict"], "eligible",
        "{a}"
    );

    // A camera on the eligible request, active.
    apply(
        &h,
        &h.admin,
        &format!(
            r#"
kind: Camera
name: cam-memorial
spec:
  site: memorial-drive
  department: police
  kind: fixed
  purpose: property_protection
  location: {{lat: {}, lon: {}}}
  streams: {{main: "rtsp://127.0.0.1:8554/m"}}
  placement_request: req-ex1
"#,
            EX1.0, EX1.1
        ),
    )
    .await
    .unwrap();
    pb::cameras_client::CamerasClient::new(h.channel.clone())
        .transition(req(
            &h.admin,
            pb::CameraAction {
                name: "cam-memorial".into(),
                action: "activate".into(),
                reason: String::new(),
            },
        ))
        .await
        .unwrap();
    let rc = recheck(&h, &p.engineer).await.unwrap();
    assert_eq!(rc["out_of_compliance"], 0, "{rc}");
    assert_eq!(
        recheck(&h, &p.pd).await.unwrap_err().code(),
        Code::PermissionDenied
    );

    // Rules: a bad file is refused; a 1 m street buffer takes the camera off the street.
    let e = rules(&h, &p.engineer, "street_buffer: 1\n")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(layer(&gis_list(&h).await, "rules")["current"].is_null());
    let rv = rules(&h, &p.engineer, "street_buffer_m: 1\n")
        .await
        .unwrap();
    assert_eq!(rv.version, 1);
    let rc = recheck(&h, &p.engineer).await.unwrap();
    assert_eq!(rc["rules"], 1);
    assert_eq!(rc["out_of_compliance"], 1, "{rc}");
    let cam = &rc["cameras"][0];
    assert_eq!(cam["camera"], "cam-memorial");
    assert_eq!(cam["state"], "active");
    assert_eq!(cam["verdict"], "not_eligible");
    assert_eq!(cam["was"], "eligible");
    // New submissions use the new rules version.
    let r3 = submit(&h, &p.pd, "req-after-rules", EX1.0, EX1.1, json!({})).await;
    assert_eq!(r3["status"]["verdict"]["rules"], 1);
    assert_eq!(r3["status"]["verdict"]["answer"]["verdict"], "not_eligible");

    // Versions: a referenced version is kept, an unreferenced one pruned.
    let s2 = load(&h, &p.engineer, "streets", &[rt("streets.geojson")])
        .await
        .unwrap();
    assert_eq!(s2.version, 2);
    assert!(s2.pruned.is_empty(), "streets v1 is referenced by requests");
    let c1 = load(
        &h,
        &h.admin,
        "city_property",
        &[rt("city_property.geojson")],
    )
    .await
    .unwrap();
    assert_eq!(c1.version, 1);
    let c2 = load(
        &h,
        &h.admin,
        "city_property",
        &[rt("city_property.geojson")],
    )
    .await
    .unwrap();
    assert_eq!((c2.version, c2.pruned.clone()), (2, vec![1]));
    let keys: Vec<String> = h
        .running
        .controller
        .store
        .list("gis/layers/city_property/")
        .await
        .unwrap()
        .kvs
        .into_iter()
        .map(|kv| kv.key)
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(
        keys[0].starts_with("gis/layers/city_property/00000002/000-"),
        "{keys:?}"
    );
    let c2rec: Value = serde_json::from_slice(&c2.json).unwrap();
    assert_eq!(c2rec["keys"], json!(keys));
    let list = gis_list(&h).await;
    assert_eq!(layer(&list, "streets")["current"], 2);
    assert_eq!(
        layer(&list, "streets")["versions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(layer(&list, "streets")["referenced"], json!([1]));

    // The map, from the controller's layers and cameras.
    let svg = placement(&h)
        .map(req(&p.engineer, pb::Empty {}))
        .await
        .unwrap()
        .into_inner()
        .svg;
    assert!(
        svg.starts_with("<svg") || svg.starts_with("<?xml"),
        "{}",
        &svg[..100]
    );
    assert!(svg.contains("</svg>"));
    assert_eq!(
        placement(&h)
            .map(req(&p.pd, pb::Empty {}))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );

    // Every change audited, chain intact.
    let v = pb::audit_client::AuditClient::new(h.channel.clone())
        .verify(req(&h.admin, pb::Empty {}))
        .await
        .unwrap()
        .into_inner();
    assert!(v.ok, "{}", v.message);
    let tail = pb::audit_client::AuditClient::new(h.channel.clone())
        .tail(req(
            &h.admin,
            pb::TailRequest {
                limit: 200,
                before_seq: 0,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let actions: Vec<String> = tail
        .entries
        .iter()
        .map(|e| {
            let v: Value = serde_json::from_slice(&e.json).unwrap();
            format!(
                "{} {}",
                v["action"].as_str().unwrap(),
                v["result"].as_str().unwrap()
            )
        })
        .collect();
    for want in [
        "gis.load ok",
        "rules.apply ok",
        "request.override ok",
        "placement.recheck ok",
    ] {
        assert!(
            actions.iter().any(|a| a == want),
            "no {want:?} in {actions:?}"
        );
    }
    assert!(
        actions.iter().any(|a| a.starts_with("gis.load refused:")),
        "{actions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_stores_a_large_layer() {
    let etcd = camplane_testkit::servers::EtcdServer::start();
    let h = start(StoreConfig {
        embedded: None,
        etcd: Some(EtcdStoreConfig {
            endpoints: vec![etcd.endpoint()],
            prefix: "/camplane-placement-test".into(),
            lease_seconds: 10,
        }),
    })
    .await;
    let streets = gis_dir().join("vracar/streets.geojson");
    let bytes = std::fs::read(&streets).unwrap();
    assert!(
        bytes.len() > 3_000_000,
        "the Vracar streets file is over 3 MB"
    );
    let r = load(&h, &h.admin, "streets", std::slice::from_ref(&streets))
        .await
        .unwrap();
    assert_eq!(r.version, 1);
    let rec: Value = serde_json::from_slice(&r.json).unwrap();
    assert_eq!(rec["features"], 4411);
    assert_eq!(rec["bytes"], bytes.len());
    // Read back through the store, whole (it went to etcd in 1 MiB chunks).
    assert!(rec["keys"][0]
        .as_str()
        .unwrap()
        .starts_with("gis/layers/streets/00000001/000-"));
    let kv = h
        .running
        .controller
        .store
        .get(rec["keys"][0].as_str().unwrap())
        .await
        .unwrap()
        .expect("layer stored");
    assert_eq!(kv.value.as_slice(), bytes.as_slice());
    // A verdict in Belgrade, computed from the layer read back from etcd.
    apply(&h, &h.admin, "kind: Department\nname: police\nspec: {}\n")
        .await
        .unwrap();
    let v = submit(&h, &h.admin, "req-vracar", 44.804543, 20.4788179, json!({})).await;
    let verdict = &v["status"]["verdict"];
    assert_eq!(verdict["layers"], json!({"streets": 1}), "{verdict}");
    assert!(verdict["answer"]["verdict"].is_string(), "{verdict}");
    assert!(verdict["answer"]["nearest_street"].is_object(), "{verdict}");
    // A second controller on the same etcd sees the layer.
    let h2 = start(StoreConfig {
        embedded: None,
        etcd: Some(EtcdStoreConfig {
            endpoints: vec![etcd.endpoint()],
            prefix: "/camplane-placement-test".into(),
            lease_seconds: 10,
        }),
    })
    .await;
    let list = gis_list(&h2).await;
    assert_eq!(layer(&list, "streets")["current"], 1);
    assert_eq!(layer(&list, "streets")["referenced"], json!([1]));

    // Two controllers load the same layer at once: each load lands as its own
    // version (a loser of the compare retries), and an attempt that lost took
    // back the bytes it had written: the store holds exactly the kept versions'.
    let file = [rt("city_property.geojson")];
    let (hh, hh2) = (&h, &h2);
    let loads = (0..6).map(|i| {
        let file = &file;
        async move {
            let h = if i % 2 == 0 { hh } else { hh2 };
            load(h, &h.admin, "city_property", file).await
        }
    });
    let mut versions: Vec<u64> = futures::future::join_all(loads)
        .await
        .into_iter()
        .map(|r| r.unwrap().version)
        .collect();
    versions.sort();
    assert_eq!(versions, [1, 2, 3, 4, 5, 6]);
    let list = gis_list(&h).await;
    let named: std::collections::BTreeSet<String> = layer(&list, "city_property")["versions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|v| v["keys"].as_array().unwrap().clone())
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    let stored: std::collections::BTreeSet<String> = h
        .running
        .controller
        .store
        .list("gis/layers/city_property/")
        .await
        .unwrap()
        .kvs
        .into_iter()
        .map(|kv| kv.key)
        .collect();
    assert_eq!(stored, named, "no orphaned or missing layer bytes");
}
