//! On-disk segment index: camera + time range -> segment file, size, hash, chain.
//!
//! Storage choice: one append-only log of fixed 109-byte records per camera
//! (`index/<camera>.idx`, each record CRC-protected) plus an in-memory vector
//! sorted by start time. Why not a B-tree database: the access pattern is
//! append-at-the-end (one record per segment, fsynced), range lookups by time,
//! and a retention sweep that scans everything once; a sorted vec scans
//! 1,000,000 entries in milliseconds and loads 100 MB of log in well under a
//! second, with no dependency and an obvious crash story: a torn last record
//! fails its CRC and is cut off at open. Deletions append tombstones; the log
//! is rewritten (temp file + rename) when dead records outnumber live ones, so
//! erased entries do not linger on disk for long.
//!
//! **Appends stay aligned.** An append that fails part-way (ENOSPC, EIO) is
//! cut back to the log's length before it ([`crate::fs::append_whole`]), so
//! the next record lands on a record boundary. If even that cut fails, the log
//! is marked torn: every later append or deletion first tries the cut again
//! and, while it keeps failing, is refused with an [`AgentError::Index`] that
//! says so (nothing is written behind the partial record); opening the index
//! again drops it as a torn tail. The in-memory entries change only once their
//! records are durable.
//!
//! **A damaged stretch costs only itself.** `open` reads past a record that
//! fails its check by looking for the next whole record at any byte offset
//! (logs written before appends were cut back could carry a partial record
//! with later records behind it); when it had to skip bytes before the end, it
//! rewrites the log with the records it kept, so appends are aligned again.
//! Only a damaged tail with no whole record after it is cut.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use crate::error::{AgentError, Result};

const KIND_ADD: u8 = 1;
const KIND_DEL: u8 = 2;
/// Size of one log record on disk.
pub const RECORD_LEN: usize = 1 + 8 + 8 + 8 + 8 + 4 + 32 + 32 + 4 + 4;

/// One recorded segment as the index knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Per-camera sequence number (monotonic, never reused).
    pub seq: u64,
    /// Wall-clock start, Unix milliseconds.
    pub start_ms: i64,
    /// Wall-clock end, Unix milliseconds.
    pub end_ms: i64,
    /// File size in bytes.
    pub size: u64,
    /// Random part of the file name (keeps names unique across restarts).
    pub nonce: u32,
    /// SHA-256 of the file.
    pub sha256: [u8; 32],
    /// SHA-256 of the camera's previous segment (zeros for the first).
    pub prev_sha256: [u8; 32],
}

impl Entry {
    /// File name inside the camera's directory.
    pub fn file_name(&self) -> String {
        segment_file_name(self.start_ms, self.nonce)
    }
    /// Start as a timestamp.
    pub fn start(&self) -> Timestamp {
        Timestamp::from_millisecond(self.start_ms).unwrap_or(Timestamp::UNIX_EPOCH)
    }
    /// End as a timestamp.
    pub fn end(&self) -> Timestamp {
        Timestamp::from_millisecond(self.end_ms).unwrap_or(Timestamp::UNIX_EPOCH)
    }
}

/// `<start_ms>-<nonce>.ts`
pub fn segment_file_name(start_ms: i64, nonce: u32) -> String {
    format!("{start_ms}-{nonce:08x}.ts")
}

/// Parses a segment file name (`.ts` or `.ts.part`) back into start and nonce.
pub fn parse_segment_file_name(name: &str) -> Option<(i64, u32)> {
    let stem = name
        .strip_suffix(".ts.part")
        .or_else(|| name.strip_suffix(".ts"))?;
    let (a, b) = stem.split_once('-')?;
    Some((a.parse().ok()?, u32::from_str_radix(b, 16).ok()?))
}

fn encode(kind: u8, e: &Entry) -> [u8; RECORD_LEN] {
    let mut b = [0u8; RECORD_LEN];
    b[0] = kind;
    b[1..9].copy_from_slice(&e.seq.to_le_bytes());
    b[9..17].copy_from_slice(&e.start_ms.to_le_bytes());
    b[17..25].copy_from_slice(&e.end_ms.to_le_bytes());
    b[25..33].copy_from_slice(&e.size.to_le_bytes());
    b[33..37].copy_from_slice(&e.nonce.to_le_bytes());
    b[37..69].copy_from_slice(&e.sha256);
    b[69..101].copy_from_slice(&e.prev_sha256);
    // 101..105 reserved (zero)
    let crc = crc32fast::hash(&b[..RECORD_LEN - 4]);
    b[RECORD_LEN - 4..].copy_from_slice(&crc.to_le_bytes());
    b
}

