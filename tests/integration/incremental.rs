//! Incremental builds give the same site as a full build: after each content change, the
//! site the render function keeps up to date event by event is compared, file by file,
//! with a site built from scratch from the same content.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use integration_tests::{copy_dir, sample_content};
use shared::adapters::fjall_items::FjallItemStore;
use shared::adapters::fs_blob::FsBlobStore;
use shared::ports::FixedClock;
use shared::signing::Keys;
use shared::site::build::{Builder, ContentEvent, Stores};
use time::macros::datetime;

fn builder(content: &Path, work: &Path, records: Arc<FjallItemStore>) -> Builder {
    Builder::new(
        Stores {
            content: Arc::new(FsBlobStore::new(content)),
            site: Arc::new(FsBlobStore::new(work.join("site"))),
            state: Arc::new(FsBlobStore::new(work.join("state"))),
            records,
        },
        Keys::from_master(&[3u8; 32]).unwrap().forms,
        Arc::new(FixedClock::at(datetime!(2026-11-20 12:00 UTC))),
    )
}

fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let key = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(key, without_form_tokens(std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Form tokens say when a page was rendered: an event's time for a page an event re-rendered,
/// the day for a full build. Everything else must be the same.
fn without_form_tokens(bytes: Vec<u8>) -> Vec<u8> {
    let Ok(text) = String::from_utf8(bytes.clone()) else {
        return bytes;
    };
    let marker = "name=\"form_token\" value=\"";
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find(marker) {
        let value_start = at + marker.len();
        out.push_str(&rest[..value_start]);
        out.push_str("TOKEN");
        rest = &rest[value_start..];
        rest = &rest[rest.find('"').unwrap_or(rest.len())..];
    }
    out.push_str(rest);
    out.into_bytes()
}

fn post(slug: &str, title: &str, date: &str, draft: bool) -> String {
    format!(
        "---\ntitle: \"{title}\"\ndate: {date}\ndraft: {draft}\nsummary: \"About {slug}.\"\n---\n\nThe body of {slug}.\n"
    )
}

fn page(title: &str, extra: &str, draft: bool) -> String {
    format!("---\ntitle: \"{title}\"\n{extra}draft: {draft}\n---\n\nThe body of {title}.\n")
}

/// Apply `change` to the content, send its events to the incremental builder, build a fresh
/// site from scratch, and require the two to be the same, byte for byte.
async fn step(
    what: &str,
    content: &Path,
    incremental: &Builder,
    site_dir: &Path,
    records: &Arc<FjallItemStore>,
    keys: &[&str],
    change: impl FnOnce(),
) {
    change();
    let events: Vec<ContentEvent> = keys
        .iter()
        .map(|k| ContentEvent {
            key: k.to_string(),
            removed: !content.join(k).exists(),
            at: None,
        })
        .collect();
    let report = incremental.apply(&events).await.unwrap();
    assert!(report.errors.is_empty(), "{what}: {:?}", report.errors);

    let scratch = tempfile::tempdir().unwrap();
    let full = builder(content, scratch.path(), records.clone());
    full.full_build().await.unwrap();
    let expected = files(&scratch.path().join("site"));
    let got = files(site_dir);
    let missing: Vec<&String> = expected.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<&String> = got.keys().filter(|k| !expected.contains_key(*k)).collect();
    let differ: Vec<&String> = expected
        .iter()
        .filter(|(k, v)| got.get(*k).is_some_and(|g| g != *v))
        .map(|(k, _)| k)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && differ.is_empty(),
        "after {what}: missing {missing:?}, extra {extra:?}, different {differ:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn every_change_leaves_the_site_a_full_build_would_make() {
    let tmp = tempfile::tempdir().unwrap();
    let content = tmp.path().join("content");
    copy_dir(&sample_content(), &content);
    // Two posts a page and three in the feed, so moves cross page and feed boundaries.
    let config = std::fs::read_to_string(content.join("site.toml")).unwrap();
    let config = config
        .replace("posts_per_page = 5", "posts_per_page = 2")
        .replace("feed_entries = 20", "feed_entries = 3");
    std::fs::write(content.join("site.toml"), config).unwrap();
    let records = Arc::new(FjallItemStore::open(&tmp.path().join("records")).unwrap());
    let work = tmp.path().join("incremental");
    let site_dir = work.join("site");
    let site = builder(&content, &work, records.clone());
    site.full_build().await.unwrap();

    let posts = content.join("posts");
    let write = |slug: &str, text: String| {
        let p = posts.join(format!("{slug}.md"));
        move || std::fs::write(p, text).unwrap()
    };
    let c = &content;
    let r = &records;

    step(
        "a title edited in place (page 2, not in the feed)",
        c,
        &site,
        &site_dir,
        r,
        &["posts/libraries-are-classrooms-too.md"],
        write(
            "libraries-are-classrooms-too",
            post("libraries", "Libraries, again", "2011-02-09", false),
        ),
    )
    .await;
    step(
        "the oldest post redated to be the newest (moves to the top; the footer year changes)",
        c,
        &site,
        &site_dir,
        r,
        &["posts/about-the-alliance.md"],
        write(
            "about-the-alliance",
            post("about", "About the Alliance", "2013-05-01", false),
        ),
    )
    .await;
    step(
        "a new post in the middle of the listing (the page count grows)",
        c,
        &site,
        &site_dir,
        r,
        &["posts/a-new-post.md"],
        write("a-new-post", post("new", "A new post", "2011-03-01", false)),
    )
    .await;
    step(
        "a post deleted",
        c,
        &site,
        &site_dir,
        r,
        &["posts/welcome-to-the-alliance.md"],
        || std::fs::remove_file(posts.join("welcome-to-the-alliance.md")).unwrap(),
    )
    .await;
    step(
        "a post made a draft",
        c,
        &site,
        &site_dir,
        r,
        &["posts/what-pupils-told-us.md"],
        write(
            "what-pupils-told-us",
            post("pupils", "What pupils told us", "2012-01-18", true),
        ),
    )
    .await;
    step(
        "the draft published again, redated into the feed",
        c,
        &site,
        &site_dir,
        r,
        &["posts/what-pupils-told-us.md"],
        write(
            "what-pupils-told-us",
            post("pupils", "What pupils told us", "2012-12-18", false),
        ),
    )
    .await;
    step(
        "two changes in one event: an edit and a deletion",
        c,
        &site,
        &site_dir,
        r,
        &["posts/a-new-post.md", "posts/spring-conference-2012.md"],
        || {
            std::fs::write(
                posts.join("a-new-post.md"),
                post("new", "A newer title", "2010-01-01", false),
            )
            .unwrap();
            std::fs::remove_file(posts.join("spring-conference-2012.md")).unwrap();
        },
    )
    .await;

    // Pages: not listed, not in the feed, in the sitemap. (The sample's `pages/about.md` was
    // there all along, so the footer-year change above re-rendered it too.)
    let pages = content.join("pages");
    let write_page = |slug: &str, text: String| {
        let p = pages.join(format!("{slug}.md"));
        move || std::fs::write(p, text).unwrap()
    };
    step(
        "a new page, with a photo",
        c,
        &site,
        &site_dir,
        r,
        &["pages/contact.md"],
        write_page(
            "contact",
            page(
                "Contact us",
                "photo: /photos/classroom-studio.jpg\ncaption: A studio.\n",
                false,
            ),
        ),
    )
    .await;
    step(
        "a page edited: a new title and an updated date (its sitemap entry changes)",
        c,
        &site,
        &site_dir,
        r,
        &["pages/about.md"],
        write_page(
            "about",
            page(
                "About us, again",
                "updated: 2013-06-01\nsummary: Us.\n",
                false,
            ),
        ),
    )
    .await;
    // The photo a page uses, replaced: the page re-renders with its new variants. (A
    // replaced photo's old variants stay in the site, in full and incremental builds alike;
    // a build from scratch never made them, so they are set aside before comparing.)
    let photo_dir = site_dir.join("photos");
    let old_variants: Vec<std::path::PathBuf> = std::fs::read_dir(&photo_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("classroom-studio-")
        })
        .collect();
    assert!(!old_variants.is_empty());
    std::fs::copy(
        c.join("photos/library-reading-room.jpg"),
        c.join("photos/classroom-studio.jpg"),
    )
    .unwrap();
    let report = site
        .apply(&[ContentEvent {
            key: "photos/classroom-studio.jpg".into(),
            removed: false,
            at: None,
        }])
        .await
        .unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(
        report.written.contains("contact/index.html"),
        "{:?}",
        report.written
    );
    for p in old_variants {
        std::fs::remove_file(p).unwrap();
    }
    step(
        "the photo a page uses, replaced",
        c,
        &site,
        &site_dir,
        r,
        &[],
        || {},
    )
    .await;
    step(
        "a page made a draft",
        c,
        &site,
        &site_dir,
        r,
        &["pages/about.md"],
        write_page("about", page("About us, again", "", true)),
    )
    .await;
    step(
        "the draft page published again, and a post edited, in one event",
        c,
        &site,
        &site_dir,
        r,
        &["pages/about.md", "posts/a-new-post.md"],
        || {
            std::fs::write(pages.join("about.md"), page("About us", "", false)).unwrap();
            std::fs::write(
                posts.join("a-new-post.md"),
                post("new", "A new post once more", "2010-02-01", false),
            )
            .unwrap();
        },
    )
    .await;
    step(
        "a page deleted",
        c,
        &site,
        &site_dir,
        r,
        &["pages/contact.md"],
        || std::fs::remove_file(pages.join("contact.md")).unwrap(),
    )
    .await;
    assert!(
        !site_dir.join("contact/index.html").exists() && site_dir.join("about/index.html").exists()
    );

    // And the index survives a new process: a fresh builder reads it from the state store.
    let restarted = builder(&content, &work, records.clone());
    step(
        "an edit in a restarted process",
        c,
        &restarted,
        &site_dir,
        r,
        &["posts/five-questions-for-your-candidates.md"],
        write(
            "five-questions-for-your-candidates",
            post("five", "Five questions", "2011-04-14", false),
        ),
    )
    .await;
    step(
        "a page deleted in a restarted process (the page index is read from the state store)",
        c,
        &restarted,
        &site_dir,
        r,
        &["pages/about.md"],
        || std::fs::remove_file(pages.join("about.md")).unwrap(),
    )
    .await;
    assert!(!site_dir.join("about/index.html").exists());

    // A page that would take one of the site's own addresses is refused, by both builds,
    // naming the file; the site's page stays.
    std::fs::write(pages.join("signup.md"), page("Sign up here", "", false)).unwrap();
    let event = ContentEvent {
        key: "pages/signup.md".into(),
        removed: false,
        at: None,
    };
    for report in [
        restarted.apply(&[event]).await.unwrap(),
        restarted.full_build().await.unwrap(),
    ] {
        assert!(
            report
                .errors
                .iter()
                .any(|e| e.starts_with("pages/signup.md:")
                    && e.contains("/signup/ belongs to the site itself")),
            "{:?}",
            report.errors
        );
    }
    let signup = std::fs::read_to_string(site_dir.join("signup/index.html")).unwrap();
    assert!(signup.contains("id=\"signup-form\"") && !signup.contains("Sign up here"));
}
