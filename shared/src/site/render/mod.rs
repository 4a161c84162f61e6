//! Rendering: domain values in, page bytes out. Pure (no I/O): the builder fetches and
//! stores, this module only turns data into HTML and XML through the theme's templates.
//!
//! The built-in theme is compiled in; files under `templates/` in the content store replace
//! built-in templates of the same name, so the look changes by uploading files.
//!
//! One file on purpose (about 800 lines): every page method builds its context the same way
//! from the same site data, and the escaping set-up (auto-escape by template, the XML
//! formatter) must be read next to the templates it protects.

use std::collections::{BTreeMap, HashMap};

use minijinja::{Environment, Value};
use serde::Serialize;

use crate::comments::{Comment, CommentKind};
use crate::dates::{human_date, parse_date, rfc3339};
use crate::markdown::{is_safe_url, post_to_html};
use crate::site::config::SiteConfig;
use crate::site::content::{quote_for, Page, PageSummary, Post, PostSummary, Quote};
use crate::site::photos::PhotoInfo;

/// The built-in templates, by name.
pub const BUILTIN_TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../theme/templates/base.html")),
    (
        "signup_panel.html",
        include_str!("../theme/templates/signup_panel.html"),
    ),
    (
        "photo_figure.html",
        include_str!("../theme/templates/photo_figure.html"),
    ),
    ("post.html", include_str!("../theme/templates/post.html")),
    ("page.html", include_str!("../theme/templates/page.html")),
    ("index.html", include_str!("../theme/templates/index.html")),
    (
        "signup.html",
        include_str!("../theme/templates/signup.html"),
    ),
    (
        "message.html",
        include_str!("../theme/templates/message.html"),
    ),
    (
        "moderation_queue.html",
        include_str!("../theme/templates/moderation_queue.html"),
    ),
    ("404.html", include_str!("../theme/templates/404.html")),
    ("feed.xml", include_str!("../theme/templates/feed.xml")),
    (
        "comments.xml",
        include_str!("../theme/templates/comments.xml"),
    ),
    (
        "sitemap.xml",
        include_str!("../theme/templates/sitemap.xml"),
    ),
];

/// The built-in stylesheet, published at `static/theme.css` unless the content store has one.
pub const BUILTIN_CSS: &[u8] = include_bytes!("../theme/static/theme.css");
pub const THEME_CSS_KEY: &str = "static/theme.css";

/// A template that does not compile or fails to render: names the template and the line.
#[derive(Debug, thiserror::Error)]
#[error("template {name}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct TemplateError {
    pub name: String,
    pub line: Option<usize>,
    pub message: String,
}

impl TemplateError {
    fn from_minijinja(fallback_name: &str, e: &minijinja::Error) -> Self {
        let mut message = e.kind().to_string();
        if let Some(d) = e.detail() {
            message = format!("{message}: {d}");
        }
        Self {
            name: e.name().unwrap_or(fallback_name).to_string(),
            line: e.line(),
            message,
        }
    }
}

/// The auto-escape mode of `.xml` templates: HTML's escaping, plus dropping what XML 1.0
/// does not allow (see [`is_xml_char`]).
const XML_ESCAPE: minijinja::AutoEscape = minijinja::AutoEscape::Custom("xml");

/// Which escaping a template gets: XML for `.xml` templates, HTML for every other one,
/// whatever its name (`.txt`, `.jinja`, no extension), so a partial a site owner uploads
/// under another name still prints visitors' text escaped. (minijinja's default escapes
/// only `.html`, `.htm` and `.xml`.)
fn auto_escape_for(name: &str) -> minijinja::AutoEscape {
    if name.ends_with(".xml") {
        XML_ESCAPE
    } else {
        minijinja::AutoEscape::Html
    }
}

/// A character XML 1.0 allows: tab, line feed, carriage return, and everything from U+0020
/// but U+FFFE and U+FFFF (surrogates cannot occur in a Rust string). A single other one
/// makes a whole feed unreadable.
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= '\u{20}' && !matches!(c, '\u{FFFE}' | '\u{FFFF}'))
}

