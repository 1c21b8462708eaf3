//! gRPC services: translation between the wire and [`Controller`] only.

use crate::auth::Actor;
use crate::service::{Controller, StoredObject};
use camplane_config::model::{Kind, PlacementRequestSpec, Role, UserSpec};
use camplane_proto::limits;
use camplane_proto::v1 as pb;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// The services over one controller.
#[derive(Clone)]
pub struct Api {
    pub(crate) ctl: Arc<Controller>,
}

type R<T> = Result<Response<T>, Status>;

impl Api {
    /// Wraps a controller.
    pub fn new(ctl: Arc<Controller>) -> Api {
        Api { ctl }
    }

    fn token<T>(req: &Request<T>) -> Result<String, Status> {
        let v = req.metadata().get("authorization").ok_or_else(|| {
            Status::unauthenticated("sign in first: `camplane login` (no authorization header)")
        })?;
        let s = v
            .to_str()
            .map_err(|_| Status::unauthenticated("malformed authorization header"))?;
        let t = s
            .strip_prefix("Bearer ")
            .ok_or_else(|| Status::unauthenticated("authorization must be `Bearer TOKEN`"))?;
        Ok(t.trim().to_string())
    }

    pub(crate) async fn actor<T>(&self, req: &Request<T>) -> Result<Actor, Status> {
        Ok(self.ctl.authenticate(&Self::token(req)?).await?)
    }

    /// All services, ready to add to a tonic server.
    pub fn routes(self) -> tonic::service::Routes {
        tonic::service::Routes::new(pb::auth_server::AuthServer::new(self.clone()))
            .add_service(pb::objects_server::ObjectsServer::new(self.clone()))
            .add_service(pb::approvals_server::ApprovalsServer::new(self.clone()))
            .add_service(pb::cameras_server::CamerasServer::new(self.clone()))
            .add_service(pb::users_server::UsersServer::new(self.clone()))
            .add_service(
                pb::placement_server::PlacementServer::new(self.clone())
                    .max_decoding_message_size(limits::PLACEMENT_MAX_MESSAGE)
                    .max_encoding_message_size(limits::PLACEMENT_MAX_MESSAGE),
            )
            .add_service(pb::holds_server::HoldsServer::new(self.clone()))
            .add_service(
                pb::hotlists_server::HotlistsServer::new(self.clone())
                    .max_decoding_message_size(limits::HOTLIST_MAX_MESSAGE),
            )
            .add_service(pb::alerts_server::AlertsServer::new(self.clone()))
            .add_service(pb::alpr_server::AlprServer::new(self.clone()))
            .add_service(pb::public_log_server::PublicLogServer::new(self.clone()))
            // governance
            .add_service(pb::alpr_approvals_server::AlprApprovalsServer::new(
                self.clone(),
            ))
            .add_service(pb::alert_review_server::AlertReviewServer::new(
                self.clone(),
            ))
            .add_service(pb::audit_reports_server::AuditReportsServer::new(
                self.clone(),
            ))
            .add_service(pb::audit_server::AuditServer::new(self))
    }
}

fn to_pb(o: &StoredObject, revision: i64) -> Result<pb::Object, Status> {
    Ok(pb::Object {
        kind: o.kind.clone(),
        name: o.name.clone(),
        json: serde_json::to_vec(o).map_err(|e| Status::internal(e.to_string()))?,
        revision,
    })
}

fn kind(s: &str) -> Result<Kind, Status> {
    Kind::parse(s).ok_or_else(|| {
        Status::invalid_argument(format!(
            "unknown kind {s:?} (Site, Department, Camera, PlacementRequest, User)"
        ))
    })
}

fn role(s: &str) -> Result<Role, Status> {
    Role::parse(s).ok_or_else(|| {
        let all: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        Status::invalid_argument(format!("unknown role {s:?} (one of {})", all.join(", ")))
    })
}

#[tonic::async_trait]
impl pb::auth_server::Auth for Api {
    async fn login(&self, req: Request<pb::LoginRequest>) -> R<pb::LoginResponse> {
        let r = req.into_inner();
        let (token, s, roles) = self.ctl.login(&r.username, &r.password).await?;
        Ok(Response::new(pb::LoginResponse {
            token,
            expires_at: s.expires_at.to_string(),
            roles: roles.iter().map(|r| r.as_str().to_string()).collect(),
            username: s.username,
        }))
    }

