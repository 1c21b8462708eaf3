//! FFmpeg set up once per process: the lowest of the agent's media modules,
//! so that ingest, live view, masks and playback share it without importing
//! each other.

use ffmpeg_next as ff;
use std::sync::Once;

/// Initializes FFmpeg once per process (network, quiet logs).
pub fn init_ffmpeg() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = ff::init();
        ff::util::log::set_level(ff::util::log::Level::Fatal);
    });
}
