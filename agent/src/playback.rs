//! Playback: a camera's recorded range remuxed (never re-encoded) from its
//! MPEG-TS segments into fragmented MP4 (`frag_keyframe+empty_moov+default_base_moof`,
//! what Media Source Extensions take), pulled by the controller one chunk of at
//! most [`MAX_CHUNK`] bytes at a time (query kind `playback`).
//!
//! Each session is one remux thread writing into an OS pipe; the query that
//! asks for the next chunk reads from the pipe's other end. The pipe's kernel
//! buffer (64 KiB) is all that is held besides one chunk: a writer ahead of its
//! reader blocks, so memory stays bounded whatever the range. A session nobody
//! asks for within [`IDLE`] (the viewer went away, the controller died) is
//! dropped at the next playback query; dropping the reader makes the writer's
//! next write fail, which ends the thread.

use std::collections::HashMap;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::mask::{Masker, MaskerOptions};
use camplane_config::model::{PlaybackQuery, PrivacyMask, MAX_CHUNK};
use ff::{codec, format, media, Rational};
use ffmpeg_next as ff;
use jiff::Timestamp;

/// An answer: (JSON, bytes), or why not (as `control::queries` sends it).
type Answer = std::result::Result<(Vec<u8>, Vec<u8>), String>;
use crate::index::Index;

/// Most remuxes one agent runs at once.
pub const MAX_SESSIONS: usize = 8;
/// Most of them one viewer holds at once ([`PlaybackQuery::viewer`]), so that one
/// person, opening ranges or streaming them slowly, cannot keep the gateway from
/// at least two others. A product choice, not a measured figure: a third of
/// [`MAX_SESSIONS`], rounded up.
pub const MAX_PER_VIEWER: usize = MAX_SESSIONS.div_ceil(3);
/// A session not asked for this long is dropped (a paused viewer's
/// controller sends `keep` asks within it).
pub const IDLE: Duration = camplane_config::model::PLAYBACK_IDLE;

/// The open playback sessions of this agent.
#[derive(Default)]
pub struct Playbacks {
    sessions: Mutex<HashMap<String, Open>>,
}

/// An open session: who watches it ([`PlaybackQuery::viewer`], kept outside the
/// remux's lock, which a chunk being read holds), and its remux.
struct Open {
    viewer: String,
    remux: Arc<Mutex<Remux>>,
}

/// One session: the pipe's reading end and the thread writing into it.
struct Remux {
    reader: std::io::PipeReader,
    worker: Option<JoinHandle<Result<(), String>>>,
    /// The chunk asked for next.
    next: u64,
    /// The last chunk sent, in case its answer was lost and it is asked again.
    last: Option<(u64, Vec<u8>)>,
    touched: Instant,
    sent: u64,
}

