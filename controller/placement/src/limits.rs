//! Bounds on placement work: how large a layer may be, and a flag that stops
//! work whose caller has gone away.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use camplane_config::controller::PlacementSettings;

/// The most a layer may hold (the config's `placement.max_*`). Every loop of
/// the checks is near-linear, so these bound the work as well as the memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Positions in one feature (all its rings or lines together).
    pub max_vertices_per_feature: usize,
    /// Features in one layer (all its files together).
    pub max_features_per_layer: usize,
    /// Bytes of one layer (all its files together).
    pub max_layer_bytes: u64,
}

impl Default for Limits {
    /// The config's defaults.
    fn default() -> Self {
        Limits::from(&PlacementSettings::default())
    }
}

impl From<&PlacementSettings> for Limits {
    fn from(s: &PlacementSettings) -> Self {
        Limits {
            max_vertices_per_feature: s.max_vertices_per_feature,
            max_features_per_layer: s.max_features_per_layer,
            max_layer_bytes: s.max_layer_bytes,
        }
    }
}

/// A flag the blocking work looks at in its loops: set it (from a drop guard
/// when the client hangs up, or at shutdown) and the work stops with
/// [`crate::PlacementError::Cancelled`]. Clones share the flag.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

/// The work was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

impl Cancel {
    /// A flag not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the flag: every holder stops at its next look.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether the flag is set.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// `Err` once the flag is set.
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() {
            Err(Cancelled)
        } else {
            Ok(())
        }
    }
}
