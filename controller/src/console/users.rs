//! The users and roles page: the list (`Controller::get_all` of users, what
//! `Users.List` answers, in pages by name), and for those who manage users the
//! forms of `camplane user add`, `user grant`, `user revoke` and `delete user`,
//! each through the same operation (`add_user`, `grant`, `delete`) with the
//! same refusals and audit entries. Governing roles become pending grants that a
//! second person decides, as in the CLI. No password is ever shown but the
//! one-time password of a user just added, once, on the answer to that form.

use super::html::{self, esc, url_part};
use super::{html_response, redirect, refused, status_of, Console, Signed};
use crate::core::auth::Operation;
use crate::core::{AuditAction, StoredObject};
use crate::registry::grant_machine::{self, RoleGrant};
use crate::Error;
use axum::body::Body;
use axum::http::{Response, StatusCode};
use camplane_config::model::{Kind, Role, UserSpec};
use serde_json::Value;
use std::fmt::Write;

/// Users on one page of the list.
pub const PAGE: usize = 50;

/// The audit action a users form asks for (a CSRF refusal is audited as its refusal).
pub fn audit_action(path: &str, form: &[(String, String)]) -> Option<AuditAction> {
    if path == "/console/users" {
        return Some(AuditAction::UserAdd);
    }
    match html::field(form, "action") {
        "grant" | "revoke" => Some(grant_machine::REFUSED),
        "delete" => Some(AuditAction::Delete),
        _ => None,
    }
}

