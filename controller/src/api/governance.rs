//! gRPC services of the governance features (ALPR query approvals, alert
//! verification, monthly audit reports): translation only, like `api`.

use crate::api::{json_bytes, search_pb, search_timeout, Api};
use camplane_proto::v1 as pb;
use tonic::{Request, Response, Status};

type R<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl pb::alpr_approvals_server::AlprApprovals for Api {
    async fn list(&self, req: Request<pb::AlprApprovalsRequest>) -> R<pb::ObjectList> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let all = self.ctl.alpr_approvals(&actor, r.all).await?;
        // Pages under REPLY_PAGE_BYTES in the list's order (requested, then
        // id); the page key carries both, zero-padded so it sorts as they do.
        let keyed = all
            .iter()
            .map(|a| {
                Ok((
                    format!("{:020}-{}", a.requested_at.as_millisecond().max(0), a.id),
                    pb::Object {
                        kind: "AlprApproval".into(),
                        name: a.id.clone(),
                        json: json_bytes(a)?,
                        revision: 0,
                    },
                ))
            })
            .collect::<Result<Vec<_>, Status>>()?;
        let (objects, next_after) = crate::core::page::page(
            keyed,
            &r.after,
            |(k, _)| k.as_str(),
            |(k, o)| k.len() + o.name.len() + o.json.len(),
            camplane_proto::limits::REPLY_PAGE_BYTES,
        );
        Ok(Response::new(pb::ObjectList {
            objects: objects.into_iter().map(|(_, o)| o).collect(),
            next_after,
        }))
    }

    async fn decide(&self, req: Request<pb::AlprApprovalDecision>) -> R<pb::Object> {
        use crate::alpr::query_machine::Action;
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let decision = if r.approve {
            Action::Approve
        } else {
            Action::Reject
        };
        let a = self
            .ctl
            .decide_alpr_query(&actor, &r.id, decision, &r.reason)
            .await?;
        Ok(Response::new(pb::Object {
            kind: "AlprApproval".into(),
            name: a.id.clone(),
            json: json_bytes(&a)?,
            revision: 0,
        }))
    }

    async fn run(&self, req: Request<pb::RunApprovedRequest>) -> R<pb::SearchResponse> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let out = self
            .ctl
            .run_approved_query(
                &self.ctl.wing::<crate::alpr::search::Hub>(),
                &actor,
                &r.id,
                search_timeout(r.timeout_ms),
            )
            .await?;
        Ok(Response::new(search_pb(out)?))
    }
}

#[tonic::async_trait]
impl pb::alert_review_server::AlertReview for Api {
    async fn review(&self, req: Request<pb::AlertReviewRequest>) -> R<pb::Object> {
        use crate::alpr::alert_machine::Action;
        use crate::alpr::alert_review::AlertAction;
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let action = match r.action.parse::<Action>()? {
            Action::Verify => AlertAction::Verify {
                visual: r.visual,
                state_check: r.state_check,
                note: r.note,
            },
            Action::Reject => AlertAction::Reject {
                reason: r.reason,
                note: r.note,
            },
            Action::Act => AlertAction::Act {
                case_number: r.case_number,
                note: r.note,
            },
        };
        let a = self.ctl.review_alert(&actor, &r.id, action).await?;
        Ok(Response::new(pb::Object {
            kind: "Alert".into(),
            name: a.id.clone(),
            json: json_bytes(&a)?,
            revision: 0,
        }))
    }
}

#[tonic::async_trait]
impl pb::audit_reports_server::AuditReports for Api {
    type MonthlyStream =
        futures::stream::Iter<std::vec::IntoIter<Result<pb::AuditReportChunk, Status>>>;

    /// The report is made (and its making audited) before the first chunk, so a
    /// refusal is the call's answer; then its files go out in chunks of at most
    /// [`REPLY_PAGE_BYTES`](camplane_proto::limits::REPLY_PAGE_BYTES).
    async fn monthly(&self, req: Request<pb::AuditReportRequest>) -> R<Self::MonthlyStream> {
        let actor = self.actor(&req).await?;
        let r = self.ctl.audit_report(&actor, &req.get_ref().month).await?;
        let chunk = camplane_proto::limits::REPLY_PAGE_BYTES;
        let mut out = Vec::new();
        for (file, bytes) in [("report.html", &r.html), ("report.csv", &r.csv)] {
            // An empty file still gets one (empty) chunk, so the client writes it.
            let pieces: Vec<&[u8]> = if bytes.is_empty() {
                vec![&[][..]]
            } else {
                bytes.chunks(chunk).collect()
            };
            for data in pieces {
                out.push(Ok(pb::AuditReportChunk {
                    file: file.into(),
                    data: data.to_vec(),
                    entries: r.entries,
                }));
            }
        }
        Ok(Response::new(futures::stream::iter(out)))
    }
}
