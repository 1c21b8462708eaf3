//! Privacy masks burned into video at the agent: H.264 packets in, H.264
//! packets out, with every mask's polygon filled solid black in between. The
//! hidden pixels never leave the site: the controller, and every viewer behind
//! it, only ever receive the re-encoded picture.
//!
//! [`Masker`] decodes with FFmpeg's H.264 decoder, copies each picture into a
//! frame of its own (the decoder keeps its pictures as references), fills the
//! masks' spans on every plane (Y black, U and V neutral), and encodes with
//! libx264 (`preset=ultrafast`, `tune=zerolatency`, no B-frames), forcing a
//! keyframe wherever the source had one so a viewer can start where the
//! original could. The interface the live path and playback share:
//!
//! ```text
//! Masker::new(input parameters, time base, &[PrivacyMask]) -> Result<Masker>
//! masker.output_parameters()        // the encoder's (avcC extradata: global header)
//! masker.push(&packet) -> Vec<Packet> // in the input's time base, stream index unset
//! masker.flush() -> Vec<Packet>     // at the end
//! ```
//!
//! Packets out carry timestamps in the same time base as the packets in (the
//! source's presentation times, decode order = presentation order).
//!
//! [`spans`] is the pure rasteriser (normalised polygon → pixel spans per row),
//! conservative: a pixel the polygon touches at its top edge, middle or bottom
//! edge, within the span's outer pixel bounds, is masked, so a mask never
//! leaves a sliver of the window it covers.

use camplane_config::model::PrivacyMask;
use ff::{codec, format, frame, picture, Rational};
use ffmpeg_next as ff;

/// What can go wrong masking video; the message names the step.
#[derive(Debug, thiserror::Error)]
#[error("privacy mask: {0}")]
pub struct MaskError(pub String);

/// This module's result.
pub type Result<T> = std::result::Result<T, MaskError>;

fn err(step: &str) -> impl Fn(ff::Error) -> MaskError + '_ {
    move |e| MaskError(format!("{step}: {e}"))
}

/// Pixels `x0..x1` (end exclusive) of row `y` are inside a mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The row.
    pub y: u32,
    /// First pixel.
    pub x0: u32,
    /// One past the last pixel.
    pub x1: u32,
}

/// The pixel spans a polygon (coordinates normalised to 0..1, `[x, y]` from
/// the top left) covers on a `width` × `height` plane, row by row, each row's
/// spans sorted and disjoint. Even-odd rule; fewer than 3 points cover
/// nothing; points outside the frame are clipped to it.
pub fn spans(polygon: &[[f64; 2]], width: u32, height: u32) -> Vec<Span> {
    if polygon.len() < 3 || width == 0 || height == 0 {
        return Vec::new();
    }
    let (w, h) = (f64::from(width), f64::from(height));
    let pts: Vec<(f64, f64)> = polygon
        .iter()
        .map(|[x, y]| (x.clamp(0.0, 1.0) * w, y.clamp(0.0, 1.0) * h))
        .collect();
    if pts.iter().any(|(x, y)| !x.is_finite() || !y.is_finite()) {
        return Vec::new();
    }
    let min_y = pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let max_y = pts.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let first = (min_y.floor().max(0.0)) as u32;
    let last = (max_y.ceil().min(h)) as u32;
    let mut out = Vec::new();
    let mut row: Vec<(u32, u32)> = Vec::new();
    let mut xs: Vec<f64> = Vec::new();
    for y in first..last {
        row.clear();
        let yf = f64::from(y);
        // Top edge, middle and bottom edge of the row: a polygon that touches
        // any of them covers the pixels it crosses there.
        for s in [yf, yf + 0.5, yf + 1.0] {
            xs.clear();
            for i in 0..pts.len() {
                let (a, b) = (pts[i], pts[(i + 1) % pts.len()]);
                let (lo, hi) = if a.1 <= b.1 { (a, b) } else { (b, a) };
                // Half-open in y, so a vertex between two edges counts once
                // and a horizontal edge not at all.
                if lo.1 <= s && s < hi.1 {
                    xs.push(lo.0 + (s - lo.1) * (hi.0 - lo.0) / (hi.1 - lo.1));
                }
            }
            // The polygon's bottom edge at the frame's bottom (s == h) is
            // reached by no half-open edge: sample just above it instead.
            if xs.is_empty() && s >= max_y && s > yf {
                let s = max_y - 1e-9;
                if s >= yf {
                    for i in 0..pts.len() {
                        let (a, b) = (pts[i], pts[(i + 1) % pts.len()]);
                        let (lo, hi) = if a.1 <= b.1 { (a, b) } else { (b, a) };
                        if lo.1 <= s && s < hi.1 {
                            xs.push(lo.0 + (s - lo.1) * (hi.0 - lo.0) / (hi.1 - lo.1));
                        }
                    }
                }
            }
            xs.sort_by(f64::total_cmp);
            for pair in xs.chunks_exact(2) {
                let x0 = pair[0].floor().clamp(0.0, w) as u32;
                let x1 = pair[1].ceil().clamp(0.0, w) as u32;
                if x1 > x0 {
                    row.push((x0, x1));
                }
            }
        }
        row.sort_unstable();
        let mut cur: Option<(u32, u32)> = None;
        for &(a, b) in &row {
            cur = match cur {
                Some((c0, c1)) if a <= c1 => Some((c0, c1.max(b))),
                Some((c0, c1)) => {
                    out.push(Span { y, x0: c0, x1: c1 });
                    Some((a, b))
                }
                None => Some((a, b)),
            };
        }
        if let Some((x0, x1)) = cur {
            out.push(Span { y, x0, x1 });
        }
    }
    out
}

