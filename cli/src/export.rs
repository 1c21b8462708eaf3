//! `export verify`: an exported directory checked offline against the
//! controller's CA certificate (no controller, no sign-in).

use anyhow::{anyhow, Context, Result};
use clap::Subcommand;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub(crate) enum ExportCmd {
    /// Check an export offline: the manifest's signature against the
    /// controller's CA certificate (--ca or $CAMPLANE_CA), every file against
    /// its SHA-256, the segments' chain. Exit 1 naming the first file that fails.
    Verify {
        /// The export directory.
        dir: PathBuf,
    },
}

/// `export verify`: exit 0 when everything verifies, 1 naming the first failure.
pub fn verify(dir: &Path, ca: Option<&PathBuf>) -> Result<i32> {
    let ca = ca.ok_or_else(|| {
        anyhow!("export verify needs the controller's CA certificate: --ca FILE (or $CAMPLANE_CA)")
    })?;
    let pem =
        std::fs::read_to_string(ca).with_context(|| format!("reading --ca {}", ca.display()))?;
    match camplane_export::verify_export(dir, &pem) {
        Ok(n) => {
            println!(
                "{}: manifest signature, {n} files and their chain verified",
                dir.display()
            );
            Ok(0)
        }
        Err(e) => {
            eprintln!("export verify failed: {e}");
            Ok(1)
        }
    }
}
