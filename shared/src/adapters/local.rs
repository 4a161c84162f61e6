//! A deployment on one machine: the content folder, and under the data folder the built
//! site (`site/`), the builder's state (`state/`), the records database (`records/`, fjall),
//! the outbox of mails (`outbox/`) and the local secrets (`secrets.json`, made on first run).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::RngCore;

use super::fjall_items::FjallItemStore;
use super::fs_blob::FsBlobStore;
use super::mail::OutboxMailer;
use crate::ports::{CaptchaVerifier, Clock, StoreError};
use crate::signing::Keys;
use crate::wiring::Assembled;

/// Who local mail comes from and goes to (it lands in `<data>/outbox/`).
pub const LOCAL_MAIL_FROM: &str = "site@localhost";
pub const LOCAL_MODERATOR: &str = "moderator@localhost";

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("content folder {0} not found (it needs at least site.toml)")]
    NoContent(PathBuf),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("secrets.json: {0}")]
    Secrets(String),
    #[error(transparent)]
    Config(#[from] crate::env::EnvError),
}

/// The local stores, by their concrete types (the server also watches the content folder,
/// reads the outbox and subscribes to the records' change feed).
#[derive(Clone)]
pub struct LocalStores {
    pub content: Arc<FsBlobStore>,
    pub site: Arc<FsBlobStore>,
    pub state: Arc<FsBlobStore>,
    pub records: FjallItemStore,
    pub outbox: Arc<OutboxMailer>,
    pub keys: Keys,
}

impl LocalStores {
    pub fn open(content: &Path, data: &Path) -> Result<Self, LocalError> {
        if !content.join("site.toml").is_file() {
            return Err(LocalError::NoContent(content.to_path_buf()));
        }
        std::fs::create_dir_all(data).map_err(|e| LocalError::Io(data.to_path_buf(), e))?;
        let content = content
            .canonicalize()
            .map_err(|e| LocalError::Io(content.to_path_buf(), e))?;
        Ok(Self {
            content: Arc::new(FsBlobStore::new(content)),
            site: Arc::new(FsBlobStore::new(data.join("site"))),
            state: Arc::new(FsBlobStore::new(data.join("state"))),
            records: FjallItemStore::open(&data.join("records"))?,
            outbox: Arc::new(OutboxMailer::new(data.join("outbox"))),
            keys: local_keys(data)?,
        })
    }

    /// The parts every function is built from, with the captcha, clock and rate limit a
    /// local run chose.
    pub fn assemble(
        &self,
        captcha: Arc<dyn CaptchaVerifier>,
        clock: Arc<dyn Clock>,
        rate_limit: u32,
    ) -> Assembled {
        Assembled {
            records: Arc::new(self.records.clone()),
            content: self.content.clone(),
            state: self.state.clone(),
            site: self.site.clone(),
            mailer: self.outbox.clone(),
            captcha,
            clock,
            keys: self.keys.clone(),
            rate_limit,
            mail_from: LOCAL_MAIL_FROM.into(),
            moderator: LOCAL_MODERATOR.into(),
            origin: None,
            // Public sources only unless the local server was told otherwise
            // (`site serve --linkback-sources-on-loopback`, for tests).
            source_access: crate::linkbacks::SourceAccess::public(),
        }
    }
}

/// The local keys, from a master key made on first run and kept in `<data>/secrets.json`
/// (0600). A data folder from before per-purpose keys holds `signing_key`, the one key
/// everything used: it keeps its hashes and links ([`Keys::upgraded`]).
fn local_keys(data: &Path) -> Result<Keys, LocalError> {
    let path = data.join("secrets.json");
    let hex_field = |v: &serde_json::Value, name: &str| -> Result<Option<Vec<u8>>, LocalError> {
        v[name]
            .as_str()
            .map(|h| hex::decode(h.trim()).map_err(|e| LocalError::Secrets(format!("{name}: {e}"))))
            .transpose()
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let v: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| LocalError::Secrets(e.to_string()))?;
            match (hex_field(&v, "master_key")?, hex_field(&v, "signing_key")?) {
                (Some(master), _) => Keys::from_master(&master),
                (None, Some(legacy)) => {
                    // The forms' and moderators' keys come from the old key through HKDF:
                    // nothing they made needs to outlive the change.
                    Keys::upgraded(&legacy, &legacy)
                }
                (None, None) => Err("no master_key".into()),
            }
            .map_err(LocalError::Secrets)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut master = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut master);
            let body = serde_json::json!({ "master_key": hex::encode(master) }).to_string();
            write_private(&path, body.as_bytes()).map_err(|e| LocalError::Io(path.clone(), e))?;
            Keys::from_master(&master).map_err(LocalError::Secrets)
        }
        Err(e) => Err(LocalError::Io(path, e)),
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)?.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::IdentityKey;

    #[test]
    fn a_new_data_folder_gets_a_master_key_and_an_old_one_keeps_its_hashes() {
        let fresh = tempfile::tempdir().unwrap();
        let made = local_keys(fresh.path()).unwrap();
        let again = local_keys(fresh.path()).unwrap();
        assert_eq!(made.to_secret_json(), again.to_secret_json(), "kept");
        let text = std::fs::read_to_string(fresh.path().join("secrets.json")).unwrap();
        assert!(text.contains("master_key"), "{text}");

        let old = tempfile::tempdir().unwrap();
        let legacy = [7u8; 32];
        let body = serde_json::json!({ "signing_key": hex::encode(legacy) }).to_string();
        std::fs::write(old.path().join("secrets.json"), body).unwrap();
        let keys = local_keys(old.path()).unwrap();
        assert_eq!(
            keys.identity.keyed_hash("email", "ada@example.org"),
            IdentityKey::new(&legacy)
                .unwrap()
                .keyed_hash("email", "ada@example.org"),
            "supporters stored before per-purpose keys are still found"
        );
    }
}
