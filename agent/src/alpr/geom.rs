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
