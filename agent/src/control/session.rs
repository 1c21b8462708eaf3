//! Enrolment, identity and the control stream: desired config and hotlist
//! updates in, reports and query answers out.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use camplane_config::agent::AgentConfig;
use camplane_config::hotlist::{AlertReport, HotlistUpdate};
use camplane_proto::kinds::ReportKind;
use camplane_proto::v1 as pb;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use super::queries;
use super::reporter::Reporter;
use crate::config::{CameraConfig, Desired};
use crate::error::{AgentError, Result};
use crate::fs::write_atomic;
use crate::health::ActiveWindow;
use crate::hotlist::Applied;
use crate::supervisor::Supervisor;

/// How often an open session looks whether its certificate is due for
/// renewal: hours matter against a life of days (`tls.agent_cert_days`).
const RENEWAL_CHECK: Duration = Duration::from_secs(3600);

/// Whether a certificate is due for renewal at `now`: past two thirds of its
/// life (a third left to reach a controller in).
pub fn renewal_due(meta: &IdentityMeta, now: Timestamp) -> bool {
    let life = meta.expires_at.duration_since(meta.issued_at);
    let due = meta
        .issued_at
        .checked_add(life * 2 / 3)
        .unwrap_or(meta.expires_at);
    now >= due
}

/// What the agent keeps about its identity.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdentityMeta {
    /// Its name, as the certificate says.
    pub agent: String,
    /// Its site.
    pub site: String,
    /// When the certificate was issued (as the agent saw it).
    pub issued_at: Timestamp,
    /// When it expires.
    pub expires_at: Timestamp,
}

/// The config the agent last received, persisted.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PersistedConfig {
    /// Its revision.
    pub revision: i64,
    /// The desired config.
    pub desired: Desired,
}

fn cerr(e: impl std::fmt::Display) -> AgentError {
    AgentError::Control(e.to_string())
}

/// The agent's session state.
pub struct Session {
    cfg: AgentConfig,
    sup: Arc<Supervisor>,
    reporter: Arc<Reporter>,
    ca_pem: String,
    dir: PathBuf,
}

