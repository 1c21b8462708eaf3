//! Agents (site gateways): enrolment with one-time tokens, their certificates,
//! the desired config each must run, and the reports they send back.
//!
//! Reports carry an idempotency key and are stored create-if-absent under
//! `reports/{agent}/{key}`, so a report replayed after a reconnect is stored once.
//! The latest health of each agent lives under `health/{agent}` (not mirrored by the
//! cache: it changes often and only `camera status` reads it).

pub mod index;
pub mod reports;
pub mod session;

pub use index::{alpr_agents, changed_agents, DesiredEntry, DesiredIndex, DesiredMap, Wake};

use crate::core::audit::Draft;
use crate::core::auth::{Actor, Operation};
use crate::core::cache::FleetChanges;
use crate::core::events::{AlertRaised, ReportRefused, ReportStored};
use crate::core::pki::Pki;
use crate::core::store::{Compare, KeyValue, Op};
use crate::core::AuditAction;
use crate::core::{Change, Controller, Refusal, Step, StoredObject};
use crate::core::{KeyChange, KeyStep};
use crate::{Error, Result};
use camplane_config::model::*;
use camplane_proto::kinds::ReportKind;
use index::lock;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Prefix of enrolment tokens (hashed).
pub const ENROLL: &str = "meta/enroll/";
/// Prefix of stored reports.
pub const REPORTS: &str = "reports/";
/// Prefix of the latest health per agent.
pub const HEALTH: &str = "health/";
/// Set (to anything) in a controller's environment, every fleet change wakes
/// every agent session: the old broadcast, kept as the `scale` bench's baseline.
pub const BROADCAST_WAKES_ENV: &str = "CAMPLANE_BENCH_BROADCAST_WAKES";
/// Foreign camera names one agent session audits; further ones are counted only.
pub const MAX_AUDITED_FOREIGN: usize = 32;

#[derive(Serialize, Deserialize)]
struct EnrollToken {
    agent: String,
    site: String,
    expires_at: Timestamp,
    created_by: String,
    /// The agent record's create revision when the token was made: a token
    /// issued for a registration since deleted does not enrol a new one of
    /// the same name. (None: a token from before this was kept.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    agent_created: Option<i64>,
}

/// The latest health an agent reported, with when it arrived.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentHealth {
    /// Agent.
    pub agent: String,
    /// When the controller received it.
    pub received_at: Timestamp,
    /// The config revision the agent runs.
    pub config_revision: i64,
    /// The agent's own report (see camplane-agent `GatewayHealth`).
    pub health: serde_json::Value,
}

/// The fleet.
pub struct Fleet {
    /// The controller.
    pub ctl: Arc<Controller>,
    /// The CA.
    pub pki: Pki,
    /// Every agent's desired config, built once per fleet change.
    pub index: DesiredIndex,
}

/// An agent record's site (`None`: unreadable, so the agent runs nothing).
fn agent_site(kv: &KeyValue) -> Option<String> {
    let obj: StoredObject = serde_json::from_slice(&kv.value).ok()?;
    Some(serde_json::from_value::<AgentSpec>(obj.spec).ok()?.site)
}

fn token_key(token: &str) -> String {
    format!("{ENROLL}{}", hex::encode(Sha256::digest(token.as_bytes())))
}

/// An agent's session identity: its name, and the certificate it connected with.
#[derive(Debug, Clone)]
pub struct AgentIdentity {
    /// The agent.
    pub name: String,
    /// Its certificate's serial (hex).
    pub serial: String,
    /// Its certificate's end.
    pub not_after: jiff::Timestamp,
}

