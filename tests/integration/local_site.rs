//! The local site through its real entry points: the `site` library's server and watcher,
//! embedded storage, HTTP on loopback.
//!
//! Long on purpose: each test is one visitor's or owner's story against a running local
//! site, over HTTP; they share the server set-up and fetch helpers.

use std::time::{Duration, Instant};

use integration_tests::{copy_dir, sample_content};
use site::local::LocalSite;

async fn fetch(addr: std::net::SocketAddr, path: &str) -> (u16, String, String) {
    let r = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_the_sample_site_and_rerenders_on_edit() {
    let tmp = tempfile::tempdir().unwrap();
    let content = tmp.path().join("content");
    copy_dir(&sample_content(), &content);
    let site = LocalSite::open(&content, &tmp.path().join("data")).unwrap();
    let report = site.builder.full_build().await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let server = site::server::bind("127.0.0.1:0".parse().unwrap(), site.clone())
        .await
        .unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.run());
    let _watcher = site::watch::watch(site.clone()).unwrap();

    let (status, ct, home) = fetch(addr, "/").await;
    assert_eq!((status, ct.as_str()), (200, "text/html; charset=utf-8"));
    assert!(
        home.contains("/posts/the-big-link-up/"),
        "the home page lists posts"
    );
    let (status, _, post) = fetch(addr, "/posts/the-big-link-up/").await;
    assert_eq!(status, 200);
    assert!(
        post.contains("<figcaption"),
        "caption and credit under the photo"
    );
    assert!(post.contains("Published"));
    assert!(post.contains("srcset="), "responsive photo variants");
    let (status, ct, feed) = fetch(addr, "/feed.xml").await;
    assert_eq!(
        (status, ct.as_str()),
        (200, "application/atom+xml; charset=utf-8")
    );
    assert!(feed.contains("<entry>"));
    // A page (pages/about.md) at /about/: in the sitemap, not listed, not in the feed.
    let (status, ct, about) = fetch(addr, "/about/").await;
    assert_eq!((status, ct.as_str()), (200, "text/html; charset=utf-8"));
    assert!(about.contains("<h1>About the alliance</h1>"), "{about}");
    assert!(!about.contains("comment-form") && !about.contains("Published"));
    assert_eq!(fetch(addr, "/about").await.0, 200);
    let (_, _, sitemap) = fetch(addr, "/sitemap.xml").await;
    assert!(sitemap.contains("<loc>http://127.0.0.1:"), "{sitemap}");
    assert!(sitemap.contains("/about/</loc>"), "{sitemap}");
    assert!(
        !home.contains("About the alliance") && !feed.contains("/about/"),
        "pages are not listed"
    );
    let (status, _, missing) = fetch(addr, "/no-such-page/").await;
    assert_eq!(status, 404);
    assert!(missing.contains("<html"), "the site's own 404 page");
    let (status, _, _) = fetch(addr, "/../secrets.json").await;
    assert_eq!(status, 404);
    // Drafts are not published.
    let drafts: Vec<_> = std::fs::read_dir(content.join("posts"))
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            std::fs::read_to_string(&p)
                .unwrap()
                .contains("draft: true")
                .then(|| p.file_stem().unwrap().to_string_lossy().to_string())
        })
        .collect();
    assert!(!drafts.is_empty(), "the sample has a draft");
    for d in drafts {
        assert_eq!(
            fetch(addr, &format!("/posts/{d}/")).await.0,
            404,
            "draft {d} is not published"
        );
    }

    // Editing a post file re-renders its page.
    let file = content.join("posts/the-big-link-up.md");
    let text = std::fs::read_to_string(&file).unwrap();
    let edited: String = text
        .lines()
        .map(|l| {
            if l.starts_with("title:") {
                "title: \"Link-Up, edited locally\"".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&file, edited + "\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, _, page) = fetch(addr, "/posts/the-big-link-up/").await;
        if page.contains("Link-Up, edited locally") {
            break;
        }
        assert!(Instant::now() < deadline, "the edit was not re-rendered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, _, home) = fetch(addr, "/").await;
    assert!(
        home.contains("Link-Up, edited locally"),
        "the listing shows the new title"
    );
}

/// The whole comment loop on the local server: post from the page's form, 303 back, the
/// moderator's mail in the outbox, approve through its link (a page, then a POST), and the
/// comment is on the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comment_is_posted_moderated_through_the_mailed_link_and_published() {
    let tmp = tempfile::tempdir().unwrap();
    let content = tmp.path().join("content");
    copy_dir(&sample_content(), &content);
    let site = LocalSite::open(&content, &tmp.path().join("data")).unwrap();
    site.builder.full_build().await.unwrap();
    let server = site::server::bind("127.0.0.1:0".parse().unwrap(), site.clone())
        .await
        .unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.run());
    site.start_stream_processing().unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // The form on the page carries its signed token.
    let (_, _, page) = fetch(addr, "/posts/the-big-link-up/").await;
    let token = page
        .split("name=\"form_token\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a form token on the page")
        .to_string();
    let action = page
        .split("id=\"comment-form\"")
        .next()
        .and_then(|head| head.rsplit("action=\"").next())
        .and_then(|r| r.split('"').next())
        .unwrap_or("");
    assert!(
        action.ends_with("/posts/the-big-link-up/comments"),
        "the form posts to the comment endpoint: {action}"
    );

    // Two links: held for a moderator.
    let body = integration_tests::form_body(&[
        ("name", "Priya <em>Patel</em>"),
        ("email", "priya@example.net"),
        ("website", "https://priya.example"),
        ("body", "Two reports worth reading: https://a.example/r1 and https://b.example/r2 on *music* in schools."),
        ("parent", ""),
        ("form_token", &token),
        ("contact_reference", ""),
        ("h-captcha-response", shared::adapters::captcha::TEST_RESPONSE),
    ]);
    let resp = client
        .post(format!("http://{addr}/posts/the-big-link-up/comments"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-forwarded-for", "203.0.113.50")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert!(resp.headers()["location"]
        .to_str()
        .unwrap()
        .ends_with("/posts/the-big-link-up/#awaiting-moderation"));

    // The moderator's mail arrives in the outbox.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mail = loop {
        if let Some((_, raw)) = site.outbox.messages().into_iter().next() {
            break shared::mail::ReadMail::parse(&raw);
        }
        assert!(Instant::now() < deadline, "no mail to the moderator");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(mail.header("To"), Some(site::local::LOCAL_MODERATOR));
    assert!(
        !String::from_utf8_lossy(&site.outbox.messages()[0].1).contains("priya@example.net"),
        "the commenter's address is not in the mail"
    );
    let approve = mail
        .links()
        .into_iter()
        .find(|l| mail.text.contains(&format!("Approve: {l}")))
        .expect("an approve link");
    let path = &approve[approve.find("/moderate").unwrap()..];
    let token = path.split("token=").nth(1).unwrap().to_string();

    // The link opens a confirmation page; the POST approves.
    let resp = client
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.text().await.unwrap().contains("Approve this comment?"));
    let resp = client
        .post(format!("http://{addr}/moderate"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(integration_tests::form_body(&[("token", &token)]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);

    // Published, escaped, linked nofollow ugc.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, _, page) = fetch(addr, "/posts/the-big-link-up/").await;
        if page.contains("Priya &lt;em&gt;Patel&lt;/em&gt;") {
            assert!(
                page.contains("<a href=\"https://priya.example\" rel=\"nofollow ugc\">"),
                "author linked nofollow ugc"
            );
            assert!(page.contains("<em>music</em>"), "comment Markdown rendered");
            assert!(page.contains("1 comment"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the approved comment did not appear"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let resp = client
        .post(format!("http://{addr}/moderate"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(integration_tests::form_body(&[("token", &token)]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 410, "a used link is refused");
}

/// Sign-up on the local server, end to end: the static sign-up page's form, the
/// confirmation mail in the outbox (sent from the change feed by the supporter mail sender), confirm by POST (the GET only shows a button), one-click
/// unsubscribe (RFC 8058), and erasure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supporter_signs_up_confirms_unsubscribes_and_is_erased() {
    let tmp = tempfile::tempdir().unwrap();
    let content = tmp.path().join("content");
    copy_dir(&sample_content(), &content);
    // As `site serve` does: listen first, so links and redirects use this address.
    let listener = site::server::listen(Some("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let site = LocalSite::open_with(
        &content,
        &tmp.path().join("data"),
        site::local::LocalOptions {
            origin: Some(format!("http://{addr}")),
            ..Default::default()
        },
    )
    .unwrap();
    site.builder.full_build().await.unwrap();
    // The change feed's consumers, as `site serve` runs them: the mails come from there.
    site.start_stream_processing().unwrap();
    let server = site::server::Server::new(listener, site.clone());
    tokio::spawn(server.run());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let post = |path: &str, body: String| {
        client
            .post(format!("http://{addr}{path}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let link_path = |l: &str| {
        l[l.find("/signup/")
            .or_else(|| l.find("/unsubscribe"))
            .unwrap()..]
            .to_string()
    };

    let (status, _, page) = fetch(addr, "/signup/").await;
    assert_eq!(status, 200);
    assert!(page.contains("we will never share your details with anyone else"));
    let token = page
        .split("name=\"form_token\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let form = integration_tests::form_body(&[
        ("name", "Olu Adeyemi"),
        ("email", "Olu@Example.org"),
        ("supporter_type", "individual"),
        ("organisation", ""),
        ("newsletter", "yes"),
        ("form_token", &token),
        ("contact_reference", ""),
        (
            "h-captcha-response",
            shared::adapters::captcha::TEST_RESPONSE,
        ),
    ]);
    let resp = post("/signup", form).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap();
    assert_eq!(status, 303, "{body}");
    assert!(
        !body.contains("olu@example.org") && !body.contains("Olu@Example.org"),
        "the address is not echoed"
    );

    // The request was answered at once; the mail is sent by the supporter mail sender,
    // from the change feed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while site.outbox.messages().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mails = site.outbox.messages();
    assert_eq!(mails.len(), 1, "one confirmation mail");
    let mail = shared::mail::ReadMail::parse(&mails[0].1);
    assert_eq!(mail.header("To"), Some("olu@example.org"));
    assert_eq!(
        mail.header("List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );
    let confirm = mail
        .links()
        .into_iter()
        .find(|l| l.contains("/signup/confirm?token="))
        .expect("a confirmation link");
    let confirm_path = link_path(&confirm);

    // GET shows a button and changes nothing; POST confirms.
    let resp = client
        .get(format!("http://{addr}{confirm_path}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.text().await.unwrap().contains("method=\"post\""));
    let store: &dyn shared::ports::ItemStore = &site.records;
    assert!(
        site::supporters::export_csv(store, &site::supporters::parse_filter(None, None).unwrap())
            .await
            .unwrap()
            .lines()
            .count()
            <= 1,
        "not confirmed by a GET"
    );
    let ctoken = confirm_path.split("token=").nth(1).unwrap().to_string();
    let resp = post(
        "/signup/confirm",
        integration_tests::form_body(&[("token", &ctoken)]),
    )
    .await
    .unwrap();
    // Sent on to a page that can be reloaded (at this server's own address).
    assert_eq!(resp.status().as_u16(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(
        location,
        format!("http://{addr}/signup/done?m=confirmed-newsletter")
    );
    for _ in 0..2 {
        let page = client.get(&location).send().await.unwrap();
        assert_eq!(page.status().as_u16(), 200);
        assert!(page
            .text()
            .await
            .unwrap()
            .contains("Thank you: you are signed up"));
    }
    let csv = site::supporters::export_csv(
        store,
        &site::supporters::parse_filter(None, Some("yes")).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        csv.lines().count(),
        2,
        "a header and the confirmed supporter: {csv}"
    );
    assert!(csv.contains("olu@example.org") && csv.contains("Olu Adeyemi"));

    // One-click unsubscribe from the List-Unsubscribe header.
    let unsub = mail
        .header("List-Unsubscribe")
        .unwrap()
        .trim_matches(['<', '>'])
        .to_string();
    let resp = post(&link_path(&unsub), "List-Unsubscribe=One-Click".into())
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        200,
        "{}",
        resp.text().await.unwrap()
    );
    let csv = site::supporters::export_csv(
        store,
        &site::supporters::parse_filter(None, Some("yes")).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        csv.lines().count(),
        1,
        "no longer on the newsletter list: {csv}"
    );
    assert_eq!(
        site::supporters::export_csv(
            store,
            &site::supporters::parse_filter(None, Some("no")).unwrap()
        )
        .await
        .unwrap()
        .lines()
        .count(),
        2,
        "still a supporter"
    );

    // Erase: nothing personal left.
    let utoken = unsub.split("token=").nth(1).unwrap().to_string();
    let resp = post(
        "/signup/remove",
        integration_tests::form_body(&[("token", &utoken)]),
    )
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(
        resp.headers()["location"],
        format!("http://{addr}/signup/done?m=removed").as_str()
    );
    assert_eq!(
        site::supporters::export_csv(store, &site::supporters::parse_filter(None, None).unwrap())
            .await
            .unwrap()
            .lines()
            .count(),
        1
    );
    // What remains under the address's key is the suppression marker alone.
    let hash = shared::supporters::email_hash(&site.keys.identity, "olu@example.org");
    let left = store
        .query(&shared::supporters::supporter_pk(&hash), "")
        .await
        .unwrap();
    let dump = serde_json::to_string(&left).unwrap();
    assert!(
        !dump.contains("olu@example.org") && !dump.contains("Olu Adeyemi"),
        "no personal data left: {dump}"
    );
    assert!(left.iter().all(|i| i["sk"] == "SUPPRESSED"), "{dump}");
}

/// `site comments list/approve`: a held comment is listed with the rules that held it, and
/// approving it from the command line publishes it (the command re-renders the post).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_lists_and_approves_held_comments() {
    let tmp = tempfile::tempdir().unwrap();
    let content = tmp.path().join("content");
    copy_dir(&sample_content(), &content);
    // This site approves nothing on the model's word alone: what is not spam waits.
    let config = content.join("site.toml");
    let mut toml = std::fs::read_to_string(&config).unwrap();
    toml.push_str("\n[spam]\nspam_at = 0.8\napprove_below = 0.0\n");
    std::fs::write(&config, toml).unwrap();
    let site = LocalSite::open(&content, &tmp.path().join("data")).unwrap();
    site.builder.full_build().await.unwrap();
    let store: std::sync::Arc<dyn shared::ports::ItemStore> = site.builder.stores.records.clone();

    // A comment stored pending as the submission handler stores it, then verified as the
    // stream trigger would: held.
    let input = shared::comments::CommentInput {
        name: "Kofi Mensah".into(),
        email: "kofi@example.net".into(),
        website: None,
        body: "Two reports on music in schools are worth reading before the meeting.".into(),
        parent: None,
    };
    let comment = shared::comments::new_pending(
        &site.keys.identity,
        "the-big-link-up",
        &input,
        site.builder.clock.now(),
        "iphash".into(),
    );
    assert!(shared::comments::store_pending(store.as_ref(), &comment)
        .await
        .unwrap());
    let verdicts = spam_verify::handler::verify_all(&site.spam, vec![comment.clone()])
        .await
        .unwrap();
    assert_eq!(verdicts[0].1, shared::comments::CommentStatus::Held);

    let listing = site::comments_cmd::list(
        store.as_ref(),
        site::comments_cmd::parse_status("held").unwrap(),
    )
    .await
    .unwrap();
    assert!(
        listing.contains(&comment.id)
            && listing.contains("Kofi Mensah")
            && listing.contains("[statistical]"),
        "{listing}"
    );
    assert!(!listing.contains("kofi@example.net"));
    assert!(site::comments_cmd::parse_status("maybe").is_err());

    let (post, msg) = site::comments_cmd::act(
        &store,
        &comment.id,
        shared::comments::moderation::Action::Approve,
    )
    .await
    .unwrap();
    assert!(msg.starts_with("Approve: done"), "{msg}");
    site.builder.comments_changed(&post, None).await.unwrap();
    let page = String::from_utf8(
        std::fs::read(
            tmp.path()
                .join("data/site/posts/the-big-link-up/index.html"),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(page.contains("Kofi Mensah"));
    let (_, again) = site::comments_cmd::act(
        &store,
        &comment.id,
        shared::comments::moderation::Action::Approve,
    )
    .await
    .unwrap();
    assert!(again.starts_with("nothing to do"), "{again}");
}

/// The `site` binary beside this test's executable (`cargo build --workspace --bins`).
/// `site serve --addr` on another port: links, form actions and mailed links point at the
/// port it listens on. An address in use is refused with a message naming it; with no
/// `--addr`, a taken 8080 means the next free port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_follows_the_address_it_listens_on() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    let content = tmp.path().join("content");
    copy_dir(&sample_content(), &content);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(integration_tests::site_binary())
        .args(["serve", "--addr", &format!("127.0.0.1:{port}"), "--content"])
        .arg(&content)
        .arg("--data")
        .arg(tmp.path().join("data"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("Serving") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "the server stopped");
    }
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let (status, _, page) = fetch(addr, "/posts/the-big-link-up/").await;
    let (_, _, signup) = fetch(addr, "/signup/").await;
    // While it still listens, another server on the same address is refused, by name.
    let refused = std::process::Command::new(integration_tests::site_binary())
        .args(["serve", "--addr", &format!("127.0.0.1:{port}"), "--content"])
        .arg(&content)
        .arg("--data")
        .arg(tmp.path().join("data2"))
        .output()
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(status, 200);
    let here = format!("http://127.0.0.1:{port}");
    assert!(
        page.contains(&format!("action=\"{here}/posts/the-big-link-up/comments\"")),
        "the comment form posts to the server's own port"
    );
    assert!(!page.contains("127.0.0.1:8080") || port == 8080);
    assert!(signup.contains(&format!("action=\"{here}/signup\"")));
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains(&format!("127.0.0.1:{port} is in use")),
        "{err}"
    );

    // No --addr and 8080 taken: the next free port.
    if let Ok(_held) = std::net::TcpListener::bind("127.0.0.1:8080") {
        let l = site::server::listen(None).await.unwrap();
        let p = l.local_addr().unwrap().port();
        assert!((8081..8100).contains(&p), "{p}");
    }
}

/// `site comments …` and `site supporters …` work while `site serve` runs on the same data
/// folder (the server holds the database; the command runs in it, over loopback, with the
/// secret from `<data>/admin.json`). Without the secret the server refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_moderates_while_the_server_runs() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    let content = tmp.path().join("content");
    let data = tmp.path().join("data");
    copy_dir(&sample_content(), &content);
    let mut server = std::process::Command::new(integration_tests::site_binary())
        .args(["serve", "--addr", "127.0.0.1:0", "--content"])
        .arg(&content)
        .arg("--data")
        .arg(&data)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("Serving") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "the server stopped");
    }
    let addr: std::net::SocketAddr = line
        .trim_start_matches("Serving http://")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();

    // A visitor comments; the server's verifier holds it for the moderator.
    let (_, _, page) = fetch(addr, "/posts/the-big-link-up/").await;
    let token = page
        .split("name=\"form_token\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    tokio::time::sleep(Duration::from_secs(3)).await; // a person takes a moment to write
    let body = integration_tests::form_body(&[
        ("name", "Kofi Mensah"),
        ("email", "kofi@example.net"),
        (
            "body",
            "Our primary school choir would love to join the Link-Up.",
        ),
        ("form_token", &token),
        ("contact_reference", ""),
        (
            "h-captcha-response",
            shared::adapters::captcha::TEST_RESPONSE,
        ),
    ]);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = client
        .post(format!("http://{addr}/posts/the-big-link-up/comments"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);

    let site = |args: &[&str]| {
        std::process::Command::new(integration_tests::site_binary())
            .args(args)
            .arg("--content")
            .arg(&content)
            .arg("--data")
            .arg(&data)
            .output()
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let id = loop {
        let listed = site(&["comments", "list", "--status", "held"]);
        assert!(
            listed.status.success(),
            "{}",
            String::from_utf8_lossy(&listed.stderr)
        );
        let text = String::from_utf8_lossy(&listed.stdout).to_string();
        if let Some(l) = text.lines().find(|l| l.contains("Kofi Mensah")) {
            break l.split_whitespace().next().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "never held: {text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let approved = site(&["comments", "approve", &id]);
    assert!(
        approved.status.success(),
        "{}",
        String::from_utf8_lossy(&approved.stderr)
    );
    assert!(String::from_utf8_lossy(&approved.stdout).starts_with("Approve: done"));
    let (_, _, page) = fetch(addr, "/posts/the-big-link-up/").await;
    assert!(
        page.contains("Our primary school choir"),
        "published at once"
    );
    let export = site(&["supporters", "export"]);
    assert!(export.status.success());
    assert!(String::from_utf8_lossy(&export.stdout).starts_with("name,"));

    // Without the secret: refused.
    let refused = client
        .post(format!("http://{addr}{}", site::admin::PATH))
        .body(r#"{"command":"comments-list","status":"held"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 403);

    server.kill().unwrap();
    server.wait().unwrap();
}

/// The browser security headers, as CloudFront sends them (the one definition in
/// `shared::http::security_headers`), on every answer of the local server: the site's
/// pages, feeds, stylesheet and error page, and the form functions' pages, whose policy
/// names the site's origin (their stylesheet and photos are the site's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_the_security_headers() {
    use shared::http::security_headers::{self as sh, Origins};
    let tmp = tempfile::tempdir().unwrap();
    let content = tmp.path().join("content");
    copy_dir(&sample_content(), &content);
    let site = LocalSite::open(&content, &tmp.path().join("data")).unwrap();
    site.builder.full_build().await.unwrap();
    let server = site::server::bind("127.0.0.1:0".parse().unwrap(), site.clone())
        .await
        .unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.run());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let check = |what: &str, r: &reqwest::Response, csp: &str| {
        let h = |name: &str| {
            r.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_else(|| panic!("{what}: no {name}"))
        };
        assert_eq!(h("content-security-policy"), csp, "{what}");
        assert_eq!(
            h("strict-transport-security"),
            sh::STRICT_TRANSPORT_SECURITY,
            "{what}"
        );
        assert_eq!(h("x-content-type-options"), "nosniff", "{what}");
        assert_eq!(
            h("referrer-policy"),
            "strict-origin-when-cross-origin",
            "{what}"
        );
        assert_eq!(h("x-frame-options"), "DENY", "{what}");
    };

    // The site's own pages: sample/content's forms post to the same address.
    let site_csp = sh::content_security_policy(Origins::default());
    assert!(
        site_csp.contains("frame-ancestors 'none'") && site_csp.contains("https://*.hcaptcha.com")
    );
    for path in [
        "/",
        "/posts/the-big-link-up/",
        "/posts/the-big-link-up/comments.xml",
        "/static/theme.css",
        "/no-such-page/",
    ] {
        let r = client
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap();
        check(path, &r, &site_csp);
    }

    // A form function's page (a comment post without its token): the site's origin too.
    let config = site.linkbacks.pages.config().await.unwrap();
    let origin = sh::origin_of(&config.base_url).unwrap();
    let r = client
        .post(format!("http://{addr}/posts/the-big-link-up/comments"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "text/html")
        .body("name=A&email=a%40example.org&body=Hello")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let api_csp = sh::content_security_policy(Origins {
        site: Some(&origin),
        api: None,
    });
    assert!(
        api_csp.contains(&format!("style-src 'self' {origin} ")),
        "{api_csp}"
    );
    check("a form function's page", &r, &api_csp);
}
