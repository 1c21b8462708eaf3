//! Merging reads of one vehicle pass across frames: reads are tied to tracks by box
//! overlap or similar text, and a track that has not been seen for `max_gap_ms`
//! becomes one read, its text voted over its frames ([`super::plate::vote`]) and its
//! best frame kept for the crop. A vehicle that stops is stored once: its pass ends
//! when nothing moves there, and the passes the whole-frame reads make of it while it
//! stands are not stored again (see [`Tracker::linger_ms`]). Pure: frame times come
//! from the caller.

use super::plate;
use super::PlateRead;

/// One plate pass merged over frames.
#[derive(Debug, Clone, PartialEq)]
pub struct MergedRead {
    /// Voted text.
    pub text: String,
    /// Voting confidence in [0, 1].
    pub confidence: f32,
    /// Frames that contributed.
    pub frames: usize,
    /// First and last frame time, ms.
    pub first_ms: i64,
    /// Last frame time, ms.
    pub last_ms: i64,
    /// Frame time and box of the most confident read (for the stored crop).
    pub best_frame_ms: i64,
    /// Box of that read.
    pub best_box: [i64; 4],
}

#[derive(Debug, Clone)]
struct Track {
    reads: Vec<(String, f32)>,
    /// The read before the last one: (frame ms, box), for the track's velocity.
    prev: Option<(i64, [i64; 4])>,
    last_box: [i64; 4],
    first_box: [i64; 4],
    first_ms: i64,
    last_ms: i64,
    best: (f32, i64, [i64; 4]),
}

/// A stored pass whose plate stood still when it ended: the place of a vehicle that
/// stopped (at a light, parked), held for [`Tracker::linger_ms`] after it was last seen.
#[derive(Debug, Clone)]
struct Standing {
    text: String,
    last_box: [i64; 4],
    last_ms: i64,
}

/// Least overlap of a new pass's first box with a standing plate's box for the two to
/// be one vehicle that never left: boxes of one still plate differ by the detector's
/// jitter only (a few pixels), while a vehicle pulling into the same place overlaps
/// it far less at first.
const STAND_IOU: f32 = 0.5;

impl Track {
    /// Whether the plate stood still at the end: its last two boxes at most a quarter
    /// of the plate's height apart (detector jitter, a vehicle creeping at a few
    /// pixels a frame), at least 2 px.
    fn stood_still(&self) -> bool {
        let Some((_, p)) = self.prev else {
            return false;
        };
        let b = self.last_box;
        let tol = (b[3] / 4).max(2);
        (b[0] - p[0]).abs() <= tol && (b[1] - p[1]).abs() <= tol
    }

    /// The move (dx, dy) from the last box to `at_ms` at the velocity of the last
    /// two boxes (none after one).
    fn velocity_move(&self, at_ms: i64) -> (i64, i64) {
        let b = self.last_box;
        match self.prev {
            Some((t0, p)) if self.last_ms > t0 => {
                let k = (at_ms - self.last_ms) as f64 / (self.last_ms - t0) as f64;
                // At most 4 intervals ahead: past that the pass has ended (max_gap_ms).
                let k = k.clamp(0.0, 4.0);
                (
                    ((b[0] - p[0]) as f64 * k).round() as i64,
                    ((b[1] - p[1]) as f64 * k).round() as i64,
                )
            }
            _ => (0, 0),
        }
    }

    /// The box predicted at `at_ms`.
    fn predicted(&self, at_ms: i64) -> [i64; 4] {
        let (dx, dy) = self.velocity_move(at_ms);
        let b = self.last_box;
        [b[0] + dx, b[1] + dy, b[2], b[3]]
    }

    /// See [`Tracker::windows`]; empty (x1 <= x0) when it left the frame.
    fn window(&self, at_ms: i64, w: usize, h: usize) -> [usize; 4] {
        let b = self.last_box;
        let (dx, dy) = self.velocity_move(at_ms);
        let m = b[3].max(1) + dx.abs().max(dy.abs()) / 2;
        let x0 = b[0].min(b[0] + dx) - m;
        let y0 = b[1].min(b[1] + dy) - m;
        let x1 = (b[0] + b[2]).max(b[0] + b[2] + dx) + m;
        let y1 = (b[1] + b[3]).max(b[1] + b[3] + dy) + m;
        let cx = |v: i64| v.clamp(0, w as i64) as usize;
        let cy = |v: i64| v.clamp(0, h as i64) as usize;
        [cx(x0), cy(y0), cx(x1), cy(y1)]
    }
}

