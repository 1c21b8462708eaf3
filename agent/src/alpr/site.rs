//! ALPR on a site: the ingest thread of an ALPR camera hands copies of its video
//! packets to that camera's decoder thread through a bounded channel that drops
//! when full (recording never waits; after a drop the feed resumes at the next
//! keyframe). The decoder samples frames at `fps`, converts them to RGB and hands
//! them to the agent's one reader thread (one set of ONNX sessions for all
//! cameras), again through a bounded channel that drops when full. The reader
//! reads each frame, tracks plates per camera ([`super::track::Tracker`]) and,
//! when a pass ends, stores one merged read with a JPEG crop of its best frame in
//! the [`ReadStore`].
//!
//! Video, not images: the reader looks only where something moved since the
//! camera's last sampled frame ([`super::motion`]), and where an open pass's plate
//! is expected ([`Tracker::windows`]); a frame where neither is anything costs no
//! detector call. A whole frame is read every `full_every_ms` all the same.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ffmpeg_next as ff;
use jiff::Timestamp;

use super::geom::Rgb;
use super::motion::{Look, Motion, MotionParams};
use super::plate::Region;
use super::store::{LocationSource, NewRead, ReadLocation, ReadStore};
use super::track::{MergedRead, Tracker};
use super::{models, Reader, MAX_SIDE};
use crate::clock::Clock;
use crate::config::CameraConfig;
use crate::events::{
    AlprFailed, FrameDropped, FrameRead, FrameStill, Looked, PacketDropped, PlateStored,
};
use crate::gps::Gps;
use crate::hotlist::Hotlists;
use camplane_config::hotlist::{AlertReport, HitCategory};
use camplane_config::model::LatLon;

/// Settings shared by the agent's ALPR cameras.
#[derive(Debug, Clone)]
pub struct AlprSiteOptions {
    /// Models directory (None: [`models::resolve_dir`]).
    pub models: Option<PathBuf>,
    /// Plate formats to prefer (config `alpr_region`; default any).
    pub region: Region,
    /// Frames read per second per camera, unless the camera sets its own
    /// (`CameraConfig::alpr_fps`).
    pub fps: f64,
    /// Which models read (config `alpr_precision`; default
    /// [`models::SHIPPED_PRECISION`]).
    pub precision: models::Precision,
    /// Motion gating: look only where something moved (None: every sampled frame
    /// is read whole, as before video reading).
    pub motion: Option<MotionParams>,
    /// With motion gating, look again around each open pass's predicted box.
    pub track_relook: bool,
    /// A pass ends after this long without a read of it.
    pub track_gap_ms: i64,
    /// Packets queued per camera for its decoder before dropping.
    pub packet_queue: usize,
    /// Sampled frames queued for the reader (all cameras) before dropping.
    pub frame_queue: usize,
}

impl Default for AlprSiteOptions {
    fn default() -> Self {
        AlprSiteOptions {
            models: None,
            region: Region::Any,
            fps: 2.0,
            precision: models::SHIPPED_PRECISION,
            motion: Some(MotionParams::default()),
            track_relook: true,
            track_gap_ms: 1500,
            packet_queue: 512,
            frame_queue: 4,
        }
    }
}

pub use crate::health::AlprCounters;

/// Called with each stored read's time and the hit categories it matched (the
/// supervisor counts it in the camera's active window).
pub type OnRead = Arc<dyn Fn(Timestamp, &[HitCategory]) + Send + Sync>;

/// Where alerts go (the session spools and sends them).
pub type AlertSink = Arc<dyn Fn(AlertReport) + Send + Sync>;

/// What the reader needs besides frames: the hotlists every read is matched
/// against, where hits go, and the gateway's GPS for mobile readers.
#[derive(Clone, Default)]
pub struct SiteCtx {
    /// The agent's hotlists.
    pub hotlists: Hotlists,
    /// Set by the session; alerts raised before that are logged only.
    pub alerts: Arc<Mutex<Option<AlertSink>>>,
    /// The gateway's GPS, when it has one.
    pub gps: Option<Gps>,
}

/// What the ingest thread sends its camera's decoder.
pub enum FeedMsg {
    /// A new connection: the stream's codec parameters.
    Start(ff::codec::Parameters),
    /// One access unit and when it arrived (ms since the epoch).
    Packet(ff::Packet, i64),
}

