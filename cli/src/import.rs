//! `site import wordpress EXPORT.xml`: a WordPress site moved over whole, from the file
//! its own exporter writes (Tools → Export), into the content store and the records store,
//! locally or (with `--aws`) on the buckets and table.
//!
//! Two passes over the file, each a stream: the first checks the whole file (a malformed
//! export stops here, naming line and column, before anything is written) and collects the
//! attachments (photos are referred to by id before or after they appear); the second
//! writes posts, pages, photos, comments and the redirect map, one item at a time, so
//! memory holds one item and the attachment list, however large the export. Everything
//! written is derived from the export alone (ids are keyed hashes of the old ones, files
//! are written only when their bytes differ, records only when absent), so importing the
//! same file again changes nothing, and an export taken later adds and updates.
//!
//! Long on purpose: one importer, its report and its mapping rules, read top to bottom.

use std::collections::HashMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use shared::comments::{Comment, CommentKind, CommentStatus};
use shared::dates::rfc3339;
use shared::ports::{BlobStore, Condition, ItemStore, StoreError};
use shared::signing::IdentityKey;
use shared::site::layout::object_meta;
use shared::site::redirects::Redirects;
use wordpress::body::{self, Attachment};
use wordpress::wxr::{self, Entry, Item};

/// Where the import writes, and with what.
pub struct Target {
    pub content: Arc<dyn BlobStore>,
    pub records: Arc<dyn ItemStore>,
    /// Keys record ids and the hashes of addresses and IPs, as the functions do.
    pub identity: IdentityKey,
}

