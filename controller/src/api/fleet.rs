//! The agent-facing gRPC service (and the user calls about agents); the
//! session itself runs in [`crate::fleet::session`].

use super::*;

/// The agent-facing service (and the user calls about agents).
#[derive(Clone)]
pub struct FleetApi {
    fleet: Arc<crate::fleet::Fleet>,
    cancel: tokio_util::sync::CancellationToken,
}

impl FleetApi {
    /// Wraps a fleet.
    pub fn new(
        fleet: Arc<crate::fleet::Fleet>,
        cancel: tokio_util::sync::CancellationToken,
    ) -> FleetApi {
        FleetApi { fleet, cancel }
    }

    async fn actor<T>(&self, req: &Request<T>) -> Result<Actor, Status> {
        Ok(self.fleet.ctl.authenticate(&Api::token(req)?).await?)
    }

    async fn agent<T>(&self, req: &Request<T>) -> Result<String, Status> {
        let certs = req.peer_certs();
        let der = certs.as_ref().and_then(|c| c.first()).map(|c| c.as_ref());
        Ok(self.fleet.authenticate_agent(der).await?)
    }
}

type ControlStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<pb::ControllerMessage, Status>> + Send>>;

#[tonic::async_trait]
impl pb::fleet_server::Fleet for FleetApi {
    async fn create_enroll_token(
        &self,
        req: Request<pb::EnrollTokenRequest>,
    ) -> R<pb::EnrollTokenResponse> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let (token, expires, agent) = self
            .fleet
            .create_enroll_token(&actor, &r.site, &r.agent)
            .await?;
        Ok(Response::new(pb::EnrollTokenResponse {
            token,
            expires_at: expires.to_string(),
            agent,
        }))
    }

    async fn enroll(&self, req: Request<pb::EnrollRequest>) -> R<pb::EnrollResponse> {
        let r = req.into_inner();
        let (agent, site, cert_pem, expires) = self.fleet.enroll(&r.token, &r.csr_pem).await?;
        Ok(Response::new(pb::EnrollResponse {
            agent,
            site,
            cert_pem,
            ca_pem: self.fleet.pki.ca_cert_pem.clone(),
            expires_at: expires.to_string(),
        }))
    }

    async fn renew(&self, req: Request<pb::RenewRequest>) -> R<pb::EnrollResponse> {
        let agent = self.agent(&req).await?;
        let (cert_pem, expires) = self.fleet.renew(&agent, &req.get_ref().csr_pem).await?;
        Ok(Response::new(pb::EnrollResponse {
            agent,
            site: String::new(),
            cert_pem,
            ca_pem: self.fleet.pki.ca_cert_pem.clone(),
            expires_at: expires.to_string(),
        }))
    }

    async fn revoke(&self, req: Request<pb::AgentName>) -> R<pb::Object> {
        let actor = self.actor(&req).await?;
        let o = self.fleet.revoke(&actor, &req.get_ref().agent).await?;
        Ok(Response::new(to_pb(&actor, &o, 0)?))
    }

    async fn reinstate(&self, req: Request<pb::AgentReinstateRequest>) -> R<pb::Object> {
        let actor = self.actor(&req).await?;
        let r = req.get_ref();
        let o = self.fleet.reinstate(&actor, &r.agent, &r.reason).await?;
        Ok(Response::new(to_pb(&actor, &o, 0)?))
    }

    type ControlStream = ControlStream;

    async fn control(
        &self,
        req: Request<tonic::Streaming<pb::AgentMessage>>,
    ) -> R<Self::ControlStream> {
        let id = {
            let certs = req.peer_certs();
            let der = certs.as_ref().and_then(|c| c.first()).map(|c| c.as_ref());
            self.fleet.authenticate_agent_session(der).await?
        };
        let inbound = req.into_inner();
        let fleet = self.fleet.clone();
        let cancel = self.cancel.clone();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<pb::ControllerMessage, Status>>(64);
        let span = tracing::info_span!("agent_session", agent = %id.name);
        tokio::spawn(tracing::Instrument::instrument(
            crate::fleet::session::run(fleet, id, inbound, tx, cancel),
            span,
        ));
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn media(&self, req: Request<tonic::Streaming<pb::MediaChunk>>) -> R<pb::MediaAck> {
        let agent = self.agent(&req).await?;
        let relay = self.fleet.ctl.wing::<crate::viewing::live::Relay>();
        let reason = relay
            .attach(&self.fleet.ctl, &agent, req.into_inner())
            .await?;
        Ok(Response::new(pb::MediaAck { reason }))
    }

    async fn list_agents(&self, req: Request<pb::ListRequest>) -> R<pb::ObjectList> {
        let actor = self.actor(&req).await?;
        let objs = self.fleet.ctl.get_all(&actor, Kind::Agent).await?;
        let objects = objs
            .iter()
            .map(|(o, rev)| to_pb(&actor, o, *rev))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Response::new(object_page(objects, &req.get_ref().after)))
    }

    async fn windows(&self, req: Request<pb::ListRequest>) -> R<pb::ObjectList> {
        let actor = self.actor(&req).await?;
        let ws = self.fleet.windows(&actor).await?;
        // Windows come sorted by agent, camera and start: the page key spells
        // that order out (see `window_key`).
        let keyed = ws
            .iter()
            .map(|w| {
                Ok((
                    window_key(w),
                    pb::Object {
                        kind: "ActiveWindow".into(),
                        name: w["camera"].as_str().unwrap_or("").into(),
                        json: serde_json::to_vec(w).map_err(|e| Status::internal(e.to_string()))?,
                        revision: 0,
                    },
                ))
            })
            .collect::<Result<Vec<_>, Status>>()?;
        let (page, next_after) = crate::core::page::page(
            keyed,
            &req.get_ref().after,
            |(k, _)| k.as_str(),
            |(k, o)| k.len() + o.kind.len() + o.name.len() + o.json.len(),
            camplane_proto::limits::REPLY_PAGE_BYTES,
        );
        Ok(Response::new(pb::ObjectList {
            objects: page.into_iter().map(|(_, o)| o).collect(),
            next_after,
        }))
    }

    async fn camera_status(&self, req: Request<pb::ListRequest>) -> R<pb::ObjectList> {
        let actor = self.actor(&req).await?;
        // One record per agent, listed in key order: the agent is the page key.
        let hs = self.fleet.health(&actor).await?;
        let objects = hs
            .iter()
            .map(|h| {
                Ok(pb::Object {
                    kind: "AgentHealth".into(),
                    name: h.agent.clone(),
                    json: serde_json::to_vec(h).map_err(|e| Status::internal(e.to_string()))?,
                    revision: 0,
                })
            })
            .collect::<Result<Vec<_>, Status>>()?;
        Ok(Response::new(object_page(objects, &req.get_ref().after)))
    }
}

