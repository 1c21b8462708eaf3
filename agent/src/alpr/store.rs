//! The agent's plate-read store: append-only JSON lines per camera and UTC day
//! (`<root>/reads/<camera>/<YYYY-MM-DD>.jsonl`) with each read's JPEG crop beside
//! them (`<root>/reads/<camera>/crops/<id>.jpg`), indexed in memory by plate and
//! time and by camera and time (rebuilt from the files on open). Reads age out
//! like recordings (per-camera retention days, at most 30), unless a legal hold
//! covers the camera at the read's time.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::config::MAX_RETENTION_DAYS;
use crate::error::{AgentError, Result};
use crate::holds::Holds;

/// One merged plate read as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRead {
    /// Unique within the camera: `<unix ms>-<plate>[-n]`.
    pub id: String,
    /// Camera id.
    pub camera: String,
    /// Plate text (upper case, letters and digits).
    pub plate: String,
    /// Voting confidence in [0, 1].
    pub confidence: f32,
    /// Time of the best frame (the crop's frame).
    pub time: Timestamp,
    /// First frame of the pass.
    pub first: Timestamp,
    /// Last frame of the pass.
    pub last: Timestamp,
    /// Frames read in the pass.
    pub frames: usize,
    /// Box of the plate in the best frame, `[x, y, w, h]` pixels.
    #[serde(rename = "box")]
    pub bbox: [i64; 4],
    /// Crop file name under the camera's `crops/`, if one was stored.
    pub crop: Option<String>,
    /// Where the plate was seen: a fixed reader's location or a mobile
    /// reader's GPS position at that time; none when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<ReadLocation>,
}

/// Where a read was made.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReadLocation {
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// `fixed` (the camera's registered location) or `gps`.
    pub source: LocationSource,
}

/// How a read's location was known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocationSource {
    /// The fixed reader's registered location.
    Fixed,
    /// The mobile reader's GPS fix nearest the read.
    Gps,
}

/// A read to store (the store assigns the id and crop name).
#[derive(Debug, Clone, PartialEq)]
pub struct NewRead {
    /// Camera id.
    pub camera: String,
    /// Plate text.
    pub plate: String,
    /// Voting confidence.
    pub confidence: f32,
    /// Best frame time.
    pub time: Timestamp,
    /// First frame.
    pub first: Timestamp,
    /// Last frame.
    pub last: Timestamp,
    /// Frames in the pass.
    pub frames: usize,
    /// Plate box in the best frame.
    pub bbox: [i64; 4],
    /// Where.
    pub location: Option<ReadLocation>,
}

impl NewRead {
    /// The stored form, with the id and crop file name the store gave it.
    fn stored(self, id: String, crop: Option<String>) -> StoredRead {
        StoredRead {
            id,
            camera: self.camera,
            plate: self.plate,
            confidence: self.confidence,
            time: self.time,
            first: self.first,
            last: self.last,
            frames: self.frames,
            bbox: self.bbox,
            crop,
            location: self.location,
        }
    }
}

/// What a read sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadSweep {
    /// Reads deleted (with their crops).
    pub deleted: usize,
    /// Expired reads kept because a legal hold covers them.
    pub held: usize,
    /// Failures (files kept, retried next sweep).
    pub errors: Vec<String>,
}

type Key = (String, i64, String);

/// A read id not yet taken by the camera at `ms`: `{ms}-{plate}`, then `-2`, `-3`...
fn unique_id(taken: &BTreeMap<Key, String>, camera: &str, ms: i64, plate: &str) -> String {
    let base = format!("{ms}-{plate}");
    let mut id = base.clone();
    let mut n = 1;
    while taken.contains_key(&(camera.to_string(), ms, id.clone())) {
        n += 1;
        id = format!("{base}-{n}");
    }
    id
}

#[derive(Default)]
struct State {
    /// (plate, ms, id) -> read.
    by_plate: BTreeMap<Key, StoredRead>,
    /// (camera, ms, id) -> plate.
    by_camera: BTreeMap<Key, String>,
}

