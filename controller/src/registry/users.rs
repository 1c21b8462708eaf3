//! Sign-in, sessions and users: the first admin, login and logout, bearer
//! tokens, lockouts after failed sign-ins, passwords (one-time ones, changes,
//! resets), adding users and granting roles.

use crate::core::audit::Draft;
use crate::core::auth::{self, Actor, Operation, PasswordRecord, Session};
use crate::core::object::{json, Change, Step, StoredObject};
use crate::core::store::{Compare, Op};
use crate::core::AuditAction;
use crate::core::Controller;
use crate::registry::grant_machine;
use crate::registry::lockout::{self, Lock, Locked, SignInLimits};
use crate::{Error, Result};
use camplane_config::manifest::Spec;
use camplane_config::model::*;
use serde_json::Value;
use std::net::IpAddr;

/// The key every change that could take away the last admin or city manager
/// takes its turn on (in one process), so two concurrent demotions cannot both
/// see the other still holding the role.
const KEPT_ROLES_TURN: &str = "meta/kept-roles-turn";

/// The most sessions a user's deletion or password change ends in its one
/// transaction (within etcd's 128 operations); any left belong to the old id
/// or password generation and are refused by [`Controller::authenticate`] anyway.
const MAX_SESSIONS_ENDED: usize = 100;

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
        let users = self.store.list(Kind::User.prefix()).await?;
        if !users.kvs.is_empty() {
            return Ok(None);
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
        Ok(generated.then_some(password))
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
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        source: Option<IpAddr>,
    ) -> Result<SignedIn> {
        let now = self.clock.now();
        let source = source.map(lockout::source_key);
        let limits = self.wing::<SignInLimits>();
        let valid = auth::valid_user_name(username);
        let counted = if valid { username } else { "" };
        if let Some(lock) = limits.check(counted, source.as_deref(), now) {
            return Err(locked_error(&lock));
        }
        if !valid {
            self.sign_in_failed(username, None, source.as_deref(), "not a valid user name")
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
            self.sign_in_failed(
                username,
                Some(username),
                source.as_deref(),
                "wrong user name or password",
            )
            .await?;
            return Err(Error::Unauthenticated("wrong user name or password".into()));
        }
        let (spec, record) = match (spec, record) {
            (Some(s), Some(r)) => (s, r),
            _ => return Err(Error::Internal("user vanished".into())),
        };
        if record.expired(now) {
            // The right password: not counted towards a lock, but refused.
            let msg = "your one-time password expired (72 hours after it was set); ask an admin for a new one";
            let mut d = Draft::new(username, AuditAction::LoginFailed, "User", username);
            d.result = format!("refused: {msg}");
            self.audit.record(d).await?;
            return Err(Error::Unauthenticated(msg.into()));
        }
        limits.succeeded(username);
        let user_id = self.user_id(username).await?;
        let token = auth::new_token();
        let ttl = jiff::SignedDuration::from_mins(self.config.auth.token_ttl_minutes as i64);
        let session = Session {
            username: username.into(),
            user_id,
            created_at: now,
            expires_at: now.checked_add(ttl).unwrap_or(now),
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

    /// Audits a failed sign-in (or password check) of `shown` (stored bounded
    /// and escaped), counts it against `user` and `source`, and audits each lock
    /// it began once.
    async fn sign_in_failed(
        &self,
        shown: &str,
        user: Option<&str>,
        source: Option<&str>,
        why: &str,
    ) -> Result<()> {
        let now = self.clock.now();
        let name = auth::escaped_user_name(shown);
        let mut d = Draft::new(&name, AuditAction::LoginFailed, "User", &name);
        d.result = format!("refused: {why}");
        if let Some(s) = source {
            d.details = serde_json::json!({"source": s});
        }
        self.audit.record(d).await?;
        for lock in self.wing::<SignInLimits>().failed(user, source, now) {
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
        let (actor, _, one_time) = self.session_of(token).await?;
        if one_time {
            return Err(Error::FailedPrecondition(auth::CHANGE_ONE_TIME.into()));
        }
        Ok(actor)
    }

    /// The token's user and session, and whether their password is one-time:
    /// for `passwd` and `logout`, which work with a one-time password too.
    pub async fn session_of(&self, token: &str) -> Result<(Actor, Session, bool)> {
        // A session opened on another replica a moment ago is found too.
        let kv = self
            .read_through(&auth::session_key(token))
            .await?
            .ok_or_else(|| {
                Error::Unauthenticated("unknown or revoked token; run `camplane login`".into())
            })?;
        let s: Session = serde_json::from_slice(&kv.value)?;
        if s.expires_at <= self.clock.now() {
            return Err(Error::Unauthenticated(
                "token expired; run `camplane login`".into(),
            ));
        }
        let kv = self
            .read_through(&StoredObject::key(Kind::User, &s.username))
            .await?
            .ok_or_else(|| Error::Unauthenticated("user no longer exists".into()))?;
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
        let one_time = self
            .read_through(&format!("{}{}", auth::PASSWORDS, s.username))
            .await?
            .is_some_and(|kv| PasswordRecord::parse(&kv.value).one_time);
        let actor = Actor {
            username: s.username.clone(),
            roles: spec.roles,
            department: spec.department,
        };
        Ok((actor, s, one_time))
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
    /// sessions end.
    pub async fn change_password(
        &self,
        token: &str,
        old: &str,
        new: &str,
        source: Option<IpAddr>,
    ) -> Result<()> {
        let (actor, session, _) = self.session_of(token).await?;
        let name = actor.username.as_str();
        let now = self.clock.now();
        let source = source.map(lockout::source_key);
        if let Some(lock) = self
            .wing::<SignInLimits>()
            .check(name, source.as_deref(), now)
        {
            return Err(locked_error(&lock));
        }
        let key = format!("{}{name}", auth::PASSWORDS);
        let kv = self
            .store
            .get(&key)
            .await?
            .ok_or_else(|| Error::NotFound(format!("user {name:?} has no password")))?;
        let record = PasswordRecord::parse(&kv.value);
        if !auth::verify_password(old, &record.hash) {
            self.sign_in_failed(
                name,
                Some(name),
                source.as_deref(),
                "wrong current password (passwd)",
            )
            .await?;
            return Err(Error::Unauthenticated(
                "the current password is wrong".into(),
            ));
        }
        if let Some(why) = auth::weak_password(new, &self.config.city.name) {
            return Err(Error::InvalidArgument(why));
        }
        if old == new {
            return Err(Error::InvalidArgument(
                "the new password must differ from the current one".into(),
            ));
        }
        let fresh = PasswordRecord::new(new, false, now)?;
        let mut ops = vec![Op::Put(key.clone(), serde_json::to_vec(&fresh)?)];
        let this = auth::session_key(token);
        ops.extend(
            self.sessions_of(&session.user_id, name)
                .into_iter()
                .filter(|k| *k != this)
                .map(Op::Delete),
        );
        let d = Draft::new(name, AuditAction::UserPasswd, "User", name);
        let done = self
            .audit
            .commit(vec![Compare::ModRevision(key, kv.mod_revision)], ops, d)
            .await?;
        match done {
            Some(_) => Ok(()),
            None => Err(Error::Conflict(
                "the password changed meanwhile; try again".into(),
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
    pub async fn add_user(
        &self,
        actor: &Actor,
        name: &str,
        spec: UserSpec,
        password: Option<String>,
    ) -> Result<(StoredObject, Option<String>)> {
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
        let generated = password.is_none();
        let pw = password.unwrap_or_else(auth::new_password);
        let obj = self.create_user(actor, name, spec, &pw, true).await?;
        Ok((obj, generated.then_some(pw)))
    }

    /// Grants (or revokes) roles (the rule: [`grant_machine::next`]; the last
    /// admin and city manager keep theirs: [`grant_machine::check_last_holder`]).
    pub async fn grant(
        &self,
        actor: &Actor,
        name: &str,
        roles: &[Role],
        revoke: bool,
    ) -> Result<StoredObject> {
        self.require(actor, Operation::ManageUsers, grant_machine::REFUSED)
            .await?;
        let action = if revoke {
            grant_machine::Action::Revoke(roles)
        } else {
            grant_machine::Action::Grant(roles)
        };
        let _turn = self.kept_roles_turn().await;
        let others = self.other_holders(name)?;
        self.update(Kind::User, name, |old| {
            let old = old.ok_or_else(|| Error::NotFound(format!("user {name:?}")))?;
            let mut spec: UserSpec = old.spec_as()?;
            let t = grant_machine::next(name, &spec.roles, action, actor)?;
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
            let details = serde_json::json!({"roles": roles});
            let change = Change::put(&actor.username, t.audit, new.clone(), details);
            Ok(Step::Write(Box::new(change), new))
        })
        .await
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
