//! The records store for local runs: a fjall database (a log-structured key-value store)
//! in a folder, shaped like the DynamoDB single table, durable: a write is acknowledged only
//! once its journal entry is on disk (`fdatasync`).
//!
//! Writes go through one writer thread that applies whatever is queued as one atomic batch
//! and syncs the journal once for all of it (group commit): concurrent requests share one
//! append and one sync. Conditions are checked by that thread, so a check and its write
//! cannot interleave with another writer's. Reads run in parallel, each on a snapshot.
//! Every durable change is published on a broadcast channel: the local twin of the
//! DynamoDB stream.
//!
//! (An earlier version used redb, a copy-on-write B-tree: each commit rewrote and
//! checksummed every page on the paths it touched, about a millisecond of CPU per batch,
//! which capped comment submissions; an LSM journal appends the new values and nothing else.)

use std::collections::HashMap;
use std::path::Path;

use async_trait::async_trait;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode, Readable};
use serde_json::Value;
use tokio::sync::{broadcast, oneshot};

pub use crate::ports::ItemChange;
use crate::ports::{Condition, Item, ItemStore, StoreError};

/// How much of the newest data fjall keeps in memory (it is on disk in the journal already)
/// before it writes it out as a sorted table. A local site's records stay far below this,
/// so in use the store only ever appends to its journal. The benchmark's flood of comments
/// (about 1 KB each, 15,000 a second) reaches it after about 30 s; from then on sorted
/// tables are written and merged in the background, and on the 2-core VM we measured, the
/// journal's `fdatasync`s waiting behind those writes took p99 from 2.7 ms to 19-28 ms
/// (with fjall's default 64 MiB: the same 19-28 ms from the tenth second on).
const MEMTABLE_BYTES: u64 = 512 << 20;
/// Journals are kept until their data is in sorted tables; above this, fjall writes tables
/// early. Twice the two keyspaces' memtables' worth.
const JOURNAL_BYTES: u64 = 2 * MEMTABLE_BYTES;

/// How many queued operations one batch takes at most.
const MAX_BATCH: usize = 512;

enum Op {
    Put(Item, Condition, oneshot::Sender<Result<bool, StoreError>>),
    Delete(
        String,
        String,
        Condition,
        oneshot::Sender<Result<Option<Item>, StoreError>>,
    ),
    Increment(
        String,
        String,
        i64,
        i64,
        oneshot::Sender<Result<i64, StoreError>>,
    ),
}

/// The two keyspaces: the items by `pk \0 sk`, and the secondary index by
/// `gsi1pk \0 gsi1sk \0 pk \0 sk` (value: the item's key).
#[derive(Clone)]
struct Tables {
    db: Database,
    items: Keyspace,
    gsi1: Keyspace,
}

#[derive(Clone)]
pub struct FjallItemStore {
    tables: Tables,
    writer: std::sync::mpsc::Sender<Op>,
    changes: broadcast::Sender<ItemChange>,
}

fn key(pk: &str, sk: &str) -> String {
    format!("{pk}\0{sk}")
}

fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn attr<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(Value::as_str)
}

fn decode(bytes: &[u8]) -> Result<Item, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn encode(item: &Item) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn holds(condition: &Condition, existing: Option<&Item>) -> bool {
    match condition {
        Condition::Always => true,
        Condition::NotExists => existing.is_none(),
        Condition::Equals { attr, value } => existing.and_then(|i| i.get(attr)) == Some(value),
        Condition::AbsentOrEquals { attr, value } => {
            existing.is_none_or(|i| i.get(attr) == Some(value))
        }
    }
}

fn gsi_key(item: &Item) -> Option<String> {
    let (gpk, gsk) = (attr(item, "gsi1pk")?, attr(item, "gsi1sk").unwrap_or(""));
    Some(format!(
        "{gpk}\0{gsk}\0{}\0{}",
        attr(item, "pk")?,
        attr(item, "sk")?
    ))
}

fn keyspace_options() -> KeyspaceCreateOptions {
    KeyspaceCreateOptions::default().max_memtable_size(MEMTABLE_BYTES)
}