/// Whether `b` (one record's length) is a whole record: a known kind, the
/// reserved bytes zero as [`encode`] writes them, and its CRC.
fn whole_record(b: &[u8]) -> bool {
    matches!(b[0], KIND_ADD | KIND_DEL)
        && b[RECORD_LEN - 8..RECORD_LEN - 4] == [0; 4]
        && decode(b).is_some()
}

fn decode(b: &[u8]) -> Option<(u8, Entry)> {
    let crc = u32::from_le_bytes(b[RECORD_LEN - 4..].try_into().ok()?);
    if crc32fast::hash(&b[..RECORD_LEN - 4]) != crc {
        return None;
    }
    let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
    let mut sha256 = [0; 32];
    sha256.copy_from_slice(&b[37..69]);
    let mut prev_sha256 = [0; 32];
    prev_sha256.copy_from_slice(&b[69..101]);
    Some((
        b[0],
        Entry {
            seq: u64_at(1),
            start_ms: u64_at(9) as i64,
            end_ms: u64_at(17) as i64,
            size: u64_at(25),
            nonce: u32::from_le_bytes(b[33..37].try_into().unwrap_or([0; 4])),
            sha256,
            prev_sha256,
        },
    ))
}

#[derive(Debug)]
struct CameraLog {
    path: PathBuf,
    file: File,
    /// Bytes of whole records in the file (where the next append must land).
    len: u64,
    /// An append failed part-way and could not be cut back to `len`: the file
    /// may end in a partial record. Cleared by the next cut that succeeds.
    torn: bool,
    /// Live entries sorted by (start_ms, seq).
    entries: Vec<Entry>,
    dead: usize,
    next_seq: u64,
    last_sha256: [u8; 32],
}

/// The index of every camera under one recording root.
#[derive(Debug)]
pub struct Index {
    root: PathBuf,
    cameras: BTreeMap<String, CameraLog>,
}

/// What [`Index::verify_chain`] found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// Sequence number of the segment whose `prev_sha256` does not match.
    pub seq: u64,
}

/// Replaces the log at `path` with `records` (temp file, fsync, rename, directory
/// fsync) and opens it for appending.
fn replace_log(path: &Path, records: &[u8]) -> std::io::Result<File> {
    let tmp = path.with_extension("idx.tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(records)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        crate::fs::sync_dir(dir)?;
    }
    OpenOptions::new().append(true).open(path)
}

impl CameraLog {
    /// Appends whole records, durably; on failure the log is as it was (see the
    /// module doc: a failed append is cut back, a torn log refuses appends).
    fn write(&mut self, records: &[u8]) -> Result<()> {
        if self.torn {
            self.file.set_len(self.len).map_err(|e| {
                AgentError::Index(format!(
                    "{}: an earlier append failed part-way and its partial record still \
                     cannot be cut ({e}); nothing is appended behind it until the cut \
                     succeeds or the index is opened again",
                    self.path.display()
                ))
            })?;
            self.torn = false;
        }
        crate::fs::append_whole(&mut self.file, self.len, records).map_err(|f| {
            if let Some(cut) = &f.cut_failed {
                self.torn = true;
                tracing::error!(
                    path = %self.path.display(),
                    error = %f.error,
                    cut_error = %cut,
                    "index append failed and could not be cut back: appends refused until it can"
                );
            }
            AgentError::io("append", &self.path, f.error)
        })?;
        self.len += records.len() as u64;
        Ok(())
    }
}

