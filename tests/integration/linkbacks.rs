//! Pingbacks and Webmentions, received from real clients (Python's `xmlrpc.client`, the
//! `ronkyuu` Webmention library) on the local server, verified against source pages served
//! on loopback, moderated through the mailed links and shown under the post; then the same
//! endpoints and the verifier as the Lambdas run them, against moto.
//!
//! Long on purpose: one source-page server and the moderation steps serve every story.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use integration_tests::{copy_dir, root, sample_content, Sources};
use site::local::{LocalOptions, LocalSite};

/// A blog post that links to `target`, marked up as an h-entry; `aside` makes its text its
/// own (the same text from two sources is a spam signal).
fn source_page(title: &str, target: &str, aside: &str) -> String {
    format!(
        r#"<!doctype html><html><head><title>{title} « Culture, learning &amp; innovation</title></head>
<body><article class="h-entry"><h1 class="p-name">{title}</h1>
<p>By <a class="p-author h-card" href="/about/">Dana Reyes</a>, <time class="dt-published" datetime="2010-07-21T09:30:00Z">21 July 2010</time></p>
<div class="e-content"><p>The conference season was busy. A speech by the Minister for Communications, Culture and
the Creative Industries was a central feature. {aside} The first was <a href="{target}">the Big Link Up</a> from
the Cultural Learning Alliance, mentioned in previous posts. The second was organised by the
museums, and it drew a crowd of teachers and artists who stayed late into the evening.</p></div>
</article><script>document.title = "{target}";</script></body></html>"#
    )
}

fn python() -> std::path::PathBuf {
    let venv = root().join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        "python3".into()
    }
}

