//! Files the CLI writes that are not everyone's to read (the saved token,
//! recordings played back, audit reports): owner-only (0600), and never through
//! a link someone else left at the path. A file written in place is created new
//! (an existing path, a link included, is refused and named); the token, which a
//! new sign-in replaces, goes to a new temporary file beside it and is renamed
//! over the path, so a link there is replaced, never followed.

use anyhow::{anyhow, Context, Result};
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Refuses `path` when anything is there, a link (even a dangling one)
/// included: asked before the controller is, so nothing is played or
/// reported for a file that would be refused. [`create_new_private`] checks
/// again, atomically.
pub(crate) fn refuse_existing(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Err(exists(path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("checking {}", path.display())),
    }
}

fn exists(path: &Path) -> anyhow::Error {
    anyhow!(
        "{} already exists (a file or a link): give a new path, nothing is overwritten",
        path.display()
    )
}

/// Creates `path` new, readable and writable by its owner only (0600). An
/// existing file or link at `path` is refused, naming it, and left as it was.
pub(crate) fn create_new_private(path: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => exists(path),
            _ => anyhow::Error::new(e).context(format!("creating {}", path.display())),
        })
}

/// Creates the directory `dir` (and those above it that are missing) owner-only
/// (0700); an existing one is left as it is.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// Writes `bytes` to `path` owner-only (0600), replacing whatever was there:
/// a new temporary file in the same directory, synced, then renamed over
/// `path`. A link at `path` is replaced, its target untouched; a file there
/// with wider permissions is replaced by one with 0600. The directory is
/// created 0700 when missing.
pub(crate) fn replace_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    create_private_dir(&dir)?;
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("{} names no file", path.display()))?
        .to_string_lossy()
        .into_owned();
    let (tmp, mut f) = temporary_beside(&dir, &name)?;
    let written = f
        .write_all(bytes)
        .and_then(|_| f.sync_all())
        .and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    // The rename itself lasts once the directory is synced (best effort).
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A new owner-only file in `dir` named after `name`, the process and a
/// counter: created new, so nothing there (a link another user planted) is
/// opened.
fn temporary_beside(dir: &Path, name: &str) -> Result<(PathBuf, File)> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    for _ in 0..16 {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{}.{nanos:x}.{n}.tmp", std::process::id()));
        match create_new_private(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(_) if tmp.symlink_metadata().is_ok() => continue,
            Err(e) => return Err(e),
        }
    }
    Err(anyhow!(
        "no new temporary file could be made in {}",
        dir.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_replaced_file_is_owner_only_and_a_link_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/token");
        replace_private(&p, b"one").unwrap();
        assert_eq!(mode(&p), 0o600);
        assert_eq!(mode(&dir.path().join("sub")), 0o700);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        replace_private(&p, b"two").unwrap();
        assert_eq!(
            (mode(&p), std::fs::read(&p).unwrap()),
            (0o600, b"two".to_vec())
        );
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"theirs").unwrap();
        std::fs::remove_file(&p).unwrap();
        std::os::unix::fs::symlink(&victim, &p).unwrap();
        replace_private(&p, b"three").unwrap();
        assert!(!std::fs::symlink_metadata(&p)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&victim).unwrap(), b"theirs");
        assert_eq!(std::fs::read(&p).unwrap(), b"three");
        let left: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            left,
            vec![std::ffi::OsString::from("token")],
            "no temporary left"
        );
    }

    #[test]
    fn a_new_file_refuses_what_is_there_links_included() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.mp4");
        create_new_private(&p).unwrap();
        assert_eq!(mode(&p), 0o600);
        let e = create_new_private(&p).unwrap_err().to_string();
        assert!(e.contains("out.mp4") && e.contains("already exists"), "{e}");
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        assert!(refuse_existing(&dangling).is_err());
        assert!(create_new_private(&dangling).is_err());
        assert!(!dir.path().join("nowhere").exists());
        refuse_existing(&dir.path().join("new.mp4")).unwrap();
    }
}
