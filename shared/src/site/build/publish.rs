//! Writing pages: only objects whose bytes changed are written.

use super::*;

/// Pages being written: compares against what the site store holds and writes only changes.
pub(super) struct Publisher<'a> {
    pub(super) site: &'a dyn BlobStore,
    /// Known MD5s (from one listing, in full builds); otherwise asked per key.
    pub(super) known: Option<HashMap<String, String>>,
    /// The render time the pages' form tokens carry.
    pub(super) issued: time::OffsetDateTime,
    pub(super) report: BuildReport,
}

impl<'a> Publisher<'a> {
    pub(super) async fn put_all(
        &mut self,
        objects: Vec<(String, Vec<u8>)>,
    ) -> Result<(), StoreError> {
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

    pub(super) async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        match &self.known {
            Some(k) => Ok(k.contains_key(key)),
            None => self.site.exists(key).await,
        }
    }

    pub(super) async fn delete(&mut self, key: &str) -> Result<(), StoreError> {
        if self.exists(key).await? {
            self.site.delete(key).await?;
            self.report.deleted.insert(key.to_string());
        }
        Ok(())
    }
}

pub(super) struct RenderedPost {
    pub(super) summary: PostSummary,
    pub(super) pages: Vec<(String, Vec<u8>)>,
}

/// Parse and render one post: its page and its comments feed. Pure; an error names the file.
pub(super) fn render_post_source(
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
    let photo = header_photo(photos, key, bytes, post.photo.as_deref()).map_err(fail)?;
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

/// The header photo a post or page names, from the photo index; an unknown one is an error
/// naming the file and the `photo:` line.
fn header_photo<'p>(
    photos: &'p PhotoIndex,
    key: &str,
    bytes: &[u8],
    photo: Option<&str>,
) -> Result<Option<&'p PhotoInfo>, String> {
    let Some(p) = photo else {
        return Ok(None);
    };
    match photos.photos.get(p) {
        Some(info) => Ok(Some(info)),
        None => {
            let text = std::str::from_utf8(bytes).unwrap_or("");
            let line = text
                .lines()
                .position(|l| l.trim_start().starts_with("photo:"))
                .map(|i| i + 1);
            Err(ContentError::new(
                key,
                line,
                format!("unknown photo `{p}`: upload it under photos/ first"),
            )
            .to_string())
        }
    }
}

pub(super) struct RenderedPage {
    pub(super) summary: PageSummary,
    /// The page's site key and bytes; none for a draft (its site page is removed, and it is
    /// not in the page index).
    pub(super) page: Option<(String, Vec<u8>)>,
}

/// Parse and render one page (`pages/<slug>.md`); `year` is the footer's (the newest post's,
/// as on the fixed pages). Pure; an error names the file.
pub(super) fn render_page_source(
    ctx: &SiteContext,
    photos: &PhotoIndex,
    key: &str,
    bytes: Option<&[u8]>,
    year: i32,
) -> Result<RenderedPage, (String, String)> {
    let slug = page_slug_of(key).to_string();
    let fail = |e: String| (slug.clone(), e);
    let bytes = bytes.ok_or_else(|| fail(format!("{key}: vanished while building")))?;
    let page = parse_page(key, bytes).map_err(|e| fail(e.to_string()))?;
    let summary = page.summary();
    if page.draft {
        return Ok(RenderedPage {
            summary,
            page: None,
        });
    }
    let photo = header_photo(photos, key, bytes, page.photo.as_deref()).map_err(fail)?;
    let html = ctx
        .renderer(year)
        .page(&page, photo)
        .map_err(|e| fail(e.to_string()))?;
    Ok(RenderedPage {
        summary,
        page: Some((layout::site::page(&page.slug), html.into_bytes())),
    })
}
