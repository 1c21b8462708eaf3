//! The embedded store: one append-only log file of checksummed records on local
//! disk, replayed into memory at start.
//!
//! - **Durability**: a transaction is acknowledged only after its record is written
//!   and `fdatasync`ed. Concurrent writers share one sync (group commit), which is
//!   what makes many small writes per second possible on ordinary disks.
//! - **Crash safety**: every record carries its length and a CRC-32. A record cut
//!   short at the end of the file (power lost mid-write) is dropped at the next start:
//!   it was never acknowledged. A bad record anywhere else means the file was damaged,
//!   and the store refuses to open rather than serve wrong data.
//! - **Compaction**: when the log grows well beyond the live data, it is rewritten as a
//!   snapshot into a temporary file that atomically replaces the log.
//! - **One process**: a lock file keeps a second controller off the same directory.
//! - **Leases** live in memory: a leased key is written with a marker beside it
//!   (`{LEASED}{key}`), removed with its lease, and every marked key left by a
//!   process that ended is removed when the store is next opened.

use super::*;
use crate::core::error::Error;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, RwLock};
use tokio::sync::{broadcast, oneshot};

const MAGIC: &[u8; 12] = b"CAMPLANEKV1\n";
const TAG_TXN: u8 = 1;
const TAG_KV: u8 = 2;
const TAG_BASE: u8 = 3;
const OP_PUT: u8 = 1;
const OP_DEL: u8 = 2;
/// Marks a key put under a lease (see the module docs); nothing lists it.
pub const LEASED: &str = "\u{1}leased/";
/// How often expired leases are looked for.
const LEASE_REAP: std::time::Duration = std::time::Duration::from_millis(250);
/// Watch history kept in memory (events), beyond which old revisions are compacted.
const HISTORY_EVENTS: usize = 200_000;
/// Watch history kept in memory (value bytes).
const HISTORY_BYTES: usize = 256 << 20;
/// Rewrite the log when it is this much larger than the live data...
const COMPACT_FACTOR: u64 = 4;
/// ...and at least this large.
const COMPACT_MIN: u64 = 64 << 20;

struct State {
    kvs: BTreeMap<String, KeyValue>,
    revision: Revision,
    history: VecDeque<WatchEvent>,
    history_bytes: usize,
    /// Watches may start at revisions above this.
    compacted: Revision,
    live_bytes: u64,
    failed: Option<String>,
}

struct Shared {
    state: RwLock<State>,
    events: broadcast::Sender<Arc<Vec<WatchEvent>>>,
}

struct WriteReq {
    compares: Vec<Compare>,
    ops: Vec<Op>,
    reply: oneshot::Sender<Result<TxnOutcome>>,
}

/// The leases of this process: each one's end and keys, and each leased key's lease.
#[derive(Default)]
struct Leases {
    next: LeaseId,
    live: HashMap<LeaseId, (std::time::Instant, std::time::Duration, Vec<String>)>,
    owner: HashMap<String, LeaseId>,
    reaper: bool,
}

/// The embedded on-disk store.
pub struct EmbeddedStore {
    shared: Arc<Shared>,
    // Shared (weakly) with the lease reaper so that dropping the store still stops the writer.
    tx: Option<Arc<mpsc::Sender<WriteReq>>>,
    leases: Arc<std::sync::Mutex<Leases>>,
    writer: Option<std::thread::JoinHandle<()>>,
    _lock: File,
}

fn read_lock(s: &Shared) -> std::sync::RwLockReadGuard<'_, State> {
    s.state.read().unwrap_or_else(|p| p.into_inner())
}

fn write_lock(s: &Shared) -> std::sync::RwLockWriteGuard<'_, State> {
    s.state.write().unwrap_or_else(|p| p.into_inner())
}