impl Fleet {
    /// Issues a one-time enrolment token for a site's gateway (valid 24 hours),
    /// registering the agent if it is new.
    pub async fn create_enroll_token(
        &self,
        actor: &Actor,
        site: &str,
        agent: &str,
    ) -> Result<(String, Timestamp, String)> {
        self.ctl
            .require(actor, Operation::WriteRegistry, AuditAction::AgentEnroll)
            .await?;
        let agent = if agent.is_empty() {
            format!("{site}-gw")
        } else {
            agent.to_string()
        };
        if self.ctl.load(Kind::Site, site).is_err() {
            return Err(Error::NotFound(format!("Site {site:?}: register it first")));
        }
        if let Ok((obj, _)) = self.agent_kv(&agent) {
            let st: AgentStatus = obj.status_as();
            if st.revoked {
                // Identities that stay dead: a new token would bring the agent back.
                let msg = format!(
                    "agent {agent:?} is revoked; an admin reinstates it first with `camplane agent reinstate {agent} --reason TEXT`"
                );
                let mut d = Draft::new(
                    &actor.username,
                    AuditAction::AgentEnrollToken,
                    "Agent",
                    &agent,
                );
                d.result = format!("refused: {msg}");
                d.details = serde_json::json!({"site": site});
                self.ctl.audit.record(d).await?;
                return Err(Error::FailedPrecondition(msg));
            }
        }
        let spec = serde_json::to_vec(&AgentSpec { site: site.into() })?;
        self.ctl
            .apply(
                actor,
                vec![(Kind::Agent, agent.clone(), spec)],
                "agent enroll",
            )
            .await?;
        let agent_created = self
            .ctl
            .store
            .get(&format!("{}{agent}", Kind::Agent.prefix()))
            .await?
            .map(|kv| kv.create_revision);
        let token = format!("cpe_{}", hex::encode(rand::random::<[u8; 24]>()));
        let now = self.ctl.now();
        let expires_at = now
            .checked_add(jiff::SignedDuration::from_hours(24))
            .unwrap_or(now);
        let rec = EnrollToken {
            agent: agent.clone(),
            site: site.into(),
            expires_at,
            created_by: actor.username.clone(),
            agent_created,
        };
        let mut d = Draft::new(
            &actor.username,
            AuditAction::AgentEnrollToken,
            "Agent",
            &agent,
        );
        d.details = serde_json::json!({"site": site, "expires_at": expires_at});
        self.ctl
            .audit
            .commit(
                vec![],
                vec![Op::Put(token_key(&token), serde_json::to_vec(&rec)?)],
                d,
            )
            .await?;
        Ok((token, expires_at, agent))
    }

    /// Redeems a one-time token: signs the agent's key. The token is gone after.
    pub async fn enroll(
        &self,
        token: &str,
        csr_pem: &str,
    ) -> Result<(String, String, String, Timestamp)> {
        let key = token_key(token);
        let kv = self
            .ctl
            .store
            .get(&key)
            .await?
            .ok_or_else(|| Error::Unauthenticated("unknown or used enrolment token".into()))?;
        let rec: EnrollToken = serde_json::from_slice(&kv.value)?;
        let now = self.ctl.now();
        if rec.expires_at <= now {
            return Err(Error::Unauthenticated(
                "enrolment token expired; ask for a new one".into(),
            ));
        }
        let days = self.ctl.config.tls.agent_cert_days;
        // Certificate times are real time: peers check them against their own clocks.
        let (cert, serial, expires) =
            self.pki
                .sign_agent(csr_pem, &rec.agent, Timestamp::now(), days)?;
        let okey = format!("{}{}", Kind::Agent.prefix(), rec.agent);
        // The token is spent in the same transaction that records the agent's
        // certificate, compared with both: a second use of the token finds it gone.
        self.ctl
            .update_keys(&[okey.as_str(), key.as_str()], |kvs| {
                if kvs[1].as_ref().map(|t| t.mod_revision) != Some(kv.mod_revision) {
                    return Err(Error::Unauthenticated(
                        "enrolment token was used meanwhile".into(),
                    )
                    .into());
                }
                let agent_obj: StoredObject = match &kvs[0] {
                    Some(a) => serde_json::from_slice(&a.value)?,
                    None => return Err(Error::NotFound(format!("Agent {:?}", rec.agent)).into()),
                };
                // A refused enrolment is on the record, under the agent's name.
                let denied = |error: Error| {
                    let mut d = Draft::new(
                        &format!("agent:{}", rec.agent),
                        AuditAction::AgentEnroll,
                        "Agent",
                        &rec.agent,
                    );
                    d.result = format!("denied: {error}");
                    Refusal {
                        error,
                        audit: Some(Box::new(d)),
                    }
                };
                if let (Some(made), Some(a)) = (rec.agent_created, &kvs[0]) {
                    if a.create_revision != made {
                        // A leaked token tried on a name registered anew.
                        return Err(denied(Error::Unauthenticated(format!(
                            "enrolment token was issued for an earlier registration of agent {:?} (deleted since); ask for a new one",
                            rec.agent
                        ))));
                    }
                }
                let mut new = agent_obj.clone();
                let mut st: AgentStatus = agent_obj.status_as();
                if st.revoked {
                    // Revocation cancels tokens; this refuses one that slipped past
                    // (made or redeemed while the revocation committed).
                    return Err(denied(Error::PermissionDenied(format!(
                        "agent {:?} is revoked",
                        rec.agent
                    ))));
                }
                st.enrolled_at = Some(now);
                st.cert_serial = serial.clone();
                st.cert_expires = Some(expires);
                new.status = serde_json::to_value(&st)?;
                let mut d = Draft::new(
                    &format!("agent:{}", rec.agent),
                    AuditAction::AgentEnrolled,
                    "Agent",
                    &rec.agent,
                );
                d.before = Some(serde_json::to_value(&agent_obj)?);
                d.after = Some(serde_json::to_value(&new)?);
                d.details = serde_json::json!({"serial": serial, "expires": expires});
                let mut change = KeyChange::put(serde_json::to_vec(&new)?, d);
                change.ops.push(Op::Delete(key.clone()));
                Ok(KeyStep::Write(Box::new(change), ()))
            })
            .await?;
        Ok((rec.agent, rec.site, cert, expires))
    }

