//! Agents (site gateways): enrolment with one-time tokens, their certificates,
//! the desired config each must run, and the reports they send back.
//!
//! Reports carry an idempotency key and are stored create-if-absent under
//! `reports/{agent}/{key}`, so a report replayed after a reconnect is stored once.
//! The latest health of each agent lives under `health/{agent}` (not mirrored by the
//! cache: it changes often and only `camera status` reads it).

pub mod reports;
pub mod session;

use crate::core::audit::Draft;
use crate::core::auth::{Actor, Operation};
use crate::core::events::{AlertRaised, ReportRefused, ReportStored};
use crate::core::pki::Pki;
use crate::core::store::{Compare, Op};
use crate::core::AuditAction;
use crate::core::{Change, Controller, Refusal, Step, StoredObject};
use crate::core::{KeyChange, KeyStep};
use crate::{Error, Result};
use camplane_config::model::*;
use camplane_proto::kinds::ReportKind;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
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

/// One agent's desired config and its JSON (what is pushed).
#[derive(Debug)]
pub struct DesiredEntry {
    /// The config.
    pub desired: AgentDesired,
    /// Its JSON.
    pub json: Vec<u8>,
    /// Every camera assigned to the agent, in any state: the cameras its
    /// reports may speak for (see [`reports`]).
    pub assigned: std::collections::HashSet<String>,
    /// The mod revision of the agent's record it was built from.
    agent_rev: i64,
}

/// Every agent's desired config, computed for all agents in one pass over the
/// cameras and holds whenever a fleet key changed (see [`crate::core::cache::FLEET`]),
/// and the wake channel of each agent with a session here. One task
/// ([`Fleet::wake_on_changes`]) rebuilds it once per change and wakes only the
/// sessions whose agent's entry changed, so the time from a change to its agent
/// does not grow with the fleet.
#[derive(Default)]
pub struct DesiredIndex {
    /// The fleet revision it was built at, and the entries.
    built: std::sync::Mutex<Option<(i64, Arc<DesiredMap>)>>,
    /// Agent to the channel its sessions wait on.
    wakes: Arc<std::sync::Mutex<WakeMap>>,
}

/// Agent name to desired config.
pub type DesiredMap = std::collections::HashMap<String, Arc<DesiredEntry>>;

type WakeMap = std::collections::HashMap<String, tokio::sync::watch::Sender<u64>>;

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A session's wake-up call: fires when its agent's desired config changed, or
/// a hotlist did and the agent reads plates. Dropping the last one of an agent forgets the agent.
pub struct Wake {
    rx: tokio::sync::watch::Receiver<u64>,
    agent: String,
    wakes: Arc<std::sync::Mutex<WakeMap>>,
}

impl Wake {
    /// Waits for the next wake-up (pending forever if none can come).
    pub async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for Wake {
    fn drop(&mut self) {
        let mut g = lock(&self.wakes);
        // This receiver still counts: the last session of the agent has it.
        if g.get(&self.agent)
            .is_some_and(|tx| tx.receiver_count() <= 1)
        {
            g.remove(&self.agent);
        }
    }
}

impl DesiredIndex {
    /// The wake-up of a session of `agent`, to take before its first look at
    /// the desired config (so no change between the two is missed).
    pub fn subscribe(&self, agent: &str) -> Wake {
        let rx = lock(&self.wakes)
            .entry(agent.to_string())
            .or_insert_with(|| tokio::sync::watch::channel(0).0)
            .subscribe();
        Wake {
            rx,
            agent: agent.to_string(),
            wakes: self.wakes.clone(),
        }
    }

    /// Wakes the sessions of these agents; returns how many agents had one.
    pub fn wake<'a>(&self, agents: impl IntoIterator<Item = &'a str>) -> usize {
        let g = lock(&self.wakes);
        agents
            .into_iter()
            .filter_map(|a| g.get(a))
            .map(|tx| tx.send_modify(|n| *n = n.wrapping_add(1)))
            .count()
    }