impl Session {
    /// Prepares a session: reads the CA, opens the spool, applies the last config.
    pub fn new(cfg: AgentConfig, sup: Arc<Supervisor>) -> Result<Arc<Session>> {
        let dir = cfg.data_dir.join("identity");
        std::fs::create_dir_all(&dir).map_err(|e| AgentError::io("creating", &dir, e))?;
        let ca_pem = std::fs::read_to_string(&cfg.ca_file)
            .map_err(|e| AgentError::io("reading the controller CA", &cfg.ca_file, e))?;
        let reporter = Arc::new(Reporter::open(cfg.data_dir.join("spool.jsonl"))?);
        let s = Arc::new(Session {
            cfg,
            sup,
            reporter,
            ca_pem,
            dir,
        });
        // Hotlist hits become alert reports: spooled durably, sent at once. Weak:
        // the supervisor outlives a dropped session, whose alerts then stop.
        let weak = Arc::downgrade(&s.reporter);
        s.sup.set_alert_sink(Arc::new(move |a: AlertReport| {
            if let Some(r) = weak.upgrade() {
                r.alert(&a);
            }
        }));
        // Its holds are the hold list until the controller's: without it,
        // retention deletes nothing (`Supervisor::sweep`).
        match s.persisted() {
            Ok(Some(p)) => {
                tracing::info!(
                    revision = p.revision,
                    cameras = p.desired.cameras.len(),
                    holds = p.desired.holds.len(),
                    "running the last config until the controller answers"
                );
                s.apply(&p.desired);
            }
            Ok(None) => tracing::info!(
                "no saved config: cameras and retention wait for the controller's config"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "cameras and retention wait for the controller's config");
                s.sup.set_saved_config_alarm(Some(format!(
                    "{e}; cameras and retention wait for the controller's config"
                )));
            }
        }
        Ok(s)
    }

    fn config_path(&self) -> PathBuf {
        self.cfg.data_dir.join("config.json")
    }

    /// The last persisted config: `None` when there is none; an error names
    /// the file when it cannot be read or does not parse (never taken for
    /// none: it would hide why the agent runs without its holds).
    pub fn persisted(&self) -> Result<Option<PersistedConfig>> {
        let path = self.config_path();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(AgentError::io("reading the saved config", path, e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| AgentError::SavedConfig {
                path,
                message: e.to_string(),
            })
    }

    /// The session's reports: the spool and its counters.
    pub fn reporter(&self) -> &Arc<Reporter> {
        &self.reporter
    }

    /// Reports waiting for acknowledgement.
    pub fn spool_depth(&self) -> usize {
        self.reporter.depth()
    }

    /// Queues a report durably and wakes the session to send it.
    pub fn report(&self, kind: ReportKind, key: String, json: serde_json::Value) -> Result<()> {
        self.reporter.report(kind, key, json)
    }

    /// Hotlist alerts raised since start, by category.
    pub fn alerts_by_category(&self) -> std::collections::BTreeMap<String, u64> {
        self.reporter.alerts_by_category()
    }

    /// How many reports this session has made (spooled) since it started.
    pub fn reports_made(&self) -> u64 {
        self.reporter.made()
    }

    /// Health reports superseded by newer ones before they were acknowledged
    /// (an agent offline keeps only its last few; see `spool::HEALTH_KEPT`).
    pub fn reports_superseded(&self) -> u64 {
        self.reporter.superseded()
    }

    /// Spools a closed active window (or an amendment made at `now`) for the
    /// controller. Its key is its camera and start, so a window is stored once.
    pub fn report_window(&self, w: &ActiveWindow, now: Timestamp) -> Result<()> {
        self.reporter.report_window(w, now)
    }

    /// Runs the periodic reporting and retention sweeps until cancelled; works
    /// whether or not a controller is connected.
    pub async fn run_reporter(self: Arc<Self>, cancel: CancellationToken) {
        let every = Duration::from_secs(self.cfg.report_interval_seconds);
        self.reporter
            .clone()
            .run(self.sup.clone(), every, cancel)
            .await
    }

    fn apply(&self, d: &Desired) {
        let cams = camera_configs(d, self.cfg.segment_seconds);
        let r = self.sup.reconcile(cams, d.holds.clone());
        tracing::info!(started = ?r.started, restarted = ?r.restarted, stopped = ?r.stopped, rejected = r.rejected.len(), "reconciled cameras");
    }

    /// Applies a hotlist update from the controller; the acknowledgement says
    /// which version is held now (0 asks for the whole list again).
    fn apply_hotlist(&self, json: &[u8]) -> pb::HotlistAck {
        let u: HotlistUpdate = match serde_json::from_slice(json) {
            Ok(u) => u,
            Err(e) => {
                tracing::error!(error = %e, "unreadable hotlist update from the controller");
                return pb::HotlistAck {
                    list: String::new(),
                    version: 0,
                };
            }
        };
        let hl = self.sup.hotlists();
        match hl.apply(&u) {
            Ok(Applied::Version(v)) => {
                tracing::info!(list = %u.list, version = v, base = u.base_version, entries = hl.len(), "hotlist updated");
                pb::HotlistAck {
                    list: u.list,
                    version: v,
                }
            }
            Ok(Applied::NeedsFull(v)) => {
                tracing::warn!(list = %u.list, base = u.base_version, "hotlist delta for another version; asking for the whole list");
                pb::HotlistAck {
                    list: u.list,
                    version: v,
                }
            }
            Err(e) => {
                tracing::error!(list = %u.list, error = %e, "hotlist not stored");
                let have = hl.versions().get(&u.list).copied().unwrap_or(0);
                pb::HotlistAck {
                    list: u.list,
                    version: have,
                }
            }
        }
    }

    fn identity(&self) -> Option<(String, String, IdentityMeta)> {
        let cert = std::fs::read_to_string(self.dir.join("cert.pem")).ok()?;
        let key = std::fs::read_to_string(self.dir.join("key.pem")).ok()?;
        let meta = serde_json::from_slice(&std::fs::read(self.dir.join("meta.json")).ok()?).ok()?;
        Some((cert, key, meta))
    }

    fn save_identity(
        &self,
        cert: &str,
        key: &str,
        r: &pb::EnrollResponse,
        site: &str,
    ) -> Result<IdentityMeta> {
        let expires_at: Timestamp = r.expires_at.parse().map_err(cerr)?;
        let meta = IdentityMeta {
            agent: r.agent.clone(),
            site: site.to_string(),
            // The wall clock, not the injected one: TLS checks the certificate against it.
            issued_at: Timestamp::now(),
            expires_at,
        };
        write_atomic(&self.dir.join("key.pem"), key.as_bytes(), true)?;
        write_atomic(&self.dir.join("cert.pem"), cert.as_bytes(), false)?;
        write_atomic(
            &self.dir.join("meta.json"),
            &serde_json::to_vec(&meta).map_err(cerr)?,
            false,
        )?;
        Ok(meta)
    }

    fn endpoint(&self, url: &str, identity: Option<(&str, &str)>) -> Result<Endpoint> {
        let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&self.ca_pem));
        if let Some((cert, key)) = identity {
            tls = tls.identity(Identity::from_pem(cert, key));
        }
        Endpoint::from_shared(url.to_string())
            .map_err(cerr)?
            .connect_timeout(Duration::from_secs(5))
            .tcp_keepalive(Some(Duration::from_secs(30)))
            .http2_keep_alive_interval(Duration::from_secs(15))
            .keep_alive_timeout(Duration::from_secs(10))
            .tls_config(tls)
            .map_err(cerr)
    }

    /// Enrols with the one-time token when the agent has no certificate yet.
    pub async fn ensure_enrolled(&self) -> Result<IdentityMeta> {
        if let Some((_, _, meta)) = self.identity() {
            return Ok(meta);
        }
        let token_file = self.cfg.enroll_token_file.as_ref().ok_or_else(|| {
            AgentError::Control(
                "not enrolled: set enroll_token_file to the token from `camplane agent enroll`"
                    .into(),
            )
        })?;
        let token = std::fs::read_to_string(token_file)
            .map_err(|e| AgentError::io("reading the enrolment token", token_file, e))?;
        let (key, csr) = key_and_csr()?;
        let mut last = None;
        for url in &self.cfg.controllers {
            let ch = match self.endpoint(url, None)?.connect().await {
                Ok(c) => c,
                Err(e) => {
                    last = Some(format!("{url}: {e}"));
                    continue;
                }
            };
            match pb::fleet_client::FleetClient::new(ch)
                .enroll(pb::EnrollRequest {
                    token: token.trim().into(),
                    csr_pem: csr.clone(),
                })
                .await
            {
                Ok(r) => {
                    let r = r.into_inner();
                    let site = r.site.clone();
                    let meta = self.save_identity(&r.cert_pem, &key, &r, &site)?;
                    tracing::info!(agent = %meta.agent, site = %meta.site, "enrolled");
                    return Ok(meta);
                }
                Err(s) if s.code() == tonic::Code::Unavailable => {
                    last = Some(format!("{url}: {}", s.message()))
                }
                Err(s) => {
                    return Err(AgentError::Control(format!(
                        "enrolment refused by {url}: {}",
                        s.message()
                    )))
                }
            }
        }
        Err(AgentError::Control(format!(
            "no controller reachable for enrolment ({})",
            last.unwrap_or_default()
        )))
    }

    /// Renews the certificate over `ch` when [`renewal_due`]; true when it
    /// did (the session then reconnects with it: this connection still
    /// presents the old one, which the controller no longer takes).
    async fn renew_if_due(&self, ch: Channel) -> Result<bool> {
        let Some((_, _, meta)) = self.identity() else {
            return Ok(false);
        };
        // The wall clock, as for the certificate's validity.
        if !renewal_due(&meta, Timestamp::now()) {
            return Ok(false);
        }
        let (key, csr) = key_and_csr()?;
        let r = pb::fleet_client::FleetClient::new(ch)
            .renew(pb::RenewRequest { csr_pem: csr })
            .await
            .map_err(|s| cerr(s.message()))?
            .into_inner();
        self.save_identity(&r.cert_pem, &key, &r, &meta.site)?;
        tracing::info!(expires = %r.expires_at, "certificate renewed");
        Ok(true)
    }

    /// Keeps a session with some controller until cancelled.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) -> Result<()> {
        let meta = loop {
            match self.ensure_enrolled().await {
                Ok(m) => break m,
                Err(AgentError::Control(m)) if m.starts_with("no controller reachable") => {
                    tracing::warn!(error = %m, "enrolment: retrying");
                    tokio::select! { _ = cancel.cancelled() => return Ok(()), _ = tokio::time::sleep(Duration::from_secs(2)) => {} }
                }
                Err(e) => return Err(e),
            }
        };
        let mut backoff = Duration::from_millis(200);
        let mut i = 0usize;
        loop {
            if cancel.is_cancelled() {
                return Ok(());
            }
            let url = self.cfg.controllers[i % self.cfg.controllers.len()].clone();
            i += 1;
            match self
                .clone()
                .session(&url, &meta.agent, cancel.clone())
                .await
            {
                Ok(()) => backoff = Duration::from_millis(200),
                Err(e) => tracing::warn!(controller = %url, error = %e, "session ended"),
            }
            let jitter = 0.5 + rand::random::<f64>();
            let wait = backoff.mul_f64(jitter);
            backoff = (backoff * 2).min(Duration::from_secs(10));
            tokio::select! { _ = cancel.cancelled() => return Ok(()), _ = tokio::time::sleep(wait) => {} }
        }
    }

    async fn session(
        self: Arc<Self>,
        url: &str,
        agent: &str,
        cancel: CancellationToken,
    ) -> Result<()> {
        let (cert, key, _) = self
            .identity()
            .ok_or_else(|| AgentError::Control("identity vanished".into()))?;
        let ch = self
            .endpoint(url, Some((&cert, &key)))?
            .connect()
            .await
            .map_err(cerr)?;
        if self.renew_if_due(ch.clone()).await? {
            tracing::info!(controller = %url, "reconnecting with the renewed certificate");
            return Ok(());
        }
        let (tx, rx) = tokio::sync::mpsc::channel::<pb::AgentMessage>(256);
        // An unreadable saved config runs nothing: revision 0 asks for the config.
        let running = self
            .persisted()
            .ok()
            .flatten()
            .map(|p| p.revision)
            .unwrap_or(0);
        let hello = pb::AgentMessage {
            msg: Some(pb::agent_message::Msg::Hello(pb::Hello {
                agent: agent.into(),
                config_revision: running,
                version: env!("CARGO_PKG_VERSION").into(),
                hotlists: self.sup.hotlists().versions().into_iter().collect(),
            })),
        };
        tx.send(hello).await.map_err(cerr)?;
        // Live video goes on its own connection (and its own calls), so
        // control messages wait behind no video, not even in TCP.
        let media_ch = self.endpoint(url, Some((&cert, &key)))?.connect_lazy();
        let mut inbound = pb::fleet_client::FleetClient::new(ch)
            .control(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .map_err(|s| cerr(format!("{}: {}", url, s.message())))?
            .into_inner();
        tracing::info!(controller = %url, "connected");
        let mut sent: std::collections::HashMap<String, std::time::Instant> =
            std::collections::HashMap::new();
        let mut resend = tokio::time::interval(RESEND_AFTER / 2);
        // A session lives for weeks: past two thirds of the certificate's
        // life it ends, and the reconnection renews it (before it expires and
        // no handshake, renewal included, works any more).
        let mut renewal =
            tokio::time::interval_at(tokio::time::Instant::now() + RENEWAL_CHECK, RENEWAL_CHECK);
        loop {
            // Send whatever is spooled and not yet sent on this connection, in
            // order, and again what stays unacknowledged for RESEND_AFTER.
            let pending = self.reporter.pending();
            let due = due_reports(&mut sent, &pending, std::time::Instant::now());
            for r in pending
                .into_iter()
                .zip(due)
                .filter_map(|(r, d)| d.then_some(r))
            {
                let json = serde_json::to_vec(&r.json).map_err(cerr)?;
                let m = pb::AgentMessage {
                    msg: Some(pb::agent_message::Msg::Report(pb::Report {
                        key: r.key,
                        kind: r.kind,
                        json,
                    })),
                };
                tx.send(m).await.map_err(cerr)?;
            }
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = self.reporter.notified() => {}
                _ = resend.tick() => {}
                _ = renewal.tick() => {
                    if self.identity().is_some_and(|(_, _, m)| renewal_due(&m, Timestamp::now())) {
                        tracing::info!(controller = %url, "certificate due for renewal: reconnecting");
                        return Ok(());
                    }
                }
                m = inbound.message() => match m {
                    Ok(Some(msg)) => match msg.msg {
                        Some(pb::controller_message::Msg::Config(c)) => {
                            let desired: Desired = serde_json::from_slice(&c.json).map_err(|e| cerr(format!("config from the controller: {e}")))?;
                            let p = PersistedConfig { revision: c.revision, desired };
                            write_atomic(&self.config_path(), &serde_json::to_vec(&p).map_err(cerr)?, true)?;
                            self.sup.set_saved_config_alarm(None);
                            // The holds are in force when apply returns (a running
                            // sweep deletes nothing they cover): only then the ack.
                            self.apply(&p.desired);
                            tx.send(pb::AgentMessage { msg: Some(pb::agent_message::Msg::Ack(pb::Ack { revision: c.revision })) }).await.map_err(cerr)?;
                        }
                        Some(pb::controller_message::Msg::Query(q)) if q.kind == camplane_proto::kinds::QueryKind::LiveOpen.as_str() => {
                            let answer = self.open_live(media_ch.clone(), &q, cancel.clone());
                            tx.send(pb::AgentMessage { msg: Some(pb::agent_message::Msg::Answer(answer)) }).await.map_err(cerr)?;
                        }
                        Some(pb::controller_message::Msg::Query(q)) => {
                            // Answered off the session loop: a big lookup never stalls config or reports.
                            let (s, tx) = (self.clone(), tx.clone());
                            // The controller's search continues here: one trace across processes.
                            let span = tracing::info_span!("alpr.query", query_id = %q.id);
                            camplane_telemetry::set_parent_from_traceparent(&span, &q.traceparent);
                            tokio::spawn(async move {
                                let id = q.id.clone();
                                let answer = match tokio::task::spawn_blocking(move || span.in_scope(|| queries::answer(&s.sup, &q.kind, &q.json))).await {
                                    Ok(Ok((json, data))) => pb::QueryAnswer { id, json, error: String::new(), data },
                                    Ok(Err(e)) => pb::QueryAnswer { id, json: vec![], error: e, data: vec![] },
                                    Err(e) => pb::QueryAnswer { id, json: vec![], error: e.to_string(), data: vec![] },
                                };
                                let _ = tx.send(pb::AgentMessage { msg: Some(pb::agent_message::Msg::Answer(answer)) }).await;
                            });
                        }
                        Some(pb::controller_message::Msg::Hotlist(h)) => {
                            let ack = self.apply_hotlist(&h.json);
                            tx.send(pb::AgentMessage { msg: Some(pb::agent_message::Msg::HotlistAck(ack)) }).await.map_err(cerr)?;
                        }
                        Some(pb::controller_message::Msg::ReportAck(a)) => {
                            self.reporter.ack(&a.key);
                            if let Ok(t) = jiff::Timestamp::from_millisecond(a.controller_time_ms) {
                                if a.controller_time_ms > 0 {
                                    self.sup.heard_controller_time(t);
                                }
                            }
                        }
                        None => {}
                    },
                    Ok(None) => return Err(AgentError::Control("controller closed the session".into())),
                    Err(s) => return Err(cerr(format!("{:?}: {}", s.code(), s.message()))),
                }
            }
        }
    }
}

