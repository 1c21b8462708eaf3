//! A camera's own ALPR frame rate (`spec.alpr_fps`): the controller refuses a
//! value outside (0, 30] on apply, whatever the client, naming the field, like the
//! agent-wide `alpr_fps`; a good one is kept in the spec (and carried to the agent
//! in its desired config: `fleet::camera_row`, the agent's `camera_configs`).

use camplane_proto::v1 as pb;
use camplane_testkit::controller::*;
use tonic::Code;

async fn apply_fps(h: &Harness, fps: serde_json::Value) -> Result<(), tonic::Status> {
    let ms = camplane_config::manifest::parse("city.yaml", CITY).unwrap();
    let cam = ms.iter().find(|m| m.name == "cam-1").unwrap();
    let mut spec = cam.spec.to_json();
    spec["alpr_fps"] = fps;
    pb::objects_client::ObjectsClient::new(h.channel.clone())
        .apply(req(
            &h.admin,
            pb::ApplyRequest {
                objects: vec![pb::Object {
                    kind: "Camera".into(),
                    name: "cam-1".into(),
                    json: serde_json::to_vec(&spec).unwrap(),
                    revision: 0,
                }],
                source: "cam.yaml".into(),
                dry_run: false,
            },
        ))
        .await
        .map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cameras_alpr_fps_outside_0_to_30_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(&dir.path().join("store")), None).await;
    apply(&h, &h.admin, CITY).await.unwrap();
    for bad in [
        serde_json::json!(0),
        serde_json::json!(31),
        serde_json::json!(-2.5),
    ] {
        let e = apply_fps(&h, bad.clone()).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{bad}: {e:?}");
        assert!(
            e.message().contains("spec.alpr_fps") && e.message().contains("(0, 30]"),
            "{bad}: {}",
            e.message()
        );
    }
    let cam = get_json(&h, &h.admin, "Camera", "cam-1").await.unwrap();
    assert!(cam["spec"].get("alpr_fps").is_none(), "nothing kept: {cam}");
    // The legitimate path: kept as given.
    apply_fps(&h, serde_json::json!(5)).await.unwrap();
    let cam = get_json(&h, &h.admin, "Camera", "cam-1").await.unwrap();
    assert_eq!(cam["spec"]["alpr_fps"], 5.0, "{cam}");
}
