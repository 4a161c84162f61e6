//! Fuzz targets: one `pub fn <target>(data: &[u8])` for every parser and rule that reads
//! outside input. Each feeds the bytes to the real code and panics when an invariant
//! breaks: beyond "no panic", rendered HTML holds no script-bearing markup, rendered feeds
//! are well-formed XML, and parse → print → parse gives back what it started from.
//!
//! `fuzz/` (not a workspace member) drives these with libFuzzer; `tests/replay.rs` replays
//! the kept corpora (`fuzz/corpus/<target>/`) through them as an ordinary test.

pub mod check;

use std::collections::{BTreeMap, HashMap};
use std::io::Cursor;
use std::sync::OnceLock;

use serde_json::Value;
use time::OffsetDateTime;

use check::{assert_inert_html, assert_page_inert, assert_xml, fields, scan_html};
use shared::comments::{Comment, CommentKind, CommentStatus};
use shared::site::config::SiteConfig;
use shared::site::content::{PostSummary, Quote};
use shared::site::render::{Renderer, Theme, BUILTIN_TEMPLATES};

/// A fuzz target: takes any bytes, panics when an invariant breaks.
pub type Target = fn(&[u8]);

/// Every target, by name (the `fuzz/` binaries and the corpus folders use these names).
pub const TARGETS: &[(&str, Target)] = &[
    ("form", form),
    ("content", content),
    ("comment", comment),
    ("spam", spam),
    ("s3_key", s3_key),
    ("events", events),
    ("tokens", tokens),
    ("config", config),
    ("template", template),
    ("redirects", redirects),
    ("dates", dates),
    ("mail", mail),
    ("xmlrpc", xmlrpc),
    ("webmention", webmention),
    ("address", address),
    ("wxr", wxr),
    ("wp_body", wp_body),
];

/// A fixed time, so runs are reproducible.
fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_750_000_000).expect("a valid time")
}

fn keys() -> shared::signing::Keys {
    shared::signing::Keys::from_master(b"fuzzing-key-fuzzing-key-fuzzing-key-0123")
        .expect("a 40-byte key")
}

/// The sample site's configuration and the built-in theme.
struct Site {
    config: SiteConfig,
    theme: Theme,
    quotes: Vec<Quote>,
    /// The scripts the built-in theme's post page has (hCaptcha, the reply script).
    theme_scripts: Vec<String>,
}

fn site() -> &'static Site {
    static SITE: OnceLock<Site> = OnceLock::new();
    SITE.get_or_init(|| {
        let config = SiteConfig::parse(include_str!("../../sample/content/site.toml"))
            .expect("the sample site.toml parses");
        let quotes =
            shared::site::content::parse_quotes(include_bytes!("../../sample/content/quotes.toml"))
                .expect("the sample quotes parse");
        let theme = Theme::new(&[]).expect("the built-in theme compiles");
        let mut s = Site {
            config,
            theme,
            quotes,
            theme_scripts: Vec::new(),
        };
        let post = sample_post();
        let page = renderer(&s)
            .post_page(&post, None, &[], "token", None)
            .expect("the sample post renders");
        let mut scripts = scan_html(&page).scripts;
        let signup = renderer(&s)
            .signup_page("token", None)
            .expect("the sign-up page renders");
        scripts.extend(scan_html(&signup).scripts);
        s.theme_scripts = scripts;
        s
    })
}

fn renderer(s: &Site) -> Renderer<'_> {
    renderer_with(s, &s.theme)
}

fn renderer_with<'a>(s: &'a Site, theme: &'a Theme) -> Renderer<'a> {
    Renderer {
        config: &s.config,
        quotes: &s.quotes,
        theme,
        css_md5: "0123456789abcdef0123456789abcdef",
        year: 2025,
        absolute_links: false,
    }
}

fn sample_post() -> shared::site::content::Post {
    shared::site::content::parse_post(
        "posts/hello.md",
        b"---\ntitle: Hello\ndate: 2024-05-01\n---\nA *post*.\n",
    )
    .expect("the sample post parses")
}

