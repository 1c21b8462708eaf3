//! Per-camera ingest: one blocking thread per camera owns the FFmpeg input,
//! reads packets itself (so a dropped stream is an error, not a silent EOF),
//! feeds the segment writer, and reconnects with exponential backoff + jitter.
//!
//! Cancellation is checked between packets. A read blocked on a silent camera
//! returns after the socket timeout (FFmpeg's `timeout` option, microseconds),
//! which bounds how long stopping a camera can take; no interrupt callback
//! (that would need unsafe).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ff::{codec, format, media, Rational};
use ffmpeg_next as ff;
use jiff::{SignedDuration, Timestamp};
use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::CameraConfig;
use crate::error::{AgentError, Result};
use crate::events::{SegmentCommitted, SegmentFailed, SessionEnded, StreamReconnected};
use crate::health::{CameraHealth, CameraState, RateMeter, WindowTracker};
use crate::index::Index;
use crate::record::{annexb_has_idr, annexb_sps, recover, SegmentWriter};

/// Tunables for ingest (defaults suit real cameras; tests shorten them).
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Socket I/O timeout given to FFmpeg: a silent camera errors out after this.
    pub socket_timeout: Duration,
    /// No video packet for this long (while other data flows) counts as a drop.
    pub silence_timeout: Duration,
    /// First reconnect delay.
    pub backoff_base: Duration,
    /// Largest reconnect delay.
    pub backoff_max: Duration,
    /// Gaps up to this long do not split an active window (the report interval).
    pub window_merge_gap: SignedDuration,
    /// FFmpeg `analyzeduration` in microseconds (bounds probing a weird stream).
    pub analyze_us: u64,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            socket_timeout: Duration::from_secs(5),
            silence_timeout: Duration::from_secs(10),
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            window_merge_gap: SignedDuration::from_secs(60),
            analyze_us: 2_000_000,
        }
    }
}

/// Exponential backoff with jitter: attempt n waits uniformly in [d/2, d],
/// d = min(base * 2^n, max), so many cameras behind one failed switch do not
/// reconnect in lockstep.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// A fresh backoff.
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max,
            attempt: 0,
        }
    }

    /// The next delay.
    pub fn next_delay(&mut self, rng: &mut impl Rng) -> Duration {
        let d = self
            .base
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let lo = d / 2;
        lo + Duration::from_nanos(rng.gen_range(0..=(d - lo).as_nanos() as u64))
    }

    /// After a session that delivered video.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// State an ingest thread shares with the supervisor.
#[derive(Debug)]
pub struct CameraShared {
    /// Health fields maintained by the thread (rates filled in at report time).
    pub health: CameraHealth,
    /// Packet rates.
    pub meter: RateMeter,
    /// Active windows.
    pub windows: WindowTracker,
    /// End of the last completed segment.
    pub last_segment_end: Option<Timestamp>,
    /// Video packets written to segments (flushed to the file).
    pub packets_recorded: u64,
}

impl CameraShared {
    /// Fresh state for a camera.
    pub fn new(id: &str, merge_gap: SignedDuration) -> Self {
        CameraShared {
            health: CameraHealth::connecting(id),
            meter: RateMeter::new(5),
            windows: WindowTracker::new(id, merge_gap),
            last_segment_end: None,
            packets_recorded: 0,
        }
    }
}

/// Everything one camera's thread needs.
#[derive(Clone)]
pub struct CameraRuntime {
    /// The camera.
    pub cfg: CameraConfig,
    /// Tunables.
    pub opts: IngestOptions,
    /// Time source for segment and window times.
    pub clock: Arc<dyn Clock>,
    /// Segment index.
    pub index: Arc<Mutex<Index>>,
    /// Shared health.
    pub shared: Arc<Mutex<CameraShared>>,
    /// Stop signal.
    pub cancel: CancellationToken,
    /// ALPR cameras: copies of the video packets go here (never blocks).
    pub alpr: Option<crate::alpr::site::AlprFeed>,
    /// Live view: every access unit goes to the tap (never blocks).
    pub live: Option<Arc<crate::live::LiveTap>>,
    /// Set when this run has stopped (its last segment finished or abandoned).
    pub done: Arc<std::sync::atomic::AtomicBool>,
    /// The previous run of this camera, still stopping (a restart): its `done`.
    /// This run recovers what a run left unfinished only once that one stopped,
    /// or it would index the segment the old run is still writing.
    pub after: Option<Arc<std::sync::atomic::AtomicBool>>,
}