impl EmbeddedStore {
    /// Opens (or creates) the store in directory `dir`.
    pub fn open(dir: &Path) -> Result<EmbeddedStore> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating store directory {}", dir.display()), e))?;
        // The store holds the CA key and password hashes: owner only, whatever the
        // umask, and tightened on every open (an older store made 0755/0644).
        private_dir(dir)?;
        let lock_path = dir.join("LOCK");
        let lock = private_file()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(format!("opening {}", lock_path.display()), e))?;
        lock.try_lock().map_err(|_| {
            Error::Unavailable(format!(
                "store {} is in use by another process (lock file {})",
                dir.display(),
                lock_path.display()
            ))
        })?;
        let path = dir.join("data");
        let (mut file, state) = load(&path)?;
        file.seek(SeekFrom::End(0))
            .map_err(|e| Error::io(path.display().to_string(), e))?;
        let (events, _) = broadcast::channel(1024);
        let shared = Arc::new(Shared {
            state: RwLock::new(state),
            events,
        });
        let (tx, rx) = mpsc::channel();
        let sh = shared.clone();
        let dir = dir.to_path_buf();
        let writer = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer_loop(dir, path, file, rx, sh))
            .map_err(|e| Error::io("starting the store writer", e))?;
        let store = EmbeddedStore {
            shared,
            tx: Some(Arc::new(tx)),
            leases: Default::default(),
            writer: Some(writer),
            _lock: lock,
        };
        store.drop_leftover_leased()?;
        Ok(store)
    }

    /// Removes the keys leased by a process that ended (their leases died with it).
    fn drop_leftover_leased(&self) -> Result<()> {
        let ops: Vec<Op> = {
            let st = read_lock(&self.shared);
            st.kvs
                .range(LEASED.to_string()..)
                .take_while(|(k, _)| k.starts_with(LEASED))
                .flat_map(|(k, _)| {
                    [
                        Op::Delete(k[LEASED.len()..].to_string()),
                        Op::Delete(k.clone()),
                    ]
                })
                .collect()
        };
        if ops.is_empty() {
            return Ok(());
        }
        let (reply, mut rx) = oneshot::channel();
        self.sender()?
            .send(WriteReq {
                compares: vec![],
                ops,
                reply,
            })
            .map_err(|_| Error::Unavailable("store writer stopped".into()))?;
        // Opening is synchronous (and may run inside a runtime): wait by polling.
        loop {
            match rx.try_recv() {
                Ok(r) => return r.map(|_| ()),
                Err(oneshot::error::TryRecvError::Empty) => {
                    std::thread::sleep(std::time::Duration::from_millis(1))
                }
                Err(_) => return Err(Error::Unavailable("store writer stopped".into())),
            }
        }
    }

    fn sender(&self) -> Result<&mpsc::Sender<WriteReq>> {
        self.tx
            .as_deref()
            .ok_or_else(|| Error::Unavailable("store closed".into()))
    }
}

/// Sends one transaction to the writer and waits for its outcome.
async fn send_txn(
    tx: &mpsc::Sender<WriteReq>,
    compares: Vec<Compare>,
    ops: Vec<Op>,
) -> Result<TxnOutcome> {
    let (reply, rx) = oneshot::channel();
    tx.send(WriteReq {
        compares,
        ops,
        reply,
    })
    .map_err(|_| Error::Unavailable("store writer stopped".into()))?;
    rx.await
        .map_err(|_| Error::Unavailable("store writer stopped".into()))?
}

/// The ops that end `lease`: its keys (those it still holds) and their markers.
fn end_lease(leases: &mut Leases, lease: LeaseId) -> Vec<Op> {
    let Some((_, _, keys)) = leases.live.remove(&lease) else {
        return vec![];
    };
    let mut ops = Vec::new();
    for k in keys {
        if leases.owner.get(&k) == Some(&lease) {
            leases.owner.remove(&k);
            ops.push(Op::Delete(format!("{LEASED}{k}")));
            ops.push(Op::Delete(k));
        }
    }
    ops
}

