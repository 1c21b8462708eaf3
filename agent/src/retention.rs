//! Retention: age-out, legal holds, and disk pressure. Separate from recording
//! (MediaMTX's split), driven by an injected clock and disk probe.
//!
//! Rules (governance.md): segments older than the camera's retention (default
//! and ceiling 30 days) are deleted, file and index entry, unless a legal hold
//! covers them. When free space falls under the threshold the oldest unheld
//! segments go first, whatever their age, and an alarm is raised; held
//! segments are never deleted, even if that leaves the disk short (that is a
//! louder alarm, not a deletion).

use std::collections::{BinaryHeap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};

use crate::config::{LegalHold, MAX_RETENTION_DAYS};
use crate::holds::Holds;
use crate::index::{Entry, Index};

/// Free and total bytes of the recording filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DiskSpace {
    /// Bytes available to the agent.
    pub free: u64,
    /// Filesystem size.
    pub total: u64,
}

/// Where free space comes from (injectable so tests can fill the disk).
pub trait DiskProbe: Send + Sync + 'static {
    /// Current free/total bytes.
    fn space(&self) -> std::io::Result<DiskSpace>;
}

/// Real probe: `statvfs` on the recording root.
#[derive(Debug, Clone)]
pub struct StatvfsProbe {
    /// Any path on the filesystem to measure.
    pub path: PathBuf,
}

impl DiskProbe for StatvfsProbe {
    fn space(&self) -> std::io::Result<DiskSpace> {
        let s = rustix::fs::statvfs(&self.path).map_err(std::io::Error::from)?;
        Ok(DiskSpace {
            free: s.f_bavail.saturating_mul(s.f_frsize),
            total: s.f_blocks.saturating_mul(s.f_frsize),
        })
    }
}

/// A probe that reports whatever the test sets.
#[derive(Debug, Default)]
pub struct FixedProbe(pub Mutex<DiskSpace>);

impl FixedProbe {
    /// A probe reporting `free` of `total`.
    pub fn new(free: u64, total: u64) -> Self {
        FixedProbe(Mutex::new(DiskSpace { free, total }))
    }
    /// Changes what it reports.
    pub fn set(&self, free: u64, total: u64) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = DiskSpace { free, total };
    }
}

impl DiskProbe for FixedProbe {
    fn space(&self) -> std::io::Result<DiskSpace> {
        Ok(*self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// When the disk counts as full.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiskPolicy {
    /// Keep at least this many bytes free.
    pub min_free_bytes: u64,
    /// Keep at least this share (0-100) of the filesystem free.
    pub min_free_percent: f64,
}

impl Default for DiskPolicy {
    fn default() -> Self {
        DiskPolicy {
            min_free_bytes: 2 << 30,
            min_free_percent: 5.0,
        }
    }
}

impl DiskPolicy {
    /// Bytes that must be free on a filesystem of `total` bytes.
    pub fn required_free(&self, total: u64) -> u64 {
        let pct = (total as f64 * self.min_free_percent.clamp(0.0, 100.0) / 100.0) as u64;
        self.min_free_bytes.max(pct)
    }
}

/// Retention settings for one sweep.
#[derive(Debug, Clone, Default)]
pub struct RetentionPolicy {
    /// Days per camera id; cameras not listed (e.g. removed ones) get 30.
    pub days: HashMap<String, u32>,
    /// Disk-pressure thresholds.
    pub disk: DiskPolicy,
}

impl RetentionPolicy {
    /// Retention for `camera`, clamped to the policy ceiling.
    pub fn days_for(&self, camera: &str) -> u32 {
        self.days
            .get(camera)
            .copied()
            .unwrap_or(MAX_RETENTION_DAYS)
            .clamp(1, MAX_RETENTION_DAYS)
    }
}

/// Raised when the disk was under its free-space threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskAlarm {
    /// Free bytes measured before the sweep.
    pub free_before: u64,
    /// Free bytes expected after the sweep's deletions.
    pub free_after: u64,
    /// Threshold.
    pub required: u64,
    /// Unheld segments deleted early because of pressure.
    pub deleted: usize,
    /// Whether the threshold is met again (false: only held data left, or errors).
    pub resolved: bool,
}

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Segments deleted for age.
    pub expired_deleted: usize,
    /// Segments deleted for disk pressure.
    pub pressure_deleted: usize,
    /// Bytes of segment files deleted.
    pub bytes_freed: u64,
    /// Expired segments kept because a legal hold covers them.
    pub held_kept: usize,
    /// Files that could not be removed (their index entries are kept).
    pub errors: Vec<String>,
    /// Set when the disk was under threshold.
    pub alarm: Option<DiskAlarm>,
    /// Nothing was deleted: the hold list is not known yet in this run.
    pub waiting_for_holds: bool,
}