/// The ingest side of one camera's ALPR feed.
#[derive(Clone)]
pub struct AlprFeed {
    tx: SyncSender<FeedMsg>,
    counters: Arc<AlprCounters>,
}

/// Ingest-side state for one session: skip to a keyframe after a drop.
#[derive(Default)]
pub struct FeedState {
    need_key: bool,
}

impl AlprFeed {
    /// A new session began; never blocks.
    pub fn start(&self, params: ff::codec::Parameters, st: &mut FeedState) {
        st.need_key = true;
        if self.tx.try_send(FeedMsg::Start(params)).is_err() {
            self.counters.emit(PacketDropped);
        }
    }

    /// Offers a copy of a packet; never blocks. `key`: a whole IDR access unit.
    pub fn offer(&self, pkt: &ff::Packet, key: bool, at: Timestamp, st: &mut FeedState) {
        if st.need_key && !key {
            return;
        }
        match self
            .tx
            .try_send(FeedMsg::Packet(pkt.clone(), at.as_millisecond()))
        {
            Ok(()) => st.need_key = false,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.counters.emit(PacketDropped);
                st.need_key = true;
            }
        }
    }

    /// This camera's counters.
    pub fn counters(&self) -> Arc<AlprCounters> {
        self.counters.clone()
    }
}

struct CamCtx {
    id: String,
    counters: Arc<AlprCounters>,
    on_read: OnRead,
    location: Option<LatLon>,
    mobile: bool,
}

enum ReaderMsg {
    Frame {
        cam: Arc<CamCtx>,
        at_ms: i64,
        w: usize,
        h: usize,
        rgb: Vec<u8>,
    },
    End(Arc<CamCtx>),
}

/// The agent's ALPR: one reader thread, one decoder thread per ALPR camera.
pub struct AlprSite {
    opts: AlprSiteOptions,
    frames: SyncSender<ReaderMsg>,
    /// Set when the models could not be loaded (reads are then off).
    pub load_error: Arc<Mutex<Option<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl AlprSite {
    /// Starts the reader thread; models load on it (reconcile never waits).
    pub fn start(
        opts: AlprSiteOptions,
        store: Arc<ReadStore>,
        clock: Arc<dyn Clock>,
        ctx: SiteCtx,
    ) -> std::io::Result<AlprSite> {
        tune_malloc();
        let (tx, rx) = mpsc::sync_channel(opts.frame_queue.max(1));
        let load_error = Arc::new(Mutex::new(None));
        let (o, le) = (opts.clone(), load_error.clone());
        let out = Out { store, ctx };
        let reader = std::thread::Builder::new()
            .name("alpr-reader".into())
            .spawn(move || reader_loop(o, rx, out, clock, le))?;
        Ok(AlprSite {
            opts,
            frames: tx,
            load_error,
            reader: Some(reader),
        })
    }

    /// Stops the reader once every camera feed has ended: open passes are
    /// flushed into the store first. Call after the cameras' ingest stopped.
    pub fn stop(mut self) {
        let h = self.reader.take();
        drop(self);
        if let Some(h) = h {
            let _ = h.join();
        }
    }

    /// Starts a decoder thread for `camera`; it ends when every copy of the
    /// returned feed is dropped (the camera's ingest ended), flushing its passes.
    pub fn camera_feed(&self, cfg: &CameraConfig, on_read: OnRead) -> std::io::Result<AlprFeed> {
        let camera = cfg.id.as_str();
        let counters = Arc::new(AlprCounters::default());
        let (tx, rx) = mpsc::sync_channel(self.opts.packet_queue.max(1));
        let cam = Arc::new(CamCtx {
            id: camera.to_string(),
            counters: counters.clone(),
            on_read,
            location: cfg.location,
            mobile: cfg.mobile,
        });
        let frames = self.frames.clone();
        let sampler = Sampler::new(cfg.alpr_fps.unwrap_or(self.opts.fps));
        std::thread::Builder::new()
            .name(format!("alpr-dec-{camera}"))
            .spawn(move || decode_loop(rx, cam, frames, sampler))?;
        Ok(AlprFeed { tx, counters })
    }
}

/// Which decoded frames a camera's reader samples: one every `1000 / fps` ms of
/// arrival time, on average (a late frame does not push the next ones later).
#[derive(Debug, Clone)]
pub struct Sampler {
    interval_ms: i64,
    next_ms: Option<i64>,
}

impl Sampler {
    /// Sampling at `fps` frames per second (the camera's own, else the agent's).
    pub fn new(fps: f64) -> Sampler {
        Sampler {
            interval_ms: (1000.0 / fps.max(0.01)).round().max(1.0) as i64,
            next_ms: None,
        }
    }

