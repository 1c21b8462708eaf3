//! The leader's audit checkpoints: one when it takes the lead, then one an hour
//! (by the injected clock) while it leads. See [`crate::core::witness`].

use crate::core::Controller;
use crate::Result;
use jiff::{SignedDuration, Timestamp};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// How often the leader signs a checkpoint.
pub const INTERVAL: SignedDuration = SignedDuration::from_hours(1);

/// Counts the times this process took the lead ([`super::run`] bumps it), so
/// the checkpoint job knows a new lead began.
#[derive(Default)]
pub struct LeadTerm(AtomicU64);

impl LeadTerm {
    /// A new lead began.
    pub fn begin(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The term and time of this process's last checkpoint.
#[derive(Default)]
struct Signed(Mutex<Option<(u64, Timestamp)>>);

/// Whether a checkpoint is due: none yet in this lead, or the last is an hour old.
fn due(last: Option<(u64, Timestamp)>, term: u64, now: Timestamp) -> bool {
    match last {
        None => true,
        Some((t, at)) => t != term || now >= at + INTERVAL,
    }
}

impl Controller {
    /// Signs a checkpoint if one is due (leader only; cheap when none is).
    /// Returns whether it signed.
    pub async fn checkpoint_if_due(&self) -> Result<bool> {
        let term = self.wing::<LeadTerm>().now();
        let now = self.now();
        let signed = self.wing::<Signed>();
        let last = *signed.0.lock().unwrap_or_else(|p| p.into_inner());
        if !due(last, term, now) {
            return Ok(false);
        }
        self.sign_checkpoint().await?;
        *signed.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((term, now));
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_at_a_new_lead_and_hourly() {
        let t: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        assert!(due(None, 0, t));
        assert!(!due(Some((1, t)), 1, t + SignedDuration::from_mins(59)));
        assert!(due(Some((1, t)), 1, t + SignedDuration::from_mins(60)));
        assert!(due(Some((1, t)), 2, t), "a new lead signs at once");
    }
}
