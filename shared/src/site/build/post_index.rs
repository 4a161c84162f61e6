//! The builder's memory between events, in the state store: the post index (in 64
//! shards), the photo index and the page index, and how they are read and written.

use super::*;

/// What the builder remembers between events: every post's listing data, kept in shards
/// by a stable hash of the slug (a one-post event rewrites one shard, about 1/64 of the
/// index), and the listing order, kept as entries change (a one-post event finds where its
/// post is listed without sorting every post).
#[derive(Debug, Clone)]
pub struct PostIndex {
    shards: Vec<BTreeMap<String, PostSummary>>,
    /// Published posts in listing order: newest first, ties broken by slug.
    order: Vec<ListingKey>,
}

/// Where a post sorts in the listing: newest first, then by slug, so the order is stable.
pub(super) type ListingKey = (std::cmp::Reverse<String>, String);

pub(super) fn listing_key(p: &PostSummary) -> Option<ListingKey> {
    (!p.draft).then(|| (std::cmp::Reverse(p.published.clone()), p.slug.clone()))
}

/// How many shards the post index is kept in.
pub(super) const INDEX_SHARDS: usize = 64;

impl Default for PostIndex {
    fn default() -> Self {
        Self {
            shards: vec![BTreeMap::new(); INDEX_SHARDS],
            order: Vec::new(),
        }
    }
}

/// The shard a slug's entry lives in: FNV-1a, so it never changes between builds or versions.
pub(super) fn index_shard(slug: &str) -> usize {
    let hash = slug.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % INDEX_SHARDS as u64) as usize
}

pub(super) fn index_shard_key(shard: usize) -> String {
    format!("{}{shard:02}", layout::state::POST_INDEX_DIR)
}

impl PostIndex {
    /// An index of these entries (one sort, rather than one insertion per entry).
    pub fn from_entries(entries: impl IntoIterator<Item = PostSummary>) -> Self {
        let mut index = PostIndex::default();
        for p in entries {
            index.shards[index_shard(&p.slug)].insert(p.slug.clone(), p);
        }
        index.rebuild_order();
        index
    }

    pub(super) fn rebuild_order(&mut self) {
        let mut order: Vec<ListingKey> = self.entries().filter_map(listing_key).collect();
        order.sort_unstable();
        self.order = order;
    }

    pub fn get(&self, slug: &str) -> Option<&PostSummary> {
        self.shards[index_shard(slug)].get(slug)
    }

    pub fn contains(&self, slug: &str) -> bool {
        self.get(slug).is_some()
    }

    pub fn insert(&mut self, summary: PostSummary) {
        self.remove(&summary.slug);
        if let Some(key) = listing_key(&summary) {
            let at = self.order.binary_search(&key).unwrap_or_else(|at| at);
            self.order.insert(at, key);
        }
        self.shards[index_shard(&summary.slug)].insert(summary.slug.clone(), summary);
    }

    pub fn remove(&mut self, slug: &str) -> Option<PostSummary> {
        let old = self.shards[index_shard(slug)].remove(slug)?;
        if let Some(key) = listing_key(&old) {
            if let Ok(at) = self.order.binary_search(&key) {
                self.order.remove(at);
            }
        }
        Some(old)
    }

    /// Every entry, drafts included, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = &PostSummary> {
        self.shards.iter().flat_map(BTreeMap::values)
    }

    /// How many posts are listed (drafts are not).
    pub fn listed_len(&self) -> usize {
        self.order.len()
    }

    /// Where a post is in the listing (0 is the newest), if it is listed.
    pub fn position(&self, slug: &str) -> Option<usize> {
        let key = listing_key(self.get(slug)?)?;
        self.order.binary_search(&key).ok()
    }

    /// Listed posts at `range` of the listing.
    pub fn listed_range(&self, range: std::ops::Range<usize>) -> Vec<&PostSummary> {
        let end = range.end.min(self.order.len());
        self.order[range.start.min(end)..end]
            .iter()
            .filter_map(|(_, slug)| self.get(slug))
            .collect()
    }

    /// Published (non-draft) posts, newest first.
    pub fn listed(&self) -> Vec<&PostSummary> {
        self.listed_range(0..self.order.len())
    }

    /// The year of the newest listed post (for the footer), 1970 when none is.
    pub fn newest_year(&self) -> i32 {
        newest_year(&self.listed_range(0..1))
    }
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct PhotoIndex {
    pub photos: BTreeMap<String, PhotoInfo>,
}

/// The published pages (drafts and pages that never rendered are not here), by slug: what
/// the sitemap lists, which site page to delete when a page goes, which pages a photo is on.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageIndex {
    pub pages: BTreeMap<String, PageSummary>,
}

impl PageIndex {
    /// Published pages, by slug.
    pub fn listed(&self) -> Vec<&PageSummary> {
        self.pages.values().collect()
    }

    /// What the sitemap shows of the pages: their addresses and dates.
    pub(super) fn sitemap_entries(&self) -> Vec<(&str, Option<&str>)> {
        self.pages
            .values()
            .map(|p| (p.slug.as_str(), p.updated.as_deref()))
            .collect()
    }
}

/// A state file, or `None` when absent or in an older format.
pub(crate) async fn read_state<T: for<'de> Deserialize<'de>>(
    state: &dyn BlobStore,
    key: &str,
) -> Result<Option<T>, StoreError> {
    match state.get(key).await? {
        Some(b) => match b.strip_prefix(STATE_MAGIC) {
            Some(body) => postcard::from_bytes(body)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("{key}: {e}"))),
            None => Ok(None),
        },
        None => Ok(None),
    }
}