impl FjallItemStore {
    /// Open (or create) the database in the folder `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(path).map_err(db_err)?;
        let db = Database::builder(path)
            // The writer thread syncs the journal itself, once per batch.
            .manual_journal_persist(true)
            .max_journaling_size(JOURNAL_BYTES)
            .open()
            .map_err(|e| match e {
                fjall::Error::Locked => StoreError::Unavailable(format!(
                    "the records database {} is already open in another process",
                    path.display()
                )),
                e => db_err(e),
            })?;
        let items = db.keyspace("items", keyspace_options).map_err(db_err)?;
        let gsi1 = db.keyspace("gsi1", keyspace_options).map_err(db_err)?;
        let tables = Tables { db, items, gsi1 };
        let (changes, _) = broadcast::channel(65_536);
        let (writer, rx) = std::sync::mpsc::channel();
        let (tables2, changes2) = (tables.clone(), changes.clone());
        std::thread::Builder::new()
            .name("records-writer".into())
            .spawn(move || writer_loop(&tables2, rx, &changes2))
            .map_err(db_err)?;
        Ok(Self {
            tables,
            writer,
            changes,
        })
    }

    /// Committed changes from now on: the local stream.
    pub fn subscribe(&self) -> broadcast::Receiver<ItemChange> {
        self.changes.subscribe()
    }

    fn send<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Op,
    ) -> oneshot::Receiver<Result<T, StoreError>> {
        let (tx, rx) = oneshot::channel();
        // If the writer is gone the receiver reports it below.
        let _ = self.writer.send(make(tx));
        rx
    }

    /// Items with keys starting with `prefix`, in key order, read from one snapshot.
    fn scan(&self, prefix: &str) -> Result<Vec<Item>, StoreError> {
        let snapshot = self.tables.db.snapshot();
        let mut out = Vec::new();
        for entry in snapshot.prefix(&self.tables.items, prefix) {
            let (_, v) = entry.into_inner().map_err(db_err)?;
            out.push(decode(&v)?);
        }
        Ok(out)
    }
}

async fn reply<T>(rx: oneshot::Receiver<Result<T, StoreError>>) -> Result<T, StoreError> {
    rx.await
        .map_err(|_| StoreError::Unavailable("the database writer has stopped".into()))?
}

/// One batch being applied: its writes, and what each key it touched now holds, so that a
/// later operation in the same batch sees an earlier one (the same form sent twice in one
/// batch is still stored once).
struct Batch<'t> {
    tables: &'t Tables,
    batch: fjall::OwnedWriteBatch,
    written: HashMap<String, Option<Item>>,
    emitted: Vec<ItemChange>,
}

impl<'t> Batch<'t> {
    fn new(tables: &'t Tables) -> Self {
        Self {
            tables,
            batch: tables.db.batch().durability(Some(PersistMode::SyncData)),
            written: HashMap::new(),
            emitted: Vec::new(),
        }
    }

    fn load(&self, k: &str) -> Result<Option<Item>, StoreError> {
        if let Some(latest) = self.written.get(k) {
            return Ok(latest.clone());
        }
        match self.tables.items.get(k).map_err(db_err)? {
            Some(v) => Ok(Some(decode(&v)?)),
            None => Ok(None),
        }
    }

    /// Replace `old` by `new` at `k`, keeping the index in step.
    fn write(&mut self, k: String, old: Option<Item>, new: Option<Item>) -> Result<(), StoreError> {
        let (old_gsi, new_gsi) = (
            old.as_ref().and_then(gsi_key),
            new.as_ref().and_then(gsi_key),
        );
        if old_gsi != new_gsi {
            if let Some(g) = old_gsi {
                self.batch.remove(&self.tables.gsi1, g);
            }
            if let Some(g) = new_gsi {
                self.batch.insert(&self.tables.gsi1, g, k.as_str());
            }
        }
        match &new {
            Some(item) => self
                .batch
                .insert(&self.tables.items, k.as_str(), encode(item)?),
            None => self.batch.remove(&self.tables.items, k.as_str()),
        }
        self.written.insert(k, new.clone());
        self.emitted.push(ItemChange { old, new });
        Ok(())
    }

    fn put(&mut self, item: Item, cond: &Condition) -> Result<bool, StoreError> {
        let k = match (attr(&item, "pk"), attr(&item, "sk")) {
            (Some(pk), Some(sk)) => key(pk, sk),
            _ => return Err(StoreError::Corrupt("an item needs string pk and sk".into())),
        };
        let old = self.load(&k)?;
        if !holds(cond, old.as_ref()) {
            return Ok(false);
        }
        self.write(k, old, Some(item))?;
        Ok(true)
    }

    fn delete(&mut self, pk: &str, sk: &str, cond: &Condition) -> Result<Option<Item>, StoreError> {
        let k = key(pk, sk);
        let old = self.load(&k)?;
        if old.is_none() || !holds(cond, old.as_ref()) {
            return Ok(None);
        }
        self.write(k, old.clone(), None)?;
        Ok(old)
    }

    fn increment(
        &mut self,
        pk: &str,
        sk: &str,
        by: i64,
        expires_at: i64,
    ) -> Result<i64, StoreError> {
        let k = key(pk, sk);
        let old = self.load(&k)?;
        let mut item = old.clone().unwrap_or_default();
        let count = item.get("count").and_then(Value::as_i64).unwrap_or(0) + by;
        item.insert("pk".into(), pk.into());
        item.insert("sk".into(), sk.into());
        item.insert("count".into(), count.into());
        item.insert("expires_at".into(), expires_at.into());
        self.write(k, old, Some(item))?;
        Ok(count)
    }
}

