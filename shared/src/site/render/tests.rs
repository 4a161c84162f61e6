//! The renderer on sample posts and hostile comments: escaping, feeds, pages.
use super::*;
use crate::comments::{Comment, CommentStatus};
use crate::site::content::{parse_page, parse_post};
use crate::site::photos::Variant;

const EVIL: &str = "<script>alert(\"x\")</script>'&";

fn config() -> SiteConfig {
    SiteConfig::parse(&format!(
        "title = {t:?}\nbase_url = \"https://example.org/\"\napi_url = \"https://api.example.org\"\ndescription = {t:?}\nhcaptcha_site_key = {t:?}\n[[nav]]\ntitle = {t:?}\nurl = \"/\"\n",
        t = EVIL
    ))
    .unwrap()
}

fn quotes() -> Vec<Quote> {
    vec![Quote {
        text: EVIL.into(),
        author: EVIL.into(),
        source: EVIL.into(),
    }]
}

fn photo() -> PhotoInfo {
    PhotoInfo {
        key: "photos/hall.jpg".into(),
        md5: "0".repeat(32),
        source: String::new(),
        width: 1200,
        height: 800,
        variants: [480u32, 960, 1200]
            .iter()
            .map(|w| Variant {
                width: *w,
                height: w * 2 / 3,
                jpeg: format!("photos/hall-{w}-abc.jpg"),
                webp: format!("photos/hall-{w}-abc.webp"),
            })
            .collect(),
    }
}

fn evil_post() -> Post {
    let md = format!(
        "---\ntitle: {e:?}\ndate: 2010-07-21\nphoto: /photos/hall.jpg\ncaption: {e:?}\ncredit: {e:?}\nsummary: {e:?}\ntags: [{e:?}]\n---\nBody <script>x</script> [a](javascript:alert(1))\n",
        e = EVIL
    );
    parse_post("posts/evil.md", md.as_bytes()).unwrap()
}

fn evil_comment() -> Comment {
    Comment {
        id: "c1".into(),
        post: "evil".into(),
        parent: None,
        author: EVIL.into(),
        website: Some("javascript:alert(1)".into()),
        body_md: EVIL.into(),
        body_html: crate::markdown::comment_to_html(EVIL),
        status: CommentStatus::Approved,
        kind: Default::default(),
        created: "2010-07-22T10:00:00Z".into(),
        email_hash: None,
        ip_hash: None,
        spam_rules: vec![],
    }
}

fn no_raw(html: &str) {
    assert!(!html.contains("<script>alert"), "raw script in output");
    assert!(!html.contains("javascript:"), "javascript: URL in output");
    assert!(!html.contains("'&<"), "unescaped text");
}

