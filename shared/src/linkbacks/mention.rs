//! A mention another site sent us, from the moment it is received until its source is
//! checked: the site owner's settings (`[linkbacks]` in `site.toml`), the synchronous checks
//! both protocols share, the queued record, and the comment a verified mention becomes.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use url::Url;

use crate::comments::{Comment, CommentKind, CommentStatus};
use crate::dates::{parse_date, rfc3339};
use crate::linkbacks::source::SourceSummary;
use crate::ports::{Item, StoreError};
use crate::signing::IdentityKey;

/// `[linkbacks]` in `site.toml`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LinkbackSettings {
    /// Receive pingbacks and Webmentions at all (discovery links on post pages, the two
    /// endpoints). `false` turns both off.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Domains whose mentions are approved without a moderator (unless the spam rules say
    /// spam). Every other mention is held: nearly all pingbacks on the open web are spam.
    /// `example.org` also covers `blog.example.org`.
    #[serde(default)]
    pub approve_from: Vec<String>,
}

fn yes() -> bool {
    true
}

impl Default for LinkbackSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            approve_from: Vec::new(),
        }
    }
}

impl LinkbackSettings {
    /// The HTTP headers that announce our endpoints on a post page (W3C Webmention §3.1.2,
    /// Pingback 1.0 §2.1), for servers that set headers (the local server); the `<link>`
    /// elements in the page do the same everywhere. None when linkbacks are off.
    pub fn discovery_headers(&self, api_url: &str) -> Vec<(&'static str, String)> {
        if !self.enabled {
            return Vec::new();
        }
        vec![
            (
                "link",
                format!("<{api_url}/webmention>; rel=\"webmention\""),
            ),
            ("x-pingback", format!("{api_url}/xmlrpc")),
        ]
    }

    /// Whether mentions from this source URL may skip the moderator.
    pub fn approves(&self, source: &str) -> bool {
        let Some(host) = Url::parse(source)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        else {
            return false;
        };
        self.approve_from.iter().any(|d| {
            let d = d.trim().trim_start_matches("*.").to_ascii_lowercase();
            !d.is_empty() && (host == d || host.ends_with(&format!(".{d}")))
        })
    }
}

/// How a mention reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Webmention,
    Pingback,
}

/// Why a mention was refused before anything was stored. Each maps to a Webmention
/// status and a Pingback 1.0 fault code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the source must be an http or https URL ({0})")]
    BadSource(String),
    #[error("the target must be an http or https URL ({0})")]
    BadTarget(String),
    #[error("the source and the target are the same address")]
    SameUrl,
    #[error("the target is not on this site: {0}")]
    NotOurs(String),
    #[error("there is no published post at the target address")]
    NoSuchPost,
    #[error("this site does not accept linkbacks")]
    Disabled,
    #[error("mentions from this source are not accepted")]
    Blocked,
    #[error("too many mentions from this address or this source; try again later")]
    RateLimited,
    #[error("this pingback is already registered")]
    AlreadyRegistered,
}

impl Refused {
    /// The HTTP status a Webmention sender gets (W3C Webmention §3.2.3: 400 for a request
    /// that cannot be accepted).
    pub fn status(&self) -> u16 {
        match self {
            Refused::RateLimited => 429,
            Refused::Blocked => 403,
            _ => 400,
        }
    }

    /// The Pingback 1.0 fault code: 0 generic, 0x20 target does not exist, 0x21 target
    /// cannot be used, 0x30 already registered, 0x31 access denied.
    pub fn fault_code(&self) -> i32 {
        match self {
            Refused::BadSource(_) | Refused::SameUrl => 0,
            Refused::NoSuchPost => 32,
            Refused::BadTarget(_) | Refused::NotOurs(_) | Refused::Disabled => 33,
            Refused::AlreadyRegistered => 48,
            Refused::Blocked | Refused::RateLimited => 49,
        }
    }
}

/// A mention that passed the synchronous checks: the source, and the post it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addressed {
    /// The source URL, fragment removed.
    pub source: String,
    /// The target as the sender gave it, fragment removed: the source must link to this.
    pub target: String,
    pub post: String,
}

impl Addressed {
    /// The source's host, lower-cased (the rate limit per source domain).
    pub fn source_host(&self) -> String {
        Url::parse(&self.source)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
            .unwrap_or_default()
    }
}

