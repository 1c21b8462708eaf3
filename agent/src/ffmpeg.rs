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

/// A stream's codec extradata (for H.264 from RTSP: the SDP's SPS and PPS,
/// Annex B), copied; empty when it has none. ffmpeg-next has no getter for it.
#[allow(unsafe_code)]
pub fn extradata(params: &ffmpeg_next::codec::Parameters) -> Vec<u8> {
    // SAFETY: `params` owns (or keeps alive) a valid AVCodecParameters for the
    // borrow; its extradata is null or `extradata_size` readable bytes.
    unsafe {
        let p = params.as_ptr();
        let (ptr, len) = ((*p).extradata, (*p).extradata_size);
        match usize::try_from(len) {
            Ok(n) if n > 0 && !ptr.is_null() => std::slice::from_raw_parts(ptr, n).to_vec(),
            _ => Vec::new(),
        }
    }
}
