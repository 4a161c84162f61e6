//! Pages the form functions render on request (a post page re-shown with the visitor's
//! input and errors, the sign-up form, message pages), with the builder's theme and data,
//! and what they keep between requests.

use std::collections::HashMap;
use std::sync::Arc;

use crate::comments::approved_comments;
use crate::ports::{BlobStore, ItemStore};
use crate::site::build::{read_state, BuildError, PhotoIndex, SiteContext};
use crate::site::config::SiteConfig;
use crate::site::content::{parse_post, Post};
use crate::site::layout::{self};

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
    /// Where a local server listens: the site's loopback addresses follow it.
    pub origin: Option<String>,
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
    /// Each post's approved comments, for the form re-shown: a stream of invalid posts must
    /// not cost a strongly consistent query of every comment each time (denial of wallet).
    comments: HashMap<String, Fresh<Arc<Vec<crate::comments::Comment>>>>,
    photos: Option<Fresh<Arc<PhotoIndex>>>,
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
            origin: None,
        }
    }

    /// The site owner's blocklist (`blocklist.txt`; none there: an empty list), read each
    /// time: a word added is in force at once.
    pub async fn blocklist(
        &self,
    ) -> Result<crate::comments::spam::Blocklist, crate::ports::StoreError> {
        Ok(match self.content.get(layout::content::BLOCKLIST).await? {
            Some(b) => crate::comments::spam::Blocklist::parse(&String::from_utf8_lossy(&b)),
            None => Default::default(),
        })
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
        let kept_photos = self.kept().photos.as_ref().and_then(Fresh::get);
        let photos = match kept_photos {
            Some(p) => p,
            None => {
                let p: Arc<PhotoIndex> = Arc::new(
                    read_state(self.state.as_ref(), layout::state::PHOTO_INDEX)
                        .await?
                        .unwrap_or_default(),
                );
                self.kept().photos = Some(Fresh::new(p.clone()));
                p
            }
        };
        let kept_comments = self.kept().comments.get(&post.slug).and_then(Fresh::get);
        let comments = match kept_comments {
            Some(c) => c,
            None => {
                let c = Arc::new(approved_comments(self.records.as_ref(), &post.slug).await?);
                self.kept()
                    .comments
                    .insert(post.slug.clone(), Fresh::new(c.clone()));
                c
            }
        };
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

    /// The moderator's list of held comments (`GET /moderate/queue`), with the signed queue
    /// token for its form and what the last action did.
    pub async fn moderation_queue(
        &self,
        comments: &[crate::comments::Comment],
        token: &str,
        notice: Option<&str>,
    ) -> Result<String, BuildError> {
        let ctx = self.context().await?;
        Ok(ctx
            .api_renderer()
            .moderation_queue_page(comments, token, notice)?)
    }

    /// The site's origin (`base_url`'s), which a page served from the API's address takes
    /// its stylesheet and photos from and links back to: its security policy must allow it
    /// ([`crate::http::security_headers`]). From the kept site context, which rendering the
    /// page has just read: no extra read.
    pub async fn site_origin(&self) -> Option<String> {
        let ctx = self.context().await.ok()?;
        crate::http::security_headers::origin_of(&ctx.config.base_url)
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
        let ctx = Arc::new(SiteContext::load(self.content.as_ref(), self.origin.as_deref()).await?);
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
        let mut cfg = SiteConfig::parse(&String::from_utf8_lossy(&bytes))?;
        if let Some(origin) = &self.origin {
            cfg.served_at(origin);
        }
        self.kept().config = Some(Fresh::new(cfg.clone()));
        Ok(cfg)
    }
}