/// Whether any hold covers this segment of `camera`.
pub fn is_held(camera: &str, e: &Entry, holds: &[LegalHold]) -> bool {
    let (s, t) = (e.start(), e.end());
    holds.iter().any(|h| h.covers(camera, s, t))
}

/// Runs one sweep. The index lock is held only while planning and while erasing
/// entries, not during file removal, so recorders keep appending. Plans go by
/// the hold list in force when made; each file is checked again against the
/// list in force right before it is removed ([`Holds::deleting`]), so a hold
/// put in force while the sweep runs is kept. While the list is not known in
/// this run nothing is deleted at all (`waiting_for_holds`), even with the disk
/// short: the alarm says so.
pub fn sweep(
    index: &Mutex<Index>,
    policy: &RetentionPolicy,
    holds: &Holds,
    probe: &dyn DiskProbe,
    now: Timestamp,
) -> SweepReport {
    let mut report = SweepReport::default();
    let Some(planned) = holds.snapshot() else {
        report.waiting_for_holds = true;
        match probe.space() {
            Ok(space) => {
                let required = policy.disk.required_free(space.total);
                if space.free < required {
                    report.alarm = Some(DiskAlarm {
                        free_before: space.free,
                        free_after: space.free,
                        required,
                        deleted: 0,
                        resolved: false,
                    });
                }
            }
            Err(e) => report.errors.push(format!("disk probe: {e}")),
        }
        return report;
    };
    // 1. Age.
    let mut victims = {
        let idx = index.lock().unwrap_or_else(|e| e.into_inner());
        let mut victims: Vec<(String, Vec<Entry>)> = Vec::new();
        for cam in idx.cameras() {
            let days = policy.days_for(cam) as i64;
            let cutoff = now
                .checked_sub(SignedDuration::from_hours(24 * days))
                .map(|t| t.as_millisecond())
                .unwrap_or(i64::MIN);
            let cam_holds: Vec<LegalHold> = planned
                .iter()
                .filter(|h| h.cameras.iter().any(|c| c == cam))
                .cloned()
                .collect();
            let mut v = Vec::new();
            for e in idx.segments(cam) {
                if e.end_ms > cutoff {
                    continue;
                }
                if !cam_holds.is_empty() && is_held(cam, e, &cam_holds) {
                    report.held_kept += 1;
                } else {
                    v.push(*e);
                }
            }
            if !v.is_empty() {
                victims.push((cam.to_string(), v));
            }
        }
        victims
    };
    for (cam, v) in victims.iter_mut() {
        let d = delete(index, cam, v, holds, &mut report.errors);
        report.expired_deleted += d.deleted;
        report.bytes_freed += d.bytes;
        report.held_kept += d.held;
    }

    // 2. Disk pressure.
    let space = match probe.space() {
        Ok(s) => s,
        Err(e) => {
            report.errors.push(format!("disk probe: {e}"));
            return report;
        }
    };
    let required = policy.disk.required_free(space.total);
    // The probe ran after age deletions, so it already counts their bytes.
    let mut free = space.free;
    if free >= required {
        return report;
    }
    let free_before = free;
    let mut deleted = 0;
    // Oldest unheld first across all cameras; batch per round to keep fsyncs few.
    loop {
        let batch = {
            // The list in force now: a hold set since the sweep began counts.
            let Some(planned) = holds.snapshot() else {
                break;
            };
            let idx = index.lock().unwrap_or_else(|e| e.into_inner());
            oldest_unheld(&idx, &planned, required - free)
        };
        if batch.is_empty() {
            break;
        }
        let mut progressed = false;
        for (cam, mut v) in batch {
            let d = delete(index, &cam, &mut v, holds, &mut report.errors);
            // A file found held at removal: the next round plans with that hold.
            progressed |= d.deleted > 0 || d.held > 0;
            deleted += d.deleted;
            report.bytes_freed += d.bytes;
            free = free.saturating_add(d.bytes);
        }
        if free >= required || !progressed {
            break;
        }
    }
    report.pressure_deleted = deleted;
    report.alarm = Some(DiskAlarm {
        free_before,
        free_after: free,
        required,
        deleted,
        resolved: free >= required,
    });
    report
}