/// The spans of every mask on a plane, in one list.
pub fn mask_spans(masks: &[PrivacyMask], width: u32, height: u32) -> Vec<Span> {
    masks
        .iter()
        .flat_map(|m| spans(&m.polygon, width, height))
        .collect()
}

/// Planar 8-bit YUV (or grey) formats the masker fills: (chroma shift x,
/// chroma shift y, planes, full range).
fn layout(p: format::Pixel) -> Option<(u32, u32, usize, bool)> {
    use format::Pixel as P;
    Some(match p {
        P::YUV420P => (1, 1, 3, false),
        P::YUVJ420P => (1, 1, 3, true),
        P::YUV422P => (1, 0, 3, false),
        P::YUVJ422P => (1, 0, 3, true),
        P::YUV444P => (0, 0, 3, false),
        P::YUVJ444P => (0, 0, 3, true),
        P::GRAY8 => (0, 0, 1, false),
        _ => return None,
    })
}

/// The spans of one picture size and format, per plane, with each plane's fill
/// value (computed once per size).
struct Planes {
    width: u32,
    height: u32,
    format: format::Pixel,
    /// (spans, value) per plane.
    fill: Vec<(Vec<Span>, u8)>,
}

impl Planes {
    fn new(masks: &[PrivacyMask], f: &frame::Video, full_range: bool) -> Result<Planes> {
        let (sx, sy, n, jpeg) = layout(f.format()).ok_or_else(|| {
            MaskError(format!(
                "pixel format {:?} is not one the masker fills (planar 8-bit YUV)",
                f.format()
            ))
        })?;
        let black = if jpeg || full_range { 0 } else { 16 };
        let (w, h) = (f.width(), f.height());
        let mut fill = vec![(mask_spans(masks, w, h), black)];
        if n == 3 {
            let (cw, ch) = (w.div_ceil(1 << sx), h.div_ceil(1 << sy));
            let c = mask_spans(masks, cw, ch);
            fill.push((c.clone(), 128));
            fill.push((c, 128));
        }
        Ok(Planes {
            width: w,
            height: h,
            format: f.format(),
            fill,
        })
    }

    fn fits(&self, f: &frame::Video) -> bool {
        f.width() == self.width && f.height() == self.height && f.format() == self.format
    }
}

/// Copies `src` into `out` (a frame of the masker's own, the same size and
/// format) and fills the masks there.
fn masked_copy(src: &frame::Video, planes: &Planes, out: &mut frame::Video) {
    for (i, (spans, value)) in planes.fill.iter().enumerate() {
        let (ss, ds) = (src.stride(i), out.stride(i));
        let rows = src.plane_height(i) as usize;
        let row_bytes = (src.plane_width(i) as usize).min(ss).min(ds);
        let s = src.data(i);
        let d = out.data_mut(i);
        for r in 0..rows {
            let (a, b) = (r * ss, r * ds);
            if a + row_bytes <= s.len() && b + row_bytes <= d.len() {
                d[b..b + row_bytes].copy_from_slice(&s[a..a + row_bytes]);
            }
        }
        for sp in spans {
            let at = sp.y as usize * ds;
            let (x0, x1) = (sp.x0 as usize, (sp.x1 as usize).min(row_bytes));
            if x1 > x0 && at + x1 <= d.len() {
                d[at + x0..at + x1].fill(*value);
            }
        }
    }
    out.set_pts(src.timestamp().or(src.pts()));
    out.set_color_range(src.color_range());
    out.set_color_space(src.color_space());
    out.set_color_primaries(src.color_primaries());
    out.set_color_transfer_characteristic(src.color_transfer_characteristic());
    // A keyframe wherever the source had one (x264 makes it an IDR).
    out.set_kind(if src.is_key() {
        picture::Type::I
    } else {
        picture::Type::None
    });
}