    /// How many agents have a session here.
    pub fn sessions(&self) -> usize {
        lock(&self.wakes).len()
    }

    /// Wakes every session (the index could not be built, or there was none to
    /// compare with).
    pub fn wake_all(&self) -> usize {
        let g = lock(&self.wakes);
        for tx in g.values() {
            tx.send_modify(|n| *n = n.wrapping_add(1));
        }
        g.len()
    }
}

/// The agents whose desired config (what is pushed) differs between two
/// builds of the index, those added and removed included, sorted. Only these
/// sessions need waking; the rest would find nothing to send.
pub fn changed_agents(old: &DesiredMap, new: &DesiredMap) -> Vec<String> {
    let mut out: Vec<String> = new
        .iter()
        .filter(|(a, e)| {
            old.get(*a)
                .is_none_or(|o| !Arc::ptr_eq(o, e) && o.json != e.json)
        })
        .map(|(a, _)| a.clone())
        .collect();
    out.extend(old.keys().filter(|a| !new.contains_key(*a)).cloned());
    out.sort();
    out
}

/// The agents that match plates: those with at least one ALPR camera, sorted.
/// A hotlist change concerns these only (issue #17: hotlist deltas go to every
/// ALPR agent).
pub fn alpr_agents(map: &DesiredMap) -> Vec<String> {
    let mut out: Vec<String> = map
        .iter()
        .filter(|(_, e)| e.desired.cameras.iter().any(|c| c.alpr))
        .map(|(a, _)| a.clone())
        .collect();
    out.sort();
    out
}

/// The sessions one fleet change wakes: the agents whose desired config changed
/// between `old` and `new` and, when a hotlist changed, every ALPR agent of
/// `new`; sorted, each once.
pub fn agents_to_wake(old: &DesiredMap, new: &DesiredMap, hotlists_changed: bool) -> Vec<String> {
    let mut out = changed_agents(old, new);
    if hotlists_changed {
        out.extend(alpr_agents(new));
        out.sort();
        out.dedup();
    }
    out
}