fn summary_of(post: &shared::site::content::Post) -> PostSummary {
    PostSummary {
        slug: post.slug.clone(),
        title: post.title.clone(),
        published: shared::dates::rfc3339(post.published),
        updated: post.updated.map(shared::dates::rfc3339),
        summary: post
            .summary
            .clone()
            .unwrap_or_else(|| shared::markdown::plain_summary(&post.body_md, 40)),
        photo: post.photo.clone(),
        caption: post.caption.clone(),
        draft: post.draft,
        source_md5: String::new(),
    }
}

fn comment_of(author: &str, website: Option<&str>, body_md: &str) -> Comment {
    Comment {
        id: "c0ffee".into(),
        post: "hello".into(),
        parent: None,
        author: author.into(),
        website: website.map(str::to_string),
        body_md: body_md.into(),
        body_html: shared::markdown::comment_to_html(body_md),
        status: CommentStatus::Approved,
        kind: CommentKind::Comment,
        created: "2025-01-02T03:04:05Z".into(),
        email_hash: None,
        ip_hash: None,
        spam_rules: Vec::new(),
    }
}

/// Whether this input also goes through the slow checks (a whole page rendered and
/// scanned, a model trained): they cost twenty times what the rest of a target does, and
/// the part of a page that varies (escaped fields) is small, so one input in eight (chosen
/// by its bytes, so a replay does the same) is enough and the fuzzer stays fast.
fn full_page_check(data: &[u8]) -> bool {
    let mut h: u32 = 0x811c9dc5;
    for b in data {
        h = (h ^ u32::from(*b)).wrapping_mul(0x01000193);
    }
    h.is_multiple_of(8)
}

/// The post's comment feed with these comments is well-formed; with `page`, the post page
/// is inert but for the theme's own scripts.
fn render_with_comments(what: &str, comments: &[Comment], page: bool) {
    let s = site();
    let r = renderer(s);
    let post = sample_post();
    if page {
        let html = r
            .post_page(&post, None, comments, "token", None)
            .expect("a post page renders");
        assert_page_inert(what, &html, &s.theme_scripts);
    }
    let feed = r
        .comments_feed(&summary_of(&post), comments)
        .expect("a comment feed renders");
    assert_xml(what, &feed);
}

// -------------------------------------------------------------------------------------
// Forms and JSON bodies

const CONTENT_TYPES: &[&str] = &[
    "application/x-www-form-urlencoded",
    "application/json",
    "application/x-www-form-urlencoded; charset=UTF-8",
    "application/json; charset=utf-8",
    "text/plain",
    "",
];

/// A form post or JSON body (the first byte picks the content type), through
/// `parse_form`/`form_values` and the comment and sign-up field rules.
pub fn form(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let ct = CONTENT_TYPES[sel as usize % CONTENT_TYPES.len()];
    let req = lambda_http::http::Request::builder()
        .method("POST")
        .uri("https://api.example.org/posts/hello/comments")
        .header("content-type", ct)
        .body(lambda_http::Body::Binary(body.to_vec()))
        .expect("a request");
    let _ = shared::http::web::form_values(&req, "topics");
    let Ok(form) = shared::http::web::parse_form(&req) else {
        return;
    };
    for value in form.0.values() {
        field_rules(value);
    }
    if let Ok(input) = shared::comments::submit::validate(&form) {
        assert_eq!(
            shared::http::fields::clean_line(&input.name).as_deref(),
            Some(input.name.as_str()),
            "an accepted name is one clean line"
        );
        assert!(
            shared::http::fields::is_clean_text(&input.body),
            "an accepted body has no control characters: {:?}",
            input.body
        );
        assert!(shared::http::fields::is_plausible_email(input.email.trim()));
        if let Some(w) = &input.website {
            assert!(
                shared::markdown::is_safe_url(w),
                "an accepted website is a safe URL: {w:?}"
            );
        }
        let c = comment_of(&input.name, input.website.as_deref(), &input.body);
        assert_inert_html("accepted comment", &c.body_html);
    }
    let signup = shared::supporters::SignupFields {
        name: form.get("name"),
        email: form.get("email"),
        supporter_type: form.get("supporter_type"),
        organisation: form.get("organisation"),
        newsletter: form.flag("newsletter"),
    };
    if let Ok(s) = shared::supporters::validate(&signup) {
        assert_eq!(
            shared::http::fields::clean_line(&s.name).as_deref(),
            Some(s.name.as_str())
        );
        assert_eq!(
            shared::http::fields::validate_email(&s.email).as_deref(),
            Ok(s.email.as_str()),
            "an accepted address is accepted again unchanged"
        );
        if let Some(o) = &s.organisation {
            assert_eq!(
                shared::http::fields::clean_line(o).as_deref(),
                Some(o.as_str())
            );
        }
    }
}

