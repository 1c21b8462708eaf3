//! Reports to the controller: health, closed active windows and hotlist alerts.
//! Each is spooled durably before it is sent ([`crate::spool`]) and dropped when the
//! controller acknowledges its key, so nothing is lost while the controller is away
//! and nothing is counted twice. The periodic loop also runs retention.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use camplane_config::hotlist::AlertReport;
use camplane_proto::kinds::ReportKind;
use jiff::Timestamp;
use tokio::sync::futures::Notified;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::error::{AgentError, Result};
use crate::health::ActiveWindow;
use crate::spool::{Spool, SpooledReport};
use crate::supervisor::Supervisor;

/// The report key of a window: camera and start; an amendment adds when it was
/// made, since several amendments to one window are distinct reports.
pub fn window_key(w: &ActiveWindow, now: Timestamp) -> String {
    let start = w.start.to_string().replace([':', '.'], "");
    let key = if w.amends {
        format!("wa-{}-{start}-{}", w.camera, now.as_millisecond())
    } else {
        format!("w-{}-{start}", w.camera)
    };
    key.chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_".contains(*c))
        .collect()
}

/// The report key of a hotlist alert: camera, read and list, file-name safe.
fn alert_key(a: &AlertReport) -> String {
    format!("a-{}-{}-{}", a.camera, a.read_id, a.list)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(200)
        .collect()
}

/// Reports waiting for the controller: the durable spool, and the signal that
/// wakes the session to send what is new.
pub struct Reporter {
    spool: Mutex<Spool>,
    spool_path: PathBuf,
    new_reports: Notify,
    made: AtomicU64,
    /// Hotlist alerts raised since start, by category.
    alerts: Mutex<BTreeMap<String, u64>>,
}

impl Reporter {
    /// Opens the spool at `spool_path`, keeping what is still unacknowledged.
    pub fn open(spool_path: PathBuf) -> Result<Reporter> {
        let spool =
            Spool::open(&spool_path).map_err(|e| AgentError::io("opening", &spool_path, e))?;
        Ok(Reporter {
            spool: Mutex::new(spool),
            spool_path,
            new_reports: Notify::new(),
            made: AtomicU64::new(0),
            alerts: Mutex::default(),
        })
    }

    fn spool(&self) -> MutexGuard<'_, Spool> {
        self.spool.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a report durably and wakes the session to send it.
    pub fn report(&self, kind: ReportKind, key: String, json: serde_json::Value) -> Result<()> {
        self.spool()
            .push(SpooledReport {
                key,
                kind: kind.as_str().into(),
                json,
            })
            .map_err(|e| AgentError::io("spooling", &self.spool_path, e))?;
        self.made.fetch_add(1, Ordering::SeqCst);
        self.new_reports.notify_one();
        Ok(())
    }

    /// Spools a closed active window (or an amendment made at `now`) for the
    /// controller. Its key is its camera and start, so a window is stored once.
    pub fn report_window(&self, w: &ActiveWindow, now: Timestamp) -> Result<()> {
        let json = serde_json::to_value(w).map_err(|e| AgentError::Control(e.to_string()))?;
        self.report(ReportKind::Windows, window_key(w, now), json)
    }

    /// Counts a hotlist alert and spools it to be sent at once.
    pub fn alert(&self, a: &AlertReport) {
        *self
            .alerts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(a.category.as_str().to_string())
            .or_default() += 1;
        match serde_json::to_value(a) {
            Ok(json) => {
                if let Err(e) = self.report(ReportKind::Alert, alert_key(a), json) {
                    tracing::error!(error = %e, "could not spool a hotlist alert");
                }
            }
            Err(e) => tracing::error!(error = %e, "could not encode a hotlist alert"),
        }
    }

    /// Every report not yet acknowledged, oldest first.
    pub fn pending(&self) -> Vec<SpooledReport> {
        self.spool().pending()
    }

    /// The controller stored the report with this key: it leaves the spool.
    pub fn ack(&self, key: &str) {
        if let Err(e) = self.spool().ack(key) {
            tracing::warn!(error = %e, "spool ack");
        }
    }

    /// Completes when a report was queued since the last wake-up.
    pub fn notified(&self) -> Notified<'_> {
        self.new_reports.notified()
    }

    /// Reports waiting for acknowledgement.
    pub fn depth(&self) -> usize {
        self.spool().depth()
    }

    /// How many health reports newer ones superseded in the spool since start
    /// (`spool::HEALTH_KEPT`).
    pub fn superseded(&self) -> u64 {
        self.spool().superseded()
    }

    /// How many reports were made (spooled) since start.
    pub fn made(&self) -> u64 {
        self.made.load(Ordering::SeqCst)
    }

    /// Hotlist alerts raised since start, by category.
    pub fn alerts_by_category(&self) -> BTreeMap<String, u64> {
        self.alerts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Every `every`, until cancelled: reports health and closed windows, then
    /// runs retention. Works whether or not a controller is connected. Times come
    /// from the supervisor's clock, as do the sweep's.
    pub async fn run(
        self: Arc<Self>,
        sup: Arc<Supervisor>,
        every: Duration,
        cancel: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            let now = sup.clock().now();
            let health = sup.health();
            if let Ok(json) = serde_json::to_value(&health) {
                if let Err(e) = self.report(
                    ReportKind::Health,
                    format!("h-{}", now.as_millisecond()),
                    json,
                ) {
                    tracing::warn!(error = %e, "could not spool a health report");
                }
            }
            for w in sup.take_windows() {
                if let Err(e) = self.report_window(&w, now) {
                    tracing::warn!(error = %e, "could not spool an active window");
                }
            }
            let sup = sup.clone();
            let _ = tokio::task::spawn_blocking(move || sup.sweep()).await;
        }
    }
}
