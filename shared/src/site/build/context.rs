//! What every page of a build shares: config, quotes and the compiled theme.

use super::*;

/// Config, quotes and theme: loaded per build, shared read-only by the render threads.
pub struct SiteContext {
    pub config: SiteConfig,
    pub quotes: Vec<Quote>,
    pub theme: Theme,
    pub(super) css: Vec<u8>,
    pub(super) css_md5: String,
}

impl SiteContext {
    /// Read `site.toml`, `quotes.toml`, `templates/` and the stylesheet from the content store.
    /// `origin`: where a local server listens (see [`SiteConfig::served_at`]).
    pub async fn load(
        content: &dyn BlobStore,
        origin: Option<&str>,
    ) -> Result<SiteContext, BuildError> {
        let config_bytes = content
            .get(layout::content::CONFIG)
            .await?
            .ok_or(BuildError::Missing(layout::content::CONFIG))?;
        let mut config = SiteConfig::parse(&String::from_utf8_lossy(&config_bytes))?;
        if let Some(origin) = origin {
            config.served_at(origin);
        }
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

pub(super) fn newest_year(listed: &[&PostSummary]) -> i32 {
    listed
        .first()
        .and_then(|p| p.published.get(..4))
        .and_then(|y| y.parse().ok())
        .unwrap_or(1970)
}

pub(super) fn summary_of(post: &Post, source_md5: String) -> PostSummary {
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