/// The single-field rules: cleaning is idempotent, an accepted address stays accepted.
fn field_rules(value: &str) {
    use shared::http::fields::*;
    if let Some(line) = clean_line(value) {
        assert_eq!(
            clean_line(&line).as_deref(),
            Some(line.as_str()),
            "clean_line is idempotent"
        );
        assert!(!line.chars().any(is_bidi_or_invisible));
    }
    if let Ok(email) = validate_email(value) {
        assert_eq!(validate_email(&email).as_deref(), Ok(email.as_str()));
        assert!(is_plausible_email(&email));
    }
    if let Some(u) = ascii_url(value) {
        assert!(u.is_ascii(), "ascii_url gives ASCII: {u:?}");
    }
    let _ = is_clean_text(value);
    let _ = shared::supporters::mail_name(value);
}

// -------------------------------------------------------------------------------------
// Content: posts and pages (front matter + Markdown), rendered

/// `posts/<slug>.md` or `pages/<slug>.md` (first byte), parsed and rendered: the page has
/// no script but the theme's (checked on one input in eight, [`full_page_check`]), the body
/// HTML none at all, the feed is well-formed.
pub fn content(data: &[u8]) {
    let Some((&sel, bytes)) = data.split_first() else {
        return;
    };
    let s = site();
    let r = renderer(s);
    if sel % 2 == 0 {
        let Ok(post) = shared::site::content::parse_post("posts/fuzz.md", bytes) else {
            return;
        };
        assert!(shared::site::layout::is_valid_slug(&post.slug));
        assert_inert_html("post body", &shared::markdown::post_to_html(&post.body_md));
        // The whole page (the body above inside the theme) one input in eight.
        if full_page_check(data) {
            let page = r
                .post_page(&post, None, &[], "token", None)
                .expect("a parsed post renders");
            assert_page_inert("post page", &page, &s.theme_scripts);
        }
        let summary = summary_of(&post);
        let feed = r.feed(&[&summary]).expect("the feed renders");
        assert_xml("site feed", &feed);
        let sitemap = r.sitemap(&[&summary], 1, &[]).expect("the sitemap renders");
        assert_xml("sitemap", &sitemap);
    } else {
        let Ok(page) = shared::site::content::parse_page("pages/fuzz.md", bytes) else {
            return;
        };
        assert_inert_html("page body", &shared::markdown::post_to_html(&page.body_md));
        if full_page_check(data) {
            let html = r.page(&page, None).expect("a parsed page renders");
            assert_page_inert("page", &html, &s.theme_scripts);
        }
        let sitemap = r
            .sitemap(&[], 1, &[&page.summary()])
            .expect("the sitemap renders");
        assert_xml("sitemap", &sitemap);
    }
}

// -------------------------------------------------------------------------------------
// Comments: Markdown + sanitiser, feeds, the moderation queue

const COMMENT_TAGS: &[&str] = &[
    "p",
    "br",
    "em",
    "strong",
    "del",
    "a",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
];

/// A visitor's name, website and text (fields split at 0xFF): the sanitised HTML has only
/// the allowed tags and nothing that runs; the post page, its comment feed and the
/// moderation queue stay inert and well-formed, whether or not the form rules passed the
/// text (imports and older records were not validated).
pub fn comment(data: &[u8]) {
    let f = fields(data, 3);
    let (author, website, body) = (&f[0], &f[1], &f[2]);
    let html = shared::markdown::comment_to_html(body);
    assert_inert_html("comment HTML", &html);
    for tag in scan_html(&html).tags {
        assert!(
            COMMENT_TAGS.contains(&tag.as_str()),
            "comment HTML has <{tag}>: {html}"
        );
    }
    let _ = shared::markdown::plain_summary(body, 40);
    let website = (!website.is_empty()).then_some(website.as_str());
    let c = comment_of(author, website, body);
    let page = full_page_check(data);
    render_with_comments("comment", std::slice::from_ref(&c), page);
    if !page {
        return;
    }
    let mut held = c.clone();
    held.status = CommentStatus::Held;
    let queue = renderer(site())
        .moderation_queue_page(&[held], "token", Some(body))
        .expect("the queue renders");
    assert_page_inert("moderation queue", &queue, &site().theme_scripts);
}

