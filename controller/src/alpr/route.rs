//! Any controller answers for every site. Each controller writes a presence
//! record (`presence/{agent}`) for every agent session it holds, bound to a store
//! lease it keeps alive, so a crashed controller's records vanish within the
//! lease. A question for an agent held elsewhere is forwarded to the holder's
//! `Peer` service over mutual TLS (a controller peer certificate from the
//! controller CA); the answer streams back in parts of at most 1 MiB.
//!
//! With TLS off there are no certificates: the `Peer` service refuses every call,
//! and an agent held by another controller is named unreachable from here.
//!
//! A controller's peer certificate is new at every start and is accepted only
//! while that controller runs: its serial is registered (`cluster/peers/{serial}`)
//! under the same lease as its presence records, and the `Peer` service refuses a
//! certificate whose serial is not registered. Stopping or restarting a
//! controller revokes its certificate; one that crashed loses it within the lease.

use crate::core::store::{Compare, DynStore, LeaseId, Op};
use crate::{Error, Result};
use camplane_proto::kinds::QueryKind;
use camplane_proto::v1 as pb;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Where presence records live.
pub const PRESENCE: &str = "presence/";
/// The most bytes of one part of a forwarded answer.
pub const PART: usize = 1 << 20;
/// The most bytes of one forwarded answer (a search's reads of one agent fit well).
const ANSWER_MAX: usize = 64 << 20;

/// Which controller holds an agent's session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// The agent.
    pub agent: String,
    /// The holding controller's id.
    pub controller: String,
    /// Where other controllers reach its `Peer` service (`host:port`).
    pub address: String,
    /// The session (unique across controllers): an ending session removes
    /// the record only while it is still its own.
    pub session: String,
    /// When the session started.
    pub since: Timestamp,
}

/// Where the serials of running controllers' peer certificates are registered.
pub const PEERS: &str = "cluster/peers/";

/// A running controller's peer certificate, as registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRecord {
    /// The controller's id.
    pub controller: String,
    /// Where peers reach it.
    pub address: String,
    /// When it registered.
    pub since: Timestamp,
}

/// Whether `serial` (hex) is the peer certificate of a running controller.
pub async fn peer_registered(store: &DynStore, serial: &str) -> Result<bool> {
    if serial.is_empty() || serial.len() > 64 || !serial.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(false);
    }
    Ok(store.get(&format!("{PEERS}{serial}")).await?.is_some())
}

/// The presence record's key of `agent`.
pub fn presence_key(agent: &str) -> String {
    format!("{PRESENCE}{agent}")
}

/// This controller in the cluster: its id and address, its presence lease, and
/// the TLS it calls peers with (none when TLS is off).
pub struct Route {
    /// This controller's id (new at every start).
    pub id: String,
    /// Where peers reach this controller (`host:port`).
    pub address: String,
    store: DynStore,
    ttl: i64,
    tls: Option<tonic::transport::ClientTlsConfig>,
    lease: Mutex<Option<LeaseId>>,
    /// The records this controller wrote, put again under a new lease.
    mine: Mutex<HashMap<String, Presence>>,
    channels: Mutex<HashMap<String, tonic::transport::Channel>>,
    /// The serial (hex) of the peer certificate this controller presents, kept
    /// registered under its lease (none with TLS off).
    peer_serial: Option<String>,
    started: Timestamp,
    /// Other keys this controller holds under its lease while it serves what
    /// they name (a viewing session's mark), put again under a new lease.
    held: Mutex<std::collections::HashSet<String>>,
    /// A record or held key whose write failed while the lease lived: the
    /// keeper writes them again at its next turn, not only under a new lease.
    unwritten: std::sync::atomic::AtomicBool,
}

impl Route {
    /// A route for this controller; `tls` is the peer client's TLS (`None`: TLS off).
    pub fn new(
        store: DynStore,
        address: String,
        ttl: i64,
        tls: Option<tonic::transport::ClientTlsConfig>,
    ) -> Route {
        Route {
            id: format!("c-{}", hex::encode(rand::random::<[u8; 6]>())),
            address,
            store,
            ttl: ttl.max(1),
            tls,
            lease: Mutex::new(None),
            mine: Default::default(),
            channels: Default::default(),
            peer_serial: None,
            started: Timestamp::now(),
            held: Default::default(),
            unwritten: Default::default(),
        }
    }