/// `s` without the characters XML 1.0 does not allow.
pub fn strip_non_xml(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().all(is_xml_char) {
        std::borrow::Cow::Borrowed(s)
    } else {
        std::borrow::Cow::Owned(s.chars().filter(|c| is_xml_char(*c)).collect())
    }
}

/// Write `s` with `& < > " '` escaped (leaving `/` alone: minijinja's default writes
/// `&#x2f;`, which is valid but makes every URL unreadable).
fn write_html_escaped(out: &mut minijinja::Output<'_>, s: &str) -> std::fmt::Result {
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.write_str(&s[last..i])?;
        out.write_str(rep)?;
        last = i + 1;
    }
    out.write_str(&s[last..])
}

/// The formatter: HTML escaping for `& < > " '` in HTML templates; in `.xml` templates the
/// same, and every value (safe ones too) stripped of characters XML does not allow, so text
/// stored before validation refused them (imports, older comments) cannot break a feed.
fn escape_html_text(
    out: &mut minijinja::Output<'_>,
    state: &minijinja::State<'_, '_>,
    value: &Value,
) -> Result<(), minijinja::Error> {
    let mode = state.auto_escape();
    if mode == XML_ESCAPE {
        let text = match value.as_str() {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => std::borrow::Cow::Owned(value.to_string()),
        };
        let text = strip_non_xml(&text);
        if value.is_safe() {
            return Ok(out.write_str(&text)?);
        }
        return Ok(write_html_escaped(out, &text)?);
    }
    if mode == minijinja::AutoEscape::Html && !value.is_safe() {
        if let Some(s) = value.as_str() {
            return Ok(write_html_escaped(out, s)?);
        }
    }
    minijinja::escape_formatter(out, state, value)
}

/// The compiled theme.
pub struct Theme {
    env: Environment<'static>,
}

impl Theme {
    /// The built-in theme with `overrides` (template name → source) replacing built-ins.
    /// Every template is compiled here, so a broken upload is reported before anything is
    /// written.
    pub fn new(overrides: &[(String, String)]) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        // Templates are trusted (site owner's), but a typo in a variable name should show up
        // as an empty value, as in most template engines, not abort the build.
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
        env.set_formatter(escape_html_text);
        env.set_auto_escape_callback(auto_escape_for);
        let overridden: HashMap<&str, &str> = overrides
            .iter()
            .map(|(n, s)| (n.as_str(), s.as_str()))
            .collect();
        for (name, src) in BUILTIN_TEMPLATES {
            if !overridden.contains_key(name) {
                env.add_template(name, src)
                    .map_err(|e| TemplateError::from_minijinja(name, &e))?;
            }
        }
        for (name, src) in overrides {
            env.add_template_owned(name.clone(), src.clone())
                .map_err(|e| TemplateError::from_minijinja(name, &e))?;
        }
        Ok(Self { env })
    }

    fn render(&self, name: &str, ctx: Value) -> Result<String, TemplateError> {
        let tmpl = self
            .env
            .get_template(name)
            .map_err(|e| TemplateError::from_minijinja(name, &e))?;
        let out = tmpl
            .render(ctx)
            .map_err(|e| TemplateError::from_minijinja(name, &e))?;
        // An XML document whose template included an HTML partial, or printed a value marked
        // safe, still holds only characters XML allows.
        if name.ends_with(".xml") {
            if let std::borrow::Cow::Owned(stripped) = strip_non_xml(&out) {
                return Ok(stripped);
            }
        }
        Ok(out)
    }
}

#[derive(Serialize)]
struct SiteCtx<'a> {
    title: &'a str,
    description: &'a str,
    language: &'a str,
    base_path: String,
    base_url: &'a str,
    api_url: &'a str,
    hcaptcha_site_key: &'a str,
    /// Pingbacks and Webmentions received: post pages announce the endpoints.
    linkbacks: bool,
    nav: &'a [crate::site::config::NavLink],
    feed_url: String,
    signup_url: String,
    theme_css_url: String,
}

#[derive(Serialize)]
struct PageCtx<'a> {
    title: &'a str,
    url: String,
    path: &'a str,
    kind: &'a str,
}