// -------------------------------------------------------------------------------------
// Spam rules and the classifier

/// Author, website, text and a blocklist (fields split at 0xFF) through the rules and the
/// shipped classifier: the verdict adds up and probabilities stay probabilities.
pub fn spam(data: &[u8]) {
    use shared::comments::spam::{verify, Blocklist, History, Statistical, Submission, SPAM_AT};
    let f = fields(data, 4);
    let (author, website, body, list) = (&f[0], &f[1], &f[2], &f[3]);
    let blocklist = Blocklist::parse(list);
    let model = shared::comments::filter::prior();
    let statistical = Statistical {
        model,
        spam_at: 0.9,
        approve_below: 0.5,
    };
    let website = (!website.is_empty()).then_some(website.as_str());
    for (duplicate, trusted_author) in [(false, false), (true, true)] {
        let v = verify(
            &Submission {
                author,
                website,
                body,
            },
            &blocklist,
            History {
                duplicate,
                trusted_author,
            },
            Some(&statistical),
        );
        let sum: i32 = v.hits.iter().map(|h| h.points).sum();
        assert_eq!(sum, v.score);
        let expected = if v.score >= SPAM_AT {
            CommentStatus::Spam
        } else if v.score > 0 {
            CommentStatus::Held
        } else {
            CommentStatus::Approved
        };
        assert_eq!(v.status, expected);
        if duplicate {
            assert_eq!(
                v.status,
                CommentStatus::Spam,
                "a duplicate is never let through"
            );
        }
    }
    let _ = blocklist.blocks_url(body);
    if let Some(w) = website {
        let _ = blocklist.blocks_url(w);
    }
    let text = shared::comments::spam::classifier_text(author, body);
    let score = model.score(&text);
    assert!(
        score.p_spam.is_finite() && (0.0..=1.0).contains(&score.p_spam),
        "p_spam {}",
        score.p_spam
    );
    if !full_page_check(data) {
        return;
    }
    // Training a site's model is the slow part: one input in eight.
    let site_model =
        shared::comments::filter::site_model(&[(text.clone(), true), (list.clone(), false)]);
    let p = site_model.score(&text).p_spam;
    assert!(p.is_finite() && (0.0..=1.0).contains(&p), "p_spam {p}");
}

// -------------------------------------------------------------------------------------
// S3 keys and events, stream records

/// A content key as S3 sends it (URL-encoded), decoded and classified.
pub fn s3_key(data: &[u8]) {
    use shared::site::layout::{classify, is_valid_slug, object_meta, url_path_of, ContentChange};
    let raw = String::from_utf8_lossy(data);
    let key = render::handler::decode_key(&raw);
    for k in [raw.as_ref(), key.as_str()] {
        match classify(k) {
            ContentChange::Post { slug } => {
                assert!(is_valid_slug(&slug));
                assert_eq!(k, format!("posts/{slug}.md"));
            }
            ContentChange::Page { slug } => {
                assert!(is_valid_slug(&slug));
                assert_eq!(k, format!("pages/{slug}.md"));
            }
            ContentChange::Static { key } | ContentChange::Photo { key } => {
                assert!(
                    !key.split('/').any(|p| p == ".."),
                    "a key with `..` is served: {key:?}"
                );
            }
            ContentChange::Everything | ContentChange::Ignored => {}
        }
        let _ = object_meta(k);
        let _ = url_path_of(k);
        let _ = shared::site::layout::is_reserved_page_slug(k);
    }
}

const CONTENT_BUCKET: &str = "campaign-content-123456789012-eu-west-2";

