//! Camera and gateway health, and active-collection windows. Pure and clock-driven:
//! callers pass timestamps in, nothing here reads the time.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use camplane_config::hotlist::HitCategory;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// Where a camera's ingest stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    /// Opening the stream.
    Connecting,
    /// Packets are arriving.
    Online,
    /// Last attempt failed; waiting to retry.
    Offline,
    /// Removed from config or shutting down.
    Stopped,
}

/// One camera's health as reported to the controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraHealth {
    /// Camera id.
    pub id: String,
    /// Ingest state.
    pub state: CameraState,
    /// Video frames per second over the last few seconds.
    pub fps: f64,
    /// Received bytes per second over the last few seconds.
    pub bytes_per_sec: f64,
    /// When the last video packet arrived.
    pub last_packet: Option<Timestamp>,
    /// Successful reconnects after a drop (first connect not counted).
    pub reconnects: u64,
    /// Failed connection attempts since start.
    pub failures: u64,
    /// How far recording on disk trails now: now minus the end of the last
    /// completed segment (expected under one segment length plus a GOP).
    pub recording_lag: Option<SignedDuration>,
    /// Completed segments since start.
    pub segments_written: u64,
    /// Video packets (frames) received since start.
    #[serde(default)]
    pub frames_received: u64,
    /// Bytes of video received since start.
    #[serde(default)]
    pub bytes_received: u64,
    /// Stream description from the last connect, e.g. `h264 640x360`.
    pub stream: Option<String>,
    /// Most recent error, kept after recovery so operators see what happened.
    pub last_error: Option<String>,
    /// Plate reading, for ALPR cameras.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpr: Option<AlprHealth>,
}

impl CameraHealth {
    /// A camera's health before its first connection.
    pub fn connecting(id: &str) -> CameraHealth {
        CameraHealth {
            id: id.to_string(),
            state: CameraState::Connecting,
            fps: 0.0,
            bytes_per_sec: 0.0,
            last_packet: None,
            reconnects: 0,
            failures: 0,
            recording_lag: None,
            segments_written: 0,
            frames_received: 0,
            bytes_received: 0,
            stream: None,
            last_error: None,
            alpr: None,
        }
    }
}

/// An ALPR camera's reading counters since it started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlprHealth {
    /// Video packets dropped because the decoder fell behind (recording unaffected).
    pub packets_dropped: u64,
    /// Sampled frames dropped because the shared reader was busy.
    pub frames_dropped: u64,
    /// Frames read.
    pub frames_read: u64,
    /// Merged plate reads stored.
    pub plates_read: u64,
    /// The detector's first looks: whole frames, or windows where something moved.
    #[serde(default)]
    pub detector_calls: u64,
    /// Sampled frames where nothing moved and no pass was open (not looked at).
    #[serde(default)]
    pub frames_still: u64,
    /// Last ALPR error.
    pub last_error: Option<String>,
}

/// The gateway's health: its cameras plus host resources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayHealth {
    /// When this was measured.
    pub at: Timestamp,
    /// Per-camera health, sorted by id.
    pub cameras: Vec<CameraHealth>,
    /// Free bytes on the recording filesystem.
    pub disk_free: u64,
    /// Size of the recording filesystem.
    pub disk_total: u64,
    /// Host CPU busy share since the previous report (0-100); None on the first.
    pub cpu_percent: Option<f64>,
    /// MemTotal from /proc/meminfo.
    pub mem_total: u64,
    /// MemAvailable from /proc/meminfo.
    pub mem_available: u64,
    /// Active alarms (disk pressure, failed deletions).
    pub alarms: Vec<String>,
}

/// Frames and bytes per second over a sliding window of whole seconds.
#[derive(Debug, Clone)]
pub struct RateMeter {
    window_s: i64,
    buckets: VecDeque<(i64, u64, u64)>,
}

impl RateMeter {
    /// A meter averaging over `window_s` seconds.
    pub fn new(window_s: i64) -> Self {
        RateMeter {
            window_s: window_s.max(1),
            buckets: VecDeque::new(),
        }
    }

    /// Counts one frame of `bytes` at `t`.
    pub fn record(&mut self, t: Timestamp, frames: u64, bytes: u64) {
        let s = t.as_second();
        match self.buckets.back_mut() {
            Some(b) if b.0 == s => {
                b.1 += frames;
                b.2 += bytes;
            }
            _ => self.buckets.push_back((s, frames, bytes)),
        }
        while self.buckets.len() as i64 > self.window_s + 2 {
            self.buckets.pop_front();
        }
    }