    async fn logout(&self, req: Request<pb::Empty>) -> R<pb::Empty> {
        let actor = self.actor(&req).await?;
        self.ctl.logout(&Self::token(&req)?, &actor).await?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn who_am_i(&self, req: Request<pb::Empty>) -> R<pb::LoginResponse> {
        let a = self.actor(&req).await?;
        Ok(Response::new(pb::LoginResponse {
            token: String::new(),
            expires_at: String::new(),
            roles: a.roles.iter().map(|r| r.as_str().to_string()).collect(),
            username: a.username,
        }))
    }
}

#[tonic::async_trait]
impl pb::objects_server::Objects for Api {
    async fn apply(&self, req: Request<pb::ApplyRequest>) -> R<pb::ApplyResponse> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let mut items = Vec::with_capacity(r.objects.len());
        for o in r.objects {
            items.push((kind(&o.kind)?, o.name, o.json));
        }
        let res = self.ctl.apply(&actor, items, &r.source).await?;
        Ok(Response::new(pb::ApplyResponse {
            results: res
                .into_iter()
                .map(|a| pb::ApplyResult {
                    kind: a.kind.as_str().into(),
                    name: a.name,
                    action: a.action.into(),
                })
                .collect(),
        }))
    }

    async fn get(&self, req: Request<pb::GetRequest>) -> R<pb::ObjectList> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let k = kind(&r.kind)?;
        if !r.name.is_empty() {
            let kv = self.ctl.get_raw(&actor, k, &r.name).await?;
            let object = pb::Object {
                kind: k.as_str().into(),
                name: r.name,
                json: kv.value.to_vec(),
                revision: kv.mod_revision,
            };
            return Ok(Response::new(pb::ObjectList {
                objects: vec![object],
            }));
        }
        let objs = self.ctl.get_all(&actor, k).await?;
        let objects = objs
            .iter()
            .map(|(o, rev)| to_pb(o, *rev))
            .collect::<Result<_, _>>()?;
        Ok(Response::new(pb::ObjectList { objects }))
    }

    async fn delete(&self, req: Request<pb::DeleteRequest>) -> R<pb::Empty> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        self.ctl.delete(&actor, kind(&r.kind)?, &r.name).await?;
        Ok(Response::new(pb::Empty {}))
    }
}

#[tonic::async_trait]
impl pb::approvals_server::Approvals for Api {
    async fn submit(&self, req: Request<pb::SubmitRequest>) -> R<pb::Object> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        #[derive(serde::Deserialize)]
        struct Named {
            #[serde(default)]
            name: String,
            spec: serde_json::Value,
        }
        let named: Named = serde_json::from_slice(&r.json)
            .map_err(|e| Status::invalid_argument(format!("request: {e}")))?;
        let spec_bytes =
            serde_json::to_vec(&named.spec).map_err(|e| Status::internal(e.to_string()))?;
        let spec =
            match camplane_config::manifest::Spec::from_json(Kind::PlacementRequest, &spec_bytes) {
                Ok(camplane_config::manifest::Spec::PlacementRequest(s)) => *s,
                Ok(_) => return Err(Status::internal("kind")),
                Err(e) => return Err(Status::invalid_argument(format!("request spec: {e}"))),
            };
        let spec: PlacementRequestSpec = spec;
        let o = self.ctl.submit_request(&actor, &named.name, spec).await?;
        Ok(Response::new(to_pb(&o, 0)?))
    }

    async fn act(&self, req: Request<pb::ActRequest>) -> R<pb::Object> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let as_role = if r.role.is_empty() {
            None
        } else {
            Some(role(&r.role)?)
        };
        let o = self
            .ctl
            .act_on_request(&actor, &r.id, &r.action, as_role, &r.comment)
            .await?;
        Ok(Response::new(to_pb(&o, 0)?))
    }

    async fn show(&self, req: Request<pb::RequestId>) -> R<pb::Object> {
        let actor = self.actor(&req).await?;
        let (o, rev) = self
            .ctl
            .get(&actor, Kind::PlacementRequest, &req.get_ref().id)
            .await?;
        Ok(Response::new(to_pb(&o, rev)?))
    }
}