/// How long a report sent on a connection may go unacknowledged before it is
/// sent again on the same connection. The controller acknowledges a report once
/// stored; one it failed to store (its store out of reach a moment) is not
/// acknowledged, and waited for a reconnect before. Stored once per key, so a
/// second send is harmless.
pub const RESEND_AFTER: Duration = Duration::from_secs(60);

/// Which of `pending` (in order) to send now: those not sent on this
/// connection yet, and those sent more than [`RESEND_AFTER`] before `now`;
/// `sent` (key: when it was last sent) is updated, and forgets the keys no
/// longer pending, so it holds no more than the spool does.
fn due_reports(
    sent: &mut std::collections::HashMap<String, std::time::Instant>,
    pending: &[crate::spool::SpooledReport],
    now: std::time::Instant,
) -> Vec<bool> {
    let waiting: std::collections::HashSet<&str> = pending.iter().map(|r| r.key.as_str()).collect();
    sent.retain(|k, _| waiting.contains(k.as_str()));
    pending
        .iter()
        .map(|r| {
            let due = sent
                .get(&r.key)
                .is_none_or(|t| now.duration_since(*t) >= RESEND_AFTER);
            if due {
                sent.insert(r.key.clone(), now);
            }
            due
        })
        .collect()
}

impl Session {
    /// Opens a live stream the controller asked for: subscribes to the
    /// camera's tap (answering at once, or why not), then sends the stream on
    /// its own `Fleet.Media` call, outside the control stream.
    fn open_live(&self, ch: Channel, q: &pb::Query, cancel: CancellationToken) -> pb::QueryAnswer {
        let fail = |e: String| pb::QueryAnswer {
            id: q.id.clone(),
            json: vec![],
            error: e,
            data: vec![],
        };
        let lq: camplane_config::model::LiveOpenQuery = match serde_json::from_slice(&q.json) {
            Ok(x) => x,
            Err(e) => return fail(format!("query: {e}")),
        };
        let Some(tap) = self.sup.live().get(&lq.camera) else {
            return fail(format!("camera {:?} does not run on this agent", lq.camera));
        };
        // Masked exactly when masks come with the ask: a masked ask without
        // them (or masks on an unmasked ask) is the controller's mistake,
        // refused rather than guessed at.
        if lq.masked == lq.masks.is_empty() {
            return fail(format!(
                "live view of camera {}: masked must come with the masks to burn in",
                lq.camera
            ));
        }
        let subscribed = match tap.subscribe() {
            Ok(x) => x,
            Err(e) => return fail(format!("camera {}: {e}", lq.camera)),
        };
        let frames = match crate::live::stream_frames(&lq.camera, &lq.masks, subscribed) {
            Ok(f) => f,
            Err(e) => return fail(e),
        };
        let guard = self.sup.live().opened();
        tokio::spawn(async move {
            tokio::select! {
                () = send_live(ch, lq, frames, guard) => {}
                () = cancel.cancelled() => {}
            }
        });
        pb::QueryAnswer {
            id: q.id.clone(),
            json: b"{}".to_vec(),
            error: String::new(),
            data: vec![],
        }
    }
}

