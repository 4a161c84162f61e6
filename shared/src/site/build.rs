//! The site builder: reads content, photos and approved comments through the ports and
//! writes the static site. Used by the render Lambda (S3 events), the local server (file
//! changes) and the command-line `site build`.
//!
//! - Full build: everything, in chunks (bounded memory), rendering in parallel.
//! - Incremental: one post re-renders its page, its comment feed and the listing pages it
//!   appears on; a photo re-renders the posts that use it; config, quotes or a template
//!   re-render everything. The post index in the state store means no event reads every post.
//! - Objects whose bytes did not change are not rewritten, so the same event twice writes
//!   nothing the second time. A malformed post is reported (file and line) and the rest of
//!   the site is left as it was.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use futures::stream::{self, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::comments::{approved_comments, Comment};
use crate::dates::rfc3339;
use crate::ports::md5_hex;
use crate::ports::{BlobStore, Clock, ItemStore, StoreError};
use crate::signing::{day_start, Signer};
use crate::site::config::{ConfigError, SiteConfig};
use crate::site::content::{parse_post, parse_quotes, ContentError, Post, PostSummary, Quote};
use crate::site::layout::{self, classify, object_meta, ContentChange};
use crate::site::photos::{make_variants, PhotoError, PhotoInfo};
use crate::site::render::{Renderer, TemplateError, Theme, BUILTIN_CSS, THEME_CSS_KEY};

/// Posts rendered per chunk in a full build: bounds memory to a chunk's pages.
const CHUNK: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error("{0} is missing from the content store")]
    Missing(&'static str),
}

/// What a build did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BuildReport {
    pub written: BTreeSet<String>,
    pub deleted: BTreeSet<String>,
    pub unchanged: usize,
    /// Content that could not be used (file:line: reason); those pages were left as they were.
    pub errors: Vec<String>,
}

impl BuildReport {
    pub fn merge(&mut self, other: BuildReport) {
        self.written.extend(other.written);
        self.deleted.extend(other.deleted);
        self.unchanged += other.unchanged;
        self.errors.extend(other.errors);
    }
}

/// A change in the content store, as an S3 event or a file watcher reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentEvent {
    pub key: String,
    pub removed: bool,
    /// When the change happened (the S3 event's time; `None`: now). Pages it re-renders
    /// carry it as their render time, so the same event twice renders the same bytes.
    pub at: Option<time::OffsetDateTime>,
}

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
type ListingKey = (std::cmp::Reverse<String>, String);

fn listing_key(p: &PostSummary) -> Option<ListingKey> {
    (!p.draft).then(|| (std::cmp::Reverse(p.published.clone()), p.slug.clone()))
}

/// How many shards the post index is kept in.
const INDEX_SHARDS: usize = 64;

impl Default for PostIndex {
    fn default() -> Self {
        Self {
            shards: vec![BTreeMap::new(); INDEX_SHARDS],
            order: Vec::new(),
        }
    }
}

/// The shard a slug's entry lives in: FNV-1a, so it never changes between builds or versions.
fn index_shard(slug: &str) -> usize {
    let hash = slug.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % INDEX_SHARDS as u64) as usize
}

