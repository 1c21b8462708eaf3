//! `login`, `logout`, `whoami`: the session and its saved token.

use crate::call::{call, token_path, Client};
use anyhow::{anyhow, Result};
use camplane_proto::v1 as pb;
use std::io::Read;

/// The password from standard input, without its line ending.
pub fn password_from_stdin() -> Result<String> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s)?;
    Ok(s.trim_end_matches(['\n', '\r']).to_string())
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
    let p = token_path();
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d)?;
    }
    write_private(&p, &r.token)?;
    println!(
        "signed in as {} ({}), token valid until {}",
        r.username,
        r.roles.join(", "),
        r.expires_at
    );
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

/// Writes a file only its owner may read (the token is a credential).
fn write_private(p: &std::path::Path, s: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(p)?;
    std::io::Write::write_all(&mut f, s.as_bytes())?;
    Ok(())
}