/// Sends one live stream as fMP4 on a `Fleet.Media` call until the camera's
/// connection ends or the controller ends the call.
async fn send_live(
    ch: Channel,
    q: camplane_config::model::LiveOpenQuery,
    mut frames: crate::live::StreamFrames,
    _open: crate::live::OpenGuard,
) {
    use crate::live::{Fmp4, Fragment, TapMsg};
    use camplane_proto::limits::{MEDIA_MAX_FRAGMENT, MEDIA_MAX_MESSAGE};
    let (tx, out) = tokio::sync::mpsc::channel::<pb::MediaChunk>(4);
    let mut client = pb::fleet_client::FleetClient::new(ch)
        .max_encoding_message_size(MEDIA_MAX_MESSAGE)
        .max_decoding_message_size(MEDIA_MAX_MESSAGE);
    let call = client.media(tokio_stream::wrappers::ReceiverStream::new(out));
    let first_id = q.stream.clone();
    let camera = q.camera.clone();
    let stream = q.stream.clone();
    let produce = async move {
        // A masked stream's track comes with its first masked keyframe.
        let track = match frames.track().await {
            Ok(t) => t,
            Err(end) => {
                let _ = tx
                    .send(pb::MediaChunk {
                        stream: first_id,
                        end,
                        ..Default::default()
                    })
                    .await;
                return;
            }
        };
        let mut w = Fmp4::new(track);
        let first = pb::MediaChunk {
            stream: first_id,
            data: w.init(),
            init: true,
            ..Default::default()
        };
        if tx.send(first).await.is_err() {
            return;
        }
        let mut skipping = false;
        let frag = |f: Fragment, skipping: &mut bool| {
            if f.data.len() > MEDIA_MAX_FRAGMENT || (*skipping && !f.key) {
                *skipping = true;
                return None;
            }
            *skipping = false;
            Some(pb::MediaChunk {
                data: f.data,
                key: f.key,
                time_ms: f.time_ms,
                ..Default::default()
            })
        };
        let end = loop {
            match frames.next().await {
                Some(TapMsg::Frame(f)) => {
                    if let Some(m) = w.push(f).and_then(|f| frag(f, &mut skipping)) {
                        if tx.send(m).await.is_err() {
                            return;
                        }
                    }
                }
                Some(TapMsg::End(r)) => break r,
                None => break format!("camera {camera}: connection lost"),
            }
        };
        let _ = tx
            .send(pb::MediaChunk {
                end,
                ..Default::default()
            })
            .await;
    };
    tokio::pin!(call);
    let r = tokio::select! {
        r = &mut call => Some(r),
        () = produce => None,
    };
    // The stream's end (its reason) reaches the controller before the call closes.
    let r = match r {
        Some(r) => Some(r),
        None => tokio::time::timeout(Duration::from_secs(5), call)
            .await
            .ok(),
    };
    if let Some(Err(s)) = r {
        tracing::info!(stream = %stream, error = %s.message(), "live stream ended");
    }
}

