//! Reconciles desired cameras into ingest threads, and answers for health,
//! active windows and retention. Level-triggered and idempotent: calling
//! `reconcile` again with the same input changes nothing; a camera whose config
//! changed is restarted; a thread that died is restarted.
//!
//! Every method takes `&self` and returns quickly except [`Supervisor::sweep`]
//! (file deletions; run it on a blocking thread) and [`Supervisor::shutdown`].

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use crate::alpr::site::{AlertSink, AlprCounters, AlprSite, AlprSiteOptions, SiteCtx};
use crate::alpr::store::ReadStore;
use crate::clock::{Clock, RetentionTime};
use crate::config::{CameraConfig, ConfigProblem, LegalHold};
use crate::error::{AgentError, Result};
use crate::gps::Gps;
use crate::health::AlprHealth;
use crate::health::{
    cpu_percent, parse_meminfo, parse_proc_stat, ActiveWindow, CameraHealth, CpuSample,
    GatewayHealth,
};
use crate::holds::Holds;
use crate::hotlist::Hotlists;
use crate::index::Index;
use crate::ingest::{run_camera, CameraRuntime, CameraShared, IngestOptions};
use crate::retention::{self, DiskPolicy, DiskProbe, RetentionPolicy, SweepReport};

/// How the supervisor is set up.
#[derive(Debug, Clone)]
pub struct SupervisorOptions {
    /// Recording root (`segments/<camera>/`, `index/`).
    pub root: PathBuf,
    /// Ingest tunables shared by all cameras.
    pub ingest: IngestOptions,
    /// Disk-pressure thresholds for sweeps.
    pub disk: DiskPolicy,
}

struct CameraTask {
    cfg: CameraConfig,
    cancel: CancellationToken,
    /// Set by the camera's thread when it has stopped.
    done: Arc<std::sync::atomic::AtomicBool>,
    handle: Option<JoinHandle<()>>,
    shared: Arc<Mutex<CameraShared>>,
    alpr: Option<Arc<AlprCounters>>,
}

/// What a reconcile did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Cameras started for the first time.
    pub started: Vec<String>,
    /// Cameras restarted (config changed or thread died).
    pub restarted: Vec<String>,
    /// Cameras stopped (no longer desired).
    pub stopped: Vec<String>,
    /// Desired cameras refused, with why (others still applied).
    pub rejected: Vec<ConfigProblem>,
}

struct Inner {
    cameras: BTreeMap<String, CameraTask>,
    /// Stopped cameras' threads, joined when finished; their last windows kept.
    stopping: Vec<CameraTask>,
    retention_days: HashMap<String, u32>,
    cpu_prev: Option<CpuSample>,
    alarms: Vec<String>,
    /// Why the saved desired config could not be read, until the controller's
    /// replaces it (a health alarm).
    saved_config: Option<String>,
    /// The time recordings and reads age by (the wall clock, checked).
    age_by: RetentionTime,
}

/// The health alarm while the hold list is not known in this run (no saved
/// desired config was read and the controller has not sent one): retention
/// deletes no recording or read, since any might be held (the rule: held
/// evidence is never deleted). A disk that fills meanwhile stops recording, the
/// lesser harm. (Masked export copies still go: they are made again from their
/// originals, which stay.)
pub const WAITING_FOR_HOLDS: &str = "retention waits for the hold list (no readable saved config; \
     controller not reached yet): no recording or plate read is deleted, and a full disk stops recording";

/// The agent's media supervisor.
pub struct Supervisor {
    opts: SupervisorOptions,
    clock: Arc<dyn Clock>,
    probe: Arc<dyn DiskProbe>,
    index: Arc<Mutex<Index>>,
    reads: Arc<ReadStore>,
    alpr: Mutex<(AlprSiteOptions, Option<Arc<AlprSite>>)>,
    site: Mutex<SiteCtx>,
    inner: Mutex<Inner>,
    /// The legal holds in force; unknown until a reconcile.
    holds: Holds,
    playbacks: crate::playback::Playbacks,
    live: Arc<crate::live::LiveTaps>,
}

