//! Live view at the agent: a tap on each camera's ingest, and fragmented MP4
//! made from it for each stream the controller opens.
//!
//! **The tap never slows the recording.** The ingest thread hands every video
//! access unit to its camera's [`LiveTap`] ([`LiveTap::frame`]): a short lock,
//! a copy of the packet's bytes into the current group of pictures (GOP, from
//! the last keyframe, bounded by [`MAX_GOP_BYTES`]; over it the GOP is dropped
//! until the next keyframe) and a `try_send` to each open stream's bounded queue
//! ([`STREAM_QUEUE`] frames). A full queue drops the frame for that stream,
//! which then waits for the next keyframe (a slow stream skips ahead); the
//! recorder never waits. When the camera's connection ends every stream is
//! ended with the reason ([`LiveTap::end`]).
//!
//! **A tap outlives its camera's runs.** A camera restarted runs in a new
//! thread while the old one stops, and the old one may return late (stuck
//! seconds in opening a dead URL): [`LiveTap::start`] hands each connection a
//! [`LiveRun`], and only the run that started last feeds the tap or ends it;
//! frames and ends from an older run are ignored. A start ends the streams an
//! older run left open (a new connection's timestamps start afresh).
//!
//! **A new stream starts at once at a keyframe**: [`LiveTap::subscribe`]
//! returns the kept GOP with the queue, taken under the same lock, so nothing
//! is missed or repeated between them.
//!
//! **Fragmented MP4, hand-written** ([`Fmp4`]): an init segment (`ftyp` +
//! `moov` with the `avcC` made from the SPS/PPS the keyframes carry), then one
//! `moof`+`mdat` fragment per frame. Why not FFmpeg's mp4 muxer through a pipe
//! (as [`crate::playback`] does for recorded ranges): per-frame fragments need
//! a flush per frame through the pipe and a reader thread per stream, and the
//! muxer wants the codec's extradata up front; the boxes for one H.264 track
//! are ~200 lines of plain code with no FFmpeg state, unit-tested below, and
//! each fragment leaves as soon as the next frame gives its duration (one frame
//! of delay, 40 ms at 25 fps, well inside the 300 ms target). Nothing is
//! re-encoded: samples are the camera's NAL units with length prefixes.
//! H.264 only; an H.265 camera is refused with that reason. The SPS/PPS come
//! in-band with the keyframes (as most RTSP cameras and `rtph264pay
//! config-interval=-1` send them) or, from a camera that sends them only in
//! its SDP (`sprop-parameter-sets`), from the stream's extradata
//! ([`LiveTap::set_parameter_sets`]): they are put in front of each keyframe
//! that lacks them, so every stream, masked or not, starts on a whole one.
//!
//! **Masks**: [`stream_frames`] is where a stream's frames pass on their way
//! to the writer; a masked stream's go through the privacy-mask burner
//! ([`crate::mask::LiveMasker`]) on a thread of its own there, and the writer
//! takes its track (SPS/PPS) from the first masked keyframe.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

/// Most bytes of one kept GOP (a new stream's first picture).
pub const MAX_GOP_BYTES: usize = 16 << 20;
/// The timescale of live tracks (timestamps are rescaled to it).
pub const TIMESCALE: u32 = 90_000;
/// Frames queued towards one stream before it skips to the next keyframe.
pub const STREAM_QUEUE: usize = 128;

/// A track's parameters, from the camera's stream and its keyframes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    /// Coded width.
    pub width: u32,
    /// Coded height.
    pub height: u32,
    /// Timestamps' units per second (RTSP: 90000).
    pub timescale: u32,
    /// Sequence parameter set (no start code).
    pub sps: Vec<u8>,
    /// Picture parameter sets (no start codes).
    pub pps: Vec<Vec<u8>>,
}

/// One access unit as the camera sent it (Annex B).
#[derive(Debug)]
pub struct Frame {
    /// Annex B bytes.
    pub data: Vec<u8>,
    /// Decode time, in the track's timescale.
    pub dts: i64,
    /// Presentation time, in the track's timescale.
    pub pts: i64,
    /// Whether it is a whole IDR picture.
    pub key: bool,
    /// When the agent read it.
    pub arrived: std::time::Instant,
}

/// What a stream's queue carries.
#[derive(Debug, Clone)]
pub enum TapMsg {
    /// A frame.
    Frame(Arc<Frame>),
    /// The camera's connection ended (why); nothing follows.
    End(String),
}

#[derive(Default)]
struct TapState {
    /// The run that started last (see [`LiveRun`]).
    run: u64,
    /// Width, height, timescale of the connection (SPS/PPS from the first keyframe).
    stream: Option<(u32, u32, u32)>,
    track: Option<Arc<Track>>,
    refused: Option<String>,
    gop: Vec<Arc<Frame>>,
    gop_bytes: usize,
    subs: Vec<Sub>,
    /// SPS and PPS NAL units (Annex B, with start codes) from the stream's
    /// extradata, for keyframes that do not carry their own.
    parameter_sets: Option<Vec<u8>>,
}

struct Sub {
    tx: mpsc::Sender<TapMsg>,
    need_key: bool,
}

/// A new stream: its track, the kept GOP (from a keyframe), and the queue of
/// what follows.
pub type Subscribed = (Arc<Track>, Vec<Arc<Frame>>, mpsc::Receiver<TapMsg>);

/// One connection of a camera as its tap knows it, from [`LiveTap::start`]:
/// what it feeds and ends is ignored once a newer connection started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveRun(u64);

/// One camera's live tap.
#[derive(Default)]
pub struct LiveTap {
    state: Mutex<TapState>,
    dropped: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for LiveTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveTap").finish()
    }
}

