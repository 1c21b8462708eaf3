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

/// How an [`append_whole`] failed.
#[derive(Debug)]
pub struct FailedAppend {
    /// Why the write or its sync failed.
    pub error: std::io::Error,
    /// Set when the file could not be cut back to its length before the
    /// append either: it may then end in a partial record, and the next
    /// append must not land behind it.
    pub cut_failed: Option<std::io::Error>,
}

/// Appends `bytes` to the end of `file` (opened for appending, `len` bytes
/// long, ending on a record boundary) and syncs them; durable on return. A
/// write or sync that fails part-way (ENOSPC, EIO) cuts the file back to
/// `len`, so no partial record stays for the next append to land behind
/// (misaligned fixed-size records, a line glued onto a partial one).
pub fn append_whole(
    file: &mut std::fs::File,
    len: u64,
    bytes: &[u8],
) -> std::result::Result<(), FailedAppend> {
    let written = (|| {
        #[cfg(test)]
        if let Some(n) = FAIL_NEXT_APPEND_AFTER.with(std::cell::Cell::take) {
            std::io::Write::write_all(file, &bytes[..n.min(bytes.len())])?;
            return Err(std::io::Error::other("injected failure part-way"));
        }
        std::io::Write::write_all(file, bytes)?;
        file.sync_data()
    })();
    written.map_err(|error| FailedAppend {
        error,
        // The next successful append's sync makes the cut durable; a crash
        // before it leaves a torn tail, which the readers drop.
        cut_failed: file.set_len(len).err(),
    })
}

#[cfg(test)]
thread_local! {
    /// Test hook: the next [`append_whole`] on this thread writes this many
    /// bytes and then fails (a disk that filled up part-way).
    static FAIL_NEXT_APPEND_AFTER: std::cell::Cell<Option<usize>> =
        const { std::cell::Cell::new(None) };
}

/// Test hook: the next [`append_whole`] on this thread writes `n` bytes of
/// what it was given and then fails.
#[cfg(test)]
pub fn fail_next_append_after(n: usize) {
    FAIL_NEXT_APPEND_AFTER.with(|c| c.set(Some(n)));
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
    fn a_failed_append_leaves_the_file_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        std::fs::write(&p, b"one\n").unwrap();
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        fail_next_append_after(3);
        let e = append_whole(&mut f, 4, b"two\n").unwrap_err();
        assert!(e.cut_failed.is_none(), "{e:?}");
        assert_eq!(
            std::fs::read(&p).unwrap(),
            b"one\n",
            "the partial line is cut"
        );
        append_whole(&mut f, 4, b"three\n").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"one\nthree\n");
        // A handle that cannot write cannot cut either: the caller is told.
        let mut ro = std::fs::File::open(&p).unwrap();
        let e = append_whole(&mut ro, 10, b"four\n").unwrap_err();
        assert!(e.cut_failed.is_some(), "{e:?}");
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
