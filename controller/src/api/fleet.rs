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

    fn agent<T>(&self, req: &Request<T>) -> Result<String, Status> {
        let certs = req.peer_certs();
        let der = certs.as_ref().and_then(|c| c.first()).map(|c| c.as_ref());
        Ok(self.fleet.authenticate_agent(der)?)
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
        let agent = self.agent(&req)?;
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
        let agent = self.agent(&req)?;
        let inbound = req.into_inner();
        let fleet = self.fleet.clone();
        let cancel = self.cancel.clone();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<pb::ControllerMessage, Status>>(64);
        let span = tracing::info_span!("agent_session", agent = %agent);
        tokio::spawn(tracing::Instrument::instrument(
            crate::fleet::session::run(fleet, agent, inbound, tx, cancel),
            span,
        ));
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn list_agents(&self, req: Request<pb::Empty>) -> R<pb::ObjectList> {
        let actor = self.actor(&req).await?;
        let objs = self.fleet.ctl.get_all(&actor, Kind::Agent).await?;
        let objects = objs
            .iter()
            .map(|(o, rev)| to_pb(&actor, o, *rev))
            .collect::<Result<_, _>>()?;
        Ok(Response::new(pb::ObjectList {
            objects,
            ..Default::default()
        }))
    }

    async fn windows(&self, req: Request<pb::Empty>) -> R<pb::ObjectList> {
        let actor = self.actor(&req).await?;
        let ws = self.fleet.windows(&actor).await?;
        let objects = ws
            .iter()
            .map(|w| {
                Ok(pb::Object {
                    kind: "ActiveWindow".into(),
                    name: w["camera"].as_str().unwrap_or("").into(),
                    json: serde_json::to_vec(w).map_err(|e| Status::internal(e.to_string()))?,
                    revision: 0,
                })
            })
            .collect::<Result<_, Status>>()?;
        Ok(Response::new(pb::ObjectList {
            objects,
            ..Default::default()
        }))
    }

    async fn camera_status(&self, req: Request<pb::Empty>) -> R<pb::ObjectList> {
        let actor = self.actor(&req).await?;
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
            .collect::<Result<_, Status>>()?;
        Ok(Response::new(pb::ObjectList {
            objects,
            ..Default::default()
        }))
    }
}
