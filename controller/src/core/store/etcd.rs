//! The etcd store: keys under `{prefix}/k/`, large values split into chunks under
//! `{prefix}/c/{id}/` (etcd refuses requests over 1.5 MiB).
//!
//! A value is stored with a one-byte header: `0` inline, `1` a manifest naming its
//! chunks. Chunks are written before the transaction that publishes their manifest,
//! so a reader never sees a manifest whose chunks are not there yet; the chunks of a
//! replaced or deleted value are removed after the transaction commits (a reader
//! that raced with that removal reads again). Chunks of a transaction whose compare
//! failed are removed at once.

use super::*;
use crate::core::error::Error;
use etcd_client::{
    Client, Compare as ECompare, CompareOp, ConnectOptions, DeleteOptions, EventType, GetOptions,
    PutOptions, Txn, TxnOp, TxnOpResponse, WatchOptions,
};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Values above this are chunked, and a transaction keeps its inline values under it.
const INLINE_MAX: usize = 1 << 20;
/// Size of one chunk.
const CHUNK: usize = 1 << 20;
const DECODE_MAX: usize = 64 << 20;
const PAGE: i64 = 64;
/// Keys read in one transaction by `get_many` (etcd's --max-txn-ops is 128 by
/// default): a product choice, not a measured figure.
const GET_MANY_GROUP: usize = 64;
/// Transactions of queued reads on the wire at once (`serve_reads`): a product
/// choice; with 32 requests in flight in `benches/api.rs` a batch carries several.
const READS_IN_FLIGHT: usize = 4;

/// The etcd store.
#[derive(Clone)]
pub struct EtcdStore {
    client: Client,
    keys: String,
    chunks: String,
    /// Where [`Store::get_many`] queues its reads to be sent together with others
    /// ([`serve_reads`]); `None` in the clone that sends them.
    reads: Option<tokio::sync::mpsc::UnboundedSender<QueuedRead>>,
}

