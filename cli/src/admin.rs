//! The site owner's commands (`site comments …`, `site supporters …`) while `site serve`
//! runs. The server holds the records database open (fjall allows one process), so the
//! command asks the server to run it instead: over loopback, with a secret the server
//! writes to `<data>/admin.json` (0600) when it starts and removes when it stops. The
//! command runs in the server the same code it runs on its own.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::local::LocalSite;

/// The path the server answers commands on (loopback clients with the secret only).
pub const PATH: &str = "/_admin/command";

/// A command, as the command line sends it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Command {
    CommentsList {
        status: String,
    },
    CommentsAct {
        id: String,
        /// approve, spam or delete
        action: String,
    },
    SupportersExport {
        supporter_type: Option<String>,
        newsletter: Option<String>,
    },
}

/// Where a running server listens for commands, and the secret it wants.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdminFile {
    pub addr: SocketAddr,
    pub secret: String,
}

fn file(data: &Path) -> PathBuf {
    data.join("admin.json")
}

/// Written by `site serve` once it listens; removed (by the guard) when it stops.
pub struct AdminGuard {
    path: PathBuf,
    pub secret: String,
}

impl AdminGuard {
    pub fn create(data: &Path, addr: SocketAddr) -> std::io::Result<Self> {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        let secret = hex::encode(key);
        let path = file(data);
        let body = serde_json::to_vec(&AdminFile {
            addr,
            secret: secret.clone(),
        })?;
        let _ = std::fs::remove_file(&path);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        std::io::Write::write_all(&mut opts.open(&path)?, &body)?;
        Ok(Self { path, secret })
    }
}

impl Drop for AdminGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Does `presented` (an `Authorization: Bearer …` value) carry the secret? Compared as
/// digests, so the time taken says nothing about how much of it matched.
pub fn authorised(secret: &str, presented: Option<&str>) -> bool {
    let Some(token) = presented.and_then(|h| h.strip_prefix("Bearer ")) else {
        return false;
    };
    Sha256::digest(token.trim().as_bytes()) == Sha256::digest(secret.as_bytes())
}

/// Run a command against this site's stores; the text the command line prints.
pub async fn run(site: &LocalSite, command: Command) -> Result<String, String> {
    let store: std::sync::Arc<dyn shared::ports::ItemStore> = site.builder.stores.records.clone();
    match command {
        Command::CommentsList { status } => {
            let status = crate::comments_cmd::parse_status(&status)?;
            crate::comments_cmd::list(store.as_ref(), status)
                .await
                .map_err(|e| e.to_string())
        }
        Command::CommentsAct { id, action } => {
            let action = crate::comments_cmd::parse_action(&action)?;
            let (post, msg) = crate::comments_cmd::act(&store, &id, action)
                .await
                .map_err(|e| e.to_string())?;
            let report = site
                .builder
                .comments_changed(&post, None)
                .await
                .map_err(|e| e.to_string())?;
            Ok(format!(
                "{msg}\nbuilt: {} written, {} unchanged\n",
                report.written.len(),
                report.unchanged
            ))
        }
        Command::SupportersExport {
            supporter_type,
            newsletter,
        } => {
            let filter =
                crate::supporters::parse_filter(supporter_type.as_deref(), newsletter.as_deref())?;
            crate::supporters::export_csv(store.as_ref(), &filter)
                .await
                .map_err(|e| e.to_string())
        }
    }
}

/// Send a command to the server running on this data folder; `None` when none is (no
/// admin.json, or one left by a server that died: nothing listens there, and the file is
/// removed).
pub async fn send(data: &Path, command: &Command) -> Option<Result<String, String>> {
    let text = std::fs::read_to_string(file(data)).ok()?;
    let admin: AdminFile = serde_json::from_str(&text).ok()?;
    if !admin.addr.ip().is_loopback() {
        return Some(Err(format!(
            "{}: not a loopback address",
            file(data).display()
        )));
    }
    let client = reqwest::Client::new();
    let resp = client
        .post(format!("http://{}{PATH}", admin.addr))
        .bearer_auth(&admin.secret)
        .json(command)
        .send()
        .await;
    Some(match resp {
        Err(e) if e.is_connect() => {
            let _ = std::fs::remove_file(file(data));
            return None;
        }
        Err(e) => Err(format!("the running server did not answer: {e}")),
        Ok(r) => {
            let ok = r.status().is_success();
            let body = r.text().await.unwrap_or_default();
            if ok {
                Ok(body)
            } else {
                Err(body)
            }
        }
    })
}