/// The page of `objects` (in name order) after `after`, under
/// `REPLY_PAGE_BYTES`, as `Objects.Get` pages a kind.
pub(crate) fn object_page(objects: Vec<pb::Object>, after: &str) -> pb::ObjectList {
    let (objects, next_after) = crate::core::page::page(
        objects,
        after,
        |o| o.name.as_str(),
        |o| o.kind.len() + o.name.len() + o.json.len(),
        camplane_proto::limits::REPLY_PAGE_BYTES,
    );
    pb::ObjectList {
        objects,
        next_after,
    }
}

/// A window's page key, ordered as `Fleet::windows` sorts them (agent, camera,
/// start): the names are joined by NUL, which no name holds and which sorts
/// before every character, and the start is its nanoseconds since 1970,
/// shifted positive and zero-padded (an unreadable start, first in that order,
/// is empty).
fn window_key(w: &serde_json::Value) -> String {
    let start = w["start"]
        .as_str()
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
        .map(|t| {
            format!(
                "{:040}",
                t.as_nanosecond() - i128::from(i64::MIN) * 1_000_000_000
            )
        })
        .unwrap_or_default();
    format!(
        "{}\0{}\0{start}",
        w["agent"].as_str().unwrap_or(""),
        w["camera"].as_str().unwrap_or("")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Window keys sort as the windows do: by agent, then camera, then start,
    /// whatever characters the names hold and on either side of 1970.
    #[test]
    fn window_keys_sort_as_windows_do() {
        let w =
            |a: &str, c: &str, s: &str| serde_json::json!({"agent": a, "camera": c, "start": s});
        let sorted = [
            w("a", "c", "1969-12-31T23:59:59Z"),
            w("a", "c", "2026-01-01T00:00:00Z"),
            w("a", "c", "2026-01-01T00:00:00.5Z"),
            w("a", "c-2", "2020-01-01T00:00:00Z"),
            w("a", "c/1", "2020-01-01T00:00:00Z"),
            w("a-b", "a", "2020-01-01T00:00:00Z"),
            w("ab", "a", "2020-01-01T00:00:00Z"),
        ];
        let keys: Vec<String> = sorted.iter().map(window_key).collect();
        let mut again = keys.clone();
        again.sort();
        assert_eq!(again, keys);
    }
}