fn index_shard_key(shard: usize) -> String {
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

    fn rebuild_order(&mut self) {
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

/// A state file, or `None` when absent or in an older format.
async fn read_state<T: for<'de> Deserialize<'de>>(
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
fn state_bytes<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let mut bytes = STATE_MAGIC.to_vec();
    bytes.extend(postcard::to_stdvec(value).map_err(|e| StoreError::Corrupt(e.to_string()))?);
    Ok(bytes)
}

/// One value for a set of files' fingerprints: equal exactly when no file changed.
fn combined_fingerprint(fingerprints: &HashMap<String, String>) -> String {
    let mut keys: Vec<&String> = fingerprints.keys().collect();
    keys.sort();
    keys.iter()
        .map(|k| format!("{k}={};", fingerprints[*k]))
        .collect()
}

/// The stores a build works on.
#[derive(Clone)]
pub struct Stores {
    pub content: Arc<dyn BlobStore>,
    pub site: Arc<dyn BlobStore>,
    pub state: Arc<dyn BlobStore>,
    pub records: Arc<dyn ItemStore>,
}

pub struct Builder {
    pub stores: Stores,
    pub signer: Signer,
    pub clock: Arc<dyn Clock>,
    /// The state last read or written, by key, with the state store's fingerprint of it.
    /// This builder is the state's only writer (the render function runs one at a time), so
    /// while the fingerprint matches, a warm process skips re-reading and decoding it.
    state_cache: std::sync::Mutex<HashMap<String, CachedState>>,
}

/// A state value and the fingerprint of the file it came from (or went to).
type CachedState = (String, Box<dyn std::any::Any + Send>);

/// State files start with this, then postcard: compact and quick to decode, which is most
/// of what a one-post event costs. Anything else (an older format) reads as absent.
const STATE_MAGIC: &[u8] = b"site-state/1\n";

/// Config, quotes and theme: loaded per build, shared read-only by the render threads.
pub struct SiteContext {
    pub config: SiteConfig,
    pub quotes: Vec<Quote>,
    pub theme: Theme,
    css: Vec<u8>,
    css_md5: String,
}

impl SiteContext {
    /// Read `site.toml`, `quotes.toml`, `templates/` and the stylesheet from the content store.
    pub async fn load(content: &dyn BlobStore) -> Result<SiteContext, BuildError> {
        let config_bytes = content
            .get(layout::content::CONFIG)
            .await?
            .ok_or(BuildError::Missing(layout::content::CONFIG))?;
        let config = SiteConfig::parse(&String::from_utf8_lossy(&config_bytes))?;
        let quotes = match content.get(layout::content::QUOTES).await? {
            Some(b) => parse_quotes(&b)?,
            None => Vec::new(),
        };
        let mut overrides = Vec::new();
        for key in content.list(layout::content::TEMPLATES).await? {
            if let Some(bytes) = content.get(&key).await? {
                let name = key
                    .trim_start_matches(layout::content::TEMPLATES)
                    .to_string();
                let text = String::from_utf8(bytes).map_err(|_| TemplateError {
                    name: name.clone(),
                    line: None,
                    message: "not UTF-8 text".into(),
                })?;
                overrides.push((name, text));
            }
        }
        let theme = Theme::new(&overrides)?;
        let css = match content.get(THEME_CSS_KEY).await? {
            Some(b) => b,
            None => BUILTIN_CSS.to_vec(),
        };
        let css_md5 = md5_hex(&css);
        Ok(SiteContext {
            config,
            quotes,
            theme,
            css,
            css_md5,
        })
    }

    /// For pages served from the API's address: absolute links, this year in the footer.
    pub fn api_renderer(&self) -> Renderer<'_> {
        let mut r = self.renderer(time::OffsetDateTime::now_utc().year());
        r.absolute_links = true;
        r
    }

    pub fn renderer(&self, year: i32) -> Renderer<'_> {
        Renderer {
            config: &self.config,
            quotes: &self.quotes,
            theme: &self.theme,
            css_md5: &self.css_md5,
            year,
            absolute_links: false,
        }
    }
}

fn newest_year(listed: &[&PostSummary]) -> i32 {
    listed
        .first()
        .and_then(|p| p.published.get(..4))
        .and_then(|y| y.parse().ok())
        .unwrap_or(1970)
}

fn summary_of(post: &Post, source_md5: String) -> PostSummary {
    PostSummary {
        slug: post.slug.clone(),
        title: post.title.clone(),
        published: rfc3339(post.published),
        updated: post.updated.map(rfc3339),
        summary: post
            .summary
            .clone()
            .unwrap_or_else(|| crate::markdown::plain_summary(&post.body_md, 40)),
        photo: post.photo.clone(),
        caption: post.caption.clone(),
        draft: post.draft,
        source_md5,
    }
}

/// Pages being written: compares against what the site store holds and writes only changes.
struct Publisher<'a> {
    site: &'a dyn BlobStore,
    /// Known MD5s (from one listing, in full builds); otherwise asked per key.
    known: Option<HashMap<String, String>>,
    /// The render time the pages' form tokens carry.
    issued: time::OffsetDateTime,
    report: BuildReport,
}

impl<'a> Publisher<'a> {
    async fn put_all(&mut self, objects: Vec<(String, Vec<u8>)>) -> Result<(), StoreError> {
        let site = self.site;
        let known = &self.known;
        let results: Vec<(String, bool)> = stream::iter(objects)
            .map(|(key, body)| async move {
                let meta = object_meta(&key);
                let written = match known {
                    // A full listing: compare with it, no request per key.
                    Some(k) => {
                        if k.get(&key).map(String::as_str) == Some(md5_hex(&body).as_str()) {
                            false
                        } else {
                            site.put(&key, body, &meta).await?;
                            true
                        }
                    }
                    None => site.put_if_changed(&key, body, &meta).await?,
                };
                Ok::<_, StoreError>((key, written))
            })
            .buffer_unordered(site.concurrency())
            .try_collect()
            .await?;
        for (key, written) in results {
            if written {
                self.report.written.insert(key);
            } else {
                self.report.unchanged += 1;
            }
        }
        Ok(())
    }

    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        match &self.known {
            Some(k) => Ok(k.contains_key(key)),
            None => self.site.exists(key).await,
        }
    }

    async fn delete(&mut self, key: &str) -> Result<(), StoreError> {
        if self.exists(key).await? {
            self.site.delete(key).await?;
            self.report.deleted.insert(key.to_string());
        }
        Ok(())
    }
}

impl Builder {
    async fn load_context(&self) -> Result<SiteContext, BuildError> {
        SiteContext::load(self.stores.content.as_ref()).await
    }

    pub fn new(stores: Stores, signer: Signer, clock: Arc<dyn Clock>) -> Self {
        Self {
            stores,
            signer,
            clock,
            state_cache: Default::default(),
        }
    }