#[test]
fn every_field_is_escaped_on_every_page() {
    let cfg = config();
    let q = quotes();
    let theme = Theme::new(&[]).unwrap();
    let r = Renderer {
        config: &cfg,
        quotes: &q,
        theme: &theme,
        css_md5: "0123456789abcdef",
        year: 2010,
        absolute_links: false,
    };
    let post = evil_post();
    let page = r
        .post_page(&post, Some(&photo()), &[evil_comment()], "tok\"en", None)
        .unwrap();
    no_raw(&page);
    assert!(
        page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;"),
        "escaped text present"
    );
    assert!(page.contains("value=\"tok&quot;en\""), "attribute escaped");
    let state = FormState {
        errors: HashMap::from([("name".into(), EVIL.to_string())]),
        values: HashMap::from([
            ("name".into(), EVIL.to_string()),
            ("body".into(), EVIL.to_string()),
        ]),
        notice: Some(EVIL.into()),
    };
    no_raw(&r.post_page(&post, None, &[], "t", Some(&state)).unwrap());
    let ps = PostSummary {
        slug: "evil".into(),
        title: EVIL.into(),
        published: "2010-07-21T00:00:00Z".into(),
        updated: None,
        summary: EVIL.into(),
        photo: Some("photos/hall.jpg".into()),
        caption: Some(EVIL.into()),
        draft: false,
        source_md5: String::new(),
    };
    let photos = BTreeMap::from([("photos/hall.jpg".to_string(), photo())]);
    no_raw(&r.index_page(1, 1, &[&ps], &photos).unwrap());
    no_raw(&r.feed(&[&ps]).unwrap());
    no_raw(&r.comments_feed(&ps, &[evil_comment()]).unwrap());
    no_raw(&r.sitemap(&[&ps], 1, &[]).unwrap());
    let page = parse_page(
        "pages/evil.md",
        format!(
            "---\ntitle: {e:?}\nupdated: 2010-07-21\nphoto: /photos/hall.jpg\nphoto_alt: {e:?}\ncaption: {e:?}\ncredit: {e:?}\nsummary: {e:?}\n---\nBody <script>x</script> [a](javascript:alert(1))\n",
            e = EVIL
        )
        .as_bytes(),
    )
    .unwrap();
    let html = r.page(&page, Some(&photo())).unwrap();
    no_raw(&html);
    assert!(html.contains("<h1>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;</h1>"));
    no_raw(&r.not_found().unwrap());
    no_raw(&r.signup_page("t", Some(&state)).unwrap());
    no_raw(
        &r.message_page(
            "m/",
            &Message {
                heading: EVIL.into(),
                body: EVIL.into(),
                action: None,
            },
        )
        .unwrap(),
    );
}

#[test]
fn photo_caption_and_credit_markup() {
    let cfg = SiteConfig::parse("title = \"T\"\nbase_url = \"https://example.org/\"\napi_url = \"https://api.example.org\"\n").unwrap();
    let theme = Theme::new(&[]).unwrap();
    let r = Renderer {
        config: &cfg,
        quotes: &[],
        theme: &theme,
        css_md5: "0123456789",
        year: 2010,
        absolute_links: false,
    };
    let post = parse_post("posts/p.md", b"---\ntitle: P\ndate: 2010-07-21\nphoto: hall.jpg\ncaption: Concert hall foyer.\ncredit: A. Name\n---\nHi\n").unwrap();
    let html = r.post_page(&post, Some(&photo()), &[], "t", None).unwrap();
    let fig =
        &html[html.find("<figure").expect("a figure")..html.find("</figure>").expect("closed")];
    assert!(fig.contains("<figcaption"));
    assert!(fig.contains("Concert hall foyer."));
    assert!(fig.contains("Photo: A. Name"));
    assert!(fig.contains("type=\"image/webp\""));
    assert!(fig.contains("/photos/hall-480-abc.webp 480w, /photos/hall-960-abc.webp 960w, /photos/hall-1200-abc.webp 1200w"));
    assert!(fig.contains("src=\"/photos/hall-960-abc.jpg\""));
    assert!(fig.contains("width=\"960\"") && fig.contains("height=\"640\""));
    assert!(
        html.contains("Published <time datetime=\"2010-07-21T00:00:00Z\">21 July 2010</time>"),
        "seed-style date line"
    );
    assert!(html.contains("There are no comments yet, why not be the first?"));
    assert!(html.contains("action=\"https://api.example.org/posts/p/comments\""));
}

