//! Sign-in, sessions and users: the first admin, login and logout, bearer
//! tokens, lockouts after failed sign-ins, passwords (one-time ones, changes,
//! resets), adding users and granting roles (governing ones in two steps:
//! pending grants under `grants/{id}`), and the user's own acknowledgement of
//! the policy.

use crate::core::audit::Draft;
use crate::core::auth::{self, Actor, Operation, PasswordRecord, Session};
use crate::core::object::{
    json, Change, KeyChange, KeyStep, KeyWrite, Refusal, Step, StoredObject,
};
use crate::core::store::{Compare, Op};
use crate::core::AuditAction;
use crate::core::Controller;
use crate::registry::grant_machine::{self, Decision, GrantState, RoleGrant};
use crate::registry::lockout::{self, Attempt, Lock, Locked, SignInLimits};
use crate::{Error, Result};
use camplane_config::manifest::Spec;
use camplane_config::model::*;
use serde_json::Value;
use std::net::IpAddr;

/// The key every change that could take away the last admin or city manager
/// takes its turn on (in one process), so two concurrent demotions cannot both
/// see the other still holding the role.
const KEPT_ROLES_TURN: &str = "meta/kept-roles-turn";

/// How many other holders of each kept role a removal compares (see
/// [`Controller::kept_holder_keys`]): one still holding it is enough.
const KEPT_COMPARED: usize = 8;

/// The kept roles held by the user records `kvs` (read from the store in the
/// same attempt as the change that compares them; a deleted one holds nothing).
pub(crate) fn held_in(kvs: &[Option<crate::core::store::KeyValue>]) -> Vec<Role> {
    kvs.iter()
        .flatten()
        .filter_map(|kv| serde_json::from_slice::<StoredObject>(&kv.value).ok())
        .filter_map(|u| u.spec_as::<UserSpec>().ok())
        .flat_map(|s| grant_machine::effective_roles(&s).to_vec())
        .collect()
}

/// The most sessions a user's deletion or password change deletes in its one
/// transaction (within etcd's 128 operations). Deleting them only tidies the
/// store: any left (more than these, or missing from this replica's cache)
/// belong to the old id or password generation, and `resolve_session` refuses
/// them on every controller ([`auth::outlived_password`]).
const MAX_SESSIONS_ENDED: usize = 100;

/// Where pending (and decided) governing grants are kept: `grants/{id}`.
pub const GRANTS: &str = "grants/";

pub use crate::core::auth::PolicyText;

/// What a successful sign-in returns.
#[derive(Debug)]
pub struct SignedIn {
    /// The bearer token (shown once).
    pub token: String,
    /// The session stored for it.
    pub session: Session,
    /// The user's roles.
    pub roles: Vec<Role>,
    /// Whether the password is one-time: only `passwd` and `logout` work until
    /// it is changed.
    pub must_change_password: bool,
}

impl Controller {
    /// Creates the first admin when there are no users. Returns the password when
    /// it was generated (to be shown once; it is one-time). A password from the
    /// operator's variable is theirs and not one-time, but must follow the rules.
    pub async fn bootstrap_admin(&self, env_password: Option<String>) -> Result<Option<String>> {
        Ok(self.bootstrap(env_password, None).await?.0)
    }

    /// [`Controller::bootstrap_admin`], and the first city manager
    /// (`auth.initial_city_manager`, password from `cm_password` under the same
    /// rules) on the same new store: the one person who confirms the governing
    /// grants that follow. Returns each generated password (shown once).
    pub async fn bootstrap(
        &self,
        env_password: Option<String>,
        cm_password: Option<String>,
    ) -> Result<(Option<String>, Option<String>)> {
        let users = self.store.list(Kind::User.prefix()).await?;
        if !users.kvs.is_empty() {
            return Ok((None, None));
        }
        let cm = self.config.auth.initial_city_manager.clone();
        if let (Some(_), Some(pw)) = (&cm, &cm_password) {
            if let Some(why) = auth::weak_password(pw, &self.config.city.name) {
                return Err(Error::InvalidArgument(format!(
                    "${}: {why}",
                    self.config.auth.initial_city_manager_password_env
                )));
            }
        }
        if cm.as_deref() == Some(self.config.auth.initial_admin.as_str()) {
            return Err(Error::InvalidArgument(
                "auth.initial_city_manager: a person other than the initial admin (governing roles take two people)".into(),
            ));
        }
        if let Some(pw) = &env_password {
            if let Some(why) = auth::weak_password(pw, &self.config.city.name) {
                return Err(Error::InvalidArgument(format!(
                    "${}: {why}",
                    self.config.auth.initial_admin_password_env
                )));
            }
        }
        let generated = env_password.is_none();
        let password = env_password.unwrap_or_else(auth::new_password);
        let name = self.config.auth.initial_admin.clone();
        let spec = UserSpec {
            display_name: "Initial administrator".into(),
            department: "information-services".into(),
            roles: vec![Role::Admin],
            trained_at: None,
            certified_until: None,
            policy_version: None,
            disabled: false,
        };
        self.create_user(&Actor::system(), &name, spec, &password, generated)
            .await?;
        let admin_pw = generated.then_some(password);
        let Some(cm) = cm else {
            return Ok((admin_pw, None));
        };
        let generated = cm_password.is_none();
        let password = cm_password.unwrap_or_else(auth::new_password);
        let spec = UserSpec {
            display_name: "Initial city manager".into(),
            department: "city-manager".into(),
            roles: vec![Role::CityManager],
            trained_at: None,
            certified_until: None,
            policy_version: None,
            disabled: false,
        };
        self.create_user(&Actor::system(), &cm, spec, &password, generated)
            .await?;
        Ok((admin_pw, generated.then_some(password)))
    }