    /// When the next frame is due (ms), once one was taken.
    pub fn next_due(&self) -> Option<i64> {
        self.next_ms
    }

    /// Whether the frame that arrived at `at_ms` is read.
    pub fn take(&mut self, at_ms: i64) -> bool {
        match self.next_ms {
            Some(n) if at_ms < n && n - at_ms <= self.interval_ms => false,
            // On time or late by less than an interval: keep the cadence.
            Some(n) if at_ms >= n && at_ms - n < self.interval_ms => {
                self.next_ms = Some(n + self.interval_ms);
                true
            }
            // First frame, a long gap, or a clock gone back: start again here.
            _ => {
                self.next_ms = Some(at_ms + self.interval_ms);
                true
            }
        }
    }
}

/// Skips decoding the rest of a group of pictures once no sample is due before
/// the next keyframe: a decoder must decode every frame from a keyframe up to a
/// sampled one, but none after the last sample of the group. At 2 frames/s on a
/// camera with a keyframe every second, about half the frames are never decoded.
#[derive(Debug, Clone, Default)]
pub struct GopSkip {
    last_key_ms: Option<i64>,
    gop_ms: Option<i64>,
    skipping: bool,
}

impl GopSkip {
    /// A packet arrived at `at_ms` (`key`: it starts a group); whether to skip it.
    pub fn skip(&mut self, key: bool, at_ms: i64) -> bool {
        if key {
            if let Some(k) = self.last_key_ms {
                self.gop_ms = (at_ms > k).then_some(at_ms - k);
            }
            self.last_key_ms = Some(at_ms);
            self.skipping = false;
        }
        self.skipping
    }

    /// A frame was sampled; the next is due at `next_ms`: skip to the next
    /// keyframe when it is expected before then (groups seen so far are regular).
    pub fn sampled(&mut self, next_ms: Option<i64>) {
        if let (Some(k), Some(g), Some(n)) = (self.last_key_ms, self.gop_ms, next_ms) {
            self.skipping = n >= k + g;
        }
    }

    /// A new connection or a decoder error: decode everything until the next keyframe.
    pub fn reset(&mut self) {
        *self = GopSkip::default();
    }
}

/// glibc's allocator, set once for the agent's process when plate reading starts:
/// every decoder thread and the reader allocate a 1280x720 RGB frame (2.7 MB) per
/// sample. glibc gives each thread an arena of its own (up to 8 per core) and,
/// after the first such buffer is freed, raises its mmap threshold so the next ones
/// come from those arenas, where freed frames stay resident. A fixed 1 MiB threshold
/// (glibc's dynamic one starts at 128 KiB; frames and ONNX Runtime's tensors are
/// over it, packets and small objects under) returns each frame to the system when
/// freed; 2 arenas (the reader's and the rest) bound what small allocations hold.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn tune_malloc() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // glibc's malloc.h: M_MMAP_THRESHOLD -3, M_ARENA_MAX -8.
    const M_MMAP_THRESHOLD: std::ffi::c_int = -3;
    const M_ARENA_MAX: std::ffi::c_int = -8;
    unsafe extern "C" {
        fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
    }
    ONCE.call_once(|| {
        // SAFETY: mallopt takes two integers and only changes allocator settings;
        // glibc allows it at any time.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 1 << 20);
            mallopt(M_ARENA_MAX, 2);
        }
    });
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}