pub struct Options {
    /// A copy of the old site's `wp-content/uploads`.
    pub uploads: Option<PathBuf>,
    /// Report only; write nothing.
    pub dry_run: bool,
    /// Show a progress bar (on a terminal).
    pub progress: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{file}: {source}")]
    Export {
        file: String,
        #[source]
        source: wxr::WxrError,
    },
    #[error("{0}: {1}")]
    Read(String, std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What was found and what was done: printed after every import (and every dry run).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub posts: usize,
    pub drafts: usize,
    pub pages: usize,
    pub attachments: usize,
    pub comments_approved: usize,
    pub comments_held: usize,
    pub pingbacks: usize,
    pub trackbacks: usize,
    pub photos_copied: usize,
    pub redirects_added: usize,
    pub files_written: usize,
    pub files_unchanged: usize,
    pub records_added: usize,
    pub records_already_there: usize,
    /// What was not imported, each with its reason.
    pub skipped: Vec<String>,
    /// Photos the export names that `--uploads` does not have.
    pub missing_photos: Vec<String>,
    /// Post bodies with markup that could not be turned into Markdown (kept as text).
    pub unconverted: Vec<String>,
}

impl Report {
    pub fn print(&self, dry_run: bool) {
        let verb = if dry_run { "would be" } else { "were" };
        println!("Found and {verb} imported:");
        println!(
            "  {} posts ({} as drafts), {} pages, {} attachments",
            self.posts + self.drafts,
            self.drafts,
            self.pages,
            self.attachments
        );
        println!(
            "  comments: {} approved, {} held for moderation; {} pingbacks, {} trackbacks",
            self.comments_approved, self.comments_held, self.pingbacks, self.trackbacks
        );
        println!(
            "  {} photos copied, {} old addresses redirected",
            self.photos_copied, self.redirects_added
        );
        if !dry_run {
            println!(
                "  files: {} written, {} unchanged; records: {} added, {} already there",
                self.files_written,
                self.files_unchanged,
                self.records_added,
                self.records_already_there
            );
        }
        for (title, list) in [
            ("Skipped", &self.skipped),
            ("Photos not found under --uploads", &self.missing_photos),
            (
                "Kept as text (could not be converted to Markdown)",
                &self.unconverted,
            ),
        ] {
            if !list.is_empty() {
                println!("{title} ({}):", list.len());
                for line in list {
                    println!("  - {line}");
                }
            }
        }
    }
}

/// An attachment of the old site: the photo, its caption and alt text, where it was.
#[derive(Debug, Clone)]
struct OldAttachment {
    url: String,
    caption: String,
    alt: String,
    title: String,
}

/// What the first pass learns: the attachments, and where each post and page goes (for
/// redirects of attachment pages to their post).
#[derive(Default)]
struct Survey {
    attachments: HashMap<u64, OldAttachment>,
    /// Old post or page id → its slug here, given once (in file order) for both passes.
    slugs: HashMap<u64, String>,
    /// Old post or page id → new address (site path).
    addresses: HashMap<u64, String>,
    /// The exported site's address.
    base_site_url: String,
}

impl body::Attachments for Survey {
    fn by_id(&self, id: u64) -> Option<Attachment> {
        self.attachments.get(&id).map(|a| Attachment {
            url: a.url.clone(),
            caption: a.caption.clone(),
            alt: a.alt.clone(),
        })
    }
}

pub async fn import_wordpress(
    export: &Path,
    target: &Target,
    opts: &Options,
) -> Result<Report, ImportError> {
    let base_path = match target
        .content
        .get(shared::site::layout::content::CONFIG)
        .await?
    {
        Some(b) => shared::site::config::SiteConfig::parse(&String::from_utf8_lossy(&b))
            .map(|c| c.base_path())
            .unwrap_or_else(|_| "/".into()),
        None => "/".into(),
    };
    let size = std::fs::metadata(export)
        .map_err(|e| ImportError::Read(export.display().to_string(), e))?
        .len();
    let bar = opts.progress.then(|| progress_bar(2 * size));

    // Pass 1: the whole file checked, the attachments and addresses collected.
    let mut survey = Survey::default();
    let mut slugs = Slugs::default();
    {
        let mut reader = open(export)?;
        survey.base_site_url = reader.site().base_site_url.clone();
        while let Some(entry) = reader.next() {
            let entry = entry.map_err(|e| export_error(export, e))?;
            if let Some(b) = &bar {
                b.set_position(reader.position());
            }
            let Entry::Item(item) = entry else { continue };
            match item.post_type.as_str() {
                "attachment" => {
                    survey.attachments.insert(
                        item.post_id,
                        OldAttachment {
                            url: item.attachment_url.clone(),
                            caption: item.excerpt.trim().to_string(),
                            alt: item
                                .meta("_wp_attachment_image_alt")
                                .unwrap_or("")
                                .trim()
                                .to_string(),
                            title: item.title.trim().to_string(),
                        },
                    );
                }
                "post" | "page" if item.post_password.is_empty() => {
                    let slug = slugs.give(&item);
                    let address = if item.post_type == "post" {
                        format!("{base_path}posts/{slug}/")
                    } else {
                        format!("{base_path}{slug}/")
                    };
                    survey.addresses.insert(item.post_id, address);
                    survey.slugs.insert(item.post_id, slug);
                }
                _ => {}
            }
        }
    }

    // Pass 2: write, one item at a time.
    let mut report = Report::default();
    let mut redirects: Vec<(String, String)> = vec![
        ("/feed/".into(), format!("{base_path}feed.xml")),
        ("/?feed=rss2".into(), format!("{base_path}feed.xml")),
        ("/?feed=atom".into(), format!("{base_path}feed.xml")),
    ];
    let mut w = Writer {
        target,
        dry_run: opts.dry_run,
        report: &mut report,
    };
    let mut reader = open(export)?;
    while let Some(entry) = reader.next() {
        let entry = entry.map_err(|e| export_error(export, e))?;
        if let Some(b) = &bar {
            b.set_position(size + reader.position());
        }
        let Entry::Item(item) = entry else { continue };
        let what = format!(
            "{} {} “{}”",
            item.post_type,
            item.post_id,
            one_line(&item.title)
        );
        match item.post_type.as_str() {
            "post" | "page" if !item.post_password.is_empty() => {
                w.report
                    .skipped
                    .push(format!("{what}: password-protected (not imported)"));
            }
            "post" | "page" => {
                let slug = survey.slugs.get(&item.post_id).cloned().unwrap_or_default();
                import_entry(
                    &mut w,
                    &survey,
                    &item,
                    &slug,
                    &base_path,
                    opts,
                    &mut redirects,
                )
                .await?;
            }
            "attachment" => {
                w.report.attachments += 1;
                let to = survey
                    .addresses
                    .get(&item.post_parent)
                    .cloned()
                    .or_else(|| {
                        uploads_path(&item.attachment_url)
                            .map(|p| format!("{base_path}static/uploads/{p}"))
                    });
                if let Some(to) = to {
                    redirects.push((format!("/?attachment_id={}", item.post_id), to.clone()));
                    if let Some(old) = old_path(&item.link) {
                        redirects.push((old, to));
                    }
                }
            }
            other => w.report.skipped.push(format!(
                "{what}: {} are not imported",
                match other {
                    "nav_menu_item" => "menu items (set the menu in site.toml's [[nav]])",
                    "revision" => "revisions",
                    "" => "items without a type",
                    _ => "items of this type",
                }
            )),
        }
    }

    // The redirect map: merged into the one there (the owner's own lines stay).
    let existing = target
        .content
        .get(shared::site::layout::content::REDIRECTS)
        .await?
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let (mut map, _) = Redirects::parse(&existing);
    redirects.retain(|(from, to)| from != to && shared::site::redirects::key_for(from).is_ok());
    w.report.redirects_added = map.merge(redirects);
    if w.report.redirects_added > 0 {
        w.put(
            shared::site::layout::content::REDIRECTS,
            map.to_text().into_bytes(),
        )
        .await?;
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(report)
}

struct Writer<'a> {
    target: &'a Target,
    dry_run: bool,
    report: &'a mut Report,
}

impl Writer<'_> {
    /// A file, written only when its bytes differ from what is there (an MD5 from a HEAD
    /// on S3, not a download of every post).
    async fn put(&mut self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        if self.dry_run {
            return Ok(());
        }
        if self
            .target
            .content
            .put_if_changed(key, bytes, &object_meta(key))
            .await?
        {
            self.report.files_written += 1;
        } else {
            self.report.files_unchanged += 1;
        }
        Ok(())
    }

