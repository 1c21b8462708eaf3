//! gRPC service of viewing: playback streamed as fragmented MP4, and the kept
//! sessions. Translation, plus the task that ends every session it starts.

use crate::api::{json_bytes, Api};
use crate::viewing::PlaybackRequest;
use camplane_proto::v1 as pb;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tonic::{Request, Response, Status};

type R<T> = Result<Response<T>, Status>;

/// The Viewing service.
#[derive(Clone)]
pub struct ViewingApi {
    api: Api,
}

impl ViewingApi {
    /// Wraps the API.
    pub fn new(api: Api) -> ViewingApi {
        ViewingApi { api }
    }
}

#[tonic::async_trait]
impl pb::viewing_server::Viewing for ViewingApi {
    type PlaybackStream =
        Pin<Box<dyn futures::Stream<Item = Result<pb::PlaybackChunk, Status>> + Send + 'static>>;

    async fn playback(&self, req: Request<pb::PlaybackRequest>) -> R<Self::PlaybackStream> {
        let actor = self.api.actor(&req).await?;
        let token = Api::token(&req)?;
        let r = req.into_inner();
        let pr = PlaybackRequest {
            camera: r.camera,
            from: r.from,
            to: r.to,
            reason: r.reason,
            unmasked: r.unmasked,
        };
        let ctl = self.api.ctl.clone();
        let hub = ctl.wing::<crate::alpr::search::Hub>();
        // Checked, stored and audited before the stream starts.
        let (session, masks) = ctl.start_playback(&hub, &actor, &pr).await?;
        // Two chunks queued towards the client at most: with the one being
        // fetched, a viewer costs the controller about 3 MiB whatever the range.
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let first = pb::PlaybackChunk {
            session: session.id.clone(),
            data: vec![],
        };
        // The queue is empty and its receiver held here: this cannot fail, and
        // an early return would leave a session without its end.
        let _ = tx.try_send(Ok(first));
        tokio::spawn(async move {
            let sent = Arc::new(AtomicU64::new(0));
            let chunks = tx.clone();
            let mut access = crate::viewing::AccessWatch::new(&token, &session.camera);
            let work = ctl.pump_playback(&hub, &session, &masks, &sent, &mut access, |data| {
                let chunks = chunks.clone();
                async move {
                    chunks
                        .send(Ok(pb::PlaybackChunk {
                            session: String::new(),
                            data,
                        }))
                        .await
                        .is_ok()
                }
            });
            // The pump stops at once when the viewer goes away or the server
            // shuts down (not at its next send, which may wait on the agent).
            let outcome = tokio::select! {
                r = work => match r {
                    Ok(()) => "completed".to_string(),
                    Err(crate::Error::Cancelled(_)) => "viewer gone".to_string(),
                    Err(e) if crate::viewing::is_withdrawal(&e) => {
                        let outcome = format!("{}: {e}", crate::viewing::live::ACCESS_WITHDRAWN);
                        let _ = tx.send(Err(e.into())).await;
                        outcome
                    }
                    Err(e) => {
                        let outcome = format!("failed: {e}");
                        let _ = tx.send(Err(e.into())).await;
                        outcome
                    }
                },
                () = tx.closed() => "viewer gone".to_string(),
                () = ctl.shutdown.cancelled() => "controller shutting down".to_string(),
            };
            if outcome != "completed" {
                ctl.metrics.work_cancelled("playback");
                ctl.close_playback(&hub, &session).await;
            }
            if let Err(e) = ctl
                .end_viewing(&session, sent.load(Ordering::Relaxed), &outcome)
                .await
            {
                tracing::error!(session = %session.id, error = %e, "viewing session end not audited");
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    type LiveStream =
        Pin<Box<dyn futures::Stream<Item = Result<pb::PlaybackChunk, Status>> + Send + 'static>>;

    async fn live(&self, req: Request<pb::LiveRequest>) -> R<Self::LiveStream> {
        let actor = self.api.actor(&req).await?;
        let token = Api::token(&req)?;
        let r = req.into_inner();
        let lr = crate::viewing::live::LiveRequest {
            camera: r.camera,
            reason: r.reason,
            unmasked: r.unmasked,
            seconds: r.seconds,
        };
        // Checked, stored and audited before the stream starts.
        let mut view = self.api.ctl.start_live(&actor, &token, &lr).await?;
        // A few fragments queued towards the client; the relay's bounded
        // queue per viewer is where a slow client skips ahead.
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let first = pb::PlaybackChunk {
            session: view.session.id.clone(),
            data: vec![],
        };
        let _ = tx.try_send(Ok(first));
        tokio::spawn(async move {
            loop {
                let got = tokio::select! {
                    g = view.next() => g,
                    () = tx.closed() => {
                        view.end("viewer gone").await;
                        break;
                    }
                };
                match got {
                    Some(Ok(data)) => {
                        let m = pb::PlaybackChunk {
                            session: String::new(),
                            data: data.to_vec(),
                        };
                        if tx.send(Ok(m)).await.is_err() {
                            view.end("viewer gone").await;
                            break;
                        }
                    }
                    Some(Err(e)) => {
                        // The session's end is recorded; the viewer learns why.
                        let st = match e {
                            crate::Error::Agent(m) => {
                                Status::unavailable(format!("live view ended: {m}"))
                            }
                            e => e.into(),
                        };
                        let _ = tx.send(Err(st)).await;
                        break;
                    }
                    None => break,
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn sessions(&self, req: Request<pb::ViewSessionsRequest>) -> R<pb::ObjectList> {
        let actor = self.api.actor(&req).await?;
        let active = req.get_ref().active;
        let v = self.api.ctl.viewing_sessions(&actor, active).await?;
        let objects = v
            .iter()
            .map(|s| {
                Ok(pb::Object {
                    kind: "ViewingSession".into(),
                    name: s.id.clone(),
                    json: json_bytes(s)?,
                    revision: 0,
                })
            })
            .collect::<Result<Vec<_>, Status>>()?;
        Ok(Response::new(pb::ObjectList {
            objects,
            next_after: String::new(),
        }))
    }
}