impl Supervisor {
    /// Opens the index under `opts.root` and starts with no cameras and no
    /// hold list known: retention deletes nothing until the first reconcile.
    pub fn new(
        opts: SupervisorOptions,
        clock: Arc<dyn Clock>,
        probe: Arc<dyn DiskProbe>,
    ) -> Result<Self> {
        std::fs::create_dir_all(&opts.root).map_err(|e| AgentError::io("create", &opts.root, e))?;
        let index = Arc::new(Mutex::new(Index::open(&opts.root)?));
        let reads = Arc::new(ReadStore::open(&opts.root)?);
        let site = SiteCtx {
            hotlists: Hotlists::open(&opts.root),
            ..SiteCtx::default()
        };
        Ok(Supervisor {
            opts,
            clock,
            probe,
            index,
            reads,
            alpr: Mutex::new((AlprSiteOptions::default(), None)),
            site: Mutex::new(site),
            inner: Mutex::new(Inner {
                cameras: BTreeMap::new(),
                stopping: Vec::new(),
                retention_days: HashMap::new(),
                cpu_prev: None,
                alarms: Vec::new(),
                saved_config: None,
                age_by: RetentionTime::default(),
            }),
            holds: Holds::default(),
            playbacks: crate::playback::Playbacks::default(),
            live: Arc::default(),
        })
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The segment index (for lookups and exports).
    pub fn index(&self) -> Arc<Mutex<Index>> {
        self.index.clone()
    }

    /// The playback sessions (recorded ranges remuxed to fMP4 for viewers).
    pub fn playbacks(&self) -> &crate::playback::Playbacks {
        &self.playbacks
    }

    /// The cameras' live taps (live view).
    pub fn live(&self) -> &Arc<crate::live::LiveTaps> {
        &self.live
    }

    /// The plate-read store (`<root>/reads`).
    pub fn reads(&self) -> Arc<ReadStore> {
        self.reads.clone()
    }

    /// The hotlists reads are matched against (`<root>/hotlists.json`).
    pub fn hotlists(&self) -> Hotlists {
        self.site_ctx().hotlists
    }

    fn site_ctx(&self) -> SiteCtx {
        self.site.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Where hotlist alerts go from now on.
    pub fn set_alert_sink(&self, sink: AlertSink) {
        *self
            .site_ctx()
            .alerts
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(sink);
    }

    /// The gateway's GPS (mobile readers); call before `reconcile`.
    pub fn set_gps(&self, gps: Gps) {
        self.site.lock().unwrap_or_else(|e| e.into_inner()).gps = Some(gps);
    }

    /// Sets the ALPR settings used when the reader starts (with the first ALPR
    /// camera); call before `reconcile`.
    pub fn set_alpr_options(&self, opts: AlprSiteOptions) {
        self.alpr.lock().unwrap_or_else(|e| e.into_inner()).0 = opts;
    }

    /// The shared reader, started on first use; None (with an alarm) if its thread
    /// cannot start. Models load on the reader thread.
    fn alpr_site(&self) -> std::result::Result<Arc<AlprSite>, String> {
        let mut g = self.alpr.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = &g.1 {
            return Ok(s.clone());
        }
        let site = AlprSite::start(
            g.0.clone(),
            self.reads.clone(),
            self.clock.clone(),
            self.site_ctx(),
        )
        .map_err(|e| format!("alpr: cannot start reader: {e}"))?;
        let site = Arc::new(site);
        g.1 = Some(site.clone());
        Ok(site)
    }

    /// Makes the running cameras match `desired` and puts `holds` in force for
    /// sweeps: when it returns, no deletion (a running sweep's included) can
    /// remove what they cover ([`Holds::set`] waits for the file being removed),
    /// so the caller may then acknowledge them. The first reconcile makes the
    /// hold list known: retention deletes nothing before it. Invalid entries are
    /// rejected individually; never blocks on a camera.
    pub fn reconcile(&self, desired: Vec<CameraConfig>, holds: Vec<LegalHold>) -> ReconcileReport {
        self.holds.set(holds);
        let mut report = ReconcileReport::default();
        let mut inner = self.inner();
        let mut want: BTreeMap<String, CameraConfig> = BTreeMap::new();
        for (i, c) in desired.into_iter().enumerate() {
            let mut p = c.problems(&format!("[{i}]."));
            if want.contains_key(&c.id) {
                p.push(ConfigProblem {
                    path: format!("[{i}].id"),
                    message: format!("duplicate camera id {:?}", c.id),
                });
            }
            if p.is_empty() {
                want.insert(c.id.clone(), c);
            } else {
                report.rejected.extend(p);
            }
        }
        // Remember retention for cameras that go away too: their data still ages out.
        for c in want.values() {
            inner.retention_days.insert(c.id.clone(), c.retention_days);
        }
        let ids: Vec<String> = inner.cameras.keys().cloned().collect();
        for id in ids {
            let keep = want.get(&id).is_some_and(|w| {
                let t = &inner.cameras[&id];
                t.cfg == *w && !t.handle.as_ref().is_some_and(|h| h.is_finished())
            });
            if !keep {
                if let Some(t) = inner.cameras.remove(&id) {
                    t.cancel.cancel();
                    inner.stopping.push(t);
                    if want.contains_key(&id) {
                        report.restarted.push(id);
                    } else {
                        report.stopped.push(id);
                    }
                }
            }
        }
        for (id, cfg) in want {
            if inner.cameras.contains_key(&id) {
                continue;
            }
            if !report.restarted.contains(&id) {
                report.started.push(id.clone());
            }
            let task = self.spawn(cfg, &inner.stopping);
            inner.cameras.insert(id, task);
        }
        reap(&mut inner.stopping);
        report
    }

    fn spawn(&self, cfg: CameraConfig, stopping: &[CameraTask]) -> CameraTask {
        let cancel = CancellationToken::new();
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // A restarted camera keeps its counters (reconnects, errors) across the restart.
        let prev = stopping.iter().rev().find(|t| t.cfg.id == cfg.id);
        let mut fresh = CameraShared::new(&cfg.id, self.opts.ingest.window_merge_gap);
        if let Some(p) = prev {
            let p = p.shared.lock().unwrap_or_else(|e| e.into_inner());
            fresh.health.reconnects = p.health.reconnects;
            fresh.health.failures = p.health.failures;
            fresh.health.segments_written = p.health.segments_written;
            fresh.health.frames_received = p.health.frames_received;
            fresh.health.bytes_received = p.health.bytes_received;
            fresh.health.last_error = p.health.last_error.clone();
        }
        let shared = Arc::new(Mutex::new(fresh));
        let feed = if cfg.alpr {
            let sh = shared.clone();
            let on_read = Arc::new(
                move |t: Timestamp, hits: &[camplane_config::hotlist::HitCategory]| {
                    sh.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .windows
                        .plate_read(t, hits);
                },
            );
            match self
                .alpr_site()
                .and_then(|s| s.camera_feed(&cfg, on_read).map_err(|e| e.to_string()))
            {
                Ok(f) => Some(f),
                Err(e) => {
                    let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
                    s.health.last_error = Some(format!("alpr: {e}"));
                    None
                }
            }
        } else {
            None
        };
        let alpr = feed.as_ref().map(|f| f.counters());
        let rt = CameraRuntime {
            cfg: cfg.clone(),
            opts: self.opts.ingest.clone(),
            clock: self.clock.clone(),
            index: self.index.clone(),
            shared: shared.clone(),
            cancel: cancel.clone(),
            alpr: feed,
            live: Some(self.live.tap(&cfg.id)),
            done: done.clone(),
            after: prev.map(|p| p.done.clone()),
        };
        let handle = std::thread::Builder::new()
            .name(format!("ingest-{}", cfg.id))
            .spawn(move || run_camera(rt));
        let handle = match handle {
            Ok(h) => Some(h),
            Err(e) => {
                let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
                s.health.last_error = Some(format!("cannot start thread: {e}"));
                // Nothing runs, so nothing is left to wait for at a restart.
                done.store(true, std::sync::atomic::Ordering::Release);
                None
            }
        };
        CameraTask {
            cfg,
            cancel,
            done,
            handle,
            shared,
            alpr,
        }
    }

    /// Configs currently applied.
    pub fn cameras(&self) -> Vec<CameraConfig> {
        self.inner()
            .cameras
            .values()
            .map(|t| t.cfg.clone())
            .collect()
    }

    /// Health of every camera and of the gateway, for the periodic report: the
    /// host CPU share is measured since the previous report.
    pub fn health(&self) -> GatewayHealth {
        self.health_inner(true)
    }

    /// The same, without starting a new CPU measurement (a metrics scrape must
    /// not shorten the interval the next report measures over).
    pub fn health_snapshot(&self) -> GatewayHealth {
        self.health_inner(false)
    }

    fn health_inner(&self, new_cpu_interval: bool) -> GatewayHealth {
        let now = self.clock.now();
        let mut inner = self.inner();
        let cameras: Vec<CameraHealth> = inner
            .cameras
            .values()
            .map(|t| {
                let mut s = t.shared.lock().unwrap_or_else(|e| e.into_inner());
                let (fps, bps) = s.meter.rates(now);
                let mut h = s.health.clone();
                h.fps = fps;
                h.bytes_per_sec = bps;
                h.recording_lag = s.last_segment_end.map(|e| now.duration_since(e));
                s.windows.tick(now);
                h.alpr = t.alpr.as_ref().map(|c| AlprHealth {
                    packets_dropped: c.packets_dropped.load(Ordering::Relaxed),
                    frames_dropped: c.frames_dropped.load(Ordering::Relaxed),
                    frames_read: c.frames_read.load(Ordering::Relaxed),
                    plates_read: c.plates_read.load(Ordering::Relaxed),
                    detector_calls: c.detector_calls.load(Ordering::Relaxed),
                    frames_still: c.frames_still.load(Ordering::Relaxed),
                    last_error: c
                        .last_error
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .clone(),
                });
                h
            })
            .collect();
        let space = self.probe.space().unwrap_or_default();
        let cpu = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|t| parse_proc_stat(&t));
        let cpu_percent = match (inner.cpu_prev, cpu) {
            (Some(a), Some(b)) => cpu_percent(a, b),
            _ => None,
        };
        if cpu.is_some() && new_cpu_interval {
            inner.cpu_prev = cpu;
        }
        let (mem_total, mem_available) = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|t| parse_meminfo(&t))
            .unwrap_or((0, 0));
        GatewayHealth {
            at: now,
            cameras,
            disk_free: space.free,
            disk_total: space.total,
            cpu_percent,
            mem_total,
            mem_available,
            alarms: {
                let mut a = inner.alarms.clone();
                if !self.holds.known() {
                    a.push(WAITING_FOR_HOLDS.to_string());
                }
                a.extend(inner.saved_config.clone());
                let g = self.alpr.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(e) = g.1.as_ref().and_then(|s| {
                    s.load_error
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .clone()
                }) {
                    a.push(format!("alpr: {e}"));
                }
                a
            },
        }
    }