/// How long a restarted camera waits for its previous run to stop before it
/// records without recovering (the old run's socket timeout bounds its stop;
/// what it leaves is recovered at the next start).
fn predecessor_wait(opts: &IngestOptions) -> Duration {
    opts.socket_timeout * 2 + Duration::from_secs(2)
}

/// Waits until `after` (a previous run's `done`) is set, at most `within`, or
/// until `cancel`; whether it was set.
pub fn wait_for_predecessor(
    after: Option<&std::sync::atomic::AtomicBool>,
    within: Duration,
    cancel: &CancellationToken,
) -> bool {
    let Some(done) = after else {
        return true;
    };
    let until = Instant::now() + within;
    while !done.load(std::sync::atomic::Ordering::Acquire) {
        if Instant::now() >= until || cancel.is_cancelled() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

fn lock(s: &Mutex<CameraShared>) -> std::sync::MutexGuard<'_, CameraShared> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

use crate::ffmpeg::init_ffmpeg;

/// What we learned about a camera's video at connect time.
#[derive(Debug, Clone)]
pub struct VideoInfo {
    /// Stream index in the input.
    pub index: usize,
    /// Its time base.
    pub time_base: Rational,
    /// Codec.
    pub codec: codec::Id,
    /// Coded width.
    pub width: u32,
    /// Coded height.
    pub height: u32,
}

/// Opens a camera URL with the RTSP transport and socket timeout set.
pub fn open_input(cfg: &CameraConfig, opts: &IngestOptions) -> Result<format::context::Input> {
    init_ffmpeg();
    let mut d = ff::Dictionary::new();
    if cfg.main_url.starts_with("rtsp") {
        d.set("rtsp_transport", cfg.transport.as_ffmpeg());
    }
    let us = opts.socket_timeout.as_micros().to_string();
    // FFmpeg >= 5: `timeout` is the RTSP/TCP socket I/O timeout (was `stimeout`).
    d.set("timeout", &us);
    d.set("rw_timeout", &us);
    d.set("analyzeduration", &opts.analyze_us.to_string());
    format::input_with_dictionary(&cfg.main_url, d).map_err(|e| AgentError::ffmpeg("open", e))
}

/// How long a direct open of the camera takes to give its first video packet
/// (connect, probe, first read): the baseline a live view through the
/// controller is measured beside.
pub fn time_to_first_video(cfg: &CameraConfig, opts: &IngestOptions) -> Result<Duration> {
    let t = Instant::now();
    let mut ictx = open_input(cfg, opts)?;
    let v = video_info(&ictx)?.index;
    loop {
        let mut p = ff::Packet::empty();
        match p.read(&mut ictx) {
            Ok(()) if p.stream() == v => return Ok(t.elapsed()),
            Ok(()) => {}
            Err(ff::Error::Eof) => return Err(AgentError::EndOfStream),
            Err(_) if t.elapsed() > opts.socket_timeout => {
                return Err(AgentError::Silence(opts.socket_timeout))
            }
            Err(_) => {}
        }
    }
}

/// Picks the video stream and checks it before anything could abort inside FFmpeg:
/// a known codec we can put in TS, non-zero size and a pixel format.
pub fn video_info(ictx: &format::context::Input) -> Result<VideoInfo> {
    let st = ictx
        .streams()
        .best(media::Type::Video)
        .ok_or_else(|| AgentError::UnusableStream("no video stream".into()))?;
    let params = st.parameters();
    let id = params.id();
    if !matches!(id, codec::Id::H264 | codec::Id::HEVC) {
        return Err(AgentError::UnusableStream(format!(
            "codec {id:?} not recorded (H.264/H.265 only)"
        )));
    }
    let dec = codec::Context::from_parameters(params)
        .and_then(|c| c.decoder().video())
        .map_err(|e| AgentError::ffmpeg("read codec parameters", e))?;
    let (w, h) = (dec.width(), dec.height());
    if w == 0 || h == 0 || dec.format() == ff::format::Pixel::None {
        return Err(AgentError::UnusableStream(format!(
            "probe incomplete: {w}x{h} {:?}",
            dec.format()
        )));
    }
    Ok(VideoInfo {
        index: st.index(),
        time_base: st.time_base(),
        codec: id,
        width: w,
        height: h,
    })
}

/// Runs a camera until cancelled: connect, record, reconnect. Never panics out;
/// a panic inside is caught and reported as the camera's last error.
pub fn run_camera(rt: CameraRuntime) {
    let shared = rt.shared.clone();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| camera_loop(&rt)));
    let mut s = lock(&shared);
    if let Err(p) = r {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        s.health.last_error = Some(format!("ingest thread panicked: {msg}"));
    }
    s.health.state = CameraState::Stopped;
    s.windows.finish();
    rt.done.store(true, std::sync::atomic::Ordering::Release);
}

