//! The durable report spool: every report is written here before it is sent and
//! stays until the controller acknowledges its key, so reports made while the
//! controller is unreachable (or lost in a broken connection) are replayed in
//! order on reconnect. The controller stores each key once, so a replay never
//! double-counts.
//!
//! Format: JSON lines, `{"add": {...report}}` or `{"ack": "key"}`. The file is
//! rewritten without acknowledged reports when it has no pending ones.
//!
//! **A bad line costs only itself.** An append that fails part-way (ENOSPC,
//! EIO) is cut back to the file's length before it
//! ([`crate::fs::append_whole`]); if even that cut fails, the whole file is
//! rewritten from memory (temp file + rename) before the next append, so no
//! line is ever glued onto a partial one. At open, a line that does not parse
//! (a torn last line, damage) is skipped, counted and warned about, and the
//! lines after it are still read (bytes split on `\n`, so invalid UTF-8 does
//! not stop the read either); a line that begins with a partial line (what an
//! agent that did not cut back could leave) still yields the whole line glued
//! at its end.

use camplane_proto::kinds::ReportKind;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// A report waiting for its acknowledgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpooledReport {
    /// Idempotency key.
    pub key: String,
    /// `health` or `windows`.
    pub kind: String,
    /// The report.
    pub json: serde_json::Value,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Line {
    Add(SpooledReport),
    Ack(String),
}

/// Health reports kept waiting at most: each supersedes the one before (the
/// controller keeps the latest), so an agent offline for weeks keeps the last
/// few, not one a minute. Windows and alerts are all kept.
pub const HEALTH_KEPT: usize = 3;

/// Acknowledgement lines the file may carry before it is rewritten without
/// them (and at least as many as pending reports).
const DEAD_LINES_MAX: usize = 1024;

/// The spool.
pub struct Spool {
    path: PathBuf,
    file: File,
    /// Bytes of whole lines in the file (where the next append must land).
    len: u64,
    /// An append failed part-way and could not be cut back: the file is
    /// rewritten from memory before the next append.
    torn: bool,
    /// Lines of the file that did not parse when it was opened.
    skipped: usize,
    pending: VecDeque<SpooledReport>,
    /// Lines of the file that no longer count (acknowledged or superseded).
    dead: usize,
    /// Health reports dropped unsent-or-unacknowledged because newer ones
    /// superseded them, since the spool was opened.
    superseded: u64,
}