#[tonic::async_trait]
impl pb::cameras_server::Cameras for Api {
    async fn transition(&self, req: Request<pb::CameraAction>) -> R<pb::Object> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let o = self
            .ctl
            .camera_transition(&actor, &r.name, &r.action, &r.reason)
            .await?;
        Ok(Response::new(to_pb(&o, 0)?))
    }
}

#[tonic::async_trait]
impl pb::users_server::Users for Api {
    async fn add(&self, req: Request<pb::AddUserRequest>) -> R<pb::AddUserResponse> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        #[derive(serde::Deserialize)]
        struct Named {
            name: String,
            spec: serde_json::Value,
        }
        let named: Named = serde_json::from_slice(&r.json)
            .map_err(|e| Status::invalid_argument(format!("user: {e}")))?;
        let bytes = serde_json::to_vec(&named.spec).map_err(|e| Status::internal(e.to_string()))?;
        let spec: UserSpec = match camplane_config::manifest::Spec::from_json(Kind::User, &bytes) {
            Ok(camplane_config::manifest::Spec::User(u)) => u,
            Ok(_) => return Err(Status::internal("kind")),
            Err(e) => return Err(Status::invalid_argument(format!("user spec: {e}"))),
        };
        let pw = (!r.password.is_empty()).then_some(r.password);
        let (o, otp) = self.ctl.add_user(&actor, &named.name, spec, pw).await?;
        Ok(Response::new(pb::AddUserResponse {
            user: Some(to_pb(&o, 0)?),
            one_time_password: otp.unwrap_or_default(),
        }))
    }

    async fn grant(&self, req: Request<pb::GrantRequest>) -> R<pb::Object> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let roles = r
            .roles
            .iter()
            .map(|s| role(s))
            .collect::<Result<Vec<_>, _>>()?;
        let o = self
            .ctl
            .grant(&actor, &r.username, &roles, r.revoke)
            .await?;
        Ok(Response::new(to_pb(&o, 0)?))
    }

    async fn list(&self, req: Request<pb::Empty>) -> R<pb::ObjectList> {
        let actor = self.actor(&req).await?;
        let objs = self.ctl.get_all(&actor, Kind::User).await?;
        let objects = objs
            .iter()
            .map(|(o, rev)| to_pb(o, *rev))
            .collect::<Result<_, _>>()?;
        Ok(Response::new(pb::ObjectList { objects }))
    }
}

#[tonic::async_trait]
impl pb::audit_server::Audit for Api {
    async fn verify(&self, req: Request<pb::Empty>) -> R<pb::VerifyResponse> {
        let actor = self.actor(&req).await?;
        let v = self.ctl.audit_verify(&actor).await?;
        Ok(Response::new(pb::VerifyResponse {
            ok: v.first_broken.is_none(),
            entries: v.entries,
            first_broken_seq: v.first_broken.unwrap_or(0),
            message: v.message,
        }))
    }

    async fn tail(&self, req: Request<pb::TailRequest>) -> R<pb::AuditEntries> {
        let actor = self.actor(&req).await?;
        let limit = req.get_ref().limit.max(1) as usize;
        let entries = self.ctl.audit_tail(&actor, limit).await?;
        let entries = entries
            .into_iter()
            .map(|e| {
                Ok(pb::AuditEntry {
                    seq: e.seq,
                    json: serde_json::to_vec(&e).map_err(|e| Status::internal(e.to_string()))?,
                })
            })
            .collect::<Result<_, Status>>()?;
        Ok(Response::new(pb::AuditEntries { entries }))
    }
}

fn loaded_to_pb(layer: &str, l: crate::placement::Loaded) -> Result<pb::LayerVersionInfo, Status> {
    Ok(pb::LayerVersionInfo {
        layer: layer.into(),
        version: l.version.version,
        json: serde_json::to_vec(&l.version).map_err(|e| Status::internal(e.to_string()))?,
        repairs: l.repairs,
        pruned: l.pruned,
    })
}

