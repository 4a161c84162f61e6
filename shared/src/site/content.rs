//! Posts and pages (Markdown with YAML front matter) and quotes, parsed from the content store.
//! Pure: bytes in, domain values or a [`ContentError`] naming the file and line out.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::dates::parse_date;
use crate::site::layout;

/// A content file that cannot be used: names the file, and the line where known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ContentError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl ContentError {
    pub fn new(file: &str, line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            file: file.to_string(),
            line,
            message: message.into(),
        }
    }
}

/// A post's front matter. A page's ([`PageFrontMatter`]) has the same keys except `date`
/// and `tags`; the keys they share are checked once, by [`Shared::check`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PostFrontMatter {
    title: String,
    #[serde(alias = "published")]
    date: String,
    #[serde(default)]
    updated: Option<String>,
    #[serde(default)]
    photo: Option<String>,
    #[serde(default)]
    photo_alt: Option<String>,
    #[serde(default)]
    caption: Option<String>,
    #[serde(default)]
    credit: Option<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    draft: bool,
}

/// A page's front matter: a post's without `date` and `tags` (an unknown key is an error).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageFrontMatter {
    title: String,
    #[serde(default)]
    updated: Option<String>,
    #[serde(default)]
    photo: Option<String>,
    #[serde(default)]
    photo_alt: Option<String>,
    #[serde(default)]
    caption: Option<String>,
    #[serde(default)]
    credit: Option<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    draft: bool,
}

/// The front-matter fields posts and pages share, as written.
struct Shared {
    title: String,
    updated: Option<String>,
    photo: Option<String>,
    photo_alt: Option<String>,
    caption: Option<String>,
    credit: Option<String>,
    summary: Option<String>,
}

/// The shared fields, checked: title not empty, `updated` a date, `photo` a key under `photos/`,
/// the texts trimmed (empty ones absent).
struct Checked {
    title: String,
    updated: Option<OffsetDateTime>,
    photo: Option<String>,
    photo_alt: Option<String>,
    caption: Option<String>,
    credit: Option<String>,
    summary: Option<String>,
}

/// A content file split into its front matter and its Markdown body.
struct Source<'a> {
    key: &'a str,
    /// The front matter's text: line 1 of it is line 2 of the file.
    fm_text: &'a str,
    body: &'a str,
}

impl Source<'_> {
    /// The file line of a front-matter field, where it can be found.
    fn field_line(&self, field: &str) -> Option<usize> {
        self.fm_text
            .lines()
            .position(|l| l.trim_start().starts_with(&format!("{field}:")))
            .map(|i| i + 2)
    }

    fn field_error(&self, field: &str, message: impl Into<String>) -> ContentError {
        ContentError::new(self.key, self.field_line(field), message)
    }
}

/// The slug of `<prefix><slug>.md`, or an error saying how such files are named.
fn slug_of_key<'a>(key: &'a str, prefix: &str, what: &str) -> Result<&'a str, ContentError> {
    key.strip_prefix(prefix)
        .and_then(|r| r.strip_suffix(".md"))
        .filter(|s| layout::is_valid_slug(s))
        .ok_or_else(|| {
            ContentError::new(
                key,
                None,
                format!("{what} files are named {prefix}<slug>.md, the slug in lower-case letters, digits, - and _"),
            )
        })
}

/// Split a content file into front matter and body, and deserialise the front matter
/// (unknown keys are errors, reported with their line).
fn read_source<'a, T: serde::de::DeserializeOwned>(
    key: &'a str,
    bytes: &'a [u8],
) -> Result<(Source<'a>, T), ContentError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| ContentError::new(key, None, format!("not UTF-8 text: {e}")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (fm_text, body) = split_front_matter(text).ok_or_else(|| {
        ContentError::new(
            key,
            Some(1),
            "expected front matter between `---` lines at the top of the file",
        )
    })?;
    // The front matter starts on line 2 (line 1 is `---`).
    let front_matter: T = serde_norway::from_str(fm_text).map_err(|e| {
        let line = e.location().map(|l| l.line() + 1).unwrap_or(2);
        ContentError::new(
            key,
            Some(line),
            format!("invalid front matter: {}", strip_location(&e.to_string())),
        )
    })?;
    Ok((Source { key, fm_text, body }, front_matter))
}

impl Shared {
    fn check(self, src: &Source<'_>) -> Result<Checked, ContentError> {
        if self.title.trim().is_empty() {
            return Err(src.field_error("title", "title is empty"));
        }
        let updated = self
            .updated
            .as_deref()
            .map(parse_date)
            .transpose()
            .map_err(|m| src.field_error("updated", m))?;
        let photo = match self
            .photo
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            None => None,
            Some(p) => Some(normalise_photo_key(p).ok_or_else(|| {
                src.field_error(
                    "photo",
                    format!(
                        "photo `{p}` must name an image under photos/ (jpg, jpeg, png or webp)"
                    ),
                )
            })?),
        };
        let clean = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        Ok(Checked {
            title: self.title.trim().to_string(),
            updated,
            photo,
            photo_alt: clean(self.photo_alt),
            caption: clean(self.caption),
            credit: clean(self.credit),
            summary: clean(self.summary),
        })
    }
}