    /// Video packets of `camera` written to segment files so far (flushed on return).
    pub fn packets_recorded(&self, camera: &str) -> Option<u64> {
        self.inner().cameras.get(camera).map(|t| {
            t.shared
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .packets_recorded
        })
    }

    /// Closed active-collection windows since the last call (including those of
    /// cameras stopped since); each window is returned once.
    pub fn take_windows(&self) -> Vec<ActiveWindow> {
        let now = self.clock.now();
        let mut inner = self.inner();
        let mut out = Vec::new();
        for t in inner.cameras.values().chain(inner.stopping.iter()) {
            let mut s = t.shared.lock().unwrap_or_else(|e| e.into_inner());
            s.windows.tick(now);
            out.extend(s.windows.take_closed());
        }
        reap(&mut inner.stopping);
        out
    }

    /// Windows still open (camera currently delivering), ending at their last video.
    pub fn active_windows(&self) -> Vec<ActiveWindow> {
        let inner = self.inner();
        inner
            .cameras
            .values()
            .filter_map(|t| {
                t.shared
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .windows
                    .current()
            })
            .collect()
    }

    /// The clock everything here reads (segments, windows, health, retention).
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// The controller said it is `t` (a report's acknowledgement): what the
    /// wall clock is checked against before anything ages by it.
    pub fn heard_controller_time(&self, t: Timestamp) {
        let mono = self.clock.monotonic();
        self.inner().age_by.heard(t, mono);
    }

