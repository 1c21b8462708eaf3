//! Geometry for text detection: connected regions of the probability map, their
//! minimum-area rectangles, and sampling an oriented crop out of an image.

/// A point in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Pt {
    /// x, rightwards.
    pub x: f32,
    /// y, downwards.
    pub y: f32,
}

/// An oriented rectangle: centre, unit width direction `u` (closest to horizontal,
/// pointing right), half width along `u` and half height along `v = (-u.y, u.x)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RotRect {
    /// Centre.
    pub c: Pt,
    /// Unit vector along the width.
    pub u: Pt,
    /// Half the width.
    pub hw: f32,
    /// Half the height.
    pub hh: f32,
}

impl RotRect {
    /// Corners: top-left, top-right, bottom-right, bottom-left.
    pub fn corners(&self) -> [Pt; 4] {
        let v = Pt {
            x: -self.u.y,
            y: self.u.x,
        };
        let p = |a: f32, b: f32| Pt {
            x: self.c.x + a * self.hw * self.u.x + b * self.hh * v.x,
            y: self.c.y + a * self.hw * self.u.y + b * self.hh * v.y,
        };
        [p(-1.0, -1.0), p(1.0, -1.0), p(1.0, 1.0), p(-1.0, 1.0)]
    }
    /// Grows each side outwards by `d`.
    pub fn grow(&self, d: f32) -> RotRect {
        RotRect {
            hw: self.hw + d,
            hh: self.hh + d,
            ..*self
        }
    }
    /// Width (along `u`).
    pub fn width(&self) -> f32 {
        2.0 * self.hw
    }
    /// Height (across `u`).
    pub fn height(&self) -> f32 {
        2.0 * self.hh
    }
}

/// Axis-aligned bounds of points: (x0, y0, x1, y1).
pub fn bounds(pts: &[Pt]) -> (f32, f32, f32, f32) {
    let mut b = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for p in pts {
        b.0 = b.0.min(p.x);
        b.1 = b.1.min(p.y);
        b.2 = b.2.max(p.x);
        b.3 = b.3.max(p.y);
    }
    b
}

/// Convex hull (Andrew's monotone chain), counter-clockwise, no repeated end point.
pub fn convex_hull(mut pts: Vec<Pt>) -> Vec<Pt> {
    pts.sort_by(|a, b| a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y)));
    pts.dedup();
    if pts.len() < 3 {
        return pts;
    }
    let cross = |o: Pt, a: Pt, b: Pt| (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
    let half = |it: &mut dyn Iterator<Item = Pt>| {
        let mut h: Vec<Pt> = Vec::new();
        for p in it {
            while h.len() >= 2 && cross(h[h.len() - 2], h[h.len() - 1], p) <= 0.0 {
                h.pop();
            }
            h.push(p);
        }
        h.pop();
        h
    };
    let mut lower = half(&mut pts.iter().copied());
    let upper = half(&mut pts.iter().rev().copied());
    lower.extend(upper);
    lower
}