impl Playbacks {
    /// Sessions open now.
    pub fn open(&self) -> usize {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Answers one `playback` query (blocking: run off the session loop).
    pub fn answer(&self, index: &Mutex<Index>, q: &PlaybackQuery) -> Answer {
        let session = {
            let mut all = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
            all.retain(|_, o| {
                o.remux
                    .try_lock()
                    .map(|r| r.touched.elapsed() < IDLE)
                    .unwrap_or(true)
            });
            if q.close {
                all.remove(&q.session);
                return Ok((br#"{"closed":true}"#.to_vec(), vec![]));
            }
            match all.get(&q.session) {
                Some(o) => o.remux.clone(),
                None if q.chunk != 0 || q.keep => {
                    return Err(format!(
                        "playback session {:?} is not open here (ended, or idle over {} s)",
                        q.session,
                        IDLE.as_secs()
                    ))
                }
                None => {
                    if all.len() >= MAX_SESSIONS {
                        return Err(format!(
                            "this gateway already plays {MAX_SESSIONS} ranges; try again later"
                        ));
                    }
                    if !q.viewer.is_empty() {
                        let held = all.values().filter(|o| o.viewer == q.viewer).count();
                        if held >= MAX_PER_VIEWER {
                            return Err(format!(
                                "{} already plays {held} ranges on this gateway (at most {MAX_PER_VIEWER} for one viewer, so that others get theirs); close one first",
                                q.viewer
                            ));
                        }
                    }
                    let s = Arc::new(Mutex::new(start(index, q)?));
                    all.insert(
                        q.session.clone(),
                        Open {
                            viewer: q.viewer.clone(),
                            remux: s.clone(),
                        },
                    );
                    s
                }
            }
        };
        let mut r = session.lock().unwrap_or_else(|e| e.into_inner());
        r.touched = Instant::now();
        if q.keep {
            // The viewer paused: kept open, nothing read.
            return Ok((br#"{"kept":true}"#.to_vec(), vec![]));
        }
        if let Some((n, data)) = &r.last {
            if *n == q.chunk {
                return Ok((vec![], data.clone()));
            }
        }
        if q.chunk != r.next {
            return Err(format!(
                "playback session {:?}: chunk {} asked, {} expected",
                q.session, q.chunk, r.next
            ));
        }
        let mut buf = Vec::with_capacity(MAX_CHUNK as usize);
        let read = (&mut r.reader)
            .take(MAX_CHUNK)
            .read_to_end(&mut buf)
            .map_err(|e| format!("playback: {e}"));
        if read.is_err() || buf.is_empty() {
            // The writer is done (or failed): the session ends here.
            let worker = r.worker.take();
            let sent = r.sent;
            drop(r);
            self.sessions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&q.session);
            read?;
            match worker.map(|w| w.join()) {
                Some(Ok(Err(e))) => return Err(format!("playback: {e}")),
                Some(Err(_)) => return Err("playback: the remux thread panicked".into()),
                _ => {}
            }
            return Ok((
                serde_json::to_vec(&serde_json::json!({"done": true, "bytes": sent}))
                    .map_err(|e| e.to_string())?,
                vec![],
            ));
        }
        r.sent += buf.len() as u64;
        r.next += 1;
        r.last = Some((q.chunk, buf.clone()));
        Ok((vec![], buf))
    }
}

/// Finds the range's segments and starts the remux thread.
fn start(index: &Mutex<Index>, q: &PlaybackQuery) -> Result<Remux, String> {
    if q.from >= q.until {
        return Err("playback: from must be before until".into());
    }
    // The controller checked them on apply; a bad list (too many, too many
    // points) is refused here too rather than worked through.
    if let Some((at, why)) = camplane_config::model::privacy_mask_problems(&q.masks)
        .into_iter()
        .next()
    {
        return Err(format!("playback: masks: {at}: {why}"));
    }
    let segments: Vec<(PathBuf, Timestamp)> = {
        let idx = index.lock().unwrap_or_else(|e| e.into_inner());
        idx.find(&q.camera, q.from, q.until)
            .into_iter()
            .map(|e| (idx.segment_path(&q.camera, &e), e.start()))
            .collect()
    };
    if segments.is_empty() {
        return Err(format!(
            "camera {:?} has no recording between {} and {}",
            q.camera, q.from, q.until
        ));
    }
    crate::ffmpeg::init_ffmpeg();
    let (reader, writer) = std::io::pipe().map_err(|e| format!("playback pipe: {e}"))?;
    let (from, until) = (q.from, q.until);
    let masks = q.masks.clone();
    let worker = std::thread::Builder::new()
        .name("playback".into())
        .spawn(move || {
            let r = remux(&segments, from, until, &masks, &writer);
            // Closing the writer is the reader's end of file.
            drop(writer);
            r
        })
        .map_err(|e| format!("playback thread: {e}"))?;
    Ok(Remux {
        reader,
        worker: Some(worker),
        next: 0,
        last: None,
        touched: Instant::now(),
        sent: 0,
    })
}

fn us(t: Timestamp) -> i64 {
    t.as_microsecond()
}

/// Microseconds of `ticks` in time base `tb`.
fn ticks_us(ticks: i64, tb: Rational) -> i64 {
    (i128::from(ticks) * 1_000_000 * i128::from(tb.numerator())
        / i128::from(tb.denominator().max(1))) as i64
}

/// Walks one segment's video packets: `f(wall time µs, packet)`, where the wall
/// time is the segment's start plus the packet's decode time since the
/// segment's first packet (the recorder starts every segment at a keyframe).
/// Stops early when `f` returns false.
fn walk(
    path: &PathBuf,
    start: Timestamp,
    mut f: impl FnMut(i64, Rational, &mut ff::Packet) -> Result<bool, String>,
) -> Result<(), String> {
    let mut ictx = format::input(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (vi, tb) = {
        let s = ictx
            .streams()
            .best(media::Type::Video)
            .ok_or_else(|| format!("{}: no video stream", path.display()))?;
        (s.index(), s.time_base())
    };
    let mut first: Option<i64> = None;
    for (s, mut pkt) in ictx.packets() {
        if s.index() != vi {
            continue;
        }
        let Some(dts) = pkt.dts().or(pkt.pts()) else {
            continue;
        };
        let first = *first.get_or_insert(dts);
        if !f(us(start) + ticks_us(dts - first, tb), tb, &mut pkt)? {
            break;
        }
    }
    Ok(())
}

/// The stream parameters of a segment with its container tag cleared: MPEG-TS
/// tags H.264 with its stream type (0x1b), which the MP4 muxer refuses; with no
/// tag it writes its own (`avc1`). ffmpeg-next has no setter for the tag.
#[allow(unsafe_code)]
fn untagged(mut p: codec::Parameters) -> codec::Parameters {
    // SAFETY: `p` owns (or keeps alive) a valid AVCodecParameters; codec_tag is
    // a plain integer field.
    unsafe {
        (*p.as_mut_ptr()).codec_tag = 0;
    }
    p
}

/// Remuxes the range's packets into fragmented MP4 written to `out`: from the
/// last keyframe at or before `from` to the last packet before `until`. With
/// `masks`, the packets go through a [`Masker`] first (decoded, the masks
/// filled black, encoded again): the hidden pixels never leave the agent.
fn remux(
    segments: &[(PathBuf, Timestamp)],
    from: Timestamp,
    until: Timestamp,
    masks: &[PrivacyMask],
    out: &std::io::PipeWriter,
) -> Result<(), String> {
    let (first_path, first_start) = &segments[0];
    // Where the picture starts: the last keyframe at or before `from` (else the
    // first keyframe after it).
    let mut start_us: Option<i64> = None;
    walk(first_path, *first_start, |t, _, pkt| {
        if pkt.is_key() && (t <= us(from) || start_us.is_none()) {
            start_us = Some(t);
        }
        Ok(t <= us(from))
    })?;
    let start_us = start_us.unwrap_or(us(from));
    let ictx = format::input(first_path).map_err(|e| format!("{}: {e}", first_path.display()))?;
    let ist = ictx
        .streams()
        .best(media::Type::Video)
        .ok_or_else(|| format!("{}: no video stream", first_path.display()))?;
    let in_tb = ist.time_base();
    let us_tb = Rational(1, 1_000_000);
    let mut masker = if masks.is_empty() {
        None
    } else {
        let rate = ist.avg_frame_rate();
        let opts = MaskerOptions {
            frame_rate: if rate.numerator() > 0 && rate.denominator() > 0 {
                rate
            } else {
                MaskerOptions::default().frame_rate
            },
            source_bit_rate: crate::mask::source_bit_rate_of(first_path, &ictx),
            ..MaskerOptions::default()
        };
        Some(
            Masker::with_options(ist.parameters(), us_tb, masks, opts)
                .map_err(|e| e.to_string())?,
        )
    };
    let (params, stream_tb) = match &masker {
        Some(m) => (untagged(m.output_parameters()), us_tb),
        None => (untagged(ist.parameters()), in_tb),
    };
    drop(ictx);

    // The pipe protocol writes to the descriptor and leaves it open: `out` closes it.
    let target = format!("pipe:{}", out.as_raw_fd());
    let mut octx = format::output_as(&target, "mp4").map_err(|e| format!("mp4 output: {e}"))?;
    {
        let mut ost = octx
            .add_stream(ff::encoder::find(codec::Id::None))
            .map_err(|e| format!("mp4 stream: {e}"))?;
        ost.set_parameters(params);
        ost.set_time_base(stream_tb);
    }
    let mut opts = ff::Dictionary::new();
    opts.set("movflags", "frag_keyframe+empty_moov+default_base_moof");
    octx.write_header_with(opts)
        .map_err(|e| format!("mp4 header: {e}"))?;
    let out_tb = octx
        .stream(0)
        .map(|s| s.time_base())
        .unwrap_or(Rational(1, 90_000));

    let mut started = false;
    let mut last_dts: Option<i64> = None;
    let mut last_out: Option<i64> = None;
    let mut ended = false;
    for (path, seg_start) in segments {
        walk(path, *seg_start, |t, tb, pkt| {
            if t >= us(until) {
                ended = true;
                return Ok(false);
            }
            if !started {
                if t < start_us || !pkt.is_key() {
                    return Ok(true);
                }
                started = true;
            }
            // Decode times from the picture's start in µs, kept increasing across
            // segment boundaries; presentation keeps its offset from decode.
            let mut dts = t - start_us;
            if let Some(l) = last_dts {
                dts = dts.max(l + 1);
            }
            last_dts = Some(dts);
            let lead = match (pkt.pts(), pkt.dts()) {
                (Some(p), Some(d)) => ticks_us(p - d, tb).max(0),
                _ => 0,
            };
            pkt.set_dts(Some(dts));
            pkt.set_pts(Some(dts + lead));
            pkt.set_stream(0);
            pkt.set_position(-1);
            match &mut masker {
                Some(m) => {
                    for mut p in m.push(pkt).map_err(|e| e.to_string())? {
                        write_packet(&mut p, us_tb, out_tb, &mut last_out, &mut octx)?;
                    }
                }
                None => write_packet(pkt, us_tb, out_tb, &mut last_out, &mut octx)?,
            }
            Ok(true)
        })?;
        if ended {
            break;
        }
    }
    if let Some(m) = &mut masker {
        for mut p in m.flush().map_err(|e| e.to_string())? {
            write_packet(&mut p, us_tb, out_tb, &mut last_out, &mut octx)?;
        }
    }
    octx.write_trailer()
        .map_err(|e| format!("mp4 trailer: {e}"))?;
    Ok(())
}

/// Writes a packet (timestamps in `from`, masked or not) as the MP4's stream 0,
/// its decode time after `last_out`'s.
fn write_packet(
    p: &mut ff::Packet,
    from: Rational,
    to: Rational,
    last_out: &mut Option<i64>,
    octx: &mut format::context::Output,
) -> Result<(), String> {
    p.set_stream(0);
    p.set_position(-1);
    p.rescale_ts(from, to);
    // Decode times a microsecond apart can round to one tick of the output's
    // time base (the muxer refuses a decode time that does not increase):
    // keep them increasing there too.
    if let (Some(d), Some(l)) = (p.dts(), *last_out) {
        if d <= l {
            let shift = l + 1 - d;
            p.set_dts(Some(d + shift));
            p.set_pts(p.pts().map(|t| t + shift));
        }
    }
    *last_out = p.dts();
    p.write(octx)
        .map(|_| ())
        .map_err(|e| format!("mp4 write: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two 2 s TS segments of a 25 fps 160x120 clip with 1 s GOPs, indexed like
    /// the recorder's, from `t0`.
    fn two_segments(dir: &std::path::Path) -> (Mutex<Index>, Timestamp) {
        crate::ffmpeg::init_ffmpeg();
        let mut index = Index::open(dir).unwrap();
        let t0: Timestamp = "2026-11-01T00:00:00Z".parse().unwrap();
        let cam_dir = index.camera_dir("cam-1");
        std::fs::create_dir_all(&cam_dir).unwrap();
        for i in 0..2i64 {
            let start = t0 + jiff::SignedDuration::from_secs(2 * i);
            let name = crate::index::segment_file_name(start.as_millisecond(), i as u32);
            let path = cam_dir.join(&name);
            let st = std::process::Command::new("ffmpeg")
                .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
                .arg("testsrc=size=160x120:rate=25:duration=2")
                .args([
                    "-pix_fmt", "yuv420p", "-c:v", "libx264", "-g", "25", "-f", "mpegts",
                ])
                .arg(&path)
                .status()
                .expect("ffmpeg on PATH");
            assert!(st.success());
            let bytes = std::fs::read(&path).unwrap();
            index
                .append(
                    "cam-1",
                    start.as_millisecond(),
                    (start + jiff::SignedDuration::from_secs(2)).as_millisecond(),
                    bytes.len() as u64,
                    i as u32,
                    [0; 32],
                )
                .unwrap();
        }
        (Mutex::new(index), t0)
    }

    /// Plays a whole session of `q` (chunk 0 on) and returns its bytes.
    fn play(p: &Playbacks, index: &Mutex<Index>, q: &PlaybackQuery) -> Vec<u8> {
        let mut out = Vec::new();
        let mut q = q.clone();
        loop {
            let (_, data) = p.answer(index, &q).unwrap();
            if data.is_empty() {
                return out;
            }
            out.extend_from_slice(&data);
            q.chunk += 1;
        }
    }

    /// A masked range: H.264 again (re-encoded at the agent), black inside
    /// the mask, the test pattern outside; the same range unmasked is not.
    #[test]
    fn a_masked_range_is_black_inside_its_masks() {
        let dir = tempfile::tempdir().unwrap();
        let (index, t0) = two_segments(dir.path());
        let p = Playbacks::default();
        let mut q = PlaybackQuery {
            session: "vs-m".into(),
            viewer: "ann".into(),
            camera: "cam-1".into(),
            from: t0,
            until: t0 + jiff::SignedDuration::from_millis(3000),
            chunk: 0,
            close: false,
            keep: false,
            masks: vec![PrivacyMask {
                name: "window".into(),
                polygon: vec![[0.0, 0.0], [0.5, 0.0], [0.5, 0.25], [0.0, 0.25]],
            }],
        };
        let gray = |bytes: &[u8], name: &str| {
            let f = dir.path().join(name);
            std::fs::write(&f, bytes).unwrap();
            let o = std::process::Command::new("ffmpeg")
                .args(["-v", "error", "-i"])
                .arg(&f)
                .args([
                    "-frames:v",
                    "1",
                    "-ss",
                    "1.5",
                    "-f",
                    "rawvideo",
                    "-pix_fmt",
                    "gray",
                    "-",
                ])
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            o.stdout
        };
        // Masks the controller would have refused are refused here too.
        let mut bad = q.clone();
        bad.session = "vs-bad".into();
        bad.masks[0].polygon.truncate(2);
        let e = p.answer(&index, &bad).unwrap_err();
        assert!(e.contains("at least 3 points"), "{e}");
        let masked = play(&p, &index, &q);
        assert!(masked.windows(4).any(|w| w == b"moof"), "no fragments");
        let px = gray(&masked, "masked.mp4");
        assert_eq!(px.len(), 160 * 120);
        let inside = |px: &[u8]| {
            (2..28)
                .flat_map(|y| (2..78).map(move |x| (x, y)))
                .map(|(x, y)| px[y * 160 + x])
                .max()
                .unwrap()
        };
        assert!(
            inside(&px) <= 20,
            "not black inside the mask: {}",
            inside(&px)
        );
        let below: u64 = (60..120)
            .flat_map(|y| (0..160).map(move |x| (x, y)))
            .map(|(x, y)| u64::from(px[y * 160 + x]))
            .sum();
        assert!(below / (60 * 160) > 40, "the pattern outside is gone");
        q.session = "vs-u".into();
        q.masks.clear();
        let plain = gray(&play(&p, &index, &q), "plain.mp4");
        assert!(inside(&plain) > 20, "unmasked is black there too");
    }

    /// One viewer holds at most [`MAX_PER_VIEWER`] of the gateway's sessions;
    /// another viewer still gets one, and a closed one makes room again.
    #[test]
    fn one_viewer_cannot_take_every_playback_slot() {
        let dir = tempfile::tempdir().unwrap();
        let (index, t0) = two_segments(dir.path());
        let p = Playbacks::default();
        let q = |viewer: &str, session: &str| PlaybackQuery {
            session: session.into(),
            viewer: viewer.into(),
            camera: "cam-1".into(),
            from: t0,
            until: t0 + jiff::SignedDuration::from_millis(3000),
            chunk: 0,
            close: false,
            keep: false,
            masks: vec![],
        };
        for i in 0..MAX_PER_VIEWER {
            p.answer(&index, &q("ann", &format!("vs-a{i}"))).unwrap();
        }
        let e = p.answer(&index, &q("ann", "vs-more")).unwrap_err();
        assert!(
            e.contains(&format!("ann already plays {MAX_PER_VIEWER} ranges")),
            "{e}"
        );
        assert_eq!(p.open(), MAX_PER_VIEWER, "the refused one holds nothing");
        // Her open sessions go on, and another viewer gets a slot.
        let mut keep = q("ann", "vs-a0");
        keep.keep = true;
        p.answer(&index, &keep).unwrap();
        p.answer(&index, &q("bob", "vs-b0")).unwrap();
        // One closed: room for her again.
        let mut close = q("ann", "vs-a1");
        close.close = true;
        p.answer(&index, &close).unwrap();
        p.answer(&index, &q("ann", "vs-more")).unwrap();
        assert_eq!(p.open(), MAX_PER_VIEWER + 1);
    }

    /// A range inside two segments comes out as fragmented MP4 starting at a
    /// keyframe, in chunks, and the session closes at its end.
    #[test]
    fn a_range_comes_out_as_fragmented_mp4_in_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let (index, t0) = two_segments(dir.path());
        let p = Playbacks::default();
        let q = |chunk| PlaybackQuery {
            session: "vs-1".into(),
            viewer: String::new(),
            camera: "cam-1".into(),
            from: t0 + jiff::SignedDuration::from_millis(1500),
            until: t0 + jiff::SignedDuration::from_millis(3500),
            chunk,
            close: false,
            keep: false,
            masks: vec![],
        };
        // Another session's chunk 1 is refused: sessions start at chunk 0.
        assert!(p.answer(&index, &q(1)).is_err());
        // Keeping a session that is not open is refused (it starts nothing).
        let mut keep = q(0);
        keep.keep = true;
        assert!(p.answer(&index, &keep).is_err());
        assert_eq!(p.open(), 0);
        // A session closed early is forgotten (its remux thread ends on the
        // closed pipe); asking it again is refused.
        let mut other = q(0);
        other.session = "vs-2".into();
        assert!(!p.answer(&index, &other).unwrap().1.is_empty());
        assert_eq!(p.open(), 1);
        other.close = true;
        p.answer(&index, &other).unwrap();
        assert_eq!(p.open(), 0);
        other.close = false;
        other.chunk = 1;
        assert!(p.answer(&index, &other).is_err());
        let mut out = Vec::new();
        let mut n = 0;
        loop {
            let (json, data) = p.answer(&index, &q(n)).unwrap();
            if data.is_empty() {
                let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
                assert_eq!(v["done"], true);
                assert_eq!(v["bytes"], out.len() as u64);
                break;
            }
            // The same chunk asked again comes again.
            assert_eq!(p.answer(&index, &q(n)).unwrap().1, data);
            // A keep (the viewer paused) reads nothing: the next chunk is
            // still the next one.
            let mut keep = q(n + 1);
            keep.keep = true;
            let (kept, none) = p.answer(&index, &keep).unwrap();
            assert_eq!((kept.as_slice(), none.len()), (&br#"{"kept":true}"#[..], 0));
            out.extend_from_slice(&data);
            n += 1;
        }
        assert_eq!(p.open(), 0);
        let f = dir.path().join("out.mp4");
        std::fs::write(&f, &out).unwrap();
        let probe = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "format=duration:stream=codec_name,width,height",
                "-of",
                "json",
            ])
            .arg(&f)
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&probe.stdout).unwrap();
        assert_eq!(v["streams"][0]["codec_name"], "h264", "{v}");
        assert_eq!(v["streams"][0]["width"], 160);
        let d: f64 = v["format"]["duration"].as_str().unwrap().parse().unwrap();
        // From the keyframe at 1.0 s to 3.5 s.
        assert!((d - 2.5).abs() < 0.2, "duration {d}");
        assert!(out.windows(4).any(|w| w == b"moof"), "no fragments");
        assert!(out.windows(4).any(|w| w == b"avc1"));
    }
}