/// A [`Store::get_many`] waiting for its turn on the wire.
struct QueuedRead {
    keys: Vec<String>,
    reply: tokio::sync::oneshot::Sender<Result<Vec<Option<KeyValue>>>>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ChunkManifest {
    id: String,
    n: usize,
    len: usize,
    sha256: String,
}

fn unavailable(e: etcd_client::Error) -> Error {
    Error::Unavailable(format!("etcd: {e}"))
}

/// Whether a request failed before it reached any etcd member (a member that is
/// down refuses the connection): sending it again is safe, writes included.
fn not_sent(e: &etcd_client::Error) -> bool {
    match e {
        etcd_client::Error::TransportError(_) => true,
        etcd_client::Error::GRpcStatus(s) => {
            s.code() == tonic::Code::Unavailable
                && (s.message().contains("connect error")
                    || s.message().contains("trying to connect"))
        }
        _ => false,
    }
}

/// Whether etcd refused a request outright (e.g. over `--max-txn-ops`):
/// nothing was written.
fn refused(e: &etcd_client::Error) -> bool {
    matches!(e, etcd_client::Error::GRpcStatus(st) if st.code() == tonic::Code::InvalidArgument)
}

/// Whether a transaction that failed surely did not commit (it was not sent,
/// or refused outright); otherwise it may still commit once etcd has a quorum.
fn surely_not_committed(e: &etcd_client::Error) -> bool {
    not_sent(e) || refused(e)
}

/// Runs an etcd request; when it could not be sent (see [`not_sent`]) tries again
/// after a short pause, when the client's balancer picks a member that is up.
async fn sent<T, F, Fut>(mut f: F) -> std::result::Result<T, etcd_client::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, etcd_client::Error>>,
{
    let mut pause = Duration::from_millis(25);
    for _ in 0..7 {
        match f().await {
            Err(e) if not_sent(&e) => {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            r => return r,
        }
    }
    f().await
}

/// Whether a request timed out waiting for an answer (a member that was just
/// restarted can accept a connection and then not answer while it catches up).
fn timed_out(e: &etcd_client::Error) -> bool {
    matches!(e, etcd_client::Error::GRpcStatus(s)
        if s.code() == tonic::Code::Cancelled && s.message().contains("Timeout expired"))
}

/// Runs a read: like [`sent`], and a read that timed out is sent once more (a
/// read changes nothing, so a second try is always safe; the balancer may pick
/// a member that answers). Writes never use this: a timed-out write may have
/// been applied.
async fn read<T, F, Fut>(mut f: F) -> std::result::Result<T, etcd_client::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, etcd_client::Error>>,
{
    match sent(&mut f).await {
        Err(e) if timed_out(&e) => sent(f).await,
        r => r,
    }
}

impl EtcdStore {
    /// Connects to an etcd cluster; every key lives under `prefix`.
    pub async fn connect(endpoints: &[String], prefix: &str) -> Result<EtcdStore> {
        let opts = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(3))
            .with_timeout(Duration::from_secs(5))
            .with_keep_alive(Duration::from_secs(5), Duration::from_secs(3));
        let client = Client::connect(endpoints, Some(opts))
            .await
            .map_err(unavailable)?;
        let prefix = prefix.trim_end_matches('/');
        let mut s = EtcdStore {
            client,
            keys: format!("{prefix}/k/"),
            chunks: format!("{prefix}/c/"),
            reads: None,
        };
        s.revision().await?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        // Ends when the last clone of the store (the last sender) is dropped.
        tokio::spawn(serve_reads(s.clone(), rx));
        s.reads = Some(tx);
        Ok(s)
    }

    /// The underlying client (leader election uses it).
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn full(&self, key: &str) -> String {
        format!("{}{key}", self.keys)
    }

    fn user_key(&self, full: &[u8]) -> Result<String> {
        let s = std::str::from_utf8(full)
            .map_err(|_| Error::Corrupt("non-UTF-8 key in etcd".into()))?;
        Ok(s.strip_prefix(&self.keys).unwrap_or(s).to_string())
    }

    /// Decodes a stored value; `None` when its chunks are gone (replaced meanwhile).
    async fn decode(&self, raw: &[u8]) -> Result<Option<Vec<u8>>> {
        match raw.first() {
            Some(0) => Ok(Some(raw[1..].to_vec())),
            Some(1) => {
                let m: ChunkManifest = serde_json::from_slice(&raw[1..])
                    .map_err(|e| Error::Corrupt(format!("chunk manifest: {e}")))?;
                let mut out = Vec::with_capacity(m.len);
                let kv = self
                    .client
                    .kv_client()
                    .max_decoding_message_size(DECODE_MAX);
                for i in 0..m.n {
                    let k = format!("{}{}/{i:06}", self.chunks, m.id);
                    let r = read(|| {
                        let (mut kv, k) = (kv.clone(), k.clone());
                        async move { kv.get(k, None).await }
                    })
                    .await
                    .map_err(unavailable)?;
                    let Some(c) = r.kvs().first() else {
                        return Ok(None);
                    };
                    out.extend_from_slice(c.value());
                }
                if out.len() != m.len || hex::encode(Sha256::digest(&out)) != m.sha256 {
                    return Err(Error::Corrupt(format!(
                        "chunked value {} does not match its manifest",
                        m.id
                    )));
                }
                Ok(Some(out))
            }
            _ => Err(Error::Corrupt("stored value without a header".into())),
        }
    }

    async fn to_kv(&self, kv: &etcd_client::KeyValue) -> Result<Option<KeyValue>> {
        let Some(value) = self.decode(kv.value()).await? else {
            return Ok(None);
        };
        Ok(Some(KeyValue {
            key: self.user_key(kv.key())?,
            value: Arc::new(value),
            create_revision: kv.create_revision(),
            mod_revision: kv.mod_revision(),
        }))
    }

    async fn write_chunks(&self, value: &[u8]) -> Result<Vec<u8>> {
        let id = hex::encode(rand::random::<[u8; 12]>());
        let kv = self.client.kv_client();
        let n = value.len().div_ceil(CHUNK).max(1);
        for (i, c) in value.chunks(CHUNK).enumerate() {
            let k = format!("{}{id}/{i:06}", self.chunks);
            sent(|| {
                let (mut kv, k) = (kv.clone(), k.clone());
                async move { kv.put(k, c.to_vec(), None).await }
            })
            .await
            .map_err(unavailable)?;
        }
        let m = ChunkManifest {
            id,
            n,
            len: value.len(),
            sha256: hex::encode(Sha256::digest(value)),
        };
        let mut out = vec![1u8];
        out.extend(serde_json::to_vec(&m)?);
        Ok(out)
    }

    async fn drop_chunks_of(&self, raw: &[u8]) {
        if raw.first() != Some(&1) {
            return;
        }
        if let Ok(m) = serde_json::from_slice::<ChunkManifest>(&raw[1..]) {
            let prefix = format!("{}{}/", self.chunks, m.id);
            let r = self
                .client
                .kv_client()
                .delete(prefix, Some(DeleteOptions::new().with_prefix()))
                .await;
            if let Err(e) = r {
                tracing::warn!(error = %e, chunks = %m.id, "could not remove replaced chunks");
            }
        }
    }
}

impl EtcdStore {
    /// A transaction; its puts bound to `lease` when one is given.
    async fn txn_with(
        &self,
        compares: Vec<Compare>,
        ops: Vec<Op>,
        lease: Option<LeaseId>,
    ) -> Result<TxnOutcome> {
        // Decide which values go inline: the whole request must stay under etcd's limit.
        let mut sizes: Vec<(usize, usize)> = ops
            .iter()
            .enumerate()
            .filter_map(|(i, o)| match o {
                Op::Put(_, v) => Some((i, v.len())),
                Op::Delete(_) => None,
            })
            .collect();
        sizes.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        let mut total: usize = sizes.iter().map(|(_, n)| n).sum();
        let mut chunked = vec![false; ops.len()];
        for (i, n) in sizes {
            if n > INLINE_MAX || total > INLINE_MAX {
                if lease.is_some() {
                    return Err(Error::InvalidArgument(
                        "a leased value is at most 1 MiB (it is never chunked)".into(),
                    ));
                }
                chunked[i] = true;
                total -= n;
            }
        }
        let mut written = Vec::new();
        let mut eops = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            match op {
                Op::Put(k, v) => {
                    let enc = if chunked[i] {
                        let m = self.write_chunks(v).await?;
                        written.push(m.clone());
                        m
                    } else {
                        let mut e = Vec::with_capacity(v.len() + 1);
                        e.push(0u8);
                        e.extend_from_slice(v);
                        e
                    };
                    eops.push(TxnOp::put(
                        self.full(k),
                        enc,
                        Some(match lease {
                            Some(l) => PutOptions::new().with_prev_key().with_lease(l),
                            None => PutOptions::new().with_prev_key(),
                        }),
                    ));
                }
                Op::Delete(k) => eops.push(TxnOp::delete(
                    self.full(k),
                    Some(DeleteOptions::new().with_prev_key()),
                )),
            }
        }
        let ecmp: Vec<ECompare> = compares
            .iter()
            .map(|Compare::ModRevision(k, r)| {
                ECompare::mod_revision(self.full(k), CompareOp::Equal, *r)
            })
            .collect();
        let txn = Txn::new().when(ecmp).and_then(eops);
        let kv = self.client.kv_client();
        let resp = sent(|| {
            let (mut kv, t) = (kv.clone(), txn.clone());
            async move { kv.txn(t).await }
        })
        .await;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                let refused = refused(&e);
                // Its chunks go only when the transaction surely did not
                // commit: one sent and not answered may still commit, and its
                // key would then name chunks that are gone (unreadable for
                // good). Left behind when it did not commit, they are unnamed
                // bytes, never read.
                if surely_not_committed(&e) {
                    for m in &written {
                        self.drop_chunks_of(m).await;
                    }
                }
                return Err(if not_sent(&e) {
                    Error::Unavailable(format!(
                        "etcd: no member reachable, nothing was written: {e}"
                    ))
                } else if refused {
                    // Refused outright (e.g. over etcd's --max-txn-ops): nothing was written.
                    Error::Internal(format!("etcd refused the transaction: {e}"))
                } else {
                    // Sent, but no answer: etcd may still commit it once it has a quorum.
                    Error::Unavailable(format!(
                        "etcd did not confirm the write; it may still be applied when etcd recovers, so check before retrying: {e}"
                    ))
                });
            }
        };
        let revision = resp.header().map(|h| h.revision()).unwrap_or(0);
        if !resp.succeeded() {
            for m in &written {
                self.drop_chunks_of(m).await;
            }
            return Ok(TxnOutcome {
                succeeded: false,
                revision,
            });
        }
        for r in resp.op_responses() {
            match r {
                TxnOpResponse::Put(p) => {
                    if let Some(prev) = p.prev_key() {
                        self.drop_chunks_of(prev.value()).await;
                    }
                }
                TxnOpResponse::Delete(d) => {
                    for prev in d.prev_kvs() {
                        self.drop_chunks_of(prev.value()).await;
                    }
                }
                _ => {}
            }
        }
        Ok(TxnOutcome {
            succeeded: true,
            revision,
        })
    }
}

