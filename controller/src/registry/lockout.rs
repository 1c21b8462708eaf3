//! Failed sign-ins counted per user name and per source address: after
//! [`MAX_FAILURES`] failures within [`WINDOW`], the name (and, separately, the
//! source) is locked for [`LOCK`], and even the right password is refused.
//!
//! The counters live in memory, one set per replica (the controller's `wing`
//! state): a flood spread over replicas is limited per replica, and a restart
//! forgets them. Each map holds at most [`MAX_TRACKED`] entries, so failed tries
//! for made-up names cannot grow memory without bound; when a map is full,
//! entries with no failure in the window and no lock go first, then the least
//! recently touched unlocked one, and only then the least recently touched lock.
//!
//! No clock here: the caller passes the injected clock's time.

use jiff::{SignedDuration, Timestamp};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;

/// Failures within [`WINDOW`] that lock.
pub const MAX_FAILURES: usize = 5;
/// The window failures are counted in.
pub const WINDOW: SignedDuration = SignedDuration::from_mins(15);
/// How long a lock lasts.
pub const LOCK: SignedDuration = SignedDuration::from_mins(15);
/// The most names (and, separately, sources) tracked at once.
pub const MAX_TRACKED: usize = 4096;

/// What a lock is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locked {
    /// A user name.
    User(String),
    /// A source address (IPv6 by its /64: one host holds a whole /64).
    Source(String),
}

/// A lock in force: what, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    /// What is locked.
    pub what: Locked,
    /// When it ends.
    pub until: Timestamp,
}

#[derive(Debug, Default)]
struct Entry {
    failures: VecDeque<Timestamp>,
    locked_until: Option<Timestamp>,
    touched: Option<Timestamp>,
}

impl Entry {
    fn locked(&self, now: Timestamp) -> Option<Timestamp> {
        self.locked_until.filter(|u| *u > now)
    }
    fn stale(&self, now: Timestamp) -> bool {
        self.locked(now).is_none() && self.failures.back().is_none_or(|t| *t + WINDOW <= now)
    }
}

#[derive(Debug, Default)]
struct Tracker {
    map: HashMap<String, Entry>,
}

impl Tracker {
    fn locked(&self, key: &str, now: Timestamp) -> Option<Timestamp> {
        self.map.get(key).and_then(|e| e.locked(now))
    }

    /// Counts a failure; the lock's end when this failure began one.
    fn fail(&mut self, key: &str, now: Timestamp) -> Option<Timestamp> {
        if !self.map.contains_key(key) && self.map.len() >= MAX_TRACKED {
            self.make_room(now);
        }
        let e = self.map.entry(key.to_string()).or_default();
        e.touched = Some(now);
        if e.locked(now).is_some() {
            return None;
        }
        while e.failures.front().is_some_and(|t| *t + WINDOW <= now) {
            e.failures.pop_front();
        }
        e.failures.push_back(now);
        if e.failures.len() < MAX_FAILURES {
            return None;
        }
        e.failures.clear();
        let until = now + LOCK;
        e.locked_until = Some(until);
        Some(until)
    }

    fn make_room(&mut self, now: Timestamp) {
        self.map.retain(|_, e| !e.stale(now));
        if self.map.len() < MAX_TRACKED {
            return;
        }
        // Unlocked entries go before locks, so a spray of made-up names cannot
        // lift a lock by pushing it out.
        let victim = self
            .map
            .iter()
            .min_by_key(|(_, e)| (e.locked(now).is_some(), e.touched))
            .map(|(k, _)| k.clone());
        if let Some(k) = victim {
            self.map.remove(&k);
        }
    }
}

/// The counters of one replica (see the module's doc).
#[derive(Debug, Default)]
pub struct SignInLimits {
    inner: Mutex<(Tracker, Tracker)>,
}

/// The key a source address is counted under.
pub fn source_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

