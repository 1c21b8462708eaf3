//! Injected time: production uses [`SystemClock`], tests drive a [`ManualClock`].

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};

/// Source of "now" for retention, windows and health.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Timestamp;
    /// Time elapsed since a fixed start on a clock that is never set (what
    /// the wall clock is checked against: [`RetentionTime`]).
    fn monotonic(&self) -> Duration;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn monotonic(&self) -> Duration {
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed()
    }
}

/// A clock that only moves when told to (tests cover 30+ days without sleeping).
/// Time it is moved forward by [`ManualClock::set`] or [`ManualClock::advance`]
/// passes on its monotonic clock too; [`ManualClock::jump`] moves the wall
/// clock alone, as a wrongly set system clock does.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<(Timestamp, Duration)>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            now: Mutex::new((start, Duration::ZERO)),
        }
    }

    /// Time passes until `t` (going back moves the wall clock alone).
    pub fn set(&self, t: Timestamp) {
        let mut g = self.now.lock().unwrap_or_else(|e| e.into_inner());
        let passed = t.duration_since(g.0);
        g.1 += Duration::try_from(passed).unwrap_or(Duration::ZERO);
        g.0 = t;
    }

    /// Moves forward (or back, for negative `d`) by `d`.
    pub fn advance(&self, d: SignedDuration) {
        let t = self.now().checked_add(d).unwrap_or_else(|_| self.now());
        self.set(t);
    }

    /// The wall clock alone moves by `d`: no time passes.
    pub fn jump(&self, d: SignedDuration) {
        let mut g = self.now.lock().unwrap_or_else(|e| e.into_inner());
        g.0 = g.0.checked_add(d).unwrap_or(g.0);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.now.lock().unwrap_or_else(|e| e.into_inner()).0
    }

    fn monotonic(&self) -> Duration {
        self.now.lock().unwrap_or_else(|e| e.into_inner()).1
    }
}

/// How far the wall clock may run ahead of the time the agent can vouch for
/// before recordings and reads stop ageing by it: a step of NTP at boot is
/// seconds to minutes; retention counts in days, so an hour delays no
/// deletion that matters and catches any jump that could delete a day.
pub const CLOCK_TOLERANCE: SignedDuration = SignedDuration::from_hours(1);

/// The time recordings and plate reads age by. A wall clock set wrongly
/// forward (a dead RTC battery, a bad NTP server, a hand) would make one
/// retention sweep delete every unheld segment younger than the jump. So the
/// wall clock is checked against the controller's time (each report
/// acknowledgement carries it) carried forward on the monotonic clock, and,
/// before the controller was heard in this run, against the previous sweep's
/// time carried forward the same way. When the wall clock is more than
/// [`CLOCK_TOLERANCE`] ahead of that, things age by that instead, and the
/// sweep raises an alarm. The controller's time can only hold deletion back,
/// never bring it forward. Not caught: a jump before the first sweep of a run
/// in which the controller has not been heard yet.
#[derive(Debug, Default, Clone)]
pub struct RetentionTime {
    /// The controller's time as last heard, and the monotonic reading then.
    controller: Option<(Timestamp, Duration)>,
    /// The last sweep's time, and the monotonic reading then.
    last: Option<(Timestamp, Duration)>,
}

/// What a retention sweep goes by ([`RetentionTime::at`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgeBy {
    /// The time segments and reads age by.
    pub now: Timestamp,
    /// Why not the wall clock, when not (an alarm).
    pub alarm: Option<String>,
}

impl RetentionTime {
    /// The controller said it is `t` (at monotonic reading `mono`).
    pub fn heard(&mut self, t: Timestamp, mono: Duration) {
        self.controller = Some((t, mono));
    }

