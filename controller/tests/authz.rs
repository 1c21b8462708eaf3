//! The authorization table, end to end: for every role and every RPC of the
//! controller's API, a user holding only that role calls it against a real
//! controller, and the call is allowed or denied exactly as `auth.rs`'s table
//! (`Operation::roles`, from the governance spec) says. Denied calls fail with
//! `PermissionDenied`; allowed ones may fail for other reasons (the inputs are
//! placeholders: an unknown id is `NotFound`) but never with `PermissionDenied`.
//! RPCs open to every signed-in user are allowed for every role; the agents'
//! RPCs (one-time token, mutual TLS) are refused to every user's bearer token.
//! Every operation of the table is reached by at least one RPC.

use camplane_config::model::Role;
use camplane_controller::auth::Operation;
use camplane_proto::v1 as pb;
use camplane_testkit::controller::*;
use std::collections::HashSet;
use tonic::Code;

/// What an RPC needs.
#[derive(Debug, Clone, Copy)]
enum Need {
    /// An operation of the table.
    Op(Operation),
    /// Only a valid session.
    SignedIn,
    /// An agent's one-time token or client certificate: no user gets in.
    AgentOnly,
}

/// Every RPC of the API (with the variants whose operation depends on the input).
const RPCS: &[(&str, Need)] = &[
    ("Auth.WhoAmI", Need::SignedIn),
    ("Auth.Logout", Need::SignedIn),
    ("Auth.ChangePassword", Need::SignedIn),
    ("Objects.Apply(Site)", Need::Op(Operation::WriteRegistry)),
    (
        "Objects.Apply(PlacementRequest)",
        Need::Op(Operation::SubmitRequest),
    ),
    ("Objects.Apply(User)", Need::Op(Operation::ManageUsers)),
    (
        "Objects.Apply(Camera marking)",
        Need::Op(Operation::MarkReaderConfidential),
    ),
    (
        "Objects.Apply(FeeSchedule)",
        Need::Op(Operation::SetFeeSchedule),
    ),
    ("Objects.Get(Camera)", Need::Op(Operation::ReadObjects)),
    ("Objects.Get(cameras)", Need::Op(Operation::ReadObjects)),
    ("Objects.Get(User)", Need::Op(Operation::ReadUsers)),
    ("Objects.Delete", Need::Op(Operation::WriteRegistry)),
    ("Approvals.Submit", Need::Op(Operation::SubmitRequest)),
    ("Approvals.Act(submitted)", Need::Op(Operation::DeptReview)),
    (
        "Approvals.Act(dept_recommended)",
        Need::Op(Operation::ChiefOrIsReview),
    ),
    (
        "Approvals.Act(reviewed)",
        Need::Op(Operation::CityManagerDecision),
    ),
    (
        "Approvals.Act(override)",
        Need::Op(Operation::PlacementOverride),
    ),
    ("Approvals.Show", Need::Op(Operation::ReadObjects)),
    ("Cameras.Transition", Need::Op(Operation::CameraLifecycle)),
    ("Users.Add", Need::Op(Operation::ManageUsers)),
    ("Users.Grant", Need::Op(Operation::ManageUsers)),
    ("Users.ResetPassword", Need::Op(Operation::ManageUsers)),
    ("Users.List", Need::Op(Operation::ReadUsers)),
    ("Audit.Verify", Need::Op(Operation::ReadAudit)),
    ("Audit.Tail", Need::Op(Operation::ReadAudit)),
    ("Audit.Checkpoint", Need::Op(Operation::ReadAudit)),
    ("Placement.LoadLayer", Need::Op(Operation::ManagePlacement)),
    ("Placement.ApplyRules", Need::Op(Operation::ManagePlacement)),
    ("Placement.List", Need::Op(Operation::ReadObjects)),
    ("Placement.Recheck", Need::Op(Operation::ManagePlacement)),
    ("Placement.Map", Need::Op(Operation::ViewPlacementMap)),
    (
        "Fleet.CreateEnrollToken",
        Need::Op(Operation::WriteRegistry),
    ),
    ("Fleet.Enroll", Need::AgentOnly),
    ("Fleet.Renew", Need::AgentOnly),
    ("Fleet.Revoke", Need::Op(Operation::WriteRegistry)),
    ("Fleet.Reinstate", Need::Op(Operation::WriteRegistry)),
    ("Fleet.Control", Need::AgentOnly),
    ("Fleet.Media", Need::AgentOnly),
    ("Fleet.ListAgents", Need::Op(Operation::ReadObjects)),
    ("Fleet.CameraStatus", Need::Op(Operation::ReadObjects)),
    ("Fleet.Windows", Need::Op(Operation::ReadObjects)),
    (
        "Holds.Create(criminal_investigation)",
        Need::Op(Operation::HoldForCase),
    ),
    (
        "Holds.Create(city_manager_approved)",
        Need::Op(Operation::HoldCityManager),
    ),
    (
        "Holds.Release(criminal_investigation)",
        Need::Op(Operation::HoldForCase),
    ),
    (
        "Holds.Release(city_manager_approved)",
        Need::Op(Operation::HoldCityManager),
    ),
    ("Hotlists.Load", Need::Op(Operation::ManageHotlists)),
    ("Hotlists.Upload", Need::Op(Operation::ManageHotlists)),
    ("Hotlists.List", Need::Op(Operation::ReadHotlists)),
    ("Alerts.List", Need::Op(Operation::ReceiveAlerts)),
    ("Alerts.Watch", Need::Op(Operation::ReceiveAlerts)),
    ("Alpr.Search", Need::Op(Operation::SearchAlpr)),
    ("AlprApprovals.List", Need::Op(Operation::ApproveAlprQuery)),
    (
        "AlprApprovals.Decide",
        Need::Op(Operation::ApproveAlprQuery),
    ),
    ("AlprApprovals.Run", Need::Op(Operation::SearchAlpr)),
    ("AlertReview.Review", Need::Op(Operation::VerifyAlerts)),
    ("AuditReports.Monthly", Need::Op(Operation::ReadAudit)),
    ("PublicLog.Generate", Need::Op(Operation::GeneratePublicLog)),
    (
        "PublicLog.AddCaseAssist",
        Need::Op(Operation::RecordCaseAssist),
    ),
    (
        "Recordings.Authorize",
        Need::Op(Operation::AuthorizeRecordings),
    ),
    ("Recordings.Export", Need::Op(Operation::ViewRecordings)),
    (
        "Recordings.Fulfil",
        Need::Op(Operation::ReviewRecordsRequest),
    ),
    ("Recordings.Crop", Need::Op(Operation::SearchAlpr)),
    ("Complaints.File", Need::Op(Operation::FileComplaint)),
    ("Complaints.List", Need::Op(Operation::ReadComplaints)),
    ("Complaints.Show", Need::Op(Operation::ReadComplaints)),
    (
        "Complaints.Decide(chief)",
        Need::Op(Operation::DecideComplaint),
    ),
    (
        "Complaints.Decide(city_manager)",
        Need::Op(Operation::DecideComplaintAppeal),
    ),
    (
        "Complaints.Decide(council)",
        Need::Op(Operation::RecordCouncilDecision),
    ),
    ("Complaints.Appeal", Need::Op(Operation::RecordAppeal)),
    (
        "RecordsRequests.Open",
        Need::Op(Operation::OpenRecordsRequest),
    ),
    (
        "RecordsRequests.List",
        Need::Op(Operation::ReadRecordsRequests),
    ),
    (
        "RecordsRequests.Show",
        Need::Op(Operation::ReadRecordsRequests),
    ),
    (
        "RecordsRequests.Step(review)",
        Need::Op(Operation::ReviewRecordsRequest),
    ),
    (
        "RecordsRequests.Step(advise)",
        Need::Op(Operation::AdviseRecordsRequest),
    ),
    ("Viewing.Playback", Need::Op(Operation::ViewRecordings)),
    ("Viewing.Live", Need::Op(Operation::ViewRecordings)),
    ("Viewing.Sessions", Need::Op(Operation::ReadViewingSessions)),
    ("Masks.Lift", Need::Op(Operation::LiftPrivacyMasks)),
    ("Maintenance.Log", Need::Op(Operation::LogMaintenance)),
    ("Maintenance.List", Need::Op(Operation::ReadMaintenance)),
    ("Maintenance.Overdue", Need::Op(Operation::ReadMaintenance)),
    ("Maintenance.Vendors", Need::Op(Operation::ReadMaintenance)),
    (
        "Maintenance.AddVendor",
        Need::Op(Operation::ManageMaintenanceVendors),
    ),
    (
        "Maintenance.RemoveVendor",
        Need::Op(Operation::ManageMaintenanceVendors),
    ),
    ("PolicyReview.Propose", Need::Op(Operation::ProposePolicy)),
    ("PolicyReview.Signoff", Need::Op(Operation::SignOffPolicy)),
    ("PolicyReview.Status", Need::SignedIn),
    ("PolicyReview.Reviews", Need::SignedIn),
    (
        "Compliance.Report",
        Need::Op(Operation::ReadComplianceReport),
    ),
];

