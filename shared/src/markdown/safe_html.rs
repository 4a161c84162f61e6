//! [`SafeHtml`]: a comment's HTML, safe to print as it is.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{comment_cleaner, COMMENT_LINK_REL, COMMENT_TAGS, COMMENT_URL_SCHEMES};

/// A comment's HTML, safe to print unescaped (`| safe` in the templates): only the
/// comment allow-list's tags, links only to http(s) and mailto and marked `nofollow`.
///
/// Two constructors, and only two: the sanitiser ([`SafeHtml::sanitise`], which
/// [`super::comment_to_html`] ends with) and the text escaper ([`SafeHtml::paragraph`]).
/// So every write path (the comment form, pingbacks and Webmentions, the WordPress import)
/// stores sanitised HTML, or does not compile.
///
/// A record read back ([`Deserialize`]) is outside the type system: it may predate the
/// rules, or have been written by hand or by a compromised writer. It is checked: HTML
/// already in the sanitiser's output form (the allow-list's tags, exactly as the
/// sanitiser writes them, balanced; see [`in_sanitised_form`]) is taken as it is, which
/// costs a scan of the text; anything else is sanitised then. Measured on 50,000
/// comments of about 270 bytes (release build): sanitising them all takes 0.5 to 0.6 s of
/// CPU (10 to 12 µs each), too much to pay on every build; reading them through this
/// check takes 0.03 s.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct SafeHtml(String);

impl SafeHtml {
    /// HTML cleaned with the comment allow-list (ammonia): the tags of
    /// [`COMMENT_TAGS`], `href` on links (http, https, mailto; no relative links) and a
    /// `rel` of [`COMMENT_LINK_REL`]; everything else removed, text escaped.
    pub fn sanitise(html: &str) -> Self {
        Self(comment_cleaner().clean(html).to_string())
    }