/// Options of a [`Masker`] beyond the interface's three arguments.
#[derive(Debug, Clone, Copy)]
pub struct MaskerOptions {
    /// The source's frame rate, for libx264's rate control (default 25/1).
    pub frame_rate: Rational,
    /// Longest distance between keyframes besides the source's own (default 250).
    pub gop: u32,
    /// SPS/PPS as extradata (avcC), as MP4 needs (default true); false repeats
    /// them in-band before every keyframe (MPEG-TS).
    pub global_header: bool,
    /// The source's bitrate in bits per second, when known: the masked stream is
    /// held to [`bit_rate_cap`] of it (default None: estimated from the picture
    /// size and frame rate).
    pub source_bit_rate: Option<u64>,
}

/// Bits per pixel of a surveillance H.264 stream at the high end, for a source
/// whose bitrate is unknown: 1080p at 25 fps is then 5.2 Mb/s, the top of the
/// 2-6 Mb/s camera makers quote for 1080p H.264 (hand-set from that range).
const UNKNOWN_SOURCE_BITS_PER_PIXEL: f64 = 0.1;

/// How much more than its source a masked stream may spend: libx264's ultrafast
/// preset spends more bits than a camera's encoder on the same picture, and the
/// masked areas cost next to nothing (hand-set; the test
/// `a_noisy_source_is_held_near_its_bitrate` checks a noise clip, which without
/// the cap came out at about 4x its source).
const CAP_OVER_SOURCE: f64 = 1.5;

/// The most a masked stream may spend, in bits per second: [`CAP_OVER_SOURCE`]
/// times its source's bitrate (or, unknown, the estimate from the picture size).
/// libx264 keeps to it with its VBV (a buffer of one second at that rate) on
/// top of its constant-quality default.
pub fn bit_rate_cap(source_bps: Option<u64>, width: u32, height: u32, frame_rate: Rational) -> u64 {
    let fps = if frame_rate.numerator() > 0 && frame_rate.denominator() > 0 {
        f64::from(frame_rate.numerator()) / f64::from(frame_rate.denominator())
    } else {
        25.0
    };
    let source = source_bps.filter(|b| *b > 0).map_or_else(
        || f64::from(width) * f64::from(height) * fps * UNKNOWN_SOURCE_BITS_PER_PIXEL,
        |b| b as f64,
    );
    (source * CAP_OVER_SOURCE).max(64_000.0) as u64
}

/// A file's mean bitrate (size over duration), when its duration is known.
fn file_bit_rate(path: &std::path::Path, ictx: &format::context::Input) -> Option<u64> {
    let bytes = std::fs::metadata(path).ok()?.len();
    let us = u64::try_from(ictx.duration()).ok().filter(|d| *d > 0)?;
    Some(bytes.saturating_mul(8).saturating_mul(1_000_000) / us)
}

/// [`file_bit_rate`] for callers that open the file themselves (playback).
pub fn source_bit_rate_of(path: &std::path::Path, ictx: &format::context::Input) -> Option<u64> {
    file_bit_rate(path, ictx)
}

impl Default for MaskerOptions {
    fn default() -> Self {
        MaskerOptions {
            frame_rate: Rational(25, 1),
            gop: 250,
            global_header: true,
            source_bit_rate: None,
        }
    }
}

/// Decodes H.264, fills the privacy masks black, encodes H.264 with libx264.
pub struct Masker {
    decoder: ff::decoder::Video,
    encoder: ff::encoder::video::Encoder,
    masks: Vec<PrivacyMask>,
    planes: Option<Planes>,
    decoded: frame::Video,
    /// The picture handed to the encoder, reused: libx264 copies each picture
    /// while `send_frame` runs, so the buffer is ours again when it returns.
    masked: Option<frame::Video>,
    /// Packets the decoder refused as corrupt (skipped).
    pub skipped: u64,
}

