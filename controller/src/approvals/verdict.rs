//! Placement verdicts: the request and camera lines the rules read, the approval
//! gate, overrides with their written justification, the recheck and the map.

use super::placement::*;
use crate::approvals::request_machine::{self, Action};
use crate::core::audit::Draft;
use crate::core::auth::{Actor, Operation};
use crate::core::AuditAction;
use crate::core::{Controller, StoredObject};
use crate::{Error, Result};
use camplane_config::model::{
    CameraSpec, CameraState, CameraStatus, Kind, LatLon, Mount, PlacementRequestSpec,
    PlacementRequestStatus, PrivacyMask, Purpose, Role, Room, SpecialEvent, View,
};
use camplane_placement::{check, Answer, Request, RequestError};
use serde_json::{json, Value};

/// The placement check's request for a placement request or a camera, built from the
/// typed spec and checked by the same rules as a request line (no JSON round trip).
#[allow(clippy::too_many_arguments)]
pub(crate) fn placement_request(
    id: &str,
    location: LatLon,
    mount: Mount,
    room: Option<Room>,
    purpose: Purpose,
    covert: bool,
    view: Option<View>,
    temporary: Option<&SpecialEvent>,
) -> std::result::Result<Request, RequestError> {
    Request {
        id: id.to_string(),
        lat: location.lat,
        lon: location.lon,
        mount,
        room,
        purpose,
        covert,
        view,
        temporary: temporary.cloned(),
    }
    .validated()
}

pub(crate) fn request_of(
    name: &str,
    r: &PlacementRequestSpec,
) -> std::result::Result<Request, RequestError> {
    placement_request(
        name,
        r.location,
        r.mount,
        r.room,
        r.purpose,
        r.covert,
        r.view,
        r.temporary.as_ref(),
    )
}

pub(crate) fn camera_request(
    name: &str,
    c: &CameraSpec,
) -> std::result::Result<Request, RequestError> {
    placement_request(
        name,
        c.location,
        c.mount,
        c.room,
        c.purpose,
        c.covert,
        c.view,
        c.special_event.as_ref(),
    )
}

pub(crate) fn answer_json(a: &Answer) -> Value {
    serde_json::to_value(a).unwrap_or(Value::Null)
}

pub(crate) fn verdict_name(a: &Answer) -> String {
    answer_json(a)["verdict"]
        .as_str()
        .unwrap_or("unknown")
        .to_string()
}