/// Groups per-frame reads into vehicle passes.
#[derive(Debug, Clone)]
pub struct Tracker {
    tracks: Vec<Track>,
    /// A track not seen for this long is finished.
    pub max_gap_ms: i64,
    /// Least box overlap (intersection over union) to continue a track.
    pub min_iou: f32,
    /// Largest edit distance between texts to continue a track without overlap.
    pub max_text_distance: usize,
    /// Reads below this confidence are ignored.
    pub min_confidence: f32,
    /// A pass whose last this many reads agree exactly is settled: video reading
    /// stops reading it and holds it while its predicted box moves (see
    /// [`Tracker::watches`], [`Tracker::hold`]).
    pub settle_reads: usize,
    /// How long after a stored pass's plate was last seen standing still a new pass
    /// of the same text starting on the same place (overlap [`STAND_IOU`]) is the same
    /// vehicle, not stored again. Video reading sets it to a whole-frame period plus
    /// the gap and a sample, so that each whole-frame read of a vehicle that stands
    /// finds the last one's record (0: off).
    pub linger_ms: i64,
    standing: Vec<Standing>,
}

/// Where an open pass is looked for in the next frame (see [`Tracker::watches`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Watch {
    /// Around the predicted box: read there (unsettled), or watched for motion
    /// (settled), `[x0, y0, x1, y1]` in frame pixels.
    pub window: [usize; 4],
    /// Whose motion belongs to the pass: the window, or for a settled pass the
    /// vehicle around its plate.
    pub zone: [usize; 4],
    /// Settled: not read again, held while its window moves.
    pub settled: bool,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker {
            tracks: Vec::new(),
            max_gap_ms: 1500,
            min_iou: 0.05,
            max_text_distance: 2,
            min_confidence: 0.3,
            // 3: a majority of the 5 frames a plate is in view at the least at the
            // alpr_fps default (2 fps; a plate crossing a 1280 px frame at 500 px/s,
            // the fastest of the video bench, is in view 2.5 s); the vote (plate::vote)
            // over 3 identical reads only changes if later reads outweigh them.
            settle_reads: 3,
            // The motion gate's whole-frame period (10 s), the gap (1.5 s) and a
            // sample at 2 fps (0.5 s); site.rs sets it from its own settings.
            linger_ms: 12_000,
            standing: Vec::new(),
        }
    }
}

/// Intersection over union of two `[x, y, w, h]` boxes.
pub fn iou(a: [i64; 4], b: [i64; 4]) -> f32 {
    let ix = (a[0] + a[2]).min(b[0] + b[2]) - a[0].max(b[0]);
    let iy = (a[1] + a[3]).min(b[1] + b[3]) - a[1].max(b[1]);
    if ix <= 0 || iy <= 0 {
        return 0.0;
    }
    let inter = (ix * iy) as f32;
    inter / ((a[2] * a[3] + b[2] * b[3]) as f32 - inter).max(1.0)
}

/// Levenshtein distance.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

impl Tracker {
    /// Adds one frame's reads (at `frame_ms`); returns the passes that finished.
    pub fn push(&mut self, frame_ms: i64, reads: &[PlateRead]) -> Vec<MergedRead> {
        let mut used = vec![false; self.tracks.len()];
        let mut sorted: Vec<&PlateRead> = reads
            .iter()
            .filter(|r| r.confidence as f32 >= self.min_confidence)
            .collect();
        sorted.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        for r in sorted {
            let conf = r.confidence as f32;
            let mut best: Option<(usize, f32)> = None;
            for (i, t) in self.tracks.iter().enumerate() {
                if used[i] {
                    continue;
                }
                let overlap = iou(t.last_box, r.bbox);
                let near_text = t
                    .reads
                    .iter()
                    .any(|(s, _)| edit_distance(s, &r.text) <= self.max_text_distance);
                let score = if overlap >= self.min_iou {
                    1.0 + overlap
                } else if near_text {
                    0.5
                } else {
                    0.0
                };
                if score > 0.0 && best.is_none_or(|(_, s)| score > s) {
                    best = Some((i, score));
                }
            }
            match best {
                Some((i, _)) => {
                    used[i] = true;
                    let t = &mut self.tracks[i];
                    t.reads.push((r.text.clone(), conf));
                    if frame_ms > t.last_ms {
                        t.prev = Some((t.last_ms, t.last_box));
                    }
                    t.last_box = r.bbox;
                    t.last_ms = frame_ms;
                    if conf > t.best.0 {
                        t.best = (conf, frame_ms, r.bbox);
                    }
                }
                None => {
                    self.tracks.push(Track {
                        reads: vec![(r.text.clone(), conf)],
                        prev: None,
                        last_box: r.bbox,
                        first_box: r.bbox,
                        first_ms: frame_ms,
                        last_ms: frame_ms,
                        best: (conf, frame_ms, r.bbox),
                    });
                    used.push(true);
                }
            }
        }
        let gap = self.max_gap_ms;
        let out = self.finish(|t| frame_ms - t.last_ms > gap);
        // A standing record outlives its linger only while a pass could still match it.
        let keep = self.linger_ms + gap;
        self.standing.retain(|s| frame_ms - s.last_ms <= keep);
        out
    }