impl Masker {
    /// A masker for packets of a stream with `params` (H.264, or any codec
    /// FFmpeg decodes, as long as the pictures are planar 8-bit YUV) whose
    /// timestamps are in `time_base`.
    pub fn new(
        params: codec::Parameters,
        time_base: Rational,
        masks: &[PrivacyMask],
    ) -> Result<Masker> {
        Masker::with_options(params, time_base, masks, MaskerOptions::default())
    }

    /// [`Masker::new`] with options.
    pub fn with_options(
        params: codec::Parameters,
        time_base: Rational,
        masks: &[PrivacyMask],
        opts: MaskerOptions,
    ) -> Result<Masker> {
        crate::ffmpeg::init_ffmpeg();
        let dctx =
            codec::context::Context::from_parameters(params).map_err(err("decoder parameters"))?;
        let mut dec = dctx.decoder();
        dec.set_packet_time_base(time_base);
        let decoder = dec.video().map_err(err("opening the decoder"))?;
        let (w, h, fmt) = (decoder.width(), decoder.height(), decoder.format());
        if w == 0 || h == 0 {
            return Err(MaskError(
                "the input parameters have no picture size".into(),
            ));
        }
        if layout(fmt).is_none() && fmt != format::Pixel::None {
            return Err(MaskError(format!(
                "pixel format {fmt:?} is not one the masker fills (planar 8-bit YUV)"
            )));
        }
        let fmt = if fmt == format::Pixel::None {
            format::Pixel::YUV420P
        } else {
            fmt
        };
        let x264 = ff::encoder::find_by_name("libx264")
            .ok_or_else(|| MaskError("this FFmpeg has no libx264 encoder".into()))?;
        let mut enc = codec::context::Context::new_with_codec(x264)
            .encoder()
            .video()
            .map_err(err("libx264"))?;
        enc.set_width(w);
        enc.set_height(h);
        enc.set_format(fmt);
        enc.set_time_base(time_base);
        enc.set_frame_rate(Some(opts.frame_rate));
        enc.set_gop(opts.gop);
        enc.set_max_b_frames(0);
        enc.set_color_range(decoder.color_range());
        if opts.global_header {
            enc.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let mut o = ff::Dictionary::new();
        o.set("preset", "ultrafast");
        o.set("tune", "zerolatency");
        // A keyframe where the source had one is an IDR, where a viewer can start.
        o.set("forced-idr", "1");
        let kbps = bit_rate_cap(opts.source_bit_rate, w, h, opts.frame_rate) / 1000;
        o.set(
            "x264-params",
            &format!("vbv-maxrate={kbps}:vbv-bufsize={kbps}"),
        );
        let encoder = enc.open_as_with(x264, o).map_err(err("opening libx264"))?;
        Ok(Masker {
            decoder,
            encoder,
            masks: masks.to_vec(),
            planes: None,
            decoded: frame::Video::empty(),
            masked: None,
            skipped: 0,
        })
    }

    /// The encoded stream's parameters (H.264, the picture size, extradata
    /// with SPS and PPS when `global_header`): for the muxer's stream.
    pub fn output_parameters(&self) -> codec::Parameters {
        codec::Parameters::from(&self.encoder)
    }

    /// The encoder's time base (the input's).
    pub fn time_base(&self) -> Rational {
        self.encoder.time_base()
    }

    /// One packet in; the packets the encoder has ready out. A packet the
    /// decoder cannot read is skipped (counted in `skipped`).
    pub fn push(&mut self, packet: &ff::Packet) -> Result<Vec<ff::Packet>> {
        match self.decoder.send_packet(packet) {
            Ok(()) => {}
            Err(ff::Error::InvalidData) => {
                self.skipped += 1;
                return Ok(Vec::new());
            }
            Err(e) => return Err(err("decoding")(e)),
        }
        let mut out = Vec::new();
        self.drain_decoder(&mut out)?;
        Ok(out)
    }

    /// The end of the input: the pictures and packets still inside out.
    pub fn flush(&mut self) -> Result<Vec<ff::Packet>> {
        let _ = self.decoder.send_eof();
        let mut out = Vec::new();
        self.drain_decoder(&mut out)?;
        self.encoder.send_eof().map_err(err("ending the encode"))?;
        self.drain_encoder(&mut out)?;
        Ok(out)
    }

    fn drain_decoder(&mut self, out: &mut Vec<ff::Packet>) -> Result<()> {
        loop {
            match self.decoder.receive_frame(&mut self.decoded) {
                Ok(()) => {}
                Err(ff::Error::Eof) => return Ok(()),
                Err(ff::Error::Other { errno }) if errno == libc_eagain() => return Ok(()),
                Err(ff::Error::InvalidData) => {
                    self.skipped += 1;
                    continue;
                }
                Err(e) => return Err(err("decoding")(e)),
            }
            if !self.planes.as_ref().is_some_and(|p| p.fits(&self.decoded)) {
                if self.decoded.width() != self.encoder.width()
                    || self.decoded.height() != self.encoder.height()
                    || self.decoded.format() != self.encoder.format()
                {
                    return Err(MaskError(format!(
                        "the picture changed to {}x{} {:?} from {}x{} {:?}",
                        self.decoded.width(),
                        self.decoded.height(),
                        self.decoded.format(),
                        self.encoder.width(),
                        self.encoder.height(),
                        self.encoder.format()
                    )));
                }
                let full = self.decoded.color_range() == ff::util::color::Range::JPEG;
                self.planes = Some(Planes::new(&self.masks, &self.decoded, full)?);
            }
            let Some(planes) = &self.planes else {
                continue;
            };
            let masked = self.masked.get_or_insert_with(|| {
                frame::Video::new(planes.format, planes.width, planes.height)
            });
            masked_copy(&self.decoded, planes, masked);
            self.encoder.send_frame(masked).map_err(err("encoding"))?;
            self.drain_encoder(out)?;
        }
    }

    fn drain_encoder(&mut self, out: &mut Vec<ff::Packet>) -> Result<()> {
        loop {
            let mut p = ff::Packet::empty();
            match self.encoder.receive_packet(&mut p) {
                Ok(()) => out.push(p),
                Err(ff::Error::Eof) => return Ok(()),
                Err(ff::Error::Other { errno }) if errno == libc_eagain() => return Ok(()),
                Err(e) => return Err(err("encoding")(e)),
            }
        }
    }
}

/// One access unit of H.264 (Annex B) with its times, in and out of a
/// [`LiveMasker`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// Annex B bytes.
    pub data: Vec<u8>,
    /// Decode time (the stream's time base).
    pub dts: i64,
    /// Presentation time.
    pub pts: i64,
    /// A whole IDR picture (out: with its SPS and PPS in front).
    pub key: bool,
}

