//! Pingbacks and Webmentions, received from real clients (Python's `xmlrpc.client`, the
//! `ronkyuu` Webmention library) on the local server, verified against source pages served
//! on loopback, moderated through the mailed links and shown under the post; then the same
//! endpoints and the verifier as the Lambdas run them, against moto.
//!
//! Long on purpose: one source-page server and the moderation steps serve every story.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use integration_tests::{copy_dir, root, sample_content};
use site::local::{LocalOptions, LocalSite};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A page's status, content type and body.
type Page = (u16, String, String);

/// Pages other sites serve, by path; counts requests.
#[derive(Clone, Default)]
struct Sources {
    pages: Arc<Mutex<HashMap<String, Page>>>,
    requests: Arc<AtomicUsize>,
}

impl Sources {
    async fn start(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let me = me.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    me.requests.fetch_add(1, Ordering::SeqCst);
                    let head = String::from_utf8_lossy(&buf).to_string();
                    let path = head.split(' ').nth(1).unwrap_or("/").to_string();
                    let (status, ct, body) =
                        me.pages.lock().unwrap().get(&path).cloned().unwrap_or((
                            404,
                            "text/plain".into(),
                            "not found".into(),
                        ));
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(reply.as_bytes()).await;
                });
            }
        });
        addr
    }

    fn set(&self, path: &str, status: u16, body: &str) {
        self.pages.lock().unwrap().insert(
            path.into(),
            (status, "text/html; charset=utf-8".into(), body.into()),
        );
    }
}

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