/// Ends the leases not kept alive in time, while the store lives.
async fn reap_leases(
    leases: std::sync::Weak<std::sync::Mutex<Leases>>,
    tx: std::sync::Weak<mpsc::Sender<WriteReq>>,
) {
    loop {
        tokio::time::sleep(LEASE_REAP).await;
        let Some(l) = leases.upgrade() else { return };
        let ops: Vec<Op> = {
            let mut g = l.lock().unwrap_or_else(|e| e.into_inner());
            let now = std::time::Instant::now();
            let expired: Vec<LeaseId> = g
                .live
                .iter()
                .filter(|(_, (end, _, _))| *end <= now)
                .map(|(id, _)| *id)
                .collect();
            expired
                .into_iter()
                .flat_map(|id| end_lease(&mut g, id))
                .collect()
        };
        drop(l);
        if ops.is_empty() {
            continue;
        }
        let Some(tx) = tx.upgrade() else { return };
        let (reply, rx) = oneshot::channel();
        let sent = tx.send(WriteReq {
            compares: vec![],
            ops,
            reply,
        });
        drop(tx);
        if sent.is_ok() {
            let _ = rx.await;
        }
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

// ---------- encoding ----------

fn put_u32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_le_bytes());
}
fn put_u64(b: &mut Vec<u8>, v: u64) {
    b.extend_from_slice(&v.to_le_bytes());
}
fn put_bytes(b: &mut Vec<u8>, v: &[u8]) {
    put_u32(b, v.len() as u32);
    b.extend_from_slice(v);
}

fn frame(out: &mut Vec<u8>, payload: &[u8]) {
    put_u32(out, payload.len() as u32);
    put_u32(out, crc32fast::hash(payload));
    out.extend_from_slice(payload);
}

fn encode_txn(rev: Revision, ops: &[Op]) -> Vec<u8> {
    let mut p = vec![TAG_TXN];
    put_u64(&mut p, rev as u64);
    put_u32(&mut p, ops.len() as u32);
    for op in ops {
        match op {
            Op::Put(k, v) => {
                p.push(OP_PUT);
                put_bytes(&mut p, k.as_bytes());
                put_bytes(&mut p, v);
            }
            Op::Delete(k) => {
                p.push(OP_DEL);
                put_bytes(&mut p, k.as_bytes());
            }
        }
    }
    p
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8).map(|b| {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            u64::from_le_bytes(a)
        })
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn string(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?.to_vec()).ok()
    }
}

enum Record {
    Txn(Revision, Vec<Op>),
    Kv(KeyValue),
    Base(Revision),
}

fn decode(p: &[u8]) -> Option<Record> {
    let mut c = Cursor(p);
    let rec = match c.u8()? {
        TAG_TXN => {
            let rev = c.u64()? as Revision;
            let n = c.u32()? as usize;
            let mut ops = Vec::with_capacity(n.min(1 << 16));
            for _ in 0..n {
                match c.u8()? {
                    OP_PUT => {
                        let k = c.string()?;
                        ops.push(Op::Put(k, c.bytes()?.to_vec()));
                    }
                    OP_DEL => ops.push(Op::Delete(c.string()?)),
                    _ => return None,
                }
            }
            Record::Txn(rev, ops)
        }
        TAG_KV => {
            let create_revision = c.u64()? as Revision;
            let mod_revision = c.u64()? as Revision;
            let key = c.string()?;
            let value = Arc::new(c.bytes()?.to_vec());
            Record::Kv(KeyValue {
                key,
                value,
                create_revision,
                mod_revision,
            })
        }
        TAG_BASE => Record::Base(c.u64()? as Revision),
        _ => return None,
    };
    if !c.0.is_empty() {
        return None;
    }
    Some(rec)
}

// ---------- state ----------

impl State {
    fn new() -> State {
        State {
            kvs: BTreeMap::new(),
            revision: 0,
            history: VecDeque::new(),
            history_bytes: 0,
            compacted: 0,
            live_bytes: 0,
            failed: None,
        }
    }

    fn apply(&mut self, rev: Revision, ops: Vec<Op>, events: &mut Vec<WatchEvent>) {
        for op in ops {
            match op {
                Op::Put(key, value) => {
                    let create_revision = self
                        .kvs
                        .get(&key)
                        .map(|kv| kv.create_revision)
                        .unwrap_or(rev);
                    let kv = KeyValue {
                        key: key.clone(),
                        value: Arc::new(value),
                        create_revision,
                        mod_revision: rev,
                    };
                    self.live_bytes += (key.len() + kv.value.len()) as u64;
                    if let Some(old) = self.kvs.insert(key, kv.clone()) {
                        self.live_bytes -= (old.key.len() + old.value.len()) as u64;
                    }
                    events.push(WatchEvent::Put(kv));
                }
                Op::Delete(key) => {
                    if let Some(old) = self.kvs.remove(&key) {
                        self.live_bytes -= (old.key.len() + old.value.len()) as u64;
                        events.push(WatchEvent::Delete { key, revision: rev });
                    }
                }
            }
        }
        self.revision = rev;
    }