impl EtcdStore {
    /// Reads at most [`GET_MANY_GROUP`] keys in one transaction: one revision, one
    /// round trip.
    async fn read_group(&self, group: &[&str]) -> Result<Vec<Option<KeyValue>>> {
        let kv = self
            .client
            .kv_client()
            .max_decoding_message_size(DECODE_MAX);
        let txn = Txn::new().and_then(
            group
                .iter()
                .map(|k| TxnOp::get(self.full(k), None))
                .collect::<Vec<_>>(),
        );
        for _ in 0..5 {
            let r = read(|| {
                let (mut kv, t) = (kv.clone(), txn.clone());
                async move { kv.txn(t).await }
            })
            .await
            .map_err(unavailable)?;
            let mut values = Vec::with_capacity(group.len());
            let mut whole = true;
            for op in r.op_responses() {
                let TxnOpResponse::Get(g) = op else {
                    return Err(Error::Internal("etcd answered a read with a write".into()));
                };
                match g.kvs().first() {
                    None => values.push(None),
                    Some(raw) => match self.to_kv(raw).await? {
                        Some(v) => values.push(Some(v)),
                        // Replaced while read (its chunks are gone): read again.
                        None => whole = false,
                    },
                }
            }
            if whole && values.len() == group.len() {
                return Ok(values);
            }
        }
        Err(Error::Conflict(format!(
            "{} kept changing while it was read",
            group.join(", ")
        )))
    }
}