    /// The saved desired config could not be read (`Some`: why, naming the
    /// file), or the controller's has replaced it (`None`): a health alarm.
    pub fn set_saved_config_alarm(&self, problem: Option<String>) {
        self.inner().saved_config = problem;
    }

    /// Runs retention at the clock's now, checked ([`RetentionTime`]), with the
    /// holds in force at each deletion (nothing at all before they are known);
    /// raises or clears the disk and clock alarms. Blocking (deletes files):
    /// call from a blocking thread.
    pub fn sweep(&self) -> SweepReport {
        let (days, age_by) = {
            let mut inner = self.inner();
            let age_by = inner.age_by.at(self.clock.now(), self.clock.monotonic());
            (inner.retention_days.clone(), age_by)
        };
        let now = age_by.now;
        let policy = RetentionPolicy {
            days,
            disk: self.opts.disk,
        };
        let report = retention::sweep(&self.index, &policy, &self.holds, self.probe.as_ref(), now);
        let reads = self.reads.sweep(now, &policy.days, &self.holds);
        // Masked copies made for exports go with their originals, and within
        // the hour anyway (`retention::MASKED_MAX_AGE`).
        {
            let idx = self.index.lock().unwrap_or_else(|e| e.into_inner());
            let at = std::time::SystemTime::UNIX_EPOCH
                + std::time::Duration::from_millis(now.as_millisecond().max(0) as u64);
            retention::forget_stale_masked(&idx.root().join("masked"), at, |c, seq| {
                idx.segments(c).iter().any(|e| e.seq == seq)
            });
        }
        let mut alarms: Vec<String> = age_by.alarm.into_iter().collect();
        for e in &reads.errors {
            alarms.push(format!("retention (reads): {e}"));
        }
        if let Some(a) = report.alarm.as_ref().filter(|_| report.waiting_for_holds) {
            alarms.push(format!(
                "disk_pressure: {} bytes free < {} required; nothing deleted until the hold list is known",
                a.free_before, a.required
            ));
        } else if let Some(a) = &report.alarm {
            alarms.push(format!(
                "disk_pressure: {} bytes free < {} required; deleted {} oldest unheld segments{}",
                a.free_before,
                a.required,
                a.deleted,
                if a.resolved {
                    ""
                } else {
                    "; still short (rest is held or undeletable)"
                }
            ));
        }
        for e in &report.errors {
            alarms.push(format!("retention: {e}"));
        }
        self.inner().alarms = alarms;
        report
    }