fn decode_loop(
    rx: Receiver<FeedMsg>,
    cam: Arc<CamCtx>,
    frames: SyncSender<ReaderMsg>,
    mut sampler: Sampler,
) {
    let mut dec: Option<ff::decoder::Video> = None;
    let mut gop = GopSkip::default();
    let mut frame = ff::frame::Video::empty();
    for msg in rx {
        match msg {
            FeedMsg::Start(params) => {
                gop.reset();
                dec = match ff::codec::Context::from_parameters(params)
                    .and_then(|c| c.decoder().video())
                {
                    Ok(d) => Some(d),
                    Err(e) => {
                        cam.counters.emit(AlprFailed {
                            camera: &cam.id,
                            stage: "decoder",
                            error: &e,
                        });
                        None
                    }
                };
            }
            FeedMsg::Packet(pkt, at_ms) => {
                let Some(d) = dec.as_mut() else { continue };
                if gop.skip(pkt.is_key(), at_ms) {
                    continue;
                }
                if d.send_packet(&pkt).is_err() {
                    gop.reset();
                    continue;
                }
                while d.receive_frame(&mut frame).is_ok() {
                    if !sampler.take(at_ms) {
                        continue;
                    }
                    gop.sampled(sampler.next_due());
                    let (w, h) = (frame.width() as usize, frame.height() as usize);
                    let Some(rgb) = to_rgb(&frame) else {
                        let e = format!("cannot sample {w}x{h} {:?} frames", frame.format());
                        cam.counters.emit(AlprFailed {
                            camera: &cam.id,
                            stage: "format",
                            error: &e,
                        });
                        continue;
                    };
                    let m = ReaderMsg::Frame {
                        cam: cam.clone(),
                        at_ms,
                        w,
                        h,
                        rgb,
                    };
                    if frames.try_send(m).is_err() {
                        cam.counters.emit(FrameDropped);
                    }
                }
            }
        }
    }
    let _ = frames.send(ReaderMsg::End(cam));
}

/// Planar 4:2:0 (or NV12) to packed RGB, BT.601. Checks size, format and plane
/// sizes first; None for anything else (never calls into swscale).
///
/// Each chroma sample's share of R, G and B is worked out once for the two luma
/// samples of a row it covers, row by row over bounds-checked slices: a sampled
/// 1280x720 frame takes 2.2 ms where the per-pixel form took 3.6 (median
/// of 60 conversions on the 2-core VM, 2026-12-05).
pub fn to_rgb(f: &ff::frame::Video) -> Option<Vec<u8>> {
    use ff::format::Pixel;
    let (w, h) = (f.width() as usize, f.height() as usize);
    if w == 0 || h == 0 || w > MAX_SIDE as usize || h > MAX_SIDE as usize {
        return None;
    }
    let coef = match f.format() {
        Pixel::YUV420P | Pixel::NV12 => Bt601::LIMITED,
        Pixel::YUVJ420P => Bt601::FULL,
        _ => return None,
    };
    let nv12 = f.format() == Pixel::NV12;
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let ys = f.stride(0);
    let y = f.data(0);
    if ys < w || y.len() < ys * (h - 1) + w {
        return None;
    }
    let mut out = vec![0u8; w * h * 3];
    let rows = out.chunks_exact_mut(w * 3).enumerate();
    if nv12 {
        let (s, d) = (f.stride(1), f.data(1));
        if s < 2 * cw || d.len() < s * (ch - 1) + 2 * cw {
            return None;
        }
        for (row, o) in rows {
            let uv = &d[(row / 2) * s..(row / 2) * s + 2 * cw];
            let uv = uv.chunks_exact(2).map(|p| (p[0], p[1]));
            coef.row(&y[row * ys..row * ys + w], uv, o);
        }
    } else {
        let (u, us, v, vs) = (f.data(1), f.stride(1), f.data(2), f.stride(2));
        if us < cw || vs < cw || u.len() < us * (ch - 1) + cw || v.len() < vs * (ch - 1) + cw {
            return None;
        }
        for (row, o) in rows {
            let (ur, vr) = (row / 2 * us, row / 2 * vs);
            let uv = u[ur..ur + cw]
                .iter()
                .copied()
                .zip(v[vr..vr + cw].iter().copied());
            coef.row(&y[row * ys..row * ys + w], uv, o);
        }
    }
    Some(out)
}

/// BT.601 YCbCr to RGB in fixed point (x1024): luma offset and gain, then the
/// chroma terms of R (V), G (U and V, subtracted) and B (U).
#[derive(Debug, Clone, Copy)]
struct Bt601 {
    y_off: i32,
    y_gain: i32,
    r_v: i32,
    g_u: i32,
    g_v: i32,
    b_u: i32,
}

impl Bt601 {
    /// Studio range (Y 16-235): 255/219, 1.596, 0.392, 0.813, 2.017 (x1024).
    const LIMITED: Bt601 = Bt601 {
        y_off: 16,
        y_gain: 1192,
        r_v: 1634,
        g_u: 401,
        g_v: 833,
        b_u: 2066,
    };
    /// Full range (JPEG): 1, 1.402, 0.344, 0.714, 1.772 (x1024).
    const FULL: Bt601 = Bt601 {
        y_off: 0,
        y_gain: 1024,
        r_v: 1436,
        g_u: 352,
        g_v: 731,
        b_u: 1815,
    };