    /// For each open pass, in order, where it is looked for at `at_ms`: the window
    /// [`Tracker::windows`] gives, and whether it is settled (its last
    /// `settle_reads` reads agree exactly). A settled pass's zone is the vehicle
    /// around its plate, by plate geometry: a US plate (12 x 6 in) on a car's rear
    /// (about 6 ft wide, 4 ft tall, the plate low in it) has 2.5 plate widths of car
    /// on each side and about 4 plate heights above, 1 below.
    pub fn watches(&self, at_ms: i64, w: usize, h: usize) -> Vec<Watch> {
        self.tracks
            .iter()
            .map(|t| {
                let window = t.window(at_ms, w, h);
                let n = self.settle_reads.max(1);
                // A plate cut by the frame's edge reads short: settled only clear of
                // the edges by one plate height (about the detector's box margin).
                let b = t.last_box;
                let clear = b[0] > b[3]
                    && b[1] > b[3]
                    && b[0] + b[2] + b[3] < w as i64
                    && b[1] + 2 * b[3] < h as i64;
                let settled = clear
                    && t.reads.len() >= n
                    && t.reads[t.reads.len() - n..]
                        .iter()
                        .all(|(s, _)| *s == t.reads[t.reads.len() - 1].0);
                let zone = if settled {
                    let (bw, bh) = (t.last_box[2] as usize, t.last_box[3] as usize);
                    [
                        window[0].saturating_sub(bw * 5 / 2),
                        window[1].saturating_sub(bh * 4),
                        (window[2] + bw * 5 / 2).min(w),
                        (window[3] + bh).min(h),
                    ]
                } else {
                    window
                };
                Watch {
                    window,
                    zone,
                    settled,
                }
            })
            .collect()
    }

    /// Keeps the `i`th open pass (the order of [`Tracker::watches`]) alive at `at_ms`
    /// without a read: its box moves on to where it was predicted (constant
    /// velocity). For a settled pass whose window moved.
    pub fn hold(&mut self, at_ms: i64, i: usize) {
        let Some(t) = self.tracks.get_mut(i) else {
            return;
        };
        if at_ms <= t.last_ms {
            return;
        }
        let b = t.predicted(at_ms);
        t.prev = Some((t.last_ms, t.last_box));
        t.last_box = b;
        t.last_ms = at_ms;
    }

    /// Where each open pass's plate is looked for again at `at_ms`: its last box
    /// moved on at the velocity of its last two reads (constant velocity; standing
    /// still after one read), joined with the last box (the prediction may be off
    /// by the whole move) and grown by the plate's height plus half the move on
    /// every side, as `[x0, y0, x1, y1]` within `w` x `h`. Plate geometry: a height
    /// of margin keeps the plate's frame and a state line above or below it in the
    /// window (the reader's main-line rule needs them), and half the move covers a
    /// vehicle braking or speeding up by half between two frames.
    pub fn windows(&self, at_ms: i64, w: usize, h: usize) -> Vec<[usize; 4]> {
        self.tracks
            .iter()
            .map(|t| t.window(at_ms, w, h))
            .filter(|b| b[2] > b[0] && b[3] > b[1])
            .collect()
    }

    /// Finishes every open pass (end of stream).
    pub fn flush(&mut self) -> Vec<MergedRead> {
        self.finish(|_| true)
    }