    fn agent_kv(&self, agent: &str) -> Result<(StoredObject, i64)> {
        let kv = self
            .ctl
            .cache
            .get(&format!("{}{agent}", Kind::Agent.prefix()))
            .ok_or_else(|| Error::NotFound(format!("Agent {agent:?}")))?;
        Ok((serde_json::from_slice(&kv.value)?, kv.mod_revision))
    }

    /// An agent's record read from the store itself, not from the cache: whether
    /// an agent may connect or stay connected must not wait on this replica's watch
    /// (an agent revoked through another controller is refused here at once).
    async fn agent_record_fresh(&self, agent: &str) -> Result<Option<AgentStatus>> {
        let key = format!("{}{agent}", Kind::Agent.prefix());
        let Some(kv) = self.ctl.read_fresh(&[&key]).await?.pop().flatten() else {
            return Ok(None);
        };
        let obj: StoredObject = serde_json::from_slice(&kv.value)?;
        Ok(Some(serde_json::from_value(obj.status).unwrap_or_default()))
    }

    /// Who the peer certificate names, if it is the agent's current, unrevoked one.
    pub async fn authenticate_agent(&self, peer_der: Option<&[u8]>) -> Result<String> {
        let der = peer_der.ok_or_else(|| {
            Error::Unauthenticated(
                "agents connect with their client certificate (mutual TLS)".into(),
            )
        })?;
        let (cn, serial) = crate::core::pki::peer_identity(der)?;
        let st = self
            .agent_record_fresh(&cn)
            .await?
            .ok_or_else(|| Error::Unauthenticated(format!("agent {cn:?} is not registered")))?;
        if st.revoked {
            return Err(Error::PermissionDenied(format!("agent {cn:?} is revoked")));
        }
        if !crate::core::pki::same_serial(&st.cert_serial, &serial) {
            return Err(Error::Unauthenticated(format!(
                "agent {cn:?} presented a replaced certificate"
            )));
        }
        Ok(cn)
    }

    /// Whether a connected agent is still allowed (not revoked, still registered),
    /// from the store itself.
    pub async fn authenticate_agent_name(&self, agent: &str) -> Result<AgentStatus> {
        let st = self.agent_record_fresh(agent).await?.ok_or_else(|| {
            Error::Unauthenticated(format!("agent {agent:?} is no longer registered"))
        })?;
        if st.revoked {
            return Err(Error::PermissionDenied(format!(
                "agent {agent:?} is revoked"
            )));
        }
        Ok(st)
    }

    /// Who the peer certificate names, as [`Fleet::authenticate_agent`], with
    /// what an open session checks again: the certificate's serial and end.
    pub async fn authenticate_agent_session(
        &self,
        peer_der: Option<&[u8]>,
    ) -> Result<AgentIdentity> {
        let name = self.authenticate_agent(peer_der).await?;
        let der = peer_der.unwrap_or_default();
        Ok(AgentIdentity {
            serial: crate::core::pki::peer_identity(der)?.1,
            not_after: crate::core::pki::peer_not_after(der)?,
            name,
        })
    }

    /// Whether an open session's agent is still allowed on the certificate it
    /// connected with: registered, not revoked, that certificate still its
    /// current one (not replaced by an enrolment, nor cleared by a revoke and
    /// reinstate), and not expired. TLS checked all of it only at the
    /// handshake; a session lives for weeks.
    pub async fn agent_session_allowed(&self, id: &AgentIdentity) -> Result<()> {
        let st = self.authenticate_agent_name(&id.name).await?;
        if !crate::core::pki::same_serial(&st.cert_serial, &id.serial) {
            return Err(Error::Unauthenticated(format!(
                "agent {:?}'s certificate was replaced: its session ends",
                id.name
            )));
        }
        // The clock rustls checked the certificate against at the handshake.
        if jiff::Timestamp::now() >= id.not_after {
            return Err(Error::Unauthenticated(format!(
                "agent {:?}'s certificate expired at {}: its session ends",
                id.name, id.not_after
            )));
        }
        Ok(())
    }