impl SignInLimits {
    fn lock(&self) -> std::sync::MutexGuard<'_, (Tracker, Tracker)> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The lock a sign-in as `user` from `source` meets now, if any.
    pub fn check(&self, user: &str, source: Option<&str>, now: Timestamp) -> Option<Lock> {
        let g = self.lock();
        if let Some(until) = g.0.locked(user, now) {
            return Some(Lock {
                what: Locked::User(user.into()),
                until,
            });
        }
        let s = source?;
        g.1.locked(s, now).map(|until| Lock {
            what: Locked::Source(s.into()),
            until,
        })
    }

    /// Counts a failed sign-in; the locks it began (each is audited once).
    /// `user` is `None` for a name that is not even valid: only its source counts.
    pub fn failed(&self, user: Option<&str>, source: Option<&str>, now: Timestamp) -> Vec<Lock> {
        let mut g = self.lock();
        let mut began = Vec::new();
        if let Some(u) = user {
            if let Some(until) = g.0.fail(u, now) {
                began.push(Lock {
                    what: Locked::User(u.into()),
                    until,
                });
            }
        }
        if let Some(s) = source {
            if let Some(until) = g.1.fail(s, now) {
                began.push(Lock {
                    what: Locked::Source(s.into()),
                    until,
                });
            }
        }
        began
    }

    /// A successful sign-in clears the user's failures (not the source's: an
    /// attacker's own account must not reset the count of its other guesses).
    pub fn succeeded(&self, user: &str) {
        self.lock().0.map.remove(user);
    }

    /// How many names and sources are tracked (the memory bound's test).
    pub fn tracked(&self) -> (usize, usize) {
        let g = self.lock();
        (g.0.map.len(), g.1.map.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(mins: i64) -> Timestamp {
        Timestamp::UNIX_EPOCH + SignedDuration::from_mins(mins)
    }

    #[test]
    fn five_failures_in_the_window_lock_for_fifteen_minutes() {
        let l = SignInLimits::default();
        for i in 0..4 {
            assert!(l.failed(Some("ana"), None, t(i)).is_empty());
            assert_eq!(l.check("ana", None, t(i)), None);
        }
        let began = l.failed(Some("ana"), None, t(4));
        assert_eq!(
            began,
            vec![Lock {
                what: Locked::User("ana".into()),
                until: t(19)
            }]
        );
        assert!(l.check("ana", None, t(18)).is_some());
        // Failures during the lock begin nothing (no second audit entry).
        assert!(l.failed(Some("ana"), None, t(10)).is_empty());
        assert_eq!(l.check("ana", None, t(19)), None);
        assert!(l.check("bob", None, t(5)).is_none());
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let l = SignInLimits::default();
        for i in 0..20 {
            assert!(l.failed(Some("ana"), None, t(i * 4)).is_empty(), "{i}");
        }
        assert_eq!(l.check("ana", None, t(80)), None);
    }

    #[test]
    fn a_source_is_locked_separately_and_success_clears_the_user_only() {
        let l = SignInLimits::default();
        for (i, u) in ["a", "b", "c", "d"].iter().enumerate() {
            assert!(l.failed(Some(u), Some("10.0.0.1"), t(i as i64)).is_empty());
        }
        let began = l.failed(None, Some("10.0.0.1"), t(4));
        assert_eq!(began[0].what, Locked::Source("10.0.0.1".into()));
        let lock = l.check("e", Some("10.0.0.1"), t(5)).unwrap();
        assert_eq!(lock.what, Locked::Source("10.0.0.1".into()));
        assert!(l.check("e", Some("10.0.0.2"), t(5)).is_none());
        l.succeeded("a");
        assert!(l.check("e", Some("10.0.0.1"), t(5)).is_some());
    }

    #[test]
    fn made_up_names_do_not_grow_memory_or_lift_locks() {
        let l = SignInLimits::default();
        for i in 0..5 {
            l.failed(Some("victim"), None, t(i));
        }
        for i in 0..(3 * MAX_TRACKED) {
            l.failed(Some(&format!("made-up-{i}")), None, t(5));
        }
        assert!(l.tracked().0 <= MAX_TRACKED);
        assert!(l.check("victim", None, t(6)).is_some());
    }

    #[test]
    fn ipv6_counts_by_its_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(source_key(a), source_key(b));
        let v4: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(source_key(v4), "10.0.0.1");
    }
}