    /// Gives every user stored before ids existed its immutable id (run at
    /// start, on every replica: the compare-and-swap lets one win, the others
    /// find the id there). Each is audited as `user.identity`.
    pub async fn assign_user_ids(&self) -> Result<()> {
        for (u, _) in self.list(Kind::User)? {
            if auth::user_id_of(&u.status).is_none() {
                self.user_id(&u.name).await?;
            }
        }
        Ok(())
    }

    /// The user's id, given to it now (audited) if it was stored before ids.
    async fn user_id(&self, name: &str) -> Result<String> {
        self.update(Kind::User, name, |old| {
            let old = old.ok_or_else(|| Error::NotFound(format!("user {name:?}")))?;
            if let Some(id) = auth::user_id_of(&old.status) {
                return Ok(Step::Keep(id.to_string()));
            }
            let id = auth::new_user_id();
            let mut new = old.clone();
            let mut status = match &old.status {
                Value::Object(m) => m.clone(),
                _ => Default::default(),
            };
            status.insert("id".into(), Value::String(id.clone()));
            new.status = Value::Object(status);
            let details = serde_json::json!({"id": id});
            let change = Change::put("system", AuditAction::UserIdentity, new, details);
            Ok(Step::Write(Box::new(change), id))
        })
        .await
    }

