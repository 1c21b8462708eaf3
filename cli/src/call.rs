//! The one way to the controller: the channel (server, CA), the bearer token
//! (`--token`, else the one `camplane login` saved under `$CAMPLANE_HOME`), and
//! the mapping of a refused call to the message the user sees (exit code 1).

use anyhow::{anyhow, bail, Context, Result};
use std::future::Future;
use std::path::{Path, PathBuf};
use tonic::transport::Channel;

/// Where `camplane login` keeps the token: `$CAMPLANE_HOME/token`, else
/// `$XDG_CONFIG_HOME/camplane/token`, else `~/.config/camplane/token`.
pub fn token_path() -> PathBuf {
    let base = std::env::var_os("CAMPLANE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CONFIG_HOME").map(|p| PathBuf::from(p).join("camplane")))
        .or_else(|| std::env::var_os("HOME").map(|p| PathBuf::from(p).join(".config/camplane")))
        .unwrap_or_else(|| PathBuf::from(".camplane"));
    base.join("token")
}

/// A (lazily connected) channel to the controller and the caller's token.
pub struct Client {
    /// The channel every service client is made on.
    pub channel: Channel,
    token: Option<String>,
    /// Set when the server is `http://` without `--insecure-plaintext`: nothing
    /// secret (a token, a password) may be sent to it.
    plaintext: Option<String>,
}

impl Client {
    /// A client for `server` (`https://` needs the controller's CA certificate);
    /// the token is `token`, else the saved one. Nothing is sent yet; a plain
    /// `http://` server gets no token or password unless `insecure_plaintext`.
    pub fn connect(
        server: &str,
        ca: Option<&Path>,
        token: Option<String>,
        insecure_plaintext: bool,
    ) -> Result<Client> {
        let endpoint = tonic::transport::Endpoint::from_shared(server.to_string())
            .with_context(|| format!("--server {server:?} is not a URL"))?
            .connect_timeout(std::time::Duration::from_secs(5));
        let endpoint = if server.starts_with("https://") {
            let mut tls = tonic::transport::ClientTlsConfig::new();
            match ca {
                Some(p) => {
                    let pem = std::fs::read_to_string(p)
                        .with_context(|| format!("reading --ca {}", p.display()))?;
                    tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
                }
                None => {
                    bail!("https:// needs the controller's CA certificate: --ca FILE (or $CAMPLANE_CA)")
                }
            }
            endpoint.tls_config(tls).context("TLS settings")?
        } else {
            endpoint
        };
        let channel = endpoint.connect_lazy();
        let token = token.or_else(|| {
            std::fs::read_to_string(token_path())
                .ok()
                .map(|s| s.trim().to_string())
        });
        let plaintext =
            (!server.starts_with("https://") && !insecure_plaintext).then(|| server.to_string());
        Ok(Client {
            channel,
            token,
            plaintext,
        })
    }

    /// Refuses to send `what` (a password, a token) to a plain `http://` server:
    /// anyone on the path would read it. `--insecure-plaintext` allows it (a test
    /// controller on loopback).
    pub fn check_secret(&self, what: &str) -> Result<()> {
        match &self.plaintext {
            Some(server) => bail!(
                "refusing to send {what} in the clear to {server}: use https:// with the \
                 controller's CA (--server https://HOST:PORT --ca FILE), or --insecure-plaintext \
                 for a test controller on loopback"
            ),
            None => Ok(()),
        }
    }

    /// A request carrying the bearer token and the trace context.
    pub fn req<T>(&self, msg: T) -> Result<tonic::Request<T>> {
        self.check_secret("a token")?;
        let mut r = tonic::Request::new(msg);
        let t = self
            .token
            .as_ref()
            .ok_or_else(|| anyhow!("not signed in: run `camplane login`"))?;
        r.metadata_mut().insert(
            "authorization",
            format!("Bearer {t}")
                .parse()
                .map_err(|_| anyhow!("bad token"))?,
        );
        camplane_telemetry::inject(&mut r);
        Ok(r)
    }
}

/// Awaits a call; its answer, or the controller's refusal as an error.
pub async fn call<T>(
    fut: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T> {
    fut.await.map(tonic::Response::into_inner).map_err(status)
}

/// A refusal as the user sees it: the controller's message and the gRPC code
/// (`permission denied: ... (PermissionDenied)`); the process exits 1.
pub fn status(e: tonic::Status) -> anyhow::Error {
    let code = format!("{:?}", e.code());
    anyhow!("{} ({code})", e.message())
}