#[tonic::async_trait]
impl pb::placement_server::Placement for Api {
    async fn load_layer(&self, req: Request<pb::LoadLayerRequest>) -> R<pb::LayerVersionInfo> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let files = r.files.into_iter().map(|f| (f.name, f.data)).collect();
        let l = self
            .ctl
            .load_layer(&actor, &r.layer, files, r.repair_polygons)
            .await?;
        Ok(Response::new(loaded_to_pb(&r.layer, l)?))
    }

    async fn apply_rules(&self, req: Request<pb::ApplyRulesRequest>) -> R<pb::LayerVersionInfo> {
        let actor = self.actor(&req).await?;
        let f = req
            .into_inner()
            .file
            .ok_or_else(|| Status::invalid_argument("no rules file"))?;
        let l = self.ctl.apply_rules(&actor, &f.name, f.data).await?;
        Ok(Response::new(loaded_to_pb(crate::placement::RULES, l)?))
    }

    async fn list(&self, req: Request<pb::Empty>) -> R<pb::GisListResponse> {
        let actor = self.actor(&req).await?;
        let v = self.ctl.gis_list(&actor).await?;
        Ok(Response::new(pb::GisListResponse {
            json: serde_json::to_vec(&v).map_err(|e| Status::internal(e.to_string()))?,
        }))
    }

    async fn recheck(&self, req: Request<pb::RecheckRequest>) -> R<pb::RecheckResponse> {
        let actor = self.actor(&req).await?;
        let v = self.ctl.recheck(&actor, req.get_ref().all).await?;
        Ok(Response::new(pb::RecheckResponse {
            json: serde_json::to_vec(&v).map_err(|e| Status::internal(e.to_string()))?,
        }))
    }

    async fn map(&self, req: Request<pb::Empty>) -> R<pb::MapResponse> {
        let actor = self.actor(&req).await?;
        let svg = self.ctl.placement_map(&actor).await?;
        Ok(Response::new(pb::MapResponse { svg }))
    }
}

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

/// The hotlist updates an agent holding `held` needs, skipping lists with an
/// update already in flight for the same version (level-triggered: a lost
/// update is resent when the agent's acknowledgement says it is still behind).
async fn hotlist_pushes(
    ctl: &Controller,
    held: &std::collections::HashMap<String, u64>,
    in_flight: &mut std::collections::HashMap<String, u64>,
) -> Result<Vec<pb::ControllerMessage>, crate::Error> {
    let mut out = Vec::new();
    let infos = ctl.hotlists();
    for info in &infos {
        let have = held.get(&info.list).copied().unwrap_or(0);
        if have == info.version || in_flight.get(&info.list) == Some(&info.version) {
            continue;
        }
        let u = ctl.hotlist_update(info, have).await?;
        in_flight.insert(info.list.clone(), info.version);
        out.push(push_msg(&u)?);
    }
    for (list, v) in held {
        if *v > 0 && !infos.iter().any(|i| &i.list == list) && !in_flight.contains_key(list) {
            let Some((src, cat)) = list.split_once('.') else {
                continue;
            };
            let (Some(source), Some(category)) = (
                camplane_config::hotlist::HotlistSource::parse(src),
                camplane_config::hotlist::HitCategory::parse(cat),
            ) else {
                continue;
            };
            let u = camplane_config::hotlist::HotlistUpdate {
                list: list.clone(),
                source,
                category,
                base_version: 0,
                version: 0,
                deleted: true,
                delta: Default::default(),
            };
            in_flight.insert(list.clone(), 0);
            out.push(push_msg(&u)?);
        }
    }
    Ok(out)
}