/// What a placement answer's `residential_view` reason says about the
/// camera's privacy masks: the masks that cover the residences' windows, or
/// that it has none and should (`spec.privacy_masks`). None without that reason.
pub fn residential_view_masks(answer: &Value, masks: &[PrivacyMask]) -> Option<String> {
    let residential = answer["reasons"]
        .as_array()
        .is_some_and(|r| r.iter().any(|r| r == "residential_view"));
    if !residential {
        return None;
    }
    Some(if masks.is_empty() {
        "no privacy masks: add privacy_masks to the camera's spec over the windows of the residences it sees".into()
    } else {
        format!(
            "covered by privacy masks: {}",
            masks
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// The verdict name of a request that could not be checked (no streets layer
/// loaded, the layers unusable, or the request's geometry invalid).
pub const CANNOT_CHECK: &str = "cannot_check";

/// The recorded verdict's name: [`CANNOT_CHECK`] when none was computed.
pub(crate) fn recorded_verdict(verdict: Option<&Value>) -> &str {
    verdict
        .and_then(|v| v["answer"]["verdict"].as_str())
        .unwrap_or(CANNOT_CHECK)
}

/// Who may override a verdict, from a request's recorded verdict: `Ok(None)`
/// when no override is needed (eligible, needs_request), `Ok(Some(roles))` when
/// one of `roles` must override before approval, and an error when nothing can
/// make it approvable. Placement fails closed: a request that could not be
/// checked ([`CANNOT_CHECK`]) needs the chief's or an engineer's override, like
/// one the rules do not allow.
pub(crate) fn override_roles(id: &str, verdict: Option<&Value>) -> Result<Option<&'static [Role]>> {
    let answer = verdict.map(|v| &v["answer"]).filter(|a| a.is_object());
    let reasons: Vec<&str> = answer
        .and_then(|a| a["reasons"].as_array())
        .map(|a| a.iter().filter_map(|r| r.as_str()).collect())
        .unwrap_or_default();
    match recorded_verdict(verdict) {
        "not_eligible" | "needs_review" | CANNOT_CHECK => Ok(Some(&[Role::Chief, Role::Engineer])),
        "prohibited" if reasons.contains(&"prohibited_room") => Err(Error::FailedPrecondition(format!(
            "request {id}'s placement verdict is prohibited (prohibited_room): cameras in bathrooms, locker rooms, offices or meeting rooms are for criminal investigations only; no override applies"
        ))),
        // Covert outside a criminal investigation: the chief's recorded authorization.
        "prohibited" => Ok(Some(&[Role::Chief])),
        _ => Ok(None),
    }
}

pub(crate) fn roles_text(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Refuses the City Manager's approval of a request whose placement verdict
/// needs an override that nobody with the right role has recorded.
pub fn approval_gate(id: &str, st: &PlacementRequestStatus) -> Result<()> {
    let Some(roles) = override_roles(id, st.verdict.as_ref())? else {
        return Ok(());
    };
    let verdict = recorded_verdict(st.verdict.as_ref());
    // An override justified the verdict it was made against, not a later one.
    if st.steps.iter().any(|s| {
        s.action == "override"
            && roles.contains(&s.role)
            && s.overrode.as_deref().is_none_or(|v| v == verdict)
    }) {
        return Ok(());
    }
    let load = if verdict == CANNOT_CHECK {
        "load the streets layer (`camplane gis load --layer streets FILE`) so the rules can check it, or have "
    } else {
        "the City Manager can approve it only after "
    };
    Err(Error::FailedPrecondition(format!(
        "request {id}'s placement verdict is {verdict}: {load}an override with a written justification by the {} (`camplane request override {id} --justification TEXT`), or submit a new request",
        roles_text(roles)
    )))
}

/// A camera's placement verdict now against `built`, checked as `placement
/// recheck` and `placement map` check it: the verdict's name, or
/// [`CANNOT_CHECK`] when its spec cannot be checked.
pub fn camera_verdict_now(built: &Built, cam: &StoredObject) -> String {
    let Ok(spec) = cam.spec_as::<CameraSpec>() else {
        return CANNOT_CHECK.into();
    };
    match camera_request(&cam.name, &spec) {
        Ok(req) => verdict_name(&check(&built.layers, &built.rules, &req)),
        Err(_) => CANNOT_CHECK.into(),
    }
}

impl Controller {
    /// `camplane request override`: the chief (law enforcement) or an engineer
    /// (traffic safety) records a written justification that lets the City
    /// Manager approve a request the placement rules do not allow by themselves.
    /// Covert cameras outside a criminal investigation need the chief.
    pub async fn override_verdict(
        &self,
        actor: &Actor,
        id: &str,
        role: Option<Role>,
        justification: &str,
    ) -> Result<StoredObject> {
        self.require(
            actor,
            Operation::PlacementOverride,
            Action::Override.audit_action(),
        )
        .await?;
        request_machine::check_justification(justification)?;
        self.step_request(actor, id, Action::Override, role, justification)
            .await
    }

    fn no_streets() -> Error {
        Error::FailedPrecondition(
            "no streets layer is loaded: `camplane gis load --layer streets FILE`".into(),
        )
    }

    /// `camplane placement recheck`: every approved or active camera against the
    /// layers and rules in use now (covert ones only for those who see covert
    /// cameras). With `all` false only those out of compliance are listed.
    pub async fn recheck(&self, actor: &Actor, all: bool) -> Result<Value> {
        self.require(
            actor,
            Operation::ManagePlacement,
            AuditAction::PlacementRecheck,
        )
        .await?;
        let built = self.placement_built().await?.ok_or_else(Self::no_streets)?;
        let mut rows = Vec::new();
        for (cam, _) in self.list(Kind::Camera)? {
            let spec: CameraSpec = cam.spec_as()?;
            let st: CameraStatus = cam.status_as();
            if !matches!(st.state, CameraState::Active | CameraState::Approved) {
                continue;
            }
            // Where a covert camera is (its verdict names the street it is
            // near) is for the few who see covert cameras (`views`).
            if spec.covert && !crate::registry::views::sees_covert(actor) {
                continue;
            }
            let (verdict, answer) = match camera_request(&cam.name, &spec) {
                Ok(req) => {
                    let a = check(&built.layers, &built.rules, &req);
                    (verdict_name(&a), answer_json(&a))
                }
                Err(e) => ("error".to_string(), json!({"error": e.message})),
            };
            let was = spec.placement_request.as_deref().and_then(|r| {
                let o = self.load(Kind::PlacementRequest, r).ok()?;
                let rs: PlacementRequestStatus = o.status_as();
                rs.verdict?["answer"]["verdict"]
                    .as_str()
                    .map(str::to_string)
            });
            let out_of_compliance = verdict != "eligible" && was.as_deref() != Some(&verdict);
            if all || out_of_compliance {
                let privacy_masks = residential_view_masks(&answer, &spec.privacy_masks);
                rows.push(RecheckRow {
                    camera: cam.name.clone(),
                    state: st.state,
                    request: spec.placement_request.clone(),
                    verdict,
                    was,
                    out_of_compliance,
                    answer,
                    privacy_masks,
                });
            }
        }
        let flagged = rows.iter().filter(|r| r.out_of_compliance).count();
        let mut d = Draft::new(&actor.username, AuditAction::PlacementRecheck, "", "");
        d.details = json!({"layers": built.versions.layers, "rules": built.versions.rules,
            "out_of_compliance": rows.iter().filter(|r| r.out_of_compliance).map(|r| &r.camera).collect::<Vec<_>>()});
        self.audit.record(d).await?;
        Ok(json!({
            "layers": built.versions.layers,
            "rules": built.versions.rules,
            "out_of_compliance": flagged,
            "cameras": rows,
        }))
    }

    /// `camplane placement map`: the layers in use and every camera not retired
    /// (covert ones only for those who see covert cameras), coloured by its
    /// verdict now, as SVG.
    pub async fn placement_map(&self, actor: &Actor) -> Result<String> {
        self.require(
            actor,
            Operation::ViewPlacementMap,
            AuditAction::PlacementMap,
        )
        .await?;
        let built = self.placement_built().await?.ok_or_else(Self::no_streets)?;
        let mut cams = Vec::new();
        for (cam, _) in self.list(Kind::Camera)? {
            let spec: CameraSpec = cam.spec_as()?;
            let st: CameraStatus = cam.status_as();
            if st.state == CameraState::Retired
                || (spec.covert && !crate::registry::views::sees_covert(actor))
            {
                continue;
            }
            if let Ok(req) = camera_request(&cam.name, &spec) {
                let a = check(&built.layers, &built.rules, &req);
                cams.push((req, a));
            }
        }
        tokio::task::spawn_blocking(move || {
            camplane_placement::map::render_svg(&built.layers, &cams)
        })
        .await
        .map_err(|e| Error::Internal(format!("rendering map: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use camplane_config::model::ApprovalStep;
    use jiff::Timestamp;

    fn status(verdict: Value, steps: Vec<(&str, Role)>) -> PlacementRequestStatus {
        PlacementRequestStatus {
            verdict: Some(verdict),
            steps: steps
                .into_iter()
                .map(|(a, r)| ApprovalStep {
                    action: a.into(),
                    role: r,
                    actor: "x".into(),
                    at: Timestamp::UNIX_EPOCH,
                    comment: "because".into(),
                    overrode: None,
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn gate_follows_the_verdict() {
        let v = |verdict: &str, reasons: &[&str]| json!({"answer": {"verdict": verdict, "reasons": reasons}});
        assert!(approval_gate("r", &status(v("eligible", &[]), vec![])).is_ok());
        assert!(approval_gate("r", &status(v("needs_request", &[]), vec![])).is_ok());
        // Placement fails closed: a request that could not be checked (no streets
        // layer) is not approvable until the layer is loaded or it is overridden.
        for unchecked in [
            v("cannot_check", &["no_streets_layer"]),
            json!({"answer": null, "note": "x"}),
        ] {
            let e = approval_gate("r", &status(unchecked.clone(), vec![])).unwrap_err();
            assert!(
                e.to_string().contains("cannot_check") && e.to_string().contains("gis load"),
                "{e}"
            );
            for r in [Role::Chief, Role::Engineer] {
                assert!(
                    approval_gate("r", &status(unchecked.clone(), vec![("override", r)])).is_ok()
                );
            }
            assert!(approval_gate(
                "r",
                &status(unchecked.clone(), vec![("override", Role::Admin)])
            )
            .is_err());
        }
        let e = approval_gate("r", &status(v("not_eligible", &[]), vec![])).unwrap_err();
        assert!(e.to_string().contains("not_eligible"), "{e}");
        assert!(approval_gate(
            "r",
            &status(v("not_eligible", &[]), vec![("override", Role::Engineer)])
        )
        .is_ok());
        assert!(approval_gate(
            "r",
            &status(
                v("needs_review", &["residential_view"]),
                vec![("override", Role::Chief)]
            )
        )
        .is_ok());
        // Covert: only the chief's override counts.
        assert!(approval_gate(
            "r",
            &status(
                v("prohibited", &["covert"]),
                vec![("override", Role::Engineer)]
            )
        )
        .is_err());
        assert!(approval_gate(
            "r",
            &status(
                v("prohibited", &["covert"]),
                vec![("override", Role::Chief)]
            )
        )
        .is_ok());
        // A prohibited room: nothing helps.
        assert!(approval_gate(
            "r",
            &status(
                v("prohibited", &["prohibited_room"]),
                vec![("override", Role::Chief)]
            )
        )
        .is_err());
        // An override of `cannot_check` justifies that verdict only: checked
        // again (a streets layer loaded since) as not_eligible, it needs its
        // own override.
        let mut st = status(v("not_eligible", &[]), vec![("override", Role::Engineer)]);
        st.steps[0].overrode = Some("cannot_check".into());
        let e = approval_gate("r", &st).unwrap_err();
        assert!(e.to_string().contains("not_eligible"), "{e}");
        st.steps[0].overrode = Some("not_eligible".into());
        assert!(approval_gate("r", &st).is_ok());
    }

    #[test]
    fn residential_view_names_the_masks_or_asks_for_them() {
        let mask = |n: &str| PrivacyMask {
            name: n.into(),
            polygon: vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]],
        };
        let residential = json!({"verdict": "needs_review", "reasons": ["residential_view"]});
        assert_eq!(
            residential_view_masks(&residential, &[mask("a"), mask("b")]).as_deref(),
            Some("covered by privacy masks: a, b")
        );
        assert!(residential_view_masks(&residential, &[])
            .unwrap()
            .contains("add privacy_masks"));
        for other in [
            json!({"verdict": "eligible", "reasons": []}),
            json!({"verdict": "prohibited", "reasons": ["covert"]}),
            Value::Null,
        ] {
            assert_eq!(residential_view_masks(&other, &[mask("a")]), None);
        }
    }

    #[test]
    fn requests_are_built_from_typed_specs() {
        let spec = PlacementRequestSpec {
            location: LatLon {
                lat: 33.7466848,
                lon: -84.360234,
            },
            mount: Mount::Indoor,
            room: Some(Room::LockerRoom),
            purpose: Purpose::PropertyProtection,
            covert: false,
            view: Some(View {
                heading_deg: 90.0,
                fov_deg: 60.0,
                range_m: 40.0,
            }),
            temporary: Some(SpecialEvent {
                event: "fair".into(),
                from: "2025-01-01T00:00:00Z".parse().unwrap(),
                until: "2025-01-02T00:00:00Z".parse().unwrap(),
            }),
            justification: String::new(),
            funding_source: String::new(),
            department: "police".into(),
            kind: camplane_config::model::CameraKind::Temporary,
            camera: None,
        };
        let r = request_of("req-1", &spec).unwrap();
        assert_eq!(r.id, "req-1");
        assert!(r.temporary.is_some());
        assert!(r.view.is_some());
    }
}