fn camera_loop(rt: &CameraRuntime) {
    if rt.cfg.recording {
        if wait_for_predecessor(rt.after.as_deref(), predecessor_wait(&rt.opts), &rt.cancel) {
            if let Err(e) = recover(&rt.cfg.id, &rt.index) {
                lock(&rt.shared).health.last_error = Some(format!("recovery: {e}"));
            }
        } else if !rt.cancel.is_cancelled() {
            lock(&rt.shared).health.last_error = Some(
                "recovery skipped: the camera's previous run had not stopped (recovered at the next start)".into(),
            );
        }
    }
    let mut backoff = Backoff::new(rt.opts.backoff_base, rt.opts.backoff_max);
    let mut rng = rand::thread_rng();
    let mut ever_delivered = false;
    while !rt.cancel.is_cancelled() {
        lock(&rt.shared).health.state = CameraState::Connecting;
        let mut delivered = false;
        let mut live_run = None;
        let r = session(rt, &mut delivered, ever_delivered, &mut live_run);
        ever_delivered |= delivered;
        // Ends this connection's live streams only: a newer run of the camera
        // (restarted while this one was stuck) keeps its own.
        if let (Some(t), Some(run)) = (&rt.live, live_run) {
            t.end(
                run,
                &match &r {
                    Ok(()) => format!("camera {}: stopped", rt.cfg.id),
                    Err(e) => format!("camera {}: connection lost: {e}", rt.cfg.id),
                },
            );
        }
        if rt.cancel.is_cancelled() {
            break;
        }
        {
            lock(&rt.shared).health.emit(SessionEnded {
                error: r.as_ref().err(),
                delivered,
            });
        }
        if delivered {
            backoff.reset();
        }
        let d = backoff.next_delay(&mut rng);
        let until = Instant::now() + d;
        while Instant::now() < until && !rt.cancel.is_cancelled() {
            std::thread::sleep(Duration::from_millis(20).min(until - Instant::now()));
        }
    }
}