#[derive(Serialize, Clone)]
pub struct PhotoCtx {
    src: String,
    width: u32,
    height: u32,
    alt: String,
    caption: Option<String>,
    credit: Option<String>,
    srcset_jpeg: String,
    srcset_webp: String,
    sizes: &'static str,
}

#[derive(Serialize)]
struct CommentCtx {
    id: String,
    author: String,
    website: Option<String>,
    published: String,
    published_human: String,
    /// Safe to print as is ([`crate::markdown::SafeHtml`]).
    body_html: crate::markdown::SafeHtml,
    kind: &'static str,
    children: Vec<CommentCtx>,
}

#[derive(Serialize)]
struct TeaserCtx<'a> {
    slug: &'a str,
    title: &'a str,
    url: String,
    published: &'a str,
    published_human: String,
    summary: &'a str,
    photo: Option<PhotoCtx>,
}

#[derive(Serialize)]
struct FormCtx {
    action: String,
    token: String,
    honeypot: &'static str,
}

/// The name of the hidden field that people leave empty and form-filling bots do not.
pub use crate::http::guard::HONEYPOT_FIELD;

/// What a re-shown form carries: errors by field, the visitor's text, a notice.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FormState {
    pub errors: HashMap<String, String>,
    pub values: HashMap<String, String>,
    pub notice: Option<String>,
}

/// A message page (thank-you, confirmed, unsubscribed, ...), optionally with a button.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub heading: String,
    pub body: String,
    pub action: Option<MessageAction>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageAction {
    pub url: String,
    pub label: String,
    pub method: &'static str,
    pub fields: Vec<HiddenField>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HiddenField {
    pub name: String,
    pub value: String,
}

/// One held comment on the moderator's list, as plain text (the template escapes it).
#[derive(Debug, Serialize)]
struct QueuedCommentCtx {
    /// The checkbox value: `<post>/<id>`.
    value: String,
    id: String,
    post: String,
    post_url: String,
    kind: &'static str,
    author: String,
    /// Shown as text, never linked.
    website: Option<String>,
    published: String,
    published_human: String,
    rules: Vec<crate::comments::spam::RuleHit>,
    score: i32,
    body: String,
}

/// Everything a page render needs besides the page's own data.
pub struct Renderer<'a> {
    pub config: &'a SiteConfig,
    pub quotes: &'a [Quote],
    pub theme: &'a Theme,
    /// MD5 of the published stylesheet, for its cache-busting URL.
    pub css_md5: &'a str,
    /// For the footer: the year of the newest post, so a rebuild gives the same bytes.
    pub year: i32,
    /// Links as absolute URLs: for pages the form functions serve from the API's address,
    /// where a site-relative link would point at the API.
    pub absolute_links: bool,
}

fn human(rfc: &str) -> String {
    parse_date(rfc).map(human_date).unwrap_or_default()
}