    /// One row: `y` (w samples), its chroma pairs (one per two luma samples),
    /// `out` (3w bytes).
    #[inline(always)]
    fn row(self, y: &[u8], uv: impl Iterator<Item = (u8, u8)>, out: &mut [u8]) {
        for ((ys, os), (u, v)) in y.chunks(2).zip(out.chunks_mut(6)).zip(uv) {
            let (u, v) = (i32::from(u) - 128, i32::from(v) - 128);
            let (dr, dg, db) = (self.r_v * v, -self.g_u * u - self.g_v * v, self.b_u * u);
            for (&yv, o) in ys.iter().zip(os.chunks_exact_mut(3)) {
                let c = (i32::from(yv) - self.y_off) * self.y_gain;
                o[0] = ((c + dr) >> 10).clamp(0, 255) as u8;
                o[1] = ((c + dg) >> 10).clamp(0, 255) as u8;
                o[2] = ((c + db) >> 10).clamp(0, 255) as u8;
            }
        }
    }
}

struct CamState {
    cam: Arc<CamCtx>,
    tracker: Tracker,
    motion: Option<Motion>,
    /// Crops of recent reads: (frame ms, box, crop).
    crops: VecDeque<(i64, [i64; 4], image::RgbImage)>,
}

/// Crops kept this long (ms) for passes still open.
const CROP_KEEP_MS: i64 = 120_000;

/// Where merged reads go: the read store, then hotlist matching.
struct Out {
    store: Arc<ReadStore>,
    ctx: SiteCtx,
}

fn reader_loop(
    opts: AlprSiteOptions,
    rx: Receiver<ReaderMsg>,
    out: Out,
    clock: Arc<dyn Clock>,
    load_error: Arc<Mutex<Option<String>>>,
) {
    let dir = models::resolve_dir(opts.models.as_deref());
    let mut reader = match Reader::load_with(&dir, opts.region, opts.precision) {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::error!(error = %e, "ALPR models not loaded; plate reading is off");
            *load_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
            None
        }
    };
    let mut cams: HashMap<String, CamState> = HashMap::new();
    loop {
        match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(ReaderMsg::Frame {
                cam,
                at_ms,
                w,
                h,
                rgb,
            }) => {
                let Some(reader) = reader.as_mut() else {
                    // Logged once where loading failed; kept as the camera's error.
                    cam.counters.error(
                        load_error
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .clone()
                            .unwrap_or_default(),
                    );
                    continue;
                };
                let st = cams.entry(cam.id.clone()).or_insert_with(|| CamState {
                    cam: cam.clone(),
                    tracker: {
                        let mut t = Tracker::default();
                        t.max_gap_ms = opts.track_gap_ms;
                        // A standing vehicle is met again by each whole-frame read:
                        // its record lasts that period, the gap and a sample at 1 fps
                        // (without motion gating every sample reads it: its pass
                        // never ends while it stands).
                        t.linger_ms = opts
                            .motion
                            .as_ref()
                            .map_or(0, |m| m.full_every_ms + opts.track_gap_ms + 1000);
                        t
                    },
                    crops: VecDeque::new(),
                    motion: opts.motion.clone().map(Motion::new),
                });
                st.cam = cam.clone();
                let img = Rgb { w, h, data: &rgb };
                let look = match st.motion.as_mut() {
                    Some(m) => {
                        let watches = if opts.track_relook {
                            st.tracker.watches(at_ms, w, h)
                        } else {
                            Vec::new()
                        };
                        let (look, moved) = m.look(at_ms, &rgb, w, h, &watches);
                        // Settled passes whose plate moved on are held, not read.
                        for (i, (wt, mv)) in watches.iter().zip(moved).enumerate() {
                            if wt.settled && mv {
                                st.tracker.hold(at_ms, i);
                            }
                        }
                        look
                    }
                    None => Look::Full,
                };
                let reads = match read_look(reader, &img, &look) {
                    // Video reading keeps one read per plate (see `one_per_place`).
                    Ok(r) if st.motion.is_some() => one_per_place(r),
                    Ok(r) => r,
                    Err(e) => {
                        cam.counters.emit(AlprFailed {
                            camera: &cam.id,
                            stage: "read",
                            error: &e,
                        });
                        continue;
                    }
                };
                match &look {
                    Look::Skip => cam.counters.emit(FrameStill),
                    Look::Full => cam.counters.emit(Looked { windows: 1 }),
                    Look::Windows(ws) => cam.counters.emit(Looked { windows: ws.len() }),
                }
                cam.counters.emit(FrameRead);
                for r in &reads {
                    if let Some(c) = crop(&img, r.bbox) {
                        st.crops.push_back((at_ms, r.bbox, c));
                    }
                }
                while st
                    .crops
                    .front()
                    .is_some_and(|(t, _, _)| at_ms - *t > CROP_KEEP_MS)
                {
                    st.crops.pop_front();
                }
                let done = st.tracker.push(at_ms, &reads);
                emit(&out, st, done);
            }
            Ok(ReaderMsg::End(cam)) => {
                if let Some(mut st) = cams.remove(&cam.id) {
                    let done = st.tracker.flush();
                    emit(&out, &mut st, done);
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                let now = clock.now().as_millisecond();
                for st in cams.values_mut() {
                    let done = st.tracker.push(now, &[]);
                    emit(&out, st, done);
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                for st in cams.values_mut() {
                    let done = st.tracker.flush();
                    emit(&out, st, done);
                }
                return;
            }
        }
    }
}

