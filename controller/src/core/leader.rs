//! Leader election: work that must happen once (special-event expiry, the
//! non-operational flag, later the public log) runs on one controller. On etcd the
//! controllers campaign on an election bound to a lease that each keeps alive; when
//! the leader dies its lease expires and another wins within the lease time. With
//! the embedded store there is one controller, and it leads.

use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Whether this controller leads now (changes as elections happen).
pub type Leadership = watch::Receiver<bool>;

/// A leadership that is always held (one controller on the embedded store).
pub fn always() -> Leadership {
    // The receiver keeps the last value after the sender is gone; it never changes.
    watch::channel(true).1
}

/// Campaigns for `election` as `id` with a lease of `ttl` seconds until cancelled.
pub fn spawn_etcd(
    client: etcd_client::Client,
    election: String,
    id: String,
    ttl: i64,
    cancel: CancellationToken,
) -> Leadership {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        loop {
            if cancel.is_cancelled() {
                return;
            }
            match term(client.clone(), &election, &id, ttl, &tx, &cancel).await {
                Ok(()) => return,
                Err(e) => {
                    let _ = tx.send(false);
                    tracing::warn!(error = %e, "leader election: retrying");
                    tokio::select! { _ = cancel.cancelled() => return, _ = tokio::time::sleep(Duration::from_secs(1)) => {} }
                }
            }
        }
    });
    rx
}

/// One lease's life: campaign, lead while the lease lives. `Ok` when cancelled.
async fn term(
    mut client: etcd_client::Client,
    election: &str,
    id: &str,
    ttl: i64,
    tx: &watch::Sender<bool>,
    cancel: &CancellationToken,
) -> Result<(), String> {
    let lease = client
        .lease_grant(ttl, None)
        .await
        .map_err(|e| e.to_string())?
        .id();
    let (mut keeper, mut stream) = client
        .lease_keep_alive(lease)
        .await
        .map_err(|e| e.to_string())?;
    let every = Duration::from_millis((ttl as u64 * 1000 / 3).max(300));
    let keepalive = async move {
        loop {
            tokio::time::sleep(every).await;
            keeper.keep_alive().await.map_err(|e| e.to_string())?;
            match stream.message().await.map_err(|e| e.to_string())? {
                Some(r) if r.ttl() > 0 => {}
                _ => return Err::<(), String>("lease expired".into()),
            }
        }
    };
    tokio::pin!(keepalive);
    let mut c2 = client.clone();
    let campaign = c2.campaign(election.to_string(), id.to_string(), lease);
    tokio::pin!(campaign);
    tokio::select! {
        _ = cancel.cancelled() => {
            let _ = client.lease_revoke(lease).await;
            return Ok(());
        }
        r = &mut keepalive => return r,
        r = &mut campaign => { r.map_err(|e| e.to_string())?; }
    }
    tracing::info!(%id, "elected leader");
    let _ = tx.send(true);
    let out = tokio::select! {
        _ = cancel.cancelled() => {
            // Step down at once so another takes over without waiting for the lease.
            let _ = client.lease_revoke(lease).await;
            Ok(())
        }
        r = &mut keepalive => r,
    };
    let _ = tx.send(false);
    tracing::warn!(%id, "no longer leader");
    out
}