/// A new key and certificate signing request (the key never leaves the gateway).
fn key_and_csr() -> Result<(String, String)> {
    let key = rcgen::KeyPair::generate().map_err(cerr)?;
    let mut p = rcgen::CertificateParams::default();
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "camplane-agent");
    let csr = p.serialize_request(&key).map_err(cerr)?;
    Ok((key.serialize_pem(), csr.pem().map_err(cerr)?))
}

/// The cameras an agent runs for a desired config: the model's cameras as they
/// come, with this agent's segment length.
fn camera_configs(d: &Desired, segment_seconds: u32) -> Vec<CameraConfig> {
    d.cameras
        .iter()
        .map(|c| {
            let mut cc = CameraConfig::new(c.id.clone(), c.main_url.clone());
            cc.sub_url = c.sub_url.clone();
            cc.recording = c.recording;
            cc.retention_days = c.retention_days;
            cc.alpr = c.alpr;
            cc.alpr_fps = c.alpr_fps;
            cc.location = c.location;
            cc.mobile = c.mobile;
            cc.segment_seconds = segment_seconds;
            cc
        })
        .collect()
}

#[cfg(test)]
mod resend_tests {
    use super::*;

    #[test]
    fn unacknowledged_reports_are_sent_again_and_acknowledged_ones_forgotten() {
        let r = |k: &str| crate::spool::SpooledReport {
            key: k.into(),
            kind: "windows".into(),
            json: serde_json::json!({}),
        };
        let mut sent = std::collections::HashMap::new();
        let t0 = std::time::Instant::now();
        // Everything new goes at once, in order; nothing twice right after.
        assert_eq!(due_reports(&mut sent, &[r("a"), r("b")], t0), [true, true]);
        assert_eq!(
            due_reports(&mut sent, &[r("a"), r("b"), r("c")], t0),
            [false, false, true]
        );
        // "a" was acknowledged; "b" and "c" were not: sent again once RESEND_AFTER passed.
        let later = t0 + RESEND_AFTER;
        assert_eq!(
            due_reports(&mut sent, &[r("b"), r("c")], later),
            [true, true]
        );
        assert!(!sent.contains_key("a"), "an acknowledged key is forgotten");
        assert_eq!(sent.len(), 2);
    }
}