/// The checks that need nothing but the two URLs and the site's address: both http(s),
/// different, the target a post address on this site (`{base_url}posts/<slug>/`, either
/// scheme, fragment ignored). Whether the post exists is the caller's to ask.
pub fn address(source: &str, target: &str, base_url: &str) -> Result<Addressed, Refused> {
    let source_url = web_url(source).map_err(Refused::BadSource)?;
    let target_url = web_url(target).map_err(Refused::BadTarget)?;
    if source_url == target_url {
        return Err(Refused::SameUrl);
    }
    let base = Url::parse(base_url).map_err(|e| Refused::NotOurs(e.to_string()))?;
    // Either scheme (sites link to http:// addresses long after a move to https), but the
    // same host and the same explicit port.
    let same_site = target_url.host_str().map(str::to_ascii_lowercase)
        == base.host_str().map(str::to_ascii_lowercase)
        && target_url.port() == base.port();
    if !same_site {
        return Err(Refused::NotOurs(format!(
            "{} is not {}",
            target_url.host_str().unwrap_or(""),
            base.host_str().unwrap_or("")
        )));
    }
    let posts = format!("{}posts/", base.path());
    let slug = target_url
        .path()
        .strip_prefix(&posts)
        .map(|rest| rest.strip_suffix('/').unwrap_or(rest))
        .filter(|s| crate::site::layout::is_valid_slug(s) && target_url.query().is_none())
        .ok_or_else(|| Refused::NotOurs("it is not the address of a post".into()))?;
    Ok(Addressed {
        post: slug.to_string(),
        source: source_url.to_string(),
        target: target_url.to_string(),
    })
}

fn web_url(s: &str) -> Result<Url, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("none was given".into());
    }
    if s.len() > 2000 {
        return Err("it is longer than 2,000 characters".into());
    }
    let mut u = Url::parse(s).map_err(|e| format!("`{}`: {e}", short(s)))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err(format!("`{}` is not http or https", short(s)));
    }
    u.set_fragment(None);
    Ok(u)
}

fn short(s: &str) -> String {
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(80).collect();
    if s.chars().count() > 80 {
        out.push('…');
    }
    out
}

/// The status of a queued mention: a receiver writes `queued`, the verifier what it found.
pub const QUEUED: &str = "queued";

/// A mention waiting for (or done with) verification: one record per source and target,
/// so the same mention sent again replaces the first (and is verified again).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mention {
    pub id: String,
    pub source: String,
    pub target: String,
    pub post: String,
    pub protocol: Protocol,
    /// RFC 3339, when it arrived.
    pub received: String,
    /// `queued`, or what verification found (`received`, `updated`, `taken down: …`,
    /// `refused: …`).
    pub status: String,
    #[serde(default)]
    pub ip_hash: Option<String>,
}

/// How long a mention record is kept after its last change: a log for the site owner,
/// not the published mention (that is the comment record).
pub const KEEP_MENTIONS_SECS: i64 = 30 * 86_400;

impl Mention {
    pub fn new(
        identity: &IdentityKey,
        addressed: Addressed,
        protocol: Protocol,
        now: OffsetDateTime,
        ip_hash: Option<String>,
    ) -> Self {
        Self {
            id: mention_id(identity, &addressed.source, &addressed.post),
            source: addressed.source,
            target: addressed.target,
            post: addressed.post,
            protocol,
            received: rfc3339(now),
            status: QUEUED.into(),
            ip_hash,
        }
    }

    pub fn to_item(&self, now: OffsetDateTime) -> Result<Item, StoreError> {
        let mut item =
            match serde_json::to_value(self).map_err(|e| StoreError::Corrupt(e.to_string()))? {
                Value::Object(m) => m,
                _ => unreachable!("a struct serialises to an object"),
            };
        item.retain(|_, v| !v.is_null());
        let (pk, sk) = crate::keys::mention(&self.id);
        item.insert("pk".into(), pk.into());
        item.insert("sk".into(), sk.into());
        item.insert("type".into(), "mention".into());
        item.insert(
            "expires_at".into(),
            (now.unix_timestamp() + KEEP_MENTIONS_SECS).into(),
        );
        Ok(item)
    }

    pub fn from_item(item: &Item) -> Result<Self, StoreError> {
        serde_json::from_value(Value::Object(item.clone()))
            .map_err(|e| StoreError::Corrupt(format!("mention record: {e}")))
    }
}

/// The id of a mention, and of the comment it becomes: a keyed hash of the source and the
/// post, so a mention sent again (by either protocol) lands on the same records.
pub fn mention_id(identity: &IdentityKey, source: &str, post: &str) -> String {
    identity.keyed_hash("linkback-id", &format!("{source}\u{0}{post}"))[..20].to_string()
}

