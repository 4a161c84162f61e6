//! The render function, driven by the `events/` samples, against S3 and DynamoDB in moto.

use std::sync::Arc;

use aws_sdk_s3::Client as S3;
use integration_tests::{create_table, event, sample_content, upload_dir, Moto};
use shared::adapters::aws::{dynamodb_client, s3_client, DynamoItemStore, S3BlobStore};
use shared::ports::SystemClock;
use shared::signing::Keys;
use shared::site::build::{Builder, Stores};

const CONTENT: &str = "campaign-content-123456789012-eu-west-2";
const SITE: &str = "campaign-site";
const TABLE: &str = "campaign-records";

async fn setup(moto: &Moto) -> (S3, Builder) {
    let sdk = moto.sdk_config().await;
    let s3 = s3_client(&sdk);
    let ddb = dynamodb_client(&sdk);
    for b in [CONTENT, SITE] {
        integration_tests::create_bucket(&s3, b).await;
    }
    create_table(&ddb, TABLE).await;
    upload_dir(&s3, CONTENT, &sample_content()).await;
    let builder = Builder::new(
        Stores {
            content: Arc::new(S3BlobStore::new(s3.clone(), CONTENT, "")),
            site: Arc::new(S3BlobStore::new(s3.clone(), SITE, "")),
            state: Arc::new(S3BlobStore::new(s3.clone(), CONTENT, "_state/")),
            records: Arc::new(DynamoItemStore::new(ddb, TABLE)),
        },
        Keys::from_master(&[9u8; 32]).unwrap().forms,
        Arc::new(SystemClock),
    );
    (s3, builder)
}

async fn get(s3: &S3, key: &str) -> Option<(String, String, String, String)> {
    let out = s3.get_object().bucket(SITE).key(key).send().await.ok()?;
    let ct = out.content_type().unwrap_or_default().to_string();
    let cc = out.cache_control().unwrap_or_default().to_string();
    let etag = out.e_tag().unwrap_or_default().to_string();
    let body =
        String::from_utf8_lossy(&out.body.collect().await.unwrap().into_bytes()).into_owned();
    Some((body, ct, cc, etag))
}