/// Appends whole lines to a day's file (owner-only), durably; a write that
/// fails part-way is cut back ([`crate::fs::append_whole`]), so the next
/// line is not glued onto a partial one and lost with it at the next open.
fn append_lines(file: &Path, text: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(file)
        .map_err(|e| AgentError::io("open", file, e))?;
    let len = f
        .metadata()
        .map_err(|e| AgentError::io("stat", file, e))?
        .len();
    crate::fs::append_whole(&mut f, len, text.as_bytes()).map_err(|e| {
        if let Some(cut) = &e.cut_failed {
            tracing::warn!(path = %file.display(), error = %cut, "a partial plate read could not be cut back");
        }
        AgentError::io("append", file, e.error)
    })
}
/// The read store under a recording root.
pub struct ReadStore {
    dir: PathBuf,
    state: Mutex<State>,
}

fn day_of(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d").to_string()
}

impl ReadStore {
    /// Opens (or prepares) the store under `root/reads`; creates nothing until the
    /// first read. Lines that do not parse (a torn last write) are skipped.
    pub fn open(root: &Path) -> Result<ReadStore> {
        let dir = root.join("reads");
        let store = ReadStore {
            dir: dir.clone(),
            state: Mutex::new(State::default()),
        };
        let Ok(cams) = std::fs::read_dir(&dir) else {
            return Ok(store);
        };
        let mut st = store.lock();
        for cam in cams.flatten() {
            let Ok(days) = std::fs::read_dir(cam.path()) else {
                continue;
            };
            for f in days.flatten() {
                let p = f.path();
                if p.extension().is_none_or(|e| e != "jsonl") {
                    continue;
                }
                let text =
                    std::fs::read_to_string(&p).map_err(|e| AgentError::io("read", &p, e))?;
                for line in text.lines() {
                    if let Ok(r) = serde_json::from_str::<StoredRead>(line) {
                        insert(&mut st, r);
                    }
                }
            }
        }
        drop(st);
        Ok(store)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The folder of a camera's reads.
    pub fn camera_dir(&self, camera: &str) -> PathBuf {
        self.dir.join(camera)
    }

    /// Path of a read's crop, if it has one.
    pub fn crop_path(&self, r: &StoredRead) -> Option<PathBuf> {
        r.crop
            .as_ref()
            .map(|c| self.camera_dir(&r.camera).join("crops").join(c))
    }

    /// Stores a read and its JPEG crop (crop first, then the index line).
    pub fn append(&self, read: NewRead, crop_jpeg: Option<&[u8]>) -> Result<StoredRead> {
        let cam_dir = self.camera_dir(&read.camera);
        let crops = cam_dir.join("crops");
        std::fs::create_dir_all(&crops).map_err(|e| AgentError::io("create", &crops, e))?;
        let mut st = self.lock();
        let ms = read.time.as_millisecond();
        let id = unique_id(&st.by_camera, &read.camera, ms, &read.plate);
        let crop = match crop_jpeg {
            Some(bytes) => {
                let name = format!("{id}.jpg");
                let tmp = crops.join(format!(".{name}.tmp"));
                let dst = crops.join(&name);
                // Plates and faces in a crop: the agent's user alone reads them.
                crate::fs::write_atomic_as(&tmp, &dst, bytes, true)?;
                Some(name)
            }
            None => None,
        };
        let r = read.stored(id, crop);
        let file = cam_dir.join(format!("{}.jsonl", day_of(r.time)));
        let mut line = serde_json::to_string(&r).map_err(|e| AgentError::Io {
            op: "encode",
            path: file.clone(),
            source: std::io::Error::other(e),
        })?;
        line.push('\n');
        append_lines(&file, &line)?;
        insert(&mut st, r.clone());
        Ok(r)
    }

    /// Reads of `plate` (any camera) with `from <= time < until`, oldest first.
    pub fn find(&self, plate: &str, from: Timestamp, until: Timestamp) -> Vec<StoredRead> {
        let st = self.lock();
        let lo = (plate.to_string(), from.as_millisecond(), String::new());
        st.by_plate
            .range(lo..)
            .take_while(|((p, ms, _), _)| p == plate && *ms < until.as_millisecond())
            .filter(|(_, r)| r.time >= from && r.time < until)
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// Reads whose plate matches `pattern` (`?` one character, `*` any run;
    /// the controller lets such queries out only after a supervisor approved
    /// them) with `from <= time < until`, oldest first, at most `limit`. Only
    /// plates starting with the pattern's fixed prefix are looked at.
    pub fn find_pattern(
        &self,
        pattern: &str,
        from: Timestamp,
        until: Timestamp,
        limit: usize,
    ) -> Vec<StoredRead> {
        let prefix: String = pattern
            .chars()
            .take_while(|c| !matches!(c, '?' | '*'))
            .collect();
        let st = self.lock();
        let lo = (prefix.clone(), i64::MIN, String::new());
        let mut out: Vec<StoredRead> = st
            .by_plate
            .range(lo..)
            .take_while(|((p, _, _), _)| p.starts_with(&prefix))
            .filter(|((p, _, _), r)| {
                r.time >= from
                    && r.time < until
                    && camplane_config::model::plate_matches(pattern, p)
            })
            .map(|(_, r)| r.clone())
            .collect();
        out.sort_by_key(|r| r.time);
        out.truncate(limit);
        out
    }

    // ---------- bulk import ----------
    /// Stores many reads without crops, one write and one fsync per day file
    /// (bulk import, benchmarks); the same lines as [`ReadStore::append`].
    pub fn append_batch(&self, reads: Vec<NewRead>) -> Result<usize> {
        let mut st = self.lock();
        let mut files: BTreeMap<PathBuf, String> = BTreeMap::new();
        let n = reads.len();
        for read in reads {
            let ms = read.time.as_millisecond();
            let id = unique_id(&st.by_camera, &read.camera, ms, &read.plate);
            let r = read.stored(id, None);
            let file = self
                .camera_dir(&r.camera)
                .join(format!("{}.jsonl", day_of(r.time)));
            let line = serde_json::to_string(&r).map_err(|e| AgentError::Io {
                op: "encode",
                path: file.clone(),
                source: std::io::Error::other(e),
            })?;
            let buf = files.entry(file).or_default();
            buf.push_str(&line);
            buf.push('\n');
            insert(&mut st, r);
        }
        for (file, text) in files {
            if let Some(d) = file.parent() {
                std::fs::create_dir_all(d).map_err(|e| AgentError::io("create", d, e))?;
            }
            append_lines(&file, &text)?;
        }
        Ok(n)
    }

    // ---------- one read by id (crop fetches) ----------
    /// The read with `id` (`{ms}-{plate}[-n]`, as [`ReadStore::append`] names it).
    pub fn get(&self, id: &str) -> Option<StoredRead> {
        let (ms, rest) = id.split_once('-')?;
        let ms: i64 = ms.parse().ok()?;
        let plate = rest.split('-').next()?;
        let st = self.lock();
        st.by_plate
            .get(&(plate.to_string(), ms, id.to_string()))
            .cloned()
    }

    /// Reads of `camera` with `from <= time < until`, oldest first.
    pub fn list(&self, camera: &str, from: Timestamp, until: Timestamp) -> Vec<StoredRead> {
        let st = self.lock();
        let lo = (camera.to_string(), from.as_millisecond(), String::new());
        st.by_camera
            .range(lo..)
            .take_while(|((c, ms, _), _)| c == camera && *ms < until.as_millisecond())
            .filter_map(|((_, ms, id), plate)| st.by_plate.get(&(plate.clone(), *ms, id.clone())))
            .filter(|r| r.time >= from && r.time < until)
            .cloned()
            .collect()
    }

    /// Number of stored reads.
    pub fn len(&self) -> usize {
        self.lock().by_plate.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Deletes reads older than their camera's retention (`days`, default and
    /// ceiling 30) at `now`, except those a hold covers. Day files are rewritten
    /// (temporary file + rename) or removed when emptied; crops are deleted.
    /// Each day's file is decided and written inside [`Holds::deleting`], against
    /// the hold list in force then; nothing at all while it is not known.
    pub fn sweep(&self, now: Timestamp, days: &HashMap<String, u32>, holds: &Holds) -> ReadSweep {
        let mut rep = ReadSweep::default();
        if !holds.known() {
            return rep;
        }
        let mut st = self.lock();
        let mut by_file: BTreeMap<(String, String), Vec<StoredRead>> = BTreeMap::new();
        for r in st.by_plate.values() {
            by_file
                .entry((r.camera.clone(), day_of(r.time)))
                .or_default()
                .push(r.clone());
        }
        for ((cam, day), mut reads) in by_file {
            let d = days
                .get(&cam)
                .copied()
                .unwrap_or(MAX_RETENTION_DAYS)
                .clamp(1, MAX_RETENTION_DAYS);
            let cutoff = now - SignedDuration::from_hours(24 * i64::from(d));
            let expired = |r: &StoredRead| r.time <= cutoff;
            if !reads.iter().any(expired) {
                continue;
            }
            reads.sort_by_key(|r| (r.time, r.id.clone()));
            let file = self.camera_dir(&cam).join(format!("{day}.jsonl"));
            let gone = holds.deleting(|holds| {
                let (gone, keep): (Vec<StoredRead>, Vec<StoredRead>) =
                    reads.into_iter().partition(|r| {
                        expired(r) && !holds.iter().any(|h| h.covers_plate_data(&cam, r.time))
                    });
                rep.held += keep.iter().filter(|r| expired(r)).count();
                if gone.is_empty() {
                    return gone;
                }
                let w = if keep.is_empty() {
                    std::fs::remove_file(&file).or_else(|e| {
                        if e.kind() == std::io::ErrorKind::NotFound {
                            Ok(())
                        } else {
                            Err(e)
                        }
                    })
                } else {
                    let tmp = file.with_extension("jsonl.tmp");
                    let mut text = String::new();
                    for r in &keep {
                        text.push_str(&serde_json::to_string(r).unwrap_or_default());
                        text.push('\n');
                    }
                    std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, &file))
                };
                if let Err(e) = w {
                    rep.errors.push(format!("{}: {e}", file.display()));
                    return Vec::new();
                }
                // Crops go with their reads, under the same list.
                for r in &gone {
                    if let Some(p) = self.crop_path(r) {
                        if let Err(e) = std::fs::remove_file(&p) {
                            if e.kind() != std::io::ErrorKind::NotFound {
                                rep.errors.push(format!("{}: {e}", p.display()));
                            }
                        }
                    }
                }
                gone
            });
            for r in gone.unwrap_or_default() {
                let ms = r.time.as_millisecond();
                st.by_camera.remove(&(r.camera.clone(), ms, r.id.clone()));
                st.by_plate.remove(&(r.plate.clone(), ms, r.id.clone()));
                rep.deleted += 1;
            }
        }
        rep
    }
}

fn insert(st: &mut State, r: StoredRead) {
    let ms = r.time.as_millisecond();
    st.by_camera
        .insert((r.camera.clone(), ms, r.id.clone()), r.plate.clone());
    st.by_plate.insert((r.plate.clone(), ms, r.id.clone()), r);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::config::{HoldReason, LegalHold};

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn new_read(cam: &str, plate: &str, t: Timestamp) -> NewRead {
        NewRead {
            camera: cam.into(),
            plate: plate.into(),
            confidence: 0.9,
            time: t,
            first: t,
            last: t,
            frames: 3,
            bbox: [1, 2, 3, 4],
            location: None,
        }
    }

    #[test]
    fn find_and_list_by_plate_camera_and_time_survive_reopen() {
        let d = tempfile::tempdir().unwrap();
        let s = ReadStore::open(d.path()).unwrap();
        assert!(s.is_empty());
        let t0 = ts("2025-03-01T23:59:59Z");
        s.append(new_read("a", "ABC123", t0), Some(b"jpeg"))
            .unwrap();
        s.append(
            new_read("b", "ABC123", t0 + SignedDuration::from_secs(2)),
            None,
        )
        .unwrap();
        let dup = s.append(new_read("a", "ABC123", t0), None).unwrap();
        assert_eq!(dup.id, format!("{}-ABC123-2", t0.as_millisecond()));
        s.append(
            new_read("a", "XYZ999", t0 + SignedDuration::from_secs(1)),
            None,
        )
        .unwrap();
        let s = ReadStore::open(d.path()).unwrap();
        assert_eq!(s.len(), 4);
        let all = s.find("ABC123", t0, t0 + SignedDuration::from_secs(10));
        assert_eq!(all.len(), 3);
        assert_eq!(all[2].camera, "b");
        assert!(
            s.find(
                "ABC123",
                t0 + SignedDuration::from_secs(1),
                ts("2026-01-01T00:00:00Z")
            )
            .len()
                == 1
        );
        assert!(s.find("ABC12", t0, ts("2026-01-01T00:00:00Z")).is_empty());
        // Approved patterns: `?` one character, `*` any run, time range, limit.
        let far = ts("2026-01-01T00:00:00Z");
        assert_eq!(s.find_pattern("AB?12*", t0, far, 10).len(), 3);
        assert_eq!(s.find_pattern("AB?12*", t0, far, 2).len(), 2);
        let p = s.find_pattern("*99?", t0, far, 10);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].plate, "XYZ999");
        assert!(s.find_pattern("ABC12?", t0, far, 10).len() == 3);
        assert!(s.find_pattern("ABC1", t0, far, 10).is_empty());
        assert_eq!(
            s.find_pattern("A*", t0 + SignedDuration::from_secs(1), far, 10)
                .len(),
            1
        );
        let a = s.list("a", t0, t0 + SignedDuration::from_secs(10));
        let plates: Vec<&str> = a.iter().map(|r| r.plate.as_str()).collect();
        assert_eq!(plates, ["ABC123", "ABC123", "XYZ999"]);
        let with_crop = a.iter().find(|r| r.crop.is_some()).unwrap();
        assert_eq!(
            std::fs::read(s.crop_path(with_crop).unwrap()).unwrap(),
            b"jpeg"
        );
        // The day after goes to another file.
        assert!(d.path().join("reads/b/2025-03-02.jsonl").is_file());
    }

    #[test]
    fn reads_age_out_at_30_days_unless_held() {
        let d = tempfile::tempdir().unwrap();
        let s = ReadStore::open(d.path()).unwrap();
        let t0 = ts("2025-01-01T10:00:00Z");
        let clock = ManualClock::new(t0);
        let held = s.append(new_read("c", "HELD1", t0), Some(b"x")).unwrap();
        s.append(
            new_read("c", "GONE1", t0 + SignedDuration::from_hours(1)),
            Some(b"y"),
        )
        .unwrap();
        s.append(new_read("d", "OTHER1", t0), None).unwrap();
        let hold = LegalHold {
            case_number: "CASE-1".into(),
            cameras: vec!["c".into()],
            from: t0 - SignedDuration::from_mins(1),
            until: t0 + SignedDuration::from_mins(1),
            reason: HoldReason::CriminalInvestigation.into(),
        };
        // The City Manager's hold on d keeps its video, not its plate reads.
        let other_use = LegalHold {
            case_number: "CM-1".into(),
            cameras: vec!["d".into()],
            reason: HoldReason::CityManagerApproved.into(),
            ..hold.clone()
        };
        let holds = Holds::default();
        let days: HashMap<String, u32> = [("c".to_string(), 30)].into();
        // Day 31, but the hold list is not known yet in this run: nothing goes.
        let day31 = t0 + SignedDuration::from_hours(24 * 31);
        assert_eq!(s.sweep(day31, &days, &holds), ReadSweep::default());
        assert_eq!(s.len(), 3);
        holds.set(vec![hold, other_use]);
        // Day 30 minus a second: nothing expires.
        clock.set(t0 + SignedDuration::from_hours(24 * 30) - SignedDuration::from_secs(1));
        let r = s.sweep(clock.now(), &days, &holds);
        assert_eq!((r.deleted, r.held), (0, 0));
        // Day 30 + 2 h (day 31 under way): c's first read is held, the second goes,
        // d (default 30 days) goes too.
        clock.advance(SignedDuration::from_hours(2));
        let r = s.sweep(clock.now(), &days, &holds);
        assert_eq!((r.deleted, r.held), (2, 1), "{r:?}");
        assert!(r.errors.is_empty());
        let left = s.list("c", t0, clock.now());
        assert_eq!(left, vec![held.clone()]);
        assert!(s.crop_path(&held).unwrap().is_file());
        assert!(s.list("d", t0, clock.now()).is_empty());
        assert!(!d.path().join("reads/d/2025-01-01.jsonl").exists());
        // Survives reopening; releasing the hold lets it go.
        let s = ReadStore::open(d.path()).unwrap();
        assert_eq!(s.len(), 1);
        let released = Holds::default();
        released.set(vec![]);
        let r = s.sweep(clock.now(), &days, &released);
        assert_eq!(r.deleted, 1);
        assert!(!s.crop_path(&held).unwrap().exists());
        assert!(s.is_empty());
    }

    /// A read whose write fails part-way (a full disk) leaves no partial line:
    /// the next read is not glued onto it, and both survive a reopen.
    #[test]
    fn a_failed_append_loses_only_its_own_read() {
        let d = tempfile::tempdir().unwrap();
        let s = ReadStore::open(d.path()).unwrap();
        let t0 = ts("2025-01-01T10:00:00Z");
        s.append(new_read("c", "AAA111", t0), None).unwrap();
        crate::fs::fail_next_append_after(20);
        assert!(s
            .append(
                new_read("c", "BBB222", t0 + SignedDuration::from_secs(1)),
                None
            )
            .is_err());
        s.append(
            new_read("c", "CCC333", t0 + SignedDuration::from_secs(2)),
            None,
        )
        .unwrap();
        let s = ReadStore::open(d.path()).unwrap();
        let plates: Vec<String> = s
            .list("c", t0, t0 + SignedDuration::from_secs(10))
            .into_iter()
            .map(|r| r.plate)
            .collect();
        assert_eq!(plates, ["AAA111", "CCC333"]);
    }

    #[test]
    fn batch_append_matches_append_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let s = ReadStore::open(dir.path()).unwrap();
        let t = ts("2026-11-01T10:00:00Z");
        let mk = |plate: &str| NewRead {
            camera: "lpr-1".into(),
            plate: plate.into(),
            confidence: 0.9,
            time: t,
            first: t,
            last: t,
            frames: 2,
            bbox: [0, 0, 1, 1],
            location: None,
        };
        s.append(mk("ABC1234"), None).unwrap();
        assert_eq!(s.append_batch(vec![mk("ABC1234"), mk("XYZ9")]).unwrap(), 2);
        let found = s.find("ABC1234", t, ts("2026-11-02T00:00:00Z"));
        let ids: Vec<&str> = found.iter().map(|r| r.id.as_str()).collect();
        let ms = t.as_millisecond();
        let (a, b) = (format!("{ms}-ABC1234"), format!("{ms}-ABC1234-2"));
        assert_eq!(ids, [a.as_str(), b.as_str()]);
        assert_eq!(s.get(&b).unwrap().plate, "ABC1234");
        assert!(s.get("nonsense").is_none());
        let again = ReadStore::open(dir.path()).unwrap();
        assert_eq!(again.len(), 3);
    }
}