/// The comment a verified mention becomes, or the existing one updated in place (its
/// status, date and the moderator's rules kept).
pub fn as_comment(
    mention: &Mention,
    summary: &SourceSummary,
    existing: Option<&Comment>,
    now: OffsetDateTime,
) -> Comment {
    let host = Url::parse(&mention.source)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    let author = summary
        .title
        .clone()
        .or_else(|| summary.author_name.clone())
        .filter(|t| !t.trim().is_empty())
        .unwrap_or(host);
    let published = summary
        .published
        .as_deref()
        .and_then(|p| parse_date(p).ok())
        .filter(|t| *t <= now)
        .unwrap_or(now);
    let body_html = crate::markdown::SafeHtml::paragraph(&summary.excerpt);
    Comment {
        id: mention.id.clone(),
        post: mention.post.clone(),
        parent: None,
        author,
        website: Some(mention.source.clone()),
        body_md: summary.excerpt.clone(),
        body_html,
        status: existing.map_or(CommentStatus::Pending, |c| c.status),
        kind: CommentKind::Pingback,
        created: existing.map_or_else(|| rfc3339(published), |c| c.created.clone()),
        email_hash: None,
        ip_hash: mention.ip_hash.clone(),
        spam_rules: existing.map(|c| c.spam_rules.clone()).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://example.org/";

    #[test]
    fn a_post_address_on_this_site_names_the_post() {
        let a = address(
            "https://blog.example.net/2026/hello#x",
            "https://example.org/posts/the-big-link-up/#comments",
            BASE,
        )
        .unwrap();
        assert_eq!(a.post, "the-big-link-up");
        assert_eq!(a.source, "https://blog.example.net/2026/hello");
        assert_eq!(a.target, "https://example.org/posts/the-big-link-up/");
        // Either scheme, with or without the slash.
        assert_eq!(
            address("https://b.example/", "http://example.org/posts/a", BASE)
                .unwrap()
                .post,
            "a"
        );
    }

    #[test]
    fn each_refusal_says_why_with_its_fault_code() {
        let cases: &[(&str, &str, i32)] = &[
            ("ftp://b.example/", "https://example.org/posts/a/", 0),
            ("", "https://example.org/posts/a/", 0),
            (
                "https://example.org/posts/a/",
                "https://example.org/posts/a/#x",
                0,
            ),
            ("https://b.example/", "https://other.example/posts/a/", 33),
            ("https://b.example/", "https://example.org/about/", 33),
            ("https://b.example/", "https://example.org/posts/a/?p=1", 33),
            ("https://b.example/", "https://example.org/posts/../x/", 33),
            ("https://b.example/", "javascript:alert(1)", 33),
            (
                "https://b.example/",
                "https://example.org:8443/posts/a/",
                33,
            ),
        ];
        for (s, t, code) in cases {
            let e = address(s, t, BASE).unwrap_err();
            assert_eq!(e.fault_code(), *code, "{s} {t}: {e}");
            assert!(e.status() == 400, "{s} {t}: {e}");
            assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn approved_domains_cover_their_subdomains_only() {
        let s = LinkbackSettings {
            enabled: true,
            approve_from: vec!["friends.example".into()],
        };
        assert!(s.approves("https://friends.example/a"));
        assert!(s.approves("https://blog.friends.example/a"));
        assert!(!s.approves("https://notfriends.example/a"));
        assert!(!s.approves("https://friends.example.evil.test/a"));
        assert!(!s.approves("not a url"));
    }

    #[test]
    fn a_verified_mention_is_plain_text_and_keeps_its_place() {
        let identity = IdentityKey::new(b"0123456789abcdef0123456789abcdef").unwrap();
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let m = Mention::new(
            &identity,
            address("https://b.example/p", "https://example.org/posts/a/", BASE).unwrap(),
            Protocol::Webmention,
            now,
            None,
        );
        let summary = SourceSummary {
            title: Some("<b>Hi</b>".into()),
            excerpt: "[…] a <script>x</script> […]".into(),
            published: Some("2010-07-21T10:00:00Z".into()),
            ..Default::default()
        };
        let c = as_comment(&m, &summary, None, now);
        assert_eq!(c.kind, CommentKind::Pingback);
        assert_eq!(c.status, CommentStatus::Pending);
        assert_eq!(c.author, "<b>Hi</b>", "kept as text, escaped when rendered");
        assert!(c.body_html.contains("&lt;script&gt;"), "{}", c.body_html);
        assert_eq!(c.created, "2010-07-21T10:00:00Z");
        let mut approved = c.clone();
        approved.status = CommentStatus::Approved;
        let again = as_comment(&m, &SourceSummary::default(), Some(&approved), now);
        assert_eq!(again.status, CommentStatus::Approved);
        assert_eq!(again.created, c.created);
        assert_eq!(again.author, "b.example", "no title: the source's host");
        // The same source and post by the other protocol: the same records.
        let p = Mention::new(
            &identity,
            address("https://b.example/p#c", "http://example.org/posts/a", BASE).unwrap(),
            Protocol::Pingback,
            now,
            None,
        );
        assert_eq!(p.id, m.id);
        let item = m.to_item(now).unwrap();
        assert_eq!(Mention::from_item(&item).unwrap(), m);
    }
}