/// Sends the queued [`Store::get_many`] reads, those that arrived while others were
/// on the wire together in one transaction (each caller's keys in one, so still at
/// one revision; keys asked for twice read once), at most [`READS_IN_FLIGHT`]
/// transactions at a time. Every read is sent after its caller asked, so it sees
/// every write committed before: linearizable, at a round trip per batch rather
/// than per request. Ends when every sender is gone.
async fn serve_reads(
    store: EtcdStore,
    mut queue: tokio::sync::mpsc::UnboundedReceiver<QueuedRead>,
) {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(READS_IN_FLIGHT));
    let mut next = None;
    loop {
        let first = match next.take() {
            Some(r) => r,
            None => match queue.recv().await {
                Some(r) => r,
                None => return,
            },
        };
        // Wait for a slot first: what is asked for meanwhile joins this batch.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        let mut keys: Vec<String> = Vec::new();
        let mut index = std::collections::HashMap::new();
        let mut take = |r: &QueuedRead, keys: &mut Vec<String>| {
            for k in &r.keys {
                index.entry(k.clone()).or_insert_with(|| {
                    keys.push(k.clone());
                    keys.len() - 1
                });
            }
        };
        take(&batch[0], &mut keys);
        while let Ok(r) = queue.try_recv() {
            let new = r.keys.iter().filter(|k| !keys.contains(k)).count();
            if keys.len() + new > GET_MANY_GROUP {
                next = Some(r);
                break;
            }
            take(&r, &mut keys);
            batch.push(r);
        }
        let positions: Vec<Vec<usize>> = batch
            .iter()
            .map(|r| r.keys.iter().map(|k| index[k]).collect())
            .collect();
        let store = store.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            let got = store.read_group(&refs).await;
            for (r, at) in batch.into_iter().zip(positions) {
                let answer = match &got {
                    Ok(values) => Ok(at.iter().map(|&i| values[i].clone()).collect()),
                    Err(e) => Err(copy_error(e)),
                };
                // The caller may have gone (its request was cancelled).
                let _ = r.reply.send(answer);
            }
        });
    }
}

/// The same error again, for each caller of a batch that failed.
fn copy_error(e: &Error) -> Error {
    match e {
        Error::Unavailable(m) => Error::Unavailable(m.clone()),
        Error::Corrupt(m) => Error::Corrupt(m.clone()),
        Error::Conflict(m) => Error::Conflict(m.clone()),
        other => Error::Internal(other.to_string()),
    }
}

