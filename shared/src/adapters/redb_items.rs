//! The records store for local runs: a redb database file, durable (every acknowledged write
//! is fsynced), shaped like the DynamoDB single table.
//!
//! Writes go through one writer thread that commits whatever is queued in a single
//! transaction (group commit): concurrent requests share an fsync instead of queueing for
//! one each. Reads run against redb's MVCC snapshots, in parallel with writes.
//! Every committed change is published on a broadcast channel: the local twin of the
//! DynamoDB stream.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableTable, TableDefinition};
use serde_json::Value;
use tokio::sync::{broadcast, oneshot};

pub use crate::ports::ItemChange;
use crate::ports::{Condition, Item, ItemStore, StoreError};

const ITEMS: TableDefinition<&str, &[u8]> = TableDefinition::new("items");
/// `gsi1pk \0 gsi1sk \0 pk \0 sk` → `pk \0 sk`.
const GSI1: TableDefinition<&str, &str> = TableDefinition::new("gsi1");

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

#[derive(Clone)]
pub struct RedbItemStore {
    db: Arc<Database>,
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

fn holds(condition: &Condition, existing: Option<&Item>) -> bool {
    match condition {
        Condition::Always => true,
        Condition::NotExists => existing.is_none(),
        Condition::Equals { attr, value } => existing.and_then(|i| i.get(attr)) == Some(value),
    }
}

impl RedbItemStore {
    /// Open (or create) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(db_err)?;
        }
        let db = Arc::new(Database::create(path).map_err(db_err)?);
        {
            let tx = db.begin_write().map_err(db_err)?;
            tx.open_table(ITEMS).map_err(db_err)?;
            tx.open_table(GSI1).map_err(db_err)?;
            tx.commit().map_err(db_err)?;
        }
        let (changes, _) = broadcast::channel(65_536);
        let (writer, rx) = std::sync::mpsc::channel();
        let (db2, changes2) = (db.clone(), changes.clone());
        std::thread::Builder::new()
            .name("redb-writer".into())
            .spawn(move || writer_loop(&db2, rx, &changes2))
            .map_err(db_err)?;
        Ok(Self {
            db,
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

    fn read_items(&self, keys: impl IntoIterator<Item = String>) -> Result<Vec<Item>, StoreError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let table = tx.open_table(ITEMS).map_err(db_err)?;
        let mut out = Vec::new();
        for k in keys {
            if let Some(v) = table.get(k.as_str()).map_err(db_err)? {
                out.push(decode(v.value())?);
            }
        }
        Ok(out)
    }
}

async fn reply<T>(rx: oneshot::Receiver<Result<T, StoreError>>) -> Result<T, StoreError> {
    rx.await
        .map_err(|_| StoreError::Unavailable("the database writer has stopped".into()))?
}

fn writer_loop(
    db: &Database,
    rx: std::sync::mpsc::Receiver<Op>,
    changes: &broadcast::Sender<ItemChange>,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
            if batch.len() >= 512 {
                break;
            }
        }
        let mut results: Vec<Settle> = Vec::with_capacity(batch.len());
        let mut emitted = Vec::new();
        let outcome = (|| -> Result<(), StoreError> {
            let tx = db.begin_write().map_err(db_err)?;
            {
                let mut items = tx.open_table(ITEMS).map_err(db_err)?;
                let mut gsi = tx.open_table(GSI1).map_err(db_err)?;
                for op in batch.drain(..) {
                    match op {
                        Op::Put(item, cond, done) => {
                            let r = apply_put(&mut items, &mut gsi, item, &cond, &mut emitted);
                            results.push(settle(done, r));
                        }
                        Op::Delete(pk, sk, cond, done) => {
                            let r =
                                apply_delete(&mut items, &mut gsi, &pk, &sk, &cond, &mut emitted);
                            results.push(settle(done, r));
                        }
                        Op::Increment(pk, sk, by, expires_at, done) => {
                            let r =
                                apply_increment(&mut items, &pk, &sk, by, expires_at, &mut emitted);
                            results.push(settle(done, r));
                        }
                    }
                }
            }
            tx.commit().map_err(db_err)
        })();
        // Answer only after the commit: an acknowledged write is on disk.
        match outcome {
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

type ItemsTable<'t> = redb::Table<'t, &'static str, &'static [u8]>;
type GsiTable<'t> = redb::Table<'t, &'static str, &'static str>;

fn gsi_key(item: &Item) -> Option<String> {
    let (gpk, gsk) = (attr(item, "gsi1pk")?, attr(item, "gsi1sk").unwrap_or(""));
    Some(format!(
        "{gpk}\0{gsk}\0{}\0{}",
        attr(item, "pk")?,
        attr(item, "sk")?
    ))
}

fn load(items: &ItemsTable<'_>, k: &str) -> Result<Option<Item>, StoreError> {
    match items.get(k).map_err(db_err)? {
        Some(v) => Ok(Some(decode(v.value())?)),
        None => Ok(None),
    }
}

fn apply_put(
    items: &mut ItemsTable<'_>,
    gsi: &mut GsiTable<'_>,
    item: Item,
    cond: &Condition,
    emitted: &mut Vec<ItemChange>,
) -> Result<bool, StoreError> {
    let (pk, sk) = match (attr(&item, "pk"), attr(&item, "sk")) {
        (Some(pk), Some(sk)) => (pk.to_string(), sk.to_string()),
        _ => return Err(StoreError::Corrupt("an item needs string pk and sk".into())),
    };
    let k = key(&pk, &sk);
    let old = load(items, &k)?;
    if !holds(cond, old.as_ref()) {
        return Ok(false);
    }
    if let Some(g) = old.as_ref().and_then(gsi_key) {
        gsi.remove(g.as_str()).map_err(db_err)?;
    }
    if let Some(g) = gsi_key(&item) {
        gsi.insert(g.as_str(), k.as_str()).map_err(db_err)?;
    }
    let bytes = serde_json::to_vec(&item).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    items.insert(k.as_str(), bytes.as_slice()).map_err(db_err)?;
    emitted.push(ItemChange {
        old,
        new: Some(item),
    });
    Ok(true)
}

fn apply_delete(
    items: &mut ItemsTable<'_>,
    gsi: &mut GsiTable<'_>,
    pk: &str,
    sk: &str,
    cond: &Condition,
    emitted: &mut Vec<ItemChange>,
) -> Result<Option<Item>, StoreError> {
    let k = key(pk, sk);
    let old = load(items, &k)?;
    if old.is_none() || !holds(cond, old.as_ref()) {
        return Ok(None);
    }
    if let Some(g) = old.as_ref().and_then(gsi_key) {
        gsi.remove(g.as_str()).map_err(db_err)?;
    }
    items.remove(k.as_str()).map_err(db_err)?;
    emitted.push(ItemChange {
        old: old.clone(),
        new: None,
    });
    Ok(old)
}

fn apply_increment(
    items: &mut ItemsTable<'_>,
    pk: &str,
    sk: &str,
    by: i64,
    expires_at: i64,
    emitted: &mut Vec<ItemChange>,
) -> Result<i64, StoreError> {
    let k = key(pk, sk);
    let old = load(items, &k)?;
    let mut item = old.clone().unwrap_or_default();
    let count = item.get("count").and_then(Value::as_i64).unwrap_or(0) + by;
    item.insert("pk".into(), pk.into());
    item.insert("sk".into(), sk.into());
    item.insert("count".into(), count.into());
    item.insert("expires_at".into(), expires_at.into());
    let bytes = serde_json::to_vec(&item).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    items.insert(k.as_str(), bytes.as_slice()).map_err(db_err)?;
    emitted.push(ItemChange {
        old,
        new: Some(item),
    });
    Ok(count)
}

/// The half-open range of keys starting with `prefix`: [prefix, prefix + U+10FFFF).
fn prefix_range(prefix: &str) -> (String, String) {
    (prefix.to_string(), format!("{prefix}\u{10FFFF}"))
}

#[async_trait]
impl ItemStore for RedbItemStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        Ok(self.read_items([key(pk, sk)])?.pop())
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
        let (lo, hi) = prefix_range(&key(pk, sk_prefix));
        let tx = self.db.begin_read().map_err(db_err)?;
        let table = tx.open_table(ITEMS).map_err(db_err)?;
        let mut out = Vec::new();
        for entry in table.range(lo.as_str()..hi.as_str()).map_err(db_err)? {
            let (_, v) = entry.map_err(db_err)?;
            out.push(decode(v.value())?);
        }
        Ok(out)
    }

    async fn query_gsi1(&self, gsi1pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        let (lo, hi) = prefix_range(&key(gsi1pk, sk_prefix));
        let keys: Vec<String> = {
            let tx = self.db.begin_read().map_err(db_err)?;
            let table = tx.open_table(GSI1).map_err(db_err)?;
            let mut keys = Vec::new();
            for entry in table.range(lo.as_str()..hi.as_str()).map_err(db_err)? {
                let (_, v) = entry.map_err(db_err)?;
                keys.push(v.value().to_string());
            }
            keys
        };
        self.read_items(keys)
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
        let path = dir.path().join("records.redb");
        {
            let s = RedbItemStore::open(&path).unwrap();
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
            match RedbItemStore::open(&path) {
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
        let s = RedbItemStore::open(&dir.path().join("r.redb")).unwrap();
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
