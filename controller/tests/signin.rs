//! Sign-in under attack (issue #22): user names bounded before anything is
//! written, lockouts per user and per source, one-time passwords, `passwd`, the
//! password rules, identities that stay dead, and the last admin and city
//! manager. Each attack is made and shown to fail, and the legitimate use beside
//! it still works.

use camplane_controller::clock::ManualClock;
use camplane_proto::v1 as pb;
use camplane_testkit::controller::*;
use jiff::Timestamp;
use serde_json::Value;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tonic::Code;

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

fn entries(log: &[Value], action: &str) -> Vec<Value> {
    log.iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

async fn add_user(h: &Harness, name: &str, roles: &[&str], pw: &str) -> Result<(), tonic::Status> {
    let body = serde_json::json!({"name": name, "spec": {"roles": roles, "department": "police"}});
    pb::users_client::UsersClient::new(h.channel.clone())
        .add(req(
            &h.admin,
            pb::AddUserRequest {
                json: serde_json::to_vec(&body).unwrap(),
                password: pw.into(),
            },
        ))
        .await
        .map(|_| ())
}

async fn whoami(h: &Harness, token: &str) -> Result<pb::LoginResponse, tonic::Status> {
    pb::auth_client::AuthClient::new(h.channel.clone())
        .who_am_i(req(token, pb::Empty {}))
        .await
        .map(|r| r.into_inner())
}

async fn delete_user(h: &Harness, token: &str, name: &str) -> Result<(), tonic::Status> {
    pb::objects_client::ObjectsClient::new(h.channel.clone())
        .delete(req(
            token,
            pb::DeleteRequest {
                kind: "User".into(),
                name: name.into(),
            },
        ))
        .await
        .map(|_| ())
}

async fn grant(
    h: &Harness,
    token: &str,
    name: &str,
    role: &str,
    revoke: bool,
) -> Result<(), tonic::Status> {
    pb::users_client::UsersClient::new(h.channel.clone())
        .grant(req(
            token,
            pb::GrantRequest {
                username: name.into(),
                roles: vec![role.into()],
                revoke,
            },
        ))
        .await
        .map(|_| ())
}

/// Names of any length and bytes, display names with NUL and newlines: refused
/// before anything is written (a failed sign-in's entry holds the name bounded
/// and escaped); a 64-character name and an accented display name work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_and_free_text_are_bounded_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    apply(&h, &h.admin, CITY).await.unwrap();
    let before = audit_log(&h).await.len();
    let long = "a".repeat(65);
    for bad in [
        long.as_str(),
        "Admin",
        "-x",
        "a b",
        "x\nadmin",
        "ana\u{1b}[31m",
    ] {
        let e = add_user(&h, bad, &["viewer"], "a-long-enough-password")
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{bad:?}: {e:?}");
        assert!(e.message().contains("at most 64"), "{}", e.message());
    }
    let body = |display: &str| serde_json::json!({"name": "ok-name", "spec": {"roles": ["viewer"], "department": "police", "display_name": display}});
    for display in [
        "x".repeat(129),
        "Ana\0".into(),
        "Ana\nadmin audit.cleared ok".into(),
    ] {
        let e = pb::users_client::UsersClient::new(h.channel.clone())
            .add(req(
                &h.admin,
                pb::AddUserRequest {
                    json: serde_json::to_vec(&body(&display)).unwrap(),
                    password: "a-long-enough-password".into(),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert!(e.message().contains("display_name"), "{}", e.message());
    }
    // Refused before anything was written: no user, no audit entry.
    assert_eq!(audit_log(&h).await.len(), before);

    // A 3.9 MB name: refused on the request's length prefix (the Auth service
    // takes 64 KiB), before it is read; nothing is written.
    let huge = format!(
        "x\nadmin audit.cleared ok\u{1b}[0m{}",
        "n".repeat(3_900_000)
    );
    let e = login(&h.channel, &huge, "whatever-password")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange, "{e:?}");
    assert_eq!(audit_log(&h).await.len(), before);
    // A 20,000-character name with a forged row (under that limit): refused,
    // its entry bounded and escaped.
    let huge = format!("x\nadmin audit.cleared ok\u{1b}[0m{}", "n".repeat(20_000));
    let e = login(&h.channel, &huge, "whatever-password")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().len() < 200);
    let log = audit_log(&h).await;
    let failed = entries(&log, "login_failed");
    let last = failed.last().unwrap();
    let name = last["actor"].as_str().unwrap();
    assert!(
        name.starts_with("x\\x0aadmin audit.cleared ok\\x1b[0m"),
        "{name}"
    );
    assert!(
        name.ends_with("…[cut]") && name.chars().count() <= 70,
        "{name}"
    );
    assert_eq!(last["name"], last["actor"]);
    assert!(!serde_json::to_string(last).unwrap().contains('\u{1b}'));

    // The legitimate ones.
    let name64 = format!("a{}", "b".repeat(63));
    add_user(&h, &name64, &["viewer"], "a-long-enough-password")
        .await
        .unwrap();
    let t = login(&h.channel, &name64, "a-long-enough-password")
        .await
        .unwrap();
    change_password(
        &h.channel,
        &t,
        "a-long-enough-password",
        "another-long-password",
    )
    .await
    .unwrap();
    assert_eq!(whoami(&h, &t).await.unwrap().username, name64);
    pb::users_client::UsersClient::new(h.channel.clone())
        .add(req(
            &h.admin,
            pb::AddUserRequest {
                json: serde_json::to_vec(&body("Ana Marić-Núñez")).unwrap(),
                password: "a-long-enough-password".into(),
            },
        ))
        .await
        .unwrap();
    h.cancel.cancel();
}

/// Five wrong passwords lock the user for 15 minutes (even the right password
/// is refused), audited once; later tries write nothing; the lock ends by the
/// clock. A source is locked separately, over the wire by its address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_lock_the_user_and_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Timestamp::now());
    let h = start(config_embedded(dir.path()), Some(Arc::new(clock.clone()))).await;
    let ctl = h.running.controller.clone();
    user(&h, "ana", &["viewer"], "police").await;
    let pw = user_password("ana");

    // The user: five wrong passwords, each from another source.
    for i in 0..5 {
        let e = ctl
            .login("ana", "wrong-password-x", ip(&format!("10.0.0.{i}")))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("wrong user name or password"), "{e}");
    }
    let before = audit_log(&h).await;
    let locked = entries(&before, "login.locked");
    assert_eq!(locked.len(), 1, "{locked:?}");
    assert_eq!(locked[0]["kind"], "User");
    assert_eq!(locked[0]["name"], "ana");
    let e = ctl.login("ana", &pw, ip("10.0.1.1")).await.unwrap_err();
    assert!(e.to_string().contains("user ana locked"), "{e}");
    for _ in 0..20 {
        ctl.login("ana", "wrong-password-x", ip("10.0.1.2"))
            .await
            .unwrap_err();
    }
    assert_eq!(
        audit_log(&h).await.len(),
        before.len(),
        "tries while locked write nothing"
    );
    // Others sign in meanwhile.
    user(&h, "bob", &["viewer"], "police").await;
    clock.advance(Duration::from_secs(15 * 60));
    ctl.login("ana", &pw, ip("10.0.1.1")).await.unwrap();

    // The source: five failures from 127.0.0.1 over the wire, made-up names.
    for i in 0..5 {
        let e = login(&h.channel, &format!("nobody-{i}"), "wrong-password-x")
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated);
    }
    let e = login(&h.channel, "bob", &user_password("bob"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(
        e.message().contains("sign-ins from 127.0.0.1 locked"),
        "{}",
        e.message()
    );
    let log = audit_log(&h).await;
    let locked = entries(&log, "login.locked");
    assert_eq!(locked.last().unwrap()["kind"], "Source");
    assert_eq!(locked.last().unwrap()["name"], "127.0.0.1");
    // From elsewhere, bob signs in; and 127.0.0.1 again after 15 minutes.
    ctl.login("bob", &user_password("bob"), ip("192.0.2.7"))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(15 * 60 + 1));
    login(&h.channel, "bob", &user_password("bob"))
        .await
        .unwrap();
    h.cancel.cancel();
}