/// Minimum-area rectangle around points (rotating the hull's edges), oriented so
/// the width direction is the one nearest to horizontal.
pub fn min_area_rect(pts: &[Pt]) -> Option<RotRect> {
    let hull = convex_hull(pts.to_vec());
    if hull.is_empty() {
        return None;
    }
    let mut best: Option<(f32, RotRect)> = None;
    let n = hull.len();
    let mut dirs: Vec<Pt> = Vec::with_capacity(n + 1);
    dirs.push(Pt { x: 1.0, y: 0.0 });
    for i in 0..n {
        let (a, b) = (hull[i], hull[(i + 1) % n]);
        let (dx, dy) = (b.x - a.x, b.y - a.y);
        let l = (dx * dx + dy * dy).sqrt();
        if l > 1e-6 {
            dirs.push(Pt {
                x: dx / l,
                y: dy / l,
            });
        }
    }
    for u in dirs {
        let v = Pt { x: -u.y, y: u.x };
        let (mut a0, mut a1, mut b0, mut b1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for p in &hull {
            let a = p.x * u.x + p.y * u.y;
            let b = p.x * v.x + p.y * v.y;
            a0 = a0.min(a);
            a1 = a1.max(a);
            b0 = b0.min(b);
            b1 = b1.max(b);
        }
        let area = (a1 - a0) * (b1 - b0);
        if best.as_ref().is_none_or(|(ba, _)| area < *ba - 1e-3) {
            let (ca, cb) = ((a0 + a1) / 2.0, (b0 + b1) / 2.0);
            let c = Pt {
                x: ca * u.x + cb * v.x,
                y: ca * u.y + cb * v.y,
            };
            best = Some((area, orient(c, u, (a1 - a0) / 2.0, (b1 - b0) / 2.0)));
        }
    }
    best.map(|(_, r)| r)
}

/// Rotates the frame so `u` is the axis nearest horizontal, pointing right.
fn orient(c: Pt, u: Pt, hu: f32, hv: f32) -> RotRect {
    let v = Pt { x: -u.y, y: u.x };
    let (mut u, mut hw, mut hh) = (u, hu, hv);
    if v.x.abs() > u.x.abs() {
        u = v;
        hw = hv;
        hh = hu;
    }
    if u.x < 0.0 {
        u = Pt { x: -u.x, y: -u.y };
    }
    RotRect { c, u, hw, hh }
}

/// One connected region of a binary map.
#[derive(Debug, Clone)]
pub struct Region {
    /// Its boundary pixels (as points at the pixel positions).
    pub boundary: Vec<Pt>,
    /// Mean probability over its pixels.
    pub score: f32,
    /// Pixel count.
    pub area: usize,
}

/// 8-connected regions of `prob > thresh` (after a 2x2 dilation, as PP-OCR's DB
/// post-processing does), at most `max_regions`, largest first.
pub fn regions(prob: &[f32], w: usize, h: usize, thresh: f32, max_regions: usize) -> Vec<Region> {
    let mut bin = vec![false; w * h];
    for y in 0..h {
        for x in 0..w {
            // 2x2 dilation: a pixel is set if it or its left/up neighbours are.
            let on = |xx: usize, yy: usize| prob[yy * w + xx] > thresh;
            bin[y * w + x] = on(x, y)
                || (x > 0 && on(x - 1, y))
                || (y > 0 && on(x, y - 1))
                || (x > 0 && y > 0 && on(x - 1, y - 1));
        }
    }
    let mut seen = vec![false; w * h];
    let mut out = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    for start in 0..w * h {
        if !bin[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut sum, mut area) = (0.0f32, 0usize);
        let mut boundary = Vec::new();
        while let Some(i) = stack.pop() {
            let (x, y) = ((i % w) as isize, (i / w) as isize);
            sum += prob[i];
            area += 1;
            let mut edge = false;
            for dy in -1..=1isize {
                for dx in -1..=1isize {
                    if dx == 0 && dy == 0 {
                        continue;
                    }
                    let (nx, ny) = (x + dx, y + dy);
                    if nx < 0 || ny < 0 || nx >= w as isize || ny >= h as isize {
                        edge = true;
                        continue;
                    }
                    let j = ny as usize * w + nx as usize;
                    if !bin[j] {
                        edge = true;
                    } else if !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
            if edge {
                boundary.push(Pt {
                    x: x as f32,
                    y: y as f32,
                });
            }
        }
        out.push(Region {
            boundary,
            score: sum / area as f32,
            area,
        });
    }
    out.sort_by_key(|r| std::cmp::Reverse(r.area));
    out.truncate(max_regions);
    out
}

/// An RGB image, 8 bits per channel, rows top to bottom.
#[derive(Debug, Clone)]
pub struct Rgb<'a> {
    /// Width in pixels.
    pub w: usize,
    /// Height in pixels.
    pub h: usize,
    /// `w * h * 3` bytes.
    pub data: &'a [u8],
}

impl Rgb<'_> {
    /// Bilinear sample of channel `ch` at (x, y), pixel centres at integer + 0.5.
    #[inline]
    pub fn sample(&self, x: f32, y: f32, out: &mut [f32; 3]) {
        let fx = (x - 0.5).clamp(0.0, (self.w - 1) as f32);
        let fy = (y - 0.5).clamp(0.0, (self.h - 1) as f32);
        let (x0, y0) = (fx as usize, fy as usize);
        let (x1, y1) = ((x0 + 1).min(self.w - 1), (y0 + 1).min(self.h - 1));
        let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
        let px = |xx: usize, yy: usize, c: usize| self.data[(yy * self.w + xx) * 3 + c] as f32;
        for (c, o) in out.iter_mut().enumerate() {
            let top = px(x0, y0, c) * (1.0 - ax) + px(x1, y0, c) * ax;
            let bot = px(x0, y1, c) * (1.0 - ax) + px(x1, y1, c) * ax;
            *o = top * (1.0 - ay) + bot * ay;
        }
    }
}

/// Samples the parallelogram `tl, tr, bl` (top-left, top-right, bottom-left corners in
/// the image) into a `tw x th` planar BGR tensor slice, normalised as PP-OCR wants
/// (`(v/255 - 0.5) / 0.5`). `stride` is the tensor's row width (>= `tw`); planes are
/// `th * stride` apart. Supersamples when shrinking so small text keeps its strokes.
#[allow(clippy::too_many_arguments)]
pub fn sample_quad(
    img: &Rgb<'_>,
    tl: Pt,
    tr: Pt,
    bl: Pt,
    tw: usize,
    th: usize,
    stride: usize,
    out: &mut [f32],
) {
    let ex = Pt {
        x: (tr.x - tl.x) / tw as f32,
        y: (tr.y - tl.y) / tw as f32,
    };
    let ey = Pt {
        x: (bl.x - tl.x) / th as f32,
        y: (bl.y - tl.y) / th as f32,
    };
    let step = (ex.x.hypot(ex.y)).max(ey.x.hypot(ey.y));
    // Bilinear alone is fine down to half size; below that, average ss x ss samples.
    let ss = ((step / 1.5).ceil() as usize).clamp(1, 4);
    let inv = 1.0 / (ss * ss) as f32;
    let plane = th * stride;
    let mut px = [0f32; 3];
    for j in 0..th {
        for i in 0..tw {
            let mut acc = [0f32; 3];
            for sj in 0..ss {
                for si in 0..ss {
                    let a = i as f32 + (si as f32 + 0.5) / ss as f32;
                    let b = j as f32 + (sj as f32 + 0.5) / ss as f32;
                    let x = tl.x + a * ex.x + b * ey.x;
                    let y = tl.y + a * ex.y + b * ey.y;
                    img.sample(x, y, &mut px);
                    acc[0] += px[0];
                    acc[1] += px[1];
                    acc[2] += px[2];
                }
            }
            let k = j * stride + i;
            // BGR planes, as the PP-OCR models were trained (OpenCV order).
            out[k] = (acc[2] * inv / 255.0 - 0.5) / 0.5;
            out[plane + k] = (acc[1] * inv / 255.0 - 0.5) / 0.5;
            out[2 * plane + k] = (acc[0] * inv / 255.0 - 0.5) / 0.5;
        }
    }
}

/// Per-channel normalisation of a model input: `(v / 255 - mean) / std`, channels in
/// the model's BGR order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Norm {
    /// Means, B G R.
    pub mean: [f32; 3],
    /// Standard deviations, B G R.
    pub std: [f32; 3],
}