    fn finish(&mut self, done: impl Fn(&Track) -> bool) -> Vec<MergedRead> {
        let (finished, open): (Vec<Track>, Vec<Track>) = std::mem::take(&mut self.tracks)
            .into_iter()
            .partition(|t| done(t));
        self.tracks = open;
        let mut out = Vec::new();
        for t in finished {
            let Some((text, confidence)) = plate::vote(&t.reads) else {
                continue;
            };
            let stood = t.stood_still();
            let linger = self.linger_ms;
            let same = self.standing.iter().position(|s| {
                s.text == text
                    && t.first_ms >= s.last_ms
                    && t.first_ms - s.last_ms <= linger
                    && iou(s.last_box, t.first_box) >= STAND_IOU
            });
            if let Some(i) = same {
                // The vehicle that stood there, seen again: stored already. It stands
                // on (the record moves on with it) or it has driven off.
                if stood {
                    self.standing[i].last_ms = t.last_ms;
                    self.standing[i].last_box = t.last_box;
                } else if t.reads.len() > 1 {
                    self.standing.swap_remove(i);
                } else {
                    // One read (a whole-frame look): it still stands.
                    self.standing[i].last_ms = t.last_ms;
                }
                continue;
            }
            if stood && self.linger_ms > 0 {
                self.standing.push(Standing {
                    text: text.clone(),
                    last_box: t.last_box,
                    last_ms: t.last_ms,
                });
            }
            out.push(MergedRead {
                text,
                confidence,
                frames: t.reads.len(),
                first_ms: t.first_ms,
                last_ms: t.last_ms,
                best_frame_ms: t.best.1,
                best_box: t.best.2,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str, c: f64, x: i64) -> PlateRead {
        PlateRead {
            text: text.into(),
            confidence: c,
            bbox: [x, 100, 80, 30],
        }
    }

    #[test]
    fn one_pass_over_frames_becomes_one_voted_read() {
        let mut t = Tracker::default();
        assert!(t.push(0, &[r("ABC1234", 0.9, 100)]).is_empty());
        assert!(t
            .push(100, &[r("A8C1234", 0.6, 110), r("XYZ987", 0.8, 600)])
            .is_empty());
        assert!(t.push(200, &[r("ABC1234", 0.8, 120)]).is_empty());
        // Far later: both passes finish.
        let mut done = t.push(5000, &[]);
        done.sort_by(|a, b| a.text.cmp(&b.text));
        assert_eq!(done.len(), 2);
        assert_eq!(done[0].text, "ABC1234");
        assert_eq!(done[0].frames, 3);
        assert_eq!(
            (done[0].first_ms, done[0].last_ms, done[0].best_frame_ms),
            (0, 200, 0)
        );
        assert_eq!(done[1].text, "XYZ987");
        assert!(t.flush().is_empty());
    }

    #[test]
    fn an_open_pass_is_looked_for_where_its_plate_will_be() {
        let mut t = Tracker::default();
        assert!(t.windows(0, 1280, 720).is_empty(), "no pass, no window");
        t.push(0, &[r("ABC1234", 0.9, 100)]);
        // One read: around where it was, grown by its height (30).
        assert_eq!(t.windows(500, 1280, 720), vec![[70, 70, 210, 160]]);
        t.push(500, &[r("ABC1234", 0.9, 200)]);
        // 100 px per 500 ms: at 1000 ms at x 300; the window spans the last box
        // (200) to the predicted one (300..380), grown by 30 + 50.
        assert_eq!(t.windows(1000, 1280, 720), vec![[120, 20, 460, 210]]);
        // Within the frame.
        assert_eq!(t.windows(1000, 400, 150), vec![[120, 20, 400, 150]]);
    }

    #[test]
    fn a_pass_read_alike_three_times_settles_and_is_held_along_its_path() {
        let mut t = Tracker::default();
        t.push(0, &[r("ABC1234", 0.9, 100)]);
        t.push(500, &[r("ABC1234", 0.9, 200)]);
        assert!(!t.watches(1000, 1280, 720)[0].settled, "two reads");
        t.push(1000, &[r("A8C1234", 0.9, 300)]);
        assert!(
            !t.watches(1500, 1280, 720)[0].settled,
            "the last three differ"
        );
        t.push(1500, &[r("ABC1234", 0.9, 400)]);
        t.push(2000, &[r("ABC1234", 0.9, 500)]);
        assert!(!t.watches(2500, 1280, 720)[0].settled, "two alike");
        t.push(2500, &[r("ABC1234", 0.9, 600)]);
        let w = &t.watches(3000, 1280, 720)[0];
        assert!(w.settled);
        assert_eq!(w.window, t.windows(3000, 1280, 720)[0]);
        // The vehicle around the plate: 2.5 plate widths each side, 4 heights above.
        assert_eq!(w.window, [520, 20, 860, 210]);
        assert_eq!(w.zone, [320, 0, 1060, 240]);
        // Near the frame's edge (a plate may be cut there): not settled.
        assert!(!t.watches(3000, 700, 720)[0].settled);
        // Held without reads, it follows its path and does not finish.
        for at in [3000, 3500, 4000, 4500] {
            t.hold(at, 0);
            assert!(t.push(at, &[]).is_empty());
        }
        assert_eq!(t.windows(5000, 1280, 720), vec![[920, 20, 1260, 210]]);
        // Not held any more (its window still): it finishes after the gap, one read.
        let done = t.push(6500, &[]);
        assert_eq!(done.len(), 1);
        assert_eq!(
            (done[0].text.as_str(), done[0].frames, done[0].last_ms),
            ("ABC1234", 6, 4500)
        );
        t.hold(7000, 0);
    }

    #[test]
    fn text_links_frames_when_boxes_jump() {
        let mut t = Tracker::default();
        t.push(0, &[r("ABC1234", 0.9, 100)]);
        t.push(100, &[r("ABC1Z34", 0.7, 900)]);
        let done = t.flush();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].text, "ABC1234");
        assert_eq!(edit_distance("ABC", "ABD"), 1);
        assert!(iou([0, 0, 10, 10], [5, 0, 10, 10]) > 0.3);
    }

    fn at(text: &str, x: i64, y: i64) -> PlateRead {
        PlateRead {
            text: text.into(),
            confidence: 0.9,
            bbox: [x, y, 120, 40],
        }
    }

    #[test]
    fn a_vehicle_that_stops_is_stored_once_while_it_stands() {
        let mut t = Tracker::default();
        // It drives in and stops at x 400 (the last two reads 1 px apart).
        t.push(0, &[at("ABC1234", 200, 300)]);
        t.push(500, &[at("ABC1234", 350, 300)]);
        t.push(1000, &[at("ABC1234", 399, 300)]);
        t.push(1500, &[at("ABC1234", 400, 301)]);
        // Nothing moves: no reads; the pass ends after the gap and is stored.
        let done = t.push(3100, &[]);
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].text, "ABC1234");
        // The whole-frame reads every 10 s find it where it stands: not stored again.
        for k in 1..=6 {
            let ms = 1500 + k * 10_000;
            assert!(t.push(ms, &[at("ABC1234", 401, 300)]).is_empty());
            assert!(t.push(ms + 2000, &[]).is_empty(), "whole-frame read {k}");
        }
        // Another plate stopping beside it is stored.
        t.push(64_000, &[at("XYZ9876", 800, 300)]);
        let done = t.push(66_000, &[]);
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].text, "XYZ9876");
        // It drives off: the pass that moves it on is the same vehicle, not stored;
        // then the record is gone and the same plate coming back is a new pass.
        t.push(70_000, &[at("ABC1234", 402, 300)]);
        t.push(70_500, &[at("ABC1234", 500, 300)]);
        t.push(71_000, &[at("ABC1234", 650, 300)]);
        assert!(t.push(73_000, &[]).is_empty(), "leaving");
        t.push(90_000, &[at("ABC1234", 400, 300)]);
        t.push(90_500, &[at("ABC1234", 400, 300)]);
        assert_eq!(t.push(92_100, &[]).len(), 1, "back again later: stored");
    }

    #[test]
    fn passes_that_move_are_never_taken_for_a_standing_vehicle() {
        let mut t = Tracker::default();
        // The demo clip's case: a plate crossing at 120 px/s, replayed 13 s later.
        for round in 0..2 {
            let t0 = round * 13_000;
            for k in 0..5 {
                t.push(t0 + k * 500, &[at("ABC1234", 100 + k * 60, 120)]);
            }
            let done = t.push(t0 + 5000, &[]);
            assert_eq!(done.len(), 1, "round {round}");
        }
        // A standing plate seen again after its linger is stored again.
        let mut t = Tracker::default();
        t.push(0, &[at("KLM4455", 400, 300)]);
        t.push(500, &[at("KLM4455", 400, 300)]);
        assert_eq!(t.push(2100, &[]).len(), 1);
        t.push(500 + 12_001, &[at("KLM4455", 400, 300)]);
        assert_eq!(t.push(500 + 14_000, &[]).len(), 1);
    }
}