impl Renderer<'_> {
    fn base_ctx<'s>(
        &'s self,
        path: &'s str,
        kind: &'s str,
    ) -> (SiteCtx<'s>, PageCtx<'s>, Option<&'s Quote>) {
        let c = self.config;
        let base_path = self.base();
        let site = SiteCtx {
            title: &c.title,
            description: &c.description,
            language: &c.language,
            base_url: &c.base_url,
            api_url: &c.api_url,
            hcaptcha_site_key: &c.hcaptcha_site_key,
            linkbacks: c.linkbacks.enabled,
            nav: &c.nav,
            feed_url: c.url_for(crate::site::layout::site::FEED),
            signup_url: format!("{base_path}signup/"),
            theme_css_url: format!(
                "{base_path}{THEME_CSS_KEY}?v={}",
                &self.css_md5[..self.css_md5.len().min(10)]
            ),
            base_path,
        };
        // Pages are addressed without their base path; the page record carries the path.
        let page = PageCtx {
            title: "",
            url: c.url_for(path),
            path,
            kind,
        };
        (site, page, quote_for(self.quotes, path))
    }

    fn templated<S: Serialize>(
        &self,
        template: &str,
        title: &str,
        path: &str,
        kind: &str,
        extra: S,
    ) -> Result<String, TemplateError> {
        let (site, mut page, quote) = self.base_ctx(path, kind);
        page.title = title;
        let ctx = minijinja::context! {
            site => Value::from_serialize(&site),
            page => Value::from_serialize(&page),
            quote => Value::from_serialize(quote),
            build_year => self.year,
            ..Value::from_serialize(&extra)
        };
        self.theme.render(template, ctx)
    }

    /// What site links start with: the base path, or the base URL for absolute links.
    fn base(&self) -> String {
        if self.absolute_links {
            self.config.base_url.clone()
        } else {
            self.config.base_path()
        }
    }

    /// The URL (under the base path) of a site key.
    fn href(&self, key: &str) -> String {
        format!("{}{}", self.base(), key)
    }

    pub fn photo_ctx(
        &self,
        info: &PhotoInfo,
        alt: Option<&str>,
        caption: Option<&str>,
        credit: Option<&str>,
        fallback_alt: &str,
    ) -> PhotoCtx {
        let fb = info.fallback(960);
        let set = |f: fn(&crate::site::photos::Variant) -> &String| {
            info.variants
                .iter()
                .map(|v| format!("{} {}w", self.href(f(v)), v.width))
                .collect::<Vec<_>>()
                .join(", ")
        };
        PhotoCtx {
            src: self.href(&fb.jpeg),
            width: fb.width,
            height: fb.height,
            alt: alt.or(caption).unwrap_or(fallback_alt).to_string(),
            caption: caption.map(str::to_string),
            credit: credit.map(|c| c.strip_prefix("Photo:").unwrap_or(c).trim().to_string()),
            srcset_jpeg: set(|v| &v.jpeg),
            srcset_webp: set(|v| &v.webp),
            sizes: "(min-width: 62em) 46rem, 100vw",
        }
    }

    /// A post page with its approved comments (threaded) and the comment form.
    pub fn post_page(
        &self,
        post: &Post,
        photo: Option<&PhotoInfo>,
        comments: &[Comment],
        form_token: &str,
        form: Option<&FormState>,
    ) -> Result<String, TemplateError> {
        let path =
            crate::site::layout::url_path_of(&crate::site::layout::site::post_page(&post.slug));
        let published = rfc3339(post.published);
        #[derive(Serialize)]
        struct PostCtx<'a> {
            slug: &'a str,
            title: &'a str,
            url: String,
            published: &'a str,
            published_human: String,
            updated: Option<String>,
            updated_human: Option<String>,
            summary: String,
            tags: &'a [String],
            body_html: String,
            photo: Option<PhotoCtx>,
        }
        #[derive(Serialize)]
        struct Extra<'a> {
            post: PostCtx<'a>,
            comments: Vec<CommentCtx>,
            comment_count: usize,
            comment_form: FormCtx,
            comments_feed_url: String,
            form: Option<&'a FormState>,
        }
        let extra = Extra {
            post: PostCtx {
                slug: &post.slug,
                title: &post.title,
                url: self.config.url_for(&path),
                published: &published,
                published_human: human_date(post.published),
                updated: post.updated.map(rfc3339),
                updated_human: post.updated.map(human_date),
                summary: post
                    .summary
                    .clone()
                    .unwrap_or_else(|| crate::markdown::plain_summary(&post.body_md, 40)),
                tags: &post.tags,
                body_html: post_to_html(&post.body_md),
                photo: photo.map(|p| {
                    self.photo_ctx(
                        p,
                        post.photo_alt.as_deref(),
                        post.caption.as_deref(),
                        post.credit.as_deref(),
                        &post.title,
                    )
                }),
            },
            comments: thread(comments),
            comment_count: comments.len(),
            comment_form: FormCtx {
                action: format!("{}/posts/{}/comments", self.config.api_url, post.slug),
                token: form_token.to_string(),
                honeypot: HONEYPOT_FIELD,
            },
            comments_feed_url: self
                .config
                .url_for(&crate::site::layout::site::post_comments_feed(&post.slug)),
            form,
        };
        self.templated("post.html", &post.title, &path, "post", extra)
    }

    /// A page (`pages/<slug>.md`) at `/<slug>/`: title, the header photo as on posts, the
    /// body; "Updated" only when the front matter says so. No comments, no date line.
    pub fn page(&self, page: &Page, photo: Option<&PhotoInfo>) -> Result<String, TemplateError> {
        let path = crate::site::layout::page_url_path(&page.slug);
        #[derive(Serialize)]
        struct ArticleCtx<'a> {
            slug: &'a str,
            title: &'a str,
            url: String,
            updated: Option<String>,
            updated_human: Option<String>,
            summary: String,
            body_html: String,
            photo: Option<PhotoCtx>,
        }
        #[derive(Serialize)]
        struct Extra<'a> {
            article: ArticleCtx<'a>,
        }
        let extra = Extra {
            article: ArticleCtx {
                slug: &page.slug,
                title: &page.title,
                url: self.config.url_for(&path),
                updated: page.updated.map(rfc3339),
                updated_human: page.updated.map(human_date),
                summary: page
                    .summary
                    .clone()
                    .unwrap_or_else(|| crate::markdown::plain_summary(&page.body_md, 40)),
                body_html: post_to_html(&page.body_md),
                photo: photo.map(|p| {
                    self.photo_ctx(
                        p,
                        page.photo_alt.as_deref(),
                        page.caption.as_deref(),
                        page.credit.as_deref(),
                        &page.title,
                    )
                }),
            },
        };
        self.templated("page.html", &page.title, &path, "page", extra)
    }

    /// Listing page `n` (1-based) of `total`.
    pub fn index_page(
        &self,
        n: usize,
        total: usize,
        posts: &[&PostSummary],
        photos: &BTreeMap<String, PhotoInfo>,
    ) -> Result<String, TemplateError> {
        let key = crate::site::layout::site::index_page(n);
        let path = crate::site::layout::url_path_of(&key);
        let teasers: Vec<TeaserCtx> =
            posts
                .iter()
                .map(|p| TeaserCtx {
                    slug: &p.slug,
                    title: &p.title,
                    url: self.href(&format!("posts/{}/", p.slug)),
                    published: &p.published,
                    published_human: human(&p.published),
                    summary: &p.summary,
                    photo: p.photo.as_ref().and_then(|k| photos.get(k)).map(|info| {
                        self.photo_ctx(info, None, p.caption.as_deref(), None, &p.title)
                    }),
                })
                .collect();
        let page_url = |i: usize| {
            self.href(&crate::site::layout::url_path_of(
                &crate::site::layout::site::index_page(i),
            ))
        };
        #[derive(Serialize)]
        struct Pagination {
            current: usize,
            total: usize,
            prev_url: Option<String>,
            next_url: Option<String>,
        }
        #[derive(Serialize)]
        struct Extra<'a> {
            posts: Vec<TeaserCtx<'a>>,
            pagination: Pagination,
        }
        let extra = Extra {
            posts: teasers,
            pagination: Pagination {
                current: n,
                total,
                prev_url: (n > 1).then(|| page_url(n - 1)),
                next_url: (n < total).then(|| page_url(n + 1)),
            },
        };
        let title = if n <= 1 {
            self.config.title.clone()
        } else {
            format!("Page {n}")
        };
        self.templated("index.html", &title, &path, "index", extra)
    }

    /// The site's Atom feed of the newest posts.
    pub fn feed(&self, posts: &[&PostSummary]) -> Result<String, TemplateError> {
        let updated = posts
            .iter()
            .map(|p| p.updated.as_deref().unwrap_or(&p.published))
            .max()
            .unwrap_or("1970-01-01T00:00:00Z");
        let entries: Vec<_> = posts
            .iter()
            .map(|p| {
                let url = self.config.url_for(&format!("posts/{}/", p.slug));
                minijinja::context! {
                    title => p.title, id => url.clone(), url => url, published => p.published,
                    updated => p.updated.as_deref().unwrap_or(&p.published), summary => p.summary,
                }
            })
            .collect();
        let feed_url = self.config.url_for(crate::site::layout::site::FEED);
        let feed = minijinja::context! {
            title => self.config.title, url => feed_url.clone(), site_url => self.config.base_url, id => feed_url, updated => updated,
        };
        self.templated(
            "feed.xml",
            &self.config.title,
            crate::site::layout::site::FEED,
            "feed",
            minijinja::context! { feed, entries },
        )
    }

    /// One post's comments as an Atom feed.
    pub fn comments_feed(
        &self,
        post: &PostSummary,
        comments: &[Comment],
    ) -> Result<String, TemplateError> {
        let post_url = self.config.url_for(&format!("posts/{}/", post.slug));
        let feed_url = self
            .config
            .url_for(&crate::site::layout::site::post_comments_feed(&post.slug));
        let updated = comments
            .iter()
            .map(|c| c.created.as_str())
            .max()
            .unwrap_or(&post.published);
        let entries: Vec<_> = comments
            .iter()
            .rev()
            .map(|c| {
                let url = format!("{post_url}#comment-{}", c.id);
                minijinja::context! {
                    title => format!("Comment by {}", c.author), url => url.clone(), id => url,
                    published => c.created, updated => c.created, author => c.author, content_html => c.body_html,
                }
            })
            .collect();
        let feed = minijinja::context! {
            title => format!("Comments on {}", post.title), url => feed_url.clone(), site_url => post_url, id => feed_url, updated => updated,
        };
        let path = crate::site::layout::site::post_comments_feed(&post.slug);
        self.templated(
            "comments.xml",
            &post.title,
            &path,
            "feed",
            minijinja::context! { feed, entries },
        )
    }

    /// Every listing page, post and page (`pages`: by slug; `updated` as their `lastmod`),
    /// and the sign-up page.
    pub fn sitemap(
        &self,
        posts: &[&PostSummary],
        index_pages: usize,
        pages: &[&PageSummary],
    ) -> Result<String, TemplateError> {
        let mut urls: Vec<Value> = Vec::with_capacity(posts.len() + index_pages + pages.len() + 1);
        let newest = posts
            .first()
            .map(|p| p.updated.clone().unwrap_or_else(|| p.published.clone()));
        for n in 1..=index_pages.max(1) {
            let loc = self.config.url_for(&crate::site::layout::url_path_of(
                &crate::site::layout::site::index_page(n),
            ));
            urls.push(
                minijinja::context! { loc, lastmod => if n == 1 { newest.clone() } else { None } },
            );
        }
        for p in posts {
            urls.push(minijinja::context! {
                loc => self.config.url_for(&format!("posts/{}/", p.slug)),
                lastmod => p.updated.as_deref().unwrap_or(&p.published),
            });
        }
        for p in pages {
            urls.push(minijinja::context! {
                loc => self.config.url_for(&crate::site::layout::page_url_path(&p.slug)),
                lastmod => p.updated.as_deref(),
            });
        }
        urls.push(minijinja::context! { loc => self.config.url_for("signup/"), lastmod => None::<String> });
        self.templated(
            "sitemap.xml",
            "",
            crate::site::layout::site::SITEMAP,
            "sitemap",
            minijinja::context! { urls },
        )
    }

    pub fn not_found(&self) -> Result<String, TemplateError> {
        self.templated(
            "404.html",
            "Page not found",
            "404.html",
            "not_found",
            minijinja::context! {},
        )
    }

    pub fn signup_page(
        &self,
        form_token: &str,
        form: Option<&FormState>,
    ) -> Result<String, TemplateError> {
        let signup_form = FormCtx {
            action: format!("{}/signup", self.config.api_url),
            token: form_token.to_string(),
            honeypot: HONEYPOT_FIELD,
        };
        self.templated("signup.html", "Sign up", "signup/", "signup", minijinja::context! { signup_form => Value::from_serialize(&signup_form), form => Value::from_serialize(form) })
    }

    /// The moderator's list of held comments (`GET /moderate/queue`): each with its post,
    /// author, website, date, the rules that fired and its text, all as plain text; a
    /// checkbox each and one form (POST to `{api_url}/moderate/queue`, the signed `token`
    /// hidden) with approve, spam and delete buttons. `notice`: what the last action did.
    pub fn moderation_queue_page(
        &self,
        comments: &[Comment],
        token: &str,
        notice: Option<&str>,
    ) -> Result<String, TemplateError> {
        let items: Vec<QueuedCommentCtx> = comments
            .iter()
            .map(|c| QueuedCommentCtx {
                value: format!("{}/{}", c.post, c.id),
                id: c.id.clone(),
                post: c.post.clone(),
                post_url: self.href(&format!("posts/{}/", c.post)),
                kind: match c.kind {
                    CommentKind::Comment => "comment",
                    CommentKind::Pingback => "linkback",
                },
                author: c.author.clone(),
                website: c.website.clone(),
                published: c.created.clone(),
                published_human: human(&c.created),
                rules: c.spam_rules.clone(),
                score: c.spam_rules.iter().map(|h| h.points).sum(),
                body: c.body_md.clone(),
            })
            .collect();
        let queue_form = FormCtx {
            action: format!("{}/moderate/queue", self.config.api_url),
            token: token.to_string(),
            honeypot: HONEYPOT_FIELD,
        };
        self.templated(
            "moderation_queue.html",
            "Comments waiting for you",
            "moderate/queue/",
            "moderation",
            minijinja::context! {
                queue => minijinja::context! {
                    form => Value::from_serialize(&queue_form),
                    comments => Value::from_serialize(&items),
                    notice => notice,
                },
            },
        )
    }

    pub fn message_page(&self, path: &str, message: &Message) -> Result<String, TemplateError> {
        self.templated(
            "message.html",
            &message.heading,
            path,
            "message",
            minijinja::context! { message => Value::from_serialize(message) },
        )
    }
}