#[test]
fn a_page_has_its_title_photo_and_body_but_no_date_or_comments() {
    let cfg = SiteConfig::parse("title = \"T\"\nbase_url = \"https://example.org/\"\napi_url = \"https://api.example.org\"\n").unwrap();
    let theme = Theme::new(&[]).unwrap();
    let r = Renderer {
        config: &cfg,
        quotes: &[],
        theme: &theme,
        css_md5: "0123456789",
        year: 2010,
        absolute_links: false,
    };
    let page = parse_page("pages/about.md", b"---\ntitle: About us\nsummary: Who we are.\nphoto: hall.jpg\ncaption: Concert hall foyer.\ncredit: A. Name\n---\nWe *are*.\n").unwrap();
    let html = r.page(&page, Some(&photo())).unwrap();
    assert!(html.contains("<title>About us | T</title>"));
    assert!(html.contains("<link rel=\"canonical\" href=\"https://example.org/about/\">"));
    assert!(html.contains("<meta name=\"description\" content=\"Who we are.\">"));
    assert!(html.contains("<h1>About us</h1>"));
    assert!(html.contains("<em>are</em>"));
    let fig =
        &html[html.find("<figure").expect("a figure")..html.find("</figure>").expect("closed")];
    assert!(fig.contains("Concert hall foyer. <span class=\"credit\">Photo: A. Name</span>"));
    assert!(fig.contains("src=\"/photos/hall-960-abc.jpg\""));
    // The figure is the post's: the same markup on both.
    let post = parse_post("posts/p.md", b"---\ntitle: P\ndate: 2010-07-21\nphoto: hall.jpg\ncaption: Concert hall foyer.\ncredit: A. Name\n---\nHi\n").unwrap();
    let post_html = r.post_page(&post, Some(&photo()), &[], "t", None).unwrap();
    assert!(post_html.contains(fig));
    for absent in [
        "Published",
        "Updated",
        "comment",
        "form_token",
        "webmention",
    ] {
        assert!(!html.contains(absent), "{absent} on a page");
    }
    let page = parse_page(
        "pages/about.md",
        b"---\ntitle: About us\nupdated: 2012-03-04\n---\nBody.\n",
    )
    .unwrap();
    let html = r.page(&page, None).unwrap();
    assert!(html.contains("Updated <time datetime=\"2012-03-04T00:00:00Z\">4 March 2012</time>"));
    assert!(!html.contains("<figure"));
    assert!(html.contains("<meta name=\"description\" content=\"Body.\">"));

    // The sitemap lists it, with `updated` as its lastmod when given.
    let pages = [
        PageSummary {
            slug: "about".into(),
            updated: Some("2012-03-04T00:00:00Z".into()),
            photo: None,
        },
        PageSummary {
            slug: "contact".into(),
            updated: None,
            photo: None,
        },
    ];
    let xml = r
        .sitemap(&[], 1, &pages.iter().collect::<Vec<_>>())
        .unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed sitemap");
    let urls: Vec<(String, Option<String>)> = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "url")
        .map(|u| {
            let child = |name: &str| {
                u.children()
                    .find(|c| c.tag_name().name() == name)
                    .and_then(|c| c.text())
                    .map(str::to_string)
            };
            (child("loc").unwrap(), child("lastmod"))
        })
        .collect();
    assert!(urls.contains(&(
        "https://example.org/about/".into(),
        Some("2012-03-04T00:00:00Z".into())
    )));
    assert!(urls.contains(&("https://example.org/contact/".into(), None)));
}

#[test]
fn the_atom_feed_is_well_formed_and_complete() {
    let cfg = SiteConfig::parse("title = \"T & Co\"\nbase_url = \"https://example.org/\"\napi_url = \"https://api.example.org\"\n").unwrap();
    let theme = Theme::new(&[]).unwrap();
    let r = Renderer {
        config: &cfg,
        quotes: &[],
        theme: &theme,
        css_md5: "0123456789",
        year: 2010,
        absolute_links: false,
    };
    let ps = PostSummary {
        slug: "a".into(),
        title: "A <b>".into(),
        published: "2010-07-21T00:00:00Z".into(),
        updated: Some("2010-08-01T00:00:00Z".into()),
        summary: "S & s".into(),
        photo: None,
        caption: None,
        draft: false,
        source_md5: String::new(),
    };
    let xml = r.feed(&[&ps]).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let feed = doc.root_element();
    assert_eq!(feed.tag_name().name(), "feed");
    assert_eq!(
        feed.tag_name().namespace(),
        Some("http://www.w3.org/2005/Atom")
    );
    let child = |n: roxmltree::Node<'_, '_>, name: &str| {
        n.children()
            .find(|c| c.tag_name().name() == name)
            .map(|c| c.text().unwrap_or("").to_string())
    };
    assert_eq!(child(feed, "title").as_deref(), Some("T & Co"));
    assert!(
        child(feed, "id").is_some()
            && child(feed, "updated").as_deref() == Some("2010-08-01T00:00:00Z")
    );
    let entry = feed
        .children()
        .find(|c| c.tag_name().name() == "entry")
        .expect("an entry");
    assert_eq!(child(entry, "title").as_deref(), Some("A <b>"));
    assert_eq!(
        child(entry, "id").as_deref(),
        Some("https://example.org/posts/a/")
    );
    assert!(child(entry, "updated").is_some());
    let comments = r.comments_feed(&ps, &[evil_comment()]).unwrap();
    let doc = roxmltree::Document::parse(&comments).expect("well-formed comments feed");
    assert!(doc
        .descendants()
        .any(|n| n.tag_name().name() == "content" && n.attribute("type") == Some("html")));
    roxmltree::Document::parse(&r.sitemap(&[&ps], 1, &[]).unwrap()).expect("well-formed sitemap");
}