/// The fixture records request whose description is `describe`.
async fn fixture_records(h: &Harness, describe: &str) -> String {
    let all = h.running.controller.all_records_requests().await.unwrap();
    all.into_iter().find(|r| r.describe == describe).unwrap().id
}

/// The fixture complaint whose text is `about` (made before the callers run).
async fn fixture_complaint(h: &Harness, about: &str) -> String {
    let all = h.running.controller.all_complaints().await.unwrap();
    all.into_iter().find(|c| c.about == about).unwrap().id
}

fn placement_request(name: &str) -> String {
    format!(
        "kind: PlacementRequest\nname: {name}\nspec:\n  location: {{lat: 42.5006, lon: -90.6646}}\n  purpose: property_protection\n  justification: break-ins\n  funding_source: general fund\n  department: police\n  kind: fixed\n"
    )
}

/// One role's caller and the fixtures made for it.
struct Caller {
    role: Role,
    token: String,
    password: String,
    name: String,
}

fn r(role: Role) -> String {
    role.as_str().replace('_', "-")
}

async fn call(h: &Harness, c: &Caller, rpc: &str) -> Result<(), tonic::Status> {
    let t = c.token.as_str();
    let ch = h.channel.clone();
    let role = r(c.role);
    let obj = |kind: &str, name: &str, yaml: &str| {
        let m = camplane_config::manifest::parse("authz.yaml", yaml).unwrap();
        pb::Object {
            kind: kind.into(),
            name: name.into(),
            json: serde_json::to_vec(&m[0].spec.to_json()).unwrap(),
            revision: 0,
        }
    };
    let apply = |o: pb::Object| {
        let ch = ch.clone();
        async move {
            pb::objects_client::ObjectsClient::new(ch)
                .apply(req(
                    t,
                    pb::ApplyRequest {
                        objects: vec![o],
                        source: "authz.yaml".into(),
                        dry_run: false,
                    },
                ))
                .await
                .map(|_| ())
        }
    };
    let get = |kind: &str, name: &str| {
        let ch = ch.clone();
        let g = pb::GetRequest {
            kind: kind.into(),
            name: name.into(),
            ..Default::default()
        };
        async move {
            pb::objects_client::ObjectsClient::new(ch)
                .get(req(t, g))
                .await
                .map(|_| ())
        }
    };
    let act = |id: String, action: &str| {
        let ch = ch.clone();
        let a = pb::ActRequest {
            id,
            action: action.into(),
            role: String::new(),
            comment: "authz".into(),
        };
        async move {
            pb::approvals_client::ApprovalsClient::new(ch)
                .act(req(t, a))
                .await
                .map(|_| ())
        }
    };
    let hold = |reason: &str| {
        let ch = ch.clone();
        let spec = serde_json::json!({"case_number": "26-01234", "cameras": ["cam-1"], "from": "2026-10-01T00:00:00Z", "until": "2026-10-02T00:00:00Z", "reason": reason});
        async move {
            pb::holds_client::HoldsClient::new(ch)
                .create(req(
                    t,
                    pb::SubmitRequest {
                        json: serde_json::to_vec(&spec).unwrap(),
                    },
                ))
                .await
                .map(|_| ())
        }
    };
    let placement = pb::placement_client::PlacementClient::new(ch.clone());
    let fleet = pb::fleet_client::FleetClient::new(ch.clone());
    match rpc {
        "Auth.WhoAmI" => pb::auth_client::AuthClient::new(ch)
            .who_am_i(req(t, pb::Empty {}))
            .await
            .map(|_| ()),
        "Auth.Logout" => {
            // A second session, so the caller's own token lives on.
            let other = login(&h.channel, &c.name, &c.password).await?;
            pb::auth_client::AuthClient::new(ch)
                .logout(req(&other, pb::Empty {}))
                .await
                .map(|_| ())
        }
        "Auth.ChangePassword" => {
            // Every signed-in user changes their own password (and back).
            let tmp = format!("{}-changed", c.password);
            change_password(&h.channel, t, &c.password, &tmp).await?;
            change_password(&h.channel, t, &tmp, &c.password).await
        }
        "Objects.Apply(Site)" => {
            apply(obj(
                "Site",
                &format!("site-{role}"),
                "kind: Site\nname: x\nspec: {address: 1 Main St, lat: 42.5, lon: -90.6}\n",
            ))
            .await
        }
        // Every caller is of the police department: its manager sets its schedule.
        "Objects.Apply(FeeSchedule)" => {
            apply(obj(
                "FeeSchedule",
                "police",
                "kind: FeeSchedule\nname: police\nspec: {base_cents: 500, per_minute_cents: 25, per_file_cents: 10}\n",
            ))
            .await
        }
        "Objects.Apply(PlacementRequest)" => {
            let name = format!("applied-{role}");
            apply(obj("PlacementRequest", &name, &placement_request(&name))).await
        }
        "Objects.Apply(User)" => {
            apply(obj(
                "User",
                "fx-viewer",
                "kind: User\nname: fx-viewer\nspec:\n  department: police\n  roles: [viewer]\n",
            ))
            .await
        }
        // cam-1 as stored, with a confidential marking of the caller's own:
        // the chief's is made; Information Services' and everyone else's refused.
        "Objects.Apply(Camera marking)" => {
            let mut spec = get_json(h, &h.admin, "Camera", "cam-1").await?["spec"].clone();
            spec["confidential"] = true.into();
            spec["confidential_reason"] = format!("authz {role}").into();
            spec["confidential_basis"] = "iowa-code-22.7".into();
            apply(pb::Object {
                kind: "Camera".into(),
                name: "cam-1".into(),
                json: serde_json::to_vec(&spec).unwrap(),
                revision: 0,
            })
            .await
        }
        "Objects.Get(Camera)" => get("Camera", "cam-1").await,
        "Objects.Get(cameras)" => get("Camera", "").await,
        "Objects.Get(User)" => get("User", "admin").await,
        "Objects.Delete" => pb::objects_client::ObjectsClient::new(ch)
            .delete(req(
                t,
                pb::DeleteRequest {
                    kind: "Site".into(),
                    name: "no-such-site".into(),
                },
            ))
            .await
            .map(|_| ()),
        "Approvals.Submit" => {
            let body = serde_json::json!({"name": format!("submitted-{role}"), "spec": {
                "location": {"lat": 42.5006, "lon": -90.6646}, "purpose": "property_protection",
                "justification": "x", "funding_source": "general fund", "department": "police", "kind": "fixed"}});
            pb::approvals_client::ApprovalsClient::new(ch)
                .submit(req(
                    t,
                    pb::SubmitRequest {
                        json: serde_json::to_vec(&body).unwrap(),
                    },
                ))
                .await
                .map(|_| ())
        }
        "Approvals.Act(submitted)" => act(format!("s-{role}"), "recommend").await,
        "Approvals.Act(dept_recommended)" => act(format!("d-{role}"), "recommend").await,
        "Approvals.Act(reviewed)" => act(format!("r-{role}"), "approve").await,
        "Approvals.Act(override)" => pb::approvals_client::ApprovalsClient::new(ch)
            .act(req(
                t,
                pb::ActRequest {
                    id: "req-1".into(),
                    action: "override".into(),
                    role: String::new(),
                    comment: "needed for safety".into(),
                },
            ))
            .await
            .map(|_| ()),
        "Approvals.Show" => pb::approvals_client::ApprovalsClient::new(ch)
            .show(req(t, pb::RequestId { id: "req-1".into() }))
            .await
            .map(|_| ()),
        "Cameras.Transition" => pb::cameras_client::CamerasClient::new(ch)
            .transition(req(
                t,
                pb::CameraAction {
                    name: "no-such-camera".into(),
                    action: "suspend".into(),
                    reason: String::new(),
                },
            ))
            .await
            .map(|_| ()),
        "Users.Add" => {
            let body = serde_json::json!({"name": format!("added-by-{role}"), "spec": {"roles": ["viewer"], "department": "police"}});
            pb::users_client::UsersClient::new(ch)
                .add(req(
                    t,
                    pb::AddUserRequest {
                        json: serde_json::to_vec(&body).unwrap(),
                        password: "a-long-enough-password".into(),
                    },
                ))
                .await
                .map(|_| ())
        }
        "Users.ResetPassword" => pb::users_client::UsersClient::new(ch)
            .reset_password(req(
                t,
                pb::ResetPasswordRequest {
                    username: "fx-viewer".into(),
                    password: "fx-viewer-one-time-1".into(),
                },
            ))
            .await
            .map(|_| ()),
        "Users.Grant" => pb::users_client::UsersClient::new(ch)
            .grant(req(
                t,
                pb::GrantRequest {
                    username: "fx-viewer".into(),
                    roles: vec!["viewer".into()],
                    revoke: false,
                },
            ))
            .await
            .map(|_| ()),
        "Users.List" => pb::users_client::UsersClient::new(ch)
            .list(req(t, pb::ListRequest::default()))
            .await
            .map(|_| ()),
        "Audit.Verify" => pb::audit_client::AuditClient::new(ch)
            .verify(req(t, pb::Empty {}))
            .await
            .map(|_| ()),
        "Audit.Checkpoint" => pb::audit_client::AuditClient::new(ch)
            .checkpoint(req(t, pb::CheckpointRequest { size: 1 }))
            .await
            .map(|_| ()),
        "Audit.Tail" => pb::audit_client::AuditClient::new(ch)
            .tail(req(
                t,
                pb::TailRequest {
                    limit: 1,
                    before_seq: 0,
                },
            ))
            .await
            .map(|_| ()),
        "Placement.LoadLayer" => placement
            .clone()
            .load_layer(req(
                t,
                tokio_stream::iter(pb::LayerUpload::messages(
                    "streets",
                    false,
                    vec![("bad.geojson".into(), b"not geojson".to_vec())],
                )),
            ))
            .await
            .map(|_| ()),
        "Placement.ApplyRules" => placement
            .clone()
            .apply_rules(req(
                t,
                pb::ApplyRulesRequest {
                    file: Some(pb::LayerFile {
                        name: "rules.yaml".into(),
                        data: b"colour: red\n".to_vec(),
                    }),
                },
            ))
            .await
            .map(|_| ()),
        "Placement.List" => placement
            .clone()
            .list(req(t, pb::Empty {}))
            .await
            .map(|_| ()),
        "Placement.Recheck" => placement
            .clone()
            .recheck(req(t, pb::RecheckRequest { all: false }))
            .await
            .map(|_| ()),
        "Placement.Map" => placement
            .clone()
            .map(req(t, pb::Empty {}))
            .await
            .map(|_| ()),
        "Fleet.CreateEnrollToken" => fleet
            .clone()
            .create_enroll_token(req(
                t,
                pb::EnrollTokenRequest {
                    site: "city-hall".into(),
                    agent: format!("gw-{role}"),
                },
            ))
            .await
            .map(|_| ()),
        "Fleet.Enroll" => fleet
            .clone()
            .enroll(req(
                t,
                pb::EnrollRequest {
                    token: t.into(),
                    csr_pem: String::new(),
                },
            ))
            .await
            .map(|_| ()),
        "Fleet.Renew" => fleet
            .clone()
            .renew(req(
                t,
                pb::RenewRequest {
                    csr_pem: String::new(),
                },
            ))
            .await
            .map(|_| ()),
        "Fleet.Revoke" => fleet
            .clone()
            .revoke(req(
                t,
                pb::AgentName {
                    agent: "no-such-agent".into(),
                },
            ))
            .await
            .map(|_| ()),
        "Fleet.Reinstate" => fleet
            .clone()
            .reinstate(req(
                t,
                pb::AgentReinstateRequest {
                    agent: "no-such-agent".into(),
                    reason: "authz".into(),
                },
            ))
            .await
            .map(|_| ()),
        "Fleet.Media" => fleet
            .clone()
            .media(req(
                t,
                tokio_stream::iter(vec![pb::MediaChunk {
                    stream: "ls-0".into(),
                    ..Default::default()
                }]),
            ))
            .await
            .map(|_| ()),
        "Fleet.Control" => {
            let hello = pb::AgentMessage {
                msg: Some(pb::agent_message::Msg::Hello(pb::Hello {
                    agent: "city-hall-gw".into(),
                    ..Default::default()
                })),
            };
            match fleet
                .clone()
                .control(req(t, tokio_stream::iter(vec![hello])))
                .await
            {
                Ok(resp) => {
                    let mut s = resp.into_inner();
                    s.message().await.map(|_| ())
                }
                Err(e) => Err(e),
            }
        }
        "Fleet.ListAgents" => fleet
            .clone()
            .list_agents(req(t, pb::ListRequest::default()))
            .await
            .map(|_| ()),
        "Fleet.CameraStatus" => fleet
            .clone()
            .camera_status(req(t, pb::ListRequest::default()))
            .await
            .map(|_| ()),
        "Fleet.Windows" => fleet
            .clone()
            .windows(req(t, pb::ListRequest::default()))
            .await
            .map(|_| ()),
        "Holds.Create(criminal_investigation)" => hold("criminal_investigation").await,
        "Holds.Create(city_manager_approved)" => hold("city_manager_approved").await,
        "Holds.Release(criminal_investigation)" | "Holds.Release(city_manager_approved)" => {
            let which = if rpc.contains("criminal") {
                "fx-hold-criminal"
            } else {
                "fx-hold-cm"
            };
            let name = h
                .running
                .controller
                .list(camplane_config::model::Kind::LegalHold)
                .unwrap()
                .into_iter()
                .find(|(o, _)| o.spec["case_number"] == FIXTURE_CASES[which])
                .map(|(o, _)| o.name)
                .unwrap();
            pb::holds_client::HoldsClient::new(ch)
                .release(req(t, pb::HoldName { name }))
                .await
                .map(|_| ())
        }
        "Hotlists.Load" => pb::hotlists_client::HotlistsClient::new(ch)
            .load(req(
                t,
                pb::HotlistLoadRequest {
                    source: "NCIC".into(),
                    category: "stolen_vehicle".into(),
                    file_name: "list.csv".into(),
                    csv: b"plate\nABC1234\n".to_vec(),
                    columns_json: String::new(),
                    mode: String::new(),
                    public: None,
                    ..Default::default()
                },
            ))
            .await
            .map(|_| ()),
        "Hotlists.Upload" => upload_hotlist(
            &ch,
            t,
            pb::HotlistLoadRequest {
                source: "NCIC".into(),
                category: "stolen_vehicle".into(),
                file_name: "list.csv".into(),
                csv: b"plate\nABC1234\n".to_vec(),
                ..Default::default()
            },
        )
        .await
        .map(|_| ()),
        "Hotlists.List" => pb::hotlists_client::HotlistsClient::new(ch)
            .list(req(t, pb::Empty {}))
            .await
            .map(|_| ()),
        "Alerts.List" => pb::alerts_client::AlertsClient::new(ch)
            .list(req(t, pb::AlertsRequest::default()))
            .await
            .map(|_| ()),
        "Alerts.Watch" => pb::alerts_client::AlertsClient::new(ch)
            .watch(req(t, pb::AlertsRequest::default()))
            .await
            .map(|_| ()),
        "Alpr.Search" => pb::alpr_client::AlprClient::new(ch)
            .search(req(
                t,
                pb::SearchRequest {
                    plate: "ABC1234".into(),
                    case_number: "26-01234".into(),
                    purpose: "stolen_vehicle".into(),
                    timeout_ms: 100,
                    ..Default::default()
                },
            ))
            .await
            .map(|_| ()),
        "AlprApprovals.List" => pb::alpr_approvals_client::AlprApprovalsClient::new(ch)
            .list(req(t, pb::AlprApprovalsRequest { all: true, ..Default::default() }))
            .await
            .map(|_| ()),
        "AlprApprovals.Decide" => pb::alpr_approvals_client::AlprApprovalsClient::new(ch)
            .decide(req(
                t,
                pb::AlprApprovalDecision {
                    id: "aq-1-00000000".into(),
                    approve: true,
                    reason: "authz".into(),
                },
            ))
            .await
            .map(|_| ()),
        "AlprApprovals.Run" => pb::alpr_approvals_client::AlprApprovalsClient::new(ch)
            .run(req(
                t,
                pb::RunApprovedRequest {
                    id: "aq-1-00000000".into(),
                    timeout_ms: 100,
                },
            ))
            .await
            .map(|_| ()),
        "AlertReview.Review" => pb::alert_review_client::AlertReviewClient::new(ch)
            .review(req(
                t,
                pb::AlertReviewRequest {
                    id: "no-such-alert".into(),
                    action: "reject".into(),
                    reason: "misread".into(),
                    ..Default::default()
                },
            ))
            .await
            .map(|_| ()),
        "AuditReports.Monthly" => pb::audit_reports_client::AuditReportsClient::new(ch)
            .monthly(req(
                t,
                pb::AuditReportRequest {
                    month: "2026-10".into(),
                },
            ))
            .await
            .map(|_| ()),
        "PublicLog.Generate" => pb::public_log_client::PublicLogClient::new(ch)
            .generate(req(
                t,
                pb::PublicLogRequest {
                    month: "2026-10".into(),
                },
            ))
            .await
            .map(|_| ()),
        "Complaints.File" => pb::complaints_client::ComplaintsClient::new(ch)
            .file(req(
                t,
                pb::ComplaintFileRequest {
                    from: "authz".into(),
                    about: format!("filed by {role}"),
                    camera: String::new(),
                    received: String::new(),
                },
            ))
            .await
            .map(|_| ()),
        "Complaints.List" => pb::complaints_client::ComplaintsClient::new(ch)
            .list(req(t, pb::ComplaintListRequest::default()))
            .await
            .map(|_| ()),
        "Complaints.Show" => pb::complaints_client::ComplaintsClient::new(ch)
            .show(req(
                t,
                pb::ComplaintId {
                    id: fixture_complaint(h, "fx-cp-chief").await,
                },
            ))
            .await
            .map(|_| ()),
        "Complaints.Decide(chief)"
        | "Complaints.Decide(city_manager)"
        | "Complaints.Decide(council)" => {
            let level = rpc
                .trim_start_matches("Complaints.Decide(")
                .trim_end_matches(')');
            pb::complaints_client::ComplaintsClient::new(ch)
                .decide(req(
                    t,
                    pb::ComplaintDecision {
                        id: fixture_complaint(h, &format!("fx-cp-{level}")).await,
                        outcome: pb::ComplaintOutcome::Followed as i32,
                        finding: "authz".into(),
                        as_role: String::new(),
                    },
                ))
                .await
                .map(|_| ())
        }
        "Complaints.Appeal" => pb::complaints_client::ComplaintsClient::new(ch)
            .appeal(req(
                t,
                pb::ComplaintId {
                    id: fixture_complaint(h, "fx-cp-appeal").await,
                },
            ))
            .await
            .map(|_| ()),
        "RecordsRequests.Open" => pb::records_requests_client::RecordsRequestsClient::new(ch)
            .open(req(
                t,
                pb::RecordsOpenRequest {
                    requester: "authz".into(),
                    describe: format!("opened by {role}"),
                    ..Default::default()
                },
            ))
            .await
            .map(|_| ()),
        "RecordsRequests.List" => pb::records_requests_client::RecordsRequestsClient::new(ch)
            .list(req(t, pb::RecordsListRequest::default()))
            .await
            .map(|_| ()),
        "RecordsRequests.Show" => pb::records_requests_client::RecordsRequestsClient::new(ch)
            .show(req(
                t,
                pb::RecordsRequestId {
                    id: fixture_records(h, "fx-rr-review").await,
                },
            ))
            .await
            .map(|_| ()),
        "RecordsRequests.Step(review)" | "RecordsRequests.Step(advise)" => {
            let (which, step, text) = if rpc.ends_with("(review)") {
                ("fx-rr-review", pb::RecordsStepKind::RecordsStepReview, "")
            } else {
                (
                    "fx-rr-advise",
                    pb::RecordsStepKind::RecordsStepAdvise,
                    "advice",
                )
            };
            pb::records_requests_client::RecordsRequestsClient::new(ch)
                .step(req(
                    t,
                    pb::RecordsStepRequest {
                        id: fixture_records(h, which).await,
                        step: step as i32,
                        text: text.into(),
                        as_role: String::new(),
                    },
                ))
                .await
                .map(|_| ())
        }
        "PublicLog.AddCaseAssist" => pb::public_log_client::PublicLogClient::new(ch)
            .add_case_assist(req(
                t,
                pb::CaseAssistRequest {
                    case_number: "26-01234".into(),
                    offense: "vehicle_theft".into(),
                    arrests: 0,
                    date: String::new(),
                },
            ))
            .await
            .map(|_| ()),
        "Recordings.Authorize" => pb::recordings_client::RecordingsClient::new(ch)
            .authorize(req(
                t,
                pb::RecordingAuthorizeRequest {
                    user: "u-viewer".into(),
                    camera: "cam-1".into(),
                    department: String::new(),
                    until: "2099-01-01T00:00:00Z".into(),
                    reason: "authz".into(),
                    copy: false,
                },
            ))
            .await
            .map(|_| ()),
        "Recordings.Export" => pb::recordings_client::RecordingsClient::new(ch)
            .export(req(
                t,
                pb::ExportRequest {
                    camera: "cam-1".into(),
                    from: "2026-10-01T00:00:00Z".into(),
                    to: "2026-10-01T01:00:00Z".into(),
                    case_number: "26-01234".into(),
                    out_dir: "/tmp/authz-export".into(),
                    recipient: "A. Jones, Dubuque County Attorney".into(),
                    masked: false,
                    police_use: false,
                },
            ))
            .await
            .map(|_| ()),
        "Recordings.Fulfil" => pb::recordings_client::RecordingsClient::new(ch)
            .fulfil(req(
                t,
                pb::RecordsFulfilRequest {
                    id: "rr-20990101-000000".into(),
                    out_dir: "/tmp/authz-fulfil".into(),
                },
            ))
            .await
            .map(|_| ()),
        "Recordings.Crop" => pb::recordings_client::RecordingsClient::new(ch)
            .crop(req(
                t,
                pb::CropRequest {
                    read_id: "1780000000000-ABC1234".into(),
                    case_number: "26-01234".into(),
                    sites: vec![],
                },
            ))
            .await
            .map(|_| ()),
        "Viewing.Playback" => pb::viewing_client::ViewingClient::new(ch.clone())
            .playback(req(
                t,
                pb::PlaybackRequest {
                    camera: "cam-1".into(),
                    from: "2026-10-01T00:00:00Z".into(),
                    to: "2026-10-01T01:00:00Z".into(),
                    reason: "authz".into(),
                    unmasked: false,
                },
            ))
            .await
            .map(|_| ()),
        "Masks.Lift" => pb::masks_client::MasksClient::new(ch)
            .lift(req(
                t,
                pb::MaskLiftRequest {
                    user: "admin".into(),
                    camera: "cam-1".into(),
                    minutes: 10,
                    reason: "authz".into(),
                },
            ))
            .await
            .map(|_| ()),
        "Viewing.Live" => pb::viewing_client::ViewingClient::new(ch.clone())
            .live(req(
                t,
                pb::LiveRequest {
                    camera: "cam-1".into(),
                    reason: "authz".into(),
                    unmasked: false,
                    seconds: 1,
                },
            ))
            .await
            .map(|_| ()),
        "Viewing.Sessions" => pb::viewing_client::ViewingClient::new(ch)
            .sessions(req(t, pb::ViewSessionsRequest { active: false }))
            .await
            .map(|_| ()),
        // Every caller is in the police department, which cam-1 belongs to: only
        // the role decides here (the department rule has its own tests).
        "Maintenance.Log" => pb::maintenance_client::MaintenanceClient::new(ch)
            .log(req(
                t,
                pb::MaintenanceLogRequest {
                    camera: "cam-1".into(),
                    kind: "cleaning".into(),
                    result: "ok".into(),
                    note: format!("logged by {role}"),
                    vendor: String::new(),
                },
            ))
            .await
            .map(|_| ()),
        "Maintenance.List" => pb::maintenance_client::MaintenanceClient::new(ch)
            .list(req(
                t,
                pb::MaintenanceCamera {
                    camera: "cam-1".into(),
                },
            ))
            .await
            .map(|_| ()),
        "Maintenance.Overdue" => pb::maintenance_client::MaintenanceClient::new(ch)
            .overdue(req(t, pb::MaintenanceOverdueRequest::default()))
            .await
            .map(|_| ()),
        "Maintenance.Vendors" => pb::maintenance_client::MaintenanceClient::new(ch)
            .vendors(req(t, pb::Empty {}))
            .await
            .map(|_| ()),
        "Maintenance.AddVendor" | "Maintenance.RemoveVendor" => {
            let mut c = pb::maintenance_client::MaintenanceClient::new(ch);
            let v = pb::MaintenanceVendorRequest {
                name: format!("vendor of {role}"),
            };
            if rpc.ends_with("AddVendor") {
                c.add_vendor(req(t, v)).await.map(|_| ())
            } else {
                c.remove_vendor(req(t, v)).await.map(|_| ())
            }
        }
        "PolicyReview.Propose" => pb::policy_review_client::PolicyReviewClient::new(ch)
            .propose(req(
                t,
                pb::PolicyProposeRequest {
                    version: format!("authz-{role}"),
                    text: b"authz fixture policy".to_vec(),
                },
            ))
            .await
            .map(|_| ()),
        "PolicyReview.Signoff" => pb::policy_review_client::PolicyReviewClient::new(ch)
            .signoff(req(
                t,
                pb::PolicySignoffRequest {
                    version: "authz-none".into(),
                    party: String::new(),
                },
            ))
            .await
            .map(|_| ()),
        "PolicyReview.Status" => pb::policy_review_client::PolicyReviewClient::new(ch)
            .status(req(t, pb::Empty {}))
            .await
            .map(|_| ()),
        "PolicyReview.Reviews" => pb::policy_review_client::PolicyReviewClient::new(ch)
            .reviews(req(t, pb::Empty {}))
            .await
            .map(|_| ()),
        "Compliance.Report" => pb::compliance_client::ComplianceClient::new(ch)
            .report(req(
                t,
                pb::ComplianceReportRequest {
                    department: "police".into(),
                    month: "2026-11".into(),
                },
            ))
            .await
            .map(|_| ()),
        other => panic!("no call for {other}"),
    }
}

