//! Injected time: production uses [`SystemClock`], tests drive a [`ManualClock`].

use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};

/// Source of "now" for retention, windows and health.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that only moves when told to (tests cover 30+ days without sleeping).
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            now: Mutex::new(start),
        }
    }

    /// Jumps to `t`.
    pub fn set(&self, t: Timestamp) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = t;
    }

    /// Moves forward (or back, for negative `d`) by `d`.
    pub fn advance(&self, d: SignedDuration) {
        let mut g = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *g = g.checked_add(d).unwrap_or(*g);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
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
    }
}
