//! The site builder: reads content, photos and approved comments through the ports and
//! writes the static site. Used by the render Lambda (S3 events), the local server (file
//! changes) and the command-line `site build`.
//!
//! - Full build: everything, in chunks (bounded memory), rendering in parallel.
//! - Incremental: one post re-renders its page, its comment feed and the listing pages it
//!   appears on; a page (`pages/<slug>.md`) its own page and the sitemap; a photo re-renders
//!   the posts and pages that use it; config, quotes or a template re-render everything. The
//!   post and page indexes in the state store mean no event reads every post.
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
use crate::signing::{day_start, FormKey};
use crate::site::config::{ConfigError, SiteConfig};
use crate::site::content::{
    parse_page, parse_post, parse_quotes, ContentError, PageSummary, Post, PostSummary, Quote,
};
use crate::site::layout::{self, classify, object_meta, ContentChange};
use crate::site::photos::{make_variants, PhotoError, PhotoInfo};
use crate::site::render::{Renderer, TemplateError, Theme, BUILTIN_CSS, THEME_CSS_KEY};

mod context;
mod full;
mod incremental;
mod post_index;
mod publish;
mod redirects;

pub use crate::site::pages::{Pages, PagesCache, KEEP_FOR};
pub use context::SiteContext;
use context::*;
use incremental::*;
pub(crate) use post_index::read_state;
use post_index::*;
pub use post_index::{PageIndex, PhotoIndex, PostIndex};
use publish::*;

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
    pub forms: FormKey,
    pub clock: Arc<dyn Clock>,
    /// Where a local server listens: the site's loopback addresses follow it.
    pub origin: Option<String>,
    /// The state last read or written, by key, with the state store's fingerprint of it.
    /// This builder is the state's only writer (the render function runs one at a time), so
    /// while the fingerprint matches, a warm process skips re-reading and decoding it.
    state_cache: std::sync::Mutex<HashMap<String, CachedState>>,
}

impl Builder {
    async fn load_context(&self) -> Result<SiteContext, BuildError> {
        SiteContext::load(self.stores.content.as_ref(), self.origin.as_deref()).await
    }

    pub fn new(stores: Stores, forms: FormKey, clock: Arc<dyn Clock>) -> Self {
        Self {
            stores,
            forms,
            clock,
            origin: None,
            state_cache: Default::default(),
        }
    }
}