    /// The time a sweep at wall time `wall` (monotonic reading `mono`) ages
    /// things by; remembered for the next sweep.
    pub fn at(&mut self, wall: Timestamp, mono: Duration) -> AgeBy {
        let since = |(t, m): (Timestamp, Duration), what: &str| {
            let elapsed =
                SignedDuration::try_from(mono.saturating_sub(m)).unwrap_or(SignedDuration::MAX);
            (
                t.checked_add(elapsed).unwrap_or(Timestamp::MAX),
                what.to_string(),
            )
        };
        let vouched = match (self.controller, self.last) {
            (Some(c), _) => Some(since(c, "the controller's time")),
            (None, Some(l)) => Some(since(l, "the time measured since the last sweep")),
            (None, None) => None,
        };
        let by = match vouched {
            Some((t, what))
                if wall.duration_since(t) > CLOCK_TOLERANCE =>
            {
                AgeBy {
                    now: t,
                    alarm: Some(format!(
                        "clock: the wall clock ({wall}) is {:.1} h ahead of {what}; recordings and reads age by {t} until they agree",
                        wall.duration_since(t).as_secs_f64() / 3600.0
                    )),
                }
            }
            _ => AgeBy {
                now: wall,
                alarm: None,
            },
        };
        self.last = Some((by.now, mono));
        by
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let t0: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let c = ManualClock::new(t0);
        assert_eq!(c.now(), t0);
        c.advance(SignedDuration::from_hours(24 * 31));
        assert_eq!(c.now(), "2025-02-01T00:00:00Z".parse().unwrap());
        assert_eq!(c.monotonic(), Duration::from_secs(31 * 24 * 3600));
        c.jump(SignedDuration::from_hours(24));
        assert_eq!(c.now(), "2025-02-02T00:00:00Z".parse().unwrap());
        assert_eq!(c.monotonic(), Duration::from_secs(31 * 24 * 3600));
    }

    const DAY: SignedDuration = SignedDuration::from_hours(24);

    /// A wall clock jumping 40 days ahead while the agent runs, with no word
    /// from the controller: things age by the time that really passed.
    #[test]
    fn a_forward_jump_between_sweeps_does_not_age_recordings() {
        let t0: Timestamp = "2026-10-01T00:00:00Z".parse().unwrap();
        let c = ManualClock::new(t0);
        let mut r = RetentionTime::default();
        assert_eq!(r.at(c.now(), c.monotonic()).now, t0);
        c.advance(SignedDuration::from_mins(5));
        let ok = r.at(c.now(), c.monotonic());
        assert_eq!((ok.now, ok.alarm), (c.now(), None));
        c.jump(DAY * 40);
        c.advance(SignedDuration::from_mins(5));
        let by = r.at(c.now(), c.monotonic());
        assert_eq!(by.now, t0 + SignedDuration::from_mins(10));
        assert!(by.alarm.unwrap().contains("960.0 h ahead"));
        // It stays behind the wrong wall clock, sweep after sweep.
        c.advance(DAY);
        let by = r.at(c.now(), c.monotonic());
        assert_eq!(by.now, t0 + DAY + SignedDuration::from_mins(10));
        assert!(by.alarm.unwrap().contains("since the last sweep"));
        // A small step (NTP at boot) is followed.
        let mut r = RetentionTime::default();
        r.at(c.now(), c.monotonic());
        c.jump(SignedDuration::from_mins(20));
        let by = r.at(c.now(), c.monotonic());
        assert_eq!((by.now, by.alarm), (c.now(), None));
    }

    /// The controller's time vouches for the wall clock: a jump before the
    /// first sweep is caught once it was heard; a controller behind can hold
    /// deletion back, one ahead never brings it forward; a correction the
    /// controller agrees with is followed.
    #[test]
    fn the_controllers_time_vouches_for_the_wall_clock() {
        let t0: Timestamp = "2026-10-01T00:00:00Z".parse().unwrap();
        let c = ManualClock::new(t0);
        let mut r = RetentionTime::default();
        r.heard(t0, c.monotonic());
        c.jump(DAY * 40);
        c.advance(SignedDuration::from_mins(1));
        let by = r.at(c.now(), c.monotonic());
        assert_eq!(by.now, t0 + SignedDuration::from_mins(1));
        assert!(by.alarm.unwrap().contains("the controller's time"));
        // The controller says the jump was right (the clock had been 40 days
        // behind): followed from then on.
        r.heard(c.now(), c.monotonic());
        let by = r.at(c.now(), c.monotonic());
        assert_eq!((by.now, by.alarm), (c.now(), None));
        // A controller ahead of the wall clock changes nothing.
        r.heard(c.now() + DAY * 5, c.monotonic());
        assert_eq!(r.at(c.now(), c.monotonic()).now, c.now());
    }
}