    /// (frames/s, bytes/s) over the `window_s` whole seconds before `now`'s second.
    pub fn rates(&self, now: Timestamp) -> (f64, f64) {
        let cur = now.as_second();
        let (mut f, mut b) = (0u64, 0u64);
        for &(s, fr, by) in &self.buckets {
            if s < cur && s >= cur - self.window_s {
                f += fr;
                b += by;
            }
        }
        let w = self.window_s as f64;
        (f as f64 / w, b as f64 / w)
    }
}

/// An interval in which a camera delivered video.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveWindow {
    /// Camera id.
    pub camera: String,
    /// First video in the window.
    pub start: Timestamp,
    /// Last video in the window (or now, for an open window).
    pub end: Timestamp,
    /// Merged plate reads stored for this camera during the window (ALPR cameras).
    #[serde(default)]
    pub plates_read: u64,
    /// Of those, reads that matched a hotlist, by category (a read on two lists
    /// of one category counts once there).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hits: BTreeMap<HitCategory, u64>,
    /// An amendment: reads merged after this window (same camera and start) was
    /// already reported; its counts add to that window's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub amends: bool,
    /// The window was cut at a whole hour while video kept coming: the next
    /// window of this camera continues the same collection period. (Windows are
    /// cut hourly so that periods are reported while a reader runs for days, and
    /// so that every window lies within one day and one month in any time zone
    /// with a whole-hour offset.)
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub continues: bool,
}

/// The hour (seconds since the epoch, floored to 3600) that holds `t`.
fn hour_of(t: Timestamp) -> i64 {
    t.as_second().div_euclid(3600)
}

/// Windows already reported, kept to place reads merged late.
const TAKEN_KEPT: usize = 16;

/// Turns packet arrival times into active windows. A gap no longer than
/// `merge_gap` (the report interval) does not split a window.
#[derive(Debug, Clone)]
pub struct WindowTracker {
    camera: String,
    merge_gap: SignedDuration,
    open: Option<(Timestamp, Timestamp)>,
    open_plates: u64,
    open_hits: BTreeMap<HitCategory, u64>,
    closed: Vec<ActiveWindow>,
    /// (start, end) of windows already taken, newest last.
    taken: VecDeque<(Timestamp, Timestamp)>,
    /// Late counts for taken windows, reported as amendments.
    amendments: Vec<ActiveWindow>,
}

impl WindowTracker {
    /// A tracker for `camera`.
    pub fn new(camera: impl Into<String>, merge_gap: SignedDuration) -> Self {
        WindowTracker {
            camera: camera.into(),
            merge_gap,
            open: None,
            open_plates: 0,
            open_hits: BTreeMap::new(),
            closed: Vec::new(),
            taken: VecDeque::new(),
            amendments: Vec::new(),
        }
    }

    /// Video arrived at `t`.
    pub fn video(&mut self, t: Timestamp) {
        match self.open {
            Some((s, last))
                if t.duration_since(last) <= self.merge_gap && hour_of(t) > hour_of(s) =>
            {
                // Still collecting, but a new hour: cut here, the period continues.
                self.close(s, last);
                if let Some(w) = self.closed.last_mut() {
                    w.continues = true;
                }
                self.open = Some((t, t));
            }
            Some((s, last)) if t.duration_since(last) <= self.merge_gap => {
                self.open = Some((s, last.max(t)));
            }
            Some((s, last)) => {
                self.close(s, last);
                self.open = Some((t, t));
            }
            None => self.open = Some((t, t)),
        }
    }

    fn close(&mut self, start: Timestamp, end: Timestamp) {
        let plates_read = std::mem::take(&mut self.open_plates);
        let hits = std::mem::take(&mut self.open_hits);
        self.closed.push(ActiveWindow {
            camera: self.camera.clone(),
            start,
            end,
            plates_read,
            hits,
            amends: false,
            continues: false,
        });
    }

