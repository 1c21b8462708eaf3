//! File-system helpers: the one place that knows how to replace a file so that a
//! crash leaves the old version or the new one, never a torn mix.

use std::path::Path;

use crate::error::{AgentError, Result};

/// Writes a file whole or not at all (temp file beside it, fsync, rename).
/// `private` makes a new file owner-only (keys, hotlists).
pub fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut o = std::fs::OpenOptions::new();
    o.create(true).write(true).truncate(true);
    if private {
        o.mode(0o600);
    }
    let mut f = o
        .open(&tmp)
        .map_err(|e| AgentError::io("writing", &tmp, e))?;
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
    }
}