    /// A record, added only when absent (a comment moderated since is left as it is).
    async fn add(&mut self, item: shared::ports::Item) -> Result<bool, StoreError> {
        if self.dry_run {
            return Ok(true);
        }
        let added = self.target.records.put(item, Condition::NotExists).await?;
        if added {
            self.report.records_added += 1;
        } else {
            self.report.records_already_there += 1;
        }
        Ok(added)
    }
}

/// The front matter of an imported post or page.
#[derive(Serialize)]
struct FrontMatter<'a> {
    title: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    photo: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    photo_alt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    caption: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    credit: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    draft: bool,
}

async fn import_entry(
    w: &mut Writer<'_>,
    survey: &Survey,
    item: &Item,
    slug: &str,
    base_path: &str,
    opts: &Options,
    redirects: &mut Vec<(String, String)>,
) -> Result<(), StoreError> {
    let is_post = item.post_type == "post";
    let published = item.status == "publish";
    let label = format!("{} “{}”", item.post_type, one_line(&item.title));
    if is_post && !published {
        w.report.drafts += 1;
    } else if is_post {
        w.report.posts += 1;
    } else {
        w.report.pages += 1;
    }

    // The body, its images copied and their addresses rewritten.
    let converted = body::to_markdown(&item.content, survey);
    for u in &converted.unconverted {
        w.report.unconverted.push(format!("{label}: {u}"));
    }
    let mut new_urls: HashMap<String, String> = HashMap::new();
    for url in &converted.images {
        if let Some(rel) = uploads_path(url) {
            let key = format!("static/uploads/{rel}");
            if copy_upload(w, opts, &rel, &key, &label).await? {
                new_urls.insert(url.clone(), format!("{base_path}{key}"));
            }
        }
    }
    let markdown = body::rewrite_images(&converted.markdown, &|u| new_urls.get(u).cloned());

    // The header photo: the featured image, its caption split from its credit.
    let mut photo = None;
    let (mut caption, mut credit, mut photo_alt) = (None, None, None);
    if let Some(att) = item
        .meta("_thumbnail_id")
        .and_then(|id| id.trim().parse::<u64>().ok())
        .and_then(|id| survey.attachments.get(&id))
    {
        if let Some(rel) = uploads_path(&att.url) {
            let name = rel.replace('/', "-");
            let key = format!("photos/{name}");
            if copy_upload(w, opts, &rel, &key, &label).await? {
                photo = Some(name);
                let (c, who) = body::split_credit(&att.caption);
                caption = Some(c).filter(|c| !c.is_empty());
                credit = who;
                photo_alt = Some(if att.alt.is_empty() {
                    att.title.clone()
                } else {
                    att.alt.clone()
                })
                .filter(|a| !a.is_empty());
            }
        }
    }

    let date = wp_date(&item.post_date_gmt).or_else(|| wp_date(&item.post_date));
    let modified = wp_date(&item.post_modified_gmt).or_else(|| wp_date(&item.post_modified));
    let tags: Vec<String> = {
        let mut seen = std::collections::BTreeSet::new();
        item.terms
            .iter()
            .filter(|t| matches!(t.domain.as_str(), "category" | "post_tag" | ""))
            .map(|t| t.name.trim().to_string())
            .filter(|n| !n.is_empty() && n != "Uncategorized")
            .filter(|n| seen.insert(n.clone()))
            .collect()
    };
    let fm = FrontMatter {
        title: item.title.trim(),
        date: if is_post {
            Some(
                date.clone()
                    .unwrap_or_else(|| "1970-01-01T00:00:00Z".into()),
            )
        } else {
            None
        },
        updated: modified.filter(|m| Some(m) != date.as_ref()),
        summary: Some(strip_tags(&item.excerpt)).filter(|s| !s.is_empty()),
        tags: if is_post { tags } else { Vec::new() },
        photo,
        photo_alt,
        caption,
        credit,
        draft: !published,
    };
    let yaml = serde_norway::to_string(&fm).unwrap_or_default();
    let file = format!("---\n{yaml}---\n\n{}", markdown.trim_end());
    let key = if is_post {
        format!("posts/{slug}.md")
    } else {
        format!("pages/{slug}.md")
    };
    w.put(&key, format!("{file}\n").into_bytes()).await?;

    // Its old addresses.
    let new = survey
        .addresses
        .get(&item.post_id)
        .cloned()
        .unwrap_or_default();
    if let Some(old) = old_path(&item.link) {
        redirects.push((old, new.clone()));
    }
    let query = if is_post { "p" } else { "page_id" };
    redirects.push((format!("/?{query}={}", item.post_id), new));

    // Its comments and pingbacks.
    let ids: HashMap<u64, String> = item
        .comments
        .iter()
        .map(|c| {
            (
                c.id,
                comment_id(
                    &w.target.identity,
                    &survey.base_site_url,
                    item.post_id,
                    c.id,
                ),
            )
        })
        .collect();
    for c in &item.comments {
        let status = match c.approved.as_str() {
            "1" | "approve" => CommentStatus::Approved,
            "0" | "hold" => CommentStatus::Held,
            "spam" => {
                w.report.skipped.push(format!(
                    "comment {} on {label}: marked spam on the old site",
                    c.id
                ));
                continue;
            }
            other => {
                w.report
                    .skipped
                    .push(format!("comment {} on {label}: in the bin ({other})", c.id));
                continue;
            }
        };
        let kind = match c.kind.as_str() {
            "pingback" => {
                w.report.pingbacks += 1;
                CommentKind::Pingback
            }
            "trackback" => {
                w.report.trackbacks += 1;
                CommentKind::Pingback
            }
            _ => {
                if status == CommentStatus::Approved {
                    w.report.comments_approved += 1;
                } else {
                    w.report.comments_held += 1;
                }
                CommentKind::Comment
            }
        };
        let md = body::to_markdown(&c.content, survey).markdown;
        let email = shared::http::fields::normalise_email(&c.author_email);
        let email_hash = (!email.is_empty())
            .then(|| shared::http::fields::email_hash(&w.target.identity, &email));
        let website = Some(c.author_url.trim().to_string())
            .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
            .filter(|u| url::Url::parse(u).is_ok());
        let comment = Comment {
            id: ids[&c.id].clone(),
            post: slug.to_string(),
            parent: (c.parent != 0)
                .then(|| ids.get(&c.parent).cloned())
                .flatten(),
            author: one_line(&c.author),
            website,
            body_html: shared::markdown::comment_to_html(&md),
            body_md: md,
            status,
            kind,
            created: wp_date(&c.date_gmt)
                .or_else(|| wp_date(&c.date))
                .unwrap_or_else(|| "1970-01-01T00:00:00Z".into()),
            email_hash: email_hash.clone(),
            ip_hash: Some(c.author_ip.trim())
                .filter(|ip| !ip.is_empty())
                .map(|ip| shared::http::guard::ip_hash(&w.target.identity, Some(ip))),
            spam_rules: Vec::new(),
        };
        let added = w.add(comment.to_item()?).await?;
        // An approved comment counts towards its author's trust, as a moderator's
        // approval does (once: a comment already there was counted when it came).
        if added && !w.dry_run && status == CommentStatus::Approved && kind == CommentKind::Comment
        {
            shared::comments::count_moderator_approval(w.target.records.as_ref(), &comment).await?;
        }
    }
    Ok(())
}

