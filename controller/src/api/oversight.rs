//! gRPC services of the oversight wing (complaints and appeals, records
//! requests, maintenance and testing, the policy's review): translation only.

use crate::api::{json_bytes, Api};
use crate::oversight::complaint_machine::Outcome;
use crate::oversight::complaints::{Complaint, NewComplaint};
use crate::oversight::maintenance::NewMaintenance;
use crate::oversight::records::{NewRecordsRequest, RecordsRequest};
use camplane_proto::v1 as pb;
use tonic::{Request, Response, Status};

type R<T> = Result<Response<T>, Status>;

fn object(c: &Complaint) -> Result<pb::Object, Status> {
    Ok(pb::Object {
        kind: "Complaint".into(),
        name: c.id.clone(),
        json: json_bytes(c)?,
        revision: 0,
    })
}

#[tonic::async_trait]
impl pb::complaints_server::Complaints for Api {
    async fn file(&self, req: Request<pb::ComplaintFileRequest>) -> R<pb::Object> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let c = self
            .ctl
            .file_complaint(
                &actor,
                NewComplaint {
                    from: r.from,
                    about: r.about,
                    camera: r.camera,
                    received: r.received,
                },
            )
            .await?;
        Ok(Response::new(object(&c)?))
    }

    async fn decide(&self, req: Request<pb::ComplaintDecision>) -> R<pb::Object> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let outcome = match pb::ComplaintOutcome::try_from(r.outcome) {
            Ok(pb::ComplaintOutcome::Followed) => Outcome::Followed,
            Ok(pb::ComplaintOutcome::NotFollowed) => Outcome::NotFollowed,
            _ => return Err(Status::invalid_argument(
                "a decision finds the policy followed or not followed (--followed, --not-followed)",
            )),
        };
        let c = self
            .ctl
            .decide_complaint(&actor, &r.id, outcome, &r.finding, &r.as_role)
            .await?;
        Ok(Response::new(object(&c)?))
    }

    async fn appeal(&self, req: Request<pb::ComplaintId>) -> R<pb::Object> {
        let actor = self.actor(&req).await?;
        let c = self.ctl.appeal_complaint(&actor, &req.get_ref().id).await?;
        Ok(Response::new(object(&c)?))
    }

    async fn list(&self, req: Request<pb::ComplaintListRequest>) -> R<pb::ObjectList> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let (all, next_after) = self.ctl.complaints(&actor, r.open, &r.after).await?;
        Ok(Response::new(pb::ObjectList {
            objects: all.iter().map(object).collect::<Result<_, _>>()?,
            next_after,
        }))
    }

    async fn show(&self, req: Request<pb::ComplaintId>) -> R<pb::Object> {
        let actor = self.actor(&req).await?;
        let c = self.ctl.complaint(&actor, &req.get_ref().id).await?;
        Ok(Response::new(object(&c)?))
    }
}

fn records_object(r: &RecordsRequest) -> Result<pb::Object, Status> {
    Ok(pb::Object {
        kind: "RecordsRequest".into(),
        name: r.id.clone(),
        json: json_bytes(r)?,
        revision: 0,
    })
}

#[tonic::async_trait]
impl pb::records_requests_server::RecordsRequests for Api {
    async fn open(&self, req: Request<pb::RecordsOpenRequest>) -> R<pb::Object> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let rr = self
            .ctl
            .open_records_request(
                &actor,
                NewRecordsRequest {
                    requester: r.requester,
                    received: r.received,
                    describe: r.describe,
                    camera: r.camera,
                    from: r.from,
                    to: r.to,
                },
            )
            .await?;
        Ok(Response::new(records_object(&rr)?))
    }

    async fn step(&self, req: Request<pb::RecordsStepRequest>) -> R<pb::Object> {
        use crate::oversight::records_machine::{Action, Decision};
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let action = match pb::RecordsStepKind::try_from(r.step) {
            Ok(pb::RecordsStepKind::RecordsStepReview) => Action::Review,
            Ok(pb::RecordsStepKind::RecordsStepAdvise) => Action::Advise,
            Ok(pb::RecordsStepKind::RecordsStepRelease) => Action::Decide(Decision::Release),
            Ok(pb::RecordsStepKind::RecordsStepDeny) => Action::Decide(Decision::Deny),
            Ok(pb::RecordsStepKind::RecordsStepFulfil) => Action::Fulfil,
            _ => {
                return Err(Status::invalid_argument(
                    "step: one of review, advise, release, deny, fulfil",
                ))
            }
        };
        let rr = self
            .ctl
            .records_step(&actor, &r.id, action, &r.text, &r.as_role)
            .await?;
        Ok(Response::new(records_object(&rr)?))
    }

    async fn list(&self, req: Request<pb::RecordsListRequest>) -> R<pb::ObjectList> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let (all, next_after) = self
            .ctl
            .records_requests(&actor, r.open, r.overdue, &r.after)
            .await?;
        Ok(Response::new(pb::ObjectList {
            objects: all.iter().map(records_object).collect::<Result<_, _>>()?,
            next_after,
        }))
    }

    async fn show(&self, req: Request<pb::RecordsRequestId>) -> R<pb::Object> {
        let actor = self.actor(&req).await?;
        let rr = self.ctl.records_request(&actor, &req.get_ref().id).await?;
        Ok(Response::new(records_object(&rr)?))
    }
}

