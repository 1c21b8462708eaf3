//! Motion gating for reading video: where in a sampled frame the detector looks.
//! Pure: the caller hands frames (RGB), their times and the windows its tracks
//! predict ([`Watch`]); [`Motion::look`] says whether to read the whole frame, some
//! windows of it, or nothing, and which settled passes' windows moved.
//!
//! Each frame is brought down to a grid of `cell` x `cell` means of its grey
//! level and compared with the previous sampled frame's grid. Cells that changed
//! by more than `threshold` are motion; cells inside a pass's zone are taken out
//! (an unsettled pass's window is read; a settled one is held while its window
//! moves, its vehicle's motion being its own); what is left is grown by one cell, split
//! into connected groups (groups under `min_cells` are coding noise), and each
//! group's bounds, back in frame pixels and padded by `pad_px`, is a window. The
//! windows (the tracks' too) are merged where they overlap. A whole frame is read
//! every `full_every_ms` (the safety net: a plate that arrived between two frames
//! and stopped), on the first frame, and when the windows would cover more than
//! `full_share` of the frame (one whole look is then cheaper than many).

pub use super::track::Watch;

/// An axis-aligned window `[x0, y0, x1, y1]` in frame pixels, `x1`/`y1` exclusive.
pub type Window = [usize; 4];

/// How motion is found.
#[derive(Debug, Clone, PartialEq)]
pub struct MotionParams {
    /// Side, in frame pixels, of the grid's cells (8: a 1280x720 frame becomes
    /// 160x90; the smallest plate the reader reads, 8 px high characters on a
    /// plate about 40 px wide and 20 px high, still covers whole cells, and
    /// averaging 64 pixels takes H.264's coding noise down to about a grey level).
    pub cell: usize,
    /// Least change of a cell's mean grey level (0-255) that is motion. 12: above
    /// the coding noise of a still, textured background at the cameras' H.264
    /// quality (`alpr_video` prints the noise floor it measures beside it), below
    /// the contrast of a plate's edge against anything (a white plate on a dark
    /// body, or its dark characters, differ by far more than 12 over a cell).
    pub threshold: u8,
    /// Least cells (after growing by one) of a motion group: a lone changed cell
    /// grown is 9; 12 needs at least two changed cells side by side, which a plate
    /// moving its own length covers many times over.
    pub min_cells: usize,
    /// Pixels added on every side of a motion window: 32, the height of a
    /// 1280x720 frame's largest plates' characters (plates 40-300 px wide, as the
    /// seg_and_ocr street scenes), so a plate whose edge alone moved (or that
    /// moved less than a cell) is seen whole, with the detector's context.
    pub pad_px: usize,
    /// Share of the frame above which the whole frame is read instead of the
    /// windows: 0.5, where the windows' detector input reaches half the whole
    /// frame's, and the recognisers read the same lines either way.
    pub full_share: f32,
    /// A whole frame is read at least this often (ms), whatever moved: the safety
    /// net. 10 000: the `alpr_fps` default (2) reads every 500 ms, so one frame in
    /// 20; a vehicle stopped at a light (30 s and more) is looked at whole at
    /// least twice while it stands.
    pub full_every_ms: i64,
}

impl Default for MotionParams {
    fn default() -> Self {
        MotionParams {
            cell: 8,
            threshold: 12,
            min_cells: 12,
            pad_px: 32,
            full_share: 0.5,
            full_every_ms: 10_000,
        }
    }
}

/// Where to read a frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Look {
    /// The whole frame.
    Full,
    /// Only these windows (never empty).
    Windows(Vec<Window>),
    /// Nothing moved and no track is open: no detector call.
    Skip,
}

/// A frame brought down to a grid of its cells' mean grey levels.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Columns.
    pub w: usize,
    /// Rows.
    pub h: usize,
    /// Row-major means.
    pub cells: Vec<u8>,
}

