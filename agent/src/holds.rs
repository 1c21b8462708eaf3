//! The legal holds this run knows, and the one door every retention deletion
//! (recordings and plate reads) goes through. Held evidence is never deleted:
//!
//! - **Unknown until told.** At start the agent does not know its holds: they
//!   come from its saved desired config (when that parses) or from the
//!   controller. Until one of them has set the list, nothing is deleted, for
//!   age or for disk pressure: any file might be held. Recording may then stop
//!   on a full disk, which is the lesser harm (the health report says why).
//! - **In force when set.** [`Holds::set`] returns only once no deletion
//!   decided against an older list is still under way: each deletion decides
//!   and removes inside [`Holds::deleting`], on the read side of the lock whose
//!   write side `set` takes. So once the session has applied a new list (and
//!   only then acknowledges it), no sweep, including one already running,
//!   deletes what the new list holds. The wait is for one file (or one day's
//!   reads file), not for a whole sweep.

use std::sync::{Arc, RwLock};

use crate::config::LegalHold;

/// The hold list in force (`None`: not known yet in this run).
#[derive(Debug, Default)]
pub struct Holds {
    list: RwLock<Option<Arc<[LegalHold]>>>,
}

impl Holds {
    /// Puts `holds` in force, waiting for a deletion in progress to finish.
    /// Never call it from inside [`Holds::deleting`] (it would wait on itself).
    pub fn set(&self, holds: Vec<LegalHold>) {
        *self.list.write().unwrap_or_else(|e| e.into_inner()) = Some(holds.into());
    }

    /// Whether the list is known in this run.
    pub fn known(&self) -> bool {
        self.list
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// The list in force now, for planning; decide the deletion itself again
    /// inside [`Holds::deleting`], since the list may change meanwhile.
    pub fn snapshot(&self) -> Option<Arc<[LegalHold]>> {
        self.list.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Runs `delete` with the list in force, which cannot change until it
    /// returns: `delete` checks what it would remove against the list and
    /// removes only what no hold covers. `None` (nothing run) while the list
    /// is not known.
    pub fn deleting<T>(&self, delete: impl FnOnce(&[LegalHold]) -> T) -> Option<T> {
        let g = self.list.read().unwrap_or_else(|e| e.into_inner());
        g.as_deref().map(delete)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HoldReason;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    fn hold(case: &str) -> LegalHold {
        LegalHold {
            case_number: case.into(),
            cameras: vec!["c".into()],
            from: "2025-01-01T00:00:00Z".parse().unwrap(),
            until: "2025-01-02T00:00:00Z".parse().unwrap(),
            reason: HoldReason::Court.into(),
        }
    }

    #[test]
    fn nothing_is_deleted_before_the_list_is_known() {
        let h = Holds::default();
        assert!(!h.known());
        assert!(h.snapshot().is_none());
        assert_eq!(h.deleting(|_| "deleted"), None);
        // An empty list is a known list: "no holds" is an answer.
        h.set(vec![]);
        assert!(h.known());
        assert_eq!(h.deleting(|l| l.len()), Some(0));
    }

    /// A deletion decided against the old list is under way when a new list
    /// comes: `set` returns only after it, and every later deletion sees the
    /// new list.
    #[test]
    fn a_new_list_waits_for_the_deletion_under_way() {
        let h = Arc::new(Holds::default());
        h.set(vec![]);
        let (entered_tx, entered) = mpsc::channel();
        let (finish, finish_rx) = mpsc::channel::<()>();
        let sweeper = {
            let h = h.clone();
            std::thread::spawn(move || {
                h.deleting(|l| {
                    entered_tx.send(()).unwrap();
                    finish_rx.recv().unwrap();
                    l.len()
                })
            })
        };
        entered.recv().unwrap();
        let set_done = Arc::new(AtomicBool::new(false));
        let setter = {
            let (h, done) = (h.clone(), set_done.clone());
            std::thread::spawn(move || {
                h.set(vec![hold("25-00001")]);
                done.store(true, Ordering::SeqCst);
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            !set_done.load(Ordering::SeqCst),
            "the new list was in force while a deletion against the old one ran"
        );
        finish.send(()).unwrap();
        assert_eq!(sweeper.join().unwrap(), Some(0), "it ran on the old list");
        setter.join().unwrap();
        assert!(set_done.load(Ordering::SeqCst));
        assert_eq!(h.deleting(|l| l.len()), Some(1));
    }
}