fn maintenance_object<T: serde::Serialize>(
    kind: &str,
    name: &str,
    v: &T,
) -> Result<pb::Object, Status> {
    Ok(pb::Object {
        kind: kind.into(),
        name: name.into(),
        json: json_bytes(v)?,
        revision: 0,
    })
}

#[tonic::async_trait]
impl pb::maintenance_server::Maintenance for Api {
    async fn log(&self, req: Request<pb::MaintenanceLogRequest>) -> R<pb::Object> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let m = NewMaintenance {
            camera: r.camera,
            kind: r.kind.parse().map_err(Status::from)?,
            result: r.result.parse().map_err(Status::from)?,
            note: r.note,
            vendor: r.vendor,
        };
        let e = self.ctl.log_maintenance(&actor, m).await?;
        Ok(Response::new(maintenance_object(
            "MaintenanceEntry",
            &e.id,
            &e,
        )?))
    }

    async fn list(&self, req: Request<pb::MaintenanceCamera>) -> R<pb::ObjectList> {
        let actor = self.actor(&req).await?;
        let all = self
            .ctl
            .maintenance_log(&actor, &req.get_ref().camera)
            .await?;
        Ok(Response::new(pb::ObjectList {
            objects: all
                .iter()
                .map(|e| maintenance_object("MaintenanceEntry", &e.id, e))
                .collect::<Result<_, _>>()?,
            next_after: String::new(),
        }))
    }

    async fn overdue(&self, req: Request<pb::MaintenanceOverdueRequest>) -> R<pb::ObjectList> {
        let actor = self.actor(&req).await?;
        let all = self
            .ctl
            .maintenance_overdue(&actor, &req.get_ref().department)
            .await?;
        Ok(Response::new(pb::ObjectList {
            objects: all
                .iter()
                .map(|c| maintenance_object("OverdueCamera", &c.camera, c))
                .collect::<Result<_, _>>()?,
            next_after: String::new(),
        }))
    }

    async fn add_vendor(&self, req: Request<pb::MaintenanceVendorRequest>) -> R<pb::Object> {
        let actor = self.actor(&req).await?;
        let v = self
            .ctl
            .change_vendor(&actor, &req.get_ref().name, true)
            .await?;
        Ok(Response::new(maintenance_object("Vendors", "", &v)?))
    }

    async fn remove_vendor(&self, req: Request<pb::MaintenanceVendorRequest>) -> R<pb::Object> {
        let actor = self.actor(&req).await?;
        let v = self
            .ctl
            .change_vendor(&actor, &req.get_ref().name, false)
            .await?;
        Ok(Response::new(maintenance_object("Vendors", "", &v)?))
    }

    async fn vendors(&self, req: Request<pb::Empty>) -> R<pb::Object> {
        let actor = self.actor(&req).await?;
        let v = self.ctl.maintenance_vendors(&actor).await?;
        Ok(Response::new(maintenance_object("Vendors", "", &v)?))
    }
}

fn policy_object(r: &crate::oversight::policy_review::PolicyReview) -> Result<pb::Object, Status> {
    Ok(pb::Object {
        kind: "PolicyReview".into(),
        name: r.version.clone(),
        json: json_bytes(r)?,
        revision: 0,
    })
}

#[tonic::async_trait]
impl pb::policy_review_server::PolicyReview for Api {
    async fn propose(&self, req: Request<pb::PolicyProposeRequest>) -> R<pb::Object> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let review = self.ctl.propose_policy(&actor, &r.version, &r.text).await?;
        Ok(Response::new(policy_object(&review)?))
    }

    async fn signoff(&self, req: Request<pb::PolicySignoffRequest>) -> R<pb::Object> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let review = self
            .ctl
            .signoff_policy(&actor, &r.version, &r.party)
            .await?;
        Ok(Response::new(policy_object(&review)?))
    }

    async fn status(&self, req: Request<pb::Empty>) -> R<pb::Object> {
        self.actor(&req).await?;
        let st = self.ctl.policy_status();
        Ok(Response::new(pb::Object {
            kind: "PolicyStatus".into(),
            name: st.version.clone(),
            json: json_bytes(&st)?,
            revision: 0,
        }))
    }

    async fn reviews(&self, req: Request<pb::Empty>) -> R<pb::ObjectList> {
        self.actor(&req).await?;
        let all = self.ctl.policy_reviews().await?;
        Ok(Response::new(pb::ObjectList {
            objects: all.iter().map(policy_object).collect::<Result<_, _>>()?,
            next_after: String::new(),
        }))
    }
}

#[tonic::async_trait]
impl pb::compliance_server::Compliance for Api {
    async fn report(&self, req: Request<pb::ComplianceReportRequest>) -> R<pb::Object> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let rep = self
            .ctl
            .compliance_report(&actor, &r.department, &r.month)
            .await?;
        Ok(Response::new(pb::Object {
            kind: "ComplianceReport".into(),
            name: format!("{}/{}", rep.department, rep.month),
            json: json_bytes(&rep)?,
            revision: 0,
        }))
    }
}