/// Group-commit timings, logged every few seconds when `SITE_STORE_STATS` is set: how long
/// building each batch took and how long its commit (journal append and `fdatasync`) took,
/// which is what a durable request waits for beyond its own work.
struct CommitStats {
    since: std::time::Instant,
    batches: usize,
    ops: usize,
    apply_us: Vec<u32>,
    commit_us: Vec<u32>,
}

impl CommitStats {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(5);

    fn new() -> Option<Self> {
        std::env::var_os("SITE_STORE_STATS").map(|_| Self {
            since: std::time::Instant::now(),
            batches: 0,
            ops: 0,
            apply_us: Vec::new(),
            commit_us: Vec::new(),
        })
    }

    fn record(&mut self, ops: usize, apply: std::time::Duration, commit: std::time::Duration) {
        self.batches += 1;
        self.ops += ops;
        self.apply_us
            .push(apply.as_micros().min(u128::from(u32::MAX)) as u32);
        self.commit_us
            .push(commit.as_micros().min(u128::from(u32::MAX)) as u32);
        if self.since.elapsed() >= Self::EVERY {
            let q = |v: &mut Vec<u32>, f: f64| {
                v.sort_unstable();
                v.get(((v.len() as f64 - 1.0) * f).round() as usize)
                    .copied()
                    .unwrap_or(0)
            };
            let (a, c) = (&mut self.apply_us, &mut self.commit_us);
            eprintln!(
                "store: {} batches, {} writes ({:.1} a batch); build p50 {} p99 {} max {} us; \
                 commit p50 {} p99 {} max {} us",
                self.batches,
                self.ops,
                self.ops as f64 / self.batches.max(1) as f64,
                q(a, 0.5),
                q(a, 0.99),
                q(a, 1.0),
                q(c, 0.5),
                q(c, 0.99),
                q(c, 1.0)
            );
            self.since = std::time::Instant::now();
            (self.batches, self.ops) = (0, 0);
            self.apply_us.clear();
            self.commit_us.clear();
        }
    }
}

fn writer_loop(
    tables: &Tables,
    rx: std::sync::mpsc::Receiver<Op>,
    changes: &broadcast::Sender<ItemChange>,
) {
    let mut stats = CommitStats::new();
    while let Ok(first) = rx.recv() {
        let started = std::time::Instant::now();
        let mut queued = vec![first];
        while queued.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(more) => queued.push(more),
                Err(_) => break,
            }
        }
        let mut batch = Batch::new(tables);
        let mut results: Vec<Settle> = Vec::with_capacity(queued.len());
        for op in queued {
            match op {
                Op::Put(item, cond, done) => {
                    let r = batch.put(item, &cond);
                    results.push(settle(done, r));
                }
                Op::Delete(pk, sk, cond, done) => {
                    let r = batch.delete(&pk, &sk, &cond);
                    results.push(settle(done, r));
                }
                Op::Increment(pk, sk, by, expires_at, done) => {
                    let r = batch.increment(&pk, &sk, by, expires_at);
                    results.push(settle(done, r));
                }
            }
        }
        let Batch { batch, emitted, .. } = batch;
        let built = std::time::Instant::now();
        // One atomic journal append and one sync for the whole batch. Answer only after it:
        // an acknowledged write is on disk.
        let committed = batch.commit().map_err(db_err);
        if let Some(stats) = stats.as_mut() {
            stats.record(results.len(), built - started, built.elapsed());
        }
        match committed {
            Ok(()) => {
                for r in results {
                    r(Ok(()));
                }
                for c in emitted {
                    let _ = changes.send(c);
                }
            }
            Err(e) => {
                let msg = e.to_string();
                for r in results {
                    r(Err(StoreError::Unavailable(msg.clone())));
                }
            }
        }
    }
}

/// Answers one queued operation once the batch's commit outcome is known.
type Settle = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// Hold an operation's own result until the batch commits (or fails).
fn settle<T: Send + 'static>(
    done: oneshot::Sender<Result<T, StoreError>>,
    result: Result<T, StoreError>,
) -> Settle {
    Box::new(move |commit: Result<(), StoreError>| {
        let _ = done.send(commit.and(result));
    })
}