/// A parsed post. `body_md` is kept as written; rendering happens in [`crate::site::render`].
#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    pub slug: String,
    pub title: String,
    pub published: OffsetDateTime,
    pub updated: Option<OffsetDateTime>,
    /// Content key of the header photo, e.g. `photos/hall.jpg`.
    pub photo: Option<String>,
    pub photo_alt: Option<String>,
    pub caption: Option<String>,
    pub credit: Option<String>,
    pub summary: Option<String>,
    pub tags: Vec<String>,
    pub draft: bool,
    pub body_md: String,
}

/// A parsed page (`pages/<slug>.md`, published at `/<slug>/`): a post without date, tags or
/// comments, not listed and not in the feed.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub slug: String,
    pub title: String,
    pub updated: Option<OffsetDateTime>,
    /// Content key of the header photo, e.g. `photos/hall.jpg`.
    pub photo: Option<String>,
    pub photo_alt: Option<String>,
    pub caption: Option<String>,
    pub credit: Option<String>,
    pub summary: Option<String>,
    pub draft: bool,
    pub body_md: String,
}

/// What the listing pages, feeds and sitemap need to know of a post, kept in the post index
/// so that one changed post does not mean reading every post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostSummary {
    pub slug: String,
    pub title: String,
    /// RFC 3339, UTC.
    pub published: String,
    pub updated: Option<String>,
    pub summary: String,
    pub photo: Option<String>,
    pub caption: Option<String>,
    pub draft: bool,
    /// MD5 of the source bytes, to tell an unchanged upload from a changed one.
    pub source_md5: String,
}

/// What the sitemap and the builder's memory need of a published page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageSummary {
    pub slug: String,
    /// RFC 3339, UTC, when the front matter gives `updated`: the sitemap's `lastmod`.
    pub updated: Option<String>,
    /// Content key of the header photo: a change to it re-renders the page.
    pub photo: Option<String>,
}

impl Page {
    pub fn summary(&self) -> PageSummary {
        PageSummary {
            slug: self.slug.clone(),
            updated: self.updated.map(crate::dates::rfc3339),
            photo: self.photo.clone(),
        }
    }
}

/// Parse `posts/<slug>.md`.
pub fn parse_post(key: &str, bytes: &[u8]) -> Result<Post, ContentError> {
    let slug = slug_of_key(key, layout::content::POSTS, "post")?;
    let (src, fm) = read_source::<PostFrontMatter>(key, bytes)?;
    let PostFrontMatter {
        title,
        date,
        updated,
        photo,
        photo_alt,
        caption,
        credit,
        summary,
        tags,
        draft,
    } = fm;
    let c = Shared {
        title,
        updated,
        photo,
        photo_alt,
        caption,
        credit,
        summary,
    }
    .check(&src)?;
    let date_field = if src.fm_text.contains("published:") {
        "published"
    } else {
        "date"
    };
    let published = parse_date(&date).map_err(|m| src.field_error(date_field, m))?;
    Ok(Post {
        slug: slug.to_string(),
        title: c.title,
        published,
        updated: c.updated,
        photo: c.photo,
        photo_alt: c.photo_alt,
        caption: c.caption,
        credit: c.credit,
        summary: c.summary,
        tags: tags
            .into_iter()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect(),
        draft,
        body_md: src.body.to_string(),
    })
}

/// Parse `pages/<slug>.md`. A slug the site's own pages or routes use (`posts`, `signup`,
/// …; see [`layout::RESERVED_PAGE_SLUGS`]) is refused.
pub fn parse_page(key: &str, bytes: &[u8]) -> Result<Page, ContentError> {
    let slug = slug_of_key(key, layout::content::PAGES, "page")?;
    if layout::is_reserved_page_slug(slug) {
        return Err(ContentError::new(
            key,
            None,
            format!(
                "the address /{slug}/ belongs to the site itself (reserved: {}): rename the file",
                layout::RESERVED_PAGE_SLUGS.join(", ")
            ),
        ));
    }
    let (src, fm) = read_source::<PageFrontMatter>(key, bytes)?;
    let PageFrontMatter {
        title,
        updated,
        photo,
        photo_alt,
        caption,
        credit,
        summary,
        draft,
    } = fm;
    let c = Shared {
        title,
        updated,
        photo,
        photo_alt,
        caption,
        credit,
        summary,
    }
    .check(&src)?;
    Ok(Page {
        slug: slug.to_string(),
        title: c.title,
        updated: c.updated,
        photo: c.photo,
        photo_alt: c.photo_alt,
        caption: c.caption,
        credit: c.credit,
        summary: c.summary,
        draft,
        body_md: src.body.to_string(),
    })
}

