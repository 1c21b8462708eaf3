//! `user`: users and their roles.

use crate::call::{call, Client};
use crate::login::password_from_stdin;
use crate::output::{print_objects, values, Output};
use anyhow::Result;
use camplane_config::model::Kind;
use camplane_proto::v1 as pb;
use clap::Subcommand;

#[derive(Subcommand)]
pub(crate) enum UserCmd {
    /// Add a user with a one-time password (printed unless --password-stdin is
    /// given): they change it with `camplane passwd` before anything else. A
    /// governing role waits as a pending grant (exit 4, its id on the last line).
    Add {
        /// User name.
        name: String,
        /// Roles (repeat or comma-separate).
        #[arg(long = "role", value_delimiter = ',', required = true)]
        roles: Vec<String>,
        /// Department.
        #[arg(long, default_value = "")]
        department: String,
        /// Full name.
        #[arg(long, default_value = "")]
        display_name: String,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a new one-time password for a user (printed unless --password-stdin
    /// is given) and end their sessions.
    ResetPassword {
        /// User name.
        name: String,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Grant roles (or take them away with --revoke). Governing roles (admin,
    /// chief, city_manager, auditor) are only asked for: exit 4, each pending
    /// grant's id printed, the last on the last line.
    Grant {
        /// User name.
        name: String,
        /// Roles.
        #[arg(required = true, value_delimiter = ',')]
        roles: Vec<String>,
        /// Remove instead of add.
        #[arg(long)]
        revoke: bool,
    },
    /// List users.
    List,
    /// Pending grants of governing roles: list, confirm, reject.
    #[command(subcommand)]
    Grants(GrantsCmd),
}

/// `user grants`: the second person's half of a governing grant.
#[derive(Subcommand)]
pub(crate) enum GrantsCmd {
    /// The pending grants.
    List,
    /// Confirm a pending grant (the city manager; a second admin for city_manager).
    Confirm {
        /// The grant's id (`rg-…`).
        id: String,
    },
    /// Reject a pending grant, saying why.
    Reject {
        /// The grant's id (`rg-…`).
        id: String,
        /// Why.
        #[arg(long, required = true)]
        reason: String,
    },
}

/// Prints pending grants and says who decides them; the exit code: 4 when any
/// is pending (the last id is on the last line), else 0.
fn report_pending(grants: &[pb::RoleGrant]) -> Result<i32> {
    if grants.is_empty() {
        return Ok(0);
    }
    for g in grants {
        let v: serde_json::Value = serde_json::from_slice(&g.json)?;
        let role = v["role"].as_str().unwrap_or_default();
        let by = if role == "city_manager" {
            "a second admin (not the one who asked)"
        } else {
            // A store started without auth.initial_city_manager has none: the
            // grant then stays pending.
            "the city manager (none yet on a store started without auth.initial_city_manager: it stays pending)"
        };
        eprintln!(
            "{role} for {} is pending: {by} confirms it with `camplane user grants confirm {}`",
            v["user"].as_str().unwrap_or_default(),
            g.id
        );
    }
    for g in grants {
        println!("{}", g.id);
    }
    Ok(crate::search::EXIT_PENDING_APPROVAL)
}

/// Runs a `user` command.
pub async fn run(c: &Client, uc: UserCmd) -> Result<i32> {
    let mut client = pb::users_client::UsersClient::new(c.channel.clone());
    match uc {
        UserCmd::Add {
            name,
            roles,
            department,
            display_name,
            password_stdin,
        } => {
            let password = if password_stdin {
                password_from_stdin()?
            } else {
                String::new()
            };
            let spec = serde_json::json!({"display_name": display_name, "department": department, "roles": roles});
            let body = serde_json::json!({"name": name, "spec": spec});
            let r = call(client.add(c.req(pb::AddUserRequest {
                json: serde_json::to_vec(&body)?,
                password,
            })?))
            .await?;
            println!("user/{name} created");
            if !r.one_time_password.is_empty() {
                println!("one-time password (shown once): {}", r.one_time_password);
            }
            return report_pending(&r.pending_grants);
        }
        UserCmd::ResetPassword {
            name,
            password_stdin,
        } => {
            let password = if password_stdin {
                password_from_stdin()?
            } else {
                String::new()
            };
            let r = call(client.reset_password(c.req(pb::ResetPasswordRequest {
                username: name.clone(),
                password,
            })?))
            .await?;
            println!("user/{name}: new one-time password set, sessions ended");
            if !r.one_time_password.is_empty() {
                println!("one-time password (shown once): {}", r.one_time_password);
            }
        }
        UserCmd::Grant {
            name,
            roles,
            revoke,
        } => {
            let r = call(client.grant(c.req(pb::GrantRequest {
                username: name,
                roles,
                revoke,
            })?))
            .await?;
            if let Some(o) = &r.user {
                let v: serde_json::Value = serde_json::from_slice(&o.json)?;
                print_objects(Kind::User, &[v], Output::Table, true)?;
            }
            return report_pending(&r.pending_grants);
        }
        UserCmd::List => {
            let objects = crate::objects::all_pages(|after| {
                let mut client = client.clone();
                async move { call(client.list(c.req(pb::ListRequest { after })?)).await }
            })
            .await?;
            print_objects(Kind::User, &values(&objects)?, Output::Table, false)?;
        }
        UserCmd::Grants(GrantsCmd::List) => {
            let r = call(client.list_grants(c.req(pb::Empty {})?)).await?;
            println!("ID\tUSER\tROLE\tASKED BY\tASKED AT");
            for g in &r.grants {
                let v: serde_json::Value = serde_json::from_slice(&g.json)?;
                let f = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    g.id,
                    f("user"),
                    f("role"),
                    f("requested_by"),
                    f("requested_at")
                );
            }
        }
        UserCmd::Grants(GrantsCmd::Confirm { id }) => {
            let g = call(client.decide_grant(c.req(pb::DecideGrantRequest {
                id,
                confirm: true,
                reason: String::new(),
            })?))
            .await?;
            let v: serde_json::Value = serde_json::from_slice(&g.json)?;
            println!(
                "grant {} confirmed: user/{} holds {}",
                g.id,
                v["user"].as_str().unwrap_or_default(),
                v["role"].as_str().unwrap_or_default()
            );
        }
        UserCmd::Grants(GrantsCmd::Reject { id, reason }) => {
            let g = call(client.decide_grant(c.req(pb::DecideGrantRequest {
                id,
                confirm: false,
                reason,
            })?))
            .await?;
            println!("grant {} rejected", g.id);
        }
    }
    Ok(0)
}