impl Norm {
    /// PP-OCR detection (ImageNet statistics, applied to the BGR image as PaddleOCR does).
    pub const DET: Norm = Norm {
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
    };
}

/// Resampling taps of one output coordinate: first source index and weights.
fn taps(src: usize, dst: usize, from: f32, to: f32) -> Vec<(usize, Vec<f32>)> {
    let scale = (to - from) / dst as f32; // source pixels per output pixel
    let mut out = Vec::with_capacity(dst);
    for i in 0..dst {
        if scale > 1.0 {
            // Area average over [a, b).
            let a = (from + i as f32 * scale).clamp(0.0, src as f32);
            let b = (from + (i + 1) as f32 * scale).clamp(0.0, src as f32);
            let first = (a.floor() as usize).min(src - 1);
            let last = ((b.ceil() as usize).max(first + 1)).min(src);
            let mut w: Vec<f32> = (first..last)
                .map(|k| (b.min(k as f32 + 1.0) - a.max(k as f32)).max(0.0))
                .collect();
            let s: f32 = w.iter().sum();
            if s > 0.0 {
                w.iter_mut().for_each(|v| *v /= s);
            } else {
                w = vec![1.0];
            }
            out.push((first, w));
        } else {
            // Bilinear, pixel centres at integer + 0.5.
            let x = (from + (i as f32 + 0.5) * scale - 0.5).clamp(0.0, (src - 1) as f32);
            let x0 = x.floor() as usize;
            let t = x - x0 as f32;
            if x0 + 1 < src && t > 0.0 {
                out.push((x0, vec![1.0 - t, t]));
            } else {
                out.push((x0, vec![1.0]));
            }
        }
    }
    out
}

