//! Markdown to HTML, allow-listed.
//!
//! Posts: pulldown-cmark with raw HTML turned into escaped text and link targets limited to
//! safe schemes. This is an allow-list by construction and fast enough for 10,000 posts.
//! Comments: the same, then cleaned again by ammonia with a small tag set (visitor input
//! deserves two locks), and every link gets `rel="nofollow ugc"`. The result is a
//! [`SafeHtml`], the only type a comment's stored HTML can have.

use std::collections::HashSet;
use std::sync::OnceLock;

use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag, TagEnd};

mod safe_html;
pub use safe_html::SafeHtml;

/// Is this a link target we let through? http(s), mailto, and relative or fragment links.
pub fn is_safe_url(url: &str) -> bool {
    let u = url.trim();
    match u.find([':', '/', '?', '#']) {
        Some(i) if u.as_bytes()[i] == b':' => {
            let scheme = u[..i].to_ascii_lowercase();
            matches!(scheme.as_str(), "http" | "https" | "mailto")
        }
        _ => !u.chars().any(|c| c.is_control()),
    }
}

fn safe_events<'a>(parser: Parser<'a>) -> impl Iterator<Item = Event<'a>> {
    parser.map(|ev| match ev {
        Event::Html(s) | Event::InlineHtml(s) => Event::Text(s),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            let dest_url = if is_safe_url(&dest_url) {
                dest_url
            } else {
                CowStr::Borrowed("#")
            };
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            })
        }
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            let dest_url = if is_safe_url(&dest_url) && !dest_url.starts_with("mailto:") {
                dest_url
            } else {
                CowStr::Borrowed("")
            };
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            })
        }
        other => other,
    })
}

fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_SMART_PUNCTUATION
}

/// A post body (written by the site owner) as HTML.
pub fn post_to_html(md: &str) -> String {
    let mut out = String::with_capacity(md.len() * 3 / 2);
    html::push_html(&mut out, safe_events(Parser::new_ext(md, options())));
    alignment_as_classes(out)
}

/// Table columns' alignment as classes (`align-left`, `align-center`, `align-right`, which
/// the theme styles) instead of the `style` attributes pulldown-cmark writes: the pages'
/// Content-Security-Policy refuses inline styles. Only the HTML writer can have written
/// these strings: a post's own text and raw HTML reach the output escaped (`&quot;`).
fn alignment_as_classes(html: String) -> String {
    if !html.contains(" style=\"text-align: ") {
        return html;
    }
    ["left", "center", "right"].iter().fold(html, |h, a| {
        h.replace(
            &format!(" style=\"text-align: {a}\">"),
            &format!(" class=\"align-{a}\">"),
        )
    })
}

/// A comment body (written by a visitor) as HTML: no images, no headings, no raw HTML,
/// links marked `nofollow ugc`.
pub fn comment_to_html(md: &str) -> SafeHtml {
    let mut raw = String::with_capacity(md.len() * 3 / 2);
    let events = safe_events(Parser::new_ext(md, Options::ENABLE_STRIKETHROUGH)).filter(|e| {
        !matches!(
            e,
            Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image)
        )
    });
    html::push_html(&mut raw, events);
    SafeHtml::sanitise(&raw)
}

