//! Case-numbered ALPR searches. Plate reads stay on the sites: the controller
//! checks who asks and why, fans the query out to the agents over their control
//! streams, merges the answers, names the agents that did not answer in time,
//! and writes one audit entry (who, case number, purpose, result count) before
//! the answer is returned.
//!
//! A partial-plate pattern, or a query made for another (verified) agency, is
//! outside the state-system rules: it is not run when asked but waits for a
//! supervisor's approval (see `alpr_approval`), then runs once.
//!
//! The [`Hub`] knows the agents connected to this controller; a query for an
//! agent connected to another controller is forwarded to it (see `route`), and
//! an agent with no presence record anywhere "did not answer: offline".

use super::route::{Presence, Route};
use crate::core::audit::Draft;
use crate::core::auth::{Actor, Operation};
use crate::core::Controller;
use crate::core::{AuditAction, Refusal};
use crate::{Error, Result};
use camplane_config::model::{AgentSpec, Kind, ReadQuery};
use camplane_proto::kinds::QueryKind;
use camplane_proto::v1 as pb;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Purposes a query may give (governance.md; the city can extend the list).
pub const ALLOWED_PURPOSES: [&str; 8] = [
    "stolen_vehicle",
    "stolen_plate",
    "warrant",
    "missing_person",
    "amber_alert",
    "protection_order",
    "criminal_investigation",
    "homeland_security",
];

/// Purposes the policy prohibits: refused, and the attempt logged.
pub const PROHIBITED_PURPOSES: [&str; 5] = [
    "immigration_enforcement",
    "traffic_enforcement",
    "harassment_or_intimidation",
    "protected_class",
    "personal_use",
];

/// The prohibited purpose a free-text purpose (a case list's `--purpose`)
/// names, if any: its identifier or its telling words, case and punctuation
/// aside ("Immigration hold", "traffic_enforcement", "for personal use"). A
/// screen of what is said, not of what is meant: the supervisor's approval of
/// the list is the check of that.
pub fn names_prohibited(text: &str) -> Option<&'static str> {
    const SIGNS: [(&str, &[&str]); 5] = [
        ("immigration_enforcement", &["immigration"]),
        ("traffic_enforcement", &["traffic enforcement"]),
        (
            "harassment_or_intimidation",
            &["harassment", "harass", "intimidation", "intimidate"],
        ),
        ("protected_class", &["protected class"]),
        ("personal_use", &["personal use"]),
    ];
    let norm: String = text
        .chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                ' '
            }
        })
        .collect();
    let joined = format!(
        " {} ",
        norm.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    SIGNS
        .iter()
        .find(|(_, words)| words.iter().any(|w| joined.contains(&format!(" {w} "))))
        .map(|(p, _)| *p)
}

/// Longest time range one query may cover.
pub const MAX_RANGE_DAYS: i64 = 92;
/// Most reads one agent returns for one query.
pub const MAX_READS_PER_AGENT: usize = 10_000;

type Outbound = mpsc::Sender<std::result::Result<pb::ControllerMessage, tonic::Status>>;

/// The agents connected to this controller, and the queries waiting for answers.
#[derive(Default)]
pub struct Hub {
    sessions: Mutex<HashMap<String, (u64, Outbound)>>,
    pending: Mutex<HashMap<String, mpsc::UnboundedSender<(String, pb::QueryAnswer)>>>,
    next: std::sync::atomic::AtomicU64,
    /// This controller in the cluster (set once at start; unset: local only).
    route: std::sync::OnceLock<Arc<Route>>,
}

impl Hub {
    /// Registers an agent's session; returns its token for [`Hub::disconnect`].
    pub fn connect(&self, agent: &str, tx: Outbound) -> u64 {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(agent.to_string(), (id, tx));
        id
    }

    /// Sets this controller's route (at start, once).
    pub fn set_route(&self, route: Arc<Route>) {
        let _ = self.route.set(route);
    }

    /// This controller's route, once set.
    pub fn route(&self) -> Option<&Arc<Route>> {
        self.route.get()
    }