/// Resizes the axis-aligned window `(x0, y0, x1, y1)` of `img` to `tw x th` (area
/// averaging when shrinking, bilinear when growing) into a planar BGR tensor normalised
/// by `norm`; `out` holds `3 * tw * th` values. Separable, so a 1280x720 frame takes a
/// few milliseconds.
pub fn resize_window(
    img: &Rgb<'_>,
    window: (f32, f32, f32, f32),
    tw: usize,
    th: usize,
    norm: Norm,
    out: &mut [f32],
) {
    let (x0, y0, x1, y1) = window;
    let xt = taps(img.w, tw, x0, x1);
    let yt = taps(img.h, th, y0, y1);
    // Rows needed: the union of the vertical taps.
    let r0 = yt.first().map_or(0, |t| t.0);
    let r1 = yt
        .iter()
        .map(|t| t.0 + t.1.len())
        .max()
        .unwrap_or(0)
        .min(img.h);
    // Horizontal pass on the rows needed, interleaved RGB.
    let mut tmp = vec![0f32; (r1 - r0) * tw * 3];
    for y in r0..r1 {
        let row = &img.data[y * img.w * 3..(y + 1) * img.w * 3];
        let dst = &mut tmp[(y - r0) * tw * 3..(y - r0 + 1) * tw * 3];
        for (i, (first, w)) in xt.iter().enumerate() {
            let mut acc = [0f32; 3];
            for (k, &wk) in w.iter().enumerate() {
                let p = (first + k) * 3;
                acc[0] += wk * row[p] as f32;
                acc[1] += wk * row[p + 1] as f32;
                acc[2] += wk * row[p + 2] as f32;
            }
            dst[i * 3..i * 3 + 3].copy_from_slice(&acc);
        }
    }
    // Vertical pass, then normalise into BGR planes.
    let plane = tw * th;
    let scale: [f32; 3] = std::array::from_fn(|c| 1.0 / (255.0 * norm.std[c]));
    let bias: [f32; 3] = std::array::from_fn(|c| norm.mean[c] / norm.std[c]);
    let mut acc = vec![0f32; tw * 3];
    for (j, (first, w)) in yt.iter().enumerate() {
        acc.iter_mut().for_each(|v| *v = 0.0);
        for (k, &wk) in w.iter().enumerate() {
            let src = &tmp[(first + k - r0) * tw * 3..(first + k - r0 + 1) * tw * 3];
            for (a, s) in acc.iter_mut().zip(src) {
                *a += wk * s;
            }
        }
        for i in 0..tw {
            let k = j * tw + i;
            // acc is RGB; planes are B, G, R.
            out[k] = acc[i * 3 + 2] * scale[0] - bias[0];
            out[plane + k] = acc[i * 3 + 1] * scale[1] - bias[1];
            out[2 * plane + k] = acc[i * 3] * scale[2] - bias[2];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planes(img: &Rgb<'_>, window: (f32, f32, f32, f32), tw: usize, th: usize) -> Vec<f32> {
        let mut out = vec![0f32; 3 * tw * th];
        let unit = Norm {
            mean: [0.0; 3],
            std: [1.0; 3],
        };
        resize_window(img, window, tw, th, unit, &mut out);
        out.iter().map(|v| v * 255.0).collect()
    }

    #[test]
    fn shrinking_averages_areas_and_keeps_bgr_planes() {
        // 4x2 image, columns alternate black and white, red channel only.
        let mut data = vec![0u8; 4 * 2 * 3];
        for y in 0..2 {
            for x in [1usize, 3] {
                data[(y * 4 + x) * 3] = 200;
            }
        }
        let img = Rgb {
            w: 4,
            h: 2,
            data: &data,
        };
        let out = planes(&img, (0.0, 0.0, 4.0, 2.0), 2, 1);
        // Planes B, G, R: red lands in the third plane, averaged to 100.
        assert_eq!(&out[..4], &[0.0, 0.0, 0.0, 0.0]);
        assert!((out[4] - 100.0).abs() < 1e-3 && (out[5] - 100.0).abs() < 1e-3);
    }

    #[test]
    fn growing_a_window_interpolates_between_pixel_centres() {
        // 2x1 image: left pixel 0, right 255 (all channels); window is the right pixel.
        let data = [0u8, 0, 0, 255, 255, 255];
        let img = Rgb {
            w: 2,
            h: 1,
            data: &data,
        };
        // Right half of the window lies past the last pixel centre: clamped to it.
        let out = planes(&img, (1.0, 0.0, 2.0, 1.0), 4, 2);
        assert!(out[0] < out[1] && out[1] < 255.0, "{out:?}");
        assert!((out[2] - 255.0).abs() < 1e-3 && (out[7] - 255.0).abs() < 1e-3);
        let out = planes(&img, (0.0, 0.0, 2.0, 1.0), 4, 1);
        assert!(out[0] < 1.0 && out[3] > 254.0 && out[1] < out[2], "{out:?}");
    }

    #[test]
    fn detection_normalisation_matches_paddle() {
        let data = [255u8, 128, 0];
        let img = Rgb {
            w: 1,
            h: 1,
            data: &data,
        };
        let mut out = [0f32; 3];
        resize_window(&img, (0.0, 0.0, 1.0, 1.0), 1, 1, Norm::DET, &mut out);
        // B plane holds blue (0), R plane red (255).
        assert!((out[0] - (0.0 - 0.485) / 0.229).abs() < 1e-4);
        assert!((out[1] - (128.0 / 255.0 - 0.456) / 0.224).abs() < 1e-4);
        assert!((out[2] - (1.0 - 0.406) / 0.225).abs() < 1e-4);
    }
}
