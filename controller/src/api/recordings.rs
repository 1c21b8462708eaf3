//! gRPC service of recording access, exports and plate crops:
//! translation, plus the export's byte pump (bounded: one chunk in flight per
//! agent request, two queued towards the client).

use crate::api::{json_bytes, Api};
use crate::core::pki::Pki;
use crate::core::AuditAction;
use crate::recordings::{manifest_body, sign_manifest, ExportPlan, ExportRequest, AGENT_TIMEOUT};
use camplane_config::model::{MaskedSegment, SegmentChunkQuery, MAX_CHUNK};
use camplane_proto::v1 as pb;
use sha2::{Digest, Sha256};
use std::pin::Pin;
use tonic::{Request, Response, Status};

type R<T> = Result<Response<T>, Status>;

/// The Recordings service: the API and the CA that signs manifests.
#[derive(Clone)]
pub struct RecordingsApi {
    api: Api,
    pki: Pki,
}

impl RecordingsApi {
    /// Wraps the API and the CA.
    pub fn new(api: Api, pki: Pki) -> RecordingsApi {
        RecordingsApi { api, pki }
    }
}

type ChunkTx = tokio::sync::mpsc::Sender<Result<pb::ExportChunk, Status>>;

async fn send(tx: &ChunkTx, part: pb::export_chunk::Part) -> Result<(), ()> {
    tx.send(Ok(pb::ExportChunk { part: Some(part) }))
        .await
        .map_err(|_| ())
}

/// Ends an export that cannot be completed: the failure is audited (the entry
/// refers to the export's own), then the client gets the error.
async fn fail(api: &RecordingsApi, plan: &ExportPlan, tx: &ChunkTx, status: Status) {
    let mut d = crate::core::audit::Draft::new(
        &plan.requester,
        AuditAction::RecordingsExportIncomplete,
        "Recording",
        &plan.camera,
    );
    d.result = format!("failed: {}", status.message());
    d.details =
        serde_json::json!({"export_audit_seq": plan.audit_seq, "case_number": plan.case_number});
    if let Err(e) = api.api.ctl.audit.record(d).await {
        tracing::error!(error = %e, "export failure not audited");
    }
    let _ = tx.send(Err(status)).await;
}