impl LiveTap {
    fn st(&self) -> std::sync::MutexGuard<'_, TapState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A connection began: its video's size and timescale; `refused` says
    /// why it cannot be viewed live (not H.264). The run it returns feeds and
    /// ends the tap until another connection starts; streams an older run
    /// left open end here.
    pub fn start(
        &self,
        width: u32,
        height: u32,
        timescale: u32,
        refused: Option<String>,
    ) -> LiveRun {
        let mut s = self.st();
        s.run += 1;
        end_subs(&mut s, "the camera's connection started again");
        s.stream = Some((width, height, timescale));
        s.track = None;
        s.gop.clear();
        s.gop_bytes = 0;
        s.refused = refused;
        s.parameter_sets = None;
        LiveRun(s.run)
    }

    /// The connection's codec extradata (Annex B, as FFmpeg's RTSP demuxer
    /// keeps a camera's `sprop-parameter-sets`, or an `avcC` record): its SPS
    /// and PPS go in front of each keyframe that does not carry its own. Call
    /// after [`LiveTap::start`], with its run.
    pub fn set_parameter_sets(&self, run: LiveRun, extradata: &[u8]) {
        let sets = parameter_sets(extradata);
        let mut s = self.st();
        if s.run == run.0 {
            s.parameter_sets = (!sets.is_empty()).then_some(sets);
        }
    }