/// The live path's masker: access units as a camera sends them (Annex B,
/// SPS/PPS in-band before each keyframe) in, masked access units of the same
/// shape out (libx264 repeats SPS/PPS before every IDR, no global header), so
/// the live fMP4 writer takes them as it takes a camera's. The stream's size
/// and pixel format are learnt from its first keyframe (decoded once to
/// find them); until then units are dropped.
pub struct LiveMasker {
    masks: Vec<PrivacyMask>,
    time_base: Rational,
    source_bit_rate: Option<u64>,
    inner: Option<Masker>,
}

impl LiveMasker {
    /// A masker for a live stream whose times count `timescale` per second;
    /// `masks` are checked by the caller (`privacy_mask_problems`).
    pub fn new(timescale: u32, masks: &[PrivacyMask]) -> LiveMasker {
        LiveMasker {
            masks: masks.to_vec(),
            time_base: Rational(1, i32::try_from(timescale.max(1)).unwrap_or(90_000)),
            source_bit_rate: None,
            inner: None,
        }
    }

    /// The source's bitrate, when the caller has measured it (see
    /// [`MaskerOptions::source_bit_rate`]).
    pub fn with_source_bit_rate(mut self, bps: Option<u64>) -> LiveMasker {
        self.source_bit_rate = bps;
        self
    }

    fn packet(u: &Unit) -> ff::Packet {
        let mut p = ff::Packet::copy(&u.data);
        p.set_pts(Some(u.pts));
        p.set_dts(Some(u.dts));
        if u.key {
            p.set_flags(codec::packet::Flags::KEY);
        }
        p
    }