/// The tags a comment's HTML may have: what comment Markdown produces, less images and
/// headings. The sanitiser keeps these and no others; [`SafeHtml`]'s check of a stored
/// body accepts these and no others.
const COMMENT_TAGS: [&str; 12] = [
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

/// The only link schemes a comment keeps (no relative links either).
const COMMENT_URL_SCHEMES: [&str; 3] = ["http", "https", "mailto"];

/// What the sanitiser gives every link, in place of any `rel` it had.
const COMMENT_LINK_REL: &str = "nofollow ugc noopener";

fn comment_cleaner() -> &'static ammonia::Builder<'static> {
    static CLEANER: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    CLEANER.get_or_init(|| {
        let tags: HashSet<&str> = COMMENT_TAGS.into();
        let schemes: HashSet<&str> = COMMENT_URL_SCHEMES.into();
        let mut b = ammonia::Builder::default();
        b.tags(tags)
            .tag_attributes(Default::default())
            .add_tag_attributes("a", ["href"])
            .url_schemes(schemes)
            .link_rel(Some(COMMENT_LINK_REL))
            .url_relative(ammonia::UrlRelative::Deny);
        b
    })
}

/// Plain text of the first paragraph, at most `max_words` words, for summaries and feeds.
pub fn plain_summary(md: &str, max_words: usize) -> String {
    let mut text = String::new();
    let mut in_para = false;
    for ev in Parser::new(md) {
        match ev {
            Event::Start(Tag::Paragraph) => in_para = true,
            Event::End(TagEnd::Paragraph) if in_para => break,
            Event::Text(t) | Event::Code(t) if in_para => text.push_str(&t),
            Event::SoftBreak | Event::HardBreak if in_para => text.push(' '),
            _ => {}
        }
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.len() > max_words {
        format!("{}…", words[..max_words].join(" "))
    } else {
        words.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_markdown_renders_and_raw_html_is_inert() {
        let html =
            post_to_html("# Hi\n\n*em* <script>alert(1)</script>\n\n<div onclick=x>y</div>\n");
        assert!(html.contains("<h1>Hi</h1>"));
        assert!(html.contains("<em>em</em>"));
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<div"), "{html}");
    }

    #[test]
    fn unsafe_link_schemes_are_dropped() {
        for bad in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,x",
            "vbscript:x",
        ] {
            let html = post_to_html(&format!("[x]({bad})"));
            assert!(html.contains("href=\"#\""), "{bad}: {html}");
            let c = comment_to_html(&format!("[x]({bad})"));
            assert!(
                !c.to_lowercase().contains("javascript") && !c.contains("data:"),
                "{bad}: {c}"
            );
        }
        assert!(post_to_html("[x](https://example.org/a?b=1&c=2)")
            .contains("href=\"https://example.org/a?b=1&amp;c=2\""));
        assert!(post_to_html("[x](/posts/a/)").contains("href=\"/posts/a/\""));
    }

    #[test]
    fn comments_are_cleaned_and_links_marked() {
        let c = comment_to_html("Hello <img src=x onerror=alert(1)> **bold** [site](https://example.org)\n\n![i](https://e.org/i.png)\n\n# big");
        assert!(!c.contains("<img"), "{c}");
        assert!(c.contains("&lt;img"), "{c}");
        assert!(c.contains("<strong>bold</strong>"));
        assert!(c.contains("rel=\"nofollow ugc noopener\""), "{c}");
        assert!(!c.contains("<h1>"), "{c}");
    }

    /// Aligned table columns get classes, not inline styles the CSP would refuse; the
    /// same words in a post's text stay text.
    #[test]
    fn table_alignment_is_a_class_not_a_style() {
        let html = post_to_html(
            "| a | b | c | d |\n|:--|:-:|--:|---|\n| 1 | 2 | 3 | 4 |\n\n\
             `<td style=\"text-align: left\">` and <th style=\"text-align: right\">\n",
        );
        assert!(
            !html.contains("<th style") && !html.contains("<td style"),
            "{html}"
        );
        for a in ["left", "center", "right"] {
            assert!(
                html.contains(&format!("<th class=\"align-{a}\">")),
                "{html}"
            );
            assert!(
                html.contains(&format!("<td class=\"align-{a}\">")),
                "{html}"
            );
        }
        assert!(html.contains("<th>d</th>"), "{html}");
        assert_eq!(html.matches("class=\"align-").count(), 6, "{html}");
        assert!(html.contains("&lt;td style="), "{html}");
        assert!(html.contains("&lt;th style="), "{html}");
    }

    #[test]
    fn summary_is_the_first_paragraph_in_plain_text() {
        assert_eq!(
            plain_summary("## Head\n\nSome *nice* [text](x) here.\n\nMore.", 50),
            "Some nice text here."
        );
        assert_eq!(plain_summary("one two three four", 2), "one two…");
    }
}