#[test]
fn output_is_deterministic() {
    let cfg = config();
    let q = quotes();
    let theme = Theme::new(&[]).unwrap();
    let r = Renderer {
        config: &cfg,
        quotes: &q,
        theme: &theme,
        css_md5: "0123456789",
        year: 2010,
        absolute_links: false,
    };
    let post = evil_post();
    let comments = vec![evil_comment()];
    let a = r
        .post_page(&post, Some(&photo()), &comments, "t", None)
        .unwrap();
    for _ in 0..5 {
        assert_eq!(
            a,
            r.post_page(&post, Some(&photo()), &comments, "t", None)
                .unwrap()
        );
    }
}

#[test]
fn broken_override_templates_are_reported_with_name_and_line() {
    let err = Theme::new(&[("post.html".into(), "line one\n{% if %}\n".into())])
        .err()
        .expect("a syntax error");
    assert_eq!(err.name, "post.html");
    assert_eq!(err.line, Some(2));
    let theme =
        Theme::new(&[("404.html".into(), "<p>{{ site.title }} custom</p>".into())]).unwrap();
    let cfg = config();
    let r = Renderer {
        config: &cfg,
        quotes: &[],
        theme: &theme,
        css_md5: "0123456789",
        year: 2010,
        absolute_links: false,
    };
    assert!(r.not_found().unwrap().ends_with("custom</p>"));
}

#[test]
fn replies_are_threaded_under_their_parent() {
    let mut parent = evil_comment();
    parent.author = "Parent".into();
    let mut reply = evil_comment();
    reply.id = "c2".into();
    reply.author = "Replier".into();
    reply.parent = Some("c1".into());
    let mut orphan = evil_comment();
    orphan.id = "c3".into();
    orphan.parent = Some("gone".into());
    let t = thread(&[parent, reply, orphan]);
    assert_eq!(t.len(), 2, "the orphan goes to the top level");
    assert_eq!(t[0].children.len(), 1);
    assert_eq!(t[0].children[0].author, "Replier");
    assert!(t[0].website.is_none(), "javascript: website dropped");
}

#[test]
fn a_long_conversation_stays_on_the_page_below_the_deepest_level() {
    // c0 <- c1 <- ... <- c11, each replying to the one before.
    let chain: Vec<Comment> = (0..12)
        .map(|i| {
            let mut c = evil_comment();
            c.id = format!("c{i}");
            c.created = format!("2026-01-01T00:00:{i:02}Z");
            c.parent = (i > 0).then(|| format!("c{}", i - 1));
            c
        })
        .collect();
    let t = thread(&chain);
    fn walk(c: &CommentCtx, depth: usize, seen: &mut Vec<(String, usize)>) {
        seen.push((c.id.clone(), depth));
        for k in &c.children {
            walk(k, depth + 1, seen);
        }
    }
    let mut seen = Vec::new();
    for c in &t {
        walk(c, 1, &mut seen);
    }
    assert_eq!(seen.len(), 12, "every reply is shown: {seen:?}");
    assert!(seen.iter().all(|(_, d)| *d <= MAX_THREAD_DEPTH));
    let flat: Vec<&str> = seen[MAX_THREAD_DEPTH - 1..]
        .iter()
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(flat, ["c7", "c8", "c9", "c10", "c11"], "oldest first");
}