/// A Lambda payload as JSON: the render function's event classification, and the stream
/// decoding spam-verify and linkback-verify do; comment and mention records read from a
/// stream survive a write and a read back unchanged.
pub fn events(data: &[u8]) {
    let Ok(payload) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let _ = payload.get("rescore").and_then(Value::as_str);
    let _ = render::handler::parse_event(payload.clone(), Some(CONTENT_BUCKET));
    let _ = render::handler::parse_event(payload.clone(), None);
    let Ok(stream) =
        serde_json::from_value::<aws_lambda_events::event::dynamodb::Event>(payload.clone())
    else {
        return;
    };
    let Ok(changes) = shared::adapters::aws::changes_from_stream(&stream) else {
        return;
    };
    let _ = shared::comments::posts_with_changed_comments(&changes);
    for c in spam_verify::handler::newly_pending(&changes) {
        let item = c
            .to_item()
            .expect("a comment read from a record writes back");
        assert_eq!(
            Comment::from_item(&item).expect("and reads again"),
            c,
            "comment record round trip"
        );
    }
    for m in linkback_verify::handler::queued(&changes) {
        let now = now();
        if let Ok(item) = m.to_item(now) {
            assert_eq!(
                shared::linkbacks::mention::Mention::from_item(&item).expect("reads again"),
                m,
                "mention record round trip"
            );
        }
    }
}

// -------------------------------------------------------------------------------------
// Tokens

/// A token from a link or a form, against every reader: form tokens, signed values,
/// moderation and queue links, manage tokens. Signing the input and reading it back gives
/// the input; a reshown form's token is always accepted.
pub fn tokens(data: &[u8]) {
    let keys = keys();
    let (moderation, supporters) = (&keys.moderation, &keys.supporters);
    let token = String::from_utf8_lossy(data);
    let now = now();
    for label in ["moderate", "moderate-queue", "supporter-manage", "x"] {
        if let Some(payload) = moderation.verify(label, &token) {
            assert_eq!(moderation.sign(label, &payload), token.trim());
        }
        if let Some(payload) = supporters.verify(label, &token) {
            assert_eq!(supporters.sign(label, &payload), token.trim());
        }
        let signed = moderation.sign(label, data);
        assert_eq!(moderation.verify(label, &signed).as_deref(), Some(data));
        let other = if label == "x" { "y" } else { "x" };
        assert_eq!(moderation.verify(other, &signed), None);
        // Another purpose's key never vouches for it.
        assert_eq!(supporters.verify(label, &signed), None);
        // What a genuine token with this payload does in the readers.
        let _ = shared::comments::moderation::read_link(moderation, &signed, now);
        let _ = shared::comments::moderation::read_queue_link(moderation, &signed, now);
        let manage = supporters.sign(label, data);
        let _ = shared::supporters::read_manage_token(supporters, &manage);
    }
    let _ = shared::comments::moderation::read_link(moderation, &token, now);
    let _ = shared::comments::moderation::read_queue_link(moderation, &token, now);
    let _ = shared::supporters::read_manage_token(supporters, &token);
    let _ = shared::supporters::token_hash(&token);
    let _ = shared::comments::moderation::Action::from_code(&token);
    for form in ["comment:hello", "signup"] {
        let _ = keys.forms.check_form_token(form, &token, now);
        let reshown = keys.forms.token_for_reshown_form(form, &token, now);
        assert!(
            matches!(
                keys.forms.check_form_token(form, &reshown, now),
                Ok(()) | Err(shared::signing::TokenError::TooFast)
            ),
            "a reshown form's token {reshown:?} is refused"
        );
    }
    let _ = shared::signing::Keys::from_master(data);
    let _ = shared::signing::IdentityKey::new(data);
}

// -------------------------------------------------------------------------------------
// site.toml, quotes.toml, templates, redirects.txt, dates

#[derive(serde::Serialize)]
struct QuotesOut<'a> {
    quote: &'a [Quote],
}

