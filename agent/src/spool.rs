//! The durable report spool: every report is written here before it is sent and
//! stays until the controller acknowledges its key, so reports made while the
//! controller is unreachable (or lost in a broken connection) are replayed in
//! order on reconnect. The controller stores each key once, so a replay never
//! double-counts.
//!
//! Format: JSON lines, `{"add": {...report}}` or `{"ack": "key"}`; a torn last line
//! (crash mid-write) is ignored. The file is rewritten without acknowledged
//! reports when it has no pending ones.

use camplane_proto::kinds::ReportKind;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
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
        if let Ok(f) = File::open(path) {
            for line in BufReader::new(f).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<Line>(&line) {
                    Ok(Line::Add(r)) => pending.push_back(r),
                    Ok(Line::Ack(k)) => pending.retain(|r| r.key != k),
                    Err(_) => break, // torn last line
                }
            }
        }
        let mut s = Spool {
            path: path.to_path_buf(),
            file: File::create(path.with_extension("tmp"))?,
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
        let mut b = serde_json::to_vec(l)?;
        b.push(b'\n');
        self.file.write_all(&b)?;
        self.file.sync_data()
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