/// Reads a frame where `look` says: the whole frame, each window (a plate read
/// in two overlapping windows is kept once, the surer read), or nothing.
fn read_look(
    reader: &mut Reader,
    img: &Rgb<'_>,
    look: &Look,
) -> Result<Vec<super::PlateRead>, super::AlprError> {
    match look {
        Look::Full => reader.read(img),
        Look::Skip => Ok(Vec::new()),
        Look::Windows(ws) => {
            let mut out: Vec<super::PlateRead> = Vec::new();
            for w in ws {
                for r in reader.read_region(img, *w)? {
                    match out.iter_mut().find(|o| o.text == r.text) {
                        Some(o) if o.confidence >= r.confidence => {}
                        Some(o) => *o = r,
                        None => out.push(r),
                    }
                }
            }
            out.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
            Ok(out)
        }
    }
}

/// The surest read at each place: a read whose box lies mostly (more than half of
/// the smaller box) over a surer one's is another reading of the same plate (an
/// alternative text, or a part of it seen from a neighbouring window), and would
/// start a pass of its own.
fn one_per_place(mut reads: Vec<super::PlateRead>) -> Vec<super::PlateRead> {
    reads.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    let mut out: Vec<super::PlateRead> = Vec::new();
    for r in reads {
        let over = |o: &super::PlateRead| {
            let (a, b) = (o.bbox, r.bbox);
            let ix = (a[0] + a[2]).min(b[0] + b[2]) - a[0].max(b[0]);
            let iy = (a[1] + a[3]).min(b[1] + b[3]) - a[1].max(b[1]);
            let small = (a[2] * a[3]).min(b[2] * b[3]).max(1);
            ix > 0 && iy > 0 && 2 * ix * iy > small
        };
        if !out.iter().any(over) {
            out.push(r);
        }
    }
    out
}

/// The plate box grown by a margin, as an image.
fn crop(img: &Rgb<'_>, b: [i64; 4]) -> Option<image::RgbImage> {
    let m = (b[3] / 4).max(4);
    let x0 = (b[0] - m).clamp(0, img.w as i64) as usize;
    let y0 = (b[1] - m).clamp(0, img.h as i64) as usize;
    let x1 = (b[0] + b[2] + m).clamp(0, img.w as i64) as usize;
    let y1 = (b[1] + b[3] + m).clamp(0, img.h as i64) as usize;
    if x1 <= x0 || y1 <= y0 {
        return None;
    }
    let mut out = Vec::with_capacity((x1 - x0) * (y1 - y0) * 3);
    for y in y0..y1 {
        out.extend_from_slice(&img.data[(y * img.w + x0) * 3..(y * img.w + x1) * 3]);
    }
    image::RgbImage::from_raw((x1 - x0) as u32, (y1 - y0) as u32, out)
}

/// JPEG bytes of an image.
pub fn jpeg(img: &image::RgbImage) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 85)
        .encode_image(img)
        .ok()?;
    Some(buf)
}

