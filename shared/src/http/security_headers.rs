//! The browser security headers, said once: HSTS, the Content-Security-Policy, `nosniff`,
//! the referrer policy and the framing refusal that every page of the site carries.
//!
//! Three senders use these values, and only these:
//! - CloudFront, for the static site: `SecurityHeadersPolicy` (an
//!   `AWS::CloudFront::ResponseHeadersPolicy`) in `infra/template.yaml`, which
//!   `tests/integration/infra.rs` holds against this file;
//! - the form functions' replies ([`crate::http::web`]), whose pages are served from the
//!   API's address;
//! - the local server (`cli/src/server.rs`), for the static site it serves.
//!
//! The policy allows the page's own origin, hCaptcha (the four directives hCaptcha's
//! documentation lists: script, frame, style and connect, for `https://hcaptcha.com` and
//! `https://*.hcaptcha.com`) and the post page's one inline script, by its hash
//! ([`REPLY_SCRIPT_HASH`]). Nothing else runs: no `unsafe-inline`, no `eval`, no plugins,
//! no `<base>` elsewhere, and no framing of the site by anyone.

use base64::Engine;
use sha2::{Digest, Sha256};

/// `Strict-Transport-Security`: two years, subdomains included, not preloaded (preloading
/// is a decision for the owner of the registered domain). Browsers ignore it over plain
/// HTTP, so the local server may send it too.
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=63072000; includeSubDomains";
pub const CONTENT_TYPE_OPTIONS: &str = "nosniff";
/// Full addresses within the site; only the origin to other sites (a token in a query
/// string, as on the API's confirm and manage pages, never leaves); nothing over HTTP.
pub const REFERRER_POLICY: &str = "strict-origin-when-cross-origin";
/// `X-Frame-Options`, for browsers older than CSP's `frame-ancestors 'none'`.
pub const FRAME_OPTIONS: &str = "DENY";

/// hCaptcha's origins, for the directives its documentation names.
pub const HCAPTCHA_SOURCES: [&str; 2] = ["https://hcaptcha.com", "https://*.hcaptcha.com"];

/// The hash of the post page's inline script (`post.html`: "Reply" under a comment makes
/// the form a reply to it). A test recomputes it from the template and from a rendered
/// page: change the script, and that test names the new hash to put here.
///
/// Why a hash and not a file: the script is a dozen lines the post page needs and nothing
/// else does; as a file it would be one more request per post page, and one more object
/// the builder must publish (it publishes only the stylesheet from the theme), and the
/// pages the API re-shows would need the site's origin in `script-src`. The hash keeps it
/// in the template, and the test keeps the hash honest.
pub const REPLY_SCRIPT_HASH: &str = "sha256-vq8PpRjjle5Jcwol9gBuZtza0lyAD1iMhnf9CCO2utA=";

/// The CSP source expression of an inline script (`'sha256-…'`, without the quotes): what
/// a browser compares with the policy, computed from the script element's text.
pub fn script_hash(source: &str) -> String {
    let digest = Sha256::digest(source.as_bytes());
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// Origins a page's policy names besides its own (`'self'`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Origins<'a> {
    /// The site's origin, for pages served from another address (the API's pages take
    /// their stylesheet, photos and links from the site, and send visitors back to it).
    pub site: Option<&'a str>,
    /// The API's origin, for pages whose forms post to another address (the site's pages,
    /// whose comment and sign-up forms post to the API).
    pub api: Option<&'a str>,
}