/// Every character XML 1.0 refuses, and the C1 controls and DEL it only discourages.
const CONTROLS: &str =
    "\u{1}\u{8}\u{b}\u{c}\u{1b}[31m\u{1f}\u{7f}\u{85}\u{9b}\u{fffe}\u{ffff}\u{0}";

fn plain_renderer<'a>(cfg: &'a SiteConfig, theme: &'a Theme) -> Renderer<'a> {
    Renderer {
        config: cfg,
        quotes: &[],
        theme,
        css_md5: "0123456789",
        year: 2010,
        absolute_links: false,
    }
}

fn summary_titled(title: &str) -> PostSummary {
    PostSummary {
        slug: "a".into(),
        title: title.into(),
        published: "2010-07-21T00:00:00Z".into(),
        updated: None,
        summary: title.into(),
        photo: None,
        caption: None,
        draft: false,
        source_md5: String::new(),
    }
}

/// A comment stored with control characters (imported, or older than the rule that refuses
/// them), bypassing validation: its post's comment feed is still well-formed XML.
#[test]
fn stored_control_characters_never_break_a_feed() {
    let cfg = SiteConfig::parse("title = \"T\"\nbase_url = \"https://example.org/\"\napi_url = \"https://api.example.org\"\n").unwrap();
    let mut c = evil_comment();
    c.author = format!("Ann{CONTROLS}Lee");
    c.body_md = format!("Hello{CONTROLS}world");
    c.body_html = crate::markdown::comment_to_html(&c.body_md);
    let ps = summary_titled(&format!("Post{CONTROLS}title"));
    let theme = Theme::new(&[]).unwrap();
    let r = plain_renderer(&cfg, &theme);
    let xml = r.comments_feed(&ps, &[c.clone()]).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed comments feed");
    let name = doc
        .descendants()
        .find(|n| {
            n.tag_name().name() == "name"
                && n.parent().unwrap().parent().unwrap().tag_name().name() == "entry"
        })
        .and_then(|n| n.text())
        .unwrap();
    assert!(name.starts_with("Ann") && name.ends_with("Lee"), "{name:?}");
    assert!(
        xml.contains("Hello") && xml.contains("world"),
        "the text around them is kept"
    );
    roxmltree::Document::parse(&r.feed(&[&ps]).unwrap()).expect("well-formed site feed");

    // A site owner's feed template printing the values marked safe, through `|e`, or from a
    // partial that is not `.xml`: the feed is still well-formed.
    let theme = Theme::new(&[
        (
            "comments.xml".into(),
            "<feed>{% for e in entries %}<a>{{ e.author | safe }}</a><b>{{ e.author | e }}</b>\
             {% include \"entry.html\" %}{% endfor %}</feed>"
                .into(),
        ),
        ("entry.html".into(), "<c>{{ e.content_html }}</c>".into()),
    ])
    .unwrap();
    let xml = plain_renderer(&cfg, &theme)
        .comments_feed(&ps, &[c])
        .unwrap();
    roxmltree::Document::parse(&xml).expect("well-formed owner's feed");
}

/// Auto-escape does not depend on a template's name: a partial a site owner uploads as
/// `.txt`, `.jinja` or with no extension prints visitors' text escaped.
#[test]
fn templates_of_any_name_escape_html() {
    let cfg = config();
    for partial in ["partial.txt", "partial.jinja", "partial.html.j2", "partial"] {
        let theme = Theme::new(&[
            (
                "post.html".into(),
                format!(
                    "<main>{{% for c in comments %}}{{% include \"{partial}\" %}}{{% endfor %}}</main>"
                ),
            ),
            (partial.into(), "<p class=\"author\">{{ c.author }}</p>".into()),
        ])
        .unwrap();
        let page = plain_renderer(&cfg, &theme)
            .post_page(&evil_post(), None, &[evil_comment()], "t", None)
            .unwrap();
        assert!(
            page.contains(
                "<p class=\"author\">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;</p>"
            ),
            "{partial}: {page}"
        );
        no_raw(&page);
    }
}