/// Case numbers of the holds made for the release calls.
static FIXTURE_CASES: std::sync::LazyLock<std::collections::HashMap<&'static str, &'static str>> =
    std::sync::LazyLock::new(|| {
        [("fx-hold-criminal", "26-77777"), ("fx-hold-cm", "26-88888")]
            .into_iter()
            .collect()
    });

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_against_every_rpc() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    apply(&h, &h.admin, CITY).await.unwrap();
    // Fixtures: people to move requests along, holds to release, requests in each
    // state for each role (a call that is allowed moves its own request only).
    let mgr = user(&h, "fx-mgr", &["dept_manager"], "police").await;
    let chief = user(&h, "fx-chief", &["chief"], "police").await;
    let cm = user(&h, "fx-cm", &["city_manager"], "").await;
    user(&h, "fx-viewer", &["viewer"], "police").await;
    for (who, reason, case) in [
        (
            &chief,
            "criminal_investigation",
            FIXTURE_CASES["fx-hold-criminal"],
        ),
        (&cm, "city_manager_approved", FIXTURE_CASES["fx-hold-cm"]),
    ] {
        let spec = serde_json::json!({"case_number": case, "cameras": ["cam-1"], "from": "2026-10-01T00:00:00Z", "until": "2026-10-02T00:00:00Z", "reason": reason});
        pb::holds_client::HoldsClient::new(h.channel.clone())
            .create(req(
                who,
                pb::SubmitRequest {
                    json: serde_json::to_vec(&spec).unwrap(),
                },
            ))
            .await
            .unwrap();
    }
    // Complaints waiting for each level's decision, and one decided by the chief
    // (to appeal), each found again by its text.
    let clerk = user(&h, "fx-clerk", &["city_clerk"], "").await;
    let cp = pb::complaints_client::ComplaintsClient::new(h.channel.clone());
    for about in [
        "fx-cp-chief",
        "fx-cp-city_manager",
        "fx-cp-council",
        "fx-cp-appeal",
    ] {
        let id = cp
            .clone()
            .file(req(
                &clerk,
                pb::ComplaintFileRequest {
                    from: "authz fixture".into(),
                    about: about.into(),
                    camera: String::new(),
                    received: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .name;
        let climb: &[(&str, &str)] = match about {
            "fx-cp-chief" => &[],
            "fx-cp-appeal" => &[("decide", &chief)],
            "fx-cp-city_manager" => &[("decide", &chief), ("appeal", &clerk)],
            _ => &[
                ("decide", &chief),
                ("appeal", &clerk),
                ("decide", &cm),
                ("appeal", &clerk),
            ],
        };
        for (step, who) in climb {
            let mut c = cp.clone();
            if *step == "appeal" {
                c.appeal(req(who, pb::ComplaintId { id: id.clone() }))
                    .await
                    .unwrap();
            } else {
                c.decide(req(
                    who,
                    pb::ComplaintDecision {
                        id: id.clone(),
                        outcome: pb::ComplaintOutcome::NotFollowed as i32,
                        finding: "fixture".into(),
                        as_role: String::new(),
                    },
                ))
                .await
                .unwrap();
            }
        }
    }
    // Records requests waiting for the PIO's review and for the attorney's advice.
    let pio = user(&h, "fx-pio", &["pio"], "").await;
    let rr = pb::records_requests_client::RecordsRequestsClient::new(h.channel.clone());
    for describe in ["fx-rr-review", "fx-rr-advise"] {
        let id = rr
            .clone()
            .open(req(
                &pio,
                pb::RecordsOpenRequest {
                    requester: "authz fixture".into(),
                    describe: describe.into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .name;
        if describe == "fx-rr-advise" {
            rr.clone()
                .step(req(
                    &pio,
                    pb::RecordsStepRequest {
                        id,
                        step: pb::RecordsStepKind::RecordsStepReview as i32,
                        ..Default::default()
                    },
                ))
                .await
                .unwrap();
        }
    }
    let mut callers = Vec::new();
    for role in Role::ALL {
        let role_s = r(role);
        let name = format!("u-{role_s}");
        // Training, certification and the policy are facts about the person, not
        // roles: every caller has them, so only the role decides.
        let token = qualified_user(&h, &name, role.as_str(), "police").await;
        for state in ["s", "d", "r"] {
            let id = format!("{state}-{role_s}");
            apply(&h, &h.admin, &placement_request(&id)).await.unwrap();
            if state != "s" {
                act(&h, &mgr, &id, "recommend", "", "ok").await.unwrap();
            }
            if state == "r" {
                act(&h, &chief, &id, "recommend", "", "ok").await.unwrap();
            }
        }
        callers.push(Caller {
            role,
            token,
            password: format!("{name}-password-123"),
            name,
        });
    }

    // Copying is a right of its own: the viewer caller holds the chief's copy
    // authorization, so for Recordings.Export only the role decides here too.
    pb::recordings_client::RecordingsClient::new(h.channel.clone())
        .authorize(req(
            &chief,
            pb::RecordingAuthorizeRequest {
                user: "u-viewer".into(),
                camera: "cam-1".into(),
                department: String::new(),
                until: "2099-01-01T00:00:00Z".into(),
                reason: "authz fixture".into(),
                copy: true,
            },
        ))
        .await
        .unwrap();

    let mut wrong = Vec::new();
    let mut reached: HashSet<String> = HashSet::new();
    for c in &callers {
        for (rpc, need) in RPCS {
            let got = call(&h, c, rpc).await;
            let ok = match need {
                Need::Op(op) => {
                    reached.insert(format!("{op:?}"));
                    let allowed = op.roles().contains(&c.role);
                    match (&got, allowed) {
                        (Err(e), false) => e.code() == Code::PermissionDenied,
                        (Err(e), true) => e.code() != Code::PermissionDenied,
                        (Ok(()), allowed) => allowed,
                    }
                }
                Need::SignedIn => got.is_ok(),
                Need::AgentOnly => got.as_ref().is_err_and(|e| {
                    matches!(e.code(), Code::Unauthenticated | Code::PermissionDenied)
                }),
            };
            if !ok {
                wrong.push(format!(
                    "{:<14} {rpc:<40} {need:?}: got {}",
                    c.role.as_str(),
                    match &got {
                        Ok(()) => "OK".to_string(),
                        Err(e) => format!("{:?}: {}", e.code(), e.message()),
                    }
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} calls disagree with the table:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    let missing: Vec<String> = Operation::ALL
        .iter()
        .map(|op| format!("{op:?}"))
        .filter(|op| !reached.contains(op))
        .collect();
    assert!(missing.is_empty(), "operations no RPC reaches: {missing:?}");
    // Denials are audited.
    let log = audit_log(&h).await;
    let denied = log
        .iter()
        .filter(|e| {
            e["result"]
                .as_str()
                .is_some_and(|r| r.starts_with("denied"))
        })
        .count();
    assert!(denied > 100, "{denied} denials audited");
    h.cancel.cancel();
}

/// `Objects.Get` answers from a memo made once per revision and view: a covert
/// camera's place read first by someone who may see it stays hidden from a viewer,
/// and an edit is never answered with the old revision's bytes.
#[tokio::test]
async fn a_covert_place_read_by_the_admin_first_stays_hidden_from_a_viewer() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    apply(&h, &h.admin, CITY).await.unwrap();
    let covert = "kind: Camera\nname: cam-covert\nspec:\n  site: city-hall\n  department: police\n  kind: fixed\n  purpose: criminal_investigation\n  covert: true\n  location: {lat: 42.5123, lon: -90.6777}\n  streams: {main: \"rtsp://127.0.0.1:8554/covert\"}\n";
    apply(&h, &h.admin, covert).await.unwrap();
    let viewer = user(&h, "memo-viewer", &["viewer"], "police").await;
    let lat = |v: &serde_json::Value| v["spec"]["location"]["lat"].as_f64();
    let hidden_from_viewer = || async {
        for _ in 0..2 {
            let v = get_json(&h, &viewer, "Camera", "cam-covert").await.unwrap();
            let text = v.to_string();
            assert!(v["spec"].get("location").is_none(), "{text}");
            assert!(!text.contains("42.5") && !text.contains("-90.67"), "{text}");
            assert!(text.contains("location_hidden"), "{text}");
        }
    };
    for _ in 0..2 {
        let a = get_json(&h, &h.admin, "Camera", "cam-covert")
            .await
            .unwrap();
        assert_eq!(lat(&a), Some(42.5123));
    }
    hidden_from_viewer().await;
    assert_eq!(
        lat(&get_json(&h, &h.admin, "Camera", "cam-covert")
            .await
            .unwrap()),
        Some(42.5123)
    );
    // A new revision: the new place, never the old one's bytes.
    apply(&h, &h.admin, &covert.replace("42.5123", "42.5321"))
        .await
        .unwrap();
    assert_eq!(
        lat(&get_json(&h, &h.admin, "Camera", "cam-covert")
            .await
            .unwrap()),
        Some(42.5321)
    );
    hidden_from_viewer().await;
}
