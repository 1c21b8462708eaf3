//! gRPC services of ALPR: hotlists, alerts, searches.

use super::*;

/// A load's request as the wire gives it, checked (source, category,
/// columns, mode), with `csv` as its file.
fn load_request(
    r: pb::HotlistLoadRequest,
    csv: Vec<u8>,
) -> Result<crate::alpr::hotlist::LoadRequest, Status> {
    use camplane_config::hotlist::{Columns, HitCategory, HotlistSource};
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
    Ok(crate::alpr::hotlist::LoadRequest {
        source,
        category,
        file: r.file_name.chars().take(200).collect(),
        csv,
        columns,
        mode,
        public: r.public,
        case_number: r.case_number,
        purpose: r.purpose,
        expires: r.expires,
    })
}

fn load_pb(out: crate::alpr::hotlist::LoadOutcome) -> pb::HotlistLoadResponse {
    pb::HotlistLoadResponse {
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
    }
}

/// What a unary `Hotlists.Load` with a file over one chunk is told.
pub(crate) fn load_too_large(bytes: Option<usize>) -> Status {
    Status::out_of_range(format!(
        "a hotlist file{} over {} bytes is not taken in one message: send it in chunks through \
         Hotlists.Upload (as `camplane hotlist load` does)",
        bytes
            .map(|b| format!(" of {b} bytes is"))
            .unwrap_or_default(),
        camplane_proto::limits::HOTLIST_CHUNK
    ))
}

/// Counts a load that did not run to its end: its call was dropped (the
/// client went away) while its chunks were read or its file parsed, or the
/// server shut down; disarmed by every other end.
struct DroppedUpload(Option<std::sync::Arc<crate::core::metrics::Metrics>>);

impl DroppedUpload {
    /// Ends the load with `r`: counted (on drop) only when it was cancelled.
    fn end<T>(mut self, r: crate::Result<T>) -> crate::Result<T> {
        if !matches!(r, Err(crate::Error::Cancelled(_))) {
            self.0 = None;
        }
        r
    }
}

impl Drop for DroppedUpload {
    fn drop(&mut self) {
        if let Some(m) = self.0.take() {
            m.work_cancelled("hotlist");
        }
    }
}

#[tonic::async_trait]
impl pb::hotlists_server::Hotlists for Api {
    async fn load(&self, req: Request<pb::HotlistLoadRequest>) -> R<pb::HotlistLoadResponse> {
        let actor = self.actor(&req).await?;
        let mut r = req.into_inner();
        // The wire already refuses a message much over one chunk; this names
        // the streaming upload for the few bytes of framing between the two.
        if r.csv.len() > camplane_proto::limits::HOTLIST_CHUNK {
            return Err(load_too_large(Some(r.csv.len())));
        }
        let csv = std::mem::take(&mut r.csv);
        let request = load_request(r, csv)?;
        let loading = DroppedUpload(Some(self.ctl.metrics.clone()));
        let out = loading.end(self.ctl.load_hotlist(&actor, request).await)?;
        Ok(Response::new(load_pb(out)))
    }

    async fn upload(
        &self,
        req: Request<tonic::Streaming<pb::HotlistUpload>>,
    ) -> R<pb::HotlistLoadResponse> {
        use crate::core::AuditAction;
        use pb::hotlist_upload::Part;
        // Signed in and allowed, from the metadata, before any message is read.
        let actor = self.actor(&req).await?;
        self.ctl
            .require(
                &actor,
                crate::core::auth::Operation::ManageHotlists,
                AuditAction::HotlistLoad,
            )
            .await?;
        let max = self
            .ctl
            .config
            .hotlists
            .max_file_bytes
            .min(crate::alpr::hotlist::MAX_FILE as u64);
        let mut stream = req.into_inner();
        let header =
            match stream.message().await? {
                Some(pb::HotlistUpload {
                    part: Some(Part::Header(h)),
                }) if h.csv.is_empty() => h,
                _ => return Err(Status::invalid_argument(
                    "a hotlist upload starts with its header (the load's request without its file)",
                )),
            };
        // The header is checked before the file is read.
        let mut request = load_request(header, Vec::new())?;
        let list = camplane_config::hotlist::list_name(request.source, request.category);
        let shutdown = self.ctl.shutdown.clone();
        let mut dropped = DroppedUpload(Some(self.ctl.metrics.clone()));
        let mut csv: Vec<u8> = Vec::new();
        loop {
            let m = tokio::select! {
                m = stream.message() => m,
                () = shutdown.cancelled() => {
                    return Err(Status::cancelled("the controller is shutting down; the hotlist upload was not loaded"));
                }
            };
            let m = match m {
                Ok(Some(m)) => m,
                Ok(None) => break,
                // A message the wire refused (too large, undecodable) is the
                // client's mistake; anything else means it went away: counted.
                Err(e) => {
                    if matches!(
                        e.code(),
                        tonic::Code::OutOfRange
                            | tonic::Code::InvalidArgument
                            | tonic::Code::ResourceExhausted
                    ) {
                        dropped.0 = None;
                    }
                    return Err(e);
                }
            };
            match m.part {
                Some(Part::Chunk(bytes)) => {
                    if bytes.len() > camplane_proto::limits::HOTLIST_CHUNK {
                        dropped.0 = None;
                        return Err(Status::invalid_argument(format!(
                            "a hotlist chunk holds at most {} bytes, this one {}",
                            camplane_proto::limits::HOTLIST_CHUNK,
                            bytes.len()
                        )));
                    }
                    let total = csv.len() as u64 + bytes.len() as u64;
                    if total > max {
                        // Refused as it arrives: nothing more is read, nothing stored.
                        dropped.0 = None;
                        let msg = format!(
                            "{}: more than hotlists.max_file_bytes ({max} bytes) after {total} bytes read; nothing was stored",
                            request.file
                        );
                        return Err(self
                            .ctl
                            .refused_load(&actor, &list, crate::Error::InvalidArgument(msg))
                            .await
                            .into());
                    }
                    csv.extend_from_slice(&bytes);
                }
                Some(Part::Header(_)) | None => {
                    dropped.0 = None;
                    return Err(Status::invalid_argument(
                        "a hotlist upload has one header, first",
                    ));
                }
            }
        }
        // Still armed: a call dropped while the file is parsed counts too
        // (a client's reset can read as the end of its stream).
        request.csv = csv;
        let out = dropped.end(self.ctl.load_hotlist(&actor, request).await)?;
        Ok(Response::new(load_pb(out)))
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
        let token = Self::token(&req)?;
        let rx = self
            .ctl
            .watch_alerts(&actor, &token, since(&req.get_ref().since)?)
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