    /// Holds `key` (its value: this controller's id) under the lease while this
    /// controller serves what it names; it vanishes with the lease if the
    /// controller dies. The holder deletes it when done ([`Route::let_go`]).
    pub async fn hold(&self, key: &str) {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_string());
        if let Err(e) = self.put_held(key).await {
            // The keeper puts it again at its next turn.
            self.unwritten
                .store(true, std::sync::atomic::Ordering::SeqCst);
            tracing::warn!(error = %e, %key, "held key not written");
        }
    }

    /// Stops putting `key` again (its holder deletes it).
    pub fn let_go(&self, key: &str) {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    async fn put_held(&self, key: &str) -> Result<()> {
        let lease = self.lease().await?;
        self.store
            .txn_leased(
                vec![],
                vec![Op::Put(key.to_string(), self.id.clone().into_bytes())],
                lease,
            )
            .await?;
        Ok(())
    }

    /// The serial (hex) of the peer certificate this controller presents: it
    /// is registered while the controller runs (see the module docs).
    pub fn with_peer_serial(mut self, serial: String) -> Route {
        self.peer_serial = Some(serial);
        self
    }

    /// Registers this controller's peer certificate under the lease.
    async fn register_peer(&self) -> Result<()> {
        let Some(serial) = &self.peer_serial else {
            return Ok(());
        };
        let lease = self.lease().await?;
        let r = PeerRecord {
            controller: self.id.clone(),
            address: self.address.clone(),
            since: self.started,
        };
        self.store
            .txn_leased(
                vec![],
                vec![Op::Put(format!("{PEERS}{serial}"), serde_json::to_vec(&r)?)],
                lease,
            )
            .await?;
        Ok(())
    }

    async fn lease(&self) -> Result<LeaseId> {
        if let Some(l) = *self.lease.lock().unwrap_or_else(|e| e.into_inner()) {
            return Ok(l);
        }
        let l = self.store.lease_grant(self.ttl).await?;
        let mut g = self.lease.lock().unwrap_or_else(|e| e.into_inner());
        Ok(*g.get_or_insert(l))
    }

    async fn put(&self, p: &Presence) -> Result<()> {
        let lease = self.lease().await?;
        self.store
            .txn_leased(
                vec![],
                vec![Op::Put(presence_key(&p.agent), serde_json::to_vec(p)?)],
                lease,
            )
            .await?;
        Ok(())
    }

    /// Writes `p` again (the keeper) unless the agent's record is already
    /// this one or a newer session's: one the agent opened at another
    /// controller since is never overwritten by this stale copy.
    async fn put_unless_newer(&self, p: &Presence) -> Result<()> {
        let key = presence_key(&p.agent);
        // The record changed between the read and the write (another
        // controller's session ended, say): read it again.
        for _ in 0..4 {
            let rev = match self.store.get(&key).await? {
                Some(kv) => {
                    if let Ok(stored) = serde_json::from_slice::<Presence>(&kv.value) {
                        if stored.session == p.session || stored.since > p.since {
                            return Ok(());
                        }
                    }
                    kv.mod_revision
                }
                None => 0,
            };
            let lease = self.lease().await?;
            let out = self
                .store
                .txn_leased(
                    vec![Compare::ModRevision(key.clone(), rev)],
                    vec![Op::Put(key.clone(), serde_json::to_vec(p)?)],
                    lease,
                )
                .await?;
            if out.succeeded {
                return Ok(());
            }
        }
        Err(Error::Unavailable(format!(
            "presence of {} kept changing",
            p.agent
        )))
    }

    /// Records that this controller holds `agent`'s session `session`; a newer
    /// session of the agent (here or elsewhere) overwrites an older one.
    pub async fn present(&self, agent: &str, session: u64, since: Timestamp) {
        let p = Presence {
            agent: agent.to_string(),
            controller: self.id.clone(),
            address: self.address.clone(),
            session: format!("{}-{session}", self.id),
            since,
        };
        self.mine
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(agent.to_string(), p.clone());
        if let Err(e) = self.put(&p).await {
            // The keeper puts it again at its next turn.
            self.unwritten
                .store(true, std::sync::atomic::Ordering::SeqCst);
            tracing::warn!(error = %e, %agent, "presence not recorded");
        }
    }

    /// Removes `agent`'s record if it is still session `session`'s.
    pub async fn absent(&self, agent: &str, session: u64) {
        let sid = format!("{}-{session}", self.id);
        {
            let mut g = self.mine.lock().unwrap_or_else(|e| e.into_inner());
            if g.get(agent).is_some_and(|p| p.session == sid) {
                g.remove(agent);
            }
        }
        let key = presence_key(agent);
        let Ok(Some(kv)) = self.store.get(&key).await else {
            return;
        };
        let ours = serde_json::from_slice::<Presence>(&kv.value).is_ok_and(|p| p.session == sid);
        if ours {
            let r = self
                .store
                .txn(
                    vec![Compare::ModRevision(key, kv.mod_revision)],
                    vec![Op::Delete(presence_key(agent))],
                )
                .await;
            if let Err(e) = r {
                tracing::warn!(error = %e, %agent, "presence not removed; it ends with the lease");
            }
        }
    }

    /// Keeps the lease alive until `cancel`, then revokes it (its records go
    /// at once). A lease that ended (the store was unreachable too long) is
    /// replaced and this controller's records are put again.
    pub async fn keep(&self, cancel: CancellationToken) {
        let every = Duration::from_millis((self.ttl as u64 * 1000 / 3).max(300));
        let mut registered = false;
        loop {
            if !registered {
                match self.register_peer().await {
                    Ok(()) => registered = true,
                    Err(e) => {
                        tracing::warn!(error = %e, "peer certificate not registered; retrying")
                    }
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(every) => {}
            }
            let current = *self.lease.lock().unwrap_or_else(|e| e.into_inner());
            let alive = match current {
                Some(l) => match self.store.lease_keep_alive(l).await {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "presence lease not renewed; retrying");
                        continue;
                    }
                },
                None => false,
            };
            let unwritten = self
                .unwritten
                .swap(false, std::sync::atomic::Ordering::SeqCst);
            if alive && !unwritten {
                continue;
            }
            if !alive {
                *self.lease.lock().unwrap_or_else(|e| e.into_inner()) = None;
                registered = self.register_peer().await.is_ok();
            }
            let records: Vec<Presence> = self
                .mine
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .values()
                .cloned()
                .collect();
            for p in records {
                if let Err(e) = self.put_unless_newer(&p).await {
                    self.unwritten
                        .store(true, std::sync::atomic::Ordering::SeqCst);
                    tracing::warn!(error = %e, agent = %p.agent, "presence not recorded again");
                }
            }
            let held: Vec<String> = self
                .held
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned()
                .collect();
            for key in held {
                if let Err(e) = self.put_held(&key).await {
                    self.unwritten
                        .store(true, std::sync::atomic::Ordering::SeqCst);
                    tracing::warn!(error = %e, %key, "held key not written again");
                }
            }
        }
        let lease = self.lease.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(l) = lease {
            let _ = self.store.lease_revoke(l).await;
        }
    }

    /// The presence record of `agent`, if any.
    pub async fn presence(&self, agent: &str) -> Result<Option<Presence>> {
        Ok(match self.store.get(&presence_key(agent)).await? {
            Some(kv) => serde_json::from_slice(&kv.value).ok(),
            None => None,
        })
    }

    /// Every presence record, by agent.
    pub async fn presences(&self) -> Result<HashMap<String, Presence>> {
        Ok(self
            .store
            .list(PRESENCE)
            .await?
            .kvs
            .into_iter()
            .filter_map(|kv| serde_json::from_slice::<Presence>(&kv.value).ok())
            .map(|p| (p.agent.clone(), p))
            .collect())
    }

    /// The channel to a peer controller (mutual TLS), kept per address.
    pub(crate) fn channel(&self, address: &str) -> Result<tonic::transport::Channel> {
        let Some(tls) = &self.tls else {
            return Err(Error::Agent(
                "held by another controller, which is not reachable with TLS off".into(),
            ));
        };
        let mut g = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = g.get(address) {
            return Ok(c.clone());
        }
        let c = tonic::transport::Endpoint::from_shared(format!("https://{address}"))
            .map_err(|e| Error::Internal(format!("peer address {address}: {e}")))?
            .tls_config(tls.clone())
            .map_err(|e| Error::Internal(format!("peer TLS: {e}")))?
            .connect_timeout(Duration::from_secs(3))
            .connect_lazy();
        g.insert(address.to_string(), c.clone());
        Ok(c)
    }

    /// Asks the controller named in `p` to ask its agent; the whole exchange is
    /// bounded by `timeout` (plus a second for the hop).
    pub async fn forward(
        &self,
        p: &Presence,
        kind: QueryKind,
        json: Vec<u8>,
        timeout: Duration,
    ) -> Result<pb::QueryAnswer> {
        let agent = &p.agent;
        let channel = self.channel(&p.address).map_err(|e| match e {
            Error::Agent(m) => Error::Agent(format!("agent {agent}: {m}")),
            e => e,
        })?;
        let q = pb::PeerQuery {
            agent: agent.clone(),
            kind: kind.as_str().to_string(),
            json,
            timeout_ms: timeout.as_millis().min(u32::MAX as u128) as u32,
            traceparent: camplane_telemetry::current_traceparent(),
        };
        let call = async {
            let mut client = pb::peer_client::PeerClient::new(channel)
                .max_decoding_message_size(2 * PART + (64 << 10));
            let mut stream = client.ask(q).await?.into_inner();
            let mut a = pb::QueryAnswer::default();
            while let Some(part) = stream.message().await? {
                a.json.extend_from_slice(&part.json);
                a.data.extend_from_slice(&part.data);
                if !part.error.is_empty() {
                    a.error = part.error;
                }
                if a.json.len() + a.data.len() > ANSWER_MAX {
                    return Err(tonic::Status::resource_exhausted("answer too large"));
                }
            }
            Ok::<_, tonic::Status>(a)
        };
        match tokio::time::timeout(timeout + Duration::from_secs(1), call).await {
            Err(_) => Err(Error::Agent(format!(
                "agent {agent}: no answer within {timeout:?} through controller {}",
                p.controller
            ))),
            Ok(Err(st)) if st.code() == tonic::Code::FailedPrecondition => Err(
                Error::FailedPrecondition(format!("agent {agent}: {}", st.message())),
            ),
            Ok(Err(st)) => Err(Error::Agent(format!(
                "agent {agent}: its controller {} did not answer: {}",
                p.controller,
                st.message().chars().take(200).collect::<String>()
            ))),
            Ok(Ok(a)) if !a.error.is_empty() => Err(Error::Agent(a.error)),
            Ok(Ok(a)) => Ok(a),
        }
    }
}