#[cfg(test)]
mod renewal_tests {
    use super::*;

    /// Due at two thirds of the certificate's life, not before.
    #[test]
    fn a_certificate_is_renewed_past_two_thirds_of_its_life() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let meta = IdentityMeta {
            agent: "gw".into(),
            site: "city-hall".into(),
            issued_at: t("2026-11-01T00:00:00Z"),
            expires_at: t("2026-12-01T00:00:00Z"),
        };
        assert!(!renewal_due(&meta, t("2026-11-20T23:59:00Z")));
        assert!(renewal_due(&meta, t("2026-11-21T00:00:00Z")));
        assert!(renewal_due(&meta, t("2026-12-02T00:00:00Z")));
    }
}

#[cfg(test)]
mod saved_config_tests {
    use super::*;
    use crate::retention::FixedProbe;
    use crate::supervisor::{SupervisorOptions, WAITING_FOR_HOLDS};
    use crate::ManualClock;
    use jiff::SignedDuration;

    /// An agent in `dir` (no controller will answer) whose camera `c`
    /// recorded one hour at `t0`, and the clock 31 days later.
    fn agent(dir: &std::path::Path, t0: Timestamp) -> (AgentConfig, Arc<Supervisor>) {
        std::fs::write(dir.join("ca.pem"), "not used before a connection").unwrap();
        let cfg = AgentConfig::parse(
            "agent.yaml",
            &format!(
                "controllers: [https://127.0.0.1:9]\nca_file: {}\ndata_dir: {}\n",
                dir.join("ca.pem").display(),
                dir.display()
            ),
        )
        .unwrap();
        let clock = Arc::new(ManualClock::new(t0));
        let opts = SupervisorOptions {
            root: dir.join("recordings"),
            ingest: Default::default(),
            disk: Default::default(),
        };
        let probe = Arc::new(FixedProbe::new(1 << 40, 1 << 40));
        let sup = Arc::new(Supervisor::new(opts, clock.clone(), probe).unwrap());
        {
            let idx = sup.index();
            let mut idx = idx.lock().unwrap();
            std::fs::create_dir_all(idx.camera_dir("c")).unwrap();
            let (s, e) = (t0, t0 + SignedDuration::from_hours(1));
            let e = idx
                .append("c", s.as_millisecond(), e.as_millisecond(), 10, 0, [0; 32])
                .unwrap();
            std::fs::write(idx.segment_path("c", &e), [0u8; 10]).unwrap();
        }
        clock.set(t0 + SignedDuration::from_hours(24 * 31));
        (cfg, sup)
    }

