//! A directory as a blob store: the content folder, the built site and the builder's state
//! when running locally. Writes go to a temporary file and are renamed into place, so a
//! reader (the local web server) never sees half a page.

use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;

use crate::ports::{BlobStore, StoreError};
use crate::site::layout::ObjectMeta;

#[derive(Debug, Clone)]
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file behind a key; keys that would leave the root are refused.
    pub fn path_of(&self, key: &str) -> Result<PathBuf, StoreError> {
        let rel = Path::new(key);
        if key.is_empty() || rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(StoreError::Corrupt(format!("invalid key `{key}`")));
        }
        Ok(self.root.join(rel))
    }

    /// The key of a file under the root (forward slashes), if it is one.
    pub fn key_of(&self, path: &Path) -> Option<String> {
        let rel = path.strip_prefix(&self.root).ok()?;
        let parts: Option<Vec<&str>> = rel
            .components()
            .map(|c| match c {
                Component::Normal(s) => s.to_str(),
                _ => None,
            })
            .collect();
        Some(parts?.join("/"))
    }

    /// Write `body` at `key`. A new file is written in place (nobody can be reading it
    /// yet); an existing one is replaced by rename, so a reader sees the old page or the
    /// new, never half. `exists` says the caller has just read the file (a full build
    /// rewriting every page), which saves the failed create per file.
    async fn write(&self, key: &str, body: Vec<u8>, exists: bool) -> Result<(), StoreError> {
        let path = self.path_of(key)?;
        let dir = path.parent().expect("a key has a parent").to_path_buf();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            if !exists {
                // A stat first: mkdir on an existing directory takes the parent's lock, and
                // a full build writes thousands of files into existing directories.
                if !dir.is_dir() {
                    std::fs::create_dir_all(&dir)?;
                }
                match std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                {
                    Ok(mut f) => return std::io::Write::write_all(&mut f, &body),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(e),
                }
            }
            let mut tmp = tempfile_in(&dir)?;
            std::io::Write::write_all(&mut tmp.0, &body)?;
            std::fs::rename(&tmp.1, &path)?;
            tmp.1 = PathBuf::new();
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?
        .map_err(io_err)
    }
}

fn io_err(e: std::io::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path_of(key)?;
        match tokio::fs::read(&path).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => Ok(None),
            Err(e) => Err(io_err(e)),
        }
    }

    async fn put(&self, key: &str, body: Vec<u8>, _meta: &ObjectMeta) -> Result<(), StoreError> {
        // Headers are derived from the key again when serving (layout::object_meta).
        self.write(key, body, false).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path_of(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err(e)),
        }
        // Tidy empty directories (posts/<slug>/) up to the root.
        let mut dir = path.parent().map(Path::to_path_buf);
        while let Some(d) = dir {
            if d == self.root || std::fs::remove_dir(&d).is_err() {
                break;
            }
            dir = d.parent().map(Path::to_path_buf);
        }
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let root = self.root.clone();
        let me = self.clone();
        let prefix = prefix.to_string();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            // Walk only the directory the prefix names, not the whole tree.
            let start = match prefix.rfind('/') {
                Some(i) => root.join(&prefix[..i]),
                None => root.clone(),
            };
            let mut stack = vec![start];
            while let Some(dir) = stack.pop() {
                let entries = match std::fs::read_dir(&dir) {
                    Ok(e) => e,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_err(e)),
                };
                for entry in entries {
                    let entry = entry.map_err(io_err)?;
                    let name = entry.file_name();
                    let name = name.to_string_lossy();
                    if name.starts_with(".tmp-") {
                        continue;
                    }
                    let ft = entry.file_type().map_err(io_err)?;
                    if ft.is_dir() {
                        stack.push(entry.path());
                    } else if ft.is_file() {
                        if let Some(key) = me.key_of(&entry.path()) {
                            if key.starts_with(&prefix) {
                                out.push(key);
                            }
                        }
                    }
                }
            }
            out.sort();
            Ok(out)
        })
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?
    }

    async fn md5(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.get(key).await?.map(|b| crate::ports::md5_hex(&b)))
    }

    async fn put_if_changed(
        &self,
        key: &str,
        body: Vec<u8>,
        _meta: &ObjectMeta,
    ) -> Result<bool, StoreError> {
        // Comparing bytes is cheaper than hashing both sides.
        let old = self.get(key).await?;
        if old.as_deref() == Some(body.as_slice()) {
            return Ok(false);
        }
        self.write(key, body, old.is_some()).await?;
        Ok(true)
    }

    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        Ok(tokio::fs::metadata(self.path_of(key)?)
            .await
            .is_ok_and(|m| m.is_file()))
    }

    async fn fingerprints(
        &self,
        prefix: &str,
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        let keys = self.list(prefix).await?;
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut out = std::collections::HashMap::with_capacity(keys.len());
            for key in keys {
                if let Ok(m) = std::fs::metadata(me.path_of(&key)?) {
                    let mtime = m
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map(|d| d.as_nanos())
                        .unwrap_or(0);
                    out.insert(key, format!("{}-{mtime}", m.len()));
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?
    }

    fn concurrency(&self) -> usize {
        4
    }
}

/// A uniquely named temporary file in `dir`, removed on drop unless renamed.
struct TempFile(std::fs::File, PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.1.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.1);
        }
    }
}

fn tempfile_in(dir: &Path) -> std::io::Result<TempFile> {
    use rand::Rng;
    for _ in 0..8 {
        let name = format!(".tmp-{:016x}", rand::thread_rng().gen::<u64>());
        let path = dir.join(name);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => return Ok(TempFile(f, path)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("could not create a temporary file"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::layout::object_meta;

    #[tokio::test]
    async fn put_get_list_delete() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsBlobStore::new(dir.path());
        s.put("posts/a/index.html", b"x".to_vec(), &object_meta("a.html"))
            .await
            .unwrap();
        s.put("index.html", b"y".to_vec(), &object_meta("a.html"))
            .await
            .unwrap();
        assert_eq!(s.get("posts/a/index.html").await.unwrap().unwrap(), b"x");
        assert_eq!(s.list("posts/").await.unwrap(), vec!["posts/a/index.html"]);
        assert_eq!(s.list("").await.unwrap().len(), 2);
        assert_eq!(
            s.md5("index.html").await.unwrap().unwrap(),
            crate::ports::md5_hex(b"y")
        );
        s.delete("posts/a/index.html").await.unwrap();
        assert!(s.get("posts/a/index.html").await.unwrap().is_none());
        assert!(
            !dir.path().join("posts").exists(),
            "empty directories are tidied"
        );
        assert!(s.get("../etc/passwd").await.is_err());
    }
}