    /// Records that this controller holds `agent`'s session `id` (from [`Hub::connect`]).
    pub async fn present(&self, agent: &str, id: u64, since: Timestamp) {
        if let Some(r) = self.route.get() {
            r.present(agent, id, since).await;
        }
    }

    /// Removes `agent`'s presence record if it is still session `id`'s.
    pub async fn absent(&self, agent: &str, id: u64) {
        if let Some(r) = self.route.get() {
            r.absent(agent, id).await;
        }
    }

    /// Whether `agent` has a session with this controller.
    pub fn holds(&self, agent: &str) -> bool {
        self.session(agent).is_some()
    }

    /// How many agents have a session with this controller.
    pub fn connected_count(&self) -> usize {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Forgets a session (only the one registered with `id`).
    pub fn disconnect(&self, agent: &str, id: u64) {
        let mut g = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if g.get(agent).is_some_and(|(i, _)| *i == id) {
            g.remove(agent);
        }
    }

    /// Hands an agent's answer to the query waiting for it.
    pub fn answer(&self, agent: &str, a: pb::QueryAnswer) {
        let tx = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&a.id)
            .cloned();
        if let Some(tx) = tx {
            let _ = tx.send((agent.to_string(), a));
        }
    }

    fn session(&self, agent: &str) -> Option<Outbound> {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(agent)
            .map(|(_, t)| t.clone())
    }
}

// ---------- one question to one agent ----------
impl Hub {
    /// Asks one agent one question of `kind` (see the `Query` message) and
    /// waits for its answer: here when it is connected here, else through the
    /// controller its presence record names (asked again once when the agent
    /// moved meanwhile). No answer or an agent error is [`Error::Agent`].
    pub(crate) async fn ask(
        &self,
        agent: &str,
        kind: QueryKind,
        json: Vec<u8>,
        timeout: Duration,
    ) -> Result<pb::QueryAnswer> {
        let Some(route) = self.route.get() else {
            return self.ask_here(agent, kind, json, timeout).await;
        };
        let mut tries = 0;
        loop {
            tries += 1;
            if self.holds(agent) {
                return self.ask_here(agent, kind, json, timeout).await;
            }
            let p = route
                .presence(agent)
                .await
                .map_err(|e| Error::Agent(format!("agent {agent}: presence unknown: {e}")))?;
            let p: Presence = match p {
                Some(p) if p.controller != route.id => p,
                _ => {
                    return Err(Error::Agent(format!(
                        "agent {agent} did not answer: offline"
                    )))
                }
            };
            match route.forward(&p, kind, json.clone(), timeout).await {
                // It moved (or left) while asked: look again, once.
                Err(Error::FailedPrecondition(m)) => {
                    if tries >= 2 {
                        return Err(Error::Agent(m));
                    }
                }
                r => return r,
            }
        }
    }

    /// Asks `agent`'s session on this controller (see [`Hub::ask`]).
    pub(crate) async fn ask_here(
        &self,
        agent: &str,
        kind: QueryKind,
        json: Vec<u8>,
        timeout: Duration,
    ) -> Result<pb::QueryAnswer> {
        let id = format!(
            "{}-{}",
            kind.as_str(),
            hex::encode(rand::random::<[u8; 8]>())
        );
        let (tx, mut rx) = mpsc::unbounded_channel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), tx);
        let msg = pb::ControllerMessage {
            msg: Some(pb::controller_message::Msg::Query(pb::Query {
                id: id.clone(),
                json,
                traceparent: camplane_telemetry::current_traceparent(),
                kind: kind.as_str().to_string(),
            })),
        };
        let out = match self.session(agent) {
            None => Err(Error::Agent(format!(
                "agent {agent} did not answer: offline"
            ))),
            Some(s) => match s.send_timeout(Ok(msg), timeout).await {
                Err(_) => Err(Error::Agent(format!(
                    "agent {agent}: its session is congested"
                ))),
                Ok(()) => loop {
                    match tokio::time::timeout(timeout, rx.recv()).await {
                        Ok(Some((from, a))) if from == agent => break Ok(a),
                        Ok(Some(_)) => continue,
                        _ => {
                            break Err(Error::Agent(format!(
                                "agent {agent}: no answer within {timeout:?}"
                            )))
                        }
                    }
                },
            },
        };
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        let a = out?;
        if !a.error.is_empty() {
            return Err(Error::Agent(format!(
                "agent {agent}: {}",
                a.error.chars().take(200).collect::<String>()
            )));
        }
        Ok(a)
    }
}