impl Spool {
    /// Opens the spool, recovering what is still pending.
    pub fn open(path: &Path) -> std::io::Result<Spool> {
        let mut pending: VecDeque<SpooledReport> = VecDeque::new();
        let mut skipped = 0;
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let Some(l) = parse_line(line) else {
                skipped += 1;
                continue;
            };
            if l.glued {
                skipped += 1;
            }
            match l.line {
                Line::Add(r) => pending.push_back(r),
                Line::Ack(k) => pending.retain(|r| r.key != k),
            }
        }
        if skipped > 0 {
            tracing::warn!(
                path = %path.display(),
                skipped,
                "report spool: lines that did not parse skipped"
            );
        }
        let mut s = Spool {
            path: path.to_path_buf(),
            file: File::create(path.with_extension("tmp"))?,
            len: 0,
            torn: false,
            skipped,
            pending,
            dead: 0,
            superseded: 0,
        };
        s.rewrite()?;
        Ok(s)
    }

    fn rewrite(&mut self) -> std::io::Result<()> {
        let mut buf = Vec::new();
        for r in &self.pending {
            serde_json::to_writer(&mut buf, &Line::Add(r.clone()))?;
            buf.push(b'\n');
        }
        crate::fs::write_atomic(&self.path, &buf, true).map_err(std::io::Error::other)?;
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.len = buf.len() as u64;
        self.torn = false;
        self.dead = 0;
        Ok(())
    }

    /// Records that `key` no longer waits: the file rewritten when nothing
    /// waits or when dead lines pile up, else an acknowledgement line.
    fn forget(&mut self, key: &str) -> std::io::Result<()> {
        self.pending.retain(|r| r.key != key);
        self.dead += 2;
        if self.pending.is_empty() || (self.dead > DEAD_LINES_MAX && self.dead > self.pending.len())
        {
            self.rewrite()
        } else {
            self.append(&Line::Ack(key.to_string()))
        }
    }

    fn append(&mut self, l: &Line) -> std::io::Result<()> {
        if self.torn {
            // A partial line may end the file: rewrite it whole first.
            self.rewrite()?;
        }
        let mut b = serde_json::to_vec(l)?;
        b.push(b'\n');
        match crate::fs::append_whole(&mut self.file, self.len, &b) {
            Ok(()) => {
                self.len += b.len() as u64;
                Ok(())
            }
            Err(f) => {
                if let Some(cut) = &f.cut_failed {
                    tracing::error!(
                        path = %self.path.display(),
                        error = %f.error,
                        cut_error = %cut,
                        "report spool append failed and could not be cut back: rewritten before the next"
                    );
                    self.torn = true;
                }
                Err(f.error)
            }
        }
    }

    /// Adds a report (durably) before it is sent. A health report drops the
    /// oldest waiting ones beyond [`HEALTH_KEPT`].
    pub fn push(&mut self, r: SpooledReport) -> std::io::Result<()> {
        let health = r.kind == ReportKind::Health.as_str();
        self.append(&Line::Add(r.clone()))?;
        self.pending.push_back(r);
        if health {
            let waiting: Vec<String> = self
                .pending
                .iter()
                .filter(|p| p.kind == ReportKind::Health.as_str())
                .map(|p| p.key.clone())
                .collect();
            for key in &waiting[..waiting.len().saturating_sub(HEALTH_KEPT)] {
                self.forget(key)?;
                self.superseded += 1;
            }
        }
        Ok(())
    }

    /// Drops an acknowledged report.
    pub fn ack(&mut self, key: &str) -> std::io::Result<()> {
        if !self.pending.iter().any(|r| r.key == key) {
            return Ok(());
        }
        self.forget(key)
    }

    /// Everything not yet acknowledged, oldest first.
    pub fn pending(&self) -> Vec<SpooledReport> {
        self.pending.iter().cloned().collect()
    }

    /// How many reports wait.
    pub fn depth(&self) -> usize {
        self.pending.len()
    }

    /// How many health reports newer ones superseded since the spool was
    /// opened (some may have reached the controller before they were dropped).
    pub fn superseded(&self) -> u64 {
        self.superseded
    }

    /// Lines of the file that did not parse when the spool was opened.
    pub fn skipped(&self) -> usize {
        self.skipped
    }
}

/// A line of the file as read back.
struct ReadLine {
    line: Line,
    /// It came from the end of a line that began with something else (a
    /// partial line an append that failed part-way left, the next one glued on).
    glued: bool,
}