    fn segments(sup: &Supervisor) -> usize {
        sup.index().lock().unwrap().segments("c").len()
    }

    /// The saved config holds the hold list at start: its hold (of a reason
    /// this build does not know) keeps a 31-day-old segment.
    #[test]
    fn the_saved_configs_holds_are_in_force_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let t0: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let (cfg, sup) = agent(dir.path(), t0);
        let saved = serde_json::json!({"revision": 7, "desired": {
            "agent": "gw", "site": "hq", "cameras": [],
            "holds": [{"case_number": "25-00009", "cameras": ["c"],
                       "from": "2025-01-01T00:00:00Z", "until": "2025-01-01T00:30:00Z",
                       "reason": "something_new"}]}});
        std::fs::write(dir.path().join("config.json"), saved.to_string()).unwrap();
        let s = Session::new(cfg, sup.clone()).unwrap();
        assert_eq!(s.persisted().unwrap().unwrap().revision, 7);
        let r = sup.sweep();
        assert_eq!((r.held_kept, r.expired_deleted), (1, 0), "{r:?}");
        assert_eq!(segments(&sup), 1);
        assert!(sup.health().alarms.is_empty(), "{:?}", sup.health().alarms);
    }

    /// A saved config that does not parse is reported (the file and why), not
    /// taken for none, and nothing is deleted: the holds are not known.
    #[test]
    fn an_unreadable_saved_config_is_reported_and_deletes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let t0: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let (cfg, sup) = agent(dir.path(), t0);
        let file = dir.path().join("config.json");
        std::fs::write(&file, br#"{"revision": 7, "desired": {"agent": "gw""#).unwrap();
        let s = Session::new(cfg, sup.clone()).unwrap();
        let e = s.persisted().unwrap_err();
        assert!(matches!(e, AgentError::SavedConfig { .. }), "{e}");
        let r = sup.sweep();
        assert!(r.waiting_for_holds);
        assert_eq!(segments(&sup), 1, "deleted before the hold list was known");
        let alarms = sup.health().alarms;
        assert!(alarms.iter().any(|a| a == WAITING_FOR_HOLDS), "{alarms:?}");
        assert!(
            alarms.iter().any(|a| a.contains(&file.display().to_string())
                && a.contains("EOF while parsing")),
            "{alarms:?}"
        );
        // No saved config at all: the same wait, without that alarm.
        std::fs::remove_file(&file).unwrap();
        assert!(s.persisted().unwrap().is_none());
    }
}