    /// Plain text as one paragraph, escaped: nothing in it is markup.
    pub fn paragraph(text: &str) -> Self {
        let mut out = String::with_capacity(text.len() + 8);
        out.push_str("<p>");
        for c in text.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&#39;"),
                c => out.push(c),
            }
        }
        out.push_str("</p>");
        Self(out)
    }

    /// Is `html` in the sanitiser's output form, which a read takes as it is? What every
    /// write path stores should be (their tests check it).
    pub fn is_sanitised(html: &str) -> bool {
        in_sanitised_form(html)
    }

    /// Stored HTML made safe: kept when it is already in the sanitiser's form, sanitised
    /// otherwise.
    fn from_stored(html: String) -> Self {
        if in_sanitised_form(&html) {
            Self(html)
        } else {
            Self::sanitise(&html)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl Deref for SafeHtml {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for SafeHtml {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SafeHtml {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SafeHtml {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl From<SafeHtml> for String {
    fn from(html: SafeHtml) -> String {
        html.0
    }
}

impl PartialEq<str> for SafeHtml {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for SafeHtml {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// Stored as the plain string.
impl Serialize for SafeHtml {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Read as a string, then made safe ([`SafeHtml::from_stored`]): a record is not trusted.
impl<'de> Deserialize<'de> for SafeHtml {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::from_stored)
    }
}

/// Character references text may carry: what the sanitiser's serialiser and
/// [`SafeHtml::paragraph`] write. Each stands for one harmless character.
const ENTITIES: [&str; 6] = ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&nbsp;"];

/// Is `html` in the form the sanitiser writes? Conservative: `true` only for text that a
/// browser reads as the allow-list's elements and nothing else.
///
/// - text has no `<` or `>` of its own, and `&` only in [`ENTITIES`];
/// - tags are exactly `<name>` and `</name>` for a name in [`COMMENT_TAGS`] (`<br>` has no
///   end tag), or a link exactly as the sanitiser writes it: `<a`, an optional
///   ` href="URL"` (the URL starting with an allowed scheme and its colon), an optional
///   ` title="…"`, then ` rel="nofollow ugc noopener">`; no `"`, `<` or `>` in a value,
///   and `&` only in [`ENTITIES`];
/// - every element is closed, in order.
///
/// None of these elements changes how a browser reads the text after it (no script, style,
/// textarea, title or other raw-text element), and no attribute but `href`, `title` and
/// `rel` is accepted, so nothing accepted can run. What is refused is sanitised instead.
fn in_sanitised_form(html: &str) -> bool {
    let bytes = html.as_bytes();
    let mut open: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'<' => {
                let Some(len) = tag(&html[i..], &mut open) else {
                    return false;
                };
                i += len;
            }
            b'>' => return false,
            b'&' => {
                if !ENTITIES.iter().any(|e| html[i..].starts_with(e)) {
                    return false;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    open.is_empty()
}

/// The tag `rest` starts with, when it is one [`in_sanitised_form`] accepts: its length,
/// with `open` updated.
fn tag<'a>(rest: &'a str, open: &mut Vec<&'a str>) -> Option<usize> {
    if let Some(r) = rest.strip_prefix("</") {
        let name = &r[..r.find('>')?];
        return (name != "br" && open.pop() == Some(name)).then_some(name.len() + 3);
    }
    if let Some(mut after) = rest.strip_prefix("<a ") {
        // ` href="…"`, then ` title="…"`, each optional, then the rel the sanitiser sets.
        let mut len = "<a ".len();
        if let Some((href, next)) = attribute(after, "href=\"") {
            let scheme_ok = COMMENT_URL_SCHEMES.iter().any(|s| {
                href.strip_prefix(s)
                    .is_some_and(|after| after.starts_with(':'))
            });
            if !scheme_ok {
                return None;
            }
            len += after.len() - next.len();
            after = next;
        }
        if let Some((_, next)) = attribute(after, "title=\"") {
            len += after.len() - next.len();
            after = next;
        }
        let end = format!("rel=\"{COMMENT_LINK_REL}\">");
        after.starts_with(&end).then_some(())?;
        open.push("a");
        return Some(len + end.len());
    }
    let r = &rest[1..];
    let name = &r[..r.find('>')?];
    if !COMMENT_TAGS.contains(&name) || name == "a" {
        return None;
    }
    if name != "br" {
        open.push(name);
    }
    Some(name.len() + 2)
}

/// `name="value" ` at the start of `rest` (`name` given with its `="`), when the value has
/// no `<` or `>` and its `&`s are all [`ENTITIES`]: the value, and what follows the space.
/// Anything else (another attribute, a malformed value) is `None`.
fn attribute<'a>(rest: &'a str, name: &str) -> Option<(&'a str, &'a str)> {
    let r = rest.strip_prefix(name)?;
    let value = &r[..r.find('"')?];
    let clean = !value.contains(['<', '>'])
        && value
            .match_indices('&')
            .all(|(i, _)| ENTITIES.iter().any(|e| value[i..].starts_with(e)));
    let next = r[value.len() + 1..].strip_prefix(' ')?;
    clean.then_some((value, next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::markdown::comment_to_html;

    /// What a compromised writer, an old version or a hand edit could leave in a record.
    const HOSTILE: &[&str] = &[
        "<script>alert(1)</script>",
        "<p>hi<img src=x onerror=alert(1)></p>",
        "<p onclick=\"alert(1)\">x</p>",
        "<a href=\"javascript:alert(1)\" rel=\"nofollow ugc noopener\">x</a>",
        "<a href=\"JAVASCRIPT:alert(1)\" rel=\"nofollow ugc noopener\">x</a>",
        "<a href=\"java&#115;cript:alert(1)\" rel=\"nofollow ugc noopener\">x</a>",
        "<a href=\"https://x\" onmouseover=\"alert(1)\" rel=\"nofollow ugc noopener\">x</a>",
        "<a href=\"https://x\" rel=\"nofollow ugc noopener\" onclick=\"alert(1)\">x</a>",
        "<a href=\"https://x\" title=\"\" onclick=\"alert(1)\" rel=\"nofollow ugc noopener\">x</a>",
        "<p>x</p></li></ol><script>alert(1)</script>",
        "<svg><script>alert(1)</script></svg>",
        "<iframe src=\"https://evil.example\"></iframe>",
        "<!-- x --><style>body{display:none}</style>",
        "<p>a &lt;b&gt; &amp <x</p>",
        "<br/><br onload=alert(1)>",
        "<p>unclosed",
        "</p>",
        "<a href=\"https://x\">no rel</a>",
    ];

    fn read(stored: &str) -> SafeHtml {
        serde_json::from_value(serde_json::Value::String(stored.into())).unwrap()
    }

    #[test]
    fn a_stored_body_is_never_trusted() {
        for stored in HOSTILE {
            let html = read(stored);
            assert!(!in_sanitised_form(stored), "accepted as is: {stored}");
            let lower = html.to_ascii_lowercase();
            for bad in [
                "<script",
                "<img",
                "<svg",
                "<iframe",
                "<style",
                "onerror",
                "onclick",
                "onmouseover",
                "onload",
                "javascript",
            ] {
                assert!(!lower.contains(bad), "{stored} read as {html}");
            }
            assert!(
                in_sanitised_form(&html),
                "{stored} read as {html}: not stable"
            );
        }
    }

    /// What the sanitiser writes is taken back as it is (no re-sanitising on every read),
    /// and stays the same through a store and back.
    #[test]
    fn the_sanitisers_own_output_is_read_back_unchanged() {
        let bodies = [
            "Hello **world**, *you* and ~~them~~.",
            "A [link](https://example.org/a?b=1&c=2 \"its title\") and `code <b>`.",
            "> quoted\n\n- one\n- two\n\n1. a\n2. b\n\n    pre <x> & y\n",
            "mail [me](mailto:a@example.org); line  \nbreak; \"quotes\" 'single' & <script>alert(1)</script>",
            "<img src=x onerror=alert(1)> [x](javascript:alert(1)) [y](/relative)",
            "Non\u{a0}breaking space, émoji 🎉, and İİİ",
        ];
        for md in bodies {
            let html = comment_to_html(md);
            assert!(in_sanitised_form(&html), "{md:?} gave {html}");
            let json = serde_json::to_string(&html).unwrap();
            assert_eq!(serde_json::from_str::<SafeHtml>(&json).unwrap(), html);
            assert_eq!(SafeHtml::sanitise(&html), html, "idempotent");
        }
        let p = SafeHtml::paragraph("Tom & \"Jerry\" <script>alert('x')</script>");
        assert_eq!(
            p,
            "<p>Tom &amp; &quot;Jerry&quot; &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</p>"
        );
        assert!(in_sanitised_form(&p));
        assert_eq!(read(&p), p);
    }
}