impl Index {
    /// Opens (creating if needed) the index under `root/index`, loading every camera's log.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        let dir = root.join("index");
        fs::create_dir_all(&dir).map_err(|e| AgentError::io("create", &dir, e))?;
        let mut idx = Index {
            root,
            cameras: BTreeMap::new(),
        };
        for de in fs::read_dir(&dir).map_err(|e| AgentError::io("read dir", &dir, e))? {
            let de = de.map_err(|e| AgentError::io("read dir", &dir, e))?;
            let name = de.file_name().to_string_lossy().into_owned();
            if let Some(cam) = name.strip_suffix(".idx") {
                let log = Self::load(de.path())?;
                idx.cameras.insert(cam.to_string(), log);
            }
        }
        Ok(idx)
    }

    fn load(path: PathBuf) -> Result<CameraLog> {
        let mut bytes = Vec::new();
        File::open(&path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| AgentError::io("read", &path, e))?;
        let mut entries = Vec::new();
        let mut deleted = HashSet::new();
        let mut next_seq = 0;
        let mut last_sha256 = [0; 32];
        // The whole records, as read (rewritten when a damaged stretch was skipped).
        let mut kept = Vec::with_capacity(bytes.len());
        let mut skipped = 0usize;
        let mut at = 0usize;
        while at + RECORD_LEN <= bytes.len() {
            let chunk = &bytes[at..at + RECORD_LEN];
            if !whole_record(chunk) {
                // Damage: look for the next whole record at any offset.
                match (at + 1..=bytes.len() - RECORD_LEN)
                    .find(|&o| whole_record(&bytes[o..o + RECORD_LEN]))
                {
                    Some(o) => {
                        skipped += o - at;
                        at = o;
                        continue;
                    }
                    None => break,
                }
            }
            let Some((kind, e)) = decode(chunk) else {
                break; // whole_record checked it
            };
            if kind == KIND_ADD {
                next_seq = next_seq.max(e.seq + 1);
                last_sha256 = e.sha256;
                entries.push(e);
            } else {
                deleted.insert(e.seq);
                // The last number given (compaction leaves its deletion when
                // every entry went), and its hash: the chain goes on.
                if e.seq + 1 >= next_seq {
                    next_seq = e.seq + 1;
                    last_sha256 = e.sha256;
                }
            }
            kept.extend_from_slice(chunk);
            at += RECORD_LEN;
        }
        let total = entries.len() + deleted.len();
        if !deleted.is_empty() {
            entries.retain(|e| !deleted.contains(&e.seq));
        }
        entries.sort_by_key(|e| (e.start_ms, e.seq));
        let file = if skipped > 0 {
            // Records after a damaged stretch: rewrite so appends are aligned again.
            tracing::warn!(
                path = %path.display(),
                skipped_bytes = skipped,
                cut_bytes = bytes.len() - at,
                kept_records = kept.len() / RECORD_LEN,
                "index log damaged: records after the damage kept, log rewritten"
            );
            replace_log(&path, &kept).map_err(|e| AgentError::io("rewrite", &path, e))?
        } else {
            let file = OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(|e| AgentError::io("open", &path, e))?;
            if kept.len() < bytes.len() {
                // A torn or corrupt tail (crash mid-append): cut it so appends stay aligned.
                tracing::warn!(path = %path.display(), kept = kept.len(), len = bytes.len(), "index tail cut");
                file.set_len(kept.len() as u64)
                    .map_err(|e| AgentError::io("truncate", &path, e))?;
            }
            file
        };
        Ok(CameraLog {
            dead: total - entries.len(),
            path,
            file,
            len: kept.len() as u64,
            torn: false,
            entries,
            next_seq,
            last_sha256,
        })
    }

    /// The recording root this index lives under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Directory holding a camera's segment files.
    pub fn camera_dir(&self, camera: &str) -> PathBuf {
        self.root.join("segments").join(camera)
    }

    /// Full path of a segment file.
    pub fn segment_path(&self, camera: &str, e: &Entry) -> PathBuf {
        self.camera_dir(camera).join(e.file_name())
    }

    fn log_mut(&mut self, camera: &str) -> Result<&mut CameraLog> {
        if !self.cameras.contains_key(camera) {
            let path = self.root.join("index").join(format!("{camera}.idx"));
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| AgentError::io("create", &path, e))?;
            // Created here, so empty; a file left by someone else is taken as
            // it is (its length, for where the next append must land).
            let len = file
                .metadata()
                .map_err(|e| AgentError::io("stat", &path, e))?
                .len();
            self.cameras.insert(
                camera.to_string(),
                CameraLog {
                    path,
                    file,
                    len,
                    torn: false,
                    entries: Vec::new(),
                    dead: 0,
                    next_seq: 0,
                    last_sha256: [0; 32],
                },
            );
        }
        self.cameras
            .get_mut(camera)
            .ok_or_else(|| AgentError::Index("camera vanished".into()))
    }

    /// Records a completed segment (already renamed to its final name); durable on return.
    /// Assigns the sequence number and chains it to the camera's previous segment.
    pub fn append(
        &mut self,
        camera: &str,
        start_ms: i64,
        end_ms: i64,
        size: u64,
        nonce: u32,
        sha256: [u8; 32],
    ) -> Result<Entry> {
        let log = self.log_mut(camera)?;
        let e = Entry {
            seq: log.next_seq,
            start_ms,
            end_ms,
            size,
            nonce,
            sha256,
            prev_sha256: log.last_sha256,
        };
        log.write(&encode(KIND_ADD, &e))?;
        log.next_seq += 1;
        log.last_sha256 = sha256;
        let at = log
            .entries
            .partition_point(|x| (x.start_ms, x.seq) <= (e.start_ms, e.seq));
        log.entries.insert(at, e);
        Ok(e)
    }

    /// Appends many segments with one fsync (bulk import, benchmarks, migration).
    /// Each item is (start_ms, end_ms, size, nonce, sha256), oldest first.
    pub fn append_batch(
        &mut self,
        camera: &str,
        items: impl IntoIterator<Item = (i64, i64, u64, u32, [u8; 32])>,
    ) -> Result<usize> {
        let log = self.log_mut(camera)?;
        let mut buf = Vec::new();
        let mut added = Vec::new();
        let (mut next_seq, mut last_sha256) = (log.next_seq, log.last_sha256);
        for (start_ms, end_ms, size, nonce, sha256) in items {
            let e = Entry {
                seq: next_seq,
                start_ms,
                end_ms,
                size,
                nonce,
                sha256,
                prev_sha256: last_sha256,
            };
            buf.extend_from_slice(&encode(KIND_ADD, &e));
            next_seq += 1;
            last_sha256 = sha256;
            added.push(e);
        }
        // Nothing changes in memory unless the records are durable.
        log.write(&buf)?;
        let n = added.len();
        (log.next_seq, log.last_sha256) = (next_seq, last_sha256);
        log.entries.extend(added);
        log.entries.sort_by_key(|e| (e.start_ms, e.seq));
        Ok(n)
    }

    /// Cameras with a log.
    pub fn cameras(&self) -> impl Iterator<Item = &str> {
        self.cameras.keys().map(String::as_str)
    }

    /// A camera's live segments, oldest first.
    pub fn segments(&self, camera: &str) -> &[Entry] {
        self.cameras
            .get(camera)
            .map(|l| l.entries.as_slice())
            .unwrap_or(&[])
    }

    /// Total live segments across cameras.
    pub fn len(&self) -> usize {
        self.cameras.values().map(|l| l.entries.len()).sum()
    }

    /// Whether no segment is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Segments of `camera` overlapping `[from, until)`, oldest first.
    pub fn find(&self, camera: &str, from: Timestamp, until: Timestamp) -> Vec<Entry> {
        let (f, u) = (from.as_millisecond(), until.as_millisecond());
        let s = self.segments(camera);
        // Entries are sorted by start; any overlap starts before `until`.
        let hi = s.partition_point(|e| e.start_ms < u);
        s[..hi].iter().filter(|e| e.end_ms > f).copied().collect()
    }

    /// Hash of the camera's last appended segment (zeros if none).
    pub fn last_sha256(&self, camera: &str) -> [u8; 32] {
        self.cameras
            .get(camera)
            .map(|l| l.last_sha256)
            .unwrap_or([0; 32])
    }

    /// Erases entries by sequence number (tombstones, fsynced; compacts when mostly dead).
    pub fn remove(&mut self, camera: &str, seqs: &[u64]) -> Result<usize> {
        if seqs.is_empty() {
            return Ok(0);
        }
        let Some(log) = self.cameras.get_mut(camera) else {
            return Ok(0);
        };
        let set: HashSet<u64> = seqs.iter().copied().collect();
        let mut buf = Vec::with_capacity(seqs.len() * RECORD_LEN);
        for e in log.entries.iter().filter(|e| set.contains(&e.seq)) {
            buf.extend_from_slice(&encode(KIND_DEL, e));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        // The entries stay until their tombstones are durable (a failed
        // removal is tried again by the next sweep).
        log.write(&buf)?;
        let before = log.entries.len();
        log.entries.retain(|e| !set.contains(&e.seq));
        let removed = before - log.entries.len();
        log.dead += removed * 2;
        if log.dead > log.entries.len() {
            Self::compact(log)?;
        }
        Ok(removed)
    }

    /// Rewrites a camera's log with only live records (temp file + rename).
    fn compact(log: &mut CameraLog) -> Result<()> {
        let mut buf = Vec::with_capacity(log.entries.len() * RECORD_LEN);
        let mut by_seq: Vec<&Entry> = log.entries.iter().collect();
        by_seq.sort_by_key(|e| e.seq);
        for e in by_seq {
            buf.extend_from_slice(&encode(KIND_ADD, e));
        }
        if log.next_seq > 0 && !log.entries.iter().any(|e| e.seq == log.next_seq - 1) {
            // The last number given went (every entry, or the newest while a
            // hold keeps older ones): one deletion record of it (with its
            // hash) keeps the numbering and the chain going after a reopen;
            // sequence numbers are never given twice.
            let marker = Entry {
                seq: log.next_seq - 1,
                start_ms: 0,
                end_ms: 0,
                size: 0,
                nonce: 0,
                sha256: log.last_sha256,
                prev_sha256: [0; 32],
            };
            buf.extend_from_slice(&encode(KIND_DEL, &marker));
        }
        log.file =
            replace_log(&log.path, &buf).map_err(|e| AgentError::io("compact", &log.path, e))?;
        log.len = buf.len() as u64;
        log.torn = false;
        log.dead = 0;
        Ok(())
    }

    /// Checks that every consecutive pair of live segments is chained.
    /// Gaps left by deleted segments are allowed only where the sequence skips.
    pub fn verify_chain(&self, camera: &str) -> std::result::Result<(), ChainBreak> {
        let mut by_seq: Vec<&Entry> = self.segments(camera).iter().collect();
        by_seq.sort_by_key(|e| e.seq);
        for w in by_seq.windows(2) {
            if w[1].seq == w[0].seq + 1 && w[1].prev_sha256 != w[0].sha256 {
                return Err(ChainBreak { seq: w[1].seq });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: u8) -> [u8; 32] {
        [n; 32]
    }

    /// Every entry of a camera removed and the log compacted: after a reopen
    /// the next segment gets a new number, chained to the last one's hash.
    #[test]
    fn an_emptied_log_keeps_its_numbering_and_chain() {
        let dir = tempfile::tempdir().unwrap();
        let last = {
            let mut idx = Index::open(dir.path()).unwrap();
            let mut seqs = vec![];
            for i in 0..3 {
                seqs.push(
                    idx.append("c", i * 1000, i * 1000 + 999, 1, 0, h(i as u8 + 1))
                        .unwrap()
                        .seq,
                );
            }
            // All three go: the log is compacted to nothing but its marker.
            idx.remove("c", &seqs).unwrap();
            seqs[2]
        };
        let mut idx = Index::open(dir.path()).unwrap();
        assert!(idx.segments("c").is_empty());
        let e = idx.append("c", 5000, 5999, 1, 0, h(9)).unwrap();
        assert_eq!(e.seq, last + 1, "never the same number twice");
        assert_eq!(e.prev_sha256, h(3), "chained to the last segment's hash");
        // The newest gone while an older one is kept (held): the same.
        let dir = tempfile::tempdir().unwrap();
        let last = {
            let mut idx = Index::open(dir.path()).unwrap();
            let seqs: Vec<u64> = (0..4)
                .map(|i| {
                    idx.append("c", i * 1000, i * 1000 + 999, 1, 0, h(i as u8 + 1))
                        .unwrap()
                        .seq
                })
                .collect();
            idx.remove("c", &seqs[1..]).unwrap();
            seqs[3]
        };
        let mut idx = Index::open(dir.path()).unwrap();
        assert_eq!(idx.segments("c").len(), 1);
        let e = idx.append("c", 5000, 5999, 1, 0, h(9)).unwrap();
        assert_eq!(e.seq, last + 1);
        assert_eq!(e.prev_sha256, h(4));
    }

    #[test]
    fn append_find_reopen_and_chain() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut idx = Index::open(dir.path()).unwrap();
            for i in 0..10 {
                idx.append("c1", i * 1000, i * 1000 + 1000, 10, i as u32, h(i as u8))
                    .unwrap();
            }
            idx.append("c2", 0, 5, 1, 0, h(99)).unwrap();
        }
        let idx = Index::open(dir.path()).unwrap();
        assert_eq!(idx.segments("c1").len(), 10);
        assert_eq!(idx.segments("c1")[3].prev_sha256, h(2));
        assert_eq!(idx.segments("c1")[0].prev_sha256, [0; 32]);
        idx.verify_chain("c1").unwrap();
        let t = |ms| Timestamp::from_millisecond(ms).unwrap();
        let f = idx.find("c1", t(2500), t(4000));
        assert_eq!(f.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(idx.last_sha256("c1"), h(9));
        assert_eq!(
            parse_segment_file_name(&idx.segments("c1")[5].file_name()),
            Some((5000, 5))
        );
    }

    #[test]
    fn remove_persists_and_compacts() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = Index::open(dir.path()).unwrap();
        for i in 0..100 {
            idx.append("c", i, i + 1, 1, 0, h(i as u8)).unwrap();
        }
        assert_eq!(idx.remove("c", &[0, 1, 2]).unwrap(), 3);
        drop(idx);
        let mut idx = Index::open(dir.path()).unwrap();
        assert_eq!(idx.segments("c").len(), 97);
        let all: Vec<u64> = (3..80).collect();
        idx.remove("c", &all).unwrap();
        let len = fs::metadata(dir.path().join("index/c.idx")).unwrap().len();
        assert_eq!(len, 20 * RECORD_LEN as u64, "compacted to live records");
        drop(idx);
        let mut idx = Index::open(dir.path()).unwrap();
        assert_eq!(idx.segments("c").len(), 20);
        let e = idx.append("c", 1000, 1001, 1, 0, h(7)).unwrap();
        assert_eq!(e.seq, 100, "sequence numbers are never reused");
    }

    #[test]
    fn torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = Index::open(dir.path()).unwrap();
        for i in 0..3 {
            idx.append("c", i, i + 1, 1, 0, h(1)).unwrap();
        }
        drop(idx);
        let p = dir.path().join("index/c.idx");
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(&[1, 2, 3, 4, 5]).unwrap();
        drop(f);
        let mut idx = Index::open(dir.path()).unwrap();
        assert_eq!(idx.segments("c").len(), 3);
        idx.append("c", 9, 10, 1, 0, h(2)).unwrap();
        drop(idx);
        assert_eq!(Index::open(dir.path()).unwrap().segments("c").len(), 4);
    }

    fn seqs(idx: &Index, cam: &str) -> Vec<u64> {
        idx.segments(cam).iter().map(|e| e.seq).collect()
    }

    #[test]
    fn a_failed_append_is_cut_back_and_later_records_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("index/c.idx");
        let mut idx = Index::open(dir.path()).unwrap();
        for i in 0..3 {
            idx.append("c", i, i + 1, 1, 0, h(1)).unwrap();
        }
        // The disk fills up 50 bytes into the next record.
        crate::fs::fail_next_append_after(50);
        assert!(idx.append("c", 3, 4, 1, 0, h(2)).is_err());
        assert_eq!(fs::metadata(&p).unwrap().len(), 3 * RECORD_LEN as u64);
        assert_eq!(seqs(&idx, "c"), [0, 1, 2], "memory unchanged");
        // The same for a batch and for tombstones.
        crate::fs::fail_next_append_after(RECORD_LEN + 7);
        assert!(idx
            .append_batch("c", [(5, 6, 1, 0, h(3)), (6, 7, 1, 0, h(4))])
            .is_err());
        crate::fs::fail_next_append_after(3);
        assert!(idx.remove("c", &[0]).is_err());
        assert_eq!(fs::metadata(&p).unwrap().len(), 3 * RECORD_LEN as u64);
        assert_eq!(seqs(&idx, "c"), [0, 1, 2], "memory unchanged");
        assert_eq!(idx.last_sha256("c"), h(1));
        // Later records land aligned and survive a reopen.
        assert_eq!(idx.append("c", 3, 4, 1, 0, h(2)).unwrap().seq, 3);
        assert_eq!(idx.remove("c", &[1]).unwrap(), 1);
        drop(idx);
        let idx = Index::open(dir.path()).unwrap();
        assert_eq!(
            seqs(&idx, "c"),
            [0, 2, 3],
            "the deletion stays, no seq reused"
        );
        idx.verify_chain("c").unwrap();
    }

    #[test]
    fn a_partial_record_that_could_not_be_cut_blocks_appends_until_the_cut_works() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("index/c.idx");
        let mut idx = Index::open(dir.path()).unwrap();
        for i in 0..3 {
            idx.append("c", i, i + 1, 1, 0, h(1)).unwrap();
        }
        // An append fails and its cut fails too (a handle that can neither
        // write nor truncate); a partial record stays behind (written here
        // through a second handle, as the failed write would have left it).
        let writable = std::mem::replace(
            &mut idx.cameras.get_mut("c").unwrap().file,
            File::open(&p).unwrap(),
        );
        assert!(idx.append("c", 3, 4, 1, 0, h(2)).is_err());
        let mut other = OpenOptions::new().append(true).open(&p).unwrap();
        other.write_all(&[0xA5; 50]).unwrap();
        // While the cut keeps failing nothing is written behind the partial record.
        let e = idx.append("c", 3, 4, 1, 0, h(2)).unwrap_err();
        assert!(e.to_string().contains("cannot be cut"), "{e}");
        assert!(idx.remove("c", &[0]).is_err());
        assert_eq!(fs::metadata(&p).unwrap().len(), 3 * RECORD_LEN as u64 + 50);
        // Once the cut works the next append lands aligned.
        idx.cameras.get_mut("c").unwrap().file = writable;
        assert_eq!(idx.append("c", 3, 4, 1, 0, h(2)).unwrap().seq, 3);
        assert_eq!(idx.remove("c", &[0]).unwrap(), 1);
        assert_eq!(idx.append("c", 4, 5, 1, 0, h(3)).unwrap().seq, 4);
        drop(idx);
        let idx = Index::open(dir.path()).unwrap();
        assert_eq!(seqs(&idx, "c"), [1, 2, 3, 4]);
        assert_eq!(fs::metadata(&p).unwrap().len(), 6 * RECORD_LEN as u64);
        // Reopening drops a partial record left at the end.
        drop(idx);
        let mut other = OpenOptions::new().append(true).open(&p).unwrap();
        other.write_all(&[0xA5; 50]).unwrap();
        let mut idx = Index::open(dir.path()).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().len(), 6 * RECORD_LEN as u64);
        assert_eq!(idx.append("c", 5, 6, 1, 0, h(4)).unwrap().seq, 5);
        drop(idx);
        assert_eq!(
            seqs(&Index::open(dir.path()).unwrap(), "c"),
            [1, 2, 3, 4, 5]
        );
    }

    #[test]
    fn records_behind_a_partial_one_are_kept_at_open() {
        // What an append that failed part-way left before appends were cut
        // back: a partial record with later additions and deletions behind it.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("index/c.idx");
        let mut idx = Index::open(dir.path()).unwrap();
        for i in 0..3 {
            idx.append("c", i, i + 1, 1, 0, h(i as u8)).unwrap();
        }
        drop(idx);
        let mut tail = vec![0x5A; 50];
        let add = |seq: u64, prev: u8| Entry {
            seq,
            start_ms: seq as i64,
            end_ms: seq as i64 + 1,
            size: 1,
            nonce: 0,
            sha256: h(seq as u8),
            prev_sha256: h(prev),
        };
        tail.extend_from_slice(&encode(KIND_ADD, &add(3, 2)));
        tail.extend_from_slice(&encode(KIND_DEL, &add(1, 0)));
        tail.extend_from_slice(&encode(KIND_ADD, &add(4, 3)));
        tail.extend_from_slice(&[0x5A; 20]); // and a torn last one
        OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(&tail)
            .unwrap();
        let mut idx = Index::open(dir.path()).unwrap();
        assert_eq!(
            seqs(&idx, "c"),
            [0, 2, 3, 4],
            "the deleted segment stays gone"
        );
        assert_eq!(
            fs::metadata(&p).unwrap().len(),
            6 * RECORD_LEN as u64,
            "rewritten aligned"
        );
        assert_eq!(
            idx.append("c", 9, 10, 1, 0, h(9)).unwrap().seq,
            5,
            "no seq reused"
        );
        drop(idx);
        let idx = Index::open(dir.path()).unwrap();
        assert_eq!(seqs(&idx, "c"), [0, 2, 3, 4, 5]);
        idx.verify_chain("c").unwrap();
    }
}