/// Copy one upload into the content store; false (and reported) when `--uploads` lacks it.
async fn copy_upload(
    w: &mut Writer<'_>,
    opts: &Options,
    rel: &str,
    key: &str,
    label: &str,
) -> Result<bool, StoreError> {
    let Some(dir) = &opts.uploads else {
        w.report
            .missing_photos
            .push(format!("{label}: {rel} (no --uploads folder given)"));
        return Ok(false);
    };
    let path = dir.join(rel);
    match std::fs::read(&path) {
        Ok(bytes) => {
            w.report.photos_copied += 1;
            w.put(key, bytes).await?;
            Ok(true)
        }
        Err(_) => {
            w.report
                .missing_photos
                .push(format!("{label}: {}", path.display()));
            Ok(false)
        }
    }
}

/// Slugs given in file order (in the first pass): WordPress's own name, made safe; a
/// second post with a name already given gets `-2`, and so on.
#[derive(Default)]
struct Slugs {
    given: HashMap<String, usize>,
}

impl Slugs {
    fn give(&mut self, item: &Item) -> String {
        let mut base = slugify(&item.post_name);
        if base.is_empty() {
            base = slugify(&item.title);
        }
        if base.is_empty() || !shared::site::layout::is_valid_slug(&base) {
            base = format!("{}-{}", item.post_type, item.post_id);
        }
        let n = self
            .given
            .entry(format!("{}/{base}", item.post_type))
            .or_insert(0);
        *n += 1;
        if *n == 1 {
            base
        } else {
            format!("{base}-{n}")
        }
    }
}