    /// A new certificate for an enrolled agent.
    pub async fn renew(&self, agent: &str, csr_pem: &str) -> Result<(String, Timestamp)> {
        self.ctl
            .update(Kind::Agent, agent, |obj| {
                let obj = obj.ok_or_else(|| Error::NotFound(format!("Agent {agent:?}")))?;
                let (cert, serial, expires) = self.pki.sign_agent(
                    csr_pem,
                    agent,
                    Timestamp::now(),
                    self.ctl.config.tls.agent_cert_days,
                )?;
                let mut st: AgentStatus =
                    serde_json::from_value(obj.status.clone()).unwrap_or_default();
                st.cert_serial = serial;
                st.cert_expires = Some(expires);
                let mut new = obj.clone();
                new.status = serde_json::to_value(&st)?;
                let who = format!("agent:{agent}");
                let mut change = Change::put(
                    &who,
                    AuditAction::AgentRenewed,
                    new,
                    serde_json::Value::Null,
                );
                // The agent's own renewal: the entry carries the new record only.
                change.audit_before = false;
                Ok(Step::Write(Box::new(change), (cert, expires)))
            })
            .await
    }

    /// Keys of the agent's outstanding enrolment tokens.
    async fn token_keys(&self, agent: &str) -> Result<Vec<String>> {
        let l = self.ctl.store.list(ENROLL).await?;
        Ok(l.kvs
            .into_iter()
            .filter(|kv| {
                serde_json::from_slice::<EnrollToken>(&kv.value).is_ok_and(|t| t.agent == agent)
            })
            .map(|kv| kv.key)
            .collect())
    }

    /// Refuses an agent from now on (its sessions end at their next message)
    /// and cancels its outstanding enrolment tokens in the same transaction.
    pub async fn revoke(&self, actor: &Actor, agent: &str) -> Result<StoredObject> {
        self.ctl
            .require(actor, Operation::WriteRegistry, AuditAction::AgentRevoke)
            .await?;
        let tokens = self.token_keys(agent).await?;
        self.ctl
            .update(Kind::Agent, agent, |obj| {
                let obj = obj.ok_or_else(|| Error::NotFound(format!("Agent {agent:?}")))?;
                let mut st: AgentStatus =
                    serde_json::from_value(obj.status.clone()).unwrap_or_default();
                st.revoked = true;
                let mut new = obj.clone();
                new.status = serde_json::to_value(&st)?;
                let mut change = Change::put(
                    &actor.username,
                    AuditAction::AgentRevoke,
                    new.clone(),
                    serde_json::json!({"enrolment_tokens_cancelled": tokens.len()}),
                );
                change
                    .ops
                    .extend(tokens.iter().map(|k| Op::Delete(k.clone())));
                Ok(Step::Write(Box::new(change), new))
            })
            .await
    }

    /// An admin lets a revoked agent enrol again, with a reason (audited
    /// `agent.reinstate`). Its old certificate stays refused: the recorded
    /// serial is cleared, so the gateway needs a new token and enrolment.
    pub async fn reinstate(
        &self,
        actor: &Actor,
        agent: &str,
        reason: &str,
    ) -> Result<StoredObject> {
        self.ctl
            .require(actor, Operation::WriteRegistry, AuditAction::AgentReinstate)
            .await?;
        let shown: String = agent.chars().take(80).collect();
        if reason.trim().is_empty()
            || reason.chars().count() > 1000
            || reason.chars().any(char::is_control)
        {
            let msg = "reason: 1-1000 characters without control characters are required";
            let mut d = Draft::new(
                &actor.username,
                AuditAction::AgentReinstate,
                "Agent",
                &shown,
            );
            d.result = format!("refused: {msg}");
            self.ctl.audit.record(d).await?;
            return Err(Error::InvalidArgument(msg.into()));
        }
        let tokens = self.token_keys(agent).await?;
        self.ctl
            .update(Kind::Agent, agent, |obj| {
                let obj = obj.ok_or_else(|| Error::NotFound(format!("Agent {agent:?}")))?;
                let mut st: AgentStatus = obj.status_as();
                if !st.revoked {
                    return Err(Error::FailedPrecondition(format!(
                        "agent {shown:?} is not revoked"
                    ))
                    .into());
                }
                st.revoked = false;
                st.cert_serial.clear();
                st.cert_expires = None;
                let mut new = obj.clone();
                new.status = serde_json::to_value(&st)?;
                let mut change = Change::put(
                    &actor.username,
                    AuditAction::AgentReinstate,
                    new.clone(),
                    serde_json::json!({"reason": reason, "enrolment_tokens_cancelled": tokens.len()}),
                );
                // A token that slipped past the revocation (made while it
                // committed) goes too: the gateway enrols with a new one.
                change
                    .ops
                    .extend(tokens.iter().map(|k| Op::Delete(k.clone())));
                Ok(Step::Write(Box::new(change), new))
            })
            .await
    }