/// A search as asked.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// Plate or pattern.
    pub plate: String,
    /// Case number.
    pub case_number: String,
    /// Purpose.
    pub purpose: String,
    /// From; default 30 days ago.
    pub from: Option<Timestamp>,
    /// Until; default now.
    pub until: Option<Timestamp>,
    /// Sites to ask; empty: every site.
    pub sites: Vec<String>,
    /// How long to wait for the agents.
    pub timeout: Duration,
    /// Made for another agency (it must be on the verified list; the query
    /// waits for a supervisor's approval).
    pub for_agency: Option<String>,
}

/// A search that passed the checks: what it may ask the agents.
#[derive(Debug, Clone)]
pub(crate) struct CheckedSearch {
    /// Normalised plate or pattern.
    pub plate: String,
    /// Whether `plate` is a pattern.
    pub pattern: bool,
    /// From.
    pub from: Timestamp,
    /// Until.
    pub until: Timestamp,
}

/// What the agents answered to one query.
pub(crate) struct FanOut {
    /// The query's id.
    pub query_id: String,
    /// Reads, oldest first, each with its agent and site.
    pub reads: Vec<serde_json::Value>,
    /// Agents that answered.
    pub answered: Vec<String>,
    /// Agents that did not, with why.
    pub unreachable: Vec<(String, String)>,
}

/// A search's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchOutcome {
    /// The query's id (in the audit log too).
    pub query_id: String,
    /// Reads, oldest first, each with its agent and site.
    pub reads: Vec<serde_json::Value>,
    /// Agents that answered.
    pub answered: Vec<String>,
    /// Agents that did not, with why.
    pub unreachable: Vec<(String, String)>,
    /// Set when the query was not run but waits for a supervisor's approval
    /// (the approval's id); nothing was asked of the agents then.
    pub pending_approval: Option<String>,
    /// Why it needs approval.
    pub approval_reasons: Vec<String>,
}

/// Normalises a plate or pattern: upper case, no spaces or dashes; `?` and `*`
/// kept. Returns (text, is_pattern).
pub fn normalize_pattern(s: &str) -> Result<(String, bool)> {
    let p: String = s
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let ok = (1..=10).contains(&p.len())
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '?' || c == '*');
    if !ok {
        return Err(Error::InvalidArgument(format!(
            "plate {:?}: 2-8 letters and digits, or a pattern with ? and *",
            s.chars().take(20).collect::<String>()
        )));
    }
    let pattern = p.contains(['?', '*']);
    let fixed = p.chars().filter(|c| c.is_ascii_alphanumeric()).count();
    if pattern && fixed < 3 {
        return Err(Error::InvalidArgument(format!(
            "plate pattern {p:?} names fewer than 3 characters: it would match nearly every plate"
        )));
    }
    if !pattern && !(2..=8).contains(&p.len()) {
        return Err(Error::InvalidArgument(format!(
            "plate {p:?}: 2-8 letters and digits"
        )));
    }
    Ok((p, pattern))
}

/// Whether `plate` matches `pattern` (`?` one character, `*` any run).
pub fn matches(pattern: &str, plate: &str) -> bool {
    camplane_config::model::plate_matches(pattern, plate)
}