#[async_trait]
impl Store for EtcdStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let kv = self
            .client
            .kv_client()
            .max_decoding_message_size(DECODE_MAX);
        for _ in 0..5 {
            let k = self.full(key);
            let r = read(|| {
                let (mut kv, k) = (kv.clone(), k.clone());
                async move { kv.get(k, None).await }
            })
            .await
            .map_err(unavailable)?;
            let Some(raw) = r.kvs().first() else {
                return Ok(None);
            };
            if let Some(v) = self.to_kv(raw).await? {
                return Ok(Some(v));
            }
        }
        Err(Error::Conflict(format!(
            "{key} kept changing while it was read"
        )))
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<KeyValue>>> {
        let Some(queue) = self.reads.as_ref().filter(|_| keys.len() <= GET_MANY_GROUP) else {
            let mut out = Vec::with_capacity(keys.len());
            for group in keys.chunks(GET_MANY_GROUP) {
                out.extend(self.read_group(group).await?);
            }
            return Ok(out);
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        let keys = keys.iter().map(|k| k.to_string()).collect();
        queue
            .send(QueuedRead { keys, reply })
            .map_err(|_| Error::Unavailable("etcd: the store is closing".into()))?;
        answer
            .await
            .map_err(|_| Error::Unavailable("etcd: the store is closing".into()))?
    }

    async fn list(&self, prefix: &str) -> Result<Listing> {
        let kv = self
            .client
            .kv_client()
            .max_decoding_message_size(DECODE_MAX);
        let start = self.full(prefix);
        let end = prefix_end(start.as_bytes());
        let mut from = start.clone().into_bytes();
        let mut revision = 0;
        let mut out = Vec::new();
        loop {
            let mut opts = GetOptions::new().with_range(end.clone()).with_limit(PAGE);
            if revision > 0 {
                opts = opts.with_revision(revision);
            }
            let r = read(|| {
                let (mut kv, k, o) = (kv.clone(), from.clone(), opts.clone());
                async move { kv.get(k, Some(o)).await }
            })
            .await
            .map_err(unavailable)?;
            if revision == 0 {
                revision = r.header().map(|h| h.revision()).unwrap_or(0);
            }
            for raw in r.kvs() {
                // A chunk removed after the snapshot was taken: read that key fresh.
                match self.to_kv(raw).await? {
                    Some(v) => out.push(v),
                    None => {
                        if let Some(v) = self.get(&self.user_key(raw.key())?).await? {
                            out.push(v);
                        }
                    }
                }
            }
            if !r.more() {
                break;
            }
            let Some(last) = r.kvs().last() else { break };
            from = last.key().to_vec();
            from.push(0);
        }
        Ok(Listing { kvs: out, revision })
    }

    async fn txn(&self, compares: Vec<Compare>, ops: Vec<Op>) -> Result<TxnOutcome> {
        self.txn_with(compares, ops, None).await
    }

    async fn lease_grant(&self, ttl_seconds: i64) -> Result<LeaseId> {
        let lc = self.client.lease_client();
        let r = sent(|| {
            let mut lc = lc.clone();
            async move { lc.grant(ttl_seconds, None).await }
        })
        .await
        .map_err(unavailable)?;
        Ok(r.id())
    }

    async fn lease_keep_alive(&self, lease: LeaseId) -> Result<bool> {
        let mut lc = self.client.lease_client();
        // An ended lease is an answer, not an outage.
        let gone = |e: &etcd_client::Error| e.to_string().contains("lease not found");
        let (mut keeper, mut stream) = match lc.keep_alive(lease).await {
            Ok(x) => x,
            Err(e) if gone(&e) => return Ok(false),
            Err(e) => return Err(unavailable(e)),
        };
        keeper.keep_alive().await.map_err(unavailable)?;
        match tokio::time::timeout(Duration::from_secs(5), stream.message()).await {
            Ok(Ok(Some(r))) => Ok(r.ttl() > 0),
            Ok(Ok(None)) => Ok(false),
            Ok(Err(e)) if gone(&e) => Ok(false),
            Ok(Err(e)) => Err(unavailable(e)),
            Err(_) => Err(Error::Unavailable("etcd: no keep-alive answer".into())),
        }
    }

    async fn lease_revoke(&self, lease: LeaseId) -> Result<()> {
        let mut lc = self.client.lease_client();
        match lc.revoke(lease).await {
            Ok(_) => Ok(()),
            // Already expired: nothing left to remove.
            Err(etcd_client::Error::GRpcStatus(st)) if st.code() == tonic::Code::NotFound => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn txn_leased(
        &self,
        compares: Vec<Compare>,
        ops: Vec<Op>,
        lease: LeaseId,
    ) -> Result<TxnOutcome> {
        self.txn_with(compares, ops, Some(lease)).await
    }

    async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream> {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<WatchEvent>>(256);
        let this = self.clone();
        let key = self.full(prefix);
        tokio::spawn(async move {
            let mut next = from.max(1);
            let mut backoff = Duration::from_millis(100);
            loop {
                let opts = WatchOptions::new().with_prefix().with_start_revision(next);
                let stream = tokio::select! {
                    _ = tx.closed() => return,
                    s = async { this.client.watch_client().max_decoding_message_size(DECODE_MAX).watch(key.clone(), Some(opts)).await } => s,
                };
                let mut stream = match stream {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::debug!(error = %e, "etcd watch: reconnecting");
                        tokio::select! { _ = tx.closed() => return, _ = tokio::time::sleep(backoff) => {} }
                        backoff = (backoff * 2).min(Duration::from_secs(2));
                        continue;
                    }
                };
                loop {
                    let msg = tokio::select! {
                        _ = tx.closed() => return,
                        m = stream.next() => m,
                    };
                    let resp = match msg {
                        Some(Ok(r)) => r,
                        Some(Err(e)) => {
                            tracing::debug!(error = %e, "etcd watch stream broke: resuming");
                            break;
                        }
                        None => break,
                    };
                    backoff = Duration::from_millis(100);
                    if resp.compact_revision() > 0 && next <= resp.compact_revision() {
                        let _ = tx.send(Err(Error::Compacted(next))).await;
                        return;
                    }
                    if resp.canceled() {
                        break;
                    }
                    for ev in resp.events() {
                        let Some(kv) = ev.kv() else { continue };
                        let item = match ev.event_type() {
                            EventType::Put => match this.to_kv(kv).await {
                                Ok(Some(v)) => Ok(WatchEvent::Put(v)),
                                Ok(None) => {
                                    // Replaced meanwhile; the newer event follows.
                                    next = kv.mod_revision() + 1;
                                    continue;
                                }
                                Err(e) => Err(e),
                            },
                            EventType::Delete => match this.user_key(kv.key()) {
                                Ok(key) => Ok(WatchEvent::Delete {
                                    key,
                                    revision: kv.mod_revision(),
                                }),
                                Err(e) => Err(e),
                            },
                        };
                        next = kv.mod_revision() + 1;
                        if tx.send(item).await.is_err() {
                            return;
                        }
                    }
                }
                tokio::select! { _ = tx.closed() => return, _ = tokio::time::sleep(backoff) => {} }
            }
        });
        Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
    }

    async fn revision(&self) -> Result<Revision> {
        let kv = self.client.kv_client();
        let r = read(|| {
            let (mut kv, k) = (kv.clone(), self.keys.clone());
            async move {
                kv.get(k, Some(GetOptions::new().with_count_only().with_prefix()))
                    .await
            }
        })
        .await
        .map_err(unavailable)?;
        Ok(r.header().map(|h| h.revision()).unwrap_or(0))
    }

    fn backend(&self) -> &'static str {
        "etcd"
    }
}