    /// A merged plate read, seen at `at`, was stored. It counts in the window
    /// that holds `at`: the open one, a closed one not yet reported, or (the
    /// read was merged after its window was reported) an amendment to that window.
    pub fn plate_read(&mut self, at: Timestamp, hits: &[HitCategory]) {
        let mut cats: Vec<HitCategory> = hits.to_vec();
        cats.sort();
        cats.dedup();
        let holds = |s: Timestamp, e: Timestamp| s <= at && at <= e + SignedDuration::from_secs(2);
        let (plates, map) = if let Some(i) = self.closed.iter().position(|w| holds(w.start, w.end))
        {
            let w = &mut self.closed[i];
            (&mut w.plates_read, &mut w.hits)
        } else if let Some(&(s, e)) = self.taken.iter().rev().find(|(s, e)| holds(*s, *e)) {
            let i = match self.amendments.iter().position(|a| a.start == s) {
                Some(i) => i,
                None => {
                    self.amendments.push(ActiveWindow {
                        camera: self.camera.clone(),
                        start: s,
                        end: e,
                        plates_read: 0,
                        hits: BTreeMap::new(),
                        amends: true,
                        continues: false,
                    });
                    self.amendments.len() - 1
                }
            };
            let w = &mut self.amendments[i];
            (&mut w.plates_read, &mut w.hits)
        } else if self.open.is_some() {
            (&mut self.open_plates, &mut self.open_hits)
        } else if let Some(w) = self.closed.last_mut() {
            (&mut w.plates_read, &mut w.hits)
        } else {
            return;
        };
        *plates += 1;
        for c in cats {
            *map.entry(c).or_default() += 1;
        }
    }

    /// Closes the open window if nothing came for longer than the merge gap.
    pub fn tick(&mut self, now: Timestamp) {
        if let Some((s, last)) = self.open {
            if now.duration_since(last) > self.merge_gap {
                self.close(s, last);
                self.open = None;
            }
        }
    }

    /// Ends the open window now (camera removed or stopping).
    pub fn finish(&mut self) {
        if let Some((s, last)) = self.open.take() {
            self.close(s, last);
        }
    }

    /// Whether no closed window is waiting to be taken.
    pub fn take_closed_peek_empty(&self) -> bool {
        self.closed.is_empty() && self.amendments.is_empty()
    }

    /// Closed windows since the last call, then amendments to earlier ones.
    pub fn take_closed(&mut self) -> Vec<ActiveWindow> {
        let mut out = std::mem::take(&mut self.closed);
        for w in &out {
            self.taken.push_back((w.start, w.end));
        }
        while self.taken.len() > TAKEN_KEPT {
            self.taken.pop_front();
        }
        out.append(&mut self.amendments);
        out
    }

    /// The window still open, ending at its last video.
    pub fn current(&self) -> Option<ActiveWindow> {
        self.open.map(|(start, end)| ActiveWindow {
            camera: self.camera.clone(),
            start,
            end,
            plates_read: self.open_plates,
            hits: self.open_hits.clone(),
            amends: false,
            continues: false,
        })
    }
}

/// Aggregate CPU jiffies from the first line of /proc/stat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuSample {
    /// Non-idle jiffies.
    pub busy: u64,
    /// All jiffies.
    pub total: u64,
}

/// Parses `/proc/stat`'s `cpu ` line.
pub fn parse_proc_stat(text: &str) -> Option<CpuSample> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 4 {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest is inside user)
    let total: u64 = v.iter().take(8).sum();
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    Some(CpuSample {
        busy: total - idle,
        total,
    })
}

/// Busy percent between two samples.
pub fn cpu_percent(prev: CpuSample, cur: CpuSample) -> Option<f64> {
    let dt = cur.total.checked_sub(prev.total)?;
    let db = cur.busy.checked_sub(prev.busy)?;
    (dt > 0).then(|| db as f64 * 100.0 / dt as f64)
}

/// (MemTotal, MemAvailable) in bytes from `/proc/meminfo`.
pub fn parse_meminfo(text: &str) -> Option<(u64, u64)> {
    let kb = |key: &str| -> Option<u64> {
        let l = text.lines().find(|l| l.starts_with(key))?;
        l.split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
            .map(|k| k * 1024)
    };
    Some((kb("MemTotal:")?, kb("MemAvailable:")?))
}

/// Per-camera ALPR counters (reported in health).
#[derive(Debug, Default)]
pub struct AlprCounters {
    /// Packets the decoder could not take in time (queue full).
    pub packets_dropped: AtomicU64,
    /// Sampled frames the reader could not take in time (queue full).
    pub frames_dropped: AtomicU64,
    /// Frames read.
    pub frames_read: AtomicU64,
    /// Merged reads stored.
    pub plates_read: AtomicU64,
    /// Detector first looks (whole frames or windows).
    pub detector_calls: AtomicU64,
    /// Sampled frames not looked at (nothing moved).
    pub frames_still: AtomicU64,
    /// Last ALPR error for this camera (decoder, format, reader, store).
    pub last_error: Mutex<Option<String>>,
}