impl Controller {
    /// Refuses (and audits the refusal with the case number and purpose asked).
    pub(crate) async fn refuse_search(
        &self,
        actor: &Actor,
        req: &SearchRequest,
        e: Error,
    ) -> Error {
        let mut d = Draft::new(&actor.username, AuditAction::AlprSearch, "AlprQuery", "");
        d.result = format!("denied: {e}");
        d.details = serde_json::json!({
            "case_number": req.case_number.chars().take(64).collect::<String>(),
            "purpose": req.purpose.chars().take(64).collect::<String>(),
            "plate": req.plate.chars().take(20).collect::<String>(),
            "for_agency": req.for_agency.as_ref().map(|a| a.chars().take(100).collect::<String>()),
        });
        if let Err(ae) = self.audit.record(d).await {
            return ae;
        }
        e
    }

    /// Checks a case number against the city's format (`what` needs one).
    pub(crate) fn check_case_number(&self, case: &str, what: &str) -> Result<()> {
        let re = regex::Regex::new(&self.config.city.case_number_format)
            .map_err(|e| Error::Internal(format!("case number format: {e}")))?;
        if case.is_empty() || case.len() > 64 || !re.is_match(case) {
            return Err(Error::InvalidArgument(format!(
                "{what} needs a case number in the city's format {}",
                self.config.city.case_number_format
            )));
        }
        Ok(())
    }

    /// Checks that `actor` may query ALPR data today: the role, training,
    /// certification valid on the day, and the current policy acknowledged.
    pub(crate) async fn check_operator(&self, actor: &Actor) -> Result<()> {
        if !Operation::SearchAlpr.allows(actor) {
            return Err(Error::PermissionDenied(
                "ALPR searches need the alpr_operator role".into(),
            ));
        }
        self.check_qualified(actor).await
    }

    /// [`Controller::require`] `op`, then [`Controller::check_qualified`]: a
    /// refusal of the latter audited under `what` (`kind`, no name).
    pub(crate) async fn require_qualified(
        &self,
        actor: &Actor,
        op: Operation,
        what: AuditAction,
        kind: &str,
    ) -> Result<()> {
        self.require(actor, op, what).await?;
        match self.check_qualified(actor).await {
            Err(Error::PermissionDenied(msg)) => {
                let r = Refusal::denied(actor, what, kind, "", msg);
                Err(self.record_refusal(r).await)
            }
            r => r,
        }
    }

    /// Checks that `actor` may see ALPR data today, whatever the role that lets
    /// them ask (searches, alerts): training, certification valid on the day,
    /// and the current policy acknowledged. A refusal read from the cache is
    /// checked again against the store (`check_user_fresh`).
    pub(crate) async fn check_qualified(&self, actor: &Actor) -> Result<()> {
        let now = self.now();
        let policy = self.policy_version_in_force();
        self.check_user_fresh(&actor.username, |obj| {
            qualified(&actor.username, obj, now, &policy)
        })
        .await
    }

    /// Sharing with another agency: only one on the city's verified list
    /// (`alpr.verified_agencies`) as the controller runs now.
    pub(crate) fn check_verified_agency(&self, agency: &str) -> Result<()> {
        if self
            .config
            .alpr
            .verified_agencies
            .iter()
            .any(|v| v == agency)
        {
            return Ok(());
        }
        Err(Error::PermissionDenied(format!(
            "agency {:?} is not on the city's verified list (alpr.verified_agencies); ALPR data is shared only with verified agencies",
            agency.chars().take(60).collect::<String>()
        )))
    }

