//! The `Peer` service: another controller asks an agent held here (see
//! `alpr::route`). Only controllers call it: the caller must present a
//! controller peer certificate from the controller CA; agents' certificates,
//! users' tokens and calls without a certificate are refused. Nothing is
//! audited here: the controller the user spoke to audited the query.

use crate::alpr::route::parts;
use crate::alpr::search::Hub;
use crate::core::Controller;
use camplane_proto::kinds::QueryKind;
use camplane_proto::v1 as pb;
use std::sync::Arc;
use std::time::Duration;
use tonic::{Request, Response, Status};

/// The longest a peer may ask this controller to wait for its agent.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// The `Peer` service.
pub struct PeerApi {
    ctl: Arc<Controller>,
}

impl PeerApi {
    /// The service for `ctl`.
    pub fn new(ctl: Arc<Controller>) -> PeerApi {
        PeerApi { ctl }
    }
}

type AskStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<pb::PeerAnswerChunk, Status>> + Send>>;

type LiveStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<pb::MediaChunk, Status>> + Send>>;

/// Refuses a caller without a controller peer certificate, or with one that
/// is not a running controller's (its serial not registered: see
/// `alpr::route`, revoked when its controller stopped).
async fn controller_only<T>(ctl: &Controller, req: &Request<T>) -> Result<(), Status> {
    let certs = req.peer_certs();
    let der = certs.as_ref().and_then(|c| c.first()).map(|c| c.as_ref());
    match der {
        Some(d) if crate::core::pki::is_controller_peer(d) => {
            let (_, serial) = crate::core::pki::peer_identity(d)?;
            if crate::alpr::route::peer_registered(&ctl.store, &serial).await? {
                Ok(())
            } else {
                Err(Status::permission_denied(
                    "this controller peer certificate is not a running controller's (revoked when its controller stopped)",
                ))
            }
        }
        Some(_) => Err(Status::permission_denied(
            "the Peer service is for controllers; this certificate is not a controller's",
        )),
        None => Err(Status::unauthenticated(
            "the Peer service needs a controller peer certificate",
        )),
    }
}

#[tonic::async_trait]
impl pb::peer_server::Peer for PeerApi {
    type AskStream = AskStream;
    type LiveStream = LiveStream;

    async fn live(
        &self,
        req: Request<pb::PeerLiveRequest>,
    ) -> Result<Response<LiveStream>, Status> {
        controller_only(&self.ctl, &req).await?;
        let q = req.into_inner();
        let hub = self.ctl.wing::<Hub>();
        if !hub.holds(&q.agent) {
            return Err(Status::failed_precondition(
                "its session is no longer held by this controller",
            ));
        }
        // A viewer of this controller's relay like any other: one agent stream
        // for this controller's viewers and its peers'.
        let relay = self.ctl.wing::<crate::viewing::live::Relay>();
        // The masks come from the camera's spec as this controller reads it,
        // never from the wire: a masked ask is burned in with the camera's.
        let masks = if q.masked {
            let cam: camplane_config::model::CameraSpec = self
                .ctl
                .load(camplane_config::model::Kind::Camera, &q.camera)
                .map_err(|_| Status::not_found("no such camera"))?
                .spec_as()?;
            if cam.privacy_masks.is_empty() {
                return Err(Status::failed_precondition(
                    "a masked view of a camera that has no privacy masks now",
                ));
            }
            cam.privacy_masks
        } else {
            Vec::new()
        };
        let mut sub = relay.subscribe(&self.ctl, &q.camera, &q.agent, &masks)?;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            loop {
                let m = tokio::select! {
                    r = sub.recv() => r,
                    () = tx.closed() => return,
                };
                let m = match m {
                    Ok(p) => pb::MediaChunk {
                        stream: String::new(),
                        data: p.data.to_vec(),
                        init: p.init,
                        key: p.key,
                        time_ms: p.time_ms,
                        end: String::new(),
                    },
                    Err(end) => {
                        let _ = tx
                            .send(Ok(pb::MediaChunk {
                                end,
                                ..Default::default()
                            }))
                            .await;
                        return;
                    }
                };
                if tx.send(Ok(m)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn ask(&self, req: Request<pb::PeerQuery>) -> Result<Response<AskStream>, Status> {
        controller_only(&self.ctl, &req).await?;
        let q = req.into_inner();
        let kind = QueryKind::parse(&q.kind)
            .ok_or_else(|| Status::invalid_argument("unknown query kind"))?;
        let hub = self.ctl.wing::<Hub>();
        if !hub.holds(&q.agent) {
            // The asker looks up the agent's presence again.
            return Err(Status::failed_precondition(
                "its session is no longer held by this controller",
            ));
        }
        let wait = Duration::from_millis(q.timeout_ms as u64).min(MAX_WAIT);
        let a = hub.ask_here(&q.agent, kind, q.json, wait).await;
        // One answer at a time is in memory (like an export's chunk); it leaves in parts.
        let out = parts(a).into_iter().map(Ok);
        Ok(Response::new(Box::pin(futures::stream::iter(out))))
    }
}