fn emit(out: &Out, st: &mut CamState, done: Vec<MergedRead>) {
    for m in done {
        let jpg = st
            .crops
            .iter()
            .find(|(t, b, _)| *t == m.best_frame_ms && *b == m.best_box)
            .and_then(|(_, _, c)| jpeg(c));
        let ts = |ms: i64| Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH);
        let read = NewRead {
            camera: st.cam.id.clone(),
            plate: m.text.clone(),
            confidence: (m.confidence * 1e4).round() / 1e4,
            time: ts(m.best_frame_ms),
            first: ts(m.first_ms),
            last: ts(m.last_ms),
            frames: m.frames,
            bbox: m.best_box,
            location: locate(&st.cam, out.ctx.gps.as_ref(), ts(m.best_frame_ms)),
        };
        match out.store.append(read, jpg.as_deref()) {
            Ok(r) => {
                let hits = out.ctx.hotlists.matches(&r.plate, r.time);
                st.cam.counters.emit(PlateStored {
                    camera: &st.cam.id,
                    hits: hits.len(),
                });
                let cats: Vec<HitCategory> = hits.iter().map(|h| h.category).collect();
                (st.cam.on_read)(r.time, &cats);
                let sink = out
                    .ctx
                    .alerts
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                for h in hits {
                    let a = AlertReport {
                        read_id: r.id.clone(),
                        camera: r.camera.clone(),
                        plate: r.plate.clone(),
                        time: r.time,
                        confidence: f64::from(r.confidence),
                        location: r.location.map(|l| LatLon {
                            lat: l.lat,
                            lon: l.lon,
                        }),
                        list: h.list,
                        source: h.source,
                        category: h.category,
                        list_version: h.version,
                        entry: h.entry,
                        matched_at: Timestamp::now(),
                    };
                    tracing::info!(camera_id = %a.camera, list = %a.list, read = %a.read_id, "hotlist hit");
                    match &sink {
                        Some(s) => s(a),
                        None => tracing::warn!("hotlist hit with no session to report it"),
                    }
                }
            }
            Err(e) => st.cam.counters.emit(AlprFailed {
                camera: &st.cam.id,
                stage: "store",
                error: &e,
            }),
        }
    }
}