async fn put_content(s3: &S3, key: &str, body: &str) {
    s3.put_object()
        .bucket(CONTENT)
        .key(key)
        .body(body.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn render_function_builds_updates_and_deletes_through_s3_events() {
    let moto = Moto::start();
    let (s3, builder) = setup(&moto).await;

    // The daily scheduled event renders everything.
    let report = render::handler::handle(&builder, event("schedule-daily-rebuild.json"))
        .await
        .unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let (index, ct, cc, _) = get(&s3, "index.html").await.expect("index.html written");
    assert_eq!(ct, "text/html; charset=utf-8");
    assert_eq!(cc, "public, max-age=0, must-revalidate");
    let (post, _, _, _) = get(&s3, "posts/the-big-link-up/index.html")
        .await
        .expect("post page written");
    assert!(post.contains("<figure"), "header photo in a figure");
    assert!(post.contains("Photo:"), "photo credit");
    assert!(post.contains("There are no comments yet, why not be the first?"));
    assert!(post.contains("Tell us what you think"));
    assert!(index.contains("/posts/the-big-link-up/"));
    let (feed, ct, _, _) = get(&s3, "feed.xml").await.expect("feed written");
    assert_eq!(ct, "application/atom+xml; charset=utf-8");
    assert!(feed.contains("<feed xmlns=\"http://www.w3.org/2005/Atom\""));
    assert_eq!(
        get(&s3, "sitemap.xml").await.unwrap().1,
        "application/xml; charset=utf-8"
    );
    assert!(get(&s3, "404.html").await.is_some());
    assert!(get(&s3, "signup/index.html")
        .await
        .unwrap()
        .0
        .contains("we will never share your details with anyone else"));
    assert_eq!(
        get(&s3, "static/theme.css").await.unwrap().1,
        "text/css; charset=utf-8"
    );
    // Photo variants: JPEG and WebP, cached for good.
    let listing = s3
        .list_objects_v2()
        .bucket(SITE)
        .prefix("photos/south-bank-campus-")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = listing.contents().iter().filter_map(|o| o.key()).collect();
    assert!(
        keys.iter().any(|k| k.ends_with(".webp")) && keys.iter().any(|k| k.ends_with(".jpg")),
        "{keys:?}"
    );
    let webp = keys.iter().find(|k| k.ends_with(".webp")).unwrap();
    let head = s3
        .head_object()
        .bucket(SITE)
        .key(*webp)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("image/webp"));
    assert_eq!(
        head.cache_control(),
        Some("public, max-age=31536000, immutable")
    );

    // The same event again rewrites nothing.
    let again = render::handler::handle(&builder, event("schedule-daily-rebuild.json"))
        .await
        .unwrap();
    assert!(again.written.is_empty(), "rewrote {:?}", again.written);

    // A post edit: its page and the listing it is on, nothing else.
    let (other_before, ..) = get(&s3, "posts/welcome-to-the-alliance/index.html")
        .await
        .unwrap();
    let original = String::from_utf8(
        std::fs::read(sample_content().join("posts/the-big-link-up.md")).unwrap(),
    )
    .unwrap();
    let edited = retitle(&original, "The Big Link-Up, revised");
    put_content(&s3, "posts/the-big-link-up.md", &edited).await;
    let report = render::handler::handle(&builder, event("s3-post-put.json"))
        .await
        .unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(
        report.written.contains("posts/the-big-link-up/index.html"),
        "{:?}",
        report.written
    );
    assert!(!report
        .written
        .contains("posts/welcome-to-the-alliance/index.html"));
    assert!(get(&s3, "posts/the-big-link-up/index.html")
        .await
        .unwrap()
        .0
        .contains("The Big Link-Up, revised"));
    let listed_on_a_page = report
        .written
        .iter()
        .any(|k| k == "index.html" || k.starts_with("page/"));
    assert!(
        listed_on_a_page,
        "the listing page showing it was rewritten: {:?}",
        report.written
    );
    assert_eq!(
        get(&s3, "posts/welcome-to-the-alliance/index.html")
            .await
            .unwrap()
            .0,
        other_before
    );
    // Idempotent: the same event twice writes nothing new.
    let again = render::handler::handle(&builder, event("s3-post-put.json"))
        .await
        .unwrap();
    assert!(again.written.is_empty(), "rewrote {:?}", again.written);

    // A malformed post: a clear error naming file and line, and the live page is kept.
    let broken = original.replacen("date:", "date: not-a-date\nx_date:", 1);
    put_content(&s3, "posts/the-big-link-up.md", &broken).await;
    let report = render::handler::handle(&builder, event("s3-post-put.json"))
        .await
        .unwrap();
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert!(
        report.errors[0].starts_with("posts/the-big-link-up.md:"),
        "{}",
        report.errors[0]
    );
    assert!(
        report.written.is_empty() || report.written.iter().all(|k| !k.starts_with("posts/")),
        "{:?}",
        report.written
    );
    assert!(get(&s3, "posts/the-big-link-up/index.html")
        .await
        .unwrap()
        .0
        .contains("The Big Link-Up, revised"));

    // Deleting the post removes its pages and its listing entry.
    s3.delete_object()
        .bucket(CONTENT)
        .key("posts/the-big-link-up.md")
        .send()
        .await
        .unwrap();
    let report = render::handler::handle(&builder, event("s3-post-delete.json"))
        .await
        .unwrap();
    assert!(
        report.deleted.contains("posts/the-big-link-up/index.html"),
        "{:?}",
        report.deleted
    );
    assert!(get(&s3, "posts/the-big-link-up/index.html").await.is_none());
    assert!(!get(&s3, "index.html")
        .await
        .unwrap()
        .0
        .contains("/posts/the-big-link-up/"));

    // A photo upload (URL-encoded key with spaces) makes its variants again.
    let report = render::handler::handle(&builder, event("s3-photo-put.json"))
        .await
        .unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
}

fn retitle(post: &str, title: &str) -> String {
    post.lines()
        .map(|l| {
            if l.starts_with("title:") {
                format!("title: \"{title}\"")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// A comment record whose HTML was never sanitised, written straight into the table (as
/// an old version, a hand edit or a compromised writer would leave it): the post page and
/// the post's comments feed the render function publishes show it inert, its text kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsanitised_comment_record_is_published_inert() {
    use shared::ports::{Condition, ItemStore};
    let moto = Moto::start();
    let (s3, builder) = setup(&moto).await;
    let records = DynamoItemStore::new(dynamodb_client(&moto.sdk_config().await), TABLE);
    let (post, id, created) = ("the-big-link-up", "c0ffee01", "2026-01-02T03:04:05Z");
    let hostile = "<p>Kind words<img src=x onerror=alert(1)></p><script>alert(2)</script>\
                   <p><a href=\"javascript:alert(3)\" onclick=\"alert(4)\">a link</a> \
                   <svg onload=alert(5)></svg><iframe src=\"https://evil.example/\"></iframe></p>";
    let serde_json::Value::Object(item) = serde_json::json!({
        "pk": shared::comments::post_pk(post),
        "sk": shared::comments::comment_sk(id),
        "gsi1pk": shared::keys::comments_by_status("approved"),
        "gsi1sk": format!("{created}#{id}"),
        "type": "comment",
        "id": id,
        "post": post,
        "author": "Mallory",
        "body_md": "Kind words",
        "body_html": hostile,
        "status": "approved",
        "kind": "comment",
        "created": created,
    }) else {
        unreachable!()
    };
    assert!(records.put(item, Condition::Always).await.unwrap());

    let report = render::handler::handle(&builder, event("schedule-daily-rebuild.json"))
        .await
        .unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let (page, ..) = get(&s3, &format!("posts/{post}/index.html")).await.unwrap();
    let comment = {
        let start = page
            .find(&format!("id=\"comment-{id}\""))
            .expect("the comment is shown");
        let end = start + page[start..].find("</article>").unwrap();
        page[start..end].to_string()
    };
    let (feed, ..) = get(&s3, &shared::site::layout::site::post_comments_feed(post))
        .await
        .unwrap();
    let doc = roxmltree::Document::parse(&feed).expect("well-formed comments feed");
    let content = doc
        .descendants()
        .find(|n| n.tag_name().name() == "content")
        .and_then(|n| n.text())
        .expect("the comment's HTML in the feed")
        .to_string();
    for (what, html) in [("post page", &comment), ("comments feed", &content)] {
        assert!(
            html.contains("Kind words") && html.contains("a link"),
            "{what}: {html}"
        );
        let lower = html.to_ascii_lowercase();
        for bad in [
            "<script",
            "<img",
            "<svg",
            "<iframe",
            "onerror",
            "onclick",
            "onload",
            "javascript:",
            "alert(",
        ] {
            assert!(!lower.contains(bad), "{what} has {bad}: {html}");
        }
    }
    assert!(
        !page.contains("alert("),
        "nothing of it anywhere on the page"
    );
}