fn push_msg(
    u: &camplane_config::hotlist::HotlistUpdate,
) -> Result<pb::ControllerMessage, crate::Error> {
    Ok(pb::ControllerMessage {
        msg: Some(pb::controller_message::Msg::Hotlist(pb::HotlistPush {
            json: serde_json::to_vec(u)?,
        })),
    })
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
        Ok(Response::new(to_pb(&o, 0)?))
    }

    type ControlStream = ControlStream;

    async fn control(
        &self,
        req: Request<tonic::Streaming<pb::AgentMessage>>,
    ) -> R<Self::ControlStream> {
        let agent = self.agent(&req)?;
        let mut inbound = req.into_inner();
        let fleet = self.fleet.clone();
        let cancel = self.cancel.clone();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<pb::ControllerMessage, Status>>(64);
        let span = tracing::info_span!("agent_session", agent = %agent);
        tokio::spawn(tracing::Instrument::instrument(
            async move {
                // Only changes to cameras, agents, holds and hotlists wake a session.
                let mut changes = fleet.ctl.cache.subscribe_fleet();
                let mut last_sent: Option<Vec<u8>> = None;
                let mut running_rev = 0i64;
                // Hotlist versions the agent holds, and the versions sent and not yet acknowledged.
                let mut held: std::collections::HashMap<String, u64> = Default::default();
                let mut in_flight: std::collections::HashMap<String, u64> = Default::default();
                let mut hello_seen = false;
                let hub_id = fleet.ctl.hub.connect(&agent, tx.clone());
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
                tracing::info!("agent connected");
                loop {
                    // Level-triggered: whatever woke us, compare desired with what was sent.
                    match fleet.desired_entry(&agent) {
                        Ok(entry) => {
                            let (d, json) = (&entry.desired, entry.json.clone());
                            if last_sent.as_ref() != Some(&json) {
                                let revision = *changes.borrow();
                                if tx
                                    .send(Ok(pb::ControllerMessage {
                                        msg: Some(pb::controller_message::Msg::Config(
                                            pb::AgentConfig {
                                                revision,
                                                json: json.clone(),
                                            },
                                        )),
                                    }))
                                    .await
                                    .is_err()
                                {
                                    break;
                                }
                                if let Err(e) = fleet.audit_push(&agent, revision, d).await {
                                    tracing::warn!(error = %e, "could not audit a config push");
                                }
                                last_sent = Some(json);
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e.into())).await;
                            break;
                        }
                    }
                    if hello_seen {
                        match hotlist_pushes(&fleet.ctl, &held, &mut in_flight).await {
                            Ok(pushes) => {
                                let mut closed = false;
                                for p in pushes {
                                    if tx.send(Ok(p)).await.is_err() {
                                        closed = true;
                                        break;
                                    }
                                }
                                if closed {
                                    break;
                                }
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "hotlist push not prepared; retrying at the next tick")
                            }
                        }
                    }
                    tokio::select! {
                        _ = tx.closed() => break,
                        _ = cancel.cancelled() => break,
                        _ = changes.changed() => {}
                        _ = tick.tick() => {
                            // A revoked agent's session ends.
                            if let Err(e) = fleet.authenticate_agent_name(&agent) {
                                let _ = tx.send(Err(e.into())).await;
                                break;
                            }
                        }
                        m = inbound.message() => match m {
                            Ok(Some(msg)) => match msg.msg {
                                Some(pb::agent_message::Msg::Hello(h)) => {
                                    running_rev = h.config_revision;
                                    held = h.hotlists.into_iter().collect();
                                    in_flight.clear();
                                    hello_seen = true;
                                }
                                Some(pb::agent_message::Msg::Answer(a)) => fleet.ctl.hub.answer(&agent, a),
                                Some(pb::agent_message::Msg::HotlistAck(a)) => {
                                    in_flight.remove(&a.list);
                                    if a.version == 0 { held.remove(&a.list); } else { held.insert(a.list, a.version); }
                                }
                                Some(pb::agent_message::Msg::Ack(a)) => running_rev = a.revision,
                                Some(pb::agent_message::Msg::Report(r)) => {
                                    match fleet.store_report(&agent, &r.key, &r.kind, &r.json, running_rev).await {
                                        Ok(_) => {
                                            let ack = pb::ControllerMessage { msg: Some(pb::controller_message::Msg::ReportAck(pb::ReportAck { key: r.key })) };
                                            if tx.send(Ok(ack)).await.is_err() { break; }
                                        }
                                        Err(e) => tracing::warn!(error = %e, key = %r.key, "report not stored; the agent will resend it"),
                                    }
                                }
                                None => {}
                            },
                            Ok(None) => break,
                            Err(e) => { tracing::info!(error = %e, "agent stream ended"); break; }
                        }
                    }
                }
                fleet.ctl.hub.disconnect(&agent, hub_id);
                tracing::info!("agent disconnected");
            },
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
            .map(|(o, rev)| to_pb(o, *rev))
            .collect::<Result<_, _>>()?;
        Ok(Response::new(pb::ObjectList { objects }))
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
        Ok(Response::new(pb::ObjectList { objects }))
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
        Ok(Response::new(pb::ObjectList { objects }))
    }
}