    /// What an agent must run now, from the index (rebuilt if the fleet changed).
    pub fn desired_entry(&self, agent: &str) -> Result<Arc<DesiredEntry>> {
        self.desired_map()?
            .get(agent)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("Agent {agent:?}")))
    }

    /// The index, brought up to the cache's last fleet change first: the
    /// changed records are parsed and only the agents they concern rebuilt and
    /// woken (whoever asks first does it; the others wait and share it). Built
    /// in full the first time and when the change log no longer reaches back.
    fn desired_map(&self) -> Result<Arc<DesiredMap>> {
        let cache = &self.ctl.cache;
        let seq = cache.fleet_seq();
        let mut g = lock(&self.index.built);
        if let Some(b) = g.as_ref().filter(|b| b.through == seq) {
            return Ok(b.map.clone());
        }
        let changes = match g.as_ref() {
            Some(b) => cache.fleet_changes(b.through),
            None => FleetChanges::Relist { through: seq },
        };
        match (changes, g.as_mut()) {
            (FleetChanges::Keys { through, keys }, Some(b)) => {
                let mut touched = BTreeSet::new();
                let changed = self
                    .apply_keys(&mut b.rows, &keys, &mut touched)
                    .and_then(|()| {
                        Ok(index::rebuild(
                            Arc::make_mut(&mut b.map),
                            &b.rows,
                            &touched,
                        )?)
                    });
                match changed {
                    Ok(changed) => {
                        b.through = through;
                        self.index.wake(changed.iter().map(String::as_str));
                        Ok(b.map.clone())
                    }
                    Err(e) => {
                        // Half applied: the next call builds in full.
                        *g = None;
                        self.index.wake_all();
                        Err(e)
                    }
                }
            }
            (FleetChanges::Keys { through, .. } | FleetChanges::Relist { through }, _) => {
                let rows = self.all_rows()?;
                let agents = rows.all_agents();
                let mut map = DesiredMap::with_capacity(agents.len());
                index::rebuild(&mut map, &rows, &agents)?;
                match g.as_ref() {
                    Some(old) => {
                        let changed = changed_agents(&old.map, &map);
                        self.index.wake(changed.iter().map(String::as_str));
                    }
                    None => {
                        self.index.wake_all();
                    }
                }
                let map = Arc::new(map);
                *g = Some(index::Built {
                    through,
                    rows,
                    map: map.clone(),
                });
                Ok(map)
            }
        }
    }

    /// Takes changed fleet keys into the rows, noting the agents they concern.
    fn apply_keys(
        &self,
        rows: &mut index::Rows,
        keys: &[String],
        touched: &mut BTreeSet<String>,
    ) -> Result<()> {
        let cache = &self.ctl.cache;
        let mut holds = false;
        for k in keys {
            if let Some(name) = k.strip_prefix(Kind::Agent.prefix()) {
                rows.set_agent(name, cache.get(k).and_then(|kv| agent_site(&kv)), touched);
            } else if let Some(name) = k
                .strip_prefix(Kind::Camera.prefix())
                .or_else(|| k.strip_prefix(crate::core::secrets::CREDENTIALS))
            {
                let kv = cache.get(&format!("{}{name}", Kind::Camera.prefix()));
                rows.set_camera(name, kv.and_then(|kv| self.camera_row(name, &kv)), touched);
            } else if k.starts_with(Kind::LegalHold.prefix()) {
                holds = true;
            }
        }
        if holds {
            rows.set_holds(self.ctl.active_holds()?, touched);
        }
        Ok(())
    }

    /// The rows of every agent, camera and active hold, parsed from the cache.
    fn all_rows(&self) -> Result<index::Rows> {
        let mut rows = index::Rows::default();
        let mut touched = BTreeSet::new();
        let prefix = Kind::Agent.prefix();
        for kv in self.ctl.cache.list(prefix) {
            rows.set_agent(&kv.key[prefix.len()..], agent_site(&kv), &mut touched);
        }
        let prefix = Kind::Camera.prefix();
        for kv in self.ctl.cache.list(prefix) {
            let name = &kv.key[prefix.len()..];
            rows.set_camera(name, self.camera_row(name, &kv), &mut touched);
        }
        rows.set_holds(self.ctl.active_holds()?, &mut touched);
        Ok(rows)
    }

    /// What a camera's record contributes to its agent's config (`None`: an
    /// unreadable record, which runs nowhere).
    fn camera_row(&self, name: &str, kv: &KeyValue) -> Option<index::CamRow> {
        let obj: StoredObject = match serde_json::from_slice(&kv.value) {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(camera = name, error = %e, "unreadable camera record left out of the fleet index");
                return None;
            }
        };
        let c: CameraSpec = serde_json::from_value(obj.spec).ok()?;
        let st: CameraStatus = serde_json::from_value(obj.status).unwrap_or_default();
        let runs = (st.state == CameraState::Active).then(|| {
            // The only place credentials join the address: for this agent.
            let (main_url, sub_url) =
                self.ctl
                    .agent_stream_urls(name, &c.streams.main, c.streams.sub.as_deref());
            AgentCamera {
                id: name.to_string(),
                main_url,
                sub_url,
                recording: c.recording,
                retention_days: c.retention_days.min(MAX_RETENTION_DAYS),
                alpr: c.alpr,
                alpr_fps: c.alpr_fps,
                location: Some(c.location),
                mobile: c.kind == CameraKind::Mobile,
            }
        });
        Some(index::CamRow {
            agent: c.agent,
            former: st.former_agents,
            alpr: c.alpr,
            runs,
        })
    }

    /// Follows fleet changes until `cancel`: after each, the index takes in the
    /// changed keys once and wakes only the sessions of agents whose desired
    /// config changed (see [`Fleet::desired_map`]); a hotlist change wakes the
    /// sessions of the ALPR agents (each sends its agent the delta). Sessions stay level-triggered
    /// with their own tick as the net for anything missed.
    pub async fn wake_on_changes(self: Arc<Self>, cancel: CancellationToken) {
        let mut changes = self.ctl.cache.subscribe_fleet();
        let hotlists = || self.ctl.cache.prefix_stamp(crate::alpr::hotlist::INFO);
        let mut lists = hotlists();
        // For the `scale` bench's baseline only: every change wakes every
        // session, as all did before wakes were targeted.
        let broadcast = std::env::var_os(BROADCAST_WAKES_ENV).is_some();
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                r = changes.changed() => if r.is_err() { return },
            }
            let now = hotlists();
            let lists_changed = now != lists;
            lists = now;
            if broadcast {
                self.index.wake_all();
                continue;
            }
            if self.index.sessions() == 0 {
                // Nobody to wake: the next session brings the index up to date.
                continue;
            }
            match self.desired_map() {
                Ok(map) if lists_changed => {
                    let alpr = alpr_agents(&map);
                    self.index.wake(alpr.iter().map(String::as_str));
                }
                Ok(_) => {}
                Err(e) => {
                    // Each session meets the error itself, as before the index.
                    tracing::warn!(error = %e, "desired config index not built");
                    self.index.wake_all();
                }
            }
        }
    }

    /// What an agent must run now: its active cameras and the holds on them.
    pub fn desired(&self, agent: &str) -> Result<AgentDesired> {
        Ok(self.desired_entry(agent)?.desired.clone())
    }

    /// Records a config push in the audit log.
    pub async fn audit_push(
        &self,
        agent: &str,
        revision: i64,
        desired: &AgentDesired,
    ) -> Result<()> {
        let mut d = Draft::new("system", AuditAction::ConfigPush, "Agent", agent);
        d.details = serde_json::json!({"revision": revision, "cameras": desired.cameras.iter().map(|c| &c.id).collect::<Vec<_>>()});
        self.ctl.audit.record(d).await?;
        Ok(())
    }

    /// An agent speaks only for its own cameras: what is kept of a report
    /// (`None`: nothing, refuse it), and the cameras named that are not the
    /// agent's. The rule is [`reports::screen`].
    pub fn screen_report(
        &self,
        agent: &str,
        kind: &str,
        json: &[u8],
    ) -> Result<(Option<Vec<u8>>, Vec<String>)> {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(json) else {
            // store_report refuses it, naming the error.
            return Ok((Some(json.to_vec()), Vec::new()));
        };
        let entry = self.desired_entry(agent)?;
        let kind = ReportKind::parse(kind);
        let (s, foreign) = reports::screen(kind, &value, |c| {
            entry.assigned.contains(c)
                // A gateway's late windows of a camera it recorded before the
                // camera moved: the reads it counted then.
                || (kind == Some(ReportKind::Windows) && entry.formerly.contains(c))
        });
        Ok(match s {
            reports::Screened::Keep => (Some(json.to_vec()), foreign),
            reports::Screened::Strip(v) => (Some(serde_json::to_vec(&v)?), foreign),
            reports::Screened::Refuse => (None, foreign),
        })
    }

    /// Counts a report's foreign cameras and audits those this session has
    /// not audited yet (`audited` is the session's; at most
    /// [`MAX_AUDITED_FOREIGN`] names, then counted only), so a misbehaving
    /// agent cannot grow the audit log without bound.
    pub async fn refuse_foreign(
        &self,
        agent: &str,
        kind: &str,
        foreign: &[String],
        stored: bool,
        audited: &mut std::collections::HashSet<String>,
    ) -> Result<()> {
        let kind_shown = reports::shown(kind);
        self.ctl.emit(ReportRefused {
            agent,
            kind: ReportRefused::kind_label(kind),
            cameras: foreign.len(),
        });
        let new: Vec<String> = foreign
            .iter()
            .map(|c| reports::shown(c))
            .filter(|c| !audited.contains(c))
            .take(MAX_AUDITED_FOREIGN.saturating_sub(audited.len()))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        audited.extend(new.iter().cloned());
        let mut d = Draft::new(
            &format!("agent:{agent}"),
            AuditAction::AgentReportRefused,
            "Agent",
            agent,
        );
        d.result = if stored {
            "refused: cameras not assigned to this agent left out of its report".into()
        } else {
            "refused: a report about a camera not assigned to this agent".into()
        };
        d.details = serde_json::json!({"kind": kind_shown, "cameras": new});
        self.ctl.audit.record(d).await?;
        Ok(())
    }

    /// Stores a report once per idempotency key. Returns whether it was new.
    pub async fn store_report(
        &self,
        agent: &str,
        key: &str,
        kind: &str,
        json: &[u8],
        config_revision: i64,
    ) -> Result<bool> {
        if key.is_empty()
            || key.len() > 200
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        {
            return Err(Error::InvalidArgument(format!(
                "report key {key:?} is not valid"
            )));
        }
        let value: serde_json::Value = serde_json::from_slice(json)
            .map_err(|e| Error::InvalidArgument(format!("report {key}: {e}")))?;
        let rkey = format!("{REPORTS}{agent}/{key}");
        let now = self.ctl.now();
        // A kind this build does not know (a newer agent's) is kept as sent.
        let typed = ReportKind::parse(kind);
        // Health is kept once, as the agent's latest (below): its key here only makes
        // a resent report count once, so it carries no copy of the report.
        let rec = if typed == Some(ReportKind::Health) {
            serde_json::json!({"agent": agent, "kind": kind, "received_at": now})
        } else {
            serde_json::json!({"agent": agent, "kind": kind, "received_at": now, "report": value})
        };
        let mut ops = vec![Op::Put(rkey.clone(), serde_json::to_vec(&rec)?)];
        let mut alert = None;
        if typed == Some(ReportKind::Alert) {
            // Stored with its report in one transaction: a resent report makes no second alert.
            let (a, op) = crate::alpr::hotlist::alert_ops(agent, key, now, &value)?;
            ops.push(op);
            alert = Some(a);
        }
        if typed == Some(ReportKind::Windows) {
            // Filed under its month in the same transaction: the public log's input.
            match crate::publog::file_window_ops(agent, key, now, &value, &self.ctl.time_zone()) {
                Some(more) => ops.extend(more),
                None => tracing::warn!(agent, key, "window report not filed: malformed"),
            }
        }
        let out = self
            .ctl
            .store
            .txn(vec![Compare::ModRevision(rkey.clone(), 0)], ops)
            .await?;
        if out.succeeded {
            self.ctl.emit(ReportStored { agent, kind: typed });
        }
        if let (true, Some(a)) = (out.succeeded, alert) {
            self.ctl.emit(AlertRaised {
                agent,
                id: &a.id,
                list: &a.report.list,
            });
            let mut d = Draft::new("system", AuditAction::AlertRaised, "Alert", &a.id);
            d.details = serde_json::json!({
                "agent": agent, "camera": a.report.camera, "list": a.report.list,
                "category": a.report.category, "read_id": a.report.read_id,
            });
            self.ctl.audit.record(d).await?;
        }
        if out.succeeded && typed == Some(ReportKind::Health) {
            let h = AgentHealth {
                agent: agent.into(),
                received_at: now,
                config_revision,
                health: value,
            };
            self.ctl
                .store
                .put(&format!("{HEALTH}{agent}"), serde_json::to_vec(&h)?)
                .await?;
        }
        Ok(out.succeeded)
    }

    /// The latest health of every agent.
    pub async fn health(&self, actor: &Actor) -> Result<Vec<AgentHealth>> {
        self.ctl
            .require(actor, Operation::ReadObjects, AuditAction::CameraStatus)
            .await?;
        let l = self.ctl.store.list(HEALTH).await?;
        let hidden = self.ctl.covert_cameras_hidden_from(actor)?;
        l.kvs
            .iter()
            .map(|kv| {
                let mut h: AgentHealth = serde_json::from_slice(&kv.value)?;
                // Which gateway records a covert camera says where it is.
                // (`get_mut`: a report that is not an object must not panic.)
                if let Some(cams) = h.health.get_mut("cameras").and_then(|v| v.as_array_mut()) {
                    cams.retain(|c| c["id"].as_str().is_none_or(|id| !hidden.contains(id)));
                }
                Ok(h)
            })
            .collect()
    }

    /// Every active-collection window the agents reported, oldest first per agent.
    pub async fn windows(&self, actor: &Actor) -> Result<Vec<serde_json::Value>> {
        self.ctl
            .require(actor, Operation::ReadObjects, AuditAction::CameraWindows)
            .await?;
        let l = self.ctl.store.list(REPORTS).await?;
        let hidden = self.ctl.covert_cameras_hidden_from(actor)?;
        let mut out: Vec<serde_json::Value> = Vec::new();
        let mut amendments = Vec::new();
        for kv in l.kvs {
            let v: serde_json::Value = serde_json::from_slice(&kv.value)?;
            if v["kind"] == ReportKind::Windows.as_str()
                && v["report"]["camera"]
                    .as_str()
                    .is_none_or(|c| !hidden.contains(c))
            {
                let mut w = v["report"].clone();
                w["agent"] = v["agent"].clone();
                if w["amends"] == true {
                    amendments.push(w);
                } else {
                    out.push(w);
                }
            }
        }
        // Reads merged after their window was reported add to that window.
        for a in amendments {
            let base = out.iter_mut().find(|w| {
                w["agent"] == a["agent"] && w["camera"] == a["camera"] && w["start"] == a["start"]
            });
            match base {
                Some(w) => merge_counts(w, &a),
                None => out.push(a),
            }
        }
        // Windows cut at whole hours join into the collection period they belong to.
        let start = |w: &serde_json::Value| {
            w["start"]
                .as_str()
                .and_then(|s| s.parse::<Timestamp>().ok())
        };
        out.sort_by(|a, b| {
            (a["agent"].as_str(), a["camera"].as_str(), start(a)).cmp(&(
                b["agent"].as_str(),
                b["camera"].as_str(),
                start(b),
            ))
        });
        let mut joined: Vec<serde_json::Value> = Vec::with_capacity(out.len());
        for w in out {
            match joined.last_mut() {
                Some(p)
                    if p["continues"] == true
                        && p["agent"] == w["agent"]
                        && p["camera"] == w["camera"] =>
                {
                    merge_counts(p, &w);
                    p["end"] = w["end"].clone();
                    match w.get("continues") {
                        Some(c) => p["continues"] = c.clone(),
                        None => {
                            if let Some(o) = p.as_object_mut() {
                                o.remove("continues");
                            }
                        }
                    }
                }
                _ => joined.push(w),
            }
        }
        Ok(joined)
    }
}