fn token_key(token: &str) -> String {
    format!("{ENROLL}{}", hex::encode(Sha256::digest(token.as_bytes())))
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
                let mut new = agent_obj.clone();
                let mut st: AgentStatus = agent_obj.status_as();
                if st.revoked {
                    // Revocation cancels tokens; this refuses one that slipped past
                    // (made or redeemed while the revocation committed).
                    let msg = format!("agent {:?} is revoked", rec.agent);
                    let mut d = Draft::new(
                        &format!("agent:{}", rec.agent),
                        AuditAction::AgentEnroll,
                        "Agent",
                        &rec.agent,
                    );
                    d.result = format!("denied: {msg}");
                    return Err(Refusal {
                        error: Error::PermissionDenied(msg),
                        audit: Some(Box::new(d)),
                    });
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

    /// Who the peer certificate names, if it is the agent's current, unrevoked one.
    pub fn authenticate_agent(&self, peer_der: Option<&[u8]>) -> Result<String> {
        let der = peer_der.ok_or_else(|| {
            Error::Unauthenticated(
                "agents connect with their client certificate (mutual TLS)".into(),
            )
        })?;
        let (cn, serial) = crate::core::pki::peer_identity(der)?;
        let (obj, _) = self
            .agent_kv(&cn)
            .map_err(|_| Error::Unauthenticated(format!("agent {cn:?} is not registered")))?;
        let st: AgentStatus = serde_json::from_value(obj.status).unwrap_or_default();
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

    /// Whether a connected agent is still allowed (not revoked, still registered).
    pub fn authenticate_agent_name(&self, agent: &str) -> Result<()> {
        let (obj, _) = self.agent_kv(agent).map_err(|_| {
            Error::Unauthenticated(format!("agent {agent:?} is no longer registered"))
        })?;
        let st: AgentStatus = serde_json::from_value(obj.status).unwrap_or_default();
        if st.revoked {
            return Err(Error::PermissionDenied(format!(
                "agent {agent:?} is revoked"
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
                let change = Change::put(
                    &actor.username,
                    AuditAction::AgentReinstate,
                    new.clone(),
                    serde_json::json!({"reason": reason}),
                );
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

    /// The index at the cache's current fleet revision, built once per revision
    /// (whoever asks first builds it; the others wait and share it).
    fn desired_map(&self) -> Result<Arc<DesiredMap>> {
        let rev = self.ctl.cache.fleet_revision();
        let mut g = lock(&self.index.built);
        match g.as_ref() {
            Some((r, m)) if *r == rev => Ok(m.clone()),
            _ => {
                let prev = g.as_ref().map(|(_, m)| m.clone());
                let m = Arc::new(self.build_index(prev.as_deref())?);
                *g = Some((rev, m.clone()));
                Ok(m)
            }
        }
    }

    /// Follows fleet changes until `cancel`: after each, the index is rebuilt
    /// once and only the sessions of agents whose desired config changed are
    /// woken; a hotlist change wakes the sessions of the ALPR agents (each
    /// sends its agent the delta). Sessions stay level-triggered with their
    /// own tick as the net for anything missed.
    pub async fn wake_on_changes(self: Arc<Self>, cancel: CancellationToken) {
        let mut changes = self.ctl.cache.subscribe_fleet();
        let hotlists = || self.ctl.cache.prefix_stamp(crate::alpr::hotlist::INFO);
        let mut lists = hotlists();
        let mut prev = self.desired_map().ok();
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
                // Nobody to wake: the next session builds the index it needs,
                // and a change then wakes everyone once (nothing to diff with).
                prev = None;
                continue;
            }
            match self.desired_map() {
                Ok(new) => {
                    match &prev {
                        Some(old) => {
                            let wake = agents_to_wake(old, &new, lists_changed);
                            self.index.wake(wake.iter().map(String::as_str));
                        }
                        None => {
                            self.index.wake_all();
                        }
                    }
                    prev = Some(new);
                }
                Err(e) => {
                    // Each session meets the error itself, as before the index.
                    tracing::warn!(error = %e, "desired config index not built");
                    self.index.wake_all();
                    prev = None;
                }
            }
        }
    }

    /// Every registered agent's desired config, in one pass. What `prev` (the
    /// last build) holds is reused where its inputs did not change: an agent
    /// record at the same revision is not parsed again, and an entry equal to
    /// the old one keeps the old one (no JSON made), so a change costs little
    /// per agent it does not concern.
    fn build_index(&self, prev: Option<&DesiredMap>) -> Result<DesiredMap> {
        type Building = (
            String,
            Vec<AgentCamera>,
            std::collections::HashSet<String>,
            i64,
        );
        let mut by_agent: std::collections::HashMap<String, Building> = Default::default();
        let prefix = Kind::Agent.prefix();
        for kv in self.ctl.cache.list(prefix) {
            let name = &kv.key[prefix.len()..];
            let old = prev
                .and_then(|p| p.get(name))
                .filter(|e| e.agent_rev == kv.mod_revision);
            let site = match old {
                Some(e) => e.desired.site.clone(),
                None => {
                    let obj: StoredObject = serde_json::from_slice(&kv.value)?;
                    let Ok(spec) = serde_json::from_value::<AgentSpec>(obj.spec) else {
                        continue;
                    };
                    spec.site
                }
            };
            by_agent.insert(
                name.to_string(),
                (site, Vec::new(), Default::default(), kv.mod_revision),
            );
        }
        for (cam, _) in self.ctl.list(Kind::Camera)? {
            let Ok(c) = serde_json::from_value::<CameraSpec>(cam.spec) else {
                continue;
            };
            if let Some(e) = c.agent.as_deref().and_then(|a| by_agent.get_mut(a)) {
                e.2.insert(cam.name.clone());
            }
            let st: CameraStatus = serde_json::from_value(cam.status).unwrap_or_default();
            if st.state != CameraState::Active {
                continue;
            }
            if let Some(e) = c.agent.as_deref().and_then(|a| by_agent.get_mut(a)) {
                // The only place credentials join the address: for this agent.
                let (main_url, sub_url) = self.ctl.agent_stream_urls(
                    &cam.name,
                    &c.streams.main,
                    c.streams.sub.as_deref(),
                );
                e.1.push(AgentCamera {
                    id: cam.name.clone(),
                    main_url,
                    sub_url,
                    recording: c.recording,
                    retention_days: c.retention_days.min(MAX_RETENTION_DAYS),
                    alpr: c.alpr,
                    location: Some(c.location),
                    mobile: c.kind == CameraKind::Mobile,
                });
            }
        }
        let holds = self.ctl.active_holds()?;
        let mut out = std::collections::HashMap::with_capacity(by_agent.len());
        for (agent, (site, cameras, assigned, agent_rev)) in by_agent {
            let ids: std::collections::HashSet<&str> =
                cameras.iter().map(|c| c.id.as_str()).collect();
            let holds = holds
                .iter()
                .filter(|h| h.cameras.iter().any(|c| ids.contains(c.as_str())))
                .cloned()
                .collect();
            let desired = AgentDesired {
                holds,
                agent: agent.clone(),
                site,
                cameras,
            };
            let old = prev
                .and_then(|p| p.get(&agent))
                .filter(|e| e.desired == desired && e.assigned == assigned);
            let entry = match old {
                Some(e) if e.agent_rev == agent_rev => e.clone(),
                Some(e) => Arc::new(DesiredEntry {
                    json: e.json.clone(),
                    desired,
                    assigned,
                    agent_rev,
                }),
                None => Arc::new(DesiredEntry {
                    json: serde_json::to_vec(&desired)?,
                    desired,
                    assigned,
                    agent_rev,
                }),
            };
            out.insert(agent, entry);
        }
        Ok(out)
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
        let (s, foreign) = reports::screen(ReportKind::parse(kind), &value, |c| {
            entry.assigned.contains(c)
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
        l.kvs
            .iter()
            .map(|kv| Ok(serde_json::from_slice(&kv.value)?))
            .collect()
    }

    /// Every active-collection window the agents reported, oldest first per agent.
    pub async fn windows(&self, actor: &Actor) -> Result<Vec<serde_json::Value>> {
        self.ctl
            .require(actor, Operation::ReadObjects, AuditAction::CameraWindows)
            .await?;
        let l = self.ctl.store.list(REPORTS).await?;
        let mut out: Vec<serde_json::Value> = Vec::new();
        let mut amendments = Vec::new();
        for kv in l.kvs {
            let v: serde_json::Value = serde_json::from_slice(&kv.value)?;
            if v["kind"] == ReportKind::Windows.as_str() {
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

    fn entry(agent: &str, cameras: &[&str]) -> Arc<DesiredEntry> {
        entry_alpr(agent, cameras, &[])
    }

    /// An agent's entry whose cameras in `alpr` read plates.
    fn entry_alpr(agent: &str, cameras: &[&str], alpr: &[&str]) -> Arc<DesiredEntry> {
        let desired = AgentDesired {
            agent: agent.into(),
            site: "hq".into(),
            cameras: cameras
                .iter()
                .map(|c| AgentCamera {
                    id: (*c).into(),
                    main_url: format!("rtsp://127.0.0.1/{c}"),
                    sub_url: None,
                    recording: true,
                    retention_days: 30,
                    alpr: alpr.contains(c),
                    location: None,
                    mobile: false,
                })
                .collect(),
            holds: Vec::new(),
        };
        let json = serde_json::to_vec(&desired).unwrap();
        Arc::new(DesiredEntry {
            desired,
            json,
            assigned: cameras.iter().map(|c| c.to_string()).collect(),
            agent_rev: 1,
        })
    }

    fn map(entries: &[(&str, &[&str])]) -> DesiredMap {
        entries
            .iter()
            .map(|(a, cams)| (a.to_string(), entry(a, cams)))
            .collect()
    }

    #[test]
    fn only_agents_whose_config_changed_are_woken() {
        let old = map(&[("a", &["c1"]), ("b", &["c2"]), ("c", &[]), ("gone", &[])]);
        // A rebuild makes new entries for everyone: equal ones are not changes.
        let new = map(&[
            ("a", &["c1"]),
            ("b", &["c2", "c3"]),
            ("c", &[]),
            ("new", &[]),
        ]);
        assert_eq!(changed_agents(&old, &new), ["b", "gone", "new"]);
        assert!(changed_agents(&new, &new).is_empty());
        assert!(changed_agents(
            &old,
            &map(&[("a", &["c1"]), ("b", &["c2"]), ("c", &[]), ("gone", &[])])
        )
        .is_empty());
        // A camera moved between agents wakes both.
        let moved = map(&[("a", &[]), ("b", &["c2", "c1"]), ("c", &[]), ("gone", &[])]);
        assert_eq!(changed_agents(&old, &moved), ["a", "b"]);
        assert_eq!(
            changed_agents(&DesiredMap::new(), &old),
            ["a", "b", "c", "gone"]
        );
    }

    #[test]
    fn a_hotlist_change_wakes_the_alpr_agents_only() {
        let old: DesiredMap = [
            ("lpr", entry_alpr("lpr", &["c1", "c2"], &["c2"])),
            ("plain", entry("plain", &["c3"])),
            ("empty", entry("empty", &[])),
            ("lpr2", entry_alpr("lpr2", &["c4"], &["c4"])),
        ]
        .into_iter()
        .map(|(a, e)| (a.to_string(), e))
        .collect();
        assert_eq!(alpr_agents(&old), ["lpr", "lpr2"]);
        assert!(alpr_agents(&DesiredMap::new()).is_empty());
        // Nothing else changed: a hotlist change wakes the ALPR agents, no other
        // change wakes nobody.
        assert_eq!(agents_to_wake(&old, &old, true), ["lpr", "lpr2"]);
        assert!(agents_to_wake(&old, &old, false).is_empty());
        // With a config change too: its agent and the ALPR agents, each once.
        let mut new = old.clone();
        new.insert("plain".into(), entry("plain", &["c3", "c5"]));
        new.insert("lpr".into(), entry_alpr("lpr", &["c2"], &["c2"]));
        assert_eq!(agents_to_wake(&old, &new, true), ["lpr", "lpr2", "plain"]);
        assert_eq!(agents_to_wake(&old, &new, false), ["lpr", "plain"]);
        // An agent whose ALPR camera was turned off this change is woken for
        // its config; the hotlist part goes to the agents that read plates now.
        let mut off = old.clone();
        off.insert("lpr2".into(), entry("lpr2", &["c4"]));
        assert_eq!(agents_to_wake(&old, &off, false), ["lpr2"]);
        assert_eq!(agents_to_wake(&old, &off, true), ["lpr", "lpr2"]);
        assert_eq!(alpr_agents(&off), ["lpr"]);
    }

    #[tokio::test]
    async fn a_wake_reaches_the_agents_sessions_and_no_other() {
        let index = DesiredIndex::default();
        let (mut a1, mut a2, mut b) = (
            index.subscribe("a"),
            index.subscribe("a"),
            index.subscribe("b"),
        );
        assert_eq!(index.wake(["a", "nobody"]), 1);
        let soon = std::time::Duration::from_millis(50);
        assert!(tokio::time::timeout(soon, a1.changed()).await.is_ok());
        assert!(tokio::time::timeout(soon, a2.changed()).await.is_ok());
        assert!(tokio::time::timeout(soon, b.changed()).await.is_err());
        assert_eq!(index.wake_all(), 2);
        assert!(tokio::time::timeout(soon, b.changed()).await.is_ok());
        // The agent is forgotten with its last session only.
        drop(a1);
        assert_eq!(index.wake(["a"]), 1);
        drop(a2);
        assert_eq!(index.wake(["a"]), 0);
        drop(b);
        assert_eq!(index.wake_all(), 0);
    }
}
