//! camplane site agent, media side: ingest cameras with FFmpeg, record
//! remuxed segments with a hash chain and an index, enforce retention and
//! legal holds, and report health and active-collection windows.
//!
//! The controller session drives it through [`supervisor::Supervisor`]:
//! `reconcile(desired cameras, holds)`, `health()`, `take_windows()`, `sweep()`
//! (retention at the injected [`clock::Clock`]'s now).

pub mod alpr;
pub mod clock;
pub mod config;
pub mod control;
pub mod error;
pub mod events;
pub mod ffmpeg;
pub mod fs;
pub mod gps;
pub mod health;
pub mod holds;
pub mod hotlist;
pub mod index;
pub mod ingest;
pub mod live;
pub mod mask;
pub mod metrics;
pub mod playback;
pub mod record;
pub mod retention;
pub mod spool;
pub mod supervisor;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{CameraConfig, HoldReason, LegalHold, PushedHoldReason, Transport};
pub use error::{AgentError, Result};
pub use health::{ActiveWindow, CameraHealth, CameraState, GatewayHealth};
pub use retention::{DiskPolicy, DiskProbe, DiskSpace, SweepReport};
pub use supervisor::{Supervisor, SupervisorOptions};