#[tonic::async_trait]
impl pb::holds_server::Holds for Api {
    async fn create(&self, req: Request<pb::SubmitRequest>) -> R<pb::Object> {
        let actor = self.actor(&req).await?;
        let spec = match camplane_config::manifest::Spec::from_json(
            Kind::LegalHold,
            &req.get_ref().json,
        ) {
            Ok(camplane_config::manifest::Spec::LegalHold(h)) => *h,
            Ok(_) => return Err(Status::internal("kind")),
            Err(e) => return Err(Status::invalid_argument(format!("hold: {e}"))),
        };
        let o = self.ctl.create_hold(&actor, spec).await?;
        Ok(Response::new(to_pb(&o, 0)?))
    }

    async fn release(&self, req: Request<pb::HoldName>) -> R<pb::Object> {
        let actor = self.actor(&req).await?;
        let o = self.ctl.release_hold(&actor, &req.get_ref().name).await?;
        Ok(Response::new(to_pb(&o, 0)?))
    }
}

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
        let mode = crate::hotlist::LoadMode::parse(&r.mode)
            .ok_or_else(|| Status::invalid_argument("--mode: one of replace, add, remove"))?;
        let out = self
            .ctl
            .load_hotlist(
                &actor,
                crate::hotlist::LoadRequest {
                    source,
                    category,
                    file: r.file_name.chars().take(200).collect(),
                    csv: r.csv,
                    columns,
                    mode,
                    public: r.public,
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

pub(crate) fn json_bytes<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, Status> {
    serde_json::to_vec(v).map_err(|e| Status::internal(e.to_string()))
}

fn since(s: &str) -> Result<Option<jiff::Timestamp>, Status> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|e| Status::invalid_argument(format!("--since {s:?}: {e}")))
}

fn alert_pb(a: &crate::hotlist::Alert) -> Result<pb::Object, Status> {
    Ok(pb::Object {
        kind: "Alert".into(),
        name: a.id.clone(),
        json: serde_json::to_vec(a).map_err(|e| Status::internal(e.to_string()))?,
        revision: 0,
    })
}

type AlertStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<pb::Object, Status>> + Send>>;

#[tonic::async_trait]
impl pb::alerts_server::Alerts for Api {
    async fn list(&self, req: Request<pb::AlertsRequest>) -> R<pb::ObjectList> {
        let actor = self.actor(&req).await?;
        let alerts = self
            .ctl
            .alerts(&actor, since(&req.get_ref().since)?)
            .await?;
        let objects = alerts.iter().map(alert_pb).collect::<Result<_, _>>()?;
        Ok(Response::new(pb::ObjectList { objects }))
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
                &self.ctl.hub,
                &actor,
                crate::search::SearchRequest {
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

#[tonic::async_trait]
impl pb::public_log_server::PublicLog for Api {
    async fn generate(&self, req: Request<pb::PublicLogRequest>) -> R<pb::PublicLogFiles> {
        let actor = self.actor(&req).await?;
        let month = req.into_inner().month;
        let files = self.ctl.generate_public_log(&actor, &month).await?;
        Ok(Response::new(pb::PublicLogFiles {
            month,
            files: files
                .into_iter()
                .map(|(name, content)| pb::PublicLogFile { name, content })
                .collect(),
        }))
    }

    async fn add_case_assist(&self, req: Request<pb::CaseAssistRequest>) -> R<pb::Object> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let a = self
            .ctl
            .add_case_assist(
                &actor,
                &r.case_number,
                &r.offense,
                r.arrests,
                Some(r.date.as_str()),
            )
            .await?;
        Ok(Response::new(pb::Object {
            kind: "CaseAssist".into(),
            name: a.date.to_string(),
            json: serde_json::to_vec(&a).map_err(|e| Status::internal(e.to_string()))?,
            revision: 0,
        }))
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

pub(crate) fn search_pb(out: crate::search::SearchOutcome) -> Result<pb::SearchResponse, Status> {
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