/// `site.toml` or `quotes.toml` (first byte): what parses prints and parses back the same.
pub fn config(data: &[u8]) {
    let Some((&sel, bytes)) = data.split_first() else {
        return;
    };
    if sel % 2 == 0 {
        let text = String::from_utf8_lossy(bytes);
        let Ok(cfg) = SiteConfig::parse(&text) else {
            return;
        };
        let printed = toml::to_string(&cfg).expect("a config prints");
        let again = SiteConfig::parse(&printed)
            .unwrap_or_else(|e| panic!("a printed config does not parse: {e}\n{printed}"));
        assert_eq!(again, cfg, "site.toml round trip\n{printed}");
        let _ = cfg.base_path();
        let _ = cfg.captcha_site();
        let _ = cfg.url_for("posts/x/");
        let mut served = cfg.clone();
        served.served_at("http://127.0.0.1:9000");
        // The theme renders with any configuration that parses.
        let s = site();
        let r = Renderer {
            config: &cfg,
            ..renderer(s)
        };
        r.post_page(&sample_post(), None, &[], "token", None)
            .expect("renders");
        assert_xml(
            "feed",
            &r.feed(&[&summary_of(&sample_post())]).expect("renders"),
        );
    } else {
        let Ok(quotes) = shared::site::content::parse_quotes(bytes) else {
            return;
        };
        let printed = toml::to_string(&QuotesOut { quote: &quotes }).expect("quotes print");
        let again = shared::site::content::parse_quotes(printed.as_bytes())
            .unwrap_or_else(|e| panic!("printed quotes do not parse: {e}\n{printed}"));
        assert_eq!(again, quotes, "quotes.toml round trip");
        let _ = shared::site::content::quote_for(&quotes, "posts/x/");
        let s = site();
        let r = Renderer {
            quotes: &quotes,
            ..renderer(s)
        };
        let page = r.not_found().expect("renders");
        assert_page_inert("404 with quotes", &page, &s.theme_scripts);
    }
}

/// An owner's template (the first byte picks which built-in it replaces), compiled and
/// rendered as the builder does. Templates are the owner's, so only: no panic, and XML
/// documents hold only characters XML allows.
pub fn template(data: &[u8]) {
    let Some((&sel, bytes)) = data.split_first() else {
        return;
    };
    let Ok(src) = std::str::from_utf8(bytes) else {
        return;
    };
    // Loops multiply: an owner may write a slow template, which is theirs to fix and not
    // what this target looks for.
    if src.matches("for").count() > 1 || src.contains("recursive") {
        return;
    }
    let name = BUILTIN_TEMPLATES[sel as usize % BUILTIN_TEMPLATES.len()].0;
    let Ok(theme) = Theme::new(&[(name.to_string(), src.to_string())]) else {
        return;
    };
    let s = site();
    let r = renderer_with(s, &theme);
    let post = sample_post();
    let summary = summary_of(&post);
    let c = comment_of("A <b>visitor</b>", None, "Some *text*");
    let outputs = [
        r.post_page(&post, None, std::slice::from_ref(&c), "token", None),
        r.page(
            &shared::site::content::parse_page("pages/about.md", b"---\ntitle: About\n---\nHi\n")
                .expect("parses"),
            None,
        ),
        r.index_page(1, 2, &[&summary], &BTreeMap::new()),
        r.feed(&[&summary]),
        r.comments_feed(&summary, std::slice::from_ref(&c)),
        r.sitemap(&[&summary], 2, &[]),
        r.not_found(),
        r.signup_page("token", None),
    ];
    for (i, out) in outputs.into_iter().enumerate() {
        if let (Ok(text), 3..=5) = (out, i) {
            assert!(
                text.chars().all(shared::site::render::is_xml_char),
                "an XML document with a character XML does not allow"
            );
        }
    }
}

/// `redirects.txt`: what parses prints and parses back the same, every entry is found by
/// its own address, and the page that redirects holds no script.
pub fn redirects(data: &[u8]) {
    use shared::site::redirects::{key_for, location_of_page, page_for, Redirects};
    let text = String::from_utf8_lossy(data);
    let (r, _errors) = Redirects::parse(&text);
    let printed = r.to_text();
    let (again, errors) = Redirects::parse(&printed);
    assert!(
        errors.is_empty(),
        "printed redirects have errors: {errors:?}"
    );
    assert_eq!(again, r, "redirects.txt round trip\n{printed}");
    for (from, to) in &r.entries {
        assert!(key_for(from).is_ok());
        let (path, query) = match from.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (from.as_str(), None),
        };
        assert!(
            r.lookup(path, query).is_some(),
            "{from} is not found by its own address"
        );
        let page = page_for(to);
        assert_eq!(location_of_page(&page).as_deref(), Some(to.as_str()));
        let html = String::from_utf8(page).expect("UTF-8");
        assert_page_inert("redirect page", &html, &[]);
    }
    for line in text.lines().take(20) {
        let _ = key_for(line);
        let (p, q) = line.split_once('?').unwrap_or((line, ""));
        let _ = shared::site::redirects::key_for_request(p, Some(q));
        let _ = location_of_page(line.as_bytes());
    }
}