fn strip_location(msg: &str) -> String {
    // serde_norway appends " at line X column Y"; we report our own (file-relative) line.
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

fn split_front_matter(text: &str) -> Option<(&str, &str)> {
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))?;
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            let fm = &rest[..offset];
            let body = &rest[offset + line.len()..];
            return Some((fm, body));
        }
        offset += line.len();
    }
    None
}

/// `/photos/a.jpg`, `photos/a.jpg` and `a.jpg` all name the content key `photos/a.jpg`.
fn normalise_photo_key(p: &str) -> Option<String> {
    let p = p.trim_start_matches('/');
    let key = if p.starts_with(layout::content::PHOTOS) {
        p.to_string()
    } else {
        format!("{}{p}", layout::content::PHOTOS)
    };
    (crate::site::photos::is_photo_key(&key) && !key.split('/').any(|s| s == ".." || s.is_empty()))
        .then_some(key)
}

/// A quote for the banner, with attribution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quote {
    pub text: String,
    pub author: String,
    #[serde(default)]
    pub source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotesFile {
    #[serde(default, rename = "quote")]
    quotes: Vec<Quote>,
}

/// Parse `quotes.toml`: `[[quote]]` tables with `text`, `author` and optional `source`.
pub fn parse_quotes(bytes: &[u8]) -> Result<Vec<Quote>, ContentError> {
    let file = layout::content::QUOTES;
    let text = std::str::from_utf8(bytes)
        .map_err(|e| ContentError::new(file, None, format!("not UTF-8: {e}")))?;
    let parsed: QuotesFile = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        ContentError::new(file, line, e.message().to_string())
    })?;
    Ok(parsed
        .quotes
        .into_iter()
        .filter(|q| !q.text.trim().is_empty())
        .collect())
}