/// Parses one line of the file; a line that does not parse whole is tried
/// from each later `{"add":` or `{"ack":` in it (how [`Line`] is written,
/// with no space), so a whole line glued onto a partial one is not lost.
fn parse_line(line: &[u8]) -> Option<ReadLine> {
    if let Ok(line) = serde_json::from_slice::<Line>(line) {
        return Some(ReadLine { line, glued: false });
    }
    const STARTS: [&[u8]; 2] = [br#"{"add":"#, br#"{"ack":"#];
    (1..line.len())
        .filter(|&i| STARTS.iter().any(|s| line[i..].starts_with(s)))
        .find_map(|i| serde_json::from_slice::<Line>(&line[i..]).ok())
        .map(|line| ReadLine { line, glued: true })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn weeks_offline_keep_the_last_health_reports_and_every_window() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("spool.jsonl");
        let mut s = Spool::open(&p).unwrap();
        for i in 0..5000 {
            s.push(SpooledReport {
                key: format!("h-{i}"),
                kind: "health".into(),
                json: serde_json::json!({"i": i}),
            })
            .unwrap();
            if i % 100 == 0 {
                s.push(SpooledReport {
                    key: format!("w-{i}"),
                    kind: "windows".into(),
                    json: serde_json::json!({"i": i}),
                })
                .unwrap();
            }
        }
        let keys: Vec<String> = s.pending().into_iter().map(|r| r.key).collect();
        assert_eq!(keys.len(), 50 + HEALTH_KEPT, "{keys:?}");
        assert_eq!(s.superseded(), 5000 - HEALTH_KEPT as u64);
        assert_eq!(&keys[keys.len() - 3..], ["h-4997", "h-4998", "h-4999"]);
        assert_eq!(keys.iter().filter(|k| k.starts_with("w-")).count(), 50);
        // The file is rewritten as it goes: bounded, and it recovers the same.
        let bytes = std::fs::metadata(&p).unwrap().len();
        assert!(bytes < 200_000, "{bytes} bytes");
        drop(s);
        let again = Spool::open(&p).unwrap();
        let after: Vec<String> = again.pending().into_iter().map(|r| r.key).collect();
        assert_eq!(after, keys);
    }

    fn r(k: &str) -> SpooledReport {
        SpooledReport {
            key: k.into(),
            kind: "health".into(),
            json: serde_json::json!({"k": k}),
        }
    }

    fn keys(s: &Spool) -> Vec<String> {
        s.pending().into_iter().map(|r| r.key).collect()
    }

    fn add_line(k: &str) -> Vec<u8> {
        let mut b = serde_json::to_vec(&Line::Add(r(k))).unwrap();
        b.push(b'\n');
        b
    }

    #[test]
    fn a_bad_line_does_not_end_the_read() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("spool.jsonl");
        // A, then a partial line (no newline) with B glued onto it, then
        // damage of every kind, then C.
        let mut file = add_line("a");
        file.extend_from_slice(br#"{"add":{"key":"x","kind":"win"#);
        file.extend_from_slice(&add_line("b"));
        file.extend_from_slice(b"\xff\xfe not json \xc3\n");
        file.extend_from_slice(b"{\"ack\": 12}\n");
        file.extend_from_slice(&add_line("c"));
        file.extend_from_slice(br#"{"ack":"b"#);
        std::fs::write(&p, &file).unwrap();
        let s = Spool::open(&p).unwrap();
        assert_eq!(keys(&s), ["a", "b", "c"]);
        assert_eq!(s.skipped(), 4);
        drop(s);
        // The file was rewritten whole: nothing is skipped any more.
        let s = Spool::open(&p).unwrap();
        assert_eq!(
            (keys(&s), s.skipped()),
            (vec!["a".into(), "b".into(), "c".into()], 0)
        );
    }

    #[test]
    fn a_failed_append_leaves_no_partial_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("spool.jsonl");
        let mut s = Spool::open(&p).unwrap();
        s.push(r("a")).unwrap();
        let len = std::fs::metadata(&p).unwrap().len();
        // The disk fills up part-way through a line: the file is cut back.
        crate::fs::fail_next_append_after(10);
        assert!(s.push(r("b")).is_err());
        assert_eq!(std::fs::metadata(&p).unwrap().len(), len);
        assert_eq!(keys(&s), ["a"]);
        s.push(r("c")).unwrap();
        // An append whose cut fails too (a handle that can neither write nor
        // truncate), a partial line left behind it: the next append rewrites
        // the file from memory first.
        s.file = File::open(&p).unwrap();
        assert!(s.push(r("d")).is_err());
        OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(br#"{"add":{"key":"d","ki"#)
            .unwrap();
        s.push(r("e")).unwrap();
        drop(s);
        let s = Spool::open(&p).unwrap();
        assert_eq!(
            (keys(&s), s.skipped()),
            (vec!["a".into(), "c".into(), "e".into()], 0)
        );
    }

    #[test]
    fn survives_restart_and_torn_tail() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("spool.jsonl");
        {
            let mut s = Spool::open(&p).unwrap();
            s.push(r("a")).unwrap();
            s.push(r("b")).unwrap();
            s.push(r("c")).unwrap();
            s.ack("b").unwrap();
        }
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"{\"add\": {\"key\": \"d\", \"ki")
            .unwrap();
        let mut s = Spool::open(&p).unwrap();
        let keys: Vec<_> = s.pending().into_iter().map(|r| r.key).collect();
        assert_eq!(keys, ["a", "c"]);
        s.ack("a").unwrap();
        s.ack("c").unwrap();
        assert_eq!(s.depth(), 0);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "");
    }
}