/// The inline scripts of a page, as their text (what a browser hashes for the CSP).
fn inline_scripts(html: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("<script") {
        let open_end = i + rest[i..].find('>').unwrap();
        let close = open_end + rest[open_end..].find("</script>").unwrap();
        if !rest[i..open_end].contains("src=") {
            out.push(&rest[open_end + 1..close]);
        }
        rest = &rest[close..];
    }
    out
}

/// Every inline script of every page the built-in theme renders is one the security
/// policy allows by its hash (the post page's reply script; the others have none): an
/// edit to the script that forgets the hash fails here, not silently in browsers.
#[test]
fn every_inline_script_is_allowed_by_the_policy() {
    use crate::http::security_headers::{script_hash, REPLY_SCRIPT_HASH};
    let cfg = SiteConfig::parse("title = \"T\"\nbase_url = \"https://example.org/\"\napi_url = \"https://api.example.org\"\n").unwrap();
    let theme = Theme::new(&[]).unwrap();
    for absolute_links in [false, true] {
        let mut r = plain_renderer(&cfg, &theme);
        r.absolute_links = absolute_links;
        let post = evil_post();
        let form = FormState {
            errors: HashMap::from([("parent".into(), "gone".to_string())]),
            values: HashMap::from([("parent".into(), "c1".to_string())]),
            notice: None,
        };
        let pages = [
            r.post_page(&post, None, &[evil_comment()], "t", None)
                .unwrap(),
            r.post_page(&post, None, &[], "t", Some(&form)).unwrap(),
            r.signup_page("t", None).unwrap(),
            r.message_page(
                "x/",
                &Message {
                    heading: "H".into(),
                    body: "B".into(),
                    action: None,
                },
            )
            .unwrap(),
        ];
        let scripts: Vec<&str> = pages.iter().flat_map(|p| inline_scripts(p)).collect();
        assert_eq!(scripts.len(), 2, "the reply script, on both post pages");
        for s in scripts {
            assert_eq!(
                script_hash(s),
                REPLY_SCRIPT_HASH,
                "an inline script the CSP refuses: {s}"
            );
        }
    }
}

/// A comment record whose HTML was never sanitised (written straight into the store by an
/// old version, a hand edit or a compromised writer): read back, it renders inert on the
/// post page and in the comments feed.
#[test]
fn a_stored_comments_html_is_checked_when_read() {
    let cfg = SiteConfig::parse("title = \"T\"\nbase_url = \"https://example.org/\"\napi_url = \"https://api.example.org\"\n").unwrap();
    let theme = Theme::new(&[]).unwrap();
    let r = plain_renderer(&cfg, &theme);
    let mut item = evil_comment().to_item().unwrap();
    item.insert(
        "body_html".into(),
        "<p>hi<img src=x onerror=alert(1)></p><script>alert(2)</script>\
         <a href=\"javascript:alert(3)\" onclick=\"alert(4)\">x</a>"
            .into(),
    );
    let comment = Comment::from_item(&item).unwrap();
    let page = r
        .post_page(
            &evil_post(),
            None,
            std::slice::from_ref(&comment),
            "t",
            None,
        )
        .unwrap();
    let feed = r.comments_feed(&summary_titled("a"), &[comment]).unwrap();
    let feed_html = roxmltree::Document::parse(&feed)
        .unwrap()
        .descendants()
        .find(|n| n.tag_name().name() == "content")
        .and_then(|n| n.text())
        .unwrap()
        .to_string();
    for (what, html) in [("page", page.as_str()), ("feed", feed_html.as_str())] {
        for bad in [
            "onerror",
            "onclick",
            "<script>alert(2)",
            "javascript:",
            "<img",
        ] {
            assert!(!html.contains(bad), "{what} has {bad}: {html}");
        }
        assert!(html.contains("<p>hi</p>"), "{what} keeps the text: {html}");
    }
}