    /// Checks a password and opens a session. Failures are audited (the name
    /// bounded and escaped) and counted per name and per `source`; a name or
    /// source locked by [`lockout`] is refused before any check, and writes nothing.
    /// The check is reserved as an attempt first ([`Controller::password_attempt`]),
    /// so concurrent guesses cannot pass the lock together.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        source: Option<IpAddr>,
    ) -> Result<SignedIn> {
        let valid = auth::valid_user_name(username);
        let attempt = self
            .password_attempt(valid.then_some(username), source)
            .await?;
        let now = self.clock.now();
        if !valid {
            self.sign_in_failed(username, attempt, "not a valid user name")
                .await?;
            return Err(Error::InvalidArgument(format!(
                "not a valid user name ({})",
                auth::USER_NAME_RULE
            )));
        }
        let user = self.load(Kind::User, username).ok();
        let record = self
            .store
            .get(&format!("{}{username}", auth::PASSWORDS))
            .await?
            .map(|kv| PasswordRecord::parse(&kv.value));
        let spec: Option<UserSpec> = user.as_ref().and_then(|u| u.spec_as().ok());
        let ok = match (&spec, &record) {
            (Some(s), Some(r)) => !s.disabled && auth::verify_password(password, &r.hash),
            _ => {
                // Spend the same time as a real check, so names cannot be probed.
                let _ = auth::verify_password(password, "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2Gf6YQ2sQ5FBE0O4dCEr7b0KfLQHppTCsAhYfD9uY9c");
                false
            }
        };
        if !ok {
            self.sign_in_failed(username, attempt, "wrong user name or password")
                .await?;
            return Err(Error::Unauthenticated("wrong user name or password".into()));
        }
        let (spec, record) = match (spec, record) {
            (Some(s), Some(r)) => (s, r),
            _ => return Err(Error::Internal("user vanished".into())),
        };
        if record.expired(now) {
            // The right password: not counted towards a lock, but refused.
            attempt.release(now);
            let msg = "your one-time password expired (72 hours after it was set); ask an admin for a new one";
            let mut d = Draft::new(username, AuditAction::LoginFailed, "User", username);
            d.result = format!("refused: {msg}");
            self.audit.record(d).await?;
            return Err(Error::Unauthenticated(msg.into()));
        }
        attempt.succeeded(now);
        let user_id = self.user_id(username).await?;
        let token = auth::new_token();
        let ttl = jiff::SignedDuration::from_mins(self.config.auth.token_ttl_minutes as i64);
        let session = Session {
            username: username.into(),
            user_id,
            created_at: now,
            expires_at: now.checked_add(ttl).unwrap_or(now),
            password_generation: record.generation(),
        };
        let key = auth::session_key(&token);
        let mut d = Draft::new(username, AuditAction::Login, "User", username);
        d.details = serde_json::json!({"expires_at": session.expires_at});
        self.audit
            .commit(vec![], vec![Op::Put(key, serde_json::to_vec(&session)?)], d)
            .await?;
        Ok(SignedIn {
            token,
            session,
            roles: spec.roles,
            must_change_password: record.one_time,
        })
    }

    /// Reserves a password check for `user` (`None`: not a valid name, only the
    /// source counts) from `source` ([`SignInLimits::begin`]): refused while a
    /// lock is in force (nothing written), held back while the checks already in
    /// flight could begin one.
    async fn password_attempt(
        &self,
        user: Option<&str>,
        source: Option<IpAddr>,
    ) -> Result<Attempt> {
        let source = source.map(lockout::source_key);
        self.wing::<SignInLimits>()
            .begin(user, source.as_deref(), || self.clock.now())
            .await
            .map_err(|lock| locked_error(&lock))
    }

    /// Counts the failed sign-in (or password check) `attempt` of `shown`
    /// against its user and source, audits it (the name bounded and escaped),
    /// and audits each lock it began once. Counted before anything is awaited, so
    /// a request given up meanwhile still counts.
    async fn sign_in_failed(&self, shown: &str, attempt: Attempt, why: &str) -> Result<()> {
        let now = self.clock.now();
        let source = attempt.source().map(str::to_string);
        let began = attempt.failed(now);
        let name = auth::escaped_user_name(shown);
        let mut d = Draft::new(&name, AuditAction::LoginFailed, "User", &name);
        d.result = format!("refused: {why}");
        if let Some(s) = &source {
            d.details = serde_json::json!({"source": s});
        }
        self.audit.record(d).await?;
        for lock in began {
            let (kind, target) = match &lock.what {
                Locked::User(u) => ("User", u.as_str()),
                Locked::Source(s) => ("Source", s.as_str()),
            };
            let mut d = Draft::new(&name, AuditAction::LoginLocked, kind, target);
            d.result = format!(
                "locked until {}: {} failed sign-ins within {} minutes",
                lock.until,
                lockout::MAX_FAILURES,
                lockout::WINDOW.as_mins()
            );
            d.details = serde_json::json!({"until": lock.until, "source": source});
            self.audit.record(d).await?;
        }
        Ok(())
    }

    /// Resolves a bearer token to its user, with the user's current roles. A
    /// caller whose password is one-time is refused ([`auth::CHANGE_ONE_TIME`]).
    pub async fn authenticate(&self, token: &str) -> Result<Actor> {
        let mut m = self.resolve_session(token).await?;
        if m.one_time {
            // The password changed through another controller a moment ago (the
            // sign-in that made this token came after it) may not have reached this
            // one's cache yet: the store decides before the refusal stands.
            self.refresh(&m.password_key).await?;
            m = self.resolve_session(token).await?;
            if m.one_time {
                return Err(Error::FailedPrecondition(auth::CHANGE_ONE_TIME.into()));
            }
        }
        Ok(m.actor.clone())
    }

    /// The token's user and session, and whether their password is one-time:
    /// for `passwd` and `logout`, which work with a one-time password too.
    pub async fn session_of(&self, token: &str) -> Result<(Actor, Session, bool)> {
        let m = self.resolve_session(token).await?;
        Ok((m.actor.clone(), m.session.clone(), m.one_time))
    }

    /// The token's session as [`SessionMemo`] keeps it (shared, not copied: every
    /// request of the API comes through here).
    ///
    /// Who the caller is (the session, the user's record with its roles and
    /// `disabled`, the password record) is read from the store itself on every
    /// request, in one read at one revision ([`Store::get_many`]: one round trip on
    /// etcd), never from this replica's watch-fed cache alone. A replica whose watch
    /// lags would otherwise admit, for as long as it lags, a user just disabled or
    /// demoted, or a session just revoked, through another controller. The memo
    /// still saves the parsing when nothing changed.
    ///
    /// [`Store::get_many`]: crate::core::store::Store::get_many
    async fn resolve_session(&self, token: &str) -> Result<std::sync::Arc<MemoEntry>> {
        let skey = auth::session_key(token);
        let memo = self.wing::<SessionMemo>();
        let known = memo.latest(&skey);
        let mut read = match &known {
            Some(m) => {
                self.read_fresh(&[&skey, &m.user_key, &m.password_key])
                    .await?
            }
            None => self.read_fresh(&[&skey]).await?,
        }
        .into_iter();
        let kv = read.next().flatten().ok_or_else(|| {
            Error::Unauthenticated("unknown or revoked token; run `camplane login`".into())
        })?;
        let (user_kv, pw_kv) = (read.next().flatten(), read.next().flatten());
        if let Some(m) = known.filter(|m| m.revs[0] == kv.mod_revision) {
            let user_rev = user_kv.as_ref().map(|u| u.mod_revision);
            let pw_rev = pw_kv.as_ref().map(|p| p.mod_revision);
            if user_rev == Some(m.revs[1]) && pw_rev == m.pw_rev {
                // Parsed before from these very records: only the clock can differ.
                if m.session.expires_at <= self.clock.now() {
                    return Err(Error::Unauthenticated(
                        "token expired; run `camplane login`".into(),
                    ));
                }
                return Ok(m);
            }
        }
        let s: Session = serde_json::from_slice(&kv.value)?;
        if s.expires_at <= self.clock.now() {
            return Err(Error::Unauthenticated(
                "token expired; run `camplane login`".into(),
            ));
        }
        let session_rev = kv.mod_revision;
        let user_key = StoredObject::key(Kind::User, &s.username);
        let password_key = format!("{}{}", auth::PASSWORDS, s.username);
        let (user_kv, pw) = if user_kv.as_ref().is_some_and(|u| u.key == user_key) {
            (user_kv, pw_kv)
        } else {
            let mut r = self
                .read_fresh(&[&user_key, &password_key])
                .await?
                .into_iter();
            (r.next().flatten(), r.next().flatten())
        };
        let kv = user_kv.ok_or_else(|| Error::Unauthenticated("user no longer exists".into()))?;
        let user_rev = kv.mod_revision;
        let user: StoredObject = serde_json::from_slice(&kv.value)?;
        // The session belongs to the id: a user deleted and re-created under the
        // same name is someone else.
        if s.user_id.is_empty() || auth::user_id_of(&user.status) != Some(s.user_id.as_str()) {
            return Err(Error::Unauthenticated(
                "this session's user no longer exists; run `camplane login`".into(),
            ));
        }
        let spec: UserSpec = user.spec_as()?;
        if spec.disabled {
            return Err(Error::Unauthenticated("user is disabled".into()));
        }
        let record = pw.as_ref().map(|kv| PasswordRecord::parse(&kv.value));
        // A password changed or reset since the sign-in ends the session, whether
        // or not the change found it to delete.
        if auth::outlived_password(&s, record.as_ref()) {
            return Err(Error::Unauthenticated(
                "the password changed since this session began; run `camplane login`".into(),
            ));
        }
        let one_time = record.is_some_and(|r| r.one_time);
        let actor = Actor {
            username: s.username.clone(),
            roles: spec.roles,
            department: spec.department,
        };
        let m = std::sync::Arc::new(MemoEntry {
            revs: [session_rev, user_rev],
            pw_rev: pw.map(|kv| kv.mod_revision),
            user_key,
            password_key,
            actor,
            session: s,
            one_time,
        });
        memo.put(skey, m.clone());
        Ok(m)
    }

    /// Ends a session.
    pub async fn logout(&self, token: &str, actor: &Actor) -> Result<()> {
        let d = Draft::new(
            &actor.username,
            AuditAction::Logout,
            "User",
            &actor.username,
        );
        self.audit
            .commit(vec![], vec![Op::Delete(auth::session_key(token))], d)
            .await?;
        Ok(())
    }

    /// `camplane passwd`: the signed-in user (`token`) changes their own
    /// password, giving the current one. A wrong current password counts as a
    /// failed sign-in. The new one is theirs (not one-time); their other
    /// sessions end (refused from now on, see [`auth::outlived_password`]), and
    /// this one goes on: it is moved to the new password's generation in the
    /// same transaction.
    pub async fn change_password(
        &self,
        token: &str,
        old: &str,
        new: &str,
        source: Option<IpAddr>,
    ) -> Result<()> {
        let this = self.resolve_session(token).await?;
        let (actor, session, session_rev) = (&this.actor, &this.session, this.revs[0]);
        let name = actor.username.as_str();
        let attempt = self.password_attempt(Some(name), source).await?;
        let now = self.clock.now();
        let key = format!("{}{name}", auth::PASSWORDS);
        let kv = self
            .store
            .get(&key)
            .await?
            .ok_or_else(|| Error::NotFound(format!("user {name:?} has no password")))?;
        let record = PasswordRecord::parse(&kv.value);
        if !auth::verify_password(old, &record.hash) {
            self.sign_in_failed(name, attempt, "wrong current password (passwd)")
                .await?;
            return Err(Error::Unauthenticated(
                "the current password is wrong".into(),
            ));
        }
        attempt.release(now);
        if let Some(why) = auth::weak_password(new, &self.config.city.name) {
            return Err(Error::InvalidArgument(why));
        }
        if old == new {
            return Err(Error::InvalidArgument(
                "the new password must differ from the current one".into(),
            ));
        }
        let fresh = PasswordRecord::new(new, false, now)?;
        // The caller's own session goes on under the new password (compared, so
        // a sign-out meanwhile is not undone); every other one is refused from
        // now on, and those this replica knows of are deleted.
        let this_key = auth::session_key(token);
        let kept = Session {
            password_generation: fresh.generation(),
            ..session.clone()
        };
        let mut ops = vec![
            Op::Put(key.clone(), serde_json::to_vec(&fresh)?),
            Op::Put(this_key.clone(), serde_json::to_vec(&kept)?),
        ];
        ops.extend(
            self.sessions_of(&session.user_id, name)
                .into_iter()
                .filter(|k| *k != this_key)
                .take(MAX_SESSIONS_ENDED - 1)
                .map(Op::Delete),
        );
        let d = Draft::new(name, AuditAction::UserPasswd, "User", name);
        let compares = vec![
            Compare::ModRevision(key, kv.mod_revision),
            Compare::ModRevision(this_key, session_rev),
        ];
        let done = self.audit.commit(compares, ops, d).await?;
        match done {
            Some(_) => Ok(()),
            None => Err(Error::Conflict(
                "the password or this session changed meanwhile; try again".into(),
            )),
        }
    }

    /// An administrator sets a new one-time password for `name` (generated when
    /// none is given; returned then, to be shown once) and ends its sessions.
    pub async fn reset_password(
        &self,
        actor: &Actor,
        name: &str,
        password: Option<String>,
    ) -> Result<Option<String>> {
        self.require(
            actor,
            Operation::ManageUsers,
            AuditAction::UserPasswordReset,
        )
        .await?;
        if let Some(pw) = &password {
            if let Some(why) = auth::weak_password(pw, &self.config.city.name) {
                return Err(Error::InvalidArgument(why));
            }
        }
        let generated = password.is_none();
        let pw = password.unwrap_or_else(auth::new_password);
        let record = PasswordRecord::new(&pw, true, self.clock.now())?;
        let id = self.user_id(name).await?;
        let sessions = self.sessions_of(&id, name);
        self.update(Kind::User, name, |old| {
            let old = old.ok_or_else(|| Error::NotFound(format!("user {name:?}")))?;
            if auth::user_id_of(&old.status) != Some(id.as_str()) {
                return Err(
                    Error::Conflict(format!("user {name:?} was re-created; try again")).into(),
                );
            }
            let mut change = Change::put(
                &actor.username,
                AuditAction::UserPasswordReset,
                old.clone(),
                Value::Null,
            );
            change.ops.push(Op::Put(
                format!("{}{name}", auth::PASSWORDS),
                serde_json::to_vec(&record)?,
            ));
            change.ops.extend(sessions.iter().cloned().map(Op::Delete));
            Ok(Step::Write(Box::new(change), ()))
        })
        .await?;
        Ok(generated.then_some(pw))
    }

    /// The session keys of user `id` (`name` for sessions stored before ids),
    /// at most [`MAX_SESSIONS_ENDED`].
    pub(crate) fn sessions_of(&self, id: &str, name: &str) -> Vec<String> {
        self.cache
            .list(auth::SESSIONS)
            .into_iter()
            .filter(|kv| {
                serde_json::from_slice::<Session>(&kv.value).is_ok_and(|s| {
                    if s.user_id.is_empty() {
                        s.username == name
                    } else {
                        s.user_id == id
                    }
                })
            })
            .map(|kv| kv.key.clone())
            .take(MAX_SESSIONS_ENDED)
            .collect()
    }

    /// The records of other users who hold a kept role (at most
    /// [`KEPT_COMPARED`] per role, from the cache). A change that could take a
    /// kept role away reads these from the store and compares them in its
    /// transaction ([`held_in`]), so the last-holder rule holds across
    /// controllers: two removals of two different holders each compare the
    /// other's record, and the second to commit loses, reads again and is
    /// refused. A holder the cache does not list yet is only left uncounted,
    /// which can refuse, never allow, a removal.
    pub(crate) fn kept_holder_keys(&self, target: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        for role in grant_machine::KEPT_ROLES {
            let holders = self
                .list(Kind::User)?
                .into_iter()
                .filter(|(u, _)| u.name != target)
                .filter(|(u, _)| {
                    u.spec_as::<UserSpec>()
                        .is_ok_and(|s| grant_machine::effective_roles(&s).contains(&role))
                })
                .map(|(u, _)| StoredObject::key(Kind::User, &u.name))
                .take(KEPT_COMPARED);
            for k in holders {
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
        }
        Ok(keys)
    }

    /// How many enabled users other than `target` hold each kept role.
    pub(crate) fn other_holders(&self, target: &str) -> Result<Vec<Role>> {
        let mut held = Vec::new();
        for (u, _) in self.list(Kind::User)? {
            if u.name == target {
                continue;
            }
            if let Ok(spec) = u.spec_as::<UserSpec>() {
                held.extend_from_slice(grant_machine::effective_roles(&spec));
            }
        }
        Ok(held)
    }

    /// How many enabled users hold `role`.
    fn holders(&self, role: Role) -> Result<usize> {
        Ok(self
            .other_holders("")?
            .iter()
            .filter(|r| **r == role)
            .count())
    }

    /// This process's turn on changes that could remove a kept role.
    pub(crate) async fn kept_roles_turn(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.lock_key(KEPT_ROLES_TURN).await
    }

    async fn create_user(
        &self,
        actor: &Actor,
        name: &str,
        spec: UserSpec,
        password: &str,
        one_time: bool,
    ) -> Result<StoredObject> {
        if !auth::valid_user_name(name) {
            return Err(Error::InvalidArgument(format!(
                "user name {:?} is not valid ({})",
                auth::escaped_user_name(name),
                auth::USER_NAME_RULE
            )));
        }
        if let Some(why) = auth::weak_password(password, &self.config.city.name) {
            return Err(Error::InvalidArgument(why));
        }
        let key = StoredObject::key(Kind::User, name);
        let obj = StoredObject {
            kind: "User".into(),
            name: name.into(),
            spec: json(&spec),
            status: serde_json::json!({"id": auth::new_user_id()}),
        };
        let mut d = Draft::new(&actor.username, AuditAction::UserAdd, "User", name);
        d.after = Some(json(&obj));
        let record = PasswordRecord::new(password, one_time, self.clock.now())?;
        let done = self
            .audit
            .commit(
                vec![Compare::ModRevision(key.clone(), 0)],
                vec![
                    Op::Put(key, serde_json::to_vec(&obj)?),
                    Op::Put(
                        format!("{}{name}", auth::PASSWORDS),
                        serde_json::to_vec(&record)?,
                    ),
                ],
                d,
            )
            .await?;
        match done {
            Some(_) => Ok(obj),
            None => Err(Error::AlreadyExists(format!("user {name:?}"))),
        }
    }

    /// Adds a user with a one-time password (generated and returned when none
    /// was given): the user changes it with `camplane passwd` before anything else.
    /// Governing roles in `spec` are not held yet: each becomes a pending grant
    /// (returned) that a second person decides.
    pub async fn add_user(
        &self,
        actor: &Actor,
        name: &str,
        spec: UserSpec,
        password: Option<String>,
    ) -> Result<(StoredObject, Option<String>, Vec<RoleGrant>)> {
        self.require(actor, Operation::ManageUsers, AuditAction::UserAdd)
            .await?;
        if !auth::valid_user_name(name) {
            return Err(Error::InvalidArgument(format!(
                "user name {:?} is not valid ({})",
                auth::escaped_user_name(name),
                auth::USER_NAME_RULE
            )));
        }
        let problems = Spec::User(spec.clone()).validate();
        if !problems.is_empty() {
            return Err(Error::InvalidArgument(
                problems
                    .into_iter()
                    .map(|(p, m)| format!("{p}: {m}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            ));
        }
        if spec.policy_version.is_some() {
            let msg = format!("User {name:?}: policy_version: users acknowledge the policy themselves with `camplane policy acknowledge --password-stdin`");
            let r = Refusal::denied(actor, AuditAction::UserAdd, "User", name, msg);
            return Err(self.record_refusal(r).await);
        }
        let mut spec = spec;
        let (governing, held): (Vec<Role>, Vec<Role>) = spec
            .roles
            .clone()
            .into_iter()
            .partition(|r| grant_machine::is_governing(*r));
        spec.roles = held;
        let generated = password.is_none();
        let pw = password.unwrap_or_else(auth::new_password);
        let obj = self.create_user(actor, name, spec, &pw, true).await?;
        let id = auth::user_id_of(&obj.status)
            .unwrap_or_default()
            .to_string();
        let grants = self.request_grants(actor, name, &id, &governing).await?;
        Ok((obj, generated.then_some(pw), grants))
    }

    /// Grants (or revokes) roles (the rule: [`grant_machine::next`]; the last
    /// admin and city manager keep theirs: [`grant_machine::check_last_holder`]).
    /// Governing roles are only asked for: the pending grants are returned.
    pub async fn grant(
        &self,
        actor: &Actor,
        name: &str,
        roles: &[Role],
        revoke: bool,
    ) -> Result<(StoredObject, Vec<RoleGrant>)> {
        self.require(actor, Operation::ManageUsers, grant_machine::REFUSED)
            .await?;
        let action = if revoke {
            grant_machine::Action::Revoke(roles)
        } else {
            grant_machine::Action::Grant(roles)
        };
        let _turn = self.kept_roles_turn().await;
        let holder_keys = self.kept_holder_keys(name)?;
        let also: Vec<&str> = holder_keys.iter().map(String::as_str).collect();
        let (obj, pending) = self
            .update_with(Kind::User, name, &also, |old, holders| {
                let others = held_in(holders);
                let old = old.ok_or_else(|| Error::NotFound(format!("user {name:?}")))?;
                let mut spec: UserSpec = old.spec_as()?;
                let t = grant_machine::next(name, &spec.roles, action, actor)?;
                if !t.pending.is_empty() && t.roles == spec.roles {
                    // Only governing roles asked for: nothing held changes now.
                    return Ok(Step::Keep((old.clone(), t.pending)));
                }
                let before = grant_machine::effective_roles(&spec).to_vec();
                spec.roles = t.roles;
                grant_machine::check_last_holder(
                    name,
                    &before,
                    grant_machine::effective_roles(&spec),
                    |r| others.iter().filter(|x| **x == r).count(),
                    t.audit,
                    actor,
                )?;
                let mut new = old.clone();
                new.spec = json(&spec);
                let held: Vec<Role> = roles
                    .iter()
                    .filter(|r| !t.pending.contains(*r))
                    .copied()
                    .collect();
                let details = serde_json::json!({"roles": held});
                let change = Change::put(&actor.username, t.audit, new.clone(), details);
                Ok(Step::Write(Box::new(change), (new, t.pending)))
            })
            .await?;
        let id = auth::user_id_of(&obj.status)
            .unwrap_or_default()
            .to_string();
        let grants = self.request_grants(actor, name, &id, &pending).await?;
        Ok((obj, grants))
    }

    /// Stores a pending grant of each governing role in `roles` for user `name`
    /// (immutable id `user_id`), each audited `user.grant.request`; one already
    /// pending for the same user and role is returned instead of a second.
    async fn request_grants(
        &self,
        actor: &Actor,
        name: &str,
        user_id: &str,
        roles: &[Role],
    ) -> Result<Vec<RoleGrant>> {
        let mut out = Vec::new();
        if roles.is_empty() {
            return Ok(out);
        }
        let existing = self.grants(true).await?;
        for role in roles {
            if let Some(g) = existing
                .iter()
                .find(|g| g.user == name && g.user_id == user_id && g.role == *role)
            {
                out.push(g.clone());
                continue;
            }
            let g = RoleGrant {
                id: format!("rg-{}", hex::encode(rand::random::<[u8; 8]>())),
                user: name.into(),
                user_id: user_id.into(),
                role: *role,
                requested_by: actor.username.clone(),
                requested_at: self.clock.now(),
                state: GrantState::Pending,
                decided_by: None,
                decided_at: None,
                reason: None,
            };
            let key = format!("{GRANTS}{}", g.id);
            let decider = grant_machine::decider(*role);
            let mut d = Draft::new(&actor.username, AuditAction::UserGrantRequest, "User", name);
            // Said where it is recorded when nobody can decide it yet.
            d.result = match (decider, self.holders(decider)?) {
                (Role::Admin, n) if n < 2 => {
                    "pending: there is no second admin yet to confirm it".into()
                }
                (Role::CityManager, 0) => "pending: there is no city manager yet to confirm it (auth.initial_city_manager creates the first on a new store)".into(),
                _ => "pending".into(),
            };
            d.details = serde_json::json!({
                "grant": g.id,
                "role": role,
                "decided_by": decider,
            });
            let done = self
                .audit
                .commit(
                    vec![Compare::ModRevision(key.clone(), 0)],
                    vec![Op::Put(key, serde_json::to_vec(&g)?)],
                    d,
                )
                .await?;
            if done.is_none() {
                return Err(Error::Conflict("a grant id was taken; try again".into()));
            }
            out.push(g);
        }
        Ok(out)
    }

    /// The stored grants, oldest first (only pending ones when `pending`).
    async fn grants(&self, pending: bool) -> Result<Vec<RoleGrant>> {
        let l = self.store.list(GRANTS).await?;
        let mut v: Vec<RoleGrant> = l
            .kvs
            .iter()
            .filter_map(|kv| serde_json::from_slice(&kv.value).ok())
            .filter(|g: &RoleGrant| !pending || g.state == GrantState::Pending)
            .collect();
        v.sort_by(|a, b| (a.requested_at, &a.id).cmp(&(b.requested_at, &b.id)));
        Ok(v)
    }

    /// `camplane user grants list`: the pending governing grants, for those who
    /// ask for or decide them (admins, the city manager) and auditors.
    pub async fn pending_grants(&self, actor: &Actor) -> Result<Vec<RoleGrant>> {
        if ![Role::Admin, Role::CityManager, Role::Auditor]
            .iter()
            .any(|r| actor.has(*r))
        {
            let msg = "pending grants are listed for admins, the city manager and auditors".into();
            let r = Refusal::denied(actor, AuditAction::UserGrantConfirm, "RoleGrant", "", msg);
            return Err(self.record_refusal(r).await);
        }
        self.grants(true).await
    }

    /// `camplane user grants confirm|reject ID`: the rule is
    /// [`grant_machine::decide`]; a confirmation adds the role to the user in
    /// the same transaction as the decision and its audit entry.
    pub async fn decide_grant(
        &self,
        actor: &Actor,
        id: &str,
        decision: Decision<'_>,
    ) -> Result<RoleGrant> {
        let gkey = format!("{GRANTS}{id}");
        let valid = id.len() <= 40 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        let Some(kv) = (if valid {
            self.store.get(&gkey).await?
        } else {
            None
        }) else {
            let mut d = Draft::new(&actor.username, decision.audit_action(), "RoleGrant", "");
            let msg = format!(
                "no grant {:?}; see `camplane user grants list`",
                auth::escaped_user_name(id)
            );
            d.result = format!("refused: {msg}");
            self.audit.record(d).await?;
            return Err(Error::NotFound(msg));
        };
        let grant: RoleGrant = serde_json::from_slice(&kv.value)?;
        let ukey = StoredObject::key(Kind::User, &grant.user);
        let now = self.clock.now();
        self.update_keys(&[&gkey, &ukey], |kvs| {
            let grant: RoleGrant = match &kvs[0] {
                Some(kv) => serde_json::from_slice(&kv.value)?,
                None => return Err(Error::NotFound(format!("grant {id}")).into()),
            };
            let user: Option<StoredObject> = kvs[1]
                .as_ref()
                .map(|kv| serde_json::from_slice(&kv.value))
                .transpose()?;
            let user_id = user.as_ref().and_then(|u| auth::user_id_of(&u.status));
            let decided = grant_machine::decide(&grant, user_id, decision, actor, now)?;
            let mut d = Draft::new(
                &actor.username,
                decision.audit_action(),
                "User",
                &grant.user,
            );
            d.details = serde_json::json!({
                "grant": grant.id,
                "role": grant.role,
                "requested_by": grant.requested_by,
                "reason": decided.reason,
            });
            let mut ops = Vec::new();
            if let (GrantState::Confirmed, Some(u)) = (decided.state, &user) {
                let mut spec: UserSpec = u.spec_as()?;
                if !spec.roles.contains(&grant.role) {
                    spec.roles.push(grant.role);
                    spec.roles.sort();
                }
                let mut new = u.clone();
                new.spec = json(&spec);
                d.before = Some(json(u));
                d.after = Some(json(&new));
                ops.push(Op::Put(ukey.clone(), serde_json::to_vec(&new)?));
            }
            let change = KeyChange {
                value: KeyWrite::Put(serde_json::to_vec(&decided)?),
                draft: d,
                ops,
                staged: vec![],
            };
            Ok(KeyStep::Write(Box::new(change), decided))
        })
        .await
    }

    /// `camplane policy acknowledge`: the signed-in user (`token`), giving their
    /// own password again, acknowledges the policy they were shown (`version`
    /// and `sha256` must still be the current ones). Recorded on their own
    /// record (`status.policy_version`, `policy_sha256`, `acknowledged_at`) and
    /// audited; a wrong password counts as a failed sign-in.
    pub async fn acknowledge_policy(
        &self,
        token: &str,
        password: &str,
        version: &str,
        sha256: &str,
        source: Option<IpAddr>,
    ) -> Result<PolicyText> {
        let actor = self.authenticate(token).await?;
        let name = actor.username.as_str();
        let attempt = self.password_attempt(Some(name), source).await?;
        let now = self.clock.now();
        let record = self
            .store
            .get(&format!("{}{name}", auth::PASSWORDS))
            .await?
            .map(|kv| PasswordRecord::parse(&kv.value));
        if !record.is_some_and(|r| auth::verify_password(password, &r.hash)) {
            self.sign_in_failed(name, attempt, "wrong password (policy acknowledge)")
                .await?;
            return Err(Error::Unauthenticated("the password is wrong".into()));
        }
        attempt.release(now);
        let policy = self.policy_text()?;
        if policy.version != version || policy.sha256 != sha256 {
            let msg = format!(
                "the policy is now version {} (SHA-256 {}), not the one shown; run `camplane policy acknowledge` again",
                policy.version, policy.sha256
            );
            let r = Refusal::refused(
                &actor,
                AuditAction::PolicyAcknowledge,
                "User",
                name,
                Error::FailedPrecondition(msg),
            );
            return Err(self.record_refusal(r).await);
        }
        let ack = policy.clone();
        self.update(Kind::User, name, |old| {
            let old = old.ok_or_else(|| Error::NotFound(format!("user {name:?}")))?;
            let mut new = old.clone();
            let mut status = match &old.status {
                Value::Object(m) => m.clone(),
                _ => Default::default(),
            };
            status.insert("policy_version".into(), Value::String(ack.version.clone()));
            status.insert("policy_sha256".into(), Value::String(ack.sha256.clone()));
            status.insert("acknowledged_at".into(), json(&now));
            new.status = Value::Object(status);
            let details = serde_json::json!({"policy_version": ack.version, "sha256": ack.sha256});
            let change = Change::put(name, AuditAction::PolicyAcknowledge, new, details);
            Ok(Step::Write(Box::new(change), ()))
        })
        .await?;
        Ok(policy)
    }
}

/// The refusal of a sign-in while a lock is in force (nothing is written).
fn locked_error(lock: &Lock) -> Error {
    let what = match &lock.what {
        Locked::User(u) => format!("user {u}"),
        Locked::Source(s) => format!("sign-ins from {s}"),
    };
    Error::Unauthenticated(format!(
        "{what} locked after {} failed sign-ins; try again after {}",
        lockout::MAX_FAILURES,
        lock.until
    ))
}

/// Sessions already resolved, each with the mod revisions of the records it was
/// read from (session, user, password): a request whose records are unchanged
/// skips their parsing. Bounded; emptied when full (it only saves work).
#[derive(Default)]
struct SessionMemo(std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<MemoEntry>>>);

/// Sessions [`SessionMemo`] keeps at most.
const MEMO_MAX: usize = 4096;

struct MemoEntry {
    /// The session's and the user's mod revisions.
    revs: [i64; 2],
    /// The password record's, if there is one.
    pw_rev: Option<i64>,
    user_key: String,
    password_key: String,
    actor: Actor,
    session: Session,
    one_time: bool,
}

impl SessionMemo {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, std::sync::Arc<MemoEntry>>>
    {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The entry of a session key, made from whatever revision it was.
    fn latest(&self, key: &str) -> Option<std::sync::Arc<MemoEntry>> {
        self.lock().get(key).cloned()
    }

    fn put(&self, key: String, entry: std::sync::Arc<MemoEntry>) {
        let mut g = self.lock();
        if g.len() >= MEMO_MAX && !g.contains_key(&key) {
            g.clear();
        }
        g.insert(key, entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::lagging_pair;

    const OFFICER_PW: &str = "an officer's own passphrase 19";

    /// A replica whose watch hears nothing of what another replica did still knows,
    /// on the very next request, that a user was demoted, disabled or signed out
    /// there: who a caller is comes from the store, not from the lagging cache.
    #[tokio::test]
    async fn a_lagging_replica_sees_a_demotion_a_disable_and_a_sign_out_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, admin) = lagging_pair(dir.path()).await;
        let spec = UserSpec {
            display_name: "Officer".into(),
            department: "police".into(),
            roles: vec![Role::AlprOperator, Role::Viewer],
            trained_at: None,
            certified_until: None,
            policy_version: None,
            disabled: false,
        };
        a.add_user(&admin, "officer", spec.clone(), Some(OFFICER_PW.into()))
            .await
            .unwrap();
        let token = a.login("officer", OFFICER_PW, None).await.unwrap().token;
        let other = a.login("officer", OFFICER_PW, None).await.unwrap().token;

        let (who, _, _) = b.session_of(&token).await.unwrap();
        assert_eq!(who.roles, vec![Role::AlprOperator, Role::Viewer]);

        // Demoted through A.
        a.grant(&admin, "officer", &[Role::AlprOperator], true)
            .await
            .unwrap();
        let (who, _, _) = b.session_of(&token).await.unwrap();
        assert_eq!(who.roles, vec![Role::Viewer], "B kept a revoked role");
        // What was read went into B's cache: the request's later checks of the record
        // (policy acknowledgement, training, certification) read it from there.
        let cached: UserSpec = b.load(Kind::User, "officer").unwrap().spec_as().unwrap();
        assert_eq!(cached.roles, vec![Role::Viewer]);

        // Signed out through A (one of the two sessions).
        let (me, _, _) = a.session_of(&other).await.unwrap();
        a.logout(&other, &me).await.unwrap();
        let e = b.session_of(&other).await.unwrap_err();
        assert!(
            matches!(e, Error::Unauthenticated(ref m) if m.contains("revoked")),
            "B admitted a token signed out through A: {e}"
        );

        // Disabled through A.
        let mut off = spec;
        off.roles = vec![Role::Viewer];
        off.disabled = true;
        let json = serde_json::to_vec(&off).unwrap();
        a.apply(&admin, vec![(Kind::User, "officer".into(), json)], "test")
            .await
            .unwrap();
        let e = b.session_of(&token).await.unwrap_err();
        assert!(
            matches!(e, Error::Unauthenticated(ref m) if m.contains("disabled")),
            "B admitted a user disabled through A: {e}"
        );
    }

    /// A password changed through a replica whose cache never listed the user's
    /// other sessions (opened through another) still ends them, on both: the
    /// change deletes only what its cache knows, and every controller refuses a
    /// session older than the password. The caller's own session goes on.
    #[tokio::test]
    async fn a_password_changed_through_a_lagging_replica_ends_sessions_it_never_saw() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, admin) = lagging_pair(dir.path()).await;
        let spec = UserSpec {
            display_name: "Officer".into(),
            department: "police".into(),
            roles: vec![Role::Viewer],
            trained_at: None,
            certified_until: None,
            policy_version: None,
            disabled: false,
        };
        a.add_user(&admin, "officer", spec, Some(OFFICER_PW.into()))
            .await
            .unwrap();
        // One-time (set by an admin): the first sign-in changes it.
        let first = a.login("officer", OFFICER_PW, None).await.unwrap().token;
        let own = "the officer's own passphrase 23";
        b.change_password(&first, OFFICER_PW, own, None)
            .await
            .unwrap();
        let other = a.login("officer", own, None).await.unwrap().token;
        let mine = a.login("officer", own, None).await.unwrap().token;
        let id = a.session_of(&mine).await.unwrap().1.user_id;
        assert!(
            !b.sessions_of(&id, "officer")
                .contains(&auth::session_key(&other)),
            "B's cache lags"
        );

        let newer = "the officer's newer passphrase 31";
        b.change_password(&mine, own, newer, None).await.unwrap();
        for c in [&a, &b] {
            // `first` B had read, so it was deleted; `other` it never saw.
            let e = c.authenticate(&first).await.unwrap_err();
            assert!(matches!(e, Error::Unauthenticated(_)), "{e}");
            let e = c.authenticate(&other).await.unwrap_err();
            assert!(
                matches!(e, Error::Unauthenticated(ref m) if m.contains("password changed")),
                "a session from before the change was admitted: {e}"
            );
            assert_eq!(c.authenticate(&mine).await.unwrap().username, "officer");
        }
    }
}