/// The grid of cell-mean grey levels of a packed RGB frame (`w` x `h`, 3 bytes per
/// pixel); edge pixels that do not fill a cell are left out. Grey is (R + 2G + B) / 4.
pub fn grid(rgb: &[u8], w: usize, h: usize, cell: usize) -> Grid {
    let cell = cell.max(1);
    let (gw, gh) = (w / cell, h / cell);
    let mut sums = vec![0u32; gw * gh];
    if rgb.len() >= w * h * 3 {
        for y in 0..gh * cell {
            let row = &rgb[y * w * 3..(y * w + gw * cell) * 3];
            let out = &mut sums[(y / cell) * gw..(y / cell + 1) * gw];
            for (x, px) in row.chunks_exact(3).enumerate() {
                out[x / cell] += u32::from(px[0]) + 2 * u32::from(px[1]) + u32::from(px[2]);
            }
        }
    }
    let n = (4 * cell * cell) as u32;
    Grid {
        w: gw,
        h: gh,
        cells: sums.into_iter().map(|s| (s / n) as u8).collect(),
    }
}

/// Which cells changed by more than `threshold` between two grids of one size.
pub fn changed(prev: &Grid, cur: &Grid, threshold: u8) -> Vec<bool> {
    prev.cells
        .iter()
        .zip(&cur.cells)
        .map(|(a, b)| a.abs_diff(*b) > threshold)
        .collect()
}