    /// Checks a search: who asks, the case number, purpose, plate or pattern,
    /// time range and agency.
    pub(crate) async fn check_search(
        &self,
        actor: &Actor,
        req: &SearchRequest,
    ) -> Result<CheckedSearch> {
        self.check_operator(actor).await?;
        let now = self.now();
        self.check_case_number(&req.case_number, "a search")?;
        if PROHIBITED_PURPOSES.contains(&req.purpose.as_str()) {
            return Err(Error::PermissionDenied(format!(
                "purpose {} is prohibited by the policy",
                req.purpose
            )));
        }
        if !ALLOWED_PURPOSES.contains(&req.purpose.as_str()) {
            return Err(Error::InvalidArgument(format!(
                "purpose {:?} is not one of {}",
                req.purpose.chars().take(40).collect::<String>(),
                ALLOWED_PURPOSES.join(", ")
            )));
        }
        let (plate, pattern) = normalize_pattern(&req.plate)?;
        if let Some(a) = &req.for_agency {
            self.check_verified_agency(a)?;
        }
        let until = req.until.unwrap_or(now);
        let from = match req.from {
            Some(f) => f,
            // `to` is the client's: near the start of time there are no 30 days
            // before it (and jiff's subtraction would panic).
            None => until
                .checked_sub(SignedDuration::from_hours(24 * 30))
                .map_err(|_| {
                    Error::InvalidArgument(format!(
                        "--to {until} leaves no 30 days before it; give --from"
                    ))
                })?,
        };
        if from >= until {
            return Err(Error::InvalidArgument(format!(
                "--from {from} is not before --to {until}"
            )));
        }
        if until.duration_since(from) > SignedDuration::from_hours(24 * MAX_RANGE_DAYS) {
            return Err(Error::InvalidArgument(format!(
                "the time range covers more than {MAX_RANGE_DAYS} days"
            )));
        }
        Ok(CheckedSearch {
            plate,
            pattern,
            from,
            until,
        })
    }

    /// Runs a search (see the module docs). A pattern, or a query made for
    /// another agency, is outside the state-system rules: it is not run but
    /// stored as a pending approval (see `alpr_approval`).
    pub async fn search(
        &self,
        hub: &Hub,
        actor: &Actor,
        req: SearchRequest,
    ) -> Result<SearchOutcome> {
        let c = match self.check_search(actor, &req).await {
            Ok(x) => x,
            Err(e) => return Err(self.refuse_search(actor, &req, e).await),
        };
        if let Err(e) = self.agents_for(&req.sites) {
            return Err(self.refuse_search(actor, &req, e).await);
        }
        let mut reasons = Vec::new();
        if c.pattern {
            // The pattern itself is under `plate` (sealed in the audit log, like
            // every plate): a reason is free text, kept for good.
            reasons.push(
                "a partial plate: a pattern search across sites is outside the state-system rules"
                    .to_string(),
            );
        }
        if let Some(a) = &req.for_agency {
            reasons.push(format!("requested for another agency: {a}"));
        }
        if !reasons.is_empty() {
            let a = self.request_alpr_approval(actor, &req, &c, reasons).await?;
            return Ok(SearchOutcome {
                query_id: String::new(),
                reads: vec![],
                answered: vec![],
                unreachable: vec![],
                pending_approval: Some(a.id),
                approval_reasons: a.reasons,
            });
        }
        let plate = c.plate;
        let (from, until) = (c.from, c.until);
        let FanOut {
            query_id,
            reads,
            answered,
            unreachable,
        } = match self
            .fan_out(hub, &plate, from, until, &req.sites, req.timeout)
            .await
        {
            Ok(f) => f,
            Err(e) => return Err(self.refuse_search(actor, &req, e).await),
        };
        // One entry, written before anything is returned.
        let mut d = Draft::new(
            &actor.username,
            AuditAction::AlprSearch,
            "AlprQuery",
            &query_id,
        );
        d.details = serde_json::json!({
            "case_number": req.case_number, "purpose": req.purpose, "plate": plate,
            "from": from, "until": until, "sites": req.sites,
            "results": reads.len(), "answered": answered,
            "unreachable": unreachable.iter().map(|(a, _)| a).collect::<Vec<_>>(),
        });
        self.audit.record(d).await?;
        Ok(SearchOutcome {
            query_id,
            reads,
            answered,
            unreachable,
            pending_approval: None,
            approval_reasons: vec![],
        })
    }