    /// The parameters of the stream a keyframe starts (H.264, its size and
    /// pixel format), found by decoding it.
    fn probe(&self, u: &Unit) -> Result<codec::Parameters> {
        crate::ffmpeg::init_ffmpeg();
        let h264 = ff::decoder::find(codec::Id::H264)
            .ok_or_else(|| MaskError("this FFmpeg has no H.264 decoder".into()))?;
        let mut dec = codec::context::Context::new_with_codec(h264).decoder();
        dec.set_packet_time_base(self.time_base);
        let mut dec = dec.video().map_err(err("opening the decoder"))?;
        dec.send_packet(&Self::packet(u))
            .map_err(err("decoding the first keyframe"))?;
        let _ = dec.send_eof();
        let mut f = frame::Video::empty();
        dec.receive_frame(&mut f)
            .map_err(err("decoding the first keyframe"))?;
        Ok(codec::Parameters::from(&dec))
    }

    /// One unit in; the masked units ready out (one per picture, at once:
    /// no B-frames, no lookahead).
    pub fn push(&mut self, u: &Unit) -> Result<Vec<Unit>> {
        if self.inner.is_none() {
            if !u.key {
                return Ok(Vec::new());
            }
            let params = self.probe(u)?;
            let opts = MaskerOptions {
                global_header: false,
                source_bit_rate: self.source_bit_rate,
                ..MaskerOptions::default()
            };
            self.inner = Some(Masker::with_options(
                params,
                self.time_base,
                &self.masks,
                opts,
            )?);
        }
        let Some(m) = self.inner.as_mut() else {
            return Ok(Vec::new());
        };
        Ok(m.push(&Self::packet(u))?
            .into_iter()
            .filter_map(|p| {
                let pts = p.pts().or(p.dts())?;
                Some(Unit {
                    data: p.data()?.to_vec(),
                    dts: p.dts().unwrap_or(pts),
                    pts,
                    key: p.is_key(),
                })
            })
            .collect())
    }

    /// Packets the decoder refused as corrupt (skipped).
    pub fn skipped(&self) -> u64 {
        self.inner.as_ref().map_or(0, |m| m.skipped)
    }
}