/// The bounds, in cells `[x0, y0, x1, y1]` (exclusive ends), of the groups of set
/// cells after growing each set cell by one cell on every side (8-connected), each
/// with at least `min_cells` cells.
pub fn groups(mask: &[bool], w: usize, h: usize, min_cells: usize) -> Vec<Window> {
    let mut grown = vec![false; w * h];
    for y in 0..h {
        for x in 0..w {
            if mask[y * w + x] {
                for gy in y.saturating_sub(1)..(y + 2).min(h) {
                    for gx in x.saturating_sub(1)..(x + 2).min(w) {
                        grown[gy * w + gx] = true;
                    }
                }
            }
        }
    }
    let mut seen = vec![false; w * h];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..w * h {
        if !grown[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut b, mut n) = ([w, h, 0, 0], 0usize);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            n += 1;
            b = [b[0].min(x), b[1].min(y), b[2].max(x + 1), b[3].max(y + 1)];
            for ny in y.saturating_sub(1)..(y + 2).min(h) {
                for nx in x.saturating_sub(1)..(x + 2).min(w) {
                    let j = ny * w + nx;
                    if grown[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        if n >= min_cells {
            out.push(b);
        }
    }
    out
}

fn overlap(a: &Window, b: &Window) -> bool {
    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
}

/// Windows merged until none overlaps another (each merge is the two's bounds).
pub fn merge(mut ws: Vec<Window>) -> Vec<Window> {
    loop {
        let mut merged = false;
        'outer: for i in 0..ws.len() {
            for j in i + 1..ws.len() {
                if overlap(&ws[i], &ws[j]) {
                    let b = ws.swap_remove(j);
                    let a = &mut ws[i];
                    *a = [
                        a[0].min(b[0]),
                        a[1].min(b[1]),
                        a[2].max(b[2]),
                        a[3].max(b[3]),
                    ];
                    merged = true;
                    break 'outer;
                }
            }
        }
        if !merged {
            ws.sort_unstable();
            return ws;
        }
    }
}

/// `b` grown by `pad` on every side, within a `w` x `h` frame.
pub fn pad(b: Window, pad: usize, w: usize, h: usize) -> Window {
    [
        b[0].saturating_sub(pad),
        b[1].saturating_sub(pad),
        (b[2] + pad).min(w),
        (b[3] + pad).min(h),
    ]
}

fn area(b: &Window) -> usize {
    (b[2].saturating_sub(b[0])) * (b[3].saturating_sub(b[1]))
}

/// One camera's motion state: the previous sampled frame's grid and when the
/// whole frame was last read.
#[derive(Debug, Clone, Default)]
pub struct Motion {
    /// How motion is found.
    pub params: MotionParams,
    prev: Option<Grid>,
    last_full_ms: Option<i64>,
}

impl Motion {
    /// A camera's motion state with these settings.
    pub fn new(params: MotionParams) -> Motion {
        Motion {
            params,
            prev: None,
            last_full_ms: None,
        }
    }

    /// Where to read the frame at `at_ms` (`rgb`, `w` x `h`), given where the
    /// camera's open passes are expected (frame pixels): an unsettled pass's window
    /// is always read; the motion inside any pass's zone is the pass's own. Also
    /// says, per pass, whether anything moved in its window (false on a whole
    /// frame, which reads every pass).
    pub fn look(
        &mut self,
        at_ms: i64,
        rgb: &[u8],
        w: usize,
        h: usize,
        watches: &[Watch],
    ) -> (Look, Vec<bool>) {
        let still = vec![false; watches.len()];
        let p = &self.params;
        let cur = grid(rgb, w, h, p.cell);
        let prev = self.prev.replace(cur);
        let cur = self.prev.as_ref().unwrap_or_else(|| unreachable!());
        let due = self
            .last_full_ms
            .is_none_or(|t| at_ms - t >= p.full_every_ms || at_ms < t);
        let prev = match prev {
            Some(g) if !due && g.w == cur.w && g.h == cur.h => g,
            _ => {
                self.last_full_ms = Some(at_ms);
                return (Look::Full, still);
            }
        };
        let mut mask = changed(&prev, cur, p.threshold);
        let c = p.cell;
        // Cells wholly or partly inside a window.
        let (gw, gh) = (cur.w, cur.h);
        let cells = move |t: Window| {
            (t[1] / c..t[3].div_ceil(c).min(gh))
                .flat_map(move |y| (t[0] / c..t[2].div_ceil(c).min(gw)).map(move |x| (x, y)))
        };
        let moved: Vec<bool> = watches
            .iter()
            .map(|t| cells(t.window).any(|(x, y)| mask[y * gw + x]))
            .collect();
        for t in watches {
            for (x, y) in cells(t.zone) {
                mask[y * gw + x] = false;
            }
        }
        let mut ws: Vec<Window> = groups(&mask, cur.w, cur.h, p.min_cells)
            .into_iter()
            .map(|g| pad([g[0] * c, g[1] * c, g[2] * c, g[3] * c], p.pad_px, w, h))
            .collect();
        ws.extend(
            watches
                .iter()
                .filter(|t| !t.settled)
                .map(|t| {
                    let t = t.window;
                    [t[0].min(w), t[1].min(h), t[2].min(w), t[3].min(h)]
                })
                .filter(|t| area(t) > 0),
        );
        let ws = merge(ws);
        if ws.is_empty() {
            return (Look::Skip, moved);
        }
        let covered: usize = ws.iter().map(area).sum();
        if covered as f32 > p.full_share * (w * h) as f32 {
            self.last_full_ms = Some(at_ms);
            return (Look::Full, still);
        }
        (Look::Windows(ws), moved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A textured grey frame (a fixed pattern, like a road and kerb) with white
    /// rectangles drawn on it.
    fn frame(w: usize, h: usize, rects: &[Window]) -> Vec<u8> {
        let mut f = vec![0u8; w * h * 3];
        for y in 0..h {
            for x in 0..w {
                let v = 80 + ((x * 7 + y * 13) % 23) as u8;
                f[(y * w + x) * 3..(y * w + x) * 3 + 3].fill(v);
            }
        }
        for r in rects {
            for y in r[1]..r[3] {
                for x in r[0]..r[2] {
                    f[(y * w + x) * 3..(y * w + x) * 3 + 3].fill(250);
                }
            }
        }
        f
    }

    fn inside(outer: &Window, inner: &Window) -> bool {
        outer[0] <= inner[0] && outer[1] <= inner[1] && outer[2] >= inner[2] && outer[3] >= inner[3]
    }

    #[test]
    fn the_grid_holds_cell_means_of_grey() {
        let (w, h) = (16, 8);
        let mut f = vec![0u8; w * h * 3];
        for y in 0..h {
            for x in 8..w {
                f[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&[100, 200, 40]);
            }
        }
        let g = grid(&f, w, h, 8);
        assert_eq!((g.w, g.h), (2, 1));
        assert_eq!(g.cells, vec![0, 135], "(100 + 2 * 200 + 40) / 4");
        // Edge pixels short of a cell are left out; a short buffer reads as black.
        assert_eq!(grid(&f, 15, 8, 8).w, 1);
        assert_eq!(grid(&f[..10], w, h, 8).cells, vec![0, 0]);
    }

    #[test]
    fn the_first_frame_is_read_whole_and_then_nothing_when_nothing_moves() {
        let mut m = Motion::default();
        let f = frame(320, 240, &[]);
        assert_eq!(m.look(0, &f, 320, 240, &[]).0, Look::Full);
        assert_eq!(m.look(500, &f, 320, 240, &[]).0, Look::Skip);
        assert_eq!(m.look(1000, &f, 320, 240, &[]).0, Look::Skip);
    }

    #[test]
    fn a_moving_plate_is_one_padded_window_over_both_places() {
        let mut m = Motion::default();
        let (w, h) = (640, 360);
        let a = [100, 100, 180, 130];
        let b = [140, 104, 220, 134];
        m.look(0, &frame(w, h, &[a]), w, h, &[]);
        let Look::Windows(ws) = m.look(500, &frame(w, h, &[b]), w, h, &[]).0 else {
            panic!("expected windows")
        };
        assert_eq!(ws.len(), 1, "{ws:?}");
        assert!(inside(&ws[0], &b), "{ws:?} holds the plate's new place");
        assert!(
            ws[0][0] + 32 <= b[0] + 8 && ws[0][3] >= b[3] + 24,
            "padded: {ws:?}"
        );
        assert!(area(&ws[0]) < w * h / 8, "a window, not the frame: {ws:?}");
    }

    #[test]
    fn two_plates_far_apart_are_two_windows_and_near_ones_merge() {
        let mut m = Motion::default();
        let (w, h) = (640, 360);
        m.look(0, &frame(w, h, &[]), w, h, &[]);
        let far = [[40, 40, 100, 60], [500, 280, 560, 300]];
        let Look::Windows(ws) = m.look(500, &frame(w, h, &far), w, h, &[]).0 else {
            panic!()
        };
        assert_eq!(ws.len(), 2, "{ws:?}");
        assert!(inside(&ws[0], &far[0]) && inside(&ws[1], &far[1]), "{ws:?}");
        // Within two pads of each other: one window.
        let near = [[40, 40, 100, 60], [120, 40, 180, 60]];
        m.look(1000, &frame(w, h, &[]), w, h, &[]);
        let Look::Windows(ws) = m.look(1500, &frame(w, h, &near), w, h, &[]).0 else {
            panic!()
        };
        assert!(
            ws.iter()
                .any(|x| inside(x, &near[1]) && inside(x, &near[0])),
            "{ws:?}"
        );
    }

    #[test]
    fn noise_under_the_threshold_and_lone_cells_are_not_motion() {
        let mut m = Motion::default();
        let (w, h) = (320, 240);
        let f = frame(w, h, &[]);
        m.look(0, &f, w, h, &[]);
        // Every pixel brighter by 10: under the threshold.
        let brighter: Vec<u8> = f.iter().map(|v| v + 10).collect();
        assert_eq!(m.look(500, &brighter, w, h, &[]).0, Look::Skip);
        // One changed cell: a speck of noise, not a plate.
        let speck = frame(w, h, &[[160, 160, 168, 168]]);
        m.look(1000, &brighter, w, h, &[]);
        assert_eq!(m.look(1500, &speck, w, h, &[]).0, Look::Skip);
    }

    #[test]
    fn the_whole_frame_is_read_every_safety_interval_and_when_most_of_it_moved() {
        let mut m = Motion::default();
        let (w, h) = (320, 240);
        let f = frame(w, h, &[]);
        assert_eq!(m.look(0, &f, w, h, &[]).0, Look::Full);
        assert_eq!(m.look(9_999, &f, w, h, &[]).0, Look::Skip);
        assert_eq!(m.look(10_000, &f, w, h, &[]).0, Look::Full);
        assert_eq!(m.look(10_500, &f, w, h, &[]).0, Look::Skip);
        // A clock going back (a reconnect) reads whole.
        assert_eq!(m.look(5_000, &f, w, h, &[]).0, Look::Full);
        // Most of the frame changed (a light switched on): whole.
        let lit = frame(w, h, &[[0, 0, 300, 200]]);
        assert_eq!(m.look(5_500, &lit, w, h, &[]).0, Look::Full);
        // A new size (the camera's stream changed): whole.
        let small = frame(160, 120, &[]);
        assert_eq!(m.look(6_000, &small, 160, 120, &[]).0, Look::Full);
    }

    #[test]
    fn a_tracks_window_is_looked_at_and_its_motion_is_its_own() {
        let mut m = Motion::default();
        let (w, h) = (640, 360);
        let a = [100, 100, 180, 130];
        let b = [140, 100, 220, 130];
        m.look(0, &frame(w, h, &[a]), w, h, &[]);
        // The track predicts the plate's move: its window covers both places.
        let t = [80, 84, 240, 146];
        assert_eq!(
            m.look(500, &frame(w, h, &[b]), w, h, &[reading(t)]),
            (Look::Windows(vec![t]), vec![true])
        );
        // Nothing moved, the track still open: only its window is looked at.
        assert_eq!(
            m.look(1000, &frame(w, h, &[b]), w, h, &[reading(t)]),
            (Look::Windows(vec![t]), vec![false])
        );
        // A window reaching past the frame is cut to it.
        assert_eq!(
            m.look(
                1500,
                &frame(w, h, &[b]),
                w,
                h,
                &[reading([600, 300, 700, 400])]
            ),
            (Look::Windows(vec![[600, 300, 640, 360]]), vec![false])
        );
    }

    fn reading(t: Window) -> Watch {
        Watch {
            window: t,
            zone: t,
            settled: false,
        }
    }

    #[test]
    fn a_settled_pass_is_not_read_and_its_vehicles_motion_is_its_own() {
        let mut m = Motion::default();
        let (w, h) = (640, 360);
        // A vehicle (dark) with its plate (white), moving right.
        let car = |x: usize| {
            let mut f = frame(w, h, &[[x, 100, x + 80, 130]]);
            for y in 60..140 {
                for xx in (x - 60)..(x + 140) {
                    if !(100..130).contains(&y) || !(x..x + 80).contains(&xx) {
                        f[(y * w + xx) * 3..(y * w + xx) * 3 + 3].fill(20);
                    }
                }
            }
            f
        };
        m.look(0, &car(100), w, h, &[]);
        let held = Watch {
            window: [80, 70, 260, 160],
            zone: [0, 0, 460, 190],
            settled: true,
        };
        assert_eq!(
            m.look(500, &car(140), w, h, std::slice::from_ref(&held)),
            (Look::Skip, vec![true]),
            "moved, not read, no other window"
        );
        assert_eq!(
            m.look(1000, &car(140), w, h, std::slice::from_ref(&held)),
            (Look::Skip, vec![false]),
            "stood still"
        );
        // Motion outside its zone is read.
        let (look, moved) = m.look(1500, &frame(w, h, &[[500, 300, 560, 320]]), w, h, &[held]);
        assert_eq!(moved, vec![true], "the car left its window");
        let Look::Windows(ws) = look else {
            panic!("{look:?}")
        };
        assert!(ws.iter().all(|x| x[0] >= 400), "{ws:?}");
    }

    #[test]
    fn merging_leaves_no_overlap() {
        let ws = merge(vec![
            [0, 0, 10, 10],
            [5, 5, 20, 20],
            [19, 19, 30, 30],
            [40, 0, 50, 5],
        ]);
        assert_eq!(ws, vec![[0, 0, 30, 30], [40, 0, 50, 5]]);
        assert_eq!(pad([5, 5, 10, 10], 8, 12, 100), [0, 0, 12, 18]);
    }
}