    /// One access unit (Annex B) of `run`; `key`: a whole IDR. Never blocks.
    pub fn frame(&self, run: LiveRun, data: &[u8], dts: i64, pts: i64, key: bool) {
        let mut s = self.st();
        if s.run != run.0 {
            return; // a late frame of a connection that ended
        }
        let Some((w, h, ts)) = s.stream else { return };
        if s.refused.is_some() {
            return;
        }
        let with_sets;
        let mut data = data;
        if key && track_of(data, w, h, ts).is_none() {
            if let Some(p) = &s.parameter_sets {
                with_sets = [p.as_slice(), data].concat();
                data = &with_sets;
            }
        }
        if key {
            if let Some(t) = track_of(data, w, h, ts) {
                if s.track.as_deref() != Some(&t) {
                    if s.track.is_some() {
                        // New parameters: streams made for the old ones cannot go on.
                        end_subs(&mut s, "the camera's stream parameters changed");
                    }
                    s.track = Some(Arc::new(t));
                }
            }
            s.gop.clear();
            s.gop_bytes = 0;
        }
        if s.track.is_none() {
            return;
        }
        let f = Arc::new(Frame {
            data: data.to_vec(),
            dts,
            pts,
            key,
            arrived: std::time::Instant::now(),
        });
        if (key || !s.gop.is_empty()) && s.gop_bytes + data.len() <= MAX_GOP_BYTES {
            s.gop_bytes += data.len();
            s.gop.push(f.clone());
        } else if !key {
            s.gop.clear();
            s.gop_bytes = 0;
        }
        let mut dropped = 0;
        s.subs.retain_mut(|sub| {
            if sub.need_key && !key {
                return !sub.tx.is_closed();
            }
            match sub.tx.try_send(TapMsg::Frame(f.clone())) {
                Ok(()) => {
                    sub.need_key = false;
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    sub.need_key = true;
                    dropped += 1;
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        if dropped > 0 {
            self.dropped.fetch_add(dropped, Ordering::Relaxed);
        }
    }

    /// The camera's connection `run` ended: every stream ends with `reason`.
    /// Nothing happens if a newer connection started since.
    pub fn end(&self, run: LiveRun, reason: &str) {
        let mut s = self.st();
        if s.run != run.0 {
            return;
        }
        s.stream = None;
        s.track = None;
        s.gop.clear();
        s.gop_bytes = 0;
        end_subs(&mut s, reason);
    }

    /// Opens a stream: the track, the kept GOP (from a keyframe) and the queue
    /// of what follows; or why not (no picture yet, not H.264).
    pub fn subscribe(&self) -> Result<Subscribed, String> {
        let mut s = self.st();
        if let Some(r) = &s.refused {
            return Err(r.clone());
        }
        let Some(track) = s.track.clone() else {
            return Err("the camera is not streaming now".into());
        };
        let (tx, rx) = mpsc::channel(STREAM_QUEUE);
        let gop = s.gop.clone();
        s.subs.push(Sub {
            tx,
            need_key: gop.is_empty(),
        });
        Ok((track, gop, rx))
    }

    /// Streams open on this tap.
    pub fn streams(&self) -> usize {
        let mut s = self.st();
        s.subs.retain(|x| !x.tx.is_closed());
        s.subs.len()
    }

    /// Frames dropped for streams that fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

fn end_subs(s: &mut TapState, reason: &str) {
    for sub in s.subs.drain(..) {
        // A full queue cannot take the reason: the stream then reads a closed
        // queue, which it reports as the camera's connection ending.
        let _ = sub.tx.try_send(TapMsg::End(reason.to_string()));
    }
}

/// Every camera's tap, kept across the camera's restarts.
#[derive(Debug, Default)]
pub struct LiveTaps {
    taps: Mutex<HashMap<String, Arc<LiveTap>>>,
    open: AtomicUsize,
}

impl LiveTaps {
    /// The tap of `camera` (made on first use).
    pub fn tap(&self, camera: &str) -> Arc<LiveTap> {
        self.taps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(camera.to_string())
            .or_default()
            .clone()
    }

    /// The tap of `camera`, if it runs here.
    pub fn get(&self, camera: &str) -> Option<Arc<LiveTap>> {
        self.taps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(camera)
            .cloned()
    }

    /// Each camera's frames dropped for live streams that fell behind.
    pub fn dropped_by_camera(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self
            .taps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(c, t)| (c.clone(), t.dropped()))
            .collect();
        v.sort();
        v
    }

    /// Live streams this agent sends now.
    pub fn open_streams(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Counts a stream open until the guard drops.
    pub fn opened(self: &Arc<Self>) -> OpenGuard {
        self.open.fetch_add(1, Ordering::Relaxed);
        OpenGuard(self.clone())
    }
}

/// One open stream, counted in [`LiveTaps::open_streams`].
#[derive(Debug)]
pub struct OpenGuard(Arc<LiveTaps>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Frames queued from a stream's masker towards its writer.
pub const MASKED_QUEUE: usize = 16;

/// One stream's frames on their way to the writer: the camera's as they are,
/// or re-encoded with the privacy masks burned in ([`stream_frames`]).
#[derive(Debug)]
pub struct StreamFrames {
    track: Option<Arc<Track>>,
    size: (u32, u32, u32),
    first: std::collections::VecDeque<Arc<Frame>>,
    rx: mpsc::Receiver<TapMsg>,
}

impl StreamFrames {
    /// The stream's track: the camera's, or for a masked stream the
    /// encoder's (its SPS/PPS, from the first masked keyframe, waited for).
    /// `Err(reason)`: the stream ended before its first picture.
    pub async fn track(&mut self) -> Result<Arc<Track>, String> {
        if let Some(t) = &self.track {
            return Ok(t.clone());
        }
        let (w, h, ts) = self.size;
        match self.rx.recv().await {
            Some(TapMsg::Frame(f)) => {
                let t = Arc::new(track_of(&f.data, w, h, ts).ok_or_else(|| {
                    "the masked stream did not start with its parameter sets".to_string()
                })?);
                self.track = Some(t.clone());
                self.first.push_back(f);
                Ok(t)
            }
            Some(TapMsg::End(r)) => Err(r),
            None => Err("the stream ended before its first picture".into()),
        }
    }

    /// The next frame (from a keyframe), or the end; `None`: the source is
    /// gone without a reason.
    pub async fn next(&mut self) -> Option<TapMsg> {
        if let Some(f) = self.first.pop_front() {
            return Some(TapMsg::Frame(f));
        }
        self.rx.recv().await
    }
}

/// Where a stream's frames pass on the way to the writer. Unmasked: the tap's
/// as they are. Masked (`masks` not empty): a thread of its own (`live-mask`)
/// decodes them, fills the masks black and encodes them again
/// ([`crate::mask::LiveMasker`]), so the hidden pixels never leave the agent.
/// The tap feeds that thread as it feeds any stream (never waiting: when the
/// masker falls behind its queue fills and it skips to the next keyframe, and
/// the masker, starting again from that keyframe, makes an IDR there); the
/// thread waits on the writer (a slow viewer's stream backs up into the
/// masker's queue, never into the recorder). It ends with the tap's stream or
/// when the writer is gone.
pub fn stream_frames(
    camera: &str,
    masks: &[camplane_config::model::PrivacyMask],
    subscribed: Subscribed,
) -> Result<StreamFrames, String> {
    let (track, gop, rx) = subscribed;
    let size = (track.width, track.height, track.timescale);
    if masks.is_empty() {
        return Ok(StreamFrames {
            track: Some(track),
            size,
            first: gop.into(),
            rx,
        });
    }
    if let Some((at, why)) = camplane_config::model::privacy_mask_problems(masks)
        .into_iter()
        .next()
    {
        return Err(format!("live view of camera {camera}: masks: {at}: {why}"));
    }
    let (tx, out) = mpsc::channel(MASKED_QUEUE);
    let masker = crate::mask::LiveMasker::new(track.timescale, masks)
        .with_source_bit_rate(gop_bit_rate(&gop, track.timescale));
    let camera = camera.to_string();
    std::thread::Builder::new()
        .name("live-mask".into())
        .spawn(move || mask_frames(&camera, masker, gop, rx, tx))
        .map_err(|e| format!("live view: the masker thread: {e}"))?;
    Ok(StreamFrames {
        track: None,
        size,
        first: Default::default(),
        rx: out,
    })
}

/// The masker thread of one stream: frames in (the kept GOP, then the tap's
/// queue), masked frames out, until either end goes.
/// The bitrate of the frames of a group of pictures (bits per second), when it
/// holds at least two: its bytes over the time from its first frame to just past
/// its last.
fn gop_bit_rate(gop: &[Arc<Frame>], timescale: u32) -> Option<u64> {
    let (first, last) = (gop.first()?, gop.last()?);
    let n = i64::try_from(gop.len()).ok().filter(|n| *n >= 2)?;
    let span = last.dts.checked_sub(first.dts).filter(|d| *d > 0)?;
    let ticks = span.checked_mul(n)? / (n - 1);
    let bytes: u64 = gop.iter().map(|f| f.data.len() as u64).sum();
    Some(bytes * 8 * u64::from(timescale.max(1)) / u64::try_from(ticks).ok()?)
}

fn mask_frames(
    camera: &str,
    mut masker: crate::mask::LiveMasker,
    gop: Vec<Arc<Frame>>,
    mut rx: mpsc::Receiver<TapMsg>,
    tx: mpsc::Sender<TapMsg>,
) {
    // When each picture reached the agent, by presentation time: the masked
    // frame carries its source's arrival (the latency figures stay true).
    let mut arrivals: std::collections::VecDeque<(i64, std::time::Instant)> = Default::default();
    let mut gop = gop.into_iter();
    loop {
        let f = match gop.next() {
            Some(f) => f,
            None => match rx.blocking_recv() {
                Some(TapMsg::Frame(f)) => f,
                Some(TapMsg::End(r)) => {
                    let _ = tx.blocking_send(TapMsg::End(r));
                    return;
                }
                None => return,
            },
        };
        if tx.is_closed() {
            return;
        }
        arrivals.push_back((f.pts, f.arrived));
        while arrivals.len() > 64 {
            arrivals.pop_front();
        }
        let unit = crate::mask::Unit {
            data: f.data.clone(),
            dts: f.dts,
            pts: f.pts,
            key: f.key,
        };
        let out = match masker.push(&unit) {
            Ok(v) => v,
            Err(e) => {
                let _ = tx.blocking_send(TapMsg::End(format!("camera {camera}: {e}")));
                return;
            }
        };
        for u in out {
            let arrived = arrivals
                .iter()
                .find(|(p, _)| *p == u.pts)
                .map_or(f.arrived, |(_, a)| *a);
            let m = Frame {
                data: u.data,
                dts: u.dts,
                pts: u.pts,
                key: u.key,
                arrived,
            };
            if tx.blocking_send(TapMsg::Frame(Arc::new(m))).is_err() {
                return;
            }
        }
    }
}

// ---------- fragmented MP4 ----------

/// The NAL units of Annex B bytes (without start codes).
pub fn nal_units(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut out = Vec::new();
    for (k, &s) in starts.iter().enumerate() {
        let mut e = starts.get(k + 1).map(|n| n - 3).unwrap_or(data.len());
        while e > s && data[e - 1] == 0 {
            e -= 1;
        }
        if e > s {
            out.push(&data[s..e]);
        }
    }
    out
}

/// The SPS and PPS NAL units of codec extradata, Annex B with 4-byte start
/// codes: from Annex B extradata, or from an `avcC` record (version 1). Other
/// NAL units and malformed records give nothing.
pub fn parameter_sets(extradata: &[u8]) -> Vec<u8> {
    let mut nals: Vec<&[u8]> = Vec::new();
    if extradata.first() == Some(&1) {
        // avcC: version, profile, compat, level, length size, SPS count, then
        // length-prefixed SPS, PPS count, length-prefixed PPS.
        let mut at = 5usize;
        for count_mask in [0x1f_u8, 0xff] {
            let Some(&n) = extradata.get(at) else { break };
            at += 1;
            for _ in 0..(n & count_mask) {
                let Some(len) = extradata.get(at..at + 2) else {
                    break;
                };
                let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
                let Some(nal) = extradata.get(at + 2..at + 2 + len) else {
                    break;
                };
                nals.push(nal);
                at += 2 + len;
            }
        }
    } else {
        nals = nal_units(extradata);
    }
    let mut out = Vec::new();
    for n in nals {
        if matches!(n.first().map(|b| b & 0x1f), Some(7 | 8)) {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(n);
        }
    }
    out
}

/// The track a keyframe's in-band SPS and PPS describe.
pub fn track_of(data: &[u8], width: u32, height: u32, timescale: u32) -> Option<Track> {
    let mut sps = None;
    let mut pps = Vec::new();
    for n in nal_units(data) {
        match n[0] & 0x1f {
            7 if sps.is_none() && n.len() >= 4 => sps = Some(n.to_vec()),
            8 => pps.push(n.to_vec()),
            _ => {}
        }
    }
    (!pps.is_empty()).then_some(())?;
    Some(Track {
        width,
        height,
        timescale,
        sps: sps?,
        pps,
    })
}

fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(body.len() + 8);
    v.extend_from_slice(&((body.len() + 8) as u32).to_be_bytes());
    v.extend_from_slice(kind);
    v.extend_from_slice(body);
    v
}

fn full(kind: &[u8; 4], version: u8, flags: u32, body: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(body.len() + 4);
    b.push(version);
    b.extend_from_slice(&flags.to_be_bytes()[1..]);
    b.extend_from_slice(body);
    bx(kind, &b)
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

const MATRIX: [u32; 9] = [0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x4000_0000];

/// A fragmented MP4 writer for one H.264 track: the init segment, then one
/// fragment per frame (each frame's duration is the next one's decode time
/// minus its own, so a fragment leaves when the next frame arrives).
#[derive(Debug)]
pub struct Fmp4 {
    track: Arc<Track>,
    seq: u32,
    base: Option<i64>,
    pending: Option<Arc<Frame>>,
    last_duration: u32,
}

/// One fragment made.
#[derive(Debug)]
pub struct Fragment {
    /// `moof` + `mdat`.
    pub data: Vec<u8>,
    /// Whether it holds a keyframe.
    pub key: bool,
    /// Its decode time from the stream's first frame, in milliseconds.
    pub time_ms: i64,
    /// When its frame reached the agent.
    pub arrived: std::time::Instant,
}

impl Fmp4 {
    /// A writer for `track`.
    pub fn new(track: Arc<Track>) -> Fmp4 {
        let d = (track.timescale / 25).max(1);
        Fmp4 {
            track,
            seq: 0,
            base: None,
            pending: None,
            last_duration: d,
        }
    }

    /// The init segment (`ftyp` + `moov`).
    pub fn init(&self) -> Vec<u8> {
        let t = &self.track;
        let ftyp = bx(b"ftyp", b"isom\0\0\x02\0isomiso6avc1mp41");
        let mut mvhd = Vec::new();
        mvhd.extend_from_slice(&[0; 8]); // creation, modification
        mvhd.extend_from_slice(&1000u32.to_be_bytes());
        mvhd.extend_from_slice(&0u32.to_be_bytes()); // duration
        mvhd.extend_from_slice(&0x10000u32.to_be_bytes()); // rate
        mvhd.extend_from_slice(&0x0100u16.to_be_bytes()); // volume
        mvhd.extend_from_slice(&[0; 10]);
        for m in MATRIX {
            mvhd.extend_from_slice(&m.to_be_bytes());
        }
        mvhd.extend_from_slice(&[0; 24]);
        mvhd.extend_from_slice(&2u32.to_be_bytes()); // next track id
        let mvhd = full(b"mvhd", 0, 0, &mvhd);

        let mut tkhd = Vec::new();
        tkhd.extend_from_slice(&[0; 8]);
        tkhd.extend_from_slice(&1u32.to_be_bytes()); // track id
        tkhd.extend_from_slice(&[0; 4]);
        tkhd.extend_from_slice(&0u32.to_be_bytes()); // duration
        tkhd.extend_from_slice(&[0; 8]);
        tkhd.extend_from_slice(&[0; 4]); // layer, alternate group
        tkhd.extend_from_slice(&[0; 4]); // volume, reserved
        for m in MATRIX {
            tkhd.extend_from_slice(&m.to_be_bytes());
        }
        tkhd.extend_from_slice(&(t.width << 16).to_be_bytes());
        tkhd.extend_from_slice(&(t.height << 16).to_be_bytes());
        let tkhd = full(b"tkhd", 0, 3, &tkhd);

        let mut mdhd = Vec::new();
        mdhd.extend_from_slice(&[0; 8]);
        mdhd.extend_from_slice(&t.timescale.to_be_bytes());
        mdhd.extend_from_slice(&0u32.to_be_bytes());
        mdhd.extend_from_slice(&0x55c4u16.to_be_bytes()); // "und"
        mdhd.extend_from_slice(&[0; 2]);
        let mdhd = full(b"mdhd", 0, 0, &mdhd);
        let hdlr = full(
            b"hdlr",
            0,
            0,
            &cat(&[
                vec![0; 4],
                b"vide".to_vec(),
                vec![0; 12],
                b"VideoHandler\0".to_vec(),
            ]),
        );
        let vmhd = full(b"vmhd", 0, 1, &[0; 8]);
        let dinf = bx(
            b"dinf",
            &full(
                b"dref",
                0,
                0,
                &cat(&[1u32.to_be_bytes().to_vec(), full(b"url ", 0, 1, &[])]),
            ),
        );
        let mut avcc = vec![1, t.sps[1], t.sps[2], t.sps[3], 0xff, 0xe1];
        avcc.extend_from_slice(&(t.sps.len() as u16).to_be_bytes());
        avcc.extend_from_slice(&t.sps);
        avcc.push(t.pps.len().min(31) as u8);
        for p in t.pps.iter().take(31) {
            avcc.extend_from_slice(&(p.len() as u16).to_be_bytes());
            avcc.extend_from_slice(p);
        }
        let mut avc1 = vec![0; 6];
        avc1.extend_from_slice(&1u16.to_be_bytes()); // data reference index
        avc1.extend_from_slice(&[0; 16]);
        avc1.extend_from_slice(&(t.width.min(0xffff) as u16).to_be_bytes());
        avc1.extend_from_slice(&(t.height.min(0xffff) as u16).to_be_bytes());
        avc1.extend_from_slice(&0x0048_0000u32.to_be_bytes());
        avc1.extend_from_slice(&0x0048_0000u32.to_be_bytes());
        avc1.extend_from_slice(&[0; 4]);
        avc1.extend_from_slice(&1u16.to_be_bytes()); // frame count
        avc1.extend_from_slice(&[0; 32]); // compressor name
        avc1.extend_from_slice(&0x0018u16.to_be_bytes());
        avc1.extend_from_slice(&0xffffu16.to_be_bytes());
        avc1.extend_from_slice(&bx(b"avcC", &avcc));
        let stsd = full(
            b"stsd",
            0,
            0,
            &cat(&[1u32.to_be_bytes().to_vec(), bx(b"avc1", &avc1)]),
        );
        let empty = 0u32.to_be_bytes();
        let stbl = bx(
            b"stbl",
            &cat(&[
                stsd,
                full(b"stts", 0, 0, &empty),
                full(b"stsc", 0, 0, &empty),
                full(b"stsz", 0, 0, &[0; 8]),
                full(b"stco", 0, 0, &empty),
            ]),
        );
        let minf = bx(b"minf", &cat(&[vmhd, dinf, stbl]));
        let mdia = bx(b"mdia", &cat(&[mdhd, hdlr, minf]));
        let trak = bx(b"trak", &cat(&[tkhd, mdia]));
        let mut trex = Vec::new();
        trex.extend_from_slice(&1u32.to_be_bytes()); // track
        trex.extend_from_slice(&1u32.to_be_bytes()); // sample description
        trex.extend_from_slice(&[0; 12]);
        let mvex = bx(b"mvex", &full(b"trex", 0, 0, &trex));
        let moov = bx(b"moov", &cat(&[mvhd, trak, mvex]));
        cat(&[ftyp, moov])
    }

    /// Takes the next frame; returns the previous one's fragment (its
    /// duration known now).
    pub fn push(&mut self, f: Arc<Frame>) -> Option<Fragment> {
        let prev = self.pending.replace(f.clone())?;
        let d = f.dts - prev.dts;
        let d = if d > 0 && d < i64::from(u32::MAX) {
            d as u32
        } else {
            self.last_duration
        };
        self.last_duration = d;
        Some(self.fragment(&prev, d))
    }

    /// The last frame's fragment (its duration guessed from the one before).
    pub fn flush(&mut self) -> Option<Fragment> {
        let p = self.pending.take()?;
        Some(self.fragment(&p, self.last_duration))
    }

    fn fragment(&mut self, f: &Frame, duration: u32) -> Fragment {
        self.seq += 1;
        let base = *self.base.get_or_insert(f.dts);
        let decode = (f.dts - base).max(0) as u64;
        let mut sample = Vec::with_capacity(f.data.len() + 16);
        for n in nal_units(&f.data) {
            // Access unit delimiters have no place in an MP4 sample.
            if n[0] & 0x1f == 9 {
                continue;
            }
            sample.extend_from_slice(&(n.len() as u32).to_be_bytes());
            sample.extend_from_slice(n);
        }
        let cto = (f.pts - f.dts).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        let flags: u32 = if f.key { 0x0200_0000 } else { 0x0101_0000 };
        let mfhd = full(b"mfhd", 0, 0, &self.seq.to_be_bytes());
        let tfhd = full(b"tfhd", 0, 0x02_0000, &1u32.to_be_bytes());
        let tfdt = full(b"tfdt", 1, 0, &decode.to_be_bytes());
        // trun: data offset, duration, size, flags, composition offset.
        let trun_len = 12 + 4 + 4 + 16;
        let traf_len = 8 + tfhd.len() + tfdt.len() + trun_len;
        let moof_len = 8 + mfhd.len() + traf_len;
        let mut trun = Vec::new();
        trun.extend_from_slice(&1u32.to_be_bytes());
        trun.extend_from_slice(&((moof_len + 8) as u32).to_be_bytes());
        trun.extend_from_slice(&duration.to_be_bytes());
        trun.extend_from_slice(&(sample.len() as u32).to_be_bytes());
        trun.extend_from_slice(&flags.to_be_bytes());
        trun.extend_from_slice(&cto.to_be_bytes());
        let trun = full(b"trun", 1, 0x0f01, &trun);
        let traf = bx(b"traf", &cat(&[tfhd, tfdt, trun]));
        let moof = bx(b"moof", &cat(&[mfhd, traf]));
        debug_assert_eq!(moof.len(), moof_len);
        let mdat = bx(b"mdat", &sample);
        let ts = i64::from(self.track.timescale.max(1));
        Fragment {
            data: cat(&[moof, mdat]),
            key: f.key,
            time_ms: decode as i64 * 1000 / ts,
            arrived: f.arrived,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPS: [u8; 8] = [0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x01, 0x40, 0x16];
    const PPS: [u8; 4] = [0x68, 0xcb, 0x83, 0xcb];

    fn key_au() -> Vec<u8> {
        let mut v = vec![0, 0, 0, 1];
        v.extend_from_slice(&SPS);
        v.extend_from_slice(&[0, 0, 0, 1]);
        v.extend_from_slice(&PPS);
        v.extend_from_slice(&[0, 0, 1, 0x65, 0x88, 0x84]);
        v
    }

    fn p_au() -> Vec<u8> {
        vec![0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x41, 0x9a, 0x02]
    }

    fn boxes(mut b: &[u8]) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        while b.len() >= 8 {
            let n = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
            out.push((String::from_utf8_lossy(&b[4..8]).into_owned(), n));
            assert!(n >= 8 && n <= b.len(), "box size {n} of {}", b.len());
            b = &b[n..];
        }
        assert!(b.is_empty());
        out
    }

    #[test]
    fn the_track_comes_from_a_keyframes_parameter_sets() {
        let t = track_of(&key_au(), 320, 240, 90_000).unwrap();
        assert_eq!(t.sps, SPS);
        assert_eq!(t.pps, vec![PPS.to_vec()]);
        assert!(track_of(&p_au(), 320, 240, 90_000).is_none());
    }

    #[test]
    fn init_and_fragments_are_well_formed_boxes() {
        let t = Arc::new(track_of(&key_au(), 320, 240, 90_000).unwrap());
        let mut w = Fmp4::new(t);
        let init = w.init();
        let b = boxes(&init);
        assert_eq!(b[0].0, "ftyp");
        assert_eq!(b[1].0, "moov");
        assert!(init.windows(4).any(|x| x == b"avcC"));
        let frame = |data: Vec<u8>, dts: i64, key: bool| {
            Arc::new(Frame {
                data,
                dts,
                pts: dts,
                key,
                arrived: std::time::Instant::now(),
            })
        };
        assert!(w.push(frame(key_au(), 1000, true)).is_none());
        let f1 = w.push(frame(p_au(), 4600, false)).unwrap();
        assert!(f1.key);
        assert_eq!(f1.time_ms, 0);
        let b = boxes(&f1.data);
        assert_eq!(
            b.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
            ["moof", "mdat"]
        );
        // The sample: three length-prefixed NAL units, no start codes.
        let mdat = &f1.data[b[0].1 + 8..];
        assert_eq!(&mdat[..4], &(SPS.len() as u32).to_be_bytes());
        assert_eq!(mdat.len(), 4 + SPS.len() + 4 + PPS.len() + 4 + 3);
        // The duration is the next frame's decode time minus this one's.
        let d = &f1.data;
        let trun = d.windows(4).position(|x| x == b"trun").unwrap();
        let dur = u32::from_be_bytes(d[trun + 16..trun + 20].try_into().unwrap());
        assert_eq!(dur, 3600);
        let off = u32::from_be_bytes(d[trun + 12..trun + 16].try_into().unwrap());
        assert_eq!(off as usize, b[0].1 + 8, "data offset points into mdat");
        let f2 = w.flush().unwrap();
        assert!(!f2.key);
        assert_eq!(f2.time_ms, 40);
        // The delimiter is left out of the sample.
        let b2 = boxes(&f2.data);
        assert_eq!(b2[1].1, 8 + 4 + 3);
    }

    #[test]
    fn a_full_stream_skips_to_the_next_keyframe_and_the_recorder_never_waits() {
        let tap = LiveTap::default();
        let run = tap.start(320, 240, 90_000, None);
        assert!(tap.subscribe().is_err(), "no picture yet");
        tap.frame(run, &key_au(), 0, 0, true);
        tap.frame(run, &p_au(), 3600, 3600, false);
        let (_t, gop, mut rx) = tap.subscribe().unwrap();
        assert_eq!(gop.len(), 2, "the kept GOP starts at the keyframe");
        assert!(gop[0].key);
        // Never read: fill the queue past its bound, the calls return at once.
        let t0 = std::time::Instant::now();
        for i in 0..(STREAM_QUEUE as i64 + 50) {
            tap.frame(run, &p_au(), 7200 + i * 3600, 7200 + i * 3600, false);
        }
        assert!(t0.elapsed() < std::time::Duration::from_secs(1));
        assert!(tap.dropped() > 0);
        // Drain: the queue holds what fitted; nothing more until a keyframe.
        let mut n = 0;
        while rx.try_recv().is_ok() {
            n += 1;
        }
        assert_eq!(n, STREAM_QUEUE);
        tap.frame(run, &p_au(), 1 << 30, 1 << 30, false);
        assert!(
            rx.try_recv().is_err(),
            "a skipping stream waits for a keyframe"
        );
        tap.frame(run, &key_au(), (1 << 30) + 3600, (1 << 30) + 3600, true);
        match rx.try_recv() {
            Ok(TapMsg::Frame(f)) => assert!(f.key),
            other => panic!("{other:?}"),
        }
        tap.end(run, "camera gone");
        match rx.try_recv() {
            Ok(TapMsg::End(r)) => assert_eq!(r, "camera gone"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_older_runs_late_end_leaves_the_new_run_streaming() {
        let tap = LiveTap::default();
        let run1 = tap.start(320, 240, 90_000, None);
        tap.frame(run1, &key_au(), 0, 0, true);
        let (_t, _gop, mut rx1) = tap.subscribe().unwrap();
        // The camera restarts: the new run starts while the old one is still
        // stuck; the old run's streams end with the new start.
        let run2 = tap.start(320, 240, 90_000, None);
        match rx1.try_recv() {
            Ok(TapMsg::End(r)) => assert_eq!(r, "the camera's connection started again"),
            other => panic!("{other:?}"),
        }
        // The old run returns late: its end and any frame it still had are ignored.
        tap.end(run1, "camera c: connection lost: timed out");
        tap.frame(run1, &p_au(), 3600, 3600, false);
        tap.frame(run2, &key_au(), 0, 0, true);
        let (_t, gop, mut rx2) = tap.subscribe().expect("the new run streams");
        assert_eq!(gop.len(), 1, "the old run's late frame is not in it");
        tap.frame(run1, &key_au(), 7200, 7200, true);
        assert!(rx2.try_recv().is_err(), "nor reaches a stream");
        // The new run's own end does end it.
        tap.end(run2, "camera c: stopped");
        match rx2.try_recv() {
            Ok(TapMsg::End(r)) => assert_eq!(r, "camera c: stopped"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            tap.subscribe().err().as_deref(),
            Some("the camera is not streaming now")
        );
    }

    #[test]
    fn parameter_sets_from_the_sdp_complete_bare_keyframes() {
        let idr = [0u8, 0, 0, 1, 0x65, 0x88, 0x84];
        let mut annexb = vec![0, 0, 0, 1];
        annexb.extend_from_slice(&SPS);
        annexb.extend_from_slice(&[0, 0, 0, 1]);
        annexb.extend_from_slice(&PPS);
        // avcC carries the same two.
        let mut avcc = vec![1, SPS[1], SPS[2], SPS[3], 0xff, 0xe1];
        avcc.extend_from_slice(&(SPS.len() as u16).to_be_bytes());
        avcc.extend_from_slice(&SPS);
        avcc.push(1);
        avcc.extend_from_slice(&(PPS.len() as u16).to_be_bytes());
        avcc.extend_from_slice(&PPS);
        assert_eq!(parameter_sets(&annexb), annexb);
        assert_eq!(parameter_sets(&avcc), annexb);
        assert!(parameter_sets(&[1, 2, 3]).is_empty(), "truncated");
        assert!(parameter_sets(&p_au()).is_empty(), "no parameter sets");
        // Without them a bare keyframe gives no stream; with them it does,
        // and the stream's first frame carries them in front of the picture.
        let tap = LiveTap::default();
        let run = tap.start(320, 240, 90_000, None);
        tap.frame(run, &idr, 0, 0, true);
        assert!(tap.subscribe().is_err());
        let run = tap.start(320, 240, 90_000, None);
        tap.set_parameter_sets(run, &avcc);
        tap.frame(run, &idr, 0, 0, true);
        tap.frame(run, &p_au(), 3600, 3600, false);
        let (t, gop, _rx) = tap.subscribe().unwrap();
        assert_eq!(
            (t.sps.as_slice(), t.pps.clone()),
            (&SPS[..], vec![PPS.to_vec()])
        );
        assert_eq!(gop[0].data, [annexb.as_slice(), &idr].concat());
        assert_eq!(gop[1].data, p_au(), "only keyframes get them");
        // A keyframe with its own keeps them as they are.
        tap.frame(run, &key_au(), 7200, 7200, true);
        let (_, gop, _rx) = tap.subscribe().unwrap();
        assert_eq!(gop[0].data, key_au());
    }

    #[test]
    fn h265_is_refused_with_the_reason() {
        let tap = LiveTap::default();
        let run = tap.start(320, 240, 90_000, Some("live view takes H.264".into()));
        tap.frame(run, &key_au(), 0, 0, true);
        assert!(tap.subscribe().unwrap_err().contains("H.264"));
    }

    /// A camera's access units (320x240 test pattern, 25 fps, 1 s GOP,
    /// MPEG-TS as RTSP cameras send them: SPS/PPS before each keyframe),
    /// with times in 1/90000.
    fn camera_units(dir: &std::path::Path) -> Vec<(Vec<u8>, i64, i64, bool)> {
        use ffmpeg_next as ff;
        crate::ffmpeg::init_ffmpeg();
        let src = dir.join("cam.ts");
        let st = std::process::Command::new("ffmpeg")
            .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
            .arg("testsrc=size=320x240:rate=25:duration=3")
            .args([
                "-pix_fmt", "yuv420p", "-c:v", "libx264", "-g", "25", "-bf", "0", "-f", "mpegts",
            ])
            .arg(&src)
            .status()
            .expect("ffmpeg on PATH");
        assert!(st.success());
        let mut ictx = ff::format::input(&src).unwrap();
        let ist = ictx.streams().best(ff::media::Type::Video).unwrap();
        let (vi, tb) = (ist.index(), ist.time_base());
        assert_eq!(tb, ff::Rational(1, 90_000));
        ictx.packets()
            .filter(|(s, _)| s.index() == vi)
            .map(|(_, p)| {
                let pts = p.pts().unwrap();
                (
                    p.data().unwrap().to_vec(),
                    p.dts().unwrap_or(pts),
                    pts,
                    p.is_key(),
                )
            })
            .collect()
    }

    /// A masked stream: the camera's frames through the masker thread, then
    /// the fMP4 writer; FFmpeg reads the file: black inside the mask, the
    /// pattern outside, from a keyframe, every picture there.
    #[tokio::test]
    async fn a_masked_stream_is_black_inside_its_masks() {
        let dir = tempfile::tempdir().unwrap();
        let units = camera_units(dir.path());
        assert_eq!(units.len(), 75);
        let tap = LiveTap::default();
        let run = tap.start(320, 240, 90_000, None);
        // A GOP and a bit kept: the stream starts at the second keyframe.
        for (d, dts, pts, key) in &units[..30] {
            tap.frame(run, d, *dts, *pts, *key);
        }
        let mask = camplane_config::model::PrivacyMask {
            name: "window".into(),
            polygon: vec![[0.0, 0.0], [0.5, 0.0], [0.5, 0.25], [0.0, 0.25]],
        };
        // Masks the controller would refuse are refused here too.
        let mut bad = mask.clone();
        bad.polygon.truncate(2);
        let e = stream_frames("cam-1", &[bad], tap.subscribe().unwrap()).unwrap_err();
        assert!(e.contains("masks"), "{e}");
        let mut sf = stream_frames("cam-1", &[mask], tap.subscribe().unwrap()).unwrap();
        for (d, dts, pts, key) in &units[30..] {
            tap.frame(run, d, *dts, *pts, *key);
        }
        tap.end(run, "camera gone");
        let track = sf.track().await.unwrap();
        assert_eq!((track.width, track.height), (320, 240));
        let mut w = Fmp4::new(track);
        let mut file = w.init();
        let mut frames = 0;
        let end = loop {
            match sf.next().await {
                Some(TapMsg::Frame(f)) => {
                    assert!(frames > 0 || f.key, "the first masked frame is a keyframe");
                    frames += 1;
                    if let Some(fr) = w.push(f) {
                        file.extend_from_slice(&fr.data);
                    }
                }
                Some(TapMsg::End(r)) => break r,
                None => panic!("no end"),
            }
        };
        assert_eq!(end, "camera gone");
        if let Some(fr) = w.flush() {
            file.extend_from_slice(&fr.data);
        }
        assert_eq!(frames, 50, "every picture from the kept keyframe on");
        let out = dir.path().join("masked.mp4");
        std::fs::write(&out, &file).unwrap();
        let gray = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&out)
            .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"])
            .output()
            .unwrap();
        assert!(gray.status.success());
        let px = gray.stdout;
        assert_eq!(px.len(), 320 * 240);
        let at = |x: usize, y: usize| px[y * 320 + x];
        for y in (2..58).step_by(5) {
            for x in (2..158).step_by(7) {
                assert!(at(x, y) <= 20, "inside the mask at {x},{y}: {}", at(x, y));
            }
        }
        let outside: u64 = (100..240)
            .flat_map(|y| (0..320).map(move |x| (x, y)))
            .map(|(x, y)| u64::from(at(x, y)))
            .sum();
        assert!(outside / (140 * 320) > 40, "the pattern outside is gone");

        // Unmasked: the kept GOP and the queue as they are.
        let tap = LiveTap::default();
        let run = tap.start(320, 240, 90_000, None);
        for (d, dts, pts, key) in &units[..30] {
            tap.frame(run, d, *dts, *pts, *key);
        }
        let mut sf = stream_frames("cam-1", &[], tap.subscribe().unwrap()).unwrap();
        let t = sf.track().await.unwrap();
        match sf.next().await {
            Some(TapMsg::Frame(f)) => {
                assert!(f.key);
                assert_eq!(f.data, units[25].0);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(track_of(&units[25].0, 320, 240, 90_000).unwrap(), *t);
    }
}
