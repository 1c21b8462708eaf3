//! The durable report spool: every report is written here before it is sent and
//! stays until the controller acknowledges its key, so reports made while the
//! controller is unreachable (or lost in a broken connection) are replayed in
//! order on reconnect. The controller stores each key once, so a replay never
//! double-counts.
//!
//! Format: JSON lines, `{"add": {...report}}` or `{"ack": "key"}`; a torn last line
//! (crash mid-write) is ignored. The file is rewritten without acknowledged
//! reports when it has no pending ones.

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

/// The spool.
pub struct Spool {
    path: PathBuf,
    file: File,
    pending: VecDeque<SpooledReport>,
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
        Ok(())
    }

    fn append(&mut self, l: &Line) -> std::io::Result<()> {
        let mut b = serde_json::to_vec(l)?;
        b.push(b'\n');
        self.file.write_all(&b)?;
        self.file.sync_data()
    }

    /// Adds a report (durably) before it is sent.
    pub fn push(&mut self, r: SpooledReport) -> std::io::Result<()> {
        self.append(&Line::Add(r.clone()))?;
        self.pending.push_back(r);
        Ok(())
    }

    /// Drops an acknowledged report.
    pub fn ack(&mut self, key: &str) -> std::io::Result<()> {
        if !self.pending.iter().any(|r| r.key == key) {
            return Ok(());
        }
        self.pending.retain(|r| r.key != key);
        if self.pending.is_empty() {
            self.rewrite()
        } else {
            self.append(&Line::Ack(key.to_string()))
        }
    }

    /// Everything not yet acknowledged, oldest first.
    pub fn pending(&self) -> Vec<SpooledReport> {
        self.pending.iter().cloned().collect()
    }

    /// How many reports wait.
    pub fn depth(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