fn roles_of(o: &StoredObject) -> Vec<String> {
    o.spec["roles"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn role_options(roles: impl Iterator<Item = Role>) -> String {
    roles
        .map(|r| format!("<option value=\"{0}\">{0}</option>", r.as_str()))
        .collect()
}

/// The pending grants an answer names.
fn pending_html(grants: &[RoleGrant]) -> String {
    if grants.is_empty() {
        return String::new();
    }
    let mut b =
        String::from("<p>Waiting for a second person's decision (`camplane user grants`):</p><ul>");
    for g in grants {
        let _ = write!(
            b,
            "<li>{} for {} ({})</li>",
            esc(g.role.as_str()),
            esc(&g.user),
            esc(&g.id)
        );
    }
    b.push_str("</ul>");
    b
}

/// The list page, with `notice` (already HTML) above it.
async fn render(
    console: &Console,
    signed: &Signed,
    query: &str,
    status: StatusCode,
    notice: &str,
) -> Response<Body> {
    let actor = &signed.actor;
    let users = match console.ctl.get_all(actor, Kind::User).await {
        Ok(u) => u,
        Err(e) => return refused(signed, &e),
    };
    let q = html::pairs(query);
    let after = html::field(&q, "after");
    let manage = Operation::ManageUsers.allows(actor);
    let csrf = html::csrf_field(&signed.csrf);
    let mut b = String::with_capacity(32 * 1024);
    b.push_str(notice);
    match html::field(&q, "done") {
        "grant" => b.push_str(&html::message("note", "Roles granted.")),
        "revoke" => b.push_str(&html::message("note", "Roles revoked.")),
        "delete" => b.push_str(&html::message("note", "User deleted.")),
        _ => {}
    }
    let total = users.len();
    let page: Vec<_> = users
        .iter()
        .filter(|(o, _)| after.is_empty() || o.name.as_str() > after)
        .take(PAGE + 1)
        .collect();
    let more = page.len() > PAGE;
    let page = &page[..page.len().min(PAGE)];
    let _ = write!(
        b,
        "<section><h2>Users</h2><p class=\"count\">{total} user{}.</p>",
        if total == 1 { "" } else { "s" }
    );
    b.push_str("<div class=\"scroll\"><table><thead><tr><th scope=\"col\">User</th><th scope=\"col\">Name</th>\
<th scope=\"col\">Department</th><th scope=\"col\">Roles</th><th scope=\"col\">Disabled</th>");
    if manage {
        b.push_str("<th scope=\"col\">Change</th>");
    }
    b.push_str("</tr></thead><tbody>");
    for (i, (o, _)) in page.iter().enumerate() {
        let held = roles_of(o);
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            esc(&o.name),
            esc(o.spec["display_name"].as_str().unwrap_or("")),
            esc(o.spec["department"].as_str().unwrap_or("")),
            esc(&held.join(", ")),
            if o.spec["disabled"].as_bool() == Some(true) {
                "yes"
            } else {
                "no"
            }
        );
        if manage {
            let action = format!("/console/users/{}", url_part(&o.name));
            let user = esc(&o.name);
            let _ = write!(
                b,
                "<td><details><summary>Change {user}</summary><form class=\"inline\" method=\"post\" action=\"{action}\">{csrf}<input type=\"hidden\" name=\"action\" value=\"grant\">\
<label for=\"g-{i}\">Grant a role to {user}</label><select id=\"g-{i}\" name=\"role\">{}</select><button type=\"submit\">Grant</button></form>",
                role_options(Role::ALL.into_iter().filter(|r| !held.iter().any(|h| h == r.as_str())))
            );
            if !held.is_empty() {
                let _ = write!(
                    b,
                    "<form class=\"inline\" method=\"post\" action=\"{action}\">{csrf}<input type=\"hidden\" name=\"action\" value=\"revoke\">\
<label for=\"r-{i}\">Revoke a role of {user}</label><select id=\"r-{i}\" name=\"role\">{}</select><button type=\"submit\">Revoke</button></form>",
                    role_options(Role::ALL.into_iter().filter(|r| held.iter().any(|h| h == r.as_str())))
                );
            }
            let _ = write!(
                b,
                "<form class=\"inline\" method=\"post\" action=\"{action}\">{csrf}<input type=\"hidden\" name=\"action\" value=\"delete\">\
<input type=\"checkbox\" id=\"d-{i}\" name=\"confirm\" value=\"yes\" required><label class=\"check\" for=\"d-{i}\">Yes, delete {user}</label>\
<button type=\"submit\">Delete</button></form></details></td>"
            );
        }
        b.push_str("</tr>");
    }
    b.push_str("</tbody></table></div>");
    if more {
        if let Some((last, _)) = page.last() {
            let _ = write!(
                b,
                "<p class=\"pager\"><a href=\"/console/users?after={}\">Next {PAGE} users</a></p>",
                url_part(&last.name)
            );
        }
    }
    if !after.is_empty() {
        b.push_str("<p class=\"pager\"><a href=\"/console/users\">First page</a></p>");
    }
    b.push_str("</section>");
    if manage {
        let _ = write!(
            b,
            "<section><h2>Add a user</h2><form class=\"step\" method=\"post\" action=\"/console/users\">{csrf}\
<label for=\"u-name\">User name</label><input id=\"u-name\" name=\"name\" required autocomplete=\"off\">\
<label for=\"u-display\">Full name</label><input id=\"u-display\" name=\"display_name\" autocomplete=\"off\">\
<label for=\"u-department\">Department</label><input id=\"u-department\" name=\"department\" autocomplete=\"off\">\
<fieldset><legend>Roles</legend>"
        );
        for r in Role::ALL {
            let _ = write!(
                b,
                "<span class=\"opt\"><input type=\"checkbox\" id=\"u-role-{0}\" name=\"roles\" value=\"{0}\"><label class=\"check\" for=\"u-role-{0}\">{0}</label></span> ",
                r.as_str()
            );
        }
        b.push_str("</fieldset><p>A one-time password is made and shown once; the user changes it with <code>camplane passwd</code> first. Governing roles wait for a second person's decision.</p>\
<button type=\"submit\">Add user</button></form></section>");
    }
    html_response(
        status,
        html::page("Users and roles", Some(&signed.frame()), &b),
    )
}

/// `GET /console/users[?after=NAME]`.
pub async fn list(console: &Console, signed: &Signed, query: &str) -> Response<Body> {
    render(console, signed, query, StatusCode::OK, "").await
}

/// `POST /console/users`: `add_user`, as `camplane user add` with no password
/// given (one is made, one-time). The answer shows it once; it is not kept.
pub async fn add(console: &Console, signed: &Signed, form: &[(String, String)]) -> Response<Body> {
    let name = html::field(form, "name");
    let mut roles = Vec::new();
    for (k, v) in form {
        if k == "roles" {
            match Role::parse(v) {
                Some(r) => roles.push(r),
                None => {
                    return render_error(
                        console,
                        signed,
                        &Error::InvalidArgument(format!("unknown role {v:?}")),
                    )
                    .await
                }
            }
        }
    }
    let spec = UserSpec {
        display_name: html::field(form, "display_name").to_string(),
        department: html::field(form, "department").to_string(),
        roles,
        trained_at: None,
        certified_until: None,
        policy_version: None,
        disabled: false,
    };
    match console.ctl.add_user(&signed.actor, name, spec, None).await {
        Ok((o, otp, grants)) => {
            let mut n = html::message("note", &format!("User {} added.", o.name));
            if let Some(pw) = otp {
                let _ = write!(
                    n,
                    "<p>One-time password for {} (shown only now; give it to them in person): <code class=\"otp\">{}</code></p>",
                    esc(&o.name),
                    esc(&pw)
                );
            }
            n.push_str(&pending_html(&grants));
            render(console, signed, "", StatusCode::OK, &n).await
        }
        Err(e) => render_error(console, signed, &e).await,
    }
}

/// `POST /console/users/NAME`: grant, revoke (`Controller::grant`) or delete
/// (`Controller::delete`), as the CLI's `user grant|revoke` and `delete user`.
pub async fn act(
    console: &Console,
    signed: &Signed,
    name: &str,
    form: &[(String, String)],
) -> Response<Body> {
    let ctl = &console.ctl;
    let action = html::field(form, "action");
    let result = match action {
        "grant" | "revoke" => {
            let Some(role) = Role::parse(html::field(form, "role")) else {
                let e = Error::InvalidArgument("choose a role".into());
                return render_error(console, signed, &e).await;
            };
            ctl.grant(&signed.actor, name, &[role], action == "revoke")
                .await
                .map(|(_, grants)| grants)
        }
        "delete" if html::field(form, "confirm") == "yes" => ctl
            .delete(&signed.actor, Kind::User, name)
            .await
            .map(|()| Vec::new()),
        "delete" => Err(Error::InvalidArgument(
            "tick the box to confirm the deletion".into(),
        )),
        _ => Err(Error::InvalidArgument("no such action".into())),
    };
    match result {
        Ok(grants) if !grants.is_empty() => {
            let n = pending_html(&grants);
            render(console, signed, "", StatusCode::OK, &n).await
        }
        Ok(_) => redirect(&format!("/console/users?done={action}")),
        Err(e) => render_error(console, signed, &e).await,
    }
}

/// The list again with why a form was refused (a refusal of the reading itself
/// is its own page).
async fn render_error(console: &Console, signed: &Signed, e: &Error) -> Response<Body> {
    let (status, text) = status_of(e);
    render(console, signed, "", status, &html::message("error", &text)).await
}