/// The smallest key greater than every key with this prefix.
fn prefix_end(p: &[u8]) -> Vec<u8> {
    let mut end = p.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timed_out_read_is_tried_again_a_refused_status_is_not() {
        let timeout = etcd_client::Error::GRpcStatus(tonic::Status::cancelled("Timeout expired"));
        assert!(timed_out(&timeout));
        assert!(!not_sent(&timeout), "a timed-out write may have landed");
        let denied = etcd_client::Error::GRpcStatus(tonic::Status::permission_denied("no"));
        assert!(!timed_out(&denied) && !not_sent(&denied));
    }

    /// A write's large-value chunks are taken back only when the write surely
    /// did not commit: after a timeout it may still commit, naming them.
    #[test]
    fn a_timed_out_write_keeps_its_chunks() {
        let timeout = etcd_client::Error::GRpcStatus(tonic::Status::cancelled("Timeout expired"));
        assert!(!surely_not_committed(&timeout));
        let lost = etcd_client::Error::GRpcStatus(tonic::Status::unavailable("leader changed"));
        assert!(!surely_not_committed(&lost));
        let unsent =
            etcd_client::Error::GRpcStatus(tonic::Status::unavailable("connect error: refused"));
        assert!(surely_not_committed(&unsent));
        let too_many =
            etcd_client::Error::GRpcStatus(tonic::Status::invalid_argument("too many operations"));
        assert!(surely_not_committed(&too_many));
    }

    #[tokio::test]
    async fn read_sends_a_timed_out_request_once_more_and_no_more() {
        let tries = std::sync::atomic::AtomicU32::new(0);
        let r: std::result::Result<(), _> = read(|| {
            tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async {
                Err(etcd_client::Error::GRpcStatus(tonic::Status::cancelled(
                    "Timeout expired",
                )))
            }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