/// Pulls every segment of the plan from its agent and sends it on, checking
/// each file against its recorded hash; ends with the signed manifest. A
/// records request's copy (`fulfil`: the Public Information Officer) then
/// fulfils the request and ends with it.
async fn pump(
    api: RecordingsApi,
    plan: ExportPlan,
    tx: ChunkTx,
    fulfil: Option<crate::core::auth::Actor>,
) {
    let hub = &api.api.ctl.wing::<crate::alpr::search::Hub>();
    let mut masked_files = Vec::new();
    for s in &plan.segments {
        // A masked export's file is the segment re-encoded at the agent: its
        // name, size and hash come with the first chunk.
        let mut file = pb::ExportFile {
            name: s.name.clone(),
            size: s.size,
            sha256: s.sha256.clone(),
        };
        let mut announced = false;
        if plan.masks.is_empty() {
            if send(&tx, pb::export_chunk::Part::File(file.clone()))
                .await
                .is_err()
            {
                return;
            }
            announced = true;
        }
        let mut h = Sha256::new();
        let mut offset = 0u64;
        while offset < file.size || !announced {
            let q = SegmentChunkQuery {
                camera: plan.camera.clone(),
                seq: s.seq,
                offset,
                len: MAX_CHUNK,
                masks: plan.masks.clone(),
            };
            let json = match serde_json::to_vec(&q) {
                Ok(j) => j,
                Err(e) => {
                    fail(&api, &plan, &tx, Status::internal(e.to_string())).await;
                    return;
                }
            };
            let data = match hub
                .ask(
                    &plan.agent,
                    camplane_proto::kinds::QueryKind::SegmentChunk,
                    json,
                    AGENT_TIMEOUT,
                )
                .await
            {
                Ok(a) if !announced => {
                    let m = match serde_json::from_slice::<MaskedSegment>(&a.json) {
                        Ok(m) if m.original_sha256 == s.sha256 => m,
                        _ => {
                            let msg = format!(
                                "{}: the agent did not name its masked copy of this segment",
                                s.name
                            );
                            fail(&api, &plan, &tx, Status::data_loss(msg)).await;
                            return;
                        }
                    };
                    file = pb::ExportFile {
                        name: m.name.clone(),
                        size: m.size,
                        sha256: m.sha256.clone(),
                    };
                    masked_files.push(camplane_export::MaskedFile {
                        name: m.name,
                        size: m.size,
                        sha256: m.sha256,
                        original_seq: s.seq,
                        original_sha256: m.original_sha256,
                    });
                    if send(&tx, pb::export_chunk::Part::File(file.clone()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    announced = true;
                    if a.data.is_empty() {
                        continue;
                    }
                    a.data
                }
                Ok(a) if !a.data.is_empty() => a.data,
                Ok(_) => {
                    let msg = format!(
                        "{}: the agent's file ends at byte {offset} of {}",
                        file.name, file.size
                    );
                    fail(&api, &plan, &tx, Status::data_loss(msg)).await;
                    return;
                }
                Err(e) => {
                    fail(&api, &plan, &tx, e.into()).await;
                    return;
                }
            };
            offset += data.len() as u64;
            h.update(&data);
            if send(&tx, pb::export_chunk::Part::Data(data)).await.is_err() {
                return;
            }
        }
        let got = hex::encode(h.finalize());
        if offset != file.size || got != file.sha256 {
            let msg = format!(
                "{}: the agent's bytes do not match the hash recorded when it was written; export stopped",
                file.name
            );
            tracing::error!(camera = %plan.camera, file = %s.name, "export: segment altered on the site");
            fail(&api, &plan, &tx, Status::data_loss(msg)).await;
            return;
        }
    }
    let body = manifest_body(&plan, &masked_files, &api.pki.ca_cert_pem);
    let manifest = match sign_manifest(&api.pki, body) {
        Ok(m) => m,
        Err(e) => {
            fail(&api, &plan, &tx, e.into()).await;
            return;
        }
    };
    if send(&tx, pb::export_chunk::Part::ManifestJson(manifest.clone()))
        .await
        .is_err()
    {
        return;
    }
    if let Some(actor) = fulfil {
        // Only once the copy is complete: a failed copy leaves the request
        // released, to be fulfilled again.
        match api
            .api
            .ctl
            .finish_records_fulfilment(&actor, &plan, &manifest)
            .await
        {
            Ok(rr) => match serde_json::to_vec(&rr) {
                Ok(j) => {
                    let _ = send(&tx, pb::export_chunk::Part::RecordsRequestJson(j)).await;
                }
                Err(e) => {
                    let _ = tx.send(Err(Status::internal(e.to_string()))).await;
                }
            },
            Err(e) => {
                let _ = tx.send(Err(e.into())).await;
            }
        }
    }
}

impl RecordingsApi {
    /// Streams a checked and audited plan (and, for a records request's copy,
    /// fulfils the request at its end).
    fn stream(
        &self,
        plan: ExportPlan,
        fulfil: Option<crate::core::auth::Actor>,
    ) -> <Self as pb::recordings_server::Recordings>::ExportStream {
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        // Ends when the export is done, or at once when the client goes away or
        // the server shuts down (not at the pump's next send, which may wait on
        // an agent).
        let (closed, shutdown) = (tx.clone(), self.api.ctl.shutdown.clone());
        let metrics = self.api.ctl.metrics.clone();
        let work = pump(self.clone(), plan, tx, fulfil);
        tokio::spawn(async move {
            tokio::select! {
                () = work => {}
                () = closed.closed() => metrics.work_cancelled("export"),
                () = shutdown.cancelled() => metrics.work_cancelled("export"),
            }
        });
        Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
    }
}

#[tonic::async_trait]
impl pb::recordings_server::Recordings for RecordingsApi {
    async fn authorize(&self, req: Request<pb::RecordingAuthorizeRequest>) -> R<pb::Object> {
        let actor = self.api.actor(&req).await?;
        let r = req.into_inner();
        let a = self
            .api
            .ctl
            .authorize_recordings(
                &actor,
                &r.user,
                &r.camera,
                &r.department,
                &r.until,
                &r.reason,
                if r.copy {
                    crate::recordings::Right::Copy
                } else {
                    crate::recordings::Right::View
                },
            )
            .await?;
        Ok(Response::new(pb::Object {
            kind: "RecordingAuthorization".into(),
            name: a.id.clone(),
            json: json_bytes(&a)?,
            revision: 0,
        }))
    }

    type ExportStream =
        Pin<Box<dyn futures::Stream<Item = Result<pb::ExportChunk, Status>> + Send + 'static>>;

    async fn export(&self, req: Request<pb::ExportRequest>) -> R<Self::ExportStream> {
        let actor = self.api.actor(&req).await?;
        let r = req.into_inner();
        let er = ExportRequest {
            camera: r.camera,
            from: r.from,
            to: r.to,
            case_number: r.case_number,
            out_dir: r.out_dir,
            recipient: r.recipient,
            masked: r.masked,
            police_use: r.police_use,
        };
        // Checked and audited before the stream starts.
        let plan = self
            .api
            .ctl
            .plan_export(
                &self.api.ctl.wing::<crate::alpr::search::Hub>(),
                &actor,
                &er,
            )
            .await?;
        Ok(Response::new(self.stream(plan, None)))
    }

    type FulfilStream = Self::ExportStream;

    async fn fulfil(&self, req: Request<pb::RecordsFulfilRequest>) -> R<Self::FulfilStream> {
        let actor = self.api.actor(&req).await?;
        let r = req.into_inner();
        // The step checked, the copy planned and audited before the stream starts.
        let plan = self
            .api
            .ctl
            .plan_records_fulfilment(
                &self.api.ctl.wing::<crate::alpr::search::Hub>(),
                &actor,
                &r.id,
                &r.out_dir,
            )
            .await?;
        Ok(Response::new(self.stream(plan, Some(actor))))
    }

    async fn crop(&self, req: Request<pb::CropRequest>) -> R<pb::CropResponse> {
        let actor = self.api.actor(&req).await?;
        let r = req.into_inner();
        let (jpeg, agent, camera) = self
            .api
            .ctl
            .fetch_crop(
                &self.api.ctl.wing::<crate::alpr::search::Hub>(),
                &actor,
                &r.read_id,
                &r.case_number,
                &r.sites,
            )
            .await?;
        Ok(Response::new(pb::CropResponse {
            jpeg,
            agent,
            camera,
        }))
    }
}
