//! File-system helpers: the one place that knows how to replace a file so that a
//! crash leaves the old version or the new one, never a torn mix.

use std::path::Path;

use crate::error::{AgentError, Result};

/// Writes a file whole or not at all (temp file beside it, fsync, rename).
/// `private` makes a new file owner-only (keys, hotlists).
pub fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    write_atomic_as(&path.with_extension("tmp"), path, bytes, private)
}

/// [`write_atomic`] through the temporary file `tmp` (beside `path`).
pub fn write_atomic_as(tmp: &Path, path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = tmp.to_path_buf();
    let mut o = std::fs::OpenOptions::new();
    o.create(true).write(true).truncate(true);
    if private {
        o.mode(0o600);
    }
    let mut f = o
        .open(&tmp)
        .map_err(|e| AgentError::io("writing", &tmp, e))?;
    if private {
        // A temporary file left from before (a crash) keeps its mode when
        // opened again: set it.
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| AgentError::io("writing", &tmp, e))?;
    }
    std::io::Write::write_all(&mut f, bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| AgentError::io("writing", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| AgentError::io("renaming", path, e))
}

/// Makes the entries of `dir` durable (a rename or a new file in it survives a crash).
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn write_atomic_replaces_whole_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        write_atomic(&p, b"one", false).unwrap();
        write_atomic(&p, b"two", true).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert!(!p.with_extension("tmp").exists());
        sync_dir(dir.path()).unwrap();
    }

    #[test]
    fn private_files_are_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("key.pem");
        write_atomic(&p, b"k", true).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // A temporary file left world-readable (a crash, another writer) does
        // not pass its mode on.
        let q = dir.path().join("config.json");
        std::fs::write(q.with_extension("tmp"), b"old").unwrap();
        std::fs::set_permissions(
            q.with_extension("tmp"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        write_atomic(&q, b"{}", true).unwrap();
        let mode = std::fs::metadata(&q).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn the_report_spool_is_owner_only() {
        // It holds alerts, plates among them.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("spool.jsonl");
        crate::spool::Spool::open(&p).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