/// One connection. `delivered` is set once video arrived; `live_run` once the
/// connection started on the camera's live tap.
fn session(
    rt: &CameraRuntime,
    delivered: &mut bool,
    reconnect: bool,
    live_run: &mut Option<crate::live::LiveRun>,
) -> Result<()> {
    let mut ictx = open_input(&rt.cfg, &rt.opts)?;
    let info = video_info(&ictx)?;
    let params = ictx
        .stream(info.index)
        .map(|s| s.parameters())
        .ok_or_else(|| AgentError::UnusableStream("stream vanished".into()))?;
    // RTSP depacketizers emit Annex B; MP4/MKV inputs use length prefixes.
    let annexb = ictx.format().name() == "rtsp" || ictx.format().name() == "mpegts";
    let hevc = info.codec == codec::Id::HEVC;
    lock(&rt.shared).health.stream = Some(format!(
        "{} {}x{}",
        if hevc { "hevc" } else { "h264" },
        info.width,
        info.height
    ));
    let dir: PathBuf = rt
        .index
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .camera_dir(&rt.cfg.id);
    let tb = f64::from(info.time_base);
    let mut feed_state = crate::alpr::site::FeedState::default();
    if let Some(f) = &rt.alpr {
        f.start(params.clone(), &mut feed_state);
    }
    if let Some(t) = &rt.live {
        let refused = if hevc {
            Some("live view takes H.264; this camera sends H.265".to_string())
        } else if !annexb {
            Some(format!(
                "live view takes RTSP; this camera's input is {}",
                ictx.format().name()
            ))
        } else {
            None
        };
        let run = t.start(info.width, info.height, crate::live::TIMESCALE, refused);
        // A camera that sends SPS/PPS only in its SDP: FFmpeg keeps them here.
        t.set_parameter_sets(run, &crate::ffmpeg::extradata(&params));
        *live_run = Some(run);
    }
    let to_90k = |t: i64| {
        let Rational(n, d) = info.time_base;
        (i128::from(t) * i128::from(crate::live::TIMESCALE) * i128::from(n) / i128::from(d.max(1)))
            as i64
    };
    let mut writer: Option<SegmentWriter> = None;
    let mut last_video = Instant::now();
    let mut coalescer = Coalescer::default();
    let result = loop {
        if rt.cancel.is_cancelled() {
            break Ok(());
        }
        let mut pkt = ff::Packet::empty();
        match pkt.read(&mut ictx) {
            Ok(()) => {}
            Err(ff::Error::Eof) => break Err(AgentError::EndOfStream),
            Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {
                if last_video.elapsed() > rt.opts.silence_timeout {
                    break Err(AgentError::Silence(rt.opts.silence_timeout));
                }
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(e) => break Err(AgentError::ffmpeg("read", e)),
        }
        if pkt.stream() != info.index {
            if last_video.elapsed() > rt.opts.silence_timeout {
                break Err(AgentError::Silence(rt.opts.silence_timeout));
            }
            continue;
        }
        last_video = Instant::now();
        // RTSP parsers split parameter sets from the IDR with the same timestamp:
        // join them into one access unit (the muxer refuses equal DTS).
        let (mut pkt, tainted) = match coalescer.push(pkt) {
            Ok(Some(unit)) => unit,
            Ok(None) => continue,
            Err(e) => break Err(e),
        };
        let now = rt.clock.now();
        let size = pkt.size() as u64;
        {
            let mut s = lock(&rt.shared);
            if !*delivered && reconnect {
                s.health.emit(StreamReconnected);
            }
            s.health.state = CameraState::Online;
            s.health.last_packet = Some(now);
            s.meter.record(now, 1, size);
            s.health.frames_received += 1;
            s.health.bytes_received += size;
            s.windows.video(now);
        }
        *delivered = true;
        if let Some(f) = &rt.alpr {
            f.offer(&pkt, pkt.is_key() && !tainted, now, &mut feed_state);
        }
        if let (Some(t), Some(run), Some(d), Some(dts)) =
            (&rt.live, *live_run, pkt.data(), pkt.dts())
        {
            let key = pkt.is_key() && !tainted && annexb_has_idr(d, hevc);
            t.frame(run, d, to_90k(dts), to_90k(pkt.pts().unwrap_or(dts)), key);
        }
        if !rt.cfg.recording {
            continue;
        }
        // A segment starts on a whole IDR with a decode timestamp.
        let key = pkt.is_key()
            && !tainted
            && pkt.dts().is_some()
            && (!annexb || pkt.data().is_some_and(|d| annexb_has_idr(d, hevc)));
        if writer.is_none() && !key {
            continue; // segments start on keyframes
        }
        let secs = pkt.dts().or(pkt.pts()).map(|t| t as f64 * tb);
        // Stream time is judged by decode times only: a packet without one
        // (B-frames over RTP) has a presentation time that may lie before
        // the last decode time without anything having jumped.
        let dts_secs = pkt.dts().map(|t| t as f64 * tb);
        if key {
            let sps = if annexb {
                pkt.data().and_then(|d| annexb_sps(d, hevc))
            } else {
                None
            };
            let rotate = match &writer {
                None => true,
                Some(w) => {
                    let changed = matches!((&w.sps, &sps), (Some(a), Some(b)) if a != b);
                    let long = secs.is_some_and(|s| w.elapsed(s) >= rt.cfg.segment_seconds as f64);
                    changed || long || discontinuous(w.last_secs(), dts_secs)
                }
            };
            if rotate {
                if let Some(w) = writer.take() {
                    finish(rt, w, now);
                }
                let last_end = rt
                    .index
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .segments(&rt.cfg.id)
                    .iter()
                    .map(|e| e.end())
                    .max();
                let start = segment_start(now, last_end);
                match SegmentWriter::create(&dir, start, params.clone(), info.time_base) {
                    Ok(mut w) => {
                        w.sps = sps;
                        writer = Some(w);
                    }
                    Err(e) => break Err(e),
                }
            } else if let (Some(w), Some(s)) = (writer.as_mut(), sps) {
                w.sps.get_or_insert(s);
            }
        }
        // A jump of stream time inside a keyframe group: the segment ends
        // here, and the next one starts at the next keyframe.
        if !key
            && writer
                .as_ref()
                .is_some_and(|w| discontinuous(w.last_secs(), dts_secs))
        {
            if let Some(w) = writer.take() {
                finish(rt, w, now);
            }
            continue;
        }
        if let Some(w) = writer.as_mut() {
            match w.write(&mut pkt) {
                Ok(true) => lock(&rt.shared).packets_recorded += 1,
                Ok(false) => {}
                Err(e) => {
                    // Keep what was written; the next keyframe opens a new segment.
                    lock(&rt.shared).health.last_error = Some(e.to_string());
                    if let Some(w) = writer.take() {
                        finish(rt, w, now);
                    }
                }
            }
        }
    };
    if let Some(w) = writer.as_mut() {
        if let Some(mut last) = coalescer.flush() {
            if matches!(w.write(&mut last), Ok(true)) {
                lock(&rt.shared).packets_recorded += 1;
            }
        }
    }
    if let Some(w) = writer.take() {
        finish(rt, w, rt.clock.now());
    }
    result
}

/// Joins packets that share a DTS into one access unit (RTSP parsers split the
/// parameter sets, or slices, of an IDR into packets with the same timestamp).
/// Packets with no timestamp at all (the first RTSP packet) are dropped, and the
/// packet right after such a drop is marked: it may be the rest of a picture
/// whose start was dropped, so no segment may start on it. Recording therefore
/// starts at the second IDR of a connection (at most one GOP later).
#[derive(Default)]
pub struct Coalescer {
    pending: Option<(ff::Packet, bool)>,
    /// Packets joined into `pending`.
    parts: usize,
    dropped_untimed: bool,
}

/// Most packets one access unit is joined from. An IDR's parameter sets and
/// slices are a handful; a camera whose timestamps stop moving sends every
/// packet with one DTS, and joining them all would grow without bound while
/// nothing reached the recording.
pub const MAX_ACCESS_UNIT_PARTS: usize = 256;

/// The longest step of stream time between two packets of one segment. A
/// camera's packets come a frame interval apart (a second at 1 frame/s); a
/// longer step is its clock jumping (an encoder or relay restarting), and a
/// segment maps stream time to wall time linearly: playback would put what
/// follows past the segment's end.
pub const MAX_STREAM_STEP_SECS: f64 = 5.0;

/// Where a new segment starts: the wall clock `now`, but not before the end
/// of the camera's last indexed segment when the wall clock stepped back less
/// than [`crate::clock::CLOCK_TOLERANCE`] (an NTP step, a clock kept in local
/// time corrected): segments of one camera then never overlap, and the stamps
/// catch up with the wall clock within that step. A larger step back is
/// followed: stamps an hour or more in the future were wrong anyway.
pub fn segment_start(now: Timestamp, last_end: Option<Timestamp>) -> Timestamp {
    match last_end {
        Some(e) if e > now && e.duration_since(now) <= crate::clock::CLOCK_TOLERANCE => e,
        _ => now,
    }
}

/// Where a segment ends: the wall clock at its end, but not before its start
/// plus the stream time it holds (`span`): a wall clock stepped back while it
/// recorded would give it no length, and a range asked for inside it nothing.
pub fn segment_end(wall: Timestamp, start: Timestamp, span: Option<f64>) -> Timestamp {
    let by_stream = span
        .and_then(|s| jiff::SignedDuration::try_from_secs_f64(s).ok())
        .and_then(|d| start.checked_add(d).ok());
    match by_stream {
        Some(t) if t > wall => t,
        _ => wall,
    }
}

/// Whether a keyframe at stream time `secs` cannot continue a segment whose
/// last packet was at `last`: time went back (every later packet would be
/// refused until it passed `last` again, recording nothing, perhaps for hours)
/// or jumped more than [`MAX_STREAM_STEP_SECS`] forward. It starts a new one.
pub fn discontinuous(last: Option<f64>, secs: Option<f64>) -> bool {
    match (last, secs) {
        (Some(l), Some(s)) => s < l || s - l > MAX_STREAM_STEP_SECS,
        _ => false,
    }
}
/// Most bytes of one joined access unit (a 4K IDR is a few MB).
pub const MAX_ACCESS_UNIT_BYTES: usize = 16 << 20;

impl Coalescer {
    /// Feeds one packet; returns the previous access unit once complete, with
    /// whether it directly followed a dropped untimed packet. An error when
    /// packets keep one timestamp past [`MAX_ACCESS_UNIT_PARTS`] or
    /// [`MAX_ACCESS_UNIT_BYTES`]: the stream is unusable (the session ends and
    /// reconnects, and says why).
    pub fn push(&mut self, pkt: ff::Packet) -> Result<Option<(ff::Packet, bool)>, AgentError> {
        if pkt.dts().is_none() && pkt.pts().is_none() {
            self.dropped_untimed = true;
            return Ok(None);
        }
        let tainted = std::mem::take(&mut self.dropped_untimed);
        match self.pending.take() {
            Some((prev, t)) if pkt.dts().is_some() && pkt.dts() == prev.dts() => {
                self.parts += 1;
                if self.parts >= MAX_ACCESS_UNIT_PARTS
                    || prev.size() + pkt.size() > MAX_ACCESS_UNIT_BYTES
                {
                    return Err(AgentError::UnusableStream(format!(
                        "timestamps not advancing: {} packets ({} bytes) share one DTS",
                        self.parts + 1,
                        prev.size() + pkt.size()
                    )));
                }
                self.pending = Some((merge(&prev, &pkt), t || tainted));
                Ok(None)
            }
            prev => {
                self.parts = 0;
                self.pending = Some((pkt, tainted));
                Ok(prev)
            }
        }
    }

    /// The last access unit, at the end of a session.
    pub fn flush(&mut self) -> Option<ff::Packet> {
        self.pending.take().map(|(p, _)| p)
    }
}

fn merge(a: &ff::Packet, b: &ff::Packet) -> ff::Packet {
    let mut data = Vec::with_capacity(a.size() + b.size());
    data.extend_from_slice(a.data().unwrap_or(&[]));
    data.extend_from_slice(b.data().unwrap_or(&[]));
    let mut m = ff::Packet::copy(&data);
    m.set_pts(a.pts());
    m.set_dts(a.dts());
    m.set_stream(a.stream());
    m.set_duration(a.duration());
    m.set_flags(a.flags() | b.flags());
    m
}

fn finish(rt: &CameraRuntime, w: SegmentWriter, end: Timestamp) {
    if w.packets() == 0 {
        let _ = std::fs::remove_file(w.abandon());
        return;
    }
    let end = segment_end(end, w.start(), w.stream_span());
    match w.finish(&rt.cfg.id, end, &rt.index) {
        Ok(e) => {
            let mut s = lock(&rt.shared);
            s.health.emit(SegmentCommitted);
            s.last_segment_end = Some(e.end());
        }
        Err(e) => lock(&rt.shared).health.emit(SegmentFailed { error: &e }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A wall clock stepped back: a segment keeps the length of the stream it
    /// holds, and the next one starts where it ended (within an hour's step).
    #[test]
    fn a_wall_clock_stepped_back_gives_segments_their_length_and_no_overlap() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let start = t("2026-11-01T01:59:00Z");
        // Stepped back an hour mid-segment: the wall says 01:00:30.
        let end = segment_end(t("2026-11-01T01:00:30Z"), start, Some(60.0));
        assert_eq!(end, t("2026-11-01T02:00:00Z"));
        // Normal: the wall clock, a little after start + span.
        let wall = t("2026-11-01T02:00:00.040Z");
        assert_eq!(segment_end(wall, start, Some(60.0)), wall);
        assert_eq!(segment_end(wall, start, None), wall);
        // The next starts where the last ended, not an hour back over it.
        assert_eq!(segment_start(t("2026-11-01T01:00:31Z"), Some(end)), end);
        // A wall clock ahead of the last end is taken as it is.
        let later = t("2026-11-01T02:10:00Z");
        assert_eq!(segment_start(later, Some(end)), later);
        // Stamps more than an hour ahead (a clock wrong before) are not chased.
        let now = t("2026-11-01T00:30:00Z");
        assert_eq!(segment_start(now, Some(t("2026-11-03T00:00:00Z"))), now);
    }

    /// Stream time going back, or leaping forward, ends a segment; a frame
    /// interval, even at 1 frame/s, does not.
    #[test]
    fn a_jump_of_stream_time_starts_a_new_segment() {
        assert!(!discontinuous(None, Some(3.0)));
        assert!(!discontinuous(Some(10.0), None));
        assert!(!discontinuous(Some(10.0), Some(10.04)));
        assert!(!discontinuous(Some(10.0), Some(11.0)));
        assert!(discontinuous(Some(10.0), Some(0.0)), "an encoder restarted");
        assert!(discontinuous(Some(10.0), Some(9.9)));
        assert!(discontinuous(
            Some(10.0),
            Some(10.0 + MAX_STREAM_STEP_SECS + 0.1)
        ));
    }

    #[test]
    fn a_stuck_dts_is_an_unusable_stream_not_a_growing_unit() {
        let pkt = |dts: i64| {
            let mut p = ff::Packet::copy(&[0u8; 1000]);
            p.set_dts(Some(dts));
            p.set_pts(Some(dts));
            p
        };
        let mut c = Coalescer::default();
        // An IDR's parts join into one unit; the next timestamp hands it out.
        for _ in 0..4 {
            assert!(c.push(pkt(0)).unwrap().is_none());
        }
        let (unit, _) = c.push(pkt(3600)).unwrap().expect("the joined unit");
        assert_eq!(unit.size(), 4000);
        // A camera whose timestamps stop moving: refused within the cap.
        let mut n = 0;
        let e = loop {
            match c.push(pkt(3600)) {
                Ok(None) => n += 1,
                Ok(Some(_)) => panic!("no unit while the DTS stands still"),
                Err(e) => break e,
            }
            assert!(n < 10_000, "grew without bound");
        };
        assert!(n < MAX_ACCESS_UNIT_PARTS, "{n}");
        assert!(e.to_string().contains("timestamps not advancing"), "{e}");
    }
    use rand::SeedableRng;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let d: Vec<_> = (0..8).map(|_| b.next_delay(&mut rng)).collect();
        for (n, x) in d.iter().enumerate() {
            let cap = Duration::from_millis(100 * (1 << n)).min(Duration::from_secs(2));
            assert!(*x >= cap / 2 && *x <= cap, "{n}: {x:?}");
        }
        assert!(d[7] >= Duration::from_secs(1));
        b.reset();
        assert!(b.next_delay(&mut rng) <= Duration::from_millis(100));
    }

    #[test]
    fn unreachable_camera_is_an_error_not_a_panic() {
        let mut cfg = CameraConfig::new("x", "rtsp://127.0.0.1:1/none");
        cfg.segment_seconds = 2;
        let opts = IngestOptions {
            socket_timeout: Duration::from_millis(500),
            ..Default::default()
        };
        let Err(e) = open_input(&cfg, &opts) else {
            panic!("nothing listens on port 1")
        };
        assert!(matches!(e, AgentError::Ffmpeg { .. }), "{e}");
    }
}