/// Picks the globally oldest unheld segments until their sizes add up to `need`.
fn oldest_unheld(idx: &Index, holds: &[LegalHold], need: u64) -> Vec<(String, Vec<Entry>)> {
    use std::cmp::Reverse;
    let cams: Vec<&str> = idx.cameras().collect();
    let mut cursors = vec![0usize; cams.len()];
    let mut heap = BinaryHeap::new();
    let next_unheld = |ci: usize, from: usize| -> Option<usize> {
        let segs = idx.segments(cams[ci]);
        (from..segs.len()).find(|&i| !is_held(cams[ci], &segs[i], holds))
    };
    for ci in 0..cams.len() {
        if let Some(i) = next_unheld(ci, 0) {
            cursors[ci] = i;
            heap.push(Reverse((idx.segments(cams[ci])[i].start_ms, ci)));
        }
    }
    let mut picked: HashMap<usize, Vec<Entry>> = HashMap::new();
    let mut sum = 0u64;
    while sum < need {
        let Some(Reverse((_, ci))) = heap.pop() else {
            break;
        };
        let i = cursors[ci];
        let e = idx.segments(cams[ci])[i];
        sum = sum.saturating_add(e.size.max(1));
        picked.entry(ci).or_default().push(e);
        if let Some(j) = next_unheld(ci, i + 1) {
            cursors[ci] = j;
            heap.push(Reverse((idx.segments(cams[ci])[j].start_ms, ci)));
        }
    }
    picked
        .into_iter()
        .map(|(ci, v)| (cams[ci].to_string(), v))
        .collect()
}

/// What one [`delete`] did.
#[derive(Debug, Default)]
struct Deleted {
    /// Index entries erased (their files gone).
    deleted: usize,
    /// Bytes of files removed.
    bytes: u64,
    /// Planned victims a hold put in force since the plan covers: kept.
    held: usize,
}

/// Removes files, each unless the hold list in force at that moment covers it,
/// then erases the index entries of those actually gone.
fn delete(
    index: &Mutex<Index>,
    cam: &str,
    victims: &mut [Entry],
    holds: &Holds,
    errors: &mut Vec<String>,
) -> Deleted {
    let dir = index
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .camera_dir(cam);
    let mut out = Deleted::default();
    let mut gone = Vec::with_capacity(victims.len());
    for e in victims.iter() {
        let p = dir.join(e.file_name());
        let removed = holds.deleting(|list| {
            if is_held(cam, e, list) {
                return None;
            }
            Some(std::fs::remove_file(&p))
        });
        match removed {
            // Held now, or (never after a plan) no list known: kept.
            None | Some(None) => out.held += 1,
            Some(Some(Ok(()))) => {
                out.bytes += e.size;
                gone.push(e.seq);
            }
            Some(Some(Err(err))) if err.kind() == std::io::ErrorKind::NotFound => gone.push(e.seq),
            Some(Some(Err(err))) => errors.push(format!("remove {}: {err}", p.display())),
        }
    }
    let mut idx = index.lock().unwrap_or_else(|e| e.into_inner());
    match idx.remove(cam, &gone) {
        Ok(n) => out.deleted = n,
        Err(e) => errors.push(e.to_string()),
    }
    out
}

