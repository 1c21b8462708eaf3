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
    /// given): they change it with `camplane passwd` before anything else.
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
    /// Grant roles (or take them away with --revoke).
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
            let o = call(client.grant(c.req(pb::GrantRequest {
                username: name,
                roles,
                revoke,
            })?))
            .await?;
            let v: serde_json::Value = serde_json::from_slice(&o.json)?;
            print_objects(Kind::User, &[v], Output::Table, true)?;
        }
        UserCmd::List => {
            let r = call(client.list(c.req(pb::Empty {})?)).await?;
            print_objects(Kind::User, &values(&r.objects)?, Output::Table, false)?;
        }
    }
    Ok(0)
}