/// A date as front matter gives it: accepted dates are UTC and print as RFC 3339 that
/// reads back as the same instant.
pub fn dates(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let Ok(t) = shared::dates::parse_date(&s) else {
        return;
    };
    assert_eq!(t.offset(), time::UtcOffset::UTC);
    let printed = shared::dates::rfc3339(t);
    assert!(!printed.is_empty(), "an accepted date {s:?} does not print");
    assert_eq!(shared::dates::parse_date(&printed), Ok(t), "{printed}");
    let _ = shared::dates::human_date(t);
}

// -------------------------------------------------------------------------------------
// Mail

/// A raw message read as the outbox reader reads it; and a mail of fuzzed fields
/// formatted and read back: the same text, headers without line breaks.
pub fn mail(data: &[u8]) {
    let read = shared::mail::ReadMail::parse(data);
    let _ = read.header("subject");
    let _ = read.links();
    let f = fields(data, 4);
    let m = shared::mail::Mail {
        from: f[0].clone(),
        to: f[1].clone(),
        subject: f[2].clone(),
        text: f[3].clone(),
        unsubscribe_url: Some(f[1].clone()),
    };
    let out = m.to_outgoing(now(), "id");
    let back = shared::mail::ReadMail::parse(&out.raw);
    let no_cr = |s: &str| s.replace('\r', "");
    assert_eq!(
        no_cr(&back.text),
        no_cr(&m.text) + "\n",
        "the text does not survive quoted-printable"
    );
    let one_line = |s: &str| s.replace(['\r', '\n'], "");
    let head = String::from_utf8_lossy(&out.raw);
    let head = head.split("\r\n\r\n").next().unwrap_or("");
    assert_eq!(
        head.lines().count(),
        if m.unsubscribe_url.is_some() { 10 } else { 8 },
        "a header value broke a line:\n{head}"
    );
    assert_eq!(back.header("From"), Some(one_line(&m.from).as_str()));
    assert_eq!(back.header("To"), Some(one_line(&m.to).as_str()));
}

// -------------------------------------------------------------------------------------
// Linkbacks

/// An XML-RPC request body: parsed as a pingback; the answer (success or fault, carrying
/// the error's text) is well-formed XML.
pub fn xmlrpc(data: &[u8]) {
    use shared::linkbacks::xmlrpc::{fault, parse_pingback, success};
    match parse_pingback(data) {
        Ok(call) => {
            assert_xml("success", &success(&call.source));
            assert_xml("success", &success(&call.target));
            let _ = shared::linkbacks::mention::address(
                &call.source,
                &call.target,
                &site().config.base_url,
            );
        }
        Err(e) => assert_xml("fault", &fault(e.fault_code(), &e.to_string())),
    }
}

const TARGET_URL: &str = "https://example.org/posts/hello/";

/// A fetched source page (the first byte picks the content type) inspected for a link to
/// a post; the comment it becomes is inert and its feed well-formed.
pub fn webmention(data: &[u8]) {
    use shared::linkbacks::mention::{as_comment, Mention, Protocol};
    let Some((&sel, bytes)) = data.split_first() else {
        return;
    };
    let ct = ["text/html", "text/plain", "", "application/xhtml+xml"][sel as usize % 4];
    let body = String::from_utf8_lossy(bytes);
    let source = "https://source.example/a/post";
    let Some(summary) = shared::linkbacks::source::inspect(&body, ct, source, TARGET_URL) else {
        return;
    };
    if let Some(t) = &summary.title {
        assert!(t.chars().count() <= shared::linkbacks::source::TITLE_MAX + 1);
    }
    if let Some(u) = &summary.author_url {
        assert!(
            u.starts_with("http://") || u.starts_with("https://"),
            "author URL {u:?}"
        );
    }
    let mention = Mention {
        id: "m1".into(),
        source: source.into(),
        target: TARGET_URL.into(),
        post: "hello".into(),
        protocol: if sel & 4 == 0 {
            Protocol::Webmention
        } else {
            Protocol::Pingback
        },
        received: "2025-01-01T00:00:00Z".into(),
        status: "queued".into(),
        ip_hash: None,
    };
    let c = as_comment(&mention, &summary, None, now());
    assert_inert_html("mention comment", &c.body_html);
    render_with_comments("mention", std::slice::from_ref(&c), full_page_check(data));
}