    fn remember(&mut self, events: &[WatchEvent]) {
        for e in events {
            self.history_bytes += event_size(e);
            self.history.push_back(e.clone());
        }
        while self.history.len() > HISTORY_EVENTS || self.history_bytes > HISTORY_BYTES {
            let Some(old) = self.history.pop_front() else {
                break;
            };
            self.history_bytes -= event_size(&old);
            self.compacted = old.revision();
        }
    }

    fn mod_rev(&self, key: &str) -> Revision {
        self.kvs.get(key).map(|kv| kv.mod_revision).unwrap_or(0)
    }
}

fn event_size(e: &WatchEvent) -> usize {
    match e {
        WatchEvent::Put(kv) => kv.key.len() + kv.value.len() + 64,
        WatchEvent::Delete { key, .. } => key.len() + 64,
    }
}

/// Open options for the store's files: created 0600 whatever the umask.
fn private_file() -> OpenOptions {
    let mut o = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o
}

/// Makes the store directory and the files already in it owner-only (0700/0600).
fn private_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let set = |p: &Path, mode: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
                .map_err(|e| Error::io(format!("making {} private", p.display()), e))
        };
        set(dir, 0o700)?;
        let entries = std::fs::read_dir(dir)
            .map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_file()) {
                set(&e.path(), 0o600)?;
            }
        }
    }
    Ok(())
}

fn corrupt(path: &Path, offset: u64, what: &str) -> Error {
    Error::Corrupt(format!(
        "{} is damaged at byte {offset}: {what}. The controller will not serve data it cannot \
         verify; restore the store directory from a backup (or move it aside to start empty)",
        path.display()
    ))
}