impl AlprCounters {
    pub(crate) fn error(&self, e: impl Into<String>) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    #[test]
    fn short_gap_does_not_split_a_window() {
        let mut w = WindowTracker::new("c", SignedDuration::from_secs(60));
        for s in 0..100 {
            w.video(t(s));
        }
        w.video(t(150)); // 50 s gap < 60 s report interval
        w.tick(t(200));
        assert!(w.take_closed().is_empty());
        assert_eq!(w.current().unwrap().start, t(0));
        w.video(t(300)); // 150 s gap splits
        let c = w.take_closed();
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].start, c[0].end), (t(0), t(150)));
        w.tick(t(361));
        let c = w.take_closed();
        assert_eq!((c[0].start, c[0].end), (t(300), t(300)));
        assert!(w.current().is_none());
    }

    #[test]
    fn windows_are_cut_at_whole_hours_and_say_they_continue() {
        // 1_800_000_000 is a whole hour (2027-01-15T08:00:00Z).
        let t = |s: i64| Timestamp::from_second(1_800_000_000 + s).unwrap();
        let mut w = WindowTracker::new("lpr", SignedDuration::from_secs(30));
        for s in (-600..7300).step_by(5) {
            w.video(t(s));
            if s % 100 == 0 {
                w.plate_read(t(s), &[]);
            }
        }
        w.tick(t(8000));
        let c = w.take_closed();
        let spans: Vec<_> = c.iter().map(|x| (x.start, x.end, x.continues)).collect();
        assert_eq!(
            spans,
            vec![
                (t(-600), t(-5), true),
                (t(0), t(3595), true),
                (t(3600), t(7195), true),
                (t(7200), t(7295), false),
            ]
        );
        let reads: u64 = c.iter().map(|x| x.plates_read).sum();
        assert_eq!(reads, (-600..7300).step_by(100).count() as u64);
        assert_eq!(c[1].plates_read, 36);
    }

    #[test]
    fn rates_over_whole_seconds() {
        let mut m = RateMeter::new(5);
        for s in 0..10 {
            for _ in 0..25 {
                m.record(t(s), 1, 1000);
            }
        }
        let (f, b) = m.rates(t(10));
        assert_eq!((f, b), (25.0, 25_000.0));
        assert_eq!(m.rates(t(30)), (0.0, 0.0));
    }

    #[test]
    fn proc_parsers() {
        let a = parse_proc_stat("cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3 4\n").unwrap();
        let b = parse_proc_stat("cpu  150 0 150 900 0 0 0 0 0 0\n").unwrap();
        assert_eq!(cpu_percent(a, b), Some(50.0));
        let m =
            parse_meminfo("MemTotal:       16000 kB\nMemFree: 1 kB\nMemAvailable:    8000 kB\n");
        assert_eq!(m, Some((16000 * 1024, 8000 * 1024)));
        let real = std::fs::read_to_string("/proc/meminfo").unwrap();
        assert!(parse_meminfo(&real).unwrap().0 > 0);
        assert!(parse_proc_stat(&std::fs::read_to_string("/proc/stat").unwrap()).is_some());
    }

    #[test]
    fn late_reads_count_in_their_window_or_amend_it() {
        use camplane_config::hotlist::HitCategory::*;
        let t = |s: i64| Timestamp::from_second(1_800_000_000 + s).unwrap();
        let mut w = WindowTracker::new("lpr", SignedDuration::from_secs(5));
        for s in 0..10 {
            w.video(t(s));
        }
        w.plate_read(t(3), &[StolenVehicle, StolenVehicle, Warrant]);
        w.tick(t(20));
        // Closed, not yet taken: a read merged late still lands in it.
        w.plate_read(t(9), &[]);
        let first = w.take_closed();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].plates_read, 2);
        assert_eq!(
            first[0].hits[&StolenVehicle], 1,
            "a read counts once per category"
        );
        assert_eq!(first[0].hits[&Warrant], 1);
        // A new window opens; a read from the reported one becomes an amendment.
        w.video(t(30));
        w.plate_read(t(8), &[StolenPlate]);
        w.plate_read(t(30), &[]);
        let next = w.take_closed();
        assert_eq!(next.len(), 1);
        assert!(next[0].amends);
        assert_eq!((next[0].start, next[0].plates_read), (t(0), 1));
        assert_eq!(next[0].hits[&StolenPlate], 1);
        assert_eq!(w.current().unwrap().plates_read, 1);
    }
}
