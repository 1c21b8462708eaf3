//! gRPC services of ALPR: hotlists, alerts, searches.

use super::*;

#[tonic::async_trait]
impl pb::hotlists_server::Hotlists for Api {
    async fn load(&self, req: Request<pb::HotlistLoadRequest>) -> R<pb::HotlistLoadResponse> {
        use camplane_config::hotlist::{Columns, HitCategory, HotlistSource};
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let source = HotlistSource::parse(&r.source).ok_or_else(|| {
            Status::invalid_argument(format!(
                "--source {:?}: one of NCIC, STATE_DOT, CUSTOM",
                r.source.chars().take(40).collect::<String>()
            ))
        })?;
        let category = HitCategory::parse(&r.category).ok_or_else(|| {
            Status::invalid_argument(format!(
                "--category {:?}: one of {}",
                r.category.chars().take(40).collect::<String>(),
                HitCategory::ALL.map(|c| c.as_str()).join(", ")
            ))
        })?;
        let columns: Columns = if r.columns_json.is_empty() {
            Columns::default()
        } else {
            serde_json::from_str(&r.columns_json)
                .map_err(|e| Status::invalid_argument(format!("columns: {e}")))?
        };
        let mode = crate::alpr::hotlist::LoadMode::parse(&r.mode)
            .ok_or_else(|| Status::invalid_argument("--mode: one of replace, add, remove"))?;
        let out = self
            .ctl
            .load_hotlist(
                &actor,
                crate::alpr::hotlist::LoadRequest {
                    source,
                    category,
                    file: r.file_name.chars().take(200).collect(),
                    csv: r.csv,
                    columns,
                    mode,
                    public: r.public,
                    case_number: r.case_number,
                    purpose: r.purpose,
                    expires: r.expires,
                },
            )
            .await?;
        Ok(Response::new(pb::HotlistLoadResponse {
            list: out.list,
            version: out.version,
            entries: out.entries as u64,
            upserted: out.upserted as u64,
            removed: out.removed as u64,
            bad_rows: out
                .bad_rows
                .into_iter()
                .map(|b| pb::BadRow {
                    line: b.line as u64,
                    reason: b.reason,
                })
                .collect(),
            public: out.public,
            pending_approval: out.pending_approval.unwrap_or_default(),
        }))
    }

    async fn list(&self, req: Request<pb::Empty>) -> R<pb::HotlistListResponse> {
        let actor = self.actor(&req).await?;
        let (lists, sources) = self.ctl.list_hotlists(&actor).await?;
        Ok(Response::new(pb::HotlistListResponse {
            lists_json: json_bytes(&lists)?,
            sources_json: json_bytes(&sources)?,
        }))
    }
}

pub(crate) fn alert_pb(a: &crate::alpr::hotlist::Alert) -> Result<pb::Object, Status> {
    Ok(pb::Object {
        kind: "Alert".into(),
        name: a.id.clone(),
        json: serde_json::to_vec(a).map_err(|e| Status::internal(e.to_string()))?,
        revision: 0,
    })
}

#[tonic::async_trait]
impl pb::alerts_server::Alerts for Api {
    async fn list(&self, req: Request<pb::AlertsRequest>) -> R<pb::ObjectList> {
        let actor = self.actor(&req).await?;
        let r = req.get_ref();
        let (alerts, next_after) = self.ctl.alerts(&actor, since(&r.since)?, &r.after).await?;
        let objects = alerts.iter().map(alert_pb).collect::<Result<_, _>>()?;
        Ok(Response::new(pb::ObjectList {
            objects,
            next_after,
        }))
    }

    type WatchStream = AlertStream;

    async fn watch(&self, req: Request<pb::AlertsRequest>) -> R<Self::WatchStream> {
        use futures::StreamExt;
        let actor = self.actor(&req).await?;
        let rx = self
            .ctl
            .watch_alerts(&actor, since(&req.get_ref().since)?)
            .await?;
        let s = tokio_stream::wrappers::ReceiverStream::new(rx).map(|r| match r {
            Ok(a) => alert_pb(&a),
            Err(e) => Err(Status::from(e)),
        });
        Ok(Response::new(Box::pin(s)))
    }
}

#[tonic::async_trait]
impl pb::alpr_server::Alpr for Api {
    async fn search(&self, req: Request<pb::SearchRequest>) -> R<pb::SearchResponse> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let t = |s: &str, what: &str| -> Result<Option<jiff::Timestamp>, Status> {
            if s.is_empty() {
                return Ok(None);
            }
            s.parse().map(Some).map_err(|e| {
                Status::invalid_argument(format!(
                    "{what} {:?}: {e}",
                    s.chars().take(40).collect::<String>()
                ))
            })
        };
        let out = self
            .ctl
            .search(
                &self.ctl.wing::<crate::alpr::search::Hub>(),
                &actor,
                crate::alpr::search::SearchRequest {
                    plate: r.plate,
                    case_number: r.case_number,
                    purpose: r.purpose,
                    from: t(&r.from, "--from")?,
                    until: t(&r.to, "--to")?,
                    sites: r.sites,
                    timeout: search_timeout(r.timeout_ms),
                    for_agency: (!r.for_agency.is_empty()).then_some(r.for_agency),
                },
            )
            .await?;
        Ok(Response::new(search_pb(out)?))
    }
}

/// How long a search waits for the agents (0: 5 s; at most a minute).
pub(crate) fn search_timeout(ms: u32) -> std::time::Duration {
    std::time::Duration::from_millis(if ms == 0 {
        5000
    } else {
        u64::from(ms.min(60_000))
    })
}

pub(crate) fn search_pb(
    out: crate::alpr::search::SearchOutcome,
) -> Result<pb::SearchResponse, Status> {
    Ok(pb::SearchResponse {
        query_id: out.query_id,
        reads_json: json_bytes(&out.reads)?,
        answered: out.answered,
        unreachable: out
            .unreachable
            .into_iter()
            .map(|(agent, reason)| pb::Unreachable { agent, reason })
            .collect(),
        pending_approval: out.pending_approval.unwrap_or_default(),
        approval_reasons: out.approval_reasons,
    })
}