/// Reads the log into memory. A torn last record is cut off; any other damage is fatal.
fn load(path: &Path) -> Result<(File, State)> {
    let mut file = private_file()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    let mut data = Vec::new();
    file.read_to_end(&mut data)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let mut st = State::new();
    if data.is_empty() {
        file.write_all(MAGIC)
            .and_then(|_| file.sync_all())
            .map_err(|e| Error::io(path.display().to_string(), e))?;
        return Ok((file, st));
    }
    if data.len() < MAGIC.len() || &data[..MAGIC.len()] != MAGIC {
        return Err(corrupt(path, 0, "not a camplane store file (bad header)"));
    }
    let mut pos = MAGIC.len();
    let mut torn_at = None;
    let mut scratch = Vec::new();
    while pos < data.len() {
        let rest = &data[pos..];
        if rest.len() < 8 {
            torn_at = Some(pos);
            break;
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if rest.len() < 8 + len {
            torn_at = Some(pos);
            break;
        }
        let payload = &rest[8..8 + len];
        let last = pos + 8 + len == data.len();
        if crc32fast::hash(payload) != crc {
            if last {
                torn_at = Some(pos);
                break;
            }
            return Err(corrupt(path, pos as u64, "record checksum mismatch"));
        }
        let Some(rec) = decode(payload) else {
            return Err(corrupt(path, pos as u64, "record cannot be decoded"));
        };
        match rec {
            Record::Base(rev) => {
                st.revision = rev;
                st.compacted = rev;
            }
            Record::Kv(kv) => {
                st.live_bytes += (kv.key.len() + kv.value.len()) as u64;
                st.kvs.insert(kv.key.clone(), kv);
            }
            Record::Txn(rev, ops) => {
                if rev != st.revision + 1 {
                    return Err(corrupt(
                        path,
                        pos as u64,
                        &format!("revision {rev} follows {}", st.revision),
                    ));
                }
                scratch.clear();
                st.apply(rev, ops, &mut scratch);
                let evs = std::mem::take(&mut scratch);
                st.remember(&evs);
                scratch = evs;
            }
        }
        pos += 8 + len;
    }
    if let Some(at) = torn_at {
        // A crash tears only the last write: nothing whole may follow. A
        // damaged length field looks like a tear too, and would silently cut
        // every acknowledged record after it.
        if let Some(next) = whole_record_after(&data, at) {
            return Err(corrupt(
                path,
                at as u64,
                &format!("record length damaged: a whole record follows at byte {next}"),
            ));
        }
        tracing::warn!(path = %path.display(), offset = at, lost_bytes = data.len() - at,
            "dropping a torn record at the end of the store log (an unacknowledged write cut by a crash)");
        file.set_len(at as u64)
            .and_then(|_| file.sync_all())
            .map_err(|e| Error::io(path.display().to_string(), e))?;
    }
    Ok((file, st))
}

/// The first offset after `at` where a whole, checksummed, decodable record
/// starts, if any: what tells a damaged length from a torn last write.
fn whole_record_after(data: &[u8], at: usize) -> Option<usize> {
    (at + 1..data.len().saturating_sub(8)).find(|&p| {
        let rest = &data[p..];
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        len > 0
            && rest.len() - 8 >= len
            && crc32fast::hash(&rest[8..8 + len]) == crc
            && decode(&rest[8..8 + len]).is_some()
    })
}

// ---------- the writer ----------

fn writer_loop(
    dir: PathBuf,
    path: PathBuf,
    mut file: File,
    rx: mpsc::Receiver<WriteReq>,
    shared: Arc<Shared>,
) {
    let mut file_len = file.metadata().map(|m| m.len()).unwrap_or(0);
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < 512 {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let mut buf = Vec::new();
        let mut applied: Vec<(Revision, Vec<Op>)> = Vec::new();
        let mut outcomes: Vec<TxnOutcome> = Vec::with_capacity(batch.len());
        {
            let st = read_lock(&shared);
            if let Some(why) = &st.failed {
                for r in batch {
                    let _ = r.reply.send(Err(Error::Unavailable(why.clone())));
                }
                continue;
            }
            let mut rev = st.revision;
            let mut overlay: HashMap<&str, Revision> = HashMap::new();
            for r in &batch {
                let holds = r.compares.iter().all(|Compare::ModRevision(k, want)| {
                    overlay
                        .get(k.as_str())
                        .copied()
                        .unwrap_or_else(|| st.mod_rev(k))
                        == *want
                });
                if holds && !r.ops.is_empty() {
                    rev += 1;
                    for op in &r.ops {
                        let v = if matches!(op, Op::Put(..)) { rev } else { 0 };
                        overlay.insert(op.key(), v);
                    }
                    frame(&mut buf, &encode_txn(rev, &r.ops));
                    applied.push((rev, r.ops.clone()));
                    outcomes.push(TxnOutcome {
                        succeeded: true,
                        revision: rev,
                    });
                } else {
                    outcomes.push(TxnOutcome {
                        succeeded: holds,
                        revision: rev,
                    });
                }
            }
        }
        if !buf.is_empty() {
            let res = file.write_all(&buf).and_then(|_| file.sync_data());
            if let Err(e) = res {
                let why = format!(
                    "writing {} failed: {e}; restart the controller",
                    path.display()
                );
                tracing::error!(error = %why, "store write failed; refusing further writes");
                write_lock(&shared).failed = Some(why.clone());
                for r in batch {
                    let _ = r.reply.send(Err(Error::Unavailable(why.clone())));
                }
                continue;
            }
            file_len += buf.len() as u64;
        }
        let mut events = Vec::new();
        let live = {
            let mut st = write_lock(&shared);
            let start = events.len();
            for (rev, ops) in applied {
                st.apply(rev, ops, &mut events);
            }
            let evs = events[start..].to_vec();
            st.remember(&evs);
            st.live_bytes
        };
        if !events.is_empty() {
            let _ = shared.events.send(Arc::new(events));
        }
        for (r, out) in batch.into_iter().zip(outcomes) {
            let _ = r.reply.send(Ok(out));
        }
        if file_len > COMPACT_MIN && file_len > COMPACT_FACTOR * live {
            match compact(&dir, &path, &shared) {
                Ok((f, len)) => {
                    file = f;
                    file_len = len;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "store compaction failed; the log keeps growing")
                }
            }
        }
    }
}

