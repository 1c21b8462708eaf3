//! Injected time: everything time-based (token expiry, special-event ends, the
//! 7-day dummy-camera rule, retention) asks a [`Clock`], so tests can move time.

use jiff::Timestamp;
use std::sync::{Arc, Mutex};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that only moves when told to (tests).
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<Timestamp>>);

impl ManualClock {
    /// A clock standing at `t`.
    pub fn new(t: Timestamp) -> ManualClock {
        ManualClock(Arc::new(Mutex::new(t)))
    }
    /// Moves it forward.
    pub fn advance(&self, d: std::time::Duration) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *g = g
            .checked_add(jiff::SignedDuration::try_from(d).unwrap_or_default())
            .unwrap_or(*g);
    }
    /// Sets it.
    pub fn set(&self, t: Timestamp) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = t;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A shared clock.
pub type DynClock = Arc<dyn Clock>;
