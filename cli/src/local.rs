//! The embedded deployment: a content folder, and under `--data` the built site (`site/`),
//! the builder's state (`state/`), the records database (`records.redb`), the outbox of
//! mails (`outbox/`) and the local secrets (`secrets.json`, created on first run).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::RngCore;
use shared::adapters::{FsBlobStore, RedbItemStore};
use shared::build::{Builder, Stores};
use shared::forms::Signer;
use shared::ports::SystemClock;

#[derive(Clone)]
pub struct LocalSite {
    pub content: Arc<FsBlobStore>,
    pub site: Arc<FsBlobStore>,
    pub records: RedbItemStore,
    pub builder: Arc<Builder>,
    pub data: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("content folder {0} not found (it needs at least site.toml)")]
    NoContent(PathBuf),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error(transparent)]
    Store(#[from] shared::ports::StoreError),
    #[error("secrets.json: {0}")]
    Secrets(String),
}

impl LocalSite {
    pub fn open(content: &Path, data: &Path) -> Result<Self, LocalError> {
        if !content.join("site.toml").is_file() {
            return Err(LocalError::NoContent(content.to_path_buf()));
        }
        std::fs::create_dir_all(data).map_err(|e| LocalError::Io(data.to_path_buf(), e))?;
        let content = Arc::new(FsBlobStore::new(
            content
                .canonicalize()
                .map_err(|e| LocalError::Io(content.to_path_buf(), e))?,
        ));
        let site = Arc::new(FsBlobStore::new(data.join("site")));
        let records = RedbItemStore::open(&data.join("records.redb"))?;
        let signer = local_signer(data)?;
        let builder = Arc::new(Builder {
            stores: Stores {
                content: content.clone(),
                site: site.clone(),
                state: Arc::new(FsBlobStore::new(data.join("state"))),
                records: Arc::new(records.clone()),
            },
            signer,
            clock: Arc::new(SystemClock),
        });
        Ok(Self {
            content,
            site,
            records,
            builder,
            data: data.to_path_buf(),
        })
    }
}

/// The local signing key: random, made on first run, kept in `<data>/secrets.json` (0600).
fn local_signer(data: &Path) -> Result<Signer, LocalError> {
    let path = data.join("secrets.json");
    let key_hex = match std::fs::read_to_string(&path) {
        Ok(text) => {
            let v: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| LocalError::Secrets(e.to_string()))?;
            v["signing_key"]
                .as_str()
                .ok_or_else(|| LocalError::Secrets("no signing_key".into()))?
                .to_string()
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut key);
            let key_hex = hex::encode(key);
            let body = serde_json::json!({ "signing_key": key_hex }).to_string();
            write_private(&path, body.as_bytes()).map_err(|e| LocalError::Io(path.clone(), e))?;
            key_hex
        }
        Err(e) => return Err(LocalError::Io(path, e)),
    };
    let key = hex::decode(key_hex.trim()).map_err(|e| LocalError::Secrets(e.to_string()))?;
    Signer::new(&key).map_err(LocalError::Secrets)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)?.write_all(bytes)
}