/// Adds an amendment's plate and hit counts to its window.
fn merge_counts(w: &mut serde_json::Value, a: &serde_json::Value) {
    let n = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
    w["plates_read"] = (n(&w["plates_read"]) + n(&a["plates_read"])).into();
    if let Some(hits) = a["hits"].as_object() {
        if !w["hits"].is_object() {
            w["hits"] = serde_json::json!({});
        }
        for (k, v) in hits {
            w["hits"][k] = (n(&w["hits"][k]) + n(v)).into();
        }
    }
}

/// Cameras in the agents' latest health reports: (online, reported).
pub async fn camera_health_counts(ctl: &Controller) -> (u64, u64) {
    let mut online = 0u64;
    let mut reported = 0u64;
    if let Ok(l) = ctl.store.list(HEALTH).await {
        for kv in l.kvs {
            if let Ok(h) = serde_json::from_slice::<AgentHealth>(&kv.value) {
                for c in h.health["cameras"].as_array().into_iter().flatten() {
                    reported += 1;
                    if c["state"] == "online" {
                        online += 1;
                    }
                }
            }
        }
    }
    (online, reported)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::lagging_pair;

    /// An agent revoked through one controller is refused by another whose watch
    /// hears nothing: the connected session's check reads the store.
    #[tokio::test]
    async fn a_lagging_replica_refuses_an_agent_revoked_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, admin) = lagging_pair(dir.path()).await;
        let site = br#"{"address": "50 W 13th St", "lat": 42.5006, "lon": -90.6646}"#;
        a.apply(
            &admin,
            vec![
                (Kind::Site, "city-hall".into(), site.to_vec()),
                (
                    Kind::Agent,
                    "gw-1".into(),
                    br#"{"site": "city-hall"}"#.to_vec(),
                ),
            ],
            "test",
        )
        .await
        .unwrap();
        let now = a.clock.now();
        let fleet = |ctl: Arc<Controller>| {
            let store = ctl.store.clone();
            async move {
                Fleet {
                    pki: Pki::load_or_create(&store, "T", now).await.unwrap(),
                    ctl,
                    index: Default::default(),
                }
            }
        };
        let (fa, fb) = (fleet(a).await, fleet(b).await);
        fb.authenticate_agent_name("gw-1").await.unwrap();
        fa.revoke(&admin, "gw-1").await.unwrap();
        let e = fb.authenticate_agent_name("gw-1").await.unwrap_err();
        assert!(
            matches!(e, Error::PermissionDenied(ref m) if m.contains("revoked")),
            "B kept a revoked agent: {e}"
        );
    }
}