/// A WordPress slug (percent-encoded for non-ASCII titles) as one of ours: lower-case
/// letters, digits and hyphens.
fn slugify(s: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(s).decode_utf8_lossy();
    let mut out = String::new();
    for c in decoded.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out.chars()
        .take(80)
        .collect::<String>()
        .trim_end_matches('-')
        .to_string()
}

/// `2010-07-21 10:30:00` (WordPress, UTC for the `_gmt` fields) as RFC 3339; the zero
/// date WordPress writes for drafts is none.
fn wp_date(s: &str) -> Option<String> {
    let s = s.trim();
    if s.is_empty() || s.starts_with("0000") {
        return None;
    }
    shared::dates::parse_date(s).ok().map(rfc3339)
}

/// The path (and query) of an old address on the exported site, e.g.
/// `http://example.org/2010/07/21/the-big-link-up/` → `/2010/07/21/the-big-link-up/`.
fn old_path(link: &str) -> Option<String> {
    let u = url::Url::parse(link.trim()).ok()?;
    let mut p = u.path().to_string();
    if let Some(q) = u.query() {
        p.push('?');
        p.push_str(q);
    }
    (p != "/").then_some(p)
}

/// The part of an upload's URL below `wp-content/uploads/` (`2010/07/photo.jpg`), checked
/// to stay inside the uploads folder.
fn uploads_path(url: &str) -> Option<String> {
    let rest = url.split("/wp-content/uploads/").nth(1)?;
    let rest = rest.split(['?', '#']).next()?;
    let rest = percent_encoding::percent_decode_str(rest)
        .decode_utf8()
        .ok()?
        .to_string();
    let ok = !rest.is_empty()
        && rest
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
        && !rest.contains('\\');
    ok.then_some(rest)
}

/// The id of an imported comment: a keyed hash of the old site and the old ids, so the
/// same comment imported again is the same record.
fn comment_id(identity: &IdentityKey, site: &str, post: u64, comment: u64) -> String {
    identity.keyed_hash("wp-comment", &format!("{site}\u{0}{post}\u{0}{comment}"))[..20].to_string()
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An excerpt as plain text: tags dropped, whitespace collapsed.
fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    one_line(
        &out.replace("&amp;", "&")
            .replace("&#8217;", "’")
            .replace("&nbsp;", " "),
    )
}

fn open(path: &Path) -> Result<wxr::Reader<BufReader<std::fs::File>>, ImportError> {
    let file =
        std::fs::File::open(path).map_err(|e| ImportError::Read(path.display().to_string(), e))?;
    wxr::Reader::new(BufReader::with_capacity(64 * 1024, file)).map_err(|e| export_error(path, e))
}

fn export_error(path: &Path, source: wxr::WxrError) -> ImportError {
    ImportError::Export {
        file: path.display().to_string(),
        source,
    }
}

fn progress_bar(total: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} importing [{bar:40}] {bytes}/{total_bytes} ({eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}
