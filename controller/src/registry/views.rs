//! What a reader is shown of an object: the one place `get` (a name or a list)
//! takes things out before an object leaves the controller.
//!
//! - A stream address never carries credentials (`rtsp://user:pass@host/...`
//!   is shown as `rtsp://host/...`): credentials are set apart (`camplane
//!   camera credentials set`) and go only to the camera's agent.
//! - Where a covert camera (or the request for one) is: its location, site and
//!   view are shown only to the chief, admins and auditors.

use crate::core::auth::Actor;
use crate::core::StoredObject;
use camplane_config::model::{Kind, Role};
use serde_json::Value;

/// Roles that see where covert cameras are.
pub const SEE_COVERT: [Role; 3] = [Role::Chief, Role::Admin, Role::Auditor];

/// The fields that say where a camera or a request is (the gateway that
/// records it names its site).
const WHERE: [&str; 5] = ["location", "site", "view", "room", "agent"];
/// The status fields that say where a covert camera has been (and on which
/// gateways).
const STATUS_WHERE: [&str; 2] = ["location_history", "former_agents"];

pub use camplane_config::model::{
    url_has_credentials as has_credentials, url_without_credentials as without_credentials,
};

/// Whether `actor` sees covert cameras' whereabouts: the only way [`shown_to`]
/// depends on who reads, so readers alike here see every object alike (what
/// lets a door keep one rendering per object and class of reader).
pub fn sees_covert(actor: &Actor) -> bool {
    SEE_COVERT.iter().any(|r| actor.has(*r))
}

impl crate::core::Controller {
    /// The covert cameras whose whereabouts `actor` does not see (none for
    /// the chief, admins and auditors: [`sees_covert`]): what other wings'
    /// answers (camera health, windows) leave out.
    pub(crate) fn covert_cameras_hidden_from(
        &self,
        actor: &Actor,
    ) -> crate::Result<std::collections::HashSet<String>> {
        if sees_covert(actor) {
            return Ok(Default::default());
        }
        Ok(self
            .list(Kind::Camera)?
            .into_iter()
            .filter(|(o, _)| o.spec["covert"].as_bool() == Some(true))
            .map(|(o, _)| o.name)
            .collect())
    }
}

/// `obj` as `actor` may see it.
pub fn shown_to(actor: &Actor, mut obj: StoredObject) -> StoredObject {
    let kind = Kind::parse(&obj.kind);
    if kind == Some(Kind::Camera) {
        if let Some(streams) = obj.spec.get_mut("streams").and_then(Value::as_object_mut) {
            for v in streams.values_mut() {
                if let Some(u) = v.as_str() {
                    *v = Value::String(without_credentials(u));
                }
            }
        }
    }
    let covert = obj.spec.get("covert").and_then(Value::as_bool) == Some(true);
    if covert && matches!(kind, Some(Kind::Camera | Kind::PlacementRequest)) && !sees_covert(actor)
    {
        if let Some(spec) = obj.spec.as_object_mut() {
            for f in WHERE {
                spec.remove(f);
            }
        }
        if !obj.status.is_object() {
            obj.status = Value::Object(Default::default());
        }
        // Where it stood before is as secret as where it stands.
        if let Some(st) = obj.status.as_object_mut() {
            for f in STATUS_WHERE {
                st.remove(f);
            }
            // A request's placement verdict names the street it is near; its
            // answer and reasons stay (the chain's people decide on them).
            if let Some(v) = st.get_mut("verdict").and_then(Value::as_object_mut) {
                v.remove("nearest_street");
            }
        }
        obj.status["location_hidden"] =
            Value::String("covert: shown to the chief, admins and auditors only".into());
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn actor(roles: &[Role]) -> Actor {
        Actor {
            username: "u".into(),
            roles: roles.to_vec(),
            department: "police".into(),
        }
    }

    fn camera(covert: bool) -> StoredObject {
        StoredObject {
            kind: "Camera".into(),
            name: "c".into(),
            spec: json!({
                "site": "city-hall", "location": {"lat": 42.5, "lon": -90.6},
                "view": {"heading": 90.0}, "covert": covert, "agent": "city-hall-gw",
                "streams": {"main": "rtsp://admin:s3cret@10.0.0.5:554/main", "sub": "rtsp://10.0.0.5/sub"}
            }),
            status: json!({"state": "active", "former_agents": ["depot-gw"], "location_history": [
                {"location": {"lat": 42.5, "lon": -90.6}, "site": "city-hall", "from": "2026-01-01T00:00:00Z"}
            ]}),
        }
    }

    #[test]
    fn stream_credentials_are_never_shown() {
        assert_eq!(
            without_credentials("rtsp://admin:s3cret@10.0.0.5:554/main?x=@"),
            "rtsp://10.0.0.5:554/main?x=@"
        );
        assert_eq!(without_credentials("rtsp://u@h/p"), "rtsp://h/p");
        assert_eq!(without_credentials("rtsp://a:b@c@h/p"), "rtsp://h/p");
        assert_eq!(without_credentials("rtsp://h/p@x"), "rtsp://h/p@x");
        assert!(has_credentials("rtsp://a:b@h/"));
        assert!(!has_credentials("rtsp://h:554/main"));
        for roles in [&[Role::Admin][..], &[Role::Viewer], &[Role::Chief]] {
            let shown = shown_to(&actor(roles), camera(false));
            let text = serde_json::to_string(&shown).unwrap();
            assert!(
                !text.contains("s3cret") && !text.contains("admin:"),
                "{text}"
            );
            assert_eq!(shown.spec["streams"]["main"], "rtsp://10.0.0.5:554/main");
        }
    }

    #[test]
    fn where_covert_cameras_are_is_for_the_chief_admins_and_auditors() {
        for r in Role::ALL {
            let shown = shown_to(&actor(&[r]), camera(true));
            let sees = SEE_COVERT.contains(&r);
            for f in WHERE.iter().take(3) {
                assert_eq!(shown.spec.get(*f).is_some(), sees, "{r} {f}");
            }
            assert_eq!(shown.status["location_hidden"].is_string(), !sees, "{r}");
            assert_eq!(
                shown.status.get("location_history").is_some(),
                sees,
                "{r}: location history"
            );
            assert_eq!(shown.status["state"], "active");
            assert_eq!(shown.spec.get("agent").is_some(), sees, "{r}: its gateway");
            assert_eq!(shown.status.get("former_agents").is_some(), sees, "{r}");
        }
        // A covert request's verdict keeps its answer, not the street it is near.
        let mut req = camera(true);
        req.kind = "PlacementRequest".into();
        req.status["verdict"] = json!({"verdict": "needs_review", "reasons": ["residential_view"],
            "nearest_street": {"name": "Locust St", "class": "minor_arterial", "distance_m": 7.4}});
        let shown = shown_to(&actor(&[Role::CityManager]), req.clone());
        assert_eq!(shown.status["verdict"]["verdict"], "needs_review");
        assert!(shown.status["verdict"].get("nearest_street").is_none());
        let shown = shown_to(&actor(&[Role::Chief]), req);
        assert!(shown.status["verdict"].get("nearest_street").is_some());
        // Not covert: everyone sees where it is.
        let shown = shown_to(&actor(&[Role::Viewer]), camera(false));
        assert!(shown.spec.get("location").is_some());
    }
}