/// An admin's password is one-time: until `passwd`, every RPC but passwd and
/// logout is FailedPrecondition; it expires 72 hours after it was set; a reset
/// gives a new one. `passwd` needs the current password, follows the rules and
/// ends the user's other sessions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_time_passwords_and_passwd() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Timestamp::now());
    let mut h = start(config_embedded(dir.path()), Some(Arc::new(clock.clone()))).await;
    apply(&h, &h.admin, CITY).await.unwrap();

    // Weak passwords are refused when set.
    for weak in [
        "",
        "            ",
        "short-pw",
        "aaaaaaaaaaaaaaa",
        "Password1234",
        "testville2026!",
    ] {
        if weak.is_empty() {
            continue; // empty asks the controller to generate one
        }
        let e = add_user(&h, "weak", &["viewer"], weak).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{weak:?}");
    }

    add_user(&h, "ana", &["viewer"], "ana-one-time-pw-1")
        .await
        .unwrap();
    let r = pb::auth_client::AuthClient::new(h.channel.clone())
        .login(pb::LoginRequest {
            username: "ana".into(),
            password: "ana-one-time-pw-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.must_change_password);
    let t = r.token;
    let e = whoami(&h, &t).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(
        e.message()
            .contains("change your one-time password with `camplane passwd`"),
        "{}",
        e.message()
    );
    let e = pb::objects_client::ObjectsClient::new(h.channel.clone())
        .get(req(
            &t,
            pb::GetRequest {
                kind: "Camera".into(),
                name: String::new(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    // Logout works with it.
    let t2 = login(&h.channel, "ana", "ana-one-time-pw-1").await.unwrap();
    pb::auth_client::AuthClient::new(h.channel.clone())
        .logout(req(&t2, pb::Empty {}))
        .await
        .unwrap();

    // passwd: the wrong current password, a weak one, the same one: refused.
    let other = login(&h.channel, "ana", "ana-one-time-pw-1").await.unwrap();
    let e = change_password(&h.channel, &t, "not-the-password", "ana-own-password-1")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    for (new, code) in [
        ("            ", Code::InvalidArgument),
        ("password1234", Code::InvalidArgument),
        ("ana-one-time-pw-1", Code::InvalidArgument),
    ] {
        let e = change_password(&h.channel, &t, "ana-one-time-pw-1", new)
            .await
            .unwrap_err();
        assert_eq!(e.code(), code, "{new:?}");
    }
    change_password(&h.channel, &t, "ana-one-time-pw-1", "ana-own-password-1")
        .await
        .unwrap();
    assert_eq!(whoami(&h, &t).await.unwrap().username, "ana");
    assert_eq!(
        whoami(&h, &other).await.unwrap_err().code(),
        Code::Unauthenticated,
        "other sessions end"
    );
    login(&h.channel, "ana", "ana-one-time-pw-1")
        .await
        .unwrap_err();
    let r = pb::auth_client::AuthClient::new(h.channel.clone())
        .login(pb::LoginRequest {
            username: "ana".into(),
            password: "ana-own-password-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!r.must_change_password);
    let log = audit_log(&h).await;
    let passwd = entries(&log, "user.passwd");
    assert_eq!(passwd.iter().filter(|e| e["name"] == "ana").count(), 1);

    // A reset: one-time again, sessions end; it expires after 72 hours.
    let reset = pb::users_client::UsersClient::new(h.channel.clone())
        .reset_password(req(
            &h.admin,
            pb::ResetPasswordRequest {
                username: "ana".into(),
                password: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reset.one_time_password.len(), 20);
    assert_eq!(
        whoami(&h, &t).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    clock.advance(Duration::from_secs(72 * 3600));
    let e = login(&h.channel, "ana", &reset.one_time_password)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(
        e.message().contains("expired") && e.message().contains("ask an admin"),
        "{}",
        e.message()
    );
    // The admin (its token expired with the clock) resets again; it works.
    h.admin = login(
        &h.channel,
        "admin",
        h.running.initial_password.as_deref().unwrap(),
    )
    .await
    .unwrap();
    pb::users_client::UsersClient::new(h.channel.clone())
        .reset_password(req(
            &h.admin,
            pb::ResetPasswordRequest {
                username: "ana".into(),
                password: "ana-second-one-time".into(),
            },
        ))
        .await
        .unwrap();
    let t = login(&h.channel, "ana", "ana-second-one-time")
        .await
        .unwrap();
    change_password(&h.channel, &t, "ana-second-one-time", "ana-own-password-2")
        .await
        .unwrap();
    whoami(&h, &t).await.unwrap();
    // Only an admin resets.
    let e = pb::users_client::UsersClient::new(h.channel.clone())
        .reset_password(req(
            &t,
            pb::ResetPasswordRequest {
                username: "admin".into(),
                password: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    h.cancel.cancel();
}

/// A deleted user's token stays dead, also when the name is re-created with
/// more roles; the sessions go with the user. The last admin and the last city
/// manager can be neither deleted nor demoted (refused, audited); with another
/// holder they can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identities_stay_dead_and_the_last_admin_stays() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(config_embedded(dir.path()), None).await;
    apply(&h, &h.admin, CITY).await.unwrap();
    let ctl = h.running.controller.clone();
    let old = user(&h, "vic", &["viewer"], "police").await;
    let id = get_json(&h, &h.admin, "User", "vic").await.unwrap()["status"]["id"].clone();
    assert!(
        id.as_str().unwrap().starts_with("u_") && id.as_str().unwrap().len() == 18,
        "{id}"
    );
    whoami(&h, &old).await.unwrap();
    let sessions = |c: &camplane_controller::core::Controller| c.cache.list("sessions/").len();
    let n = sessions(&ctl);
    delete_user(&h, &h.admin, "vic").await.unwrap();
    assert_eq!(
        sessions(&ctl),
        n - 1,
        "the user's session is deleted with it"
    );
    assert_eq!(
        whoami(&h, &old).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    // Re-created with the same name, as an admin: a new identity.
    let new = user(&h, "vic", &["admin"], "police").await;
    let id2 = get_json(&h, &h.admin, "User", "vic").await.unwrap()["status"]["id"].clone();
    assert_ne!(id, id2);
    let e = whoami(&h, &old).await.unwrap_err();
    assert_eq!(
        e.code(),
        Code::Unauthenticated,
        "the old viewer's token is not the new admin's"
    );
    whoami(&h, &new).await.unwrap();

    // Two admins: vic deletes the first admin; then vic is the last one.
    let before = audit_log(&h).await.len();
    delete_user(&h, &new, "admin").await.unwrap();
    h.admin = new.clone();
    let e = delete_user(&h, &new, "vic").await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains("last admin"), "{}", e.message());
    // The city manager: one, then two. (cm's grant is confirmed by a second
    // admin; then the config's first city manager steps down, so cm is the last.)
    user(&h, "cm", &["city_manager"], "city-hall").await;
    grant(&h, &new, FIRST_CITY_MANAGER, "city_manager", true)
        .await
        .unwrap();
    let e = delete_user(&h, &new, "cm").await.unwrap_err();
    assert!(e.message().contains("last city_manager"), "{}", e.message());
    let e = grant(&h, &new, "cm", "city_manager", true)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    let e = apply(&h, &new, "kind: User\nname: cm\nspec:\n  department: city-hall\n  roles: [city_manager]\n  disabled: true\n").await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    let log = audit_log(&h).await;
    let denied: Vec<_> = log[before..]
        .iter()
        .filter(|e| {
            e["result"].as_str().unwrap().contains("denied: ")
                && e["result"].as_str().unwrap().contains("the last")
        })
        .collect();
    assert_eq!(denied.len(), 4, "{denied:#?}");
    user(&h, "cm2", &["city_manager"], "city-hall").await;
    grant(&h, &new, "cm", "city_manager", true).await.unwrap();
    delete_user(&h, &new, "cm").await.unwrap();
    h.cancel.cancel();
}

/// A store from before ids: its users get ids at the next start (audited), a
/// bare argon2 hash still signs in (as the user's own password), and sessions
/// without an id are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_stored_before_ids_get_one() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    let ctl = h.running.controller.clone();
    let obj = serde_json::json!({"kind": "User", "name": "old", "spec": {"roles": ["viewer"], "department": "police"}, "status": null});
    let hash = camplane_controller::core::auth::hash_password("old-users-password").unwrap();
    ctl.store
        .put("objects/users/old", serde_json::to_vec(&obj).unwrap())
        .await
        .unwrap();
    ctl.store
        .put("meta/passwords/old", hash.into_bytes())
        .await
        .unwrap();
    let session = serde_json::json!({"username": "old", "created_at": ctl.now(), "expires_at": "2999-01-01T00:00:00Z"});
    let token = "cpt_legacy";
    ctl.store
        .put(
            &camplane_controller::core::auth::session_key(token),
            serde_json::to_vec(&session).unwrap(),
        )
        .await
        .unwrap();
    wait_until(&ctl, "objects/users/old").await;
    ctl.assign_user_ids().await.unwrap();
    let got = get_json(&h, &h.admin, "User", "old").await.unwrap();
    assert!(got["status"]["id"].as_str().unwrap().starts_with("u_"));
    assert_eq!(entries(&audit_log(&h).await, "user.identity").len(), 1);
    ctl.assign_user_ids().await.unwrap();
    assert_eq!(
        entries(&audit_log(&h).await, "user.identity").len(),
        1,
        "once"
    );
    assert_eq!(
        whoami(&h, token).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let t = login(&h.channel, "old", "old-users-password")
        .await
        .unwrap();
    whoami(&h, &t).await.unwrap();
    h.cancel.cancel();
}

async fn wait_until(ctl: &camplane_controller::core::Controller, key: &str) {
    for _ in 0..200 {
        if ctl.cache.get(key).is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{key} never reached the cache");
}

/// The first city manager comes from the config on a new store only, like the
/// first admin: a weak password in its variable stops the start before anything
/// is written; a password from the variable is theirs (not one-time); a
/// generated one is one-time; a store with users gets nobody new.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_city_manager_comes_from_the_config_once() {
    let weak_dir = tempfile::tempdir().unwrap();
    let mut c = config_embedded(weak_dir.path());
    c.auth.initial_city_manager_password_env = "CAMPLANE_TEST_WEAK_CM_PW".into();
    std::env::set_var("CAMPLANE_TEST_WEAK_CM_PW", "short");
    let cancel = tokio_util::sync::CancellationToken::new();
    let e = camplane_controller::server::start(c, cancel.clone())
        .await
        .err()
        .expect("a weak first city manager password stops the start");
    assert!(e.to_string().contains("CAMPLANE_TEST_WEAK_CM_PW"), "{e}");
    cancel.cancel();

    let dir = tempfile::tempdir().unwrap();
    let mut c = config_embedded(dir.path());
    c.auth.initial_city_manager_password_env = "CAMPLANE_TEST_OWN_CM_PW".into();
    std::env::set_var("CAMPLANE_TEST_OWN_CM_PW", "first-city-manager-own-pw");
    let h = start(c, None).await;
    assert!(h.running.initial_city_manager_password.is_none());
    let t = login(&h.channel, FIRST_CITY_MANAGER, "first-city-manager-own-pw")
        .await
        .unwrap();
    let me = whoami(&h, &t).await.unwrap();
    assert_eq!(me.roles, ["city_manager"]);
    let log = audit_log(&h).await;
    let added: Vec<_> = entries(&log, "user.add")
        .into_iter()
        .filter(|e| e["actor"] == "system")
        .collect();
    assert_eq!(added.len(), 2, "the admin and the city manager: {added:#?}");
    // Once: a store with users gets nobody new.
    let ctl = h.running.controller.clone();
    assert_eq!(ctl.bootstrap(None, None).await.unwrap(), (None, None));
    assert_eq!(entries(&audit_log(&h).await, "user.add").len(), 2);
    h.cancel.cancel();

    // Generated: one-time (the harness changed it through passwd, as a person would).
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    assert!(h.city_manager.is_some());
    let log = audit_log(&h).await;
    let changed: Vec<_> = entries(&log, "user.passwd")
        .into_iter()
        .filter(|e| e["actor"] == FIRST_CITY_MANAGER)
        .collect();
    assert_eq!(changed.len(), 1, "{log:#?}");
    h.cancel.cancel();
}

/// The chief's authorization to view is the person's, not the name's: a user
/// deleted and created again under the same name is someone else, and does
/// not inherit it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recreated_name_does_not_inherit_the_chiefs_authorization() {
    use camplane_config::model::Role;
    use camplane_controller::auth::Actor;
    use camplane_controller::recordings::Right;
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    apply(&h, &h.admin, CITY).await.unwrap();
    let chief = user(&h, "chief", &["chief"], "police").await;
    qualified_user(&h, "ann", "viewer", "parks").await;
    let ctl = h.running.controller.clone();
    let ann = Actor {
        username: "ann".into(),
        roles: vec![Role::Viewer],
        department: "parks".into(),
    };
    let may_view = || ctl.check_recording_access(&ann, "cam-1", Right::View);
    assert!(may_view().await.is_err(), "a parks viewer, police's camera");
    let until = (Timestamp::now() + jiff::SignedDuration::from_hours(24)).to_string();
    pb::recordings_client::RecordingsClient::new(h.channel.clone())
        .authorize(req(
            &chief,
            pb::RecordingAuthorizeRequest {
                user: "ann".into(),
                camera: "cam-1".into(),
                until,
                reason: "incident 14".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    assert!(may_view().await.is_ok(), "authorized by the chief");
    // The chief's lift of cam-1's privacy masks for her is hers too.
    let cam1 = CITY
        .split("---\n")
        .find(|d| d.contains("name: cam-1\n"))
        .unwrap()
        .to_string()
        + "  privacy_masks:\n  - name: window\n    polygon: [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5]]\n";
    apply(&h, &h.admin, &cam1).await.unwrap();
    let masks: Vec<camplane_config::model::PrivacyMask> = serde_json::from_value(
        get_json(&h, &h.admin, "Camera", "cam-1").await.unwrap()["spec"]["privacy_masks"].clone(),
    )
    .unwrap();
    assert_eq!(masks.len(), 1);
    pb::masks_client::MasksClient::new(h.channel.clone())
        .lift(req(
            &chief,
            pb::MaskLiftRequest {
                user: "ann".into(),
                camera: "cam-1".into(),
                minutes: 30,
                reason: "incident 14".into(),
            },
        ))
        .await
        .unwrap();
    let unmasked = || ctl.masks_for_view(&masks, true, "ann", "cam-1");
    assert!(unmasked().await.unwrap().masks.is_empty(), "lifted for ann");
    delete_user(&h, &h.admin, "ann").await.unwrap();
    qualified_user(&h, "ann", "viewer", "parks").await;
    let e = may_view().await.unwrap_err();
    assert!(
        matches!(e, camplane_controller::Error::PermissionDenied(_)),
        "{e:?}"
    );
    let e = unmasked().await.unwrap_err();
    assert!(
        matches!(e, camplane_controller::Error::PermissionDenied(_)),
        "the new ann has no lift: {e:?}"
    );
}

/// The sessions of `name`, signed in `n` times directly on the controller.
async fn sign_in_times(h: &Harness, name: &str, pw: &str, n: usize) -> Vec<String> {
    let ctl = h.running.controller.clone();
    let mut tokens = Vec::with_capacity(n);
    for _ in 0..n {
        tokens.push(ctl.login(name, pw, None).await.unwrap().token);
    }
    tokens
}

/// Asserts each of `tokens` is refused as a session from before the password
/// changed (not merely waiting for a one-time password's change).
async fn all_refused(h: &Harness, tokens: &[String], when: &str) {
    for (i, t) in tokens.iter().enumerate() {
        let e = whoami(h, t).await.unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated, "{when}: token {i}: {e:?}");
    }
}

/// `passwd` ends every other session of the user, however many there are (more
/// than one transaction deletes) and whatever the replica's cache lists: a
/// session opened before the password was set is refused. The caller's own
/// session goes on. The clock stands still: it is not the times that decide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_ends_every_other_session() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Timestamp::now());
    let h = start(config_embedded(dir.path()), Some(Arc::new(clock.clone()))).await;
    let first = user(&h, "ana", &["viewer"], "police").await;
    let pw = user_password("ana");
    let mut tokens = sign_in_times(&h, "ana", &pw, 101).await;
    tokens.push(first);
    let mine = tokens.remove(0);
    change_password(&h.channel, &mine, &pw, "ana-newer-password-2")
        .await
        .unwrap();
    assert_eq!(whoami(&h, &mine).await.unwrap().username, "ana");
    all_refused(&h, &tokens, "after passwd").await;
    // The new password signs in; the old one does not.
    login(&h.channel, "ana", "ana-newer-password-2")
        .await
        .unwrap();
    login(&h.channel, "ana", &pw).await.unwrap_err();
    h.cancel.cancel();
}

/// An admin's reset ends every session of the user, and they stay ended after
/// the user sets their own password with a session of the one-time one (which
/// goes on).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_ends_every_session_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Timestamp::now());
    let h = start(config_embedded(dir.path()), Some(Arc::new(clock.clone()))).await;
    let first = user(&h, "ana", &["viewer"], "police").await;
    let mut tokens = sign_in_times(&h, "ana", &user_password("ana"), 101).await;
    tokens.push(first);
    pb::users_client::UsersClient::new(h.channel.clone())
        .reset_password(req(
            &h.admin,
            pb::ResetPasswordRequest {
                username: "ana".into(),
                password: "ana-reset-one-time-1".into(),
            },
        ))
        .await
        .unwrap();
    all_refused(&h, &tokens, "after the reset").await;
    let t = login(&h.channel, "ana", "ana-reset-one-time-1")
        .await
        .unwrap();
    assert_eq!(
        whoami(&h, &t).await.unwrap_err().code(),
        Code::FailedPrecondition,
        "one-time until changed"
    );
    change_password(&h.channel, &t, "ana-reset-one-time-1", "ana-own-again-pw-3")
        .await
        .unwrap();
    assert_eq!(whoami(&h, &t).await.unwrap().username, "ana");
    all_refused(&h, &tokens, "after the user's own passwd").await;
    h.cancel.cancel();
}

/// Twenty wrong passwords for one name at once (each from its own source) get
/// no more than five checks: the rest meet the lock, as they would one by one.
/// The same for twenty made-up names from one source.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_guesses_do_not_pass_the_lock_together() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Timestamp::now());
    let h = start(config_embedded(dir.path()), Some(Arc::new(clock.clone()))).await;
    let ctl = h.running.controller.clone();
    user(&h, "ana", &["viewer"], "police").await;
    let before = audit_log(&h).await.len();

    let at_once = |names: Vec<String>, sources: Vec<String>| {
        let ctl = ctl.clone();
        async move {
            let tries: Vec<_> = names
                .into_iter()
                .zip(sources)
                .map(|(n, s)| {
                    let ctl = ctl.clone();
                    tokio::spawn(async move {
                        ctl.login(&n, "wrong-password-x", ip(&s)).await.unwrap_err()
                    })
                })
                .collect();
            let mut answers = Vec::new();
            for t in tries {
                answers.push(t.await.unwrap().to_string());
            }
            answers
        }
    };
    let tally = |answers: &[String]| {
        let wrong = answers
            .iter()
            .filter(|a| a.contains("wrong user name or password"))
            .count();
        let locked = answers.iter().filter(|a| a.contains("locked")).count();
        assert_eq!(wrong + locked, answers.len(), "{answers:#?}");
        wrong
    };

    let answers = at_once(
        vec!["ana".to_string(); 20],
        (0..20).map(|i| format!("10.0.0.{i}")).collect(),
    )
    .await;
    assert_eq!(tally(&answers), 5, "{answers:#?}");
    let log = audit_log(&h).await;
    let failed: Vec<_> = entries(&log[before..], "login_failed");
    assert_eq!(failed.len(), 5, "{failed:#?}");
    let locked = entries(&log[before..], "login.locked");
    assert_eq!(locked.len(), 1, "{locked:#?}");
    assert_eq!(locked[0]["name"], "ana");

    // One source, twenty made-up names at once.
    let before = log.len();
    let answers = at_once(
        (0..20).map(|i| format!("nobody-{i}")).collect(),
        vec!["192.0.2.9".to_string(); 20],
    )
    .await;
    assert_eq!(tally(&answers), 5, "{answers:#?}");
    let log = audit_log(&h).await;
    assert_eq!(entries(&log[before..], "login_failed").len(), 5);
    let locked = entries(&log[before..], "login.locked");
    assert_eq!(locked.len(), 1, "{locked:#?}");
    assert_eq!(locked[0]["name"], "192.0.2.9");

    // The legitimate use beside it: after the lock, ana signs in.
    clock.advance(Duration::from_secs(15 * 60));
    ctl.login("ana", &user_password("ana"), ip("10.0.3.1"))
        .await
        .unwrap();
    h.cancel.cancel();
}