#[async_trait]
impl ItemStore for FjallItemStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        match self.tables.items.get(key(pk, sk)).map_err(db_err)? {
            Some(v) => Ok(Some(decode(&v)?)),
            None => Ok(None),
        }
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<bool, StoreError> {
        reply(self.send(|tx| Op::Put(item, condition, tx))).await
    }

    async fn delete(
        &self,
        pk: &str,
        sk: &str,
        condition: Condition,
    ) -> Result<Option<Item>, StoreError> {
        let (pk, sk) = (pk.to_string(), sk.to_string());
        reply(self.send(|tx| Op::Delete(pk, sk, condition, tx))).await
    }

    async fn query(&self, pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        self.scan(&key(pk, sk_prefix))
    }

    async fn query_gsi1(&self, gsi1pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        let snapshot = self.tables.db.snapshot();
        let mut out = Vec::new();
        for entry in snapshot.prefix(&self.tables.gsi1, key(gsi1pk, sk_prefix)) {
            let (_, item_key) = entry.into_inner().map_err(db_err)?;
            // The index and the items are written in one batch, so one snapshot sees both.
            if let Some(v) = snapshot
                .get(&self.tables.items, &item_key)
                .map_err(db_err)?
            {
                out.push(decode(&v)?);
            }
        }
        Ok(out)
    }

    async fn increment(
        &self,
        pk: &str,
        sk: &str,
        by: i64,
        expires_at: i64,
    ) -> Result<i64, StoreError> {
        let (pk, sk) = (pk.to_string(), sk.to_string());
        reply(self.send(|tx| Op::Increment(pk, sk, by, expires_at, tx))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(v: Value) -> Item {
        v.as_object().unwrap().clone()
    }

    #[tokio::test]
    async fn conditional_put_query_gsi_and_durability() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records");
        {
            let s = FjallItemStore::open(&path).unwrap();
            let mut changes = s.subscribe();
            let a = item(
                json!({"pk": "POST#a", "sk": "COMMENT#2", "gsi1pk": "STATUS#pending", "gsi1sk": "2", "n": 1}),
            );
            assert!(s.put(a.clone(), Condition::NotExists).await.unwrap());
            assert!(
                !s.put(a.clone(), Condition::NotExists).await.unwrap(),
                "second put-if-absent refused"
            );
            s.put(
                item(json!({"pk": "POST#a", "sk": "COMMENT#1"})),
                Condition::Always,
            )
            .await
            .unwrap();
            s.put(
                item(json!({"pk": "POST#b", "sk": "COMMENT#1"})),
                Condition::Always,
            )
            .await
            .unwrap();
            let q = s.query("POST#a", "COMMENT#").await.unwrap();
            assert_eq!(
                q.iter()
                    .map(|i| i["sk"].as_str().unwrap())
                    .collect::<Vec<_>>(),
                ["COMMENT#1", "COMMENT#2"]
            );
            assert_eq!(s.query_gsi1("STATUS#pending", "").await.unwrap().len(), 1);
            // Moving the item out of the index removes the index entry.
            let mut moved = a.clone();
            moved.insert("gsi1pk".into(), "STATUS#approved".into());
            assert!(!s
                .put(
                    moved.clone(),
                    Condition::Equals {
                        attr: "n".into(),
                        value: json!(2)
                    }
                )
                .await
                .unwrap());
            assert!(s
                .put(
                    moved,
                    Condition::Equals {
                        attr: "n".into(),
                        value: json!(1)
                    }
                )
                .await
                .unwrap());
            assert!(s.query_gsi1("STATUS#pending", "").await.unwrap().is_empty());
            assert_eq!(s.increment("RATE#x", "W#1", 1, 99).await.unwrap(), 1);
            assert_eq!(s.increment("RATE#x", "W#1", 1, 99).await.unwrap(), 2);
            let first = changes.recv().await.unwrap();
            assert!(first.old.is_none() && first.new.is_some());
        }
        // Reopen: everything acknowledged is still there. (The writer thread of the dropped
        // handle lets go of the file a moment after the handle is dropped.)
        let s = loop {
            match FjallItemStore::open(&path) {
                Ok(s) => break s,
                Err(e) if e.to_string().contains("already open") => {
                    std::thread::sleep(std::time::Duration::from_millis(10))
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(s.query("POST#a", "").await.unwrap().len(), 2);
        let gone = s
            .delete("POST#b", "COMMENT#1", Condition::Always)
            .await
            .unwrap();
        assert!(gone.is_some());
        assert!(s.get("POST#b", "COMMENT#1").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn concurrent_writes_are_all_stored() {
        let dir = tempfile::tempdir().unwrap();
        let s = FjallItemStore::open(&dir.path().join("r")).unwrap();
        let mut tasks = Vec::new();
        for i in 0..200 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.put(
                    item(json!({"pk": "P", "sk": format!("{i:04}")})),
                    Condition::NotExists,
                )
                .await
                .unwrap()
            }));
        }
        for t in tasks {
            assert!(t.await.unwrap());
        }
        assert_eq!(s.query("P", "").await.unwrap().len(), 200);
    }
}
