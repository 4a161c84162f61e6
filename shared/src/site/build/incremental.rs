//! Incremental builds: one content change, or comments published on some posts,
//! re-render only the pages they touch.

use super::*;

impl Builder {
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
        // Nor without the page index (a site built before pages): the sitemap lists them.
        let Some(old_pages) = self
            .load_state::<PageIndex>(layout::state::PAGE_INDEX)
            .await?
        else {
            return self.full_build().await;
        };
        let mut page_index = old_pages.clone();
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
        let mut dirty_pages: BTreeSet<String> = BTreeSet::new();
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
                    dirty_pages.extend(
                        page_index
                            .pages
                            .values()
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
                ContentChange::Page { slug } => {
                    dirty_pages.insert(slug.clone());
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
        // Pages carry the newest post's year in their footer, as the fixed pages do.
        let year = index.newest_year();
        if year != before.newest_year {
            dirty_pages.extend(page_index.pages.keys().cloned());
        }
        for slug in &dirty_pages {
            self.update_page(&ctx, &photos, &mut page_index, slug, year, &mut out)
                .await?;
        }
        let pages_moved = old_pages.sitemap_entries() != page_index.sitemap_entries();
        self.publish_listings(
            &ctx,
            &photos,
            &before,
            &index,
            AlsoChanged {
                photos: &changed_photos,
                pages: &page_index,
                pages_moved,
            },
            &mut out,
        )
        .await?;
        if page_index != old_pages {
            self.save_state(layout::state::PAGE_INDEX, page_index)
                .await?;
        } else {
            self.keep_state(layout::state::PAGE_INDEX, page_index)
                .await?;
        }
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
    pub(super) async fn update_post(
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
            .forms
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

    /// Re-render one page (`pages/<slug>.md`) after a change to it or its photo, or because
    /// the footer's year changed: publish it, or delete its site page when it is gone or a
    /// draft, and update its page index entry. Errors are reported, not raised; the page is
    /// left as it was.
    pub(super) async fn update_page(
        &self,
        ctx: &SiteContext,
        photos: &PhotoIndex,
        pages: &mut PageIndex,
        slug: &str,
        year: i32,
        out: &mut Publisher<'_>,
    ) -> Result<(), BuildError> {
        let key = format!("{}{slug}.md", layout::content::PAGES);
        let Some(bytes) = self.stores.content.get(&key).await? else {
            if pages.pages.remove(slug).is_some() {
                out.delete(&layout::site::page(slug)).await?;
            }
            return Ok(());
        };
        match render_page_source(ctx, photos, &key, Some(&bytes), year) {
            Ok(RenderedPage {
                summary,
                page: Some(page),
            }) => {
                out.put_all(vec![page]).await?;
                pages.pages.insert(slug.to_string(), summary);
            }
            Ok(RenderedPage { page: None, .. }) => {
                pages.pages.remove(slug);
                out.delete(&layout::site::page(slug)).await?;
            }
            Err((_, e)) => {
                warn!(error = %e, "page left as it was");
                out.report.errors.push(e);
            }
        }
        Ok(())
    }

    /// Re-render the listing pages whose content changed, and the feed and the sitemap when
    /// they are affected (by the posts, or by what else changed: see [`AlsoChanged`]).
    pub(super) async fn publish_listings(
        &self,
        ctx: &SiteContext,
        photos: &PhotoIndex,
        before: &ListingBefore,
        after: &PostIndex,
        also: AlsoChanged<'_>,
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
        let AlsoChanged {
            photos: changed_photos,
            pages,
            pages_moved,
        } = also;
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
            out.put_all(self.fixed_pages(ctx, &after.listed(), pages, out.issued)?)
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
            || before.first != after.listed_range(0..1).first().map(|p| p.slug.clone())
            || pages_moved;
        if sitemap_moved {
            fixed.push((
                layout::site::SITEMAP.to_string(),
                r.sitemap(&after.listed(), total, &pages.listed())?
                    .into_bytes(),
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

/// What else an event changed that the listings, the feed and the sitemap depend on.
pub(super) struct AlsoChanged<'a> {
    /// Photos the event changed: their posts' teasers change.
    pub(super) photos: &'a BTreeSet<String>,
    /// The page index after the event (the sitemap lists the pages), and whether a page's
    /// address or date changed.
    pub(super) pages: &'a PageIndex,
    pub(super) pages_moved: bool,
}

/// What the listing held, before an event changed some posts.
pub(super) struct ListingBefore {
    /// The changed posts' entries, and where each was listed.
    pub(super) entries: BTreeMap<String, Option<PostSummary>>,
    pub(super) positions: BTreeMap<String, Option<usize>>,
    pub(super) listed_len: usize,
    pub(super) first: Option<String>,
    pub(super) newest_year: i32,
}

impl ListingBefore {
    pub(super) fn capture(index: &PostIndex, slugs: &BTreeSet<String>) -> Self {
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
pub(super) fn changed_shards(
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
pub(super) fn page_count(listed: usize, per_page: usize) -> usize {
    listed.div_ceil(per_page).max(1)
}

pub(super) fn slug_of(key: &str) -> &str {
    key.trim_start_matches(layout::content::POSTS)
        .trim_end_matches(".md")
}

/// The slug of `pages/<slug>.md`.
pub(super) fn page_slug_of(key: &str) -> &str {
    key.trim_start_matches(layout::content::PAGES)
        .trim_end_matches(".md")
}