/// How deep replies nest on the page; replies below that level are listed flat.
const MAX_THREAD_DEPTH: usize = 8;

/// Replies under their parent; a reply whose parent is not shown goes to the top level.
fn thread(comments: &[Comment]) -> Vec<CommentCtx> {
    let ids: std::collections::HashSet<&str> = comments.iter().map(|c| c.id.as_str()).collect();
    let mut children: HashMap<&str, Vec<&Comment>> = HashMap::new();
    let mut roots = Vec::new();
    for c in comments {
        match c
            .parent
            .as_deref()
            .filter(|p| ids.contains(p) && *p != c.id)
        {
            Some(p) => children.entry(p).or_default().push(c),
            None => roots.push(c),
        }
    }
    /// Every reply below `id`, oldest first.
    fn descendants<'c>(
        id: &str,
        children: &HashMap<&str, Vec<&'c Comment>>,
        out: &mut Vec<&'c Comment>,
    ) {
        for k in children.get(id).into_iter().flatten() {
            out.push(k);
            descendants(&k.id, children, out);
        }
    }
    fn build(c: &Comment, children: &HashMap<&str, Vec<&Comment>>, depth: usize) -> CommentCtx {
        let kids = if depth + 2 < MAX_THREAD_DEPTH {
            children
                .get(c.id.as_str())
                .map(|v| v.iter().map(|k| build(k, children, depth + 1)).collect())
                .unwrap_or_default()
        } else {
            // At the deepest level a conversation goes on in one flat list, not off the page.
            let mut all = Vec::new();
            descendants(&c.id, children, &mut all);
            all.sort_by(|a, b| a.created.cmp(&b.created));
            all.into_iter()
                .map(|k| {
                    let mut leaf = build(k, &HashMap::new(), depth + 1);
                    leaf.children.clear();
                    leaf
                })
                .collect()
        };
        CommentCtx {
            id: c.id.clone(),
            author: c.author.clone(),
            website: c.website.clone().filter(|w| {
                is_safe_url(w) && (w.starts_with("http://") || w.starts_with("https://"))
            }),
            published: c.created.clone(),
            published_human: human(&c.created),
            body_html: c.body_html.clone(),
            kind: match c.kind {
                CommentKind::Comment => "comment",
                CommentKind::Pingback => "pingback",
            },
            children: kids,
        }
    }
    roots.into_iter().map(|c| build(c, &children, 0)).collect()
}

#[cfg(test)]
mod tests;