    /// Stops every camera and waits for its thread (bounded by the socket timeout).
    pub fn shutdown(&self) {
        let mut inner = self.inner();
        let tasks: Vec<CameraTask> = std::mem::take(&mut inner.cameras).into_values().collect();
        inner.stopping.extend(tasks);
        for t in &inner.stopping {
            t.cancel.cancel();
        }
        for t in inner.stopping.iter_mut() {
            if let Some(h) = t.handle.take() {
                let _ = h.join();
            }
        }
        drop(inner);
        // The cameras' feeds are gone: the reader flushes open passes and ends.
        let site = self.alpr.lock().unwrap_or_else(|e| e.into_inner()).1.take();
        if let Some(site) = site.and_then(Arc::into_inner) {
            site.stop();
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Drops stopped tasks whose thread ended and whose windows were all taken.
fn reap(stopping: &mut Vec<CameraTask>) {
    stopping.retain_mut(|t| {
        let done = t.handle.as_ref().is_none_or(|h| h.is_finished());
        if done {
            if let Some(h) = t.handle.take() {
                let _ = h.join();
            }
            let mut s = t.shared.lock().unwrap_or_else(|e| e.into_inner());
            s.windows.finish();
            // Keep until its last windows are taken.
            let pending = !s.windows.take_closed_peek_empty();
            return pending;
        }
        true
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::config::HoldReason;
    use crate::retention::FixedProbe;
    use jiff::SignedDuration;

    /// A supervisor on a manual clock at `t0`, with two days of hourly
    /// segments of camera `c` recorded from `t0`, and an empty disk.
    fn two_days(dir: &std::path::Path, t0: Timestamp) -> (Supervisor, Arc<ManualClock>) {
        two_days_on(dir, t0, Arc::new(FixedProbe::new(1 << 40, 1 << 40)))
    }

    /// The same, measuring the disk with `probe`.
    fn two_days_on(
        dir: &std::path::Path,
        t0: Timestamp,
        probe: Arc<dyn DiskProbe>,
    ) -> (Supervisor, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(t0));
        let opts = SupervisorOptions {
            root: dir.to_path_buf(),
            ingest: IngestOptions::default(),
            disk: DiskPolicy::default(),
        };
        let sup = Supervisor::new(opts, clock.clone(), probe).unwrap();
        {
            let idx = sup.index();
            let mut idx = idx.lock().unwrap();
            std::fs::create_dir_all(idx.camera_dir("c")).unwrap();
            for h in 0..48 {
                let s = t0 + SignedDuration::from_hours(h);
                let e = idx
                    .append(
                        "c",
                        s.as_millisecond(),
                        (s + SignedDuration::from_hours(1)).as_millisecond(),
                        10,
                        h as u32,
                        [0; 32],
                    )
                    .unwrap();
                std::fs::write(idx.segment_path("c", &e), [0u8; 10]).unwrap();
            }
        }
        (sup, clock)
    }

    /// The wall clock set 40 days forward while the agent runs: nothing ages
    /// by it, the health report says why, and once the controller's time
    /// agrees (the clock had been wrong before), retention follows it.
    #[test]
    fn a_wall_clock_jumping_forward_deletes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let t0: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let (sup, clock) = two_days(dir.path(), t0);
        sup.reconcile(vec![], vec![]);
        let left = || sup.index().lock().unwrap().segments("c").len();
        clock.advance(SignedDuration::from_hours(48));
        assert_eq!(sup.sweep().expired_deleted, 0);
        clock.jump(SignedDuration::from_hours(24 * 40));
        clock.advance(SignedDuration::from_mins(10));
        assert_eq!(sup.sweep().expired_deleted, 0);
        assert_eq!(left(), 48);
        let alarms = sup.health().alarms;
        assert!(
            alarms
                .iter()
                .any(|a| a.starts_with("clock: the wall clock")),
            "{alarms:?}"
        );
        sup.heard_controller_time(clock.now());
        assert_eq!(sup.sweep().expired_deleted, 48);
        assert!(sup.health().alarms.is_empty());
    }

    #[test]
    fn retention_runs_on_the_injected_clock() {
        let dir = tempfile::tempdir().unwrap();
        let t0: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        // Two days of hourly segments, recorded at t0.
        let (sup, clock) = two_days(dir.path(), t0);
        let hold = LegalHold {
            case_number: "25-00007".into(),
            cameras: vec!["c".into()],
            from: "2025-01-01T10:00:00Z".parse().unwrap(),
            // Inclusive: end just before the 12:00 segment's first instant.
            until: "2025-01-01T11:59:59.999Z".parse().unwrap(),
            reason: HoldReason::Court.into(),
        };
        sup.reconcile(vec![], vec![hold]);
        let left = || sup.index().lock().unwrap().segments("c").len();

        // One minute short of 30 days after the first segment ended: all kept.
        clock.set(t0 + SignedDuration::from_hours(24 * 30) + SignedDuration::from_mins(59));
        assert_eq!(sup.sweep().expired_deleted, 0);
        assert_eq!(left(), 48);
        // Over the line for the first day: the held hours stay, the rest go.
        clock.advance(SignedDuration::from_hours(23) + SignedDuration::from_mins(1));
        let r = sup.sweep();
        assert_eq!((r.expired_deleted, r.held_kept), (22, 2), "{r:?}");
        assert_eq!(left(), 26);
        // The hold is released: its hours go at the next sweep, nothing else does.
        sup.reconcile(vec![], vec![]);
        let r = sup.sweep();
        assert_eq!((r.expired_deleted, r.held_kept), (2, 0), "{r:?}");
        assert_eq!(left(), 24);
        // A masked copy made for an export of the second day's first hour, and
        // one whose original is gone already: the orphan goes at once; the
        // other with its original.
        let masked = dir.path().join("masked");
        std::fs::create_dir_all(&masked).unwrap();
        let seq = sup.index().lock().unwrap().segments("c")[0].seq;
        let copy = masked.join(format!("c-{seq}-0123456789abcdef.ts"));
        std::fs::write(&copy, [0u8; 10]).unwrap();
        std::fs::write(masked.join("c-0-0123456789abcdef.ts"), [0u8; 10]).unwrap();
        // A copy being written (mask::mask_file's temporary name) stays.
        let writing = masked.join(format!("c-{seq}-0123456789abcdef.tmp-42"));
        std::fs::write(&writing, [0u8; 10]).unwrap();
        sup.sweep();
        assert!(copy.exists(), "its original is still kept");
        assert!(writing.exists(), "a copy being written is not taken");
        assert_eq!(std::fs::read_dir(&masked).unwrap().count(), 2);
        // The clock alone moves the second day out, and the masked copy with it.
        clock.advance(SignedDuration::from_hours(24));
        assert_eq!(sup.sweep().expired_deleted, 24);
        assert_eq!(left(), 0);
        assert!(!copy.exists(), "a masked copy outlived its original");
    }

    /// The first hour of `c`'s recording, held.
    fn first_hour_held(t0: Timestamp, reason: crate::config::PushedHoldReason) -> LegalHold {
        LegalHold {
            case_number: "25-00009".into(),
            cameras: vec!["c".into()],
            from: t0,
            until: t0 + SignedDuration::from_mins(59),
            reason,
        }
    }

    /// Start-up with no hold list (no readable saved config, controller not
    /// reached): 31 days on and the disk full, nothing is deleted, and health
    /// says why; the first hold list (a reconcile) lets retention go on, and
    /// what it holds stays.
    #[test]
    fn retention_waits_for_the_hold_list() {
        let dir = tempfile::tempdir().unwrap();
        let t0: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let probe = Arc::new(FixedProbe::new(0, 1 << 40));
        let (sup, clock) = two_days_on(dir.path(), t0, probe.clone());
        let left = || sup.index().lock().unwrap().segments("c").len();
        clock.advance(SignedDuration::from_hours(24 * 33));
        let alarms = sup.health().alarms;
        assert!(alarms.iter().any(|a| a == WAITING_FOR_HOLDS), "{alarms:?}");
        let r = sup.sweep();
        assert!(r.waiting_for_holds, "{r:?}");
        assert_eq!((r.expired_deleted, r.pressure_deleted), (0, 0));
        assert_eq!(left(), 48);
        assert_eq!(sup.reads().len(), 0);
        let alarms = sup.health().alarms;
        assert!(alarms.iter().any(|a| a == WAITING_FOR_HOLDS), "{alarms:?}");
        assert!(
            alarms
                .iter()
                .any(|a| a.contains("nothing deleted until the hold list is known")),
            "{alarms:?}"
        );
        // The controller's list arrives: the unheld go, the held hour stays.
        probe.set(1 << 40, 1 << 40);
        sup.reconcile(vec![], vec![first_hour_held(t0, HoldReason::Court.into())]);
        let r = sup.sweep();
        assert_eq!((r.expired_deleted, r.held_kept), (47, 1), "{r:?}");
        assert_eq!(left(), 1);
        assert!(sup.health().alarms.is_empty());
    }

    /// A hold whose reason this build does not know (a newer controller's)
    /// parses, and holds: a 31-day-old segment it covers is kept.
    #[test]
    fn a_hold_with_an_unknown_reason_still_holds() {
        let dir = tempfile::tempdir().unwrap();
        let t0: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let (sup, clock) = two_days(dir.path(), t0);
        let d: crate::config::Desired = serde_json::from_value(serde_json::json!({
            "agent": "gw", "site": "hq", "cameras": [],
            "holds": [{"case_number": "25-00009", "cameras": ["c"],
                       "from": "2025-01-01T00:00:00Z", "until": "2025-01-01T00:59:00Z",
                       "reason": "something_new"}],
        }))
        .unwrap();
        assert_eq!(
            d.holds[0],
            first_hour_held(
                t0,
                crate::config::PushedHoldReason::Unknown("something_new".into())
            )
        );
        sup.reconcile(vec![], d.holds);
        clock.set(t0 + SignedDuration::from_hours(24 * 31));
        let r = sup.sweep();
        assert_eq!(r.held_kept, 1, "{r:?}");
        let segs = sup.index().lock().unwrap().segments("c").to_vec();
        assert_eq!(segs[0].start(), t0, "the held first hour stays");
        assert!(sup
            .index()
            .lock()
            .unwrap()
            .segment_path("c", &segs[0])
            .is_file());
    }

    /// Reports a full disk, and the first time it is asked (mid-sweep, between
    /// the age pass and the disk-pressure pass) puts a new hold in force, as
    /// the session does when the controller sends one.
    struct HoldArrivesMidSweep {
        sup: std::sync::OnceLock<std::sync::Weak<Supervisor>>,
        hold: LegalHold,
        /// Set once the reconcile returned: the session would acknowledge now.
        acknowledged: std::sync::atomic::AtomicBool,
    }

    impl DiskProbe for HoldArrivesMidSweep {
        fn space(&self) -> std::io::Result<crate::retention::DiskSpace> {
            if !self.acknowledged.load(Ordering::SeqCst) {
                if let Some(sup) = self.sup.get().and_then(std::sync::Weak::upgrade) {
                    sup.reconcile(vec![], vec![self.hold.clone()]);
                    self.acknowledged.store(true, Ordering::SeqCst);
                }
            }
            Ok(crate::retention::DiskSpace {
                free: 0,
                total: 1 << 40,
            })
        }
    }

    /// A hold that arrives while a sweep runs is in force once acknowledged:
    /// the sweep, begun with no holds, deletes every unheld segment for the
    /// full disk but not the newly held oldest one.
    #[test]
    fn a_hold_acknowledged_during_a_sweep_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let t0: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let probe = Arc::new(HoldArrivesMidSweep {
            sup: std::sync::OnceLock::new(),
            hold: first_hour_held(t0, HoldReason::Court.into()),
            acknowledged: std::sync::atomic::AtomicBool::new(false),
        });
        let (sup, clock) = two_days_on(dir.path(), t0, probe.clone());
        let sup = Arc::new(sup);
        sup.reconcile(vec![], vec![]);
        let _ = probe.sup.set(Arc::downgrade(&sup));
        clock.advance(SignedDuration::from_hours(48));
        let oldest = sup.index().lock().unwrap().segments("c")[0];
        let oldest_file = sup.index().lock().unwrap().segment_path("c", &oldest);
        let r = sup.sweep();
        assert!(probe.acknowledged.load(Ordering::SeqCst));
        assert_eq!((r.expired_deleted, r.pressure_deleted), (0, 47), "{r:?}");
        assert!(!r.alarm.unwrap().resolved, "only held data is left");
        assert_eq!(sup.index().lock().unwrap().segments("c"), [oldest]);
        assert!(oldest_file.is_file(), "the acknowledged hold was violated");
    }
}