/// How long a masked copy outlives its making: a masked export streams it
/// within minutes, and an export that resumes later masks again.
pub const MASKED_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes the masked copies (`{camera}-{seq}-{digest}.ts` in `dir`) whose
/// original is no longer recorded (`recorded(camera, seq)` false: retention
/// erased it, so its masked copy must go too), and any file there older than
/// [`MASKED_MAX_AGE`] at `now` (a copy being written has another name and a
/// fresh time). Returns how many were removed.
pub fn forget_stale_masked(
    dir: &std::path::Path,
    now: std::time::SystemTime,
    recorded: impl Fn(&str, u64) -> bool,
) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in rd.filter_map(|e| e.ok()) {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        // `{camera}-{seq}-{digest}.ts`: camera names may hold dashes.
        let original = name.strip_suffix(".ts").and_then(|stem| {
            let mut parts = stem.rsplitn(3, '-');
            let (_digest, seq, camera) = (parts.next()?, parts.next()?, parts.next()?);
            Some((camera.to_string(), seq.parse::<u64>().ok()?))
        });
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > MASKED_MAX_AGE);
        // A file of another name (a copy being written, `….tmp-PID`) goes only
        // once it is old: taking it would break the export making it.
        let orphan = original.is_some_and(|(camera, seq)| !recorded(&camera, seq));
        if (old || orphan) && std::fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::config::HoldReason;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// One 1-hour segment per hour for `hours`, tiny real files.
    fn fill(dir: &std::path::Path, cam: &str, start: Timestamp, hours: i64) -> Mutex<Index> {
        let mut idx = Index::open(dir).unwrap();
        std::fs::create_dir_all(idx.camera_dir(cam)).unwrap();
        for h in 0..hours {
            let s = start + SignedDuration::from_hours(h);
            let e = s + SignedDuration::from_hours(1);
            let entry = idx
                .append(
                    cam,
                    s.as_millisecond(),
                    e.as_millisecond(),
                    100,
                    h as u32,
                    [0; 32],
                )
                .unwrap();
            std::fs::write(idx.segment_path(cam, &entry), [0u8; 100]).unwrap();
        }
        Mutex::new(idx)
    }

    /// A hold list known in this run.
    fn known(holds: Vec<LegalHold>) -> Holds {
        let h = Holds::default();
        h.set(holds);
        h
    }

    fn hold(cam: &str, from: &str, until: &str) -> LegalHold {
        LegalHold {
            case_number: "25-00001".into(),
            cameras: vec![cam.into()],
            from: ts(from),
            until: ts(until),
            reason: HoldReason::CriminalInvestigation.into(),
        }
    }

    #[test]
    fn age_out_respects_holds_and_release() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = ts("2025-01-01T00:00:00Z");
        let idx = fill(dir.path(), "c", t0, 48); // Jan 1-2
        let clock = ManualClock::new(t0);
        let probe = FixedProbe::new(u64::MAX / 2, u64::MAX / 2);
        let policy = RetentionPolicy::default();
        // `until` is inclusive: end just before the 12:00 segment's first instant.
        let holds = known(vec![hold(
            "c",
            "2025-01-01T10:00:00Z",
            "2025-01-01T11:59:59.999Z",
        )]);
        clock.advance(SignedDuration::from_hours(24 * 30));
        let r = sweep(&idx, &policy, &holds, &probe, clock.now());
        assert_eq!(
            r.expired_deleted, 0,
            "nothing is 30 days old yet at day 30 00:00"
        );
        clock.advance(SignedDuration::from_hours(24)); // day 31
        let r = sweep(&idx, &policy, &holds, &probe, clock.now());
        assert_eq!(r.expired_deleted, 22);
        assert_eq!(r.held_kept, 2);
        let left: Vec<_> = idx.lock().unwrap().segments("c").to_vec();
        assert_eq!(left.len(), 26);
        assert_eq!(left[0].start(), ts("2025-01-01T10:00:00Z"));
        let cam_dir = idx.lock().unwrap().camera_dir("c");
        assert_eq!(
            std::fs::read_dir(&cam_dir).unwrap().count(),
            26,
            "files really gone"
        );
        // Release: gone at the next sweep.
        let r = sweep(&idx, &policy, &known(vec![]), &probe, clock.now());
        assert_eq!(r.expired_deleted, 2);
        drop(idx);
        let reopened = Index::open(dir.path()).unwrap();
        assert_eq!(
            reopened.segments("c").len(),
            24,
            "index entries erased on disk"
        );
    }

    #[test]
    fn shorter_camera_retention_and_ceiling() {
        let mut p = RetentionPolicy::default();
        p.days.insert("a".into(), 7);
        p.days.insert("b".into(), 90);
        assert_eq!(p.days_for("a"), 7);
        assert_eq!(p.days_for("b"), 30);
        assert_eq!(p.days_for("gone"), 30);
        let dir = tempfile::tempdir().unwrap();
        let t0 = ts("2025-01-01T00:00:00Z");
        let idx = fill(dir.path(), "a", t0, 24);
        let probe = FixedProbe::new(1 << 40, 1 << 40);
        let r = sweep(
            &idx,
            &p,
            &known(vec![]),
            &probe,
            t0 + SignedDuration::from_hours(24 * 8),
        );
        assert_eq!(r.expired_deleted, 24);
    }

    #[test]
    fn disk_pressure_deletes_oldest_unheld_across_cameras_and_alarms() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = ts("2025-01-01T00:00:00Z");
        let idx = fill(dir.path(), "a", t0, 10);
        {
            let mut g = idx.lock().unwrap();
            std::fs::create_dir_all(g.camera_dir("b")).unwrap();
            for h in 0..10 {
                let s = t0 + SignedDuration::from_mins(30 + 60 * h);
                let e = g
                    .append(
                        "b",
                        s.as_millisecond(),
                        s.as_millisecond() + 3_600_000,
                        100,
                        h as u32,
                        [0; 32],
                    )
                    .unwrap();
                std::fs::write(g.segment_path("b", &e), [0u8; 100]).unwrap();
            }
        }
        // `until` is inclusive: end just before the 01:00 segment's first instant.
        let holds = known(vec![hold(
            "a",
            "2025-01-01T00:00:00Z",
            "2025-01-01T00:59:59.999Z",
        )]);
        let policy = RetentionPolicy {
            days: HashMap::new(),
            disk: DiskPolicy {
                min_free_bytes: 1000,
                min_free_percent: 0.0,
            },
        };
        let probe = FixedProbe::new(700, 10_000);
        let r = sweep(
            &idx,
            &policy,
            &holds,
            &probe,
            t0 + SignedDuration::from_hours(11),
        );
        assert_eq!(r.expired_deleted, 0);
        assert_eq!(r.pressure_deleted, 3);
        let alarm = r.alarm.unwrap();
        assert!(alarm.resolved);
        let g = idx.lock().unwrap();
        // a@00 held; next oldest: b@00:30, a@01, b@01:30.
        assert_eq!(g.segments("a")[0].start_ms, t0.as_millisecond());
        assert_eq!(
            g.segments("a")[1].start(),
            t0 + SignedDuration::from_hours(2)
        );
        assert_eq!(
            g.segments("b")[0].start(),
            t0 + SignedDuration::from_mins(150)
        );
    }

    #[test]
    fn held_data_is_never_deleted_even_when_full() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = ts("2025-01-01T00:00:00Z");
        let idx = fill(dir.path(), "a", t0, 5);
        let holds = known(vec![hold(
            "a",
            "2024-01-01T00:00:00Z",
            "2026-01-01T00:00:00Z",
        )]);
        let policy = RetentionPolicy {
            days: HashMap::new(),
            disk: DiskPolicy {
                min_free_bytes: 1 << 30,
                min_free_percent: 0.0,
            },
        };
        let probe = FixedProbe::new(0, 1 << 31);
        let r = sweep(
            &idx,
            &policy,
            &holds,
            &probe,
            t0 + SignedDuration::from_hours(24 * 60),
        );
        assert_eq!(r.expired_deleted + r.pressure_deleted, 0);
        assert_eq!(r.held_kept, 5);
        assert!(!r.alarm.unwrap().resolved);
        assert_eq!(idx.lock().unwrap().segments("a").len(), 5);
    }

    /// No hold list known in this run (no saved config read, no controller
    /// yet): nothing goes, not for age, not for a full disk; the report says so.
    #[test]
    fn nothing_is_deleted_before_the_hold_list_is_known() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = ts("2025-01-01T00:00:00Z");
        let idx = fill(dir.path(), "a", t0, 5);
        let policy = RetentionPolicy {
            days: HashMap::new(),
            disk: DiskPolicy {
                min_free_bytes: 1 << 30,
                min_free_percent: 0.0,
            },
        };
        let probe = FixedProbe::new(0, 1 << 31);
        let late = t0 + SignedDuration::from_hours(24 * 60);
        let r = sweep(&idx, &policy, &Holds::default(), &probe, late);
        assert!(r.waiting_for_holds);
        assert_eq!(
            (r.expired_deleted, r.pressure_deleted, r.held_kept),
            (0, 0, 0)
        );
        let alarm = r.alarm.unwrap();
        assert_eq!((alarm.deleted, alarm.resolved), (0, false));
        assert_eq!(idx.lock().unwrap().segments("a").len(), 5);
        assert_eq!(
            std::fs::read_dir(idx.lock().unwrap().camera_dir("a"))
                .unwrap()
                .count(),
            5
        );
        // Known (and empty): the sweep goes on as before.
        let r = sweep(&idx, &policy, &known(vec![]), &probe, late);
        assert!(!r.waiting_for_holds);
        assert_eq!(r.expired_deleted, 5);
    }

    /// Victims planned against the list before a hold came: the hold is in
    /// force when set, so the file it covers is kept at removal.
    #[test]
    fn a_victim_planned_before_a_hold_came_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = ts("2025-01-01T00:00:00Z");
        let idx = fill(dir.path(), "a", t0, 3);
        let holds = known(vec![]);
        let mut plan: Vec<Entry> = idx.lock().unwrap().segments("a").to_vec();
        holds.set(vec![hold(
            "a",
            "2025-01-01T00:00:00Z",
            "2025-01-01T00:59:59.999Z",
        )]);
        let mut errors = Vec::new();
        let d = delete(&idx, "a", &mut plan, &holds, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!((d.deleted, d.held, d.bytes), (2, 1, 200));
        let g = idx.lock().unwrap();
        assert_eq!(g.segments("a").len(), 1);
        assert!(g.segment_path("a", &g.segments("a")[0]).is_file());
    }

    #[test]
    fn statvfs_probe_reads_something() {
        let s = StatvfsProbe { path: "/".into() }.space().unwrap();
        assert!(s.total > 0 && s.free <= s.total);
    }
}