/// A state file's bytes: the magic line, then postcard.
pub(super) fn state_bytes<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let mut bytes = STATE_MAGIC.to_vec();
    bytes.extend(postcard::to_stdvec(value).map_err(|e| StoreError::Corrupt(e.to_string()))?);
    Ok(bytes)
}

/// One value for a set of files' fingerprints: equal exactly when no file changed.
pub(super) fn combined_fingerprint(fingerprints: &HashMap<String, String>) -> String {
    let mut keys: Vec<&String> = fingerprints.keys().collect();
    keys.sort();
    keys.iter()
        .map(|k| format!("{k}={};", fingerprints[*k]))
        .collect()
}

/// A state value and the fingerprint of the file it came from (or went to).
pub(super) type CachedState = (String, Box<dyn std::any::Any + Send>);

/// State files start with this, then postcard: compact and quick to decode, which is most
/// of what a one-post event costs. Anything else (an older format) reads as absent.
pub(super) const STATE_MAGIC: &[u8] = b"site-state/1\n";

impl Builder {
    pub(super) async fn state_fingerprint(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.stores.state.fingerprints(key).await?.remove(key))
    }

    /// Read a state file (or `None` when absent or in an older format), taking it out of
    /// the cache when the cached copy is current.
    pub(super) async fn load_state<T: for<'de> Deserialize<'de> + Send + 'static>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let fingerprint = self.state_fingerprint(key).await?;
        let cached = self.state_cache.lock().expect("state cache").remove(key);
        if let (Some(fp), Some((cached_fp, value))) = (&fingerprint, cached) {
            if *fp == cached_fp {
                if let Ok(v) = value.downcast::<T>() {
                    return Ok(Some(*v));
                }
            }
        }
        read_state(self.stores.state.as_ref(), key).await
    }

    /// Put an unchanged state value back in the cache.
    pub(super) async fn keep_state<T: Send + 'static>(
        &self,
        key: &str,
        value: T,
    ) -> Result<(), StoreError> {
        if let Some(fp) = self.state_fingerprint(key).await? {
            self.state_cache
                .lock()
                .expect("state cache")
                .insert(key.to_string(), (fp, Box::new(value)));
        }
        Ok(())
    }

    pub(super) async fn save_state<T: Serialize + Send + 'static>(
        &self,
        key: &str,
        value: T,
    ) -> Result<(), StoreError> {
        let bytes = state_bytes(&value)?;
        self.stores.state.put(key, bytes, &object_meta(key)).await?;
        if let Some(fp) = self.state_fingerprint(key).await? {
            self.state_cache
                .lock()
                .expect("state cache")
                .insert(key.to_string(), (fp, Box::new(value)));
        }
        Ok(())
    }

    /// The post index, from the cache while no shard changed underneath it. `None` when
    /// it is missing, incomplete or in an older format: the caller builds everything.
    pub(super) async fn load_index(&self) -> Result<Option<PostIndex>, StoreError> {
        let state = self.stores.state.as_ref();
        let fingerprints = state.fingerprints(layout::state::POST_INDEX_DIR).await?;
        let combined = combined_fingerprint(&fingerprints);
        let cached = self
            .state_cache
            .lock()
            .expect("state cache")
            .remove(layout::state::POST_INDEX_DIR);
        if let Some((fp, value)) = cached {
            if fp == combined {
                if let Ok(index) = value.downcast::<PostIndex>() {
                    return Ok(Some(*index));
                }
            }
        }
        let keys: Vec<String> = (0..INDEX_SHARDS).map(index_shard_key).collect();
        if !keys.iter().all(|k| fingerprints.contains_key(k)) {
            return Ok(None);
        }
        let shards: Vec<Option<BTreeMap<String, PostSummary>>> = stream::iter(keys)
            .map(|key| async move { read_state(state, &key).await })
            .buffered(state.concurrency())
            .try_collect()
            .await?;
        let mut index = PostIndex::default();
        for (n, shard) in shards.into_iter().enumerate() {
            match shard {
                Some(entries) => index.shards[n] = entries,
                None => return Ok(None),
            }
        }
        index.rebuild_order();
        Ok(Some(index))
    }

    /// Write the index: every shard, or only `changed` ones.
    pub(super) async fn save_index(
        &self,
        index: PostIndex,
        changed: Option<BTreeSet<usize>>,
    ) -> Result<(), StoreError> {
        let state = self.stores.state.as_ref();
        let shards: Vec<usize> = match changed {
            Some(c) => c.into_iter().collect(),
            None => (0..INDEX_SHARDS).collect(),
        };
        let files = shards
            .iter()
            .map(|&n| Ok((index_shard_key(n), state_bytes(&index.shards[n])?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        stream::iter(files)
            .map(|(key, bytes)| async move { state.put(&key, bytes, &object_meta(&key)).await })
            .buffer_unordered(state.concurrency())
            .try_collect::<Vec<()>>()
            .await?;
        let fingerprints = state.fingerprints(layout::state::POST_INDEX_DIR).await?;
        self.state_cache.lock().expect("state cache").insert(
            layout::state::POST_INDEX_DIR.to_string(),
            (combined_fingerprint(&fingerprints), Box::new(index)),
        );
        Ok(())
    }
}