/// Rewrites the log as a snapshot of the live data, atomically.
fn compact(dir: &Path, path: &Path, shared: &Shared) -> Result<(File, u64)> {
    let tmp = dir.join("data.compacting");
    let mut buf = MAGIC.to_vec();
    {
        let st = read_lock(shared);
        let mut p = vec![TAG_BASE];
        put_u64(&mut p, st.revision as u64);
        frame(&mut buf, &p);
        for kv in st.kvs.values() {
            let mut p = vec![TAG_KV];
            put_u64(&mut p, kv.create_revision as u64);
            put_u64(&mut p, kv.mod_revision as u64);
            put_bytes(&mut p, kv.key.as_bytes());
            put_bytes(&mut p, &kv.value);
            frame(&mut buf, &p);
        }
    }
    let io = |e| Error::io(format!("compacting {}", path.display()), e);
    let mut f = private_file()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(io)?;
    f.write_all(&buf).and_then(|_| f.sync_all()).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    let f = OpenOptions::new()
        .append(true)
        .read(true)
        .open(path)
        .map_err(io)?;
    Ok((f, buf.len() as u64))
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        Ok(read_lock(&self.shared).kvs.get(key).cloned())
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<KeyValue>>> {
        let st = read_lock(&self.shared);
        Ok(keys.iter().map(|k| st.kvs.get(*k).cloned()).collect())
    }

    async fn list(&self, prefix: &str) -> Result<Listing> {
        let st = read_lock(&self.shared);
        let kvs = st
            .kvs
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v.clone())
            .collect();
        Ok(Listing {
            kvs,
            revision: st.revision,
        })
    }

    async fn txn(&self, compares: Vec<Compare>, mut ops: Vec<Op>) -> Result<TxnOutcome> {
        // A plain put or a delete detaches a leased key (as on etcd).
        let detached: Vec<String> = {
            let g = self.leases.lock().unwrap_or_else(|e| e.into_inner());
            if g.owner.is_empty() {
                vec![]
            } else {
                ops.iter()
                    .map(|o| o.key())
                    .filter(|k| g.owner.contains_key(*k))
                    .map(str::to_string)
                    .collect()
            }
        };
        for k in &detached {
            ops.push(Op::Delete(format!("{LEASED}{k}")));
        }
        let out = send_txn(self.sender()?, compares, ops).await?;
        if out.succeeded && !detached.is_empty() {
            let mut g = self.leases.lock().unwrap_or_else(|e| e.into_inner());
            for k in detached {
                g.owner.remove(&k);
            }
        }
        Ok(out)
    }

    async fn lease_grant(&self, ttl_seconds: i64) -> Result<LeaseId> {
        let ttl = std::time::Duration::from_secs(ttl_seconds.max(1) as u64);
        let mut g = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        g.next += 1;
        let id = g.next;
        g.live
            .insert(id, (std::time::Instant::now() + ttl, ttl, Vec::new()));
        if !g.reaper {
            g.reaper = true;
            let tx = self.tx.as_ref().map(Arc::downgrade).unwrap_or_default();
            tokio::spawn(reap_leases(Arc::downgrade(&self.leases), tx));
        }
        Ok(id)
    }

    async fn lease_keep_alive(&self, lease: LeaseId) -> Result<bool> {
        let mut g = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        Ok(match g.live.get_mut(&lease) {
            Some((end, ttl, _)) if *end > now => {
                *end = now + *ttl;
                true
            }
            _ => false,
        })
    }

    async fn lease_revoke(&self, lease: LeaseId) -> Result<()> {
        let ops = {
            let mut g = self.leases.lock().unwrap_or_else(|e| e.into_inner());
            end_lease(&mut g, lease)
        };
        if !ops.is_empty() {
            send_txn(self.sender()?, vec![], ops).await?;
        }
        Ok(())
    }

    async fn txn_leased(
        &self,
        compares: Vec<Compare>,
        mut ops: Vec<Op>,
        lease: LeaseId,
    ) -> Result<TxnOutcome> {
        let keys: Vec<String> = ops
            .iter()
            .filter(|o| matches!(o, Op::Put(..)))
            .map(|o| o.key().to_string())
            .collect();
        {
            let g = self.leases.lock().unwrap_or_else(|e| e.into_inner());
            if g.live
                .get(&lease)
                .is_none_or(|(end, _, _)| *end <= std::time::Instant::now())
            {
                return Err(Error::NotFound(format!("lease {lease} has ended")));
            }
        }
        for k in &keys {
            ops.push(Op::Put(
                format!("{LEASED}{k}"),
                lease.to_string().into_bytes(),
            ));
        }
        let out = send_txn(self.sender()?, compares, ops).await?;
        if out.succeeded {
            let ended = {
                let mut g = self.leases.lock().unwrap_or_else(|e| e.into_inner());
                match g.live.get_mut(&lease) {
                    Some((_, _, held)) => {
                        for k in &keys {
                            if !held.contains(k) {
                                held.push(k.clone());
                            }
                        }
                        for k in &keys {
                            g.owner.insert(k.clone(), lease);
                        }
                        false
                    }
                    None => true,
                }
            };
            if ended {
                // The lease ended while the write was in flight: its keys go too.
                let mut del = Vec::new();
                for k in keys {
                    del.push(Op::Delete(format!("{LEASED}{k}")));
                    del.push(Op::Delete(k));
                }
                send_txn(self.sender()?, vec![], del).await?;
            }
        }
        Ok(out)
    }

    async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream> {
        let prefix = prefix.to_string();
        let (backlog, mut sub) = {
            let st = read_lock(&self.shared);
            if from <= st.compacted && from <= st.revision {
                return Err(Error::Compacted(from));
            }
            let backlog: Vec<WatchEvent> = st
                .history
                .iter()
                .filter(|e| e.revision() >= from && e.key().starts_with(&prefix))
                .cloned()
                .collect();
            (backlog, self.shared.events.subscribe())
        };
        let shared = self.shared.clone();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<WatchEvent>>(256);
        tokio::spawn(async move {
            let mut next = from;
            for e in backlog {
                next = e.revision() + 1;
                if tx.send(Ok(e)).await.is_err() {
                    return;
                }
            }
            loop {
                let batch = tokio::select! {
                    _ = tx.closed() => return,
                    b = sub.recv() => b,
                };
                let evs: Vec<WatchEvent> = match batch {
                    Ok(b) => b
                        .iter()
                        .filter(|e| e.revision() >= next && e.key().starts_with(&prefix))
                        .cloned()
                        .collect(),
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Fell behind the live feed: catch up from history.
                        let caught_up = {
                            let st = read_lock(&shared);
                            (next > st.compacted).then(|| {
                                st.history
                                    .iter()
                                    .filter(|e| {
                                        e.revision() >= next && e.key().starts_with(&prefix)
                                    })
                                    .cloned()
                                    .collect::<Vec<_>>()
                            })
                        };
                        match caught_up {
                            Some(evs) => evs,
                            None => {
                                let _ = tx.send(Err(Error::Compacted(next))).await;
                                return;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                for e in evs {
                    next = e.revision() + 1;
                    if tx.send(Ok(e)).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
    }

    async fn revision(&self) -> Result<Revision> {
        Ok(read_lock(&self.shared).revision)
    }

    fn backend(&self) -> &'static str {
        "embedded"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The store holds the CA key and password hashes: a store made under a loose
    /// umask (or by an older version) is owner-only once opened.
    #[cfg(unix)]
    #[tokio::test]
    async fn store_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("store");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        {
            let s = EmbeddedStore::open(&dir).unwrap();
            s.put("k", b"v".to_vec()).await.unwrap();
        }
        std::fs::set_permissions(dir.join("data"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let s = EmbeddedStore::open(&dir).unwrap();
        s.put("k2", b"v".to_vec()).await.unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            assert_eq!(mode(&p), 0o600, "{}", p.display());
        }
    }

    #[tokio::test]
    async fn torn_tail_is_dropped_and_middle_damage_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = EmbeddedStore::open(dir.path()).unwrap();
            for i in 0..10 {
                s.put(&format!("k{i}"), vec![i as u8; 100]).await.unwrap();
            }
        }
        let data = dir.path().join("data");
        let len = std::fs::metadata(&data).unwrap().len();
        // Cut the last record short: it was never acknowledged, so it is dropped.
        let f = OpenOptions::new().write(true).open(&data).unwrap();
        f.set_len(len - 7).unwrap();
        drop(f);
        {
            let s = EmbeddedStore::open(dir.path()).unwrap();
            assert_eq!(s.revision().await.unwrap(), 9);
            assert!(s.get("k9").await.unwrap().is_none());
            assert_eq!(
                s.get("k8").await.unwrap().unwrap().value.as_slice(),
                &[8u8; 100][..]
            );
            s.put("k9", vec![9]).await.unwrap();
        }
        // Damage the first record's length (its high byte): it now runs past
        // the end and looks like a tear, but whole records follow it: refuse
        // to open rather than cut them.
        let good = std::fs::read(&data).unwrap();
        let mut bytes = good.clone();
        bytes[MAGIC.len() + 3] = 0xff;
        std::fs::write(&data, &bytes).unwrap();
        let err = EmbeddedStore::open(dir.path()).err().expect("must refuse");
        assert!(err.to_string().contains("whole record follows"), "{err}");
        assert_eq!(std::fs::read(&data).unwrap(), bytes, "nothing cut");
        // Its length made exactly the rest of the file: the same.
        let mut bytes = good.clone();
        let rest = (good.len() - MAGIC.len() - 8) as u32;
        bytes[MAGIC.len()..MAGIC.len() + 4].copy_from_slice(&rest.to_le_bytes());
        std::fs::write(&data, &bytes).unwrap();
        let err = EmbeddedStore::open(dir.path()).err().expect("must refuse");
        assert!(matches!(err, Error::Corrupt(_)), "{err}");
        std::fs::write(&data, &good).unwrap();
        // Flip a byte inside an early record: refuse to open.
        let mut bytes = std::fs::read(&data).unwrap();
        bytes[MAGIC.len() + 30] ^= 0xff;
        std::fs::write(&data, &bytes).unwrap();
        let err = EmbeddedStore::open(dir.path()).err().expect("must refuse");
        assert!(matches!(err, Error::Corrupt(_)), "{err}");
        assert!(err.to_string().contains("damaged at byte"), "{err}");
    }

    #[tokio::test]
    async fn second_open_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _s = EmbeddedStore::open(dir.path()).unwrap();
        assert!(matches!(
            EmbeddedStore::open(dir.path()),
            Err(Error::Unavailable(_))
        ));
    }

    #[tokio::test]
    async fn keys_leased_by_a_process_that_ended_are_gone_at_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = EmbeddedStore::open(dir.path()).unwrap();
            let l = s.lease_grant(60).await.unwrap();
            s.txn_leased(vec![], vec![Op::Put("presence/a".into(), b"1".to_vec())], l)
                .await
                .unwrap();
            s.put("kept", b"1".to_vec()).await.unwrap();
            // Dropped without revoking, as a crash would leave it.
        }
        let s = EmbeddedStore::open(dir.path()).unwrap();
        assert!(s.get("presence/a").await.unwrap().is_none());
        assert!(s
            .get(&format!("{LEASED}presence/a"))
            .await
            .unwrap()
            .is_none());
        assert!(s.get("kept").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn compaction_keeps_data_and_revisions() {
        let dir = tempfile::tempdir().unwrap();
        let s = EmbeddedStore::open(dir.path()).unwrap();
        for i in 0..5 {
            s.put("a", vec![i]).await.unwrap();
        }
        let (f, _) = compact(dir.path(), &dir.path().join("data"), &s.shared).unwrap();
        drop(f);
        drop(s);
        let s = EmbeddedStore::open(dir.path()).unwrap();
        let kv = s.get("a").await.unwrap().unwrap();
        assert_eq!(
            (kv.value.as_slice(), kv.create_revision, kv.mod_revision),
            (&[4u8][..], 1, 5)
        );
        assert_eq!(s.put("b", vec![]).await.unwrap(), 6);
    }
}