/// The quote for a page: chosen from the page's path, so every rebuild picks the same one
/// and neighbouring pages usually differ.
pub fn quote_for<'q>(quotes: &'q [Quote], page_path: &str) -> Option<&'q Quote> {
    if quotes.is_empty() {
        return None;
    }
    // FNV-1a: stable across Rust versions and platforms, unlike std's hasher.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in page_path.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    quotes.get((h % quotes.len() as u64) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dates::{human_date, rfc3339};

    const GOOD: &str = "---\ntitle: \"The Big Link-Up\"\ndate: 2010-07-21\nphoto: /photos/south-bank.jpg\ncaption: South Bank cultural campus.\ncredit: Olivia Hemingway\ntags: [events, schools]\n---\n\nBody *here*.\n";

    #[test]
    fn parses_front_matter_and_body() {
        let p = parse_post("posts/big-link-up.md", GOOD.as_bytes()).unwrap();
        assert_eq!(p.slug, "big-link-up");
        assert_eq!(p.title, "The Big Link-Up");
        assert_eq!(human_date(p.published), "21 July 2010");
        assert_eq!(p.photo.as_deref(), Some("photos/south-bank.jpg"));
        assert_eq!(p.credit.as_deref(), Some("Olivia Hemingway"));
        assert_eq!(p.tags, vec!["events", "schools"]);
        assert_eq!(p.body_md.trim(), "Body *here*.");
        assert!(!p.draft);
    }

    #[test]
    fn reports_the_line_of_a_front_matter_error() {
        let bad = "---\ntitle: ok\ndate: 2010-07-21\ntags: [unclosed\n---\nbody";
        let e = parse_post("posts/x.md", bad.as_bytes()).unwrap_err();
        assert_eq!(e.file, "posts/x.md");
        assert!(matches!(e.line, Some(4) | Some(5)), "{e}");
        assert!(e.to_string().starts_with("posts/x.md:"), "{e}");
    }

    #[test]
    fn reports_the_line_of_a_bad_date_and_unknown_field() {
        let bad = "---\ntitle: ok\ndate: 21/07/2010\n---\nbody";
        let e = parse_post("posts/x.md", bad.as_bytes()).unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.contains("21/07/2010"));
        let bad = "---\ntitle: ok\ndate: 2010-07-21\ncaptoin: typo\n---\nbody";
        let e = parse_post("posts/x.md", bad.as_bytes()).unwrap_err();
        assert_eq!(e.line, Some(4), "{e}");
        assert!(e.message.contains("captoin"), "{e}");
    }

    #[test]
    fn missing_front_matter_and_bad_photo_are_errors() {
        let e = parse_post("posts/x.md", b"just text").unwrap_err();
        assert_eq!(e.line, Some(1));
        let e = parse_post(
            "posts/x.md",
            b"---\ntitle: a\ndate: 2010-01-01\nphoto: ../etc/passwd\n---\n",
        )
        .unwrap_err();
        assert_eq!(e.line, Some(4), "{e}");
    }

    #[test]
    fn parses_a_page() {
        let text = "---\ntitle: \" About us \"\nsummary: Who we are.\nupdated: 2012-03-04\nphoto: hall.jpg\nphoto_alt: A hall\ncaption: The hall.\ncredit: A. Name\n---\n\nWe *are*.\n";
        let p = parse_page("pages/about.md", text.as_bytes()).unwrap();
        assert_eq!(p.slug, "about");
        assert_eq!(p.title, "About us");
        assert_eq!(p.summary.as_deref(), Some("Who we are."));
        assert_eq!(human_date(p.updated.unwrap()), "4 March 2012");
        assert_eq!(p.photo.as_deref(), Some("photos/hall.jpg"));
        assert_eq!(p.photo_alt.as_deref(), Some("A hall"));
        assert_eq!(p.caption.as_deref(), Some("The hall."));
        assert_eq!(p.credit.as_deref(), Some("A. Name"));
        assert_eq!(p.body_md.trim(), "We *are*.");
        assert!(!p.draft);
        let p = parse_page("pages/x.md", b"---\ntitle: X\ndraft: true\n---\n").unwrap();
        assert!(p.draft && p.updated.is_none() && p.photo.is_none());
    }

    #[test]
    fn page_errors_name_the_file_and_line() {
        // Pages have no date or tags: those are unknown keys, like any typo.
        for (text, field, line) in [
            ("---\ntitle: ok\ndate: 2010-07-21\n---\nbody", "date", 3),
            ("---\ntitle: ok\n\ntags: [a]\n---\nbody", "tags", 4),
            ("---\ntitle: ok\ncaptoin: typo\n---\nbody", "captoin", 3),
        ] {
            let e = parse_page("pages/x.md", text.as_bytes()).unwrap_err();
            assert_eq!((e.file.as_str(), e.line), ("pages/x.md", Some(line)), "{e}");
            assert!(e.message.contains(field), "{e}");
        }
        let e = parse_page("pages/x.md", b"---\nsummary: s\n---\nbody").unwrap_err();
        assert!(e.message.contains("title"), "{e}");
        let e = parse_page("pages/x.md", b"---\ntitle: \" \"\n---\nbody").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        let e = parse_page("pages/x.md", b"---\ntitle: t\nupdated: soon\n---\n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        let e = parse_page("pages/x.md", b"---\ntitle: t\nphoto: ../x.jpg\n---\n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        let e = parse_page("pages/x.md", b"no front matter").unwrap_err();
        assert_eq!(e.line, Some(1), "{e}");
    }

    #[test]
    fn pages_may_not_take_the_sites_own_addresses() {
        for slug in [
            "posts", "page", "photos", "static", "signup", "feed", "404", "_old",
        ] {
            let key = format!("pages/{slug}.md");
            let e = parse_page(&key, b"---\ntitle: t\n---\n").unwrap_err();
            assert_eq!(e.file, key);
            assert!(e.message.contains("belongs to the site"), "{e}");
        }
        for key in ["pages/Bad Slug.md", "pages/feed.xml.md", "posts/about.md"] {
            let e = parse_page(key, b"---\ntitle: t\n---\n").unwrap_err();
            assert!(e.message.contains("pages/<slug>.md"), "{e}");
        }
    }

    #[test]
    fn dates_in_several_shapes() {
        assert_eq!(
            rfc3339(parse_date("2010-07-21").unwrap()),
            "2010-07-21T00:00:00Z"
        );
        assert_eq!(
            rfc3339(parse_date("2010-07-21T10:30:00+01:00").unwrap()),
            "2010-07-21T09:30:00Z"
        );
        assert_eq!(
            rfc3339(parse_date("2010-07-21 10:30").unwrap()),
            "2010-07-21T10:30:00Z"
        );
    }

    #[test]
    fn quotes_parse_and_choice_is_stable() {
        let q = parse_quotes(b"[[quote]]\ntext = \"A\"\nauthor = \"X\"\n[[quote]]\ntext = \"B\"\nauthor = \"Y\"\nsource = \"S\"\n").unwrap();
        assert_eq!(q.len(), 2);
        let a = quote_for(&q, "posts/a/").unwrap().clone();
        assert_eq!(quote_for(&q, "posts/a/").unwrap(), &a);
        let e = parse_quotes(b"[[quote]]\ntext = \"A\"\n").unwrap_err();
        assert_eq!(e.line, Some(1), "{e}");
    }
}
