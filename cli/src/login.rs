//! `login`, `logout`, `whoami`, `passwd`: the session, its saved token and the
//! user's own password.

use crate::call::{call, token_path, Client};
use anyhow::{anyhow, Result};
use camplane_proto::v1 as pb;
use std::io::Read;

/// The password from standard input, without its line ending. Empty input is
/// an error (it never means "generate one").
pub fn password_from_stdin() -> Result<String> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s)?;
    let pw = s.trim_end_matches(['\n', '\r']).to_string();
    if pw.is_empty() {
        return Err(anyhow!(
            "--password-stdin: standard input holds no password"
        ));
    }
    Ok(pw)
}

/// `passwd --password-stdin`'s input: the current password, then the new one,
/// one per line.
fn two_passwords_from_stdin() -> Result<(String, String)> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s)?;
    let mut lines = s.lines().map(|l| l.trim_end_matches('\r'));
    match (lines.next(), lines.next()) {
        (Some(old), Some(new)) if !old.is_empty() && !new.is_empty() => {
            Ok((old.to_string(), new.to_string()))
        }
        _ => Err(anyhow!(
            "--password-stdin: give the current password and the new one on two lines"
        )),
    }
}

/// Asks for a password on the terminal without echoing it.
pub(crate) fn prompt(what: &str) -> Result<String> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return Err(anyhow!(
            "standard input is not a terminal: give the passwords with --password-stdin"
        ));
    }
    eprint!("{what}: ");
    std::io::stderr().flush()?;
    // `stty` on the inherited terminal: no dependency for one prompt.
    let stty = |arg: &str| std::process::Command::new("stty").arg(arg).status();
    let _ = stty("-echo");
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    let _ = stty("echo");
    eprintln!();
    read?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// `passwd`: the signed-in user changes their own password, giving the current one.
pub async fn passwd(c: &Client, password_stdin: bool) -> Result<i32> {
    let (old_password, new_password) = if password_stdin {
        two_passwords_from_stdin()?
    } else {
        let old = prompt("current password")?;
        let new = prompt("new password")?;
        if prompt("new password again")? != new {
            return Err(anyhow!("the new passwords differ; nothing changed"));
        }
        (old, new)
    };
    if new_password.is_empty() {
        return Err(anyhow!("the new password is empty; nothing changed"));
    }
    call(
        pb::auth_client::AuthClient::new(c.channel.clone()).change_password(c.req(
            pb::ChangePasswordRequest {
                old_password,
                new_password,
            },
        )?),
    )
    .await?;
    println!("password changed");
    Ok(0)
}

/// `login`: signs in and saves the token where later commands find it.
pub async fn login(c: &Client, username: String, password_stdin: bool) -> Result<i32> {
    c.check_secret("a password")?;
    let password = if password_stdin {
        password_from_stdin()?
    } else {
        std::env::var("CAMPLANE_PASSWORD").map_err(|_| {
            anyhow!("give the password on stdin with --password-stdin, or in $CAMPLANE_PASSWORD")
        })?
    };
    let r = call(
        pb::auth_client::AuthClient::new(c.channel.clone())
            .login(pb::LoginRequest { username, password }),
    )
    .await?;
    crate::files::replace_private(&token_path(), r.token.as_bytes())?;
    println!(
        "signed in as {} ({}), token valid until {}",
        r.username,
        r.roles.join(", "),
        r.expires_at
    );
    if r.must_change_password {
        println!(
            "this password is one-time: change it now with `camplane passwd` (nothing else works until then)"
        );
    }
    Ok(0)
}

/// `logout`: ends the session and forgets the token.
pub async fn logout(c: &Client) -> Result<i32> {
    call(pb::auth_client::AuthClient::new(c.channel.clone()).logout(c.req(pb::Empty {})?)).await?;
    let _ = std::fs::remove_file(token_path());
    println!("signed out");
    Ok(0)
}

/// `whoami`.
pub async fn whoami(c: &Client) -> Result<i32> {
    let r =
        call(pb::auth_client::AuthClient::new(c.channel.clone()).who_am_i(c.req(pb::Empty {})?))
            .await?;
    println!("{} ({})", r.username, r.roles.join(", "));
    Ok(0)
}
