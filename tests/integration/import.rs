//! `site import wordpress`, through the command itself: WordPress's own importer test
//! exports (../shared/wordpress-wxr/), and a campaign site's export written for these
//! tests; then the imported site served locally (pages, comments, pingbacks, old addresses
//! answering 301), imported again (nothing changes), and imported onto AWS (moto).
//!
//! Long on purpose: one story per export, each checked from the outside.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use integration_tests::{copy_dir, root, sample_content};

fn wxr_dir() -> PathBuf {
    let d = root().join("../shared/wordpress-wxr");
    assert!(d.is_dir(), "{} is missing", d.display());
    d
}

fn fixture() -> PathBuf {
    root().join("tests/fixtures/wordpress/campaign-site.xml")
}

/// Every file under `dir`, with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().to_string_lossy().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// `site import wordpress …`: (success, stdout, stderr).
fn import(export: &Path, content: &Path, data: &Path, extra: &[&str]) -> (bool, String, String) {
    let out = Command::new(integration_tests::site_binary())
        .args(["import", "wordpress"])
        .arg(export)
        .arg("--content")
        .arg(content)
        .arg("--data")
        .arg(data)
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn build(content: &Path, data: &Path) -> String {
    let out = Command::new(integration_tests::site_binary())
        .arg("build")
        .arg("--content")
        .arg(content)
        .arg("--data")
        .arg(data)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// WordPress's own test exports: each imports (malformed.xml: a clear error naming line
/// and column, and nothing written).
#[test]
fn wordpress_own_test_exports_import_as_a_user_expects() {
    let mut names: Vec<PathBuf> = std::fs::read_dir(wxr_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    names.sort();
    assert!(names.len() >= 15, "{names:?}");
    for export in names {
        let name = export.file_name().unwrap().to_string_lossy().to_string();
        let tmp = tempfile::tempdir().unwrap();
        let (content, data) = (tmp.path().join("content"), tmp.path().join("data"));
        copy_dir(&sample_content(), &content);
        let before = snapshot(&content);
        let (ok, out, err) = import(&export, &content, &data, &[]);
        if name == "malformed.xml" {
            assert!(!ok, "{name}: {out}");
            assert!(
                err.contains("malformed.xml: line 27, column"),
                "{name}: {err}"
            );
            assert_eq!(snapshot(&content), before, "{name}: nothing written");
            continue;
        }
        assert!(ok, "{name}: {out}\n{err}");
        assert!(out.contains("Found and were imported"), "{name}: {out}");
        if name == "small-export.xml" {
            assert!(out.contains("6 posts"), "{name}: {out}");
            assert!(out.contains("5 pages"), "{name}: {out}");
            let after = snapshot(&content);
            let new_posts = after
                .keys()
                .filter(|k| k.starts_with("posts/") && !before.contains_key(*k))
                .count();
            assert!(new_posts >= 5, "{name}: {new_posts} posts written");
            assert!(after.keys().any(|k| k.starts_with("pages/")), "{name}");
            assert!(after.contains_key("redirects.txt"), "{name}");
        }
        // What was imported builds.
        let report = build(&content, &data);
        assert!(report.contains("0 error(s)"), "{name}: {report}");
    }
}

/// The campaign site: posts, pages, photos with captions and credits, comments threaded,
/// held and skipped, pingbacks, old addresses; served locally; imported again, nothing
/// changes; no address or IP in the clear anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_site_moves_over_whole_and_its_old_links_keep_working() {
    let tmp = tempfile::tempdir().unwrap();
    let (content, data) = (tmp.path().join("content"), tmp.path().join("data"));
    copy_dir(&sample_content(), &content);
    // The old site's uploads: two of the three photos the export uses (sage.jpg is there,
    // missing.jpg is not).
    let uploads = tmp.path().join("uploads");
    let photo = std::fs::read_dir(sample_content().join("photos"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "jpg"))
        .unwrap();
    for rel in [
        "2010/07/south-bank.jpg",
        "2010/07/sage.jpg",
        "2010/09/choir.jpg",
    ] {
        let p = uploads.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::copy(&photo, &p).unwrap();
    }
    let uploads_arg = uploads.to_string_lossy().to_string();

    // A dry run writes nothing and says what would happen.
    let before = snapshot(&content);
    let (ok, out, err) = import(
        &fixture(),
        &content,
        &data,
        &["--uploads", &uploads_arg, "--dry-run"],
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("would be imported"), "{out}");
    assert_eq!(snapshot(&content), before, "a dry run writes nothing");

    let (ok, out, err) = import(&fixture(), &content, &data, &["--uploads", &uploads_arg]);
    assert!(ok, "{out}{err}");
    for expected in [
        "3 posts (1 as drafts), 2 pages, 3 attachments",
        "comments: 2 approved, 1 held for moderation; 1 pingbacks, 1 trackbacks",
        "password-protected",
        "marked spam on the old site",
        "in the bin",
        "menu items",
        "missing.jpg",
        "iframe",
    ] {
        assert!(out.contains(expected), "report lacks {expected:?}:\n{out}");
    }
    let post = std::fs::read_to_string(content.join("posts/the-big-link-up.md")).unwrap();
    assert!(
        post.contains("title: 'The Big Link-Up: connecting culture and learning'")
            || post.contains("title: \"The Big Link-Up: connecting culture and learning\""),
        "{post}"
    );
    assert!(post.contains("date: 2010-07-21T09:30:00Z"), "{post}");
    assert!(post.contains("photo: 2010-07-south-bank.jpg"), "{post}");
    assert!(
        post.contains("caption: South Bank Cultural campus"),
        "{post}"
    );
    assert!(post.contains("credit: Olivia Hemingway"), "{post}");
    assert!(
        post.contains("- Events") && post.contains("- culture"),
        "{post}"
    );
    assert!(post.contains("**The Big Link-Up**"), "{post}");
    assert!(content.join("photos/2010-07-south-bank.jpg").exists());
    assert!(content.join("pages/about-us.md").exists());
    assert!(content.join("pages/our-team.md").exists());
    let draft =
        std::fs::read_to_string(content.join("posts/notes-for-the-autumn-newsletter.md")).unwrap();
    assert!(draft.contains("draft: true"), "{draft}");
    assert!(
        !content.join("posts/board-minutes.md").exists(),
        "password-protected: skipped"
    );
    let redirects = std::fs::read_to_string(content.join("redirects.txt")).unwrap();
    for line in [
        "/2010/07/21/the-big-link-up/",
        "/?p=12",
        "/about-us/our-team/",
        "/?page_id=3",
        "/?attachment_id=21",
        "/feed/",
    ] {
        assert!(
            redirects.contains(line),
            "redirects.txt lacks {line}:\n{redirects}"
        );
    }
    let report = build(&content, &data);
    assert!(report.contains("0 error(s)"), "{report}");

    // Served: the pages, the comments threaded, the pingback, the old addresses.
    let listener = site::server::listen(Some("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    {
        let local = site::local::LocalSite::open_with(
            &content,
            &data,
            site::local::LocalOptions {
                origin: Some(format!("http://{addr}")),
                ..Default::default()
            },
        )
        .unwrap();
        local.builder.full_build().await.unwrap();
        let server = site::server::Server::new(listener, local.clone());
        let handle = tokio::spawn(server.run());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let get = |path: &str| {
            let client = client.clone();
            let url = format!("http://{addr}{path}");
            async move {
                let r = client.get(url).send().await.unwrap();
                let status = r.status().as_u16();
                let location = r
                    .headers()
                    .get("location")
                    .map(|v| v.to_str().unwrap().to_string());
                (status, location, r.text().await.unwrap())
            }
        };
        let (status, _, page) = get("/posts/the-big-link-up/").await;
        assert_eq!(status, 200);
        assert!(page.contains("Lindsay Ibbotson"), "{page}");
        assert!(page.contains("Sam Okafor"), "a threaded reply");
        assert!(page.contains("class=\"replies\""), "threading kept");
        assert!(
            !page.contains("Priya Patel"),
            "a pending comment is held, not shown"
        );
        assert!(page.contains("Pingback from"), "{page}");
        assert!(page.contains("Ed Vaizey and the future of Open Culture"));
        assert!(!page.contains("javascript:alert"), "unsafe website dropped");
        assert!(!page.contains("<script>alert"), "comment HTML sanitised");
        // Stored sanitised (the import's write path), in the form a read takes as it is.
        let stored = shared::ports::ItemStore::query(
            &local.records,
            &shared::comments::post_pk("the-big-link-up"),
            shared::comments::COMMENT_SK_PREFIX,
        )
        .await
        .unwrap();
        assert!(!stored.is_empty());
        for item in stored {
            let html = item["body_html"].as_str().unwrap();
            assert!(shared::markdown::SafeHtml::is_sanitised(html), "{html}");
        }
        assert!(
            page.contains("Photo: Olivia Hemingway"),
            "the credit under the header photo"
        );
        let (status, _, about) = get("/about-us/").await;
        assert_eq!(status, 200, "{about}");
        assert!(about.contains("coalition of schools"));
        for (old, new) in [
            ("/2010/07/21/the-big-link-up/", "/posts/the-big-link-up/"),
            ("/2010/07/21/the-big-link-up", "/posts/the-big-link-up/"),
            ("/?p=12", "/posts/the-big-link-up/"),
            ("/?page_id=3", "/our-team/"),
            ("/about-us/our-team/", "/our-team/"),
            ("/?attachment_id=21", "/posts/the-big-link-up/"),
            (
                "/2010/07/21/the-big-link-up/south-bank/",
                "/posts/the-big-link-up/",
            ),
            ("/feed/", "/feed.xml"),
        ] {
            let (status, location, _) = get(old).await;
            assert_eq!(status, 301, "{old}");
            assert_eq!(location.as_deref(), Some(new), "{old}");
        }
        handle.abort();
    }

    // Again: nothing changes, nothing is added; the site built again is byte-identical.
    build(&content, &data);
    let content_before = snapshot(&content);
    let site_before = snapshot(&data.join("site"));
    let (ok, out, err) = import(&fixture(), &content, &data, &["--uploads", &uploads_arg]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("files: 0 written"), "{out}");
    assert!(out.contains("records: 0 added"), "{out}");
    let changed = |a: &BTreeMap<String, Vec<u8>>, b: &BTreeMap<String, Vec<u8>>| -> Vec<String> {
        a.keys()
            .chain(b.keys())
            .filter(|k| a.get(*k) != b.get(*k))
            .cloned()
            .collect()
    };
    assert_eq!(
        changed(&snapshot(&content), &content_before),
        Vec::<String>::new(),
        "re-import changed content"
    );
    build(&content, &data);
    assert_eq!(
        changed(&snapshot(&data.join("site")), &site_before),
        Vec::<String>::new(),
        "re-import changed the site"
    );

    // No e-mail address or IP from the export in the clear: not in the content, the
    // records, the site, or what the command printed.
    let everything: Vec<(String, Vec<u8>)> = snapshot(tmp.path())
        .into_iter()
        .filter(|(k, _)| !k.starts_with("uploads/"))
        .collect();
    for secret in [
        "lindsay.ibbotson@example.net",
        "sam.okafor@example.net",
        "priya.patel@example.net",
        "192.0.2.77",
        "198.51.100.42",
        "192.0.2.99",
        "203.0.113.5",
    ] {
        for (file, bytes) in &everything {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} in the clear in {file}"
            );
        }
        assert!(!out.contains(secret) && !err.contains(secret));
    }
}

/// `--aws`: the same export into the content bucket and the table (moto); the render
/// function's full build then publishes each old address as an object S3 redirects from
/// (`x-amz-website-redirect-location`, which CloudFront's viewer-response function turns
/// into a 301: tests/integration/infra.rs runs that function).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_onto_aws_publishes_redirect_objects() {
    let moto = integration_tests::Moto::start();
    let sdk = moto.sdk_config().await;
    let s3 = shared::adapters::aws::s3_client(&sdk);
    for b in ["campaign-content", "campaign-site"] {
        integration_tests::create_bucket(&s3, b).await;
    }
    integration_tests::upload_dir(&s3, "campaign-content", &sample_content()).await;
    integration_tests::create_table(
        &shared::adapters::aws::dynamodb_client(&sdk),
        "campaign-records",
    )
    .await;
    let key = "0101010101010101010101010101010101010101010101010101010101010101";
    let vars = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "eu-west-2"),
        ("CONTENT_BUCKET", "campaign-content"),
        ("SITE_BUCKET", "campaign-site"),
        ("TABLE_NAME", "campaign-records"),
        ("IDENTITY_KEY", key),
    ];
    let out = Command::new(integration_tests::site_binary())
        .args(["import", "wordpress"])
        .arg(fixture())
        .arg("--aws")
        .envs(vars)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("3 posts (1 as drafts), 2 pages"), "{text}");

    use shared::adapters::aws::{dynamodb_client, DynamoItemStore, S3BlobStore};
    let content: std::sync::Arc<dyn shared::ports::BlobStore> =
        std::sync::Arc::new(S3BlobStore::new(s3.clone(), "campaign-content", ""));
    let records: std::sync::Arc<dyn shared::ports::ItemStore> = std::sync::Arc::new(
        DynamoItemStore::new(dynamodb_client(&sdk), "campaign-records"),
    );
    let builder = || {
        shared::site::build::Builder::new(
            shared::site::build::Stores {
                content: content.clone(),
                site: std::sync::Arc::new(S3BlobStore::new(s3.clone(), "campaign-site", "")),
                state: std::sync::Arc::new(S3BlobStore::new(
                    s3.clone(),
                    "campaign-content",
                    "_state/",
                )),
                records: records.clone(),
            },
            shared::signing::FormKey::new(&[1u8; 32]).unwrap(),
            std::sync::Arc::new(shared::ports::SystemClock),
        )
    };
    assert!(content
        .get("posts/the-big-link-up.md")
        .await
        .unwrap()
        .is_some());
    assert!(content.get("pages/our-team.md").await.unwrap().is_some());
    let map = String::from_utf8(content.get("redirects.txt").await.unwrap().unwrap()).unwrap();
    assert!(map.contains("/?p=12"), "{map}");
    let comments = shared::comments::approved_comments(records.as_ref(), "the-big-link-up")
        .await
        .unwrap();
    assert_eq!(
        comments.len(),
        4,
        "two comments, a pingback and a trackback"
    );
    assert!(comments
        .iter()
        .all(|c| c.ip_hash.as_deref().is_none_or(|h| !h.contains('.'))));

    let report = builder().full_build().await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    for (old_key, location) in [
        (
            "2010/07/21/the-big-link-up/index.html",
            "/posts/the-big-link-up/",
        ),
        ("_old/p/12/index.html", "/posts/the-big-link-up/"),
        ("about-us/our-team/index.html", "/our-team/"),
    ] {
        let head = s3
            .head_object()
            .bucket("campaign-site")
            .key(old_key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{old_key}: {e:?}"));
        assert_eq!(
            head.website_redirect_location(),
            Some(location),
            "{old_key}"
        );
    }
    // A line taken out of the map: its redirect is taken down at the next build.
    let shorter: String = map
        .lines()
        .filter(|l| !l.starts_with("/?p=12 "))
        .map(|l| format!("{l}\n"))
        .collect();
    content
        .put(
            "redirects.txt",
            shorter.into_bytes(),
            &shared::site::layout::object_meta("redirects.txt"),
        )
        .await
        .unwrap();
    builder().full_build().await.unwrap();
    assert!(s3
        .head_object()
        .bucket("campaign-site")
        .key("_old/p/12/index.html")
        .send()
        .await
        .is_err());
}