/// `pingback.ping` as a WordPress blog (or anyone with Python) sends it.
fn pingback(endpoint: &str, source: &str, target: &str) -> Result<String, String> {
    let out = std::process::Command::new(python())
        .args([
            "-c",
            "import sys, xmlrpc.client\n\
             try:\n    print(xmlrpc.client.ServerProxy(sys.argv[1]).pingback.ping(sys.argv[2], sys.argv[3]))\n\
             except xmlrpc.client.Fault as f:\n    print('FAULT', f.faultCode, f.faultString)\n    sys.exit(3)\n",
            endpoint,
            source,
            target,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match out.status.code() {
        Some(0) => Ok(text),
        Some(3) => Err(text),
        _ => panic!("python failed: {}", String::from_utf8_lossy(&out.stderr)),
    }
}

/// A Webmention sent by the `ronkyuu` library: it fetches our post, discovers the endpoint
/// (HTTP `Link` header or `<link rel="webmention">`) and posts to it. Returns the status.
fn webmention(source: &str, target: &str) -> u16 {
    let out = std::process::Command::new(python())
        .args([
            "-c",
            "import sys, ronkyuu\n\
             r = ronkyuu.sendWebmention(sys.argv[1], sys.argv[2], test_urls=False)\n\
             print(r.status_code if r is not None else 'none')\n",
            source,
            target,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    text.parse()
        .unwrap_or_else(|_| panic!("ronkyuu: {text} {}", String::from_utf8_lossy(&out.stderr)))
}

async fn page(addr: SocketAddr, path: &str) -> String {
    reqwest::get(format!("http://{addr}{path}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn wait_for_page(
    addr: SocketAddr,
    path: &str,
    what: &str,
    ok: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let p = page(addr, path).await;
        if ok(&p) {
            return p;
        }
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Approve, through its mailed link, each moderator mail about a linkback not yet handled.
async fn approve_mailed_linkbacks(
    site: &LocalSite,
    addr: SocketAddr,
    want: usize,
    done: &mut usize,
) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mails = loop {
        let mails: Vec<_> = site
            .outbox
            .messages()
            .into_iter()
            .map(|(_, raw)| shared::mail::ReadMail::parse(&raw))
            .filter(|m| m.text.contains("A linkback (a pingback or Webmention"))
            .collect();
        if mails.len() >= *done + want {
            break mails;
        }
        assert!(Instant::now() < deadline, "no mail about the linkback");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for mail in &mails[*done..] {
        let approve = mail
            .links()
            .into_iter()
            .find(|l| mail.text.contains(&format!("Approve: {l}")))
            .expect("an approve link");
        let token = approve.split("token=").nth(1).unwrap().to_string();
        let resp = client
            .post(format!("http://{addr}/moderate"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(integration_tests::form_body(&[("token", &token)]))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 303);
    }
    *done = mails.len();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pingbacks_and_webmentions_from_real_clients_are_verified_moderated_and_shown() {
    let tmp = tempfile::tempdir().unwrap();
    let content = tmp.path().join("content");
    copy_dir(&sample_content(), &content);
    let listener = site::server::listen(Some("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let site = LocalSite::open_with(
        &content,
        &tmp.path().join("data"),
        LocalOptions {
            origin: Some(format!("http://{addr}")),
            linkback_sources_on_loopback: true,
            rate_limit: 0,
            ..Default::default()
        },
    )
    .unwrap();
    site.builder.full_build().await.unwrap();
    tokio::spawn(site::server::Server::new(listener, site.clone()).run());
    site.start_stream_processing().unwrap();

    let sources = Sources::default();
    let src = sources.start().await;
    let target = format!("http://{addr}/posts/the-big-link-up/");

    // Discovery: the post page names both endpoints, in the page and in headers.
    let resp = reqwest::get(&target).await.unwrap();
    assert_eq!(
        resp.headers()["link"].to_str().unwrap(),
        format!("<http://{addr}/webmention>; rel=\"webmention\"")
    );
    assert_eq!(
        resp.headers()["x-pingback"].to_str().unwrap(),
        format!("http://{addr}/xmlrpc")
    );
    let html = resp.text().await.unwrap();
    assert!(html.contains(&format!(
        "<link rel=\"webmention\" href=\"http://{addr}/webmention\">"
    )));
    assert!(html.contains(&format!(
        "<link rel=\"pingback\" href=\"http://{addr}/xmlrpc\">"
    )));

    // A pingback from one blog, a Webmention from another.
    let ed = format!("http://{src}/2010/07/ed-vaizey-and-open-culture/");
    sources.set(
        "/2010/07/ed-vaizey-and-open-culture/",
        200,
        &source_page(
            "Ed Vaizey and the future of Open Culture",
            &target,
            "Open culture needs open minds.",
        ),
    );
    let note = format!("http://{src}/notes/link-up");
    sources.set(
        "/notes/link-up",
        200,
        &source_page(
            "Linking culture and learning",
            &format!("{target}#comments"),
            "A note to self: write to the school board.",
        ),
    );
    let xss = format!("http://{src}/xss");
    sources.set(
        "/xss",
        200,
        &format!(
            r#"<html><head><title>&lt;script&gt;alert(1)&lt;/script&gt;<img src=x onerror=alert(2)></title></head><body>
<div class="h-entry"><a class="p-author h-card" href="javascript:alert(3)">Eve <b>Hacker</b></a>
<p>"><script>alert(4)</script> see <a href="{target}">this post</a> <img src=x onerror=alert(5)></p></div></body></html>"#
        ),
    );
    let answer = pingback(&format!("http://{addr}/xmlrpc"), &ed, &target).unwrap();
    assert!(answer.contains("Pingback received"), "{answer}");
    assert_eq!(webmention(&note, &target), 202);
    assert_eq!(webmention(&xss, &target), 202);

    // Held for the moderator (the default); the mail names it a linkback. Approved there.
    let mut done = 0;
    approve_mailed_linkbacks(&site, addr, 3, &mut done).await;
    let post = wait_for_page(
        addr,
        "/posts/the-big-link-up/",
        "the linkbacks did not appear",
        |p| p.matches("Pingback from").count() == 3,
    )
    .await;
    assert!(
        post.contains("Ed Vaizey and the future of Open Culture"),
        "{post}"
    );
    assert!(
        post.contains(&format!("<a href=\"{ed}\" rel=\"nofollow ugc\">")),
        "the source linked nofollow ugc"
    );
    assert!(post.contains("21 July 2010"), "the source's own date");
    let excerpt = post
        .split("Ed Vaizey and the future of Open Culture")
        .nth(1)
        .unwrap();
    assert!(
        excerpt.contains("[…]")
            && excerpt
                .contains("The first was the Big Link Up from the Cultural Learning Alliance"),
        "an excerpt around the link, WordPress-style: {excerpt}"
    );
    // Everything a source says is text.
    assert!(!post.contains("<script>alert"), "{post}");
    assert!(!post.contains("onerror=alert"), "{post}");
    assert!(!post.contains("javascript:alert"), "{post}");
    // Stored as escaped text (the linkbacks' write path), in the form a read takes as it is.
    let stored = shared::ports::ItemStore::query(
        &site.records,
        &shared::comments::post_pk("the-big-link-up"),
        shared::comments::COMMENT_SK_PREFIX,
    )
    .await
    .unwrap();
    assert!(stored.len() >= 3, "{stored:?}");
    for item in stored {
        let html = item["body_html"].as_str().unwrap();
        assert!(shared::markdown::SafeHtml::is_sanitised(html), "{html}");
        assert!(
            !html.contains("<script") && !html.contains("<img"),
            "{html}"
        );
    }
    assert!(
        post.contains("rel=\"nofollow ugc\">alert(1)</a>"),
        "the title, as text: {post}"
    );

    // The same mention again: still one entry. A pingback already registered: fault 48.
    assert_eq!(webmention(&note, &target), 202);
    let fault = pingback(&format!("http://{addr}/xmlrpc"), &ed, &target).unwrap_err();
    assert!(fault.starts_with("FAULT 48"), "{fault}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let post = page(addr, "/posts/the-big-link-up/").await;
    assert_eq!(post.matches("Linking culture and learning").count(), 1);

    // The note is edited and sent again: updated in place (still approved, still one).
    sources.set(
        "/notes/link-up",
        200,
        &source_page(
            "Linking culture and learning, revised",
            &target,
            "A note to self: write to the school board.",
        ),
    );
    assert_eq!(webmention(&note, &target), 202);
    let post = wait_for_page(
        addr,
        "/posts/the-big-link-up/",
        "the edit did not show",
        |p| p.contains("Linking culture and learning, revised"),
    )
    .await;
    assert_eq!(post.matches("Linking culture and learning").count(), 1);
    assert_eq!(post.matches("Pingback from").count(), 3);

    // The note is deleted (410): sent again, it is taken off the page.
    sources.set("/notes/link-up", 410, "gone");
    assert_eq!(webmention(&note, &target), 202);
    wait_for_page(
        addr,
        "/posts/the-big-link-up/",
        "a 410 source stayed on the page",
        |p| !p.contains("Linking culture and learning"),
    )
    .await;
    // The blog post drops its link: a Webmention for it takes the pingback down too.
    sources.set(
        "/2010/07/ed-vaizey-and-open-culture/",
        200,
        "<html><head><title>Ed Vaizey</title></head><body><p>No links here any more.</p></body></html>",
    );
    assert_eq!(webmention(&ed, &target), 202);
    let post = wait_for_page(
        addr,
        "/posts/the-big-link-up/",
        "an unlinked source stayed on the page",
        |p| !p.contains("Ed Vaizey and the future of Open Culture"),
    )
    .await;
    assert_eq!(
        post.matches("Pingback from").count(),
        1,
        "only the third remains"
    );
}

// ---------------------------------------------------------------------------------------
// On AWS: the functions' handlers against moto
// ---------------------------------------------------------------------------------------

mod on_aws {
    use std::sync::Arc;

    use integration_tests::{body_text, create_table, event, form_body, set_body, Moto};
    use shared::adapters::aws::{
        dynamodb_client, s3_client, ses_client, DynamoItemStore, S3BlobStore,
    };
    use shared::adapters::mail::SesMailer;
    use shared::comments::{CommentKind, CommentStatus};
    use shared::linkbacks::address::StaticResolver;
    use shared::linkbacks::mention::mention_id;
    use shared::linkbacks::SourceAccess;
    use shared::ports::{FixedClock, ItemChange};
    use shared::wiring::{Assembled, Parts};

    use super::source_page;
    use integration_tests::Sources;

    const CONTENT: &str = "campaign-content";
    const SITE: &str = "campaign-site";
    const TABLE: &str = "campaign-records";
    const POST: &str = "the-big-link-up";
    const TARGET: &str = "http://127.0.0.1:8080/posts/the-big-link-up/";

    async fn parts(moto: &Moto) -> Assembled {
        let sdk = moto.sdk_config().await;
        let s3 = s3_client(&sdk);
        for b in [CONTENT, SITE] {
            integration_tests::create_bucket(&s3, b).await;
        }
        integration_tests::upload_dir(&s3, CONTENT, &integration_tests::sample_content()).await;
        create_table(&dynamodb_client(&sdk), TABLE).await;
        ses_client(&sdk)
            .create_email_identity()
            .email_identity("site@example.org")
            .send()
            .await
            .unwrap();
        Assembled {
            records: Arc::new(DynamoItemStore::new(dynamodb_client(&sdk), TABLE)),
            content: Arc::new(S3BlobStore::new(s3.clone(), CONTENT, "")),
            state: Arc::new(S3BlobStore::new(s3.clone(), CONTENT, "_state/")),
            site: Arc::new(S3BlobStore::new(s3.clone(), SITE, "")),
            mailer: Arc::new(SesMailer::new(ses_client(&sdk))),
            captcha: Arc::new(shared::adapters::captcha::TestKeyVerifier),
            clock: Arc::new(FixedClock::at(
                time::macros::datetime!(2026-11-20 10:00 UTC),
            )),
            keys: shared::signing::Keys::from_master(&[42u8; 32]).unwrap(),
            rate_limit: 100,
            mail_from: "site@example.org".into(),
            moderator: "moderator@example.org".into(),
            origin: None,
            source_access: SourceAccess::public(),
        }
    }

    async fn webmention(
        deps: &linkbacks::handler::Deps,
        fields: &[(&str, &str)],
        ip: &str,
    ) -> (u16, String) {
        let mut e = event("apigw-webmention.json");
        set_body(&mut e, &form_body(fields));
        e["requestContext"]["http"]["sourceIp"] = ip.into();
        send(deps, e).await
    }

    async fn xmlrpc(deps: &linkbacks::handler::Deps, body: &str) -> (u16, String) {
        let mut e = event("apigw-pingback.json");
        set_body(&mut e, body);
        send(deps, e).await
    }

    async fn send(deps: &linkbacks::handler::Deps, e: serde_json::Value) -> (u16, String) {
        let req = lambda_http::request::from_str(&e.to_string()).unwrap();
        let resp = linkbacks::handler::handle(deps, req).await;
        (resp.status().as_u16(), body_text(&resp))
    }

    fn ping(source: &str, target: &str) -> String {
        format!(
            "<?xml version=\"1.0\"?><methodCall><methodName>pingback.ping</methodName><params>\
             <param><value><string>{source}</string></value></param>\
             <param><value><string>{target}</string></value></param></params></methodCall>"
        )
    }

    fn fault_code(body: &str) -> i64 {
        let doc = roxmltree::Document::parse(body).unwrap_or_else(|e| panic!("{e}: {body}"));
        doc.descendants()
            .find(|n| n.has_tag_name("int") || n.has_tag_name("i4"))
            .and_then(|n| n.text())
            .unwrap_or_else(|| panic!("not a fault: {body}"))
            .parse()
            .unwrap()
    }

    /// Every refusal of both endpoints, each with its reason (or the Pingback fault code),
    /// and none of them leaves a record behind; hostile XML is refused before it is read.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_refusal_says_why_and_stores_nothing() {
        let moto = Moto::start();
        let parts = parts(&moto).await;
        parts
            .content
            .put(
                "blocklist.txt",
                b"spam.example\n".to_vec(),
                &shared::site::layout::object_meta("site.toml"),
            )
            .await
            .unwrap();
        let deps = linkbacks::handler::Deps::build(&parts).unwrap();
        let ip = "203.0.113.9";
        let mut refused_sources = Vec::new();

        let cases: &[(&str, &str, u16, &str)] = &[
            (
                "",
                TARGET,
                400,
                "the source must be an http or https URL (none was given)",
            ),
            ("ftp://blog.example/a", TARGET, 400, "is not http or https"),
            (TARGET, TARGET, 400, "the same address"),
            (
                "https://blog.example/b",
                "https://elsewhere.example/posts/the-big-link-up/",
                400,
                "not on this site",
            ),
            (
                "https://blog.example/c",
                "http://127.0.0.1:8080/posts/no-such-post/",
                400,
                "no published post",
            ),
            (
                "https://blog.example/d",
                "http://127.0.0.1:8080/signup/",
                400,
                "not the address of a post",
            ),
            ("https://www.spam.example/e", TARGET, 403, "not accepted"),
        ];
        for (source, target, status, reason) in cases {
            let (got, text) =
                webmention(&deps, &[("source", source), ("target", target)], ip).await;
            assert_eq!(got, *status, "{source} → {target}: {text}");
            assert!(text.contains(reason), "{source} → {target}: {text}");
            refused_sources.push(source.to_string());
        }
        // Not a form post.
        let mut e = event("apigw-webmention.json");
        e["headers"]["content-type"] = "application/json".into();
        set_body(&mut e, "{\"source\": \"https://blog.example/f\"}");
        let (status, text) = send(&deps, e).await;
        assert_eq!(status, 415, "{text}");

        // Pingback: each fault the spec names that can be known at once.
        let faults: &[(String, i64)] = &[
            (ping("not a url", TARGET), 0),
            (ping("https://blog.example/g", "http://127.0.0.1:8080/posts/no-such-post/"), 32),
            (ping("https://blog.example/h", "https://elsewhere.example/posts/x/"), 33),
            (ping("https://www.spam.example/i", TARGET), 49),
            (ping("https://blog.example/j", TARGET).replace("pingback.ping", "system.listMethods"), -32601),
            ("<methodCall><methodName>pingback.ping</methodName>".into(), -32700),
            (
                "<?xml version=\"1.0\"?><!DOCTYPE m [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><methodCall><methodName>pingback.ping</methodName><params><param><value>&x;</value></param><param><value>http://127.0.0.1:8080/posts/the-big-link-up/</value></param></params></methodCall>".into(),
                -32700,
            ),
            (
                format!(
                    "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">{}]><methodCall><methodName>&lol9;</methodName></methodCall>",
                    (1..10)
                        .map(|i| format!("<!ENTITY lol{i} \"{}\">", format!("&lol{};", if i == 1 { String::new() } else { (i - 1).to_string() }).repeat(10)))
                        .collect::<String>()
                ),
                -32700,
            ),
        ];
        for (body, code) in faults {
            let (status, text) = xmlrpc(&deps, body).await;
            assert_eq!(status, 200, "{text}");
            assert_eq!(fault_code(&text), *code, "{body}\n{text}");
        }
        let (status, text) = xmlrpc(&deps, &"x".repeat(40 * 1024)).await;
        assert_eq!(status, 413, "{text}");
        assert_eq!(fault_code(&text), -32700);

        // Accepted: queued once; the same ping again is fault 48 once it is registered.
        let (status, text) = xmlrpc(&deps, &ping("https://blog.example/k", TARGET)).await;
        assert_eq!(status, 200);
        assert!(text.contains("Pingback received"), "{text}");
        let id = mention_id(&parts.keys.identity, "https://blog.example/k", POST);
        let (pk, sk) = shared::keys::mention(&id);
        let queued = parts.records.get(&pk, &sk).await.unwrap().expect("queued");
        assert_eq!(queued["status"], "queued");
        let mut registered = shared::comments::Comment::from_item(
            &serde_json::json!({
                "id": id, "post": POST, "author": "k", "body_md": "", "body_html": "",
                "status": "held", "kind": "pingback", "created": "2026-11-20T10:00:00Z"
            })
            .as_object()
            .unwrap()
            .clone(),
        )
        .unwrap();
        registered.kind = CommentKind::Pingback;
        parts
            .records
            .put(
                registered.to_item().unwrap(),
                shared::ports::Condition::Always,
            )
            .await
            .unwrap();
        let (_, text) = xmlrpc(&deps, &ping("https://blog.example/k#again", TARGET)).await;
        assert_eq!(fault_code(&text), 48, "{text}");

        // Nothing stored for any refused mention.
        for source in refused_sources.iter().chain(
            [
                "https://blog.example/g".to_string(),
                "https://www.spam.example/i".into(),
            ]
            .iter(),
        ) {
            let (pk, sk) = shared::keys::mention(&mention_id(&parts.keys.identity, source, POST));
            assert!(
                parts.records.get(&pk, &sk).await.unwrap().is_none(),
                "{source}"
            );
        }

        // Over the rate limit: per client IP, and per source domain from many IPs.
        let limited = linkbacks::handler::Deps::build(&Assembled {
            rate_limit: 2,
            ..parts.clone()
        })
        .unwrap();
        let mut statuses = Vec::new();
        for i in 0..3 {
            let source = format!("https://one.example/{i}");
            statuses.push(
                webmention(
                    &limited,
                    &[("source", &source), ("target", TARGET)],
                    "198.51.100.1",
                )
                .await
                .0,
            );
        }
        assert_eq!(statuses, [202, 202, 429]);
        let mut statuses = Vec::new();
        for i in 0..3 {
            let source = format!("https://many.example/{i}");
            statuses.push(
                webmention(
                    &limited,
                    &[("source", &source), ("target", TARGET)],
                    &format!("198.51.100.{}", 10 + i),
                )
                .await
                .0,
            );
        }
        assert_eq!(statuses, [202, 202, 429]);

        // Linkbacks turned off in site.toml: refused, and post pages no longer announce them.
        let toml =
            String::from_utf8(parts.content.get("site.toml").await.unwrap().unwrap()).unwrap();
        parts
            .content
            .put(
                "site.toml",
                format!("{toml}\n[linkbacks]\nenabled = false\n").into_bytes(),
                &shared::site::layout::object_meta("site.toml"),
            )
            .await
            .unwrap();
        let off = linkbacks::handler::Deps::build(&parts).unwrap();
        let (status, text) = webmention(
            &off,
            &[("source", "https://blog.example/z"), ("target", TARGET)],
            ip,
        )
        .await;
        assert_eq!(
            (status, text.contains("does not accept linkbacks")),
            (400, true),
            "{text}"
        );
        let (_, text) = xmlrpc(&off, &ping("https://blog.example/z", TARGET)).await;
        assert_eq!(fault_code(&text), 33);
        let builder = parts.builder().unwrap();
        builder.full_build().await.unwrap();
        let page = String::from_utf8(
            parts
                .site
                .get("posts/the-big-link-up/index.html")
                .await
                .unwrap()
                .unwrap(),
        )
        .unwrap();
        assert!(!page.contains("rel=\"webmention\"") && !page.contains("rel=\"pingback\""));
    }

    /// The verifier as the Lambda runs it: it never reaches a private or local address (a
    /// name that resolves to one, an address written out, a redirect to one), and a source
    /// that links is held, approved and rendered with its excerpt.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_verifier_refuses_private_addresses_and_publishes_what_links() {
        let moto = Moto::start();
        let parts = parts(&moto).await;
        parts.builder().unwrap().full_build().await.unwrap();
        let sources = Sources::default();
        let src = sources.start().await;
        let receive = linkbacks::handler::Deps::build(&parts).unwrap();
        let mut verify = linkback_verify::handler::Deps::build(&parts).unwrap();
        let port = src.port();
        verify.access = SourceAccess {
            resolver: Arc::new(StaticResolver::new([
                ("blog.example", "127.0.0.1".parse().unwrap()),
                ("intranet.example", "10.0.0.1".parse().unwrap()),
            ])),
            loopback: false,
        };
        sources.set(
            "/post",
            200,
            &source_page("A post that links", TARGET, "Refused all the same."),
        );

        let queue = |source: String| {
            let receive = &receive;
            let parts = &parts;
            async move {
                let (status, text) = webmention(
                    receive,
                    &[("source", &source), ("target", TARGET)],
                    "203.0.113.7",
                )
                .await;
                assert_eq!(status, 202, "{text}");
                // Stored under the URL as parsed (`[::ffff:127.0.0.1]` is `[::ffff:7f00:1]`).
                let source = reqwest::Url::parse(&source).unwrap().to_string();
                let (pk, sk) =
                    shared::keys::mention(&mention_id(&parts.keys.identity, &source, POST));
                let item = parts.records.get(&pk, &sk).await.unwrap().unwrap();
                vec![ItemChange {
                    old: None,
                    new: Some(item),
                }]
            }
        };
        // Loopback not allowed (as on Lambda): every one of these is refused unfetched.
        for source in [
            format!("http://blog.example:{port}/post"),
            format!("http://127.0.0.1:{port}/post"),
            "http://intranet.example/post".to_string(),
            "http://169.254.169.254/latest/meta-data/".to_string(),
            "http://[::ffff:127.0.0.1]/post".to_string(),
            "http://[fd00::1]/post".to_string(),
            "http://100.64.0.1/post".to_string(),
            "http://0.0.0.0/post".to_string(),
        ] {
            let changes = queue(source.clone()).await;
            let out = linkback_verify::handler::on_changes(&verify, &changes)
                .await
                .unwrap();
            assert!(
                matches!(&out[0].1, linkback_verify::handler::Outcome::Refused(why) if why.contains("refused")),
                "{source}: {out:?}"
            );
        }
        assert_eq!(
            sources.requests.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "nothing fetched"
        );

        // Loopback allowed (the local server's test setting): a redirect to the metadata
        // service is still refused; a page that links is received.
        let mut verify = linkback_verify::handler::Deps::build(&parts).unwrap();
        verify.access = SourceAccess {
            resolver: Arc::new(StaticResolver::new([(
                "blog.example",
                "127.0.0.1".parse().unwrap(),
            )])),
            loopback: true,
        };
        let changes = queue(format!("http://blog.example:{port}/hop-to-metadata")).await;
        sources.set_redirect(
            "/hop-to-metadata",
            "http://169.254.169.254/latest/meta-data/",
        );
        let out = linkback_verify::handler::on_changes(&verify, &changes)
            .await
            .unwrap();
        assert!(
            matches!(&out[0].1, linkback_verify::handler::Outcome::Refused(why) if why.contains("169.254.169.254")),
            "{out:?}"
        );

        let source = format!("http://blog.example:{port}/post");
        let changes = queue(source.clone()).await;
        let out = linkback_verify::handler::on_changes(&verify, &changes)
            .await
            .unwrap();
        assert_eq!(out[0].1, linkback_verify::handler::Outcome::Received);
        let id = mention_id(&parts.keys.identity, &source, POST);
        let stored = shared::comments::get(parts.records.as_ref(), POST, &id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (stored.kind, stored.status),
            (CommentKind::Pingback, CommentStatus::Pending)
        );

        // spam-verify holds it for the moderator (and mails them); approved, it is rendered.
        let spam = spam_verify::handler::Deps::build(&parts).unwrap();
        let verdicts = spam_verify::handler::verify_all(&spam, vec![stored.clone()])
            .await
            .unwrap();
        assert_eq!(verdicts[0].1, CommentStatus::Held);
        let held = shared::comments::get(parts.records.as_ref(), POST, &id)
            .await
            .unwrap()
            .unwrap();
        assert!(
            held.spam_rules
                .iter()
                .any(|r| r.rule.starts_with("linkback") || r.rule == "statistical"),
            "{:?}",
            held.spam_rules
        );
        shared::comments::moderation::apply(
            parts.records.as_ref(),
            POST,
            &id,
            shared::comments::moderation::Action::Approve,
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
        let builder = parts.builder().unwrap();
        render::handler::comments_changed(&builder, &[POST.to_string()], None)
            .await
            .unwrap();
        let page = String::from_utf8(
            parts
                .site
                .get("posts/the-big-link-up/index.html")
                .await
                .unwrap()
                .unwrap(),
        )
        .unwrap();
        assert!(page.contains("Pingback from"), "{page}");
        assert!(page.contains("A post that links"));
        assert!(page.contains("Refused all the same. The first was the Big Link Up"));
    }
}