/// Addresses a stranger's URL may make us connect to (16 bytes: IPv6, else 4: IPv4), and
/// the source/target/base checks of a mention (fields split at 0xFF).
pub fn address(data: &[u8]) {
    use shared::linkbacks::address::refusal;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    if data.len() >= 16 {
        let b: [u8; 16] = data[..16].try_into().expect("16 bytes");
        let v6 = Ipv6Addr::from(b);
        let r6 = refusal(IpAddr::V6(v6));
        if let Some(v4) = v6.to_ipv4_mapped() {
            assert_eq!(
                r6.is_some(),
                refusal(IpAddr::V4(v4)).is_some(),
                "{v6} judged unlike {v4}"
            );
        }
    }
    if data.len() >= 4 {
        let b: [u8; 4] = data[..4].try_into().expect("4 bytes");
        let v4 = Ipv4Addr::from(b);
        let r4 = refusal(IpAddr::V4(v4));
        if r4.is_some() {
            assert!(
                refusal(IpAddr::V6(v4.to_ipv6_mapped())).is_some(),
                "{v4} refused but not as IPv4-mapped IPv6"
            );
        }
        if v4.is_loopback() || v4.is_private() || v4.is_link_local() {
            assert!(r4.is_some(), "{v4} is not public");
        }
    }
    let f = fields(data, 3);
    if let Ok(a) = shared::linkbacks::mention::address(&f[0], &f[1], &f[2]) {
        assert!(shared::site::layout::is_valid_slug(&a.post));
        assert_ne!(a.source, a.target);
        let _ = a.source_host();
    }
    let _ = shared::linkbacks::mention::address(&f[0], &f[1], "https://example.org/");
}

// -------------------------------------------------------------------------------------
// WordPress

/// A WordPress export read entry by entry; every post body converts to Markdown that
/// renders inert.
pub fn wxr(data: &[u8]) {
    let Ok(reader) = wordpress::wxr::Reader::new(Cursor::new(data)) else {
        return;
    };
    let _ = reader.site().clone();
    for entry in reader.take(200) {
        let Ok(entry) = entry else {
            break;
        };
        if let wordpress::wxr::Entry::Item(item) = entry {
            let converted = wordpress::body::to_markdown(&item.content, &HashMap::new());
            assert_inert_html(
                "imported post",
                &shared::markdown::post_to_html(&converted.markdown),
            );
            for c in &item.comments {
                let _ = shared::markdown::comment_to_html(&c.content);
            }
        }
    }
}

/// A WordPress post body converted to Markdown: it renders inert, and rewriting its image
/// addresses keeps it inert.
pub fn wp_body(data: &[u8]) {
    use wordpress::body::{rewrite_images, split_credit, to_markdown, Attachment};
    let body = String::from_utf8_lossy(data);
    let mut atts = HashMap::new();
    atts.insert(
        7,
        Attachment {
            url: "https://old.example/wp-content/uploads/a.jpg".into(),
            caption: "A caption".into(),
            alt: "An alt".into(),
        },
    );
    let converted = to_markdown(&body, &atts);
    assert_inert_html(
        "converted body",
        &shared::markdown::post_to_html(&converted.markdown),
    );
    let rewritten = rewrite_images(&converted.markdown, &|u: &str| {
        Some(format!("/photos/{}.jpg", u.len()))
    });
    assert_inert_html(
        "rewritten body",
        &shared::markdown::post_to_html(&rewritten),
    );
    let _ = split_credit(&body);
}
