//! The full build, in phases: photos, posts (in chunks, rendered in parallel), pages,
//! listings and feeds, fixed pages, static files.

use super::*;

impl Builder {
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
        // Three stages overlap: while chunk n renders on the rayon pool, chunk n+1 is read
        // and chunk n-1 is written, so neither the disk nor the network waits for the CPU.
        let chunks: Vec<&[String]> = keys.chunks(CHUNK).collect();
        let mut fetched = match chunks.first() {
            Some(first) => self.fetch_posts(first).await?,
            None => Vec::new(),
        };
        let mut rendered_before: Vec<(String, Vec<u8>)> = Vec::new();
        for n in 0..chunks.len() {
            let tokens: Vec<String> = fetched
                .iter()
                .map(|(k, _, _)| {
                    self.forms
                        .form_token(&format!("comment:{}", slug_of(k)), out.issued)
                })
                .collect();
            let (ctx2, photos2) = (ctx.clone(), photos.clone());
            let this_chunk = std::mem::take(&mut fetched);
            let render = tokio::task::spawn_blocking(move || {
                use rayon::prelude::*;
                this_chunk
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
            });
            let fetch_next = async {
                match chunks.get(n + 1) {
                    Some(next) => self.fetch_posts(next).await,
                    None => Ok(Vec::new()),
                }
            };
            let write_before = out.put_all(std::mem::take(&mut rendered_before));
            let (rendered, next, written) = tokio::join!(render, fetch_next, write_before);
            written?;
            fetched = next?;
            let rendered =
                rendered.map_err(|e| StoreError::Unavailable(format!("render thread: {e}")))?;
            for r in rendered {
                match r {
                    Ok(RenderedPost { summary, pages }) => {
                        if summary.draft {
                            out.delete(&layout::site::post_page(&summary.slug)).await?;
                            out.delete(&layout::site::post_comments_feed(&summary.slug))
                                .await?;
                        } else {
                            rendered_before.extend(pages);
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
        }
        out.put_all(rendered_before).await?;
        let index = PostIndex::from_entries(entries);
        for slug in old_index
            .entries()
            .map(|p| &p.slug)
            .filter(|s| !index.contains(s))
        {
            out.delete(&layout::site::post_page(slug)).await?;
            out.delete(&layout::site::post_comments_feed(slug)).await?;
        }

        // Pages: after the posts (their footer carries the newest post's year), before the
        // sitemap that lists them.
        let old_pages: Option<PageIndex> = self.load_state(layout::state::PAGE_INDEX).await?;
        let page_index = self
            .build_pages(
                &ctx,
                &photos,
                old_pages.as_ref(),
                index.newest_year(),
                &mut out,
            )
            .await?;

        // Listings, feeds and the fixed pages.
        let pages = self.listing_pages(&ctx, &index, &photos, None)?;
        let old_total = page_count(old_index.listed_len(), ctx.config.posts_per_page);
        let new_total = page_count(index.listed_len(), ctx.config.posts_per_page);
        out.put_all(pages).await?;
        for n in (new_total + 1)..=old_total {
            out.delete(&layout::site::index_page(n)).await?;
        }
        out.put_all(self.fixed_pages(&ctx, &index.listed(), &page_index, out.issued)?)
            .await?;
        out.put_all(self.static_files(&ctx).await?).await?;
        // Old addresses last: a page of the site is never replaced by a redirect.
        self.publish_redirects(&mut out).await?;

        if old_pages.as_ref() != Some(&page_index) {
            self.save_state(layout::state::PAGE_INDEX, page_index)
                .await?;
        } else {
            self.keep_state(layout::state::PAGE_INDEX, page_index)
                .await?;
        }

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

    /// One chunk of posts: each source with its approved comments, read concurrently.
    async fn fetch_posts(
        &self,
        keys: &[String],
    ) -> Result<Vec<(String, Option<Vec<u8>>, Vec<Comment>)>, StoreError> {
        stream::iter(keys.iter().cloned())
            .map(|key| async move {
                let bytes = self.stores.content.get(&key).await?;
                let slug = key
                    .trim_start_matches(layout::content::POSTS)
                    .trim_end_matches(".md")
                    .to_string();
                let comments = approved_comments(self.stores.records.as_ref(), &slug).await?;
                Ok::<_, StoreError>((key, bytes, comments))
            })
            .buffered(self.stores.content.concurrency())
            .try_collect()
            .await
    }

    /// Render every page under `pages/` (a chunk at a time, in parallel), delete the site
    /// pages of drafts and of pages gone since `old`, and return the new page index. A page
    /// that cannot be used is reported and left as it was (listed as it was, if it was).
    async fn build_pages(
        &self,
        ctx: &Arc<SiteContext>,
        photos: &Arc<PhotoIndex>,
        old: Option<&PageIndex>,
        year: i32,
        out: &mut Publisher<'_>,
    ) -> Result<PageIndex, BuildError> {
        let mut index = PageIndex::default();
        let keys: Vec<String> = self
            .stores
            .content
            .list(layout::content::PAGES)
            .await?
            .into_iter()
            .filter(|k| matches!(classify(k), ContentChange::Page { .. }))
            .collect();
        for chunk in keys.chunks(CHUNK) {
            let fetched: Vec<(String, Option<Vec<u8>>)> = stream::iter(chunk.iter().cloned())
                .map(|key| async move {
                    let bytes = self.stores.content.get(&key).await?;
                    Ok::<_, StoreError>((key, bytes))
                })
                .buffered(self.stores.content.concurrency())
                .try_collect()
                .await?;
            let (ctx2, photos2) = (ctx.clone(), photos.clone());
            let rendered = tokio::task::spawn_blocking(move || {
                use rayon::prelude::*;
                fetched
                    .into_par_iter()
                    .map(|(key, bytes)| {
                        render_page_source(&ctx2, &photos2, &key, bytes.as_deref(), year)
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(|e| StoreError::Unavailable(format!("render thread: {e}")))?;
            let mut objects = Vec::new();
            for r in rendered {
                match r {
                    Ok(RenderedPage { summary, page }) => match page {
                        Some(page) => {
                            objects.push(page);
                            index.pages.insert(summary.slug.clone(), summary);
                        }
                        None => out.delete(&layout::site::page(&summary.slug)).await?,
                    },
                    Err((slug, e)) => {
                        warn!(error = %e, "page left as it was");
                        out.report.errors.push(e);
                        if let Some(prev) = old.and_then(|o| o.pages.get(&slug)) {
                            index.pages.insert(slug, prev.clone());
                        }
                    }
                }
            }
            out.put_all(objects).await?;
        }
        for slug in old
            .into_iter()
            .flat_map(|o| o.pages.keys())
            .filter(|s| !index.pages.contains_key(*s))
        {
            out.delete(&layout::site::page(slug)).await?;
        }
        Ok(index)
    }

    pub(super) async fn process_photo(
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
    pub(super) fn listing_pages(
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

    /// Feed, sitemap (with the published `pages`), 404 and the sign-up page.
    pub(super) fn fixed_pages(
        &self,
        ctx: &SiteContext,
        listed: &[&PostSummary],
        pages: &PageIndex,
        issued: time::OffsetDateTime,
    ) -> Result<Vec<(String, Vec<u8>)>, TemplateError> {
        let r = ctx.renderer(newest_year(listed));
        let feed_n = ctx.config.feed_entries.min(listed.len());
        let index_pages = page_count(listed.len(), ctx.config.posts_per_page);
        Ok(vec![
            (
                layout::site::FEED.to_string(),
                r.feed(&listed[..feed_n])?.into_bytes(),
            ),
            (
                layout::site::SITEMAP.to_string(),
                r.sitemap(listed, index_pages, &pages.listed())?
                    .into_bytes(),
            ),
            (
                layout::site::NOT_FOUND.to_string(),
                r.not_found()?.into_bytes(),
            ),
            (
                layout::site::SIGNUP.to_string(),
                r.signup_page(&self.forms.form_token("signup", issued), None)?
                    .into_bytes(),
            ),
        ])
    }

    /// The theme stylesheet and everything under `static/` in the content store.
    pub(super) async fn static_files(
        &self,
        ctx: &SiteContext,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
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
}