/// The `Content-Security-Policy` of a page, for the origins it works with.
pub fn content_security_policy(origins: Origins<'_>) -> String {
    let site = origins.site;
    let hcaptcha = HCAPTCHA_SOURCES.map(Some);
    let reply = format!("'{REPLY_SCRIPT_HASH}'");
    let directives: [(&str, Vec<Option<&str>>); 10] = [
        ("default-src", vec![Some("'self'"), site]),
        (
            "script-src",
            [
                vec![Some("'self'"), site, Some(reply.as_str())],
                hcaptcha.to_vec(),
            ]
            .concat(),
        ),
        (
            "style-src",
            [vec![Some("'self'"), site], hcaptcha.to_vec()].concat(),
        ),
        // Posts may show images from other sites (Markdown `![](https://…)`); an image
        // runs nothing. Comments cannot have images at all.
        ("img-src", vec![Some("'self'"), site, Some("https:")]),
        ("frame-src", hcaptcha.to_vec()),
        (
            "connect-src",
            [vec![Some("'self'")], hcaptcha.to_vec()].concat(),
        ),
        ("object-src", vec![Some("'none'")]),
        ("base-uri", vec![Some("'self'")]),
        (
            "form-action",
            vec![
                Some("'self'"),
                site,
                origins.api.filter(|a| Some(*a) != site),
            ],
        ),
        ("frame-ancestors", vec![Some("'none'")]),
    ];
    directives
        .iter()
        .map(|(name, sources)| {
            let sources: Vec<&str> = sources.iter().flatten().copied().collect();
            format!("{name} {}", sources.join(" "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Every security header of a response, as (name, value).
pub fn headers(origins: Origins<'_>) -> [(&'static str, String); 5] {
    [
        (
            "strict-transport-security",
            STRICT_TRANSPORT_SECURITY.into(),
        ),
        ("content-security-policy", content_security_policy(origins)),
        ("x-content-type-options", CONTENT_TYPE_OPTIONS.into()),
        ("referrer-policy", REFERRER_POLICY.into()),
        ("x-frame-options", FRAME_OPTIONS.into()),
    ]
}

/// The origin of a URL (`https://example.org` for `https://example.org/blog/`), as a CSP
/// source; `None` for what is not an http(s) URL.
pub fn origin_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    matches!(u.scheme(), "http" | "https").then(|| u.origin().ascii_serialization())
}

/// `url`'s origin when it is not `own`'s: the other address a page must name.
pub fn other_origin(url: &str, own: &str) -> Option<String> {
    let other = origin_of(url)?;
    (origin_of(own).as_deref() != Some(other.as_str())).then_some(other)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The inline `<script>` elements (no `src`) of an HTML text, as their text.
    fn inline_scripts(html: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut rest = html;
        while let Some(i) = rest.find("<script") {
            let tag_end = i + rest[i..].find('>').expect("a closed script tag");
            let tag = &rest[i..tag_end];
            let body_end = tag_end + rest[tag_end..].find("</script>").expect("</script>");
            if !tag.contains("src=") {
                out.push(&rest[tag_end + 1..body_end]);
            }
            rest = &rest[body_end..];
        }
        out
    }

    /// The inline reply script of the built-in post template is allowed by the policy:
    /// an edit to the script without a new hash here fails this test (and would leave
    /// "Reply" dead under the CSP).
    #[test]
    fn the_reply_scripts_hash_is_the_templates() {
        let template = include_str!("../site/theme/templates/post.html");
        let scripts = inline_scripts(template);
        assert_eq!(scripts.len(), 1, "one inline script in post.html");
        assert_eq!(
            script_hash(scripts[0]),
            REPLY_SCRIPT_HASH,
            "post.html's inline script changed: put its new hash in REPLY_SCRIPT_HASH"
        );
        let csp = content_security_policy(Origins::default());
        assert!(csp.contains(&format!("'{REPLY_SCRIPT_HASH}'")), "{csp}");
    }

    #[test]
    fn the_policy_allows_the_site_hcaptcha_and_nothing_loose() {
        let csp = content_security_policy(Origins::default());
        assert_eq!(
            csp,
            format!(
                "default-src 'self'; \
                 script-src 'self' '{REPLY_SCRIPT_HASH}' https://hcaptcha.com https://*.hcaptcha.com; \
                 style-src 'self' https://hcaptcha.com https://*.hcaptcha.com; \
                 img-src 'self' https:; \
                 frame-src https://hcaptcha.com https://*.hcaptcha.com; \
                 connect-src 'self' https://hcaptcha.com https://*.hcaptcha.com; \
                 object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
            )
        );
        assert!(!csp.contains("unsafe"), "{csp}");
        // The site's pages post forms to the API.
        let site = content_security_policy(Origins {
            site: None,
            api: Some("https://api.example.org"),
        });
        assert!(
            site.contains("form-action 'self' https://api.example.org;"),
            "{site}"
        );
        assert!(!site.contains("default-src 'self' https://api"), "{site}");
        // The API's pages take the site's stylesheet and photos, and link back to it.
        let api = content_security_policy(Origins {
            site: Some("https://example.org"),
            api: None,
        });
        for d in [
            "default-src 'self' https://example.org;",
            "style-src 'self' https://example.org https://hcaptcha.com",
            "form-action 'self' https://example.org;",
        ] {
            assert!(api.contains(d), "{d}: {api}");
        }
    }

    #[test]
    fn origins_of_addresses() {
        assert_eq!(
            origin_of("https://example.org/blog/").as_deref(),
            Some("https://example.org")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:9000").as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(origin_of("mailto:a@b.c"), None);
        assert_eq!(
            other_origin("https://api.example.org/x", "https://example.org/").as_deref(),
            Some("https://api.example.org")
        );
        assert_eq!(
            other_origin("http://127.0.0.1:8080", "http://127.0.0.1:8080/"),
            None
        );
    }
}
