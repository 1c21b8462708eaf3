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
//! A password check is an [`Attempt`], reserved before the check
//! ([`SignInLimits::begin`]) and settled after it: a failure counts, a success
//! or an attempt given up does not. Attempts in flight count towards the limit
//! while they run, so concurrent guesses cannot all pass the lock check before
//! the first failure is counted: while the failures in the window and the
//! attempts in flight make [`MAX_FAILURES`], the next attempt for that name (or
//! source) waits for one of them to settle, and then meets the lock if they
//! failed. A lone sign-in never waits.
//!
//! No clock here: the caller passes the injected clock's time.

use jiff::{SignedDuration, Timestamp};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

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
    /// Attempts reserved and not settled yet.
    in_flight: usize,
}

impl Entry {
    fn locked(&self, now: Timestamp) -> Option<Timestamp> {
        self.locked_until.filter(|u| *u > now)
    }
    fn stale(&self, now: Timestamp) -> bool {
        self.locked(now).is_none()
            && self.in_flight == 0
            && self.failures.back().is_none_or(|t| *t + WINDOW <= now)
    }
    /// Whether another attempt may start: were all in flight to fail, they
    /// would not yet make a lock's worth with the failures in the window.
    fn room(&self, now: Timestamp) -> bool {
        let live = self.failures.iter().filter(|t| **t + WINDOW > now).count();
        live + self.in_flight < MAX_FAILURES
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

    fn room(&self, key: &str, now: Timestamp) -> bool {
        self.map.get(key).is_none_or(|e| e.room(now))
    }

    fn reserve(&mut self, key: &str, now: Timestamp) {
        if !self.map.contains_key(key) && self.map.len() >= MAX_TRACKED {
            self.make_room(now);
        }
        let e = self.map.entry(key.to_string()).or_default();
        e.touched = Some(now);
        e.in_flight += 1;
    }

    /// Settles one reserved attempt (an entry pushed out meanwhile has none).
    fn unreserve(&mut self, key: &str) {
        if let Some(e) = self.map.get_mut(key) {
            e.in_flight = e.in_flight.saturating_sub(1);
        }
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
        // lift a lock by pushing it out; idle ones before those with attempts in
        // flight.
        let victim = self
            .map
            .iter()
            .min_by_key(|(_, e)| (e.locked(now).is_some(), e.in_flight > 0, e.touched))
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
    /// Woken whenever an attempt settles (for those waiting in `begin`).
    settled: tokio::sync::Notify,
}

/// What [`SignInLimits::try_begin`] found.
#[derive(Debug, PartialEq, Eq)]
enum Turn {
    /// Reserved: the check may run.
    Go,
    /// Attempts in flight could lock the name or source: wait for one.
    Wait,
    /// A lock in force.
    Locked(Lock),
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The password was wrong: counted.
    Failed,
    /// The right password at sign-in: the user's failures are cleared.
    Succeeded,
    /// Not counted either way (a right password given to `passwd`, an expired
    /// one-time password, an attempt given up before its check).
    Released,
}

/// A password check reserved by [`SignInLimits::begin`]: it counts towards the
/// limit until settled. Dropped unsettled (the request given up before its
/// check), it is released, uncounted.
#[must_use = "an attempt counts until it is settled"]
#[derive(Debug)]
pub struct Attempt {
    limits: Arc<SignInLimits>,
    user: Option<String>,
    source: Option<String>,
    open: bool,
}

impl Attempt {
    /// The source it is counted under.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The password was wrong: counts the failure; the locks it began (each is
    /// audited once).
    pub fn failed(mut self, now: Timestamp) -> Vec<Lock> {
        self.settle(Outcome::Failed, now)
    }

    /// The right password at sign-in: clears the user's failures (not the
    /// source's).
    pub fn succeeded(mut self, now: Timestamp) {
        self.settle(Outcome::Succeeded, now);
    }

    /// Ends the attempt uncounted.
    pub fn release(mut self, now: Timestamp) {
        self.settle(Outcome::Released, now);
    }

    fn settle(&mut self, outcome: Outcome, now: Timestamp) -> Vec<Lock> {
        if !std::mem::take(&mut self.open) {
            return Vec::new();
        }
        let began = self
            .limits
            .settle(self.user.as_deref(), self.source.as_deref(), outcome, now);
        self.limits.settled.notify_waiters();
        began
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if self.open {
            // No clock here: a release does not look at the time.
            self.settle(Outcome::Released, Timestamp::UNIX_EPOCH);
        }
    }
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

    /// Reserves a password check for `user` from `source` (`user` is `None` for
    /// a name that is not even valid: only its source counts): refused with the
    /// lock in force, if any; made to wait while the attempts in flight could
    /// still lock the name or the source (`now` is asked again after each wait).
    pub async fn begin(
        self: &Arc<Self>,
        user: Option<&str>,
        source: Option<&str>,
        now: impl Fn() -> Timestamp,
    ) -> Result<Attempt, Lock> {
        loop {
            // Listening before looking, so a settle in between is not missed.
            let mut settled = std::pin::pin!(self.settled.notified());
            settled.as_mut().enable();
            match self.try_begin(user, source, now()) {
                Turn::Go => {
                    return Ok(Attempt {
                        limits: self.clone(),
                        user: user.map(str::to_string),
                        source: source.map(str::to_string),
                        open: true,
                    })
                }
                Turn::Locked(lock) => return Err(lock),
                Turn::Wait => settled.await,
            }
        }
    }

    /// [`SignInLimits::begin`]'s one look, under the one mutex: the locks, then
    /// the room, then the reservation.
    fn try_begin(&self, user: Option<&str>, source: Option<&str>, now: Timestamp) -> Turn {
        let mut g = self.lock();
        if let Some(u) = user {
            if let Some(until) = g.0.locked(u, now) {
                return Turn::Locked(Lock {
                    what: Locked::User(u.into()),
                    until,
                });
            }
        }
        if let Some(s) = source {
            if let Some(until) = g.1.locked(s, now) {
                return Turn::Locked(Lock {
                    what: Locked::Source(s.into()),
                    until,
                });
            }
        }
        if user.is_some_and(|u| !g.0.room(u, now)) || source.is_some_and(|s| !g.1.room(s, now)) {
            return Turn::Wait;
        }
        if let Some(u) = user {
            g.0.reserve(u, now);
        }
        if let Some(s) = source {
            g.1.reserve(s, now);
        }
        Turn::Go
    }

    /// Settles one reserved attempt, under the one mutex (so no other attempt
    /// sees it neither in flight nor counted); the locks a failure began.
    fn settle(
        &self,
        user: Option<&str>,
        source: Option<&str>,
        outcome: Outcome,
        now: Timestamp,
    ) -> Vec<Lock> {
        let mut g = self.lock();
        if let Some(u) = user {
            g.0.unreserve(u);
        }
        if let Some(s) = source {
            g.1.unreserve(s);
        }
        match outcome {
            Outcome::Failed => Self::count(&mut g, user, source, now),
            Outcome::Succeeded => {
                if let Some(e) = user.and_then(|u| g.0.map.get_mut(u)) {
                    e.failures.clear();
                }
                Vec::new()
            }
            Outcome::Released => Vec::new(),
        }
    }

    /// Counts a failed sign-in outside an [`Attempt`] (the tests of the counting).
    #[cfg(test)]
    fn failed(&self, user: Option<&str>, source: Option<&str>, now: Timestamp) -> Vec<Lock> {
        Self::count(&mut self.lock(), user, source, now)
    }

    /// Counts a failed sign-in; the locks it began (each is audited once).
    fn count(
        g: &mut (Tracker, Tracker),
        user: Option<&str>,
        source: Option<&str>,
        now: Timestamp,
    ) -> Vec<Lock> {
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
    #[cfg(test)]
    fn succeeded(&self, user: &str) {
        if let Some(e) = self.lock().0.map.get_mut(user) {
            e.failures.clear();
        }
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

    /// Five attempts in flight for one name: a sixth waits instead of passing
    /// the lock check with them; when the five fail, it meets the lock. A success
    /// or an attempt given up makes room instead, uncounted.
    #[test]
    fn attempts_in_flight_count_towards_the_lock() {
        let l = Arc::new(SignInLimits::default());
        let reserve = |user: &str, src: &str| match l.try_begin(Some(user), Some(src), t(0)) {
            Turn::Go => Attempt {
                limits: l.clone(),
                user: Some(user.into()),
                source: Some(src.into()),
                open: true,
            },
            other => panic!("{user} from {src}: {other:?}"),
        };
        let flying: Vec<Attempt> = (0..5)
            .map(|i| reserve("ana", &format!("10.0.0.{i}")))
            .collect();
        assert_eq!(l.try_begin(Some("ana"), Some("10.0.1.1"), t(0)), Turn::Wait);
        assert_eq!(l.try_begin(Some("bob"), Some("10.0.1.1"), t(0)), Turn::Go);
        // One given up (dropped) and one right: room again, nothing counted.
        let mut flying = flying.into_iter();
        drop(flying.next());
        flying.next().unwrap().succeeded(t(0));
        let a = reserve("ana", "10.0.2.1");
        let b = reserve("ana", "10.0.2.2");
        assert_eq!(l.try_begin(Some("ana"), Some("10.0.1.1"), t(0)), Turn::Wait);
        let mut began = Vec::new();
        for f in flying.chain([a, b]) {
            began.extend(f.failed(t(1)));
        }
        assert_eq!(
            began,
            vec![Lock {
                what: Locked::User("ana".into()),
                until: t(16)
            }]
        );
        match l.try_begin(Some("ana"), Some("10.0.1.1"), t(2)) {
            Turn::Locked(lock) => assert_eq!(lock.what, Locked::User("ana".into())),
            other => panic!("{other:?}"),
        }
        // The source side: five names in flight from one source hold the sixth.
        let flying: Vec<Attempt> = (0..5)
            .map(|i| reserve(&format!("n{i}"), "10.9.9.9"))
            .collect();
        assert_eq!(l.try_begin(Some("n9"), Some("10.9.9.9"), t(2)), Turn::Wait);
        assert_eq!(l.try_begin(None, Some("10.9.9.9"), t(2)), Turn::Wait);
        drop(flying);
        assert_eq!(l.try_begin(None, Some("10.9.9.9"), t(2)), Turn::Go);
    }

    /// `begin` waits for the attempts in flight and wakes when they settle.
    #[tokio::test]
    async fn a_waiting_attempt_wakes_when_one_settles() {
        let l = Arc::new(SignInLimits::default());
        let mut flying = Vec::new();
        for _ in 0..5 {
            flying.push(l.begin(Some("ana"), None, || t(0)).await.unwrap());
        }
        let waiter = tokio::spawn({
            let l = l.clone();
            async move {
                l.begin(Some("ana"), None, || t(0))
                    .await
                    .map(|a| a.release(t(0)))
            }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(
            !waiter.is_finished(),
            "the sixth went ahead of five in flight"
        );
        flying.pop().unwrap().release(t(0));
        waiter.await.unwrap().unwrap();
        // The four left and one more fail: the next meets the lock at once.
        for f in flying {
            f.failed(t(0));
        }
        l.begin(Some("ana"), None, || t(0))
            .await
            .unwrap()
            .failed(t(0));
        assert!(l.begin(Some("ana"), None, || t(1)).await.is_err());
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