/// Re-encodes one recorded MPEG-TS segment with `masks` burned in, into `dst`
/// (MPEG-TS, SPS and PPS in-band), written beside it first and renamed: a
/// masked export's file. The original is left as it is.
pub fn mask_file(
    src: &std::path::Path,
    dst: &std::path::Path,
    masks: &[PrivacyMask],
) -> Result<()> {
    crate::ffmpeg::init_ffmpeg();
    let name = src.display().to_string();
    let mut ictx = format::input(&src).map_err(|e| MaskError(format!("{name}: {e}")))?;
    let source_bit_rate = file_bit_rate(src, &ictx);
    let (vi, tb, params, rate) = {
        let ist = ictx
            .streams()
            .best(ff::media::Type::Video)
            .ok_or_else(|| MaskError(format!("{name}: no video stream")))?;
        (
            ist.index(),
            ist.time_base(),
            ist.parameters(),
            ist.avg_frame_rate(),
        )
    };
    let mut m = Masker::with_options(
        params,
        tb,
        masks,
        MaskerOptions {
            frame_rate: if rate.numerator() > 0 && rate.denominator() > 0 {
                rate
            } else {
                MaskerOptions::default().frame_rate
            },
            global_header: false,
            source_bit_rate,
            ..MaskerOptions::default()
        },
    )?;
    let tmp = dst.with_extension(format!("tmp-{}", std::process::id()));
    let r = (|| {
        let mut octx = format::output_as(&tmp, "mpegts").map_err(err("mpegts output"))?;
        {
            let mut ost = octx
                .add_stream(ff::encoder::find(codec::Id::None))
                .map_err(err("mpegts stream"))?;
            ost.set_parameters(m.output_parameters());
            ost.set_time_base(tb);
        }
        octx.write_header().map_err(err("mpegts header"))?;
        let out_tb = octx.stream(0).map(|s| s.time_base()).unwrap_or(tb);
        let write = |mut p: ff::Packet, octx: &mut format::context::Output| {
            p.set_stream(0);
            p.set_position(-1);
            p.rescale_ts(tb, out_tb);
            p.write(octx).map_err(err("mpegts write"))
        };
        for (s, p) in ictx.packets() {
            if s.index() != vi {
                continue;
            }
            for o in m.push(&p)? {
                write(o, &mut octx)?;
            }
        }
        for o in m.flush()? {
            write(o, &mut octx)?;
        }
        octx.write_trailer().map_err(err("mpegts trailer"))?;
        std::fs::rename(&tmp, dst).map_err(|e| MaskError(format!("{}: {e}", dst.display())))
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// EAGAIN as FFmpeg reports it (`AVERROR(EAGAIN)` is `-EAGAIN`; ffmpeg-next
/// gives the positive errno).
fn libc_eagain() -> i32 {
    ff::util::error::EAGAIN
}

#[cfg(test)]
mod tests {
    use super::*;

    fn covered(s: &[Span], w: u32, h: u32) -> Vec<Vec<bool>> {
        let mut g = vec![vec![false; w as usize]; h as usize];
        for sp in s {
            for x in sp.x0..sp.x1 {
                g[sp.y as usize][x as usize] = true;
            }
        }
        g
    }

    #[test]
    fn a_rectangle_on_pixel_edges_is_exact() {
        // The left half of the top quarter of 320x240.
        let s = spans(
            &[[0.0, 0.0], [0.5, 0.0], [0.5, 0.25], [0.0, 0.25]],
            320,
            240,
        );
        assert_eq!(s.len(), 60);
        assert!(s.iter().enumerate().all(|(i, sp)| *sp
            == Span {
                y: i as u32,
                x0: 0,
                x1: 160
            }));
        // The whole frame, however the points go round.
        let all = spans(&[[0.0, 1.0], [1.0, 1.0], [1.0, 0.0], [0.0, 0.0]], 7, 5);
        assert_eq!(all.len(), 5);
        assert!(all.iter().all(|sp| sp.x0 == 0 && sp.x1 == 7));
    }

    #[test]
    fn partly_covered_pixels_are_masked() {
        // A rectangle from 1.5 to 3.5 pixels: pixels 1..=3 on rows 1..=3.
        let s = spans(
            &[[0.15, 0.15], [0.35, 0.15], [0.35, 0.35], [0.15, 0.35]],
            10,
            10,
        );
        let g = covered(&s, 10, 10);
        for (y, row) in g.iter().enumerate() {
            for (x, c) in row.iter().enumerate() {
                assert_eq!(*c, (1..=3).contains(&x) && (1..=3).contains(&y), "{x},{y}");
            }
        }
    }

    #[test]
    fn triangles_and_concave_shapes() {
        // A triangle: the apex row is narrow, the base row wide.
        let s = spans(&[[0.5, 0.0], [1.0, 1.0], [0.0, 1.0]], 100, 100);
        let first = s.iter().find(|sp| sp.y == 0).unwrap();
        assert!(first.x1 - first.x0 <= 3, "{first:?}");
        let last = s.iter().find(|sp| sp.y == 99).unwrap();
        assert!(last.x0 == 0 && last.x1 == 100, "{last:?}");
        // A U: two spans on its upper rows, one on its lower.
        let u = [
            [0.0, 0.0],
            [0.3, 0.0],
            [0.3, 0.5],
            [0.7, 0.5],
            [0.7, 0.0],
            [1.0, 0.0],
            [1.0, 1.0],
            [0.0, 1.0],
        ];
        let s = spans(&u, 10, 10);
        let row = |y| s.iter().filter(|sp| sp.y == y).copied().collect::<Vec<_>>();
        assert_eq!(
            row(2),
            vec![
                Span { y: 2, x0: 0, x1: 3 },
                Span {
                    y: 2,
                    x0: 7,
                    x1: 10
                }
            ]
        );
        assert_eq!(
            row(8),
            vec![Span {
                y: 8,
                x0: 0,
                x1: 10
            }]
        );
    }

    #[test]
    fn degenerate_and_outside_polygons() {
        assert!(spans(&[[0.0, 0.0], [1.0, 1.0]], 10, 10).is_empty());
        assert!(spans(&[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]], 0, 10).is_empty());
        assert!(spans(&[[f64::NAN, 0.0], [1.0, 0.0], [1.0, 1.0]], 10, 10).is_empty());
        // Points outside the frame are clipped to it.
        let s = spans(&[[-1.0, -1.0], [2.0, -1.0], [2.0, 2.0], [-1.0, 2.0]], 4, 3);
        assert_eq!(s.len(), 3);
        assert!(s.iter().all(|sp| sp.x0 == 0 && sp.x1 == 4));
        // Odd picture sizes stay inside.
        let s = spans(&[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]], 161, 121);
        assert!(s.iter().all(|sp| sp.x1 <= 161 && sp.y < 121));
    }

    /// Noise is what a re-encoder spends most on: a noisy clip of 500 kb/s,
    /// masked, stays within the cap (1.5x its source, plus the one second of
    /// VBV buffer over a 6 s clip), where libx264's constant-quality default
    /// alone came out at about 4x.
    #[test]
    fn a_noisy_source_is_held_near_its_bitrate() {
        crate::ffmpeg::init_ffmpeg();
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("noise.ts");
        let st = std::process::Command::new("ffmpeg")
            .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
            .arg("testsrc2=size=320x240:rate=25:duration=6,noise=alls=40:allf=t")
            .args([
                "-pix_fmt", "yuv420p", "-c:v", "libx264", "-b:v", "500k", "-maxrate", "500k",
                "-bufsize", "500k", "-g", "25", "-f", "mpegts",
            ])
            .arg(&src)
            .status()
            .expect("ffmpeg on PATH");
        assert!(st.success());
        let dst = dir.path().join("masked.ts");
        let mask = PrivacyMask {
            name: "corner".into(),
            polygon: vec![[0.0, 0.0], [0.2, 0.0], [0.2, 0.2], [0.0, 0.2]],
        };
        mask_file(&src, &dst, &[mask]).unwrap();
        let (a, b) = (
            std::fs::metadata(&src).unwrap().len() as f64,
            std::fs::metadata(&dst).unwrap().len() as f64,
        );
        assert!(
            b <= a * CAP_OVER_SOURCE * 7.0 / 6.0 * 1.1,
            "masked {b} bytes against a source of {a}"
        );
        assert_eq!(
            bit_rate_cap(None, 1920, 1080, Rational(25, 1)),
            7_776_000,
            "an unknown 1080p25 source: 0.1 bit per pixel, times 1.5"
        );
        assert_eq!(
            bit_rate_cap(Some(2_000_000), 1920, 1080, Rational(25, 1)),
            3_000_000
        );
    }

    /// A clip of 320x240 test pattern through the masker: decodable H.264 out,
    /// black inside the mask, the pattern outside, keyframes where the source
    /// had them.
    #[test]
    fn the_masker_burns_masks_into_h264() {
        crate::ffmpeg::init_ffmpeg();
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.ts");
        let st = std::process::Command::new("ffmpeg")
            .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
            .arg("testsrc=size=320x240:rate=25:duration=2")
            .args([
                "-pix_fmt", "yuv420p", "-c:v", "libx264", "-g", "25", "-bf", "2", "-f", "mpegts",
            ])
            .arg(&src)
            .status()
            .expect("ffmpeg on PATH");
        assert!(st.success());
        let mut ictx = format::input(&src).unwrap();
        let ist = ictx.streams().best(ff::media::Type::Video).unwrap();
        let (vi, tb) = (ist.index(), ist.time_base());
        let mask = PrivacyMask {
            name: "window".into(),
            polygon: vec![[0.0, 0.0], [0.5, 0.0], [0.5, 0.25], [0.0, 0.25]],
        };
        let mut m = Masker::with_options(
            ist.parameters(),
            tb,
            &[mask],
            MaskerOptions {
                global_header: false,
                ..Default::default()
            },
        )
        .unwrap();
        let mut out = Vec::new();
        let mut keys_in = 0;
        for (s, p) in ictx.packets() {
            if s.index() != vi {
                continue;
            }
            keys_in += usize::from(p.is_key());
            out.extend(m.push(&p).unwrap());
        }
        out.extend(m.flush().unwrap());
        assert_eq!(out.len(), 50, "one packet per picture");
        let keys_out = out.iter().filter(|p| p.is_key()).count();
        assert_eq!(keys_out, keys_in, "keyframes where the source had them");
        let mut raw = Vec::new();
        for p in &out {
            raw.extend_from_slice(p.data().unwrap());
        }
        let es = dir.path().join("out.h264");
        std::fs::write(&es, &raw).unwrap();
        let gray = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-f", "h264", "-i"])
            .arg(&es)
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
        // testsrc is bright and colourful outside.
        let outside: u64 = (100..240)
            .flat_map(|y| (0..320).map(move |x| (x, y)))
            .map(|(x, y)| u64::from(at(x, y)))
            .sum();
        assert!(outside / (140 * 320) > 40, "the pattern outside is gone");
    }
}
