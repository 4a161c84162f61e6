//! The local site through its real entry points: the `site` library's server and watcher,
//! embedded storage, HTTP on loopback.

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