/// An answer in parts of at most [`PART`] bytes (json parts, then data parts,
/// the error on the last), so a peer's message stays small.
pub fn parts(a: Result<pb::QueryAnswer>) -> Vec<pb::PeerAnswerChunk> {
    let a = match a {
        Ok(a) => a,
        Err(Error::Agent(m)) => {
            return vec![pb::PeerAnswerChunk {
                error: m,
                ..Default::default()
            }]
        }
        Err(e) => {
            return vec![pb::PeerAnswerChunk {
                error: e.to_string(),
                ..Default::default()
            }]
        }
    };
    let mut out: Vec<pb::PeerAnswerChunk> = a
        .json
        .chunks(PART)
        .map(|c| pb::PeerAnswerChunk {
            json: c.to_vec(),
            ..Default::default()
        })
        .chain(a.data.chunks(PART).map(|c| pb::PeerAnswerChunk {
            data: c.to_vec(),
            ..Default::default()
        }))
        .collect();
    if out.is_empty() {
        out.push(pb::PeerAnswerChunk::default());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_travel_in_parts_and_join_back() {
        let a = pb::QueryAnswer {
            id: "x".into(),
            json: vec![1; PART + 10],
            error: String::new(),
            data: vec![2; 2 * PART + 1],
        };
        let p = parts(Ok(a.clone()));
        assert_eq!(p.len(), 5);
        assert!(p.iter().all(|c| c.json.len() + c.data.len() <= PART));
        let json: Vec<u8> = p.iter().flat_map(|c| c.json.clone()).collect();
        let data: Vec<u8> = p.iter().flat_map(|c| c.data.clone()).collect();
        assert_eq!((json, data), (a.json, a.data));
        let e = parts(Err(Error::Agent("agent a: no answer".into())));
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].error, "agent a: no answer");
    }

    /// A record whose write failed while the lease lived is written again at
    /// the keeper's next turn; and the keeper never writes its stale copy over
    /// a newer session the agent opened at another controller.
    #[tokio::test]
    async fn the_keeper_writes_again_what_failed_and_never_over_a_newer_session() {
        let dir = tempfile::tempdir().unwrap();
        let store: DynStore = std::sync::Arc::new(
            crate::core::store::embedded::EmbeddedStore::open(dir.path()).unwrap(),
        );
        let a = std::sync::Arc::new(Route::new(store.clone(), "127.0.0.1:1".into(), 1, None));
        let t0 = Timestamp::now();
        a.present("gw", 1, t0).await;
        // As if that write had failed: the record is not there, and marked.
        store
            .txn(vec![], vec![Op::Delete(presence_key("gw"))])
            .await
            .unwrap();
        a.unwritten.store(true, std::sync::atomic::Ordering::SeqCst);
        let cancel = CancellationToken::new();
        let keeper = tokio::spawn({
            let (a, cancel) = (a.clone(), cancel.clone());
            async move { a.keep(cancel).await }
        });
        let mut back = false;
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if a.presence("gw").await.unwrap().is_some() {
                back = true;
                break;
            }
        }
        assert!(back, "written again while the lease lives");
        cancel.cancel();
        keeper.await.unwrap();
        // The agent's newer session at b: a's copy is not written over it.
        let b = Route::new(store.clone(), "127.0.0.1:2".into(), 10, None);
        b.present("gw", 7, t0 + jiff::SignedDuration::from_secs(5))
            .await;
        let mine = a.mine.lock().unwrap().get("gw").cloned().unwrap();
        a.put_unless_newer(&mine).await.unwrap();
        assert_eq!(a.presence("gw").await.unwrap().unwrap().controller, b.id);
    }

    #[tokio::test]
    async fn an_older_session_ending_leaves_the_newer_record() {
        let dir = tempfile::tempdir().unwrap();
        let store: DynStore = std::sync::Arc::new(
            crate::core::store::embedded::EmbeddedStore::open(dir.path()).unwrap(),
        );
        let a = Route::new(store.clone(), "127.0.0.1:1".into(), 10, None);
        let b = Route::new(store.clone(), "127.0.0.1:2".into(), 10, None);
        let now = Timestamp::now();
        a.present("gw", 1, now).await;
        assert_eq!(a.presence("gw").await.unwrap().unwrap().controller, a.id);
        // The agent reconnects to b before a notices its old session ended.
        b.present("gw", 7, now).await;
        a.absent("gw", 1).await;
        let p = a.presence("gw").await.unwrap().unwrap();
        assert_eq!(
            (p.controller.as_str(), p.address.as_str()),
            (b.id.as_str(), "127.0.0.1:2")
        );
        // Its own session ending removes it.
        b.absent("gw", 7).await;
        assert!(a.presence("gw").await.unwrap().is_none());
        assert!(a.presences().await.unwrap().is_empty());
    }
}