#[cfg(test)]
mod camera_config_tests {
    use super::*;
    use camplane_config::model::AgentCamera;

    #[test]
    fn the_sub_stream_is_carried_to_the_camera_and_the_main_stays_for_recording() {
        let cam = |sub: Option<&str>| AgentCamera {
            id: "cam-1".into(),
            main_url: "rtsp://cam/main".into(),
            sub_url: sub.map(str::to_string),
            recording: true,
            retention_days: 30,
            alpr: false,
            alpr_fps: None,
            location: None,
            mobile: false,
        };
        let d = Desired {
            cameras: vec![cam(Some("rtsp://cam/sub")), cam(None)],
            ..Desired::default()
        };
        let c = camera_configs(&d, 4);
        assert_eq!(c[0].main_url, "rtsp://cam/main");
        assert_eq!(c[0].sub_url.as_deref(), Some("rtsp://cam/sub"));
        assert_eq!(c[1].sub_url, None);
        assert_eq!(c[0].segment_seconds, 4);
        assert!(c[0].problems("").is_empty());
        let mut blank = c[0].clone();
        blank.sub_url = Some(" ".into());
        assert_eq!(blank.problems("cameras[0].")[0].path, "cameras[0].sub_url");
    }

    #[test]
    fn a_cameras_own_alpr_fps_is_carried_and_checked() {
        let mut d: Desired = serde_json::from_value(serde_json::json!({
            "agent": "gw", "site": "hq",
            "cameras": [
                {"id": "a", "main_url": "rtsp://cam/a", "recording": true,
                 "retention_days": 30, "alpr": true, "alpr_fps": 5.0},
                {"id": "b", "main_url": "rtsp://cam/b", "recording": true,
                 "retention_days": 30, "alpr": true},
            ],
        }))
        .unwrap();
        let c = camera_configs(&d, 4);
        assert_eq!(c[0].alpr_fps, Some(5.0));
        assert_eq!(c[1].alpr_fps, None, "absent: the agent's alpr_fps");
        assert!(c[0].problems("").is_empty());
        d.cameras[0].alpr_fps = Some(31.0);
        let p = camera_configs(&d, 4)[0].problems("cameras[0].");
        assert_eq!(p[0].path, "cameras[0].alpr_fps", "{p:?}");
        d.cameras[0].alpr_fps = Some(0.0);
        let p = camera_configs(&d, 4)[0].problems("cameras[0].");
        assert_eq!(p[0].path, "cameras[0].alpr_fps", "{p:?}");
    }
}
