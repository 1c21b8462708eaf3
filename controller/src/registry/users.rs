//! Sign-in, sessions and users: the first admin, login and logout, bearer
//! tokens, adding users and granting roles.

use crate::core::audit::Draft;
use crate::core::auth::{self, Actor, Operation, Session};
use crate::core::object::{json, Change, Step, StoredObject};
use crate::core::store::{Compare, Op};
use crate::core::AuditAction;
use crate::core::Controller;
use crate::registry::grant_machine;
use crate::{Error, Result};
use camplane_config::manifest::Spec;
use camplane_config::model::*;
use serde_json::Value;

impl Controller {
    /// Creates the first admin when there are no users. Returns the password when
    /// it was generated (to be shown once).
    pub async fn bootstrap_admin(&self, env_password: Option<String>) -> Result<Option<String>> {
        let users = self.store.list(Kind::User.prefix()).await?;
        if !users.kvs.is_empty() {
            return Ok(None);
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
        self.create_user(&Actor::system(), &name, spec, &password)
            .await?;
        Ok(generated.then_some(password))
    }

    /// Checks a password and opens a session. Failures are audited too.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(String, Session, Vec<Role>)> {
        let user = self.load(Kind::User, username).ok();
        let hash = self
            .store
            .get(&format!("{}{username}", auth::PASSWORDS))
            .await?;
        let spec: Option<UserSpec> = user.as_ref().and_then(|u| u.spec_as().ok());
        let ok = match (&spec, &hash) {
            (Some(s), Some(h)) => {
                !s.disabled && auth::verify_password(password, &String::from_utf8_lossy(&h.value))
            }
            _ => {
                // Spend the same time as a real check, so names cannot be probed.
                let _ = auth::verify_password(password, "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2Gf6YQ2sQ5FBE0O4dCEr7b0KfLQHppTCsAhYfD9uY9c");
                false
            }
        };
        if !ok {
            let mut d = Draft::new(username, AuditAction::LoginFailed, "User", username);
            d.result = "refused: wrong user name or password".into();
            self.audit.record(d).await?;
            return Err(Error::Unauthenticated("wrong user name or password".into()));
        }
        let spec = spec.ok_or_else(|| Error::Internal("user vanished".into()))?;
        let token = auth::new_token();
        let now = self.clock.now();
        let ttl = jiff::SignedDuration::from_mins(self.config.auth.token_ttl_minutes as i64);
        let session = Session {
            username: username.into(),
            created_at: now,
            expires_at: now.checked_add(ttl).unwrap_or(now),
        };
        let key = auth::session_key(&token);
        let mut d = Draft::new(username, AuditAction::Login, "User", username);
        d.details = serde_json::json!({"expires_at": session.expires_at});
        self.audit
            .commit(vec![], vec![Op::Put(key, serde_json::to_vec(&session)?)], d)
            .await?;
        Ok((token, session, spec.roles))
    }

    /// Resolves a bearer token to its user, with the user's current roles.
    pub async fn authenticate(&self, token: &str) -> Result<Actor> {
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
        let spec: UserSpec = user.spec_as()?;
        if spec.disabled {
            return Err(Error::Unauthenticated("user is disabled".into()));
        }
        Ok(Actor {
            username: s.username,
            roles: spec.roles,
            department: spec.department,
        })
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

    async fn create_user(
        &self,
        actor: &Actor,
        name: &str,
        spec: UserSpec,
        password: &str,
    ) -> Result<StoredObject> {
        if !valid_name(name) {
            return Err(Error::InvalidArgument(format!(
                "user name {name:?} is not valid (lower-case letters, digits, '-', '_', '.')"
            )));
        }
        if password.chars().count() < 12 {
            return Err(Error::InvalidArgument(
                "a password needs at least 12 characters".into(),
            ));
        }
        let key = StoredObject::key(Kind::User, name);
        let obj = StoredObject {
            kind: "User".into(),
            name: name.into(),
            spec: json(&spec),
            status: Value::Null,
        };
        let mut d = Draft::new(&actor.username, AuditAction::UserAdd, "User", name);
        d.after = Some(json(&obj));
        let hash = auth::hash_password(password)?;
        let done = self
            .audit
            .commit(
                vec![Compare::ModRevision(key.clone(), 0)],
                vec![
                    Op::Put(key, serde_json::to_vec(&obj)?),
                    Op::Put(format!("{}{name}", auth::PASSWORDS), hash.into_bytes()),
                ],
                d,
            )
            .await?;
        match done {
            Some(_) => Ok(obj),
            None => Err(Error::AlreadyExists(format!("user {name:?}"))),
        }
    }

    /// Adds a user; returns the one-time password when none was given.
    pub async fn add_user(
        &self,
        actor: &Actor,
        name: &str,
        spec: UserSpec,
        password: Option<String>,
    ) -> Result<(StoredObject, Option<String>)> {
        self.require(actor, Operation::ManageUsers, AuditAction::UserAdd)
            .await?;
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
        let obj = self.create_user(actor, name, spec, &pw).await?;
        Ok((obj, generated.then_some(pw)))
    }

    /// Grants (or revokes) roles (the rule: [`grant_machine::next`]).
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
        self.update(Kind::User, name, |old| {
            let old = old.ok_or_else(|| Error::NotFound(format!("user {name:?}")))?;
            let mut spec: UserSpec = old.spec_as()?;
            let t = grant_machine::next(name, &spec.roles, action, actor)?;
            spec.roles = t.roles;
            let mut new = old.clone();
            new.spec = json(&spec);
            let details = serde_json::json!({"roles": roles});
            let change = Change::put(&actor.username, t.audit, new.clone(), details);
            Ok(Step::Write(Box::new(change), new))
        })
        .await
    }
}