    /// The agents of `sites` (all agents when empty), with their sites; a site
    /// without an agent is refused.
    pub(crate) fn agents_for(&self, sites: &[String]) -> Result<Vec<(String, String)>> {
        let mut agents: Vec<(String, String)> = Vec::new();
        for (o, _) in self.list(Kind::Agent)? {
            let Ok(spec) = serde_json::from_value::<AgentSpec>(o.spec.clone()) else {
                continue;
            };
            if sites.is_empty() || sites.contains(&spec.site) {
                agents.push((o.name.clone(), spec.site));
            }
        }
        for s in sites {
            if !agents.iter().any(|(_, site)| site == s) {
                return Err(Error::InvalidArgument(format!(
                    "site {:?} has no agent",
                    s.chars().take(60).collect::<String>()
                )));
            }
        }
        Ok(agents)
    }

    /// Asks the agents of `sites` for the reads of `plate` (a plate or an
    /// approved pattern) and merges their answers, oldest first. Writes no audit
    /// entry: the caller writes one before returning anything.
    pub(crate) async fn fan_out(
        &self,
        hub: &Hub,
        plate: &str,
        from: Timestamp,
        until: Timestamp,
        sites: &[String],
        timeout: Duration,
    ) -> Result<FanOut> {
        let agents = self.agents_for(sites)?;
        let query_id = format!(
            "q-{}-{}",
            self.now().as_millisecond(),
            hex::encode(rand::random::<[u8; 4]>())
        );
        let q = ReadQuery {
            plate: plate.to_string(),
            from,
            until,
            limit: MAX_READS_PER_AGENT,
        };
        let json = serde_json::to_vec(&q)?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        hub.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(query_id.clone(), tx.clone());
        let mut waiting: HashMap<String, String> = HashMap::new();
        let mut unreachable = Vec::new();
        // Agents held by other controllers are asked through them, at once; the
        // tasks end with this call (the set aborts them when dropped).
        let mut forwards = tokio::task::JoinSet::new();
        let presences = match hub.route.get() {
            Some(r) => r.presences().await.unwrap_or_default(),
            None => HashMap::new(),
        };
        for (agent, site) in &agents {
            if hub.session(agent).is_some() {
                continue;
            }
            let (Some(route), Some(p)) = (hub.route.get(), presences.get(agent)) else {
                continue;
            };
            if p.controller == route.id {
                continue;
            }
            let (route, p, json, tx) = (route.clone(), p.clone(), json.clone(), tx.clone());
            let id = query_id.clone();
            waiting.insert(agent.clone(), site.clone());
            forwards.spawn(async move {
                let a = match route.forward(&p, QueryKind::Reads, json, timeout).await {
                    Ok(a) => pb::QueryAnswer { id, ..a },
                    Err(e) => pb::QueryAnswer {
                        id,
                        error: match e {
                            Error::Agent(m) | Error::FailedPrecondition(m) => m,
                            e => e.to_string(),
                        },
                        ..Default::default()
                    },
                };
                let _ = tx.send((p.agent.clone(), a));
            });
        }
        for (agent, site) in &agents {
            if waiting.contains_key(agent) {
                continue;
            }
            let msg = pb::ControllerMessage {
                msg: Some(pb::controller_message::Msg::Query(pb::Query {
                    id: query_id.clone(),
                    json: json.clone(),
                    traceparent: camplane_telemetry::current_traceparent(),
                    kind: QueryKind::Reads.as_str().to_string(),
                })),
            };
            match hub.session(agent) {
                Some(s) if s.try_send(Ok(msg)).is_ok() => {
                    waiting.insert(agent.clone(), site.clone());
                }
                Some(_) => {
                    unreachable.push((agent.clone(), "its session is congested".to_string()))
                }
                None => unreachable.push((agent.clone(), "offline".to_string())),
            }
        }
        // An agent speaks only for its own cameras: camera -> the agent it is assigned to.
        let assigned: HashMap<String, String> = self
            .list(Kind::Camera)?
            .into_iter()
            .filter_map(|(c, _)| {
                let agent = c.spec.get("agent")?.as_str()?.to_string();
                Some((c.name, agent))
            })
            .collect();
        let mut foreign: HashMap<String, std::collections::BTreeSet<String>> = HashMap::new();
        let mut reads = Vec::new();
        let mut answered = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        while !waiting.is_empty() {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some((agent, a))) => {
                    let Some(site) = waiting.remove(&agent) else {
                        continue;
                    };
                    if !a.error.is_empty() {
                        unreachable.push((agent, format!("agent error: {}", a.error)));
                        continue;
                    }
                    match serde_json::from_slice::<Vec<serde_json::Value>>(&a.json) {
                        Ok(rs) => {
                            for mut r in rs.into_iter().take(MAX_READS_PER_AGENT) {
                                // An agent answers only what was asked.
                                let ok = r["plate"].as_str().is_some_and(|p| matches(plate, p));
                                if !ok {
                                    continue;
                                }
                                let cam = r["camera"].as_str().unwrap_or_default();
                                if assigned.get(cam) != Some(&agent) {
                                    // Bounded, control characters escaped: the name is the agent's.
                                    let shown: String = cam
                                        .chars()
                                        .take(64)
                                        .flat_map(|c| {
                                            let esc = c.is_control().then(|| c.escape_default());
                                            esc.into_iter()
                                                .flatten()
                                                .chain((!c.is_control()).then_some(c))
                                        })
                                        .collect();
                                    foreign.entry(agent.clone()).or_default().insert(shown);
                                    continue;
                                }
                                r["agent"] = agent.clone().into();
                                r["site"] = site.clone().into();
                                reads.push(r);
                            }
                            answered.push(agent);
                        }
                        Err(e) => unreachable.push((agent, format!("unreadable answer: {e}"))),
                    }
                }
                _ => break,
            }
        }
        hub.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&query_id);
        forwards.abort_all();
        for (agent, _) in waiting {
            unreachable.push((agent, format!("no answer within {timeout:?}")));
        }
        for (agent, cams) in foreign {
            self.refuse_foreign_reads(&agent, &query_id, cams).await?;
        }
        reads.sort_by(|a, b| a["time"].as_str().cmp(&b["time"].as_str()));
        answered.sort();
        unreachable.sort();
        Ok(FanOut {
            query_id,
            reads,
            answered,
            unreachable,
        })
    }
}