    async fn state_fingerprint(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.stores.state.fingerprints(key).await?.remove(key))
    }

    /// Read a state file (or `None` when absent or in an older format), taking it out of
    /// the cache when the cached copy is current.
    async fn load_state<T: for<'de> Deserialize<'de> + Send + 'static>(
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
    async fn keep_state<T: Send + 'static>(&self, key: &str, value: T) -> Result<(), StoreError> {
        if let Some(fp) = self.state_fingerprint(key).await? {
            self.state_cache
                .lock()
                .expect("state cache")
                .insert(key.to_string(), (fp, Box::new(value)));
        }
        Ok(())
    }

    async fn save_state<T: Serialize + Send + 'static>(
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
    async fn load_index(&self) -> Result<Option<PostIndex>, StoreError> {
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
    async fn save_index(
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

    /// Render everything from the content store.
    pub async fn full_build(&self) -> Result<BuildReport, BuildError> {
        let ctx = Arc::new(self.load_context().await?);
        // One listing gives every MD5 on S3; on disk, comparing file by file is cheaper.
        let known = if self.stores.site.md5_listing_is_cheap() {
            Some(self.stores.site.md5_all("").await?)
        } else {
            None
        };
        let mut out = Publisher {
            site: self.stores.site.as_ref(),
            known,
            // The day, not the second: two full builds on one day give the same bytes.
            issued: day_start(self.clock.now()),
            report: BuildReport::default(),
        };

        // Photos first: posts refer to them.
        let mut photos: PhotoIndex = self
            .load_state(layout::state::PHOTO_INDEX)
            .await?
            .unwrap_or_default();
        let photo_keys = self.stores.content.list(layout::content::PHOTOS).await?;
        let present: BTreeSet<&str> = photo_keys
            .iter()
            .map(String::as_str)
            .filter(|k| crate::site::photos::is_photo_key(k))
            .collect();
        let fingerprints = self
            .stores
            .content
            .fingerprints(layout::content::PHOTOS)
            .await?;
        let mut photos_dirty = false;
        for key in &present {
            let fingerprint = fingerprints.get(*key).cloned().unwrap_or_default();
            if let Some(p) = photos.photos.get(*key) {
                let mut variants_there = true;
                for v in &p.variants {
                    variants_there =
                        variants_there && out.exists(&v.jpeg).await? && out.exists(&v.webp).await?;
                }
                if !fingerprint.is_empty() && p.source == fingerprint && variants_there {
                    continue;
                }
            }
            let Some(bytes) = self.stores.content.get(key).await? else {
                continue;
            };
            match self.process_photo(key, bytes, &mut out).await {
                Ok(mut info) => {
                    info.source = fingerprint;
                    photos.photos.insert(key.to_string(), info);
                    photos_dirty = true;
                }
                Err(e) => out.report.errors.push(e.to_string()),
            }
        }
        let gone: Vec<String> = photos
            .photos
            .keys()
            .filter(|k| !present.contains(k.as_str()))
            .cloned()
            .collect();
        for key in gone {
            if let Some(info) = photos.photos.remove(&key) {
                photos_dirty = true;
                for v in info.variants {
                    out.delete(&v.jpeg).await?;
                    out.delete(&v.webp).await?;
                }
            }
        }
        let photos = Arc::new(photos);

        // Posts, a chunk at a time.
        let old_index: PostIndex = self.load_index().await?.unwrap_or_default();
        // Collected, then indexed once: one sort instead of an insertion per post.
        let mut entries: Vec<PostSummary> = Vec::new();
        let keys: Vec<String> = self
            .stores
            .content
            .list(layout::content::POSTS)
            .await?
            .into_iter()
            .filter(|k| matches!(classify(k), ContentChange::Post { .. }))
            .collect();
        for chunk in keys.chunks(CHUNK) {
            let fetched: Vec<(String, Option<Vec<u8>>, Vec<Comment>)> =
                stream::iter(chunk.iter().cloned())
                    .map(|key| async move {
                        let bytes = self.stores.content.get(&key).await?;
                        let slug = key
                            .trim_start_matches(layout::content::POSTS)
                            .trim_end_matches(".md")
                            .to_string();
                        let comments =
                            approved_comments(self.stores.records.as_ref(), &slug).await?;
                        Ok::<_, StoreError>((key, bytes, comments))
                    })
                    .buffered(self.stores.content.concurrency())
                    .try_collect()
                    .await?;
            let tokens: Vec<String> = fetched
                .iter()
                .map(|(k, _, _)| {
                    self.signer
                        .form_token(&format!("comment:{}", slug_of(k)), out.issued)
                })
                .collect();
            let (ctx2, photos2) = (ctx.clone(), photos.clone());
            let rendered = tokio::task::spawn_blocking(move || {
                use rayon::prelude::*;
                fetched
                    .into_par_iter()
                    .zip(tokens)
                    .map(|((key, bytes, comments), token)| {
                        render_post_source(
                            &ctx2,
                            &photos2,
                            &key,
                            bytes.as_deref(),
                            &comments,
                            &token,
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(|e| StoreError::Unavailable(format!("render thread: {e}")))?;
            let mut objects = Vec::new();
            for r in rendered {
                match r {
                    Ok(RenderedPost { summary, pages }) => {
                        if summary.draft {
                            out.delete(&layout::site::post_page(&summary.slug)).await?;
                            out.delete(&layout::site::post_comments_feed(&summary.slug))
                                .await?;
                        } else {
                            objects.extend(pages);
                        }
                        entries.push(summary);
                    }
                    Err((slug, e)) => {
                        warn!(error = %e, "post left as it was");
                        out.report.errors.push(e);
                        // Keep the last good version listed, and its pages.
                        if let Some(prev) = old_index.get(&slug) {
                            entries.push(prev.clone());
                        }
                    }
                }
            }
            out.put_all(objects).await?;
        }
        let index = PostIndex::from_entries(entries);
        for slug in old_index
            .entries()
            .map(|p| &p.slug)
            .filter(|s| !index.contains(s))
        {
            out.delete(&layout::site::post_page(slug)).await?;
            out.delete(&layout::site::post_comments_feed(slug)).await?;
        }

        // Listings, feeds and the fixed pages.
        let pages = self.listing_pages(&ctx, &index, &photos, None)?;
        let old_total = page_count(old_index.listed_len(), ctx.config.posts_per_page);
        let new_total = page_count(index.listed_len(), ctx.config.posts_per_page);
        out.put_all(pages).await?;
        for n in (new_total + 1)..=old_total {
            out.delete(&layout::site::index_page(n)).await?;
        }
        out.put_all(self.fixed_pages(&ctx, &index.listed(), out.issued)?)
            .await?;
        out.put_all(self.static_files(&ctx).await?).await?;

        if photos_dirty {
            self.save_state(layout::state::PHOTO_INDEX, Arc::unwrap_or_clone(photos))
                .await?;
        }
        self.save_index(index, None).await?;
        // The single-file index of earlier versions (deleting a missing key is no error).
        self.stores
            .state
            .delete(layout::state::LEGACY_POST_INDEX)
            .await?;
        info!(
            written = out.report.written.len(),
            unchanged = out.report.unchanged,
            deleted = out.report.deleted.len(),
            errors = out.report.errors.len(),
            "full build done"
        );
        Ok(out.report)
    }

    async fn process_photo(
        &self,
        key: &str,
        bytes: Vec<u8>,
        out: &mut Publisher<'_>,
    ) -> Result<PhotoInfo, PhotoError> {
        let k = key.to_string();
        let made = tokio::task::spawn_blocking(move || make_variants(&k, &bytes))
            .await
            .map_err(|e| PhotoError {
                key: key.to_string(),
                message: e.to_string(),
            })??;
        let (info, objects) = made;
        out.put_all(objects).await.map_err(|e| PhotoError {
            key: key.to_string(),
            message: e.to_string(),
        })?;
        Ok(info)
    }

    /// Index pages: all of them, or only those in `range` (1-based, inclusive).
    fn listing_pages(
        &self,
        ctx: &SiteContext,
        index: &PostIndex,
        photos: &PhotoIndex,
        range: Option<(usize, usize)>,
    ) -> Result<Vec<(String, Vec<u8>)>, TemplateError> {
        let per = ctx.config.posts_per_page;
        let total = page_count(index.listed_len(), per);
        let (lo, hi) = range
            .map(|(a, b)| (a.max(1), b.min(total)))
            .unwrap_or((1, total));
        let r = ctx.renderer(index.newest_year());
        let mut out = Vec::new();
        for n in lo..=hi {
            let start = (n - 1) * per;
            let slice = index.listed_range(start..start + per);
            out.push((
                layout::site::index_page(n),
                r.index_page(n, total, &slice, &photos.photos)?.into_bytes(),
            ));
        }
        Ok(out)
    }

    /// Feed, sitemap, 404 and the sign-up page.
    fn fixed_pages(
        &self,
        ctx: &SiteContext,
        listed: &[&PostSummary],
        issued: time::OffsetDateTime,
    ) -> Result<Vec<(String, Vec<u8>)>, TemplateError> {
        let r = ctx.renderer(newest_year(listed));
        let feed_n = ctx.config.feed_entries.min(listed.len());
        let pages = page_count(listed.len(), ctx.config.posts_per_page);
        Ok(vec![
            (
                layout::site::FEED.to_string(),
                r.feed(&listed[..feed_n])?.into_bytes(),
            ),
            (
                layout::site::SITEMAP.to_string(),
                r.sitemap(listed, pages)?.into_bytes(),
            ),
            (
                layout::site::NOT_FOUND.to_string(),
                r.not_found()?.into_bytes(),
            ),
            (
                layout::site::SIGNUP.to_string(),
                r.signup_page(&self.signer.form_token("signup", issued), None)?
                    .into_bytes(),
            ),
        ])
    }

    /// The theme stylesheet and everything under `static/` in the content store.
    async fn static_files(&self, ctx: &SiteContext) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut out = vec![(THEME_CSS_KEY.to_string(), ctx.css.clone())];
        for key in self.stores.content.list(layout::content::STATIC).await? {
            if key == THEME_CSS_KEY || !matches!(classify(&key), ContentChange::Static { .. }) {
                continue;
            }
            if let Some(b) = self.stores.content.get(&key).await? {
                out.push((key, b));
            }
        }
        Ok(out)
    }

    /// Apply content changes (one S3 event's records, or a batch of file changes).
    pub async fn apply(&self, events: &[ContentEvent]) -> Result<BuildReport, BuildError> {
        let mut changes: Vec<(ContentChange, bool)> = events
            .iter()
            .map(|e| (classify(&e.key), e.removed))
            .filter(|(c, _)| *c != ContentChange::Ignored)
            .collect();
        if changes.is_empty() {
            return Ok(BuildReport::default());
        }
        if changes.iter().any(|(c, _)| *c == ContentChange::Everything)
            || changes
                .iter()
                .any(|(c, _)| matches!(c, ContentChange::Static { key } if key == THEME_CSS_KEY))
        {
            return self.full_build().await;
        }
        // Photos before posts, so a post and its photo uploaded together render with it.
        changes.sort_by_key(|(c, _)| match c {
            ContentChange::Photo { .. } => 0,
            ContentChange::Static { .. } => 1,
            _ => 2,
        });
        changes.dedup();
        let ctx = Arc::new(self.load_context().await?);
        // Without the post index an incremental build cannot know the listing: build it all.
        let Some(mut index) = self.load_index().await? else {
            return self.full_build().await;
        };
        let mut photos: PhotoIndex = self
            .load_state(layout::state::PHOTO_INDEX)
            .await?
            .unwrap_or_default();
        let issued = events
            .iter()
            .filter_map(|e| e.at)
            .max()
            .unwrap_or_else(|| self.clock.now());
        let mut out = Publisher {
            site: self.stores.site.as_ref(),
            known: None,
            issued,
            report: BuildReport::default(),
        };
        let mut dirty_posts: BTreeSet<String> = BTreeSet::new();
        // Photos this event changed (their posts' teasers change too).
        let mut changed_photos: BTreeSet<String> = BTreeSet::new();

        for (change, removed) in &changes {
            match change {
                ContentChange::Photo { key } => {
                    let bytes = if *removed {
                        None
                    } else {
                        self.stores.content.get(key).await?
                    };
                    match bytes {
                        None => {
                            if let Some(info) = photos.photos.remove(key) {
                                for v in info.variants {
                                    out.delete(&v.jpeg).await?;
                                    out.delete(&v.webp).await?;
                                }
                            }
                        }
                        Some(bytes) => match self.process_photo(key, bytes, &mut out).await {
                            Ok(mut info) => {
                                let fps = self.stores.content.fingerprints(key).await?;
                                info.source = fps.get(key).cloned().unwrap_or_default();
                                photos.photos.insert(key.clone(), info);
                            }
                            Err(e) => {
                                warn!(error = %e, "photo not processed");
                                out.report.errors.push(e.to_string());
                                continue;
                            }
                        },
                    }
                    changed_photos.insert(key.clone());
                    dirty_posts.extend(
                        index
                            .entries()
                            .filter(|p| p.photo.as_deref() == Some(key.as_str()))
                            .map(|p| p.slug.clone()),
                    );
                }
                ContentChange::Static { key } => {
                    match if *removed {
                        None
                    } else {
                        self.stores.content.get(key).await?
                    } {
                        Some(b) => out.put_all(vec![(key.clone(), b)]).await?,
                        None => out.delete(key).await?,
                    }
                }
                ContentChange::Post { slug } => {
                    dirty_posts.insert(slug.clone());
                }
                ContentChange::Everything | ContentChange::Ignored => {}
            }
        }
        let photos = Arc::new(photos);
        // What the listing held for the posts about to change: enough to tell which listing
        // pages change, without copying the whole index.
        let before = ListingBefore::capture(&index, &dirty_posts);
        for slug in &dirty_posts {
            let r = self
                .update_post(&ctx, &photos, &mut index, slug, &mut out)
                .await?;
            out.report.merge(r);
        }
        self.publish_listings(&ctx, &photos, &before, &index, &changed_photos, &mut out)
            .await?;
        if !changed_photos.is_empty() {
            self.save_state(layout::state::PHOTO_INDEX, Arc::unwrap_or_clone(photos))
                .await?;
        } else {
            self.keep_state(layout::state::PHOTO_INDEX, Arc::unwrap_or_clone(photos))
                .await?;
        }
        let changed = changed_shards(&before.entries, &index);
        self.save_index(index, Some(changed)).await?;
        info!(
            written = out.report.written.len(),
            unchanged = out.report.unchanged,
            deleted = out.report.deleted.len(),
            errors = out.report.errors.len(),
            "incremental build done"
        );
        Ok(out.report)
    }

    /// Re-render one post (after a content change or a comment change) and update its
    /// index entry. Pages go through `out`; errors are reported, not raised.
    async fn update_post(
        &self,
        ctx: &Arc<SiteContext>,
        photos: &Arc<PhotoIndex>,
        index: &mut PostIndex,
        slug: &str,
        out: &mut Publisher<'_>,
    ) -> Result<BuildReport, BuildError> {
        let key = format!("{}{slug}.md", layout::content::POSTS);
        let bytes = self.stores.content.get(&key).await?;
        let Some(bytes) = bytes else {
            index.remove(slug);
            out.delete(&layout::site::post_page(slug)).await?;
            out.delete(&layout::site::post_comments_feed(slug)).await?;
            return Ok(BuildReport::default());
        };
        let comments = approved_comments(self.stores.records.as_ref(), slug).await?;
        let token = self
            .signer
            .form_token(&format!("comment:{slug}"), out.issued);
        match render_post_source(ctx, photos, &key, Some(&bytes), &comments, &token) {
            Ok(RenderedPost { summary, pages }) => {
                if summary.draft {
                    out.delete(&layout::site::post_page(slug)).await?;
                    out.delete(&layout::site::post_comments_feed(slug)).await?;
                } else {
                    out.put_all(pages).await?;
                }
                index.insert(summary);
                Ok(BuildReport::default())
            }
            Err((_, e)) => {
                warn!(error = %e, "post left as it was");
                Ok(BuildReport {
                    errors: vec![e],
                    ..Default::default()
                })
            }
        }
    }

    /// Re-render the listing pages whose content changed, and the feed and the sitemap when
    /// they are affected.
    async fn publish_listings(
        &self,
        ctx: &SiteContext,
        photos: &PhotoIndex,
        before: &ListingBefore,
        after: &PostIndex,
        changed_photos: &BTreeSet<String>,
        out: &mut Publisher<'_>,
    ) -> Result<(), BuildError> {
        let per = ctx.config.posts_per_page;
        let (old_len, new_len) = (before.listed_len, after.listed_len());
        let end = old_len.max(new_len).saturating_sub(1);
        // The positions in the listing whose entry changed: a post that moved shifts every
        // entry between its old and new place; one added or removed shifts all after it.
        let mut changed: Option<(usize, usize)> = None;
        let mut touch = |lo: usize, hi: usize| {
            changed = Some(changed.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
        };
        for (slug, old_pos) in &before.positions {
            match (*old_pos, after.position(slug)) {
                (Some(a), Some(b)) if a == b => {
                    if before.entries[slug].as_ref() != after.get(slug) {
                        touch(a, a);
                    }
                }
                (Some(a), Some(b)) => touch(a.min(b), a.max(b)),
                (Some(a), None) | (None, Some(a)) => touch(a, end),
                (None, None) => {}
            }
        }
        if !changed_photos.is_empty() {
            for p in after.entries() {
                if p.photo.as_ref().is_some_and(|k| changed_photos.contains(k)) {
                    if let Some(at) = after.position(&p.slug) {
                        touch(at, at);
                    }
                }
            }
        }
        let total = page_count(new_len, per);
        let old_total = page_count(old_len, per);
        if total != old_total {
            // "Page X of Y" changed on every page.
            out.put_all(self.listing_pages(ctx, after, photos, None)?)
                .await?;
            for n in (total + 1)..=old_total {
                out.delete(&layout::site::index_page(n)).await?;
            }
        } else if let Some((first, last)) = changed {
            let pages =
                self.listing_pages(ctx, after, photos, Some((first / per + 1, last / per + 1)))?;
            out.put_all(pages).await?;
        }
        let newest_year = after.newest_year();
        if before.newest_year != newest_year {
            // The footer of every fixed page carries it.
            out.put_all(self.fixed_pages(ctx, &after.listed(), out.issued)?)
                .await?;
            return Ok(());
        }
        let r = ctx.renderer(newest_year);
        let mut fixed = Vec::new();
        // The feed lists the newest posts: re-render it only when a changed post is (or was)
        // among them. The sitemap holds every post's address and date: only when one of
        // those moved. On 10,000 posts these two are most of a one-post event's work.
        let feed_n = ctx.config.feed_entries;
        let in_feed = before.positions.iter().any(|(slug, old)| {
            old.is_some_and(|p| p < feed_n) || after.position(slug).is_some_and(|p| p < feed_n)
        });
        if in_feed {
            fixed.push((
                layout::site::FEED.to_string(),
                r.feed(&after.listed_range(0..feed_n))?.into_bytes(),
            ));
        }
        let sitemap_key = |p: Option<&PostSummary>| {
            p.filter(|p| !p.draft)
                .map(|p| (p.published.clone(), p.updated.clone()))
        };
        let sitemap_moved = before
            .entries
            .iter()
            .any(|(slug, old)| sitemap_key(old.as_ref()) != sitemap_key(after.get(slug)))
            || total != old_total
            || before.first != after.listed_range(0..1).first().map(|p| p.slug.clone());
        if sitemap_moved {
            fixed.push((
                layout::site::SITEMAP.to_string(),
                r.sitemap(&after.listed(), total)?.into_bytes(),
            ));
        }
        out.put_all(fixed).await?;
        Ok(())
    }

    /// Re-render a post because its comments changed (at `at`, the change's time; `None`:
    /// now): its page and its comment feed.
    pub async fn comments_changed(
        &self,
        slug: &str,
        at: Option<time::OffsetDateTime>,
    ) -> Result<BuildReport, BuildError> {
        let ctx = Arc::new(self.load_context().await?);
        let Some(mut index) = self.load_index().await? else {
            return self.full_build().await;
        };
        let photos: Arc<PhotoIndex> = Arc::new(
            self.load_state(layout::state::PHOTO_INDEX)
                .await?
                .unwrap_or_default(),
        );
        let mut out = Publisher {
            site: self.stores.site.as_ref(),
            known: None,
            issued: at.unwrap_or_else(|| self.clock.now()),
            report: BuildReport::default(),
        };
        let before = BTreeMap::from([(slug.to_string(), index.get(slug).cloned())]);
        let r = self
            .update_post(&ctx, &photos, &mut index, slug, &mut out)
            .await?;
        out.report.merge(r);
        let changed = changed_shards(&before, &index);
        self.save_index(index, Some(changed)).await?;
        self.keep_state(layout::state::PHOTO_INDEX, Arc::unwrap_or_clone(photos))
            .await?;
        Ok(out.report)
    }
}

/// What the listing held, before an event changed some posts.
struct ListingBefore {
    /// The changed posts' entries, and where each was listed.
    entries: BTreeMap<String, Option<PostSummary>>,
    positions: BTreeMap<String, Option<usize>>,
    listed_len: usize,
    first: Option<String>,
    newest_year: i32,
}

impl ListingBefore {
    fn capture(index: &PostIndex, slugs: &BTreeSet<String>) -> Self {
        ListingBefore {
            entries: slugs
                .iter()
                .map(|s| (s.clone(), index.get(s).cloned()))
                .collect(),
            positions: slugs
                .iter()
                .map(|s| (s.clone(), index.position(s)))
                .collect(),
            listed_len: index.listed_len(),
            first: index.listed_range(0..1).first().map(|p| p.slug.clone()),
            newest_year: index.newest_year(),
        }
    }
}

/// The index shards whose entries differ from `before`.
fn changed_shards(
    before: &BTreeMap<String, Option<PostSummary>>,
    after: &PostIndex,
) -> BTreeSet<usize> {
    before
        .iter()
        .filter(|(slug, entry)| entry.as_ref() != after.get(slug))
        .map(|(slug, _)| index_shard(slug))
        .collect()
}

/// How many listing pages `listed` posts make (an empty site still has its first page).
fn page_count(listed: usize, per_page: usize) -> usize {
    listed.div_ceil(per_page).max(1)
}

fn slug_of(key: &str) -> &str {
    key.trim_start_matches(layout::content::POSTS)
        .trim_end_matches(".md")
}

struct RenderedPost {
    summary: PostSummary,
    pages: Vec<(String, Vec<u8>)>,
}

/// Parse and render one post: its page and its comments feed. Pure; an error names the file.
fn render_post_source(
    ctx: &SiteContext,
    photos: &PhotoIndex,
    key: &str,
    bytes: Option<&[u8]>,
    comments: &[Comment],
    token: &str,
) -> Result<RenderedPost, (String, String)> {
    let slug = slug_of(key).to_string();
    let fail = |e: String| (slug.clone(), e);
    let bytes = bytes.ok_or_else(|| fail(format!("{key}: vanished while building")))?;
    let post = parse_post(key, bytes).map_err(|e| fail(e.to_string()))?;
    let photo = match &post.photo {
        None => None,
        Some(p) => match photos.photos.get(p) {
            Some(info) => Some(info),
            None => {
                let text = std::str::from_utf8(bytes).unwrap_or("");
                let line = text
                    .lines()
                    .position(|l| l.trim_start().starts_with("photo:"))
                    .map(|i| i + 1);
                return Err(fail(
                    ContentError::new(
                        key,
                        line,
                        format!("unknown photo `{p}`: upload it under photos/ first"),
                    )
                    .to_string(),
                ));
            }
        },
    };
    let summary = summary_of(&post, md5_hex(bytes));
    let r = ctx.renderer(post.published.year());
    let page = r
        .post_page(&post, photo, comments, token, None)
        .map_err(|e| fail(e.to_string()))?;
    let feed = r
        .comments_feed(&summary, comments)
        .map_err(|e| fail(e.to_string()))?;
    Ok(RenderedPost {
        pages: vec![
            (layout::site::post_page(&slug), page.into_bytes()),
            (layout::site::post_comments_feed(&slug), feed.into_bytes()),
        ],
        summary,
    })
}

/// Pages the form functions render on request: a post page re-shown with the visitor's
/// input and errors, the sign-up form, message pages. Same theme and data as the builder.
#[derive(Clone)]
pub struct Pages {
    pub content: Arc<dyn BlobStore>,
    pub state: Arc<dyn BlobStore>,
    pub records: Arc<dyn ItemStore>,
    /// `site.toml` and the posts commented on, kept for [`KEEP_FOR`]: every accepted form
    /// post needs the site's addresses and its post, and a read of the content store (an S3
    /// GET, tens of milliseconds on Lambda) per request is waste.
    pub cache: PagesCache,
}

/// How long a form function trusts its copy of `site.toml` or of a post. A post deleted or
/// made a draft may take comments for this long; they stay pending and are never shown.
pub const KEEP_FOR: std::time::Duration = std::time::Duration::from_secs(60);

/// What [`Pages`] keeps, and since when; shared by clones of [`Pages`].
#[derive(Clone, Default)]
pub struct PagesCache(Arc<std::sync::Mutex<Kept>>);

#[derive(Default)]
struct Kept {
    config: Option<Fresh<SiteConfig>>,
    /// Config, quotes and compiled theme, for the pages these functions render.
    context: Option<Fresh<Arc<SiteContext>>>,
    /// Published posts only: a slug with no post is asked again each time.
    posts: HashMap<String, Fresh<Arc<Post>>>,
}

/// A value and when it was read; good for [`KEEP_FOR`].
struct Fresh<T>(std::time::Instant, T);

impl<T: Clone> Fresh<T> {
    fn new(value: T) -> Self {
        Self(std::time::Instant::now(), value)
    }

    fn get(&self) -> Option<T> {
        (self.0.elapsed() < KEEP_FOR).then(|| self.1.clone())
    }
}

impl Pages {
    pub fn new(
        content: Arc<dyn BlobStore>,
        state: Arc<dyn BlobStore>,
        records: Arc<dyn ItemStore>,
    ) -> Self {
        Self {
            content,
            state,
            records,
            cache: Default::default(),
        }
    }

    /// A published post, if there is one with this slug.
    pub async fn post(&self, slug: &str) -> Result<Option<Arc<Post>>, BuildError> {
        if !layout::is_valid_slug(slug) {
            return Ok(None);
        }
        if let Some(post) = self.kept().posts.get(slug).and_then(Fresh::get) {
            return Ok(Some(post));
        }
        let key = format!("{}{slug}.md", layout::content::POSTS);
        let Some(bytes) = self.content.get(&key).await? else {
            return Ok(None);
        };
        let Some(post) = parse_post(&key, &bytes).ok().filter(|p| !p.draft) else {
            return Ok(None);
        };
        let post = Arc::new(post);
        self.kept()
            .posts
            .insert(slug.to_string(), Fresh::new(post.clone()));
        Ok(Some(post))
    }

    /// The post page with the comment form re-shown (errors beside fields, text kept).
    pub async fn post_with_form(
        &self,
        post: &Post,
        token: &str,
        form: &crate::site::render::FormState,
    ) -> Result<String, BuildError> {
        let ctx = self.context().await?;
        let photos: PhotoIndex = read_state(self.state.as_ref(), layout::state::PHOTO_INDEX)
            .await?
            .unwrap_or_default();
        let comments = approved_comments(self.records.as_ref(), &post.slug).await?;
        let photo = post.photo.as_ref().and_then(|k| photos.photos.get(k));
        Ok(ctx
            .api_renderer()
            .post_page(post, photo, &comments, token, Some(form))?)
    }

    pub async fn signup_with_form(
        &self,
        token: &str,
        form: &crate::site::render::FormState,
    ) -> Result<String, BuildError> {
        let ctx = self.context().await?;
        Ok(ctx.api_renderer().signup_page(token, Some(form))?)
    }

    pub async fn message(
        &self,
        path: &str,
        message: &crate::site::render::Message,
    ) -> Result<String, BuildError> {
        let ctx = self.context().await?;
        Ok(ctx.api_renderer().message_page(path, message)?)
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.cache.0.lock().expect("pages cache")
    }

    /// Config, quotes and theme, kept for [`KEEP_FOR`]: reading them is several content
    /// reads and compiling the templates.
    async fn context(&self) -> Result<Arc<SiteContext>, BuildError> {
        if let Some(ctx) = self.kept().context.as_ref().and_then(Fresh::get) {
            return Ok(ctx);
        }
        let ctx = Arc::new(SiteContext::load(self.content.as_ref()).await?);
        self.kept().context = Some(Fresh::new(ctx.clone()));
        Ok(ctx)
    }

    /// The site configuration (for URLs in mails and redirects).
    pub async fn config(&self) -> Result<SiteConfig, BuildError> {
        if let Some(cfg) = self.kept().config.as_ref().and_then(Fresh::get) {
            return Ok(cfg);
        }
        let bytes = self
            .content
            .get(layout::content::CONFIG)
            .await?
            .ok_or(BuildError::Missing(layout::content::CONFIG))?;
        let cfg = SiteConfig::parse(&String::from_utf8_lossy(&bytes))?;
        self.kept().config = Some(Fresh::new(cfg.clone()));
        Ok(cfg)
    }
}