/// A read's location: the fixed reader's, or the GPS fix nearest the read.
fn locate(cam: &CamCtx, gps: Option<&Gps>, t: Timestamp) -> Option<ReadLocation> {
    if cam.mobile {
        let p = gps?.position_at(t)?;
        return Some(ReadLocation {
            lat: p.lat,
            lon: p.lon,
            source: LocationSource::Gps,
        });
    }
    cam.location.map(|p| ReadLocation {
        lat: p.lat,
        lon: p.lon,
        source: LocationSource::Fixed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One pixel by the BT.601 formulas, in floating point: the reference the
    /// fixed-point conversion must stay within one level of.
    fn reference(y: u8, u: u8, v: u8, full: bool) -> [u8; 3] {
        let (u, v) = (f64::from(u) - 128.0, f64::from(v) - 128.0);
        let (c, kr, kgu, kgv, kb) = if full {
            (f64::from(y), 1.402, 0.344_136, 0.714_136, 1.772)
        } else {
            (
                (f64::from(y) - 16.0) * 255.0 / 219.0,
                1.596,
                0.391_762,
                0.812_968,
                2.017,
            )
        };
        let px = |x: f64| x.floor().clamp(0.0, 255.0) as u8;
        [px(c + kr * v), px(c - kgu * u - kgv * v), px(c + kb * u)]
    }

    #[test]
    fn frames_convert_to_rgb_pixel_by_pixel_within_one_level() {
        use ff::format::Pixel;
        // Odd sizes: the last column and row share a chroma sample with none.
        for (fmt, full) in [
            (Pixel::YUV420P, false),
            (Pixel::YUVJ420P, true),
            (Pixel::NV12, false),
        ] {
            let (w, h) = (37usize, 23usize);
            let mut f = ff::frame::Video::new(fmt, w as u32, h as u32);
            for p in 0..f.planes() {
                for (i, b) in f.data_mut(p).iter_mut().enumerate() {
                    *b = ((i * 37 + p * 101) % 256) as u8;
                }
            }
            let rgb = to_rgb(&f).expect("a 4:2:0 frame converts");
            assert_eq!(rgb.len(), w * h * 3);
            for row in 0..h {
                for col in 0..w {
                    let yv = f.data(0)[row * f.stride(0) + col];
                    let (u, v) = if fmt == Pixel::NV12 {
                        let i = (row / 2) * f.stride(1) + (col / 2) * 2;
                        (f.data(1)[i], f.data(1)[i + 1])
                    } else {
                        (
                            f.data(1)[(row / 2) * f.stride(1) + col / 2],
                            f.data(2)[(row / 2) * f.stride(2) + col / 2],
                        )
                    };
                    let want = reference(yv, u, v, full);
                    let got = &rgb[(row * w + col) * 3..(row * w + col) * 3 + 3];
                    for k in 0..3 {
                        assert!(
                            got[k].abs_diff(want[k]) <= 1,
                            "{fmt:?} ({col}, {row}) channel {k}: {} against {}",
                            got[k],
                            want[k]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn other_pixel_formats_are_refused() {
        let f = ff::frame::Video::new(ff::format::Pixel::RGB24, 16, 16);
        assert!(to_rgb(&f).is_none());
    }

    /// Frames arriving at 25 fps for `secs` seconds: how many a sampler takes.
    fn sampled(fps: f64, secs: i64) -> usize {
        let mut s = Sampler::new(fps);
        (0..secs * 25)
            .filter(|i| s.take(1_000_000 + i * 40))
            .count()
    }

    #[test]
    fn each_camera_is_sampled_at_its_own_rate() {
        assert_eq!(sampled(2.0, 10), 20);
        assert_eq!(sampled(5.0, 10), 50);
        assert_eq!(sampled(0.5, 10), 5);
        // More often than frames come: every frame.
        assert_eq!(sampled(30.0, 10), 250);
    }

    #[test]
    fn a_gap_or_a_clock_going_back_restarts_the_cadence() {
        let mut s = Sampler::new(2.0);
        assert!(s.take(0));
        assert!(!s.take(499));
        assert!(s.take(500));
        // A 10 s gap: the next frame is read, the cadence starts there.
        assert!(s.take(10_520));
        assert!(!s.take(10_600));
        assert!(s.take(11_020));
        // Back in time (a reconnect's clock): read, and go on from there.
        assert!(s.take(3_000));
        assert!(!s.take(3_100));
        assert!(s.take(3_500));
    }

    #[test]
    fn frames_after_a_groups_last_sample_are_not_decoded() {
        // 25 fps, a keyframe every second, sampled at 2 fps.
        let (mut s, mut g) = (Sampler::new(2.0), GopSkip::default());
        let (mut decoded, mut taken) = (0, Vec::new());
        for i in 0..250i64 {
            let at = 1_000_000 + i * 40;
            if g.skip(i % 25 == 0, at) {
                continue;
            }
            decoded += 1;
            if s.take(at) {
                taken.push(at);
                g.sampled(s.next_due());
            }
        }
        assert_eq!(taken.len(), 20, "{taken:?}");
        // Frames 0 to 13 of each second after the first (which learns the group).
        assert_eq!(decoded, 25 + 9 * 14, "{taken:?}");
        // A long group (4 s): only its tail after the last sample is skipped.
        let (mut s, mut g) = (Sampler::new(2.0), GopSkip::default());
        let decoded = (0..500i64)
            .filter(|i| {
                let at = i * 40;
                let skip = g.skip(i % 100 == 0, at);
                if !skip && s.take(at) {
                    g.sampled(s.next_due());
                }
                !skip
            })
            .count();
        assert!(decoded > 450 && decoded < 500, "{decoded}");
    }

    #[test]
    fn one_read_per_plate_the_surest() {
        let r = |t: &str, c: f64, b: [i64; 4]| super::super::PlateRead {
            text: t.into(),
            confidence: c,
            bbox: b,
        };
        let out = one_per_place(vec![
            r("KLM44", 0.6, [50, 570, 180, 38]),
            r("KLM4455", 0.9, [40, 572, 225, 36]),
            r("XYZ9876", 0.5, [600, 100, 200, 40]),
        ]);
        let texts: Vec<&str> = out.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts, ["KLM4455", "XYZ9876"]);
    }

    #[test]
    fn the_camera_rate_overrides_the_agents() {
        let mut cfg = CameraConfig::new("c", "rtsp://x/y");
        let opts = AlprSiteOptions::default();
        let rate = |c: &CameraConfig| Sampler::new(c.alpr_fps.unwrap_or(opts.fps)).interval_ms;
        assert_eq!(rate(&cfg), 500);
        cfg.alpr_fps = Some(4.0);
        assert_eq!(rate(&cfg), 250);
    }
}