impl Controller {
    /// Reads an agent answered for cameras not assigned to it are left out of
    /// the search; they are counted (`reads`) and audited, one entry per agent
    /// and query (at most 32 names), like a refused report.
    async fn refuse_foreign_reads(
        &self,
        agent: &str,
        query_id: &str,
        cams: std::collections::BTreeSet<String>,
    ) -> Result<()> {
        self.emit(crate::core::events::ReportRefused {
            agent,
            kind: "reads",
            cameras: cams.len(),
        });
        let mut d = Draft::new(
            &format!("agent:{agent}"),
            AuditAction::AgentReportRefused,
            "Agent",
            agent,
        );
        d.result =
            "refused: reads of cameras not assigned to this agent left out of a search".into();
        d.details = serde_json::json!({
            "kind": "reads", "query_id": query_id,
            "cameras": cams.into_iter().take(32).collect::<Vec<_>>(),
        });
        self.audit.record(d).await?;
        Ok(())
    }
}

/// Whether `username`'s record qualifies them for ALPR data at `now`: training
/// completed, certification valid, and `policy` acknowledged. The rule, pure.
fn qualified(
    username: &str,
    obj: Option<&crate::core::StoredObject>,
    now: jiff::Timestamp,
    policy: &str,
) -> Result<()> {
    let no_record = || Error::PermissionDenied("no user record".into());
    let obj = obj.ok_or_else(no_record)?;
    let user = serde_json::from_value::<camplane_config::model::UserSpec>(obj.spec.clone())
        .map_err(|_| no_record())?;
    if user.trained_at.is_none_or(|t| t > now) {
        return Err(Error::PermissionDenied(format!(
            "{username} has no completed ALPR training on record"
        )));
    }
    if user.certified_until.is_none_or(|t| t < now) {
        return Err(Error::PermissionDenied(format!(
            "{username}'s state-system certification is not valid today"
        )));
    }
    if crate::core::auth::acknowledged_policy(&obj.status) != Some(policy) {
        return Err(Error::PermissionDenied(format!(
            "{username} has not acknowledged policy version {policy} (`camplane policy acknowledge`)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_text_purpose_naming_a_prohibited_one_is_caught() {
        for (text, p) in [
            ("immigration_enforcement", "immigration_enforcement"),
            ("ICE: Immigration hold", "immigration_enforcement"),
            ("Traffic-enforcement sweep", "traffic_enforcement"),
            ("to harass a neighbour", "harassment_or_intimidation"),
            ("PERSONAL USE", "personal_use"),
            ("protected_class", "protected_class"),
        ] {
            assert_eq!(names_prohibited(text), Some(p), "{text}");
        }
        for text in [
            "vehicle seen at the burglary",
            "stolen_vehicle",
            "personal property taken in a robbery",
            "street race suspects",
            "trafficking investigation",
        ] {
            assert_eq!(names_prohibited(text), None, "{text}");
        }
    }

    #[test]
    fn patterns() {
        assert_eq!(
            normalize_pattern("abc-1234").unwrap(),
            ("ABC1234".into(), false)
        );
        assert_eq!(
            normalize_pattern("AB?12*").unwrap(),
            ("AB?12*".into(), true)
        );
        assert!(normalize_pattern("*").is_err(), "matches everything");
        assert!(normalize_pattern("A*?").is_err());
        assert!(normalize_pattern("A'; DROP").is_err());
        assert!(normalize_pattern(&"A".repeat(10_000)).is_err());
        assert!(matches("AB?12*", "ABC12"));
        assert!(matches("AB?12*", "ABX1234"));
        assert!(!matches("AB?12*", "AB12"));
        assert!(matches("*1234", "ABC1234"));
        assert!(!matches("ABC1234", "ABC12345"));
    }

    #[test]
    fn qualification_needs_training_certification_and_the_acknowledgement() {
        let now: Timestamp = "2026-12-04T12:00:00Z".parse().unwrap();
        let user = |trained: Option<&str>, until: Option<&str>, ack: Option<&str>| {
            let mut spec = serde_json::json!({ "roles": ["alpr_operator"] });
            if let Some(t) = trained {
                spec["trained_at"] = t.into();
            }
            if let Some(t) = until {
                spec["certified_until"] = t.into();
            }
            let status = match ack {
                Some(v) => serde_json::json!({
                    "acknowledged_at": "2026-12-01T00:00:00Z", "policy_version": v }),
                None => serde_json::Value::Null,
            };
            crate::core::StoredObject {
                kind: "User".into(),
                name: "op".into(),
                spec,
                status,
            }
        };
        let (past, future) = (Some("2026-01-01T00:00:00Z"), Some("2027-06-01T00:00:00Z"));
        let refused = |o: Option<&crate::core::StoredObject>, why: &str| match qualified(
            "op",
            o,
            now,
            "5.05-2026",
        ) {
            Err(Error::PermissionDenied(m)) => assert!(m.contains(why), "{m}"),
            other => panic!("expected a refusal for {why}: {other:?}"),
        };
        refused(None, "no user record");
        refused(Some(&user(None, future, Some("5.05-2026"))), "training");
        refused(Some(&user(future, future, Some("5.05-2026"))), "training");
        refused(Some(&user(past, None, Some("5.05-2026"))), "certification");
        refused(Some(&user(past, past, Some("5.05-2026"))), "certification");
        refused(Some(&user(past, future, None)), "acknowledged");
        refused(Some(&user(past, future, Some("5.05-2025"))), "acknowledged");
        qualified(
            "op",
            Some(&user(past, future, Some("5.05-2026"))),
            now,
            "5.05-2026",
        )
        .expect("trained, certified and acknowledged");
    }
}
