//! Benchmark driver (see `bench/render.sh`, which runs it beside Hugo, and
//! `bench/comments.sh`, beside Isso).
//!
//! - `prepare --corpus DIR --out DIR`: a site from gen-corpus.py's `neutral/` layout: the
//!   posts, a small photo for every photo a post names, the comments imported as approved
//!   (sanitised once, as on approval), then one build so the photo variants exist, as they
//!   do when photos are uploaded before posts.
//! - `full --out DIR --mode changed|unchanged|clean`: one timed full build in this process.
//!   `changed` is the build a site owner waits for: a one-line edit to `base.html` uploaded
//!   as `templates/base.html` (a different line each run), so every page is rewritten over
//!   the existing site. `unchanged` renders and compares every page and writes nothing.
//!   `clean` removes the rendered pages first (photo variants kept), so it also measures the
//!   file system freeing 11,000 files. Prints JSON with the wall time, post pages per
//!   second, pages written and this process's peak RSS.
//! - `edit --out DIR --runs N`: N timed one-post edits (the same path the S3 event takes).
//! - `approval --runs N`: on the local server (real HTTP, the change feed running), N held
//!   comments approved one at a time through the mailed link, each timed from the POST to
//!   its post page on disk showing it; then N Webmentions the same way (verified from a
//!   source server on loopback, held, approved). Prints median and p99 of each.
//! - `count --content DIR --data DIR`: comments stored, by status (after a load test).

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{json, Value};
use shared::ports::{Condition, ItemStore};
use shared::site::build::ContentEvent;
use site::local::{LocalOptions, LocalSite};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn open(out: &Path) -> LocalSite {
    LocalSite::open_with(
        &out.join("content"),
        &out.join("data"),
        LocalOptions {
            rate_limit: 0,
            ..Default::default()
        },
    )
    .expect("site opens")
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("count") {
        return count(
            &PathBuf::from(arg(&args, "--content").expect("--content DIR")),
            &PathBuf::from(arg(&args, "--data").expect("--data DIR")),
        )
        .await;
    }
    if args.get(1).map(String::as_str) == Some("verdict") {
        let files: Vec<PathBuf> = args[2..]
            .iter()
            .filter(|a| a.ends_with(".csv"))
            .map(PathBuf::from)
            .collect();
        let runs = arg(&args, "--runs")
            .and_then(|r| r.parse().ok())
            .unwrap_or(20);
        return verdict(&files, runs);
    }
    if args.get(1).map(String::as_str) == Some("approval") {
        let runs = arg(&args, "--runs")
            .and_then(|r| r.parse().ok())
            .unwrap_or(100);
        return approval(runs).await;
    }
    let out = PathBuf::from(arg(&args, "--out").expect("--out DIR"));
    match args.get(1).map(String::as_str) {
        Some("prepare") => {
            prepare(
                &PathBuf::from(arg(&args, "--corpus").expect("--corpus DIR")),
                &out,
            )
            .await
        }
        Some("full") => {
            let mode = arg(&args, "--mode").unwrap_or_else(|| "unchanged".into());
            full(&out, &mode).await
        }
        Some("edit") => {
            edit(
                &out,
                arg(&args, "--runs")
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(5),
            )
            .await
        }
        _ => eprintln!("usage: render-bench prepare|full|edit --out DIR [...]"),
    }
}

async fn prepare(corpus: &Path, out: &Path) {
    let content = out.join("content");
    std::fs::create_dir_all(content.join("photos")).unwrap();
    let sample = integration_tests::sample_content();
    std::fs::write(
        content.join("site.toml"),
        std::fs::read_to_string(sample.join("site.toml"))
            .unwrap()
            .replace("posts_per_page = 5", "posts_per_page = 10"),
    )
    .unwrap();
    std::fs::copy(sample.join("quotes.toml"), content.join("quotes.toml")).unwrap();
    let posts = content.join("posts");
    let _ = std::fs::remove_dir_all(&posts);
    integration_tests::copy_dir(&corpus.join("content/posts"), &posts);
    // Every photo a post names, as a small JPEG (the corpus ships none).
    let mut photos = 0;
    for entry in std::fs::read_dir(&posts).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        if let Some(line) = text.lines().find(|l| l.starts_with("photo:")) {
            let name: String = line["photo:".len()..]
                .trim()
                .trim_matches('"')
                .trim_start_matches("/photos/")
                .to_string();
            let path = content.join("photos").join(&name);
            if !path.exists() {
                std::fs::write(
                    &path,
                    shared::site::photos::sample_jpeg(160, 90, (photos % 251) as u8),
                )
                .unwrap();
                photos += 1;
            }
        }
    }
    let site = open(out);
    // Comments, approved, sanitised once as approval does.
    let records: &dyn ItemStore = &site.records;
    let mut n = 0;
    for line in std::fs::read_to_string(corpus.join("comments.jsonl"))
        .unwrap()
        .lines()
    {
        let c: Value = serde_json::from_str(line).unwrap();
        let comment = shared::comments::Comment {
            id: c["id"]
                .as_str()
                .unwrap()
                .replace(|ch: char| !ch.is_ascii_alphanumeric(), ""),
            post: c["post"].as_str().unwrap().into(),
            parent: c["parent"].as_str().map(str::to_string),
            author: c["author"].as_str().unwrap().into(),
            website: c["website"].as_str().map(str::to_string),
            body_md: c["text"].as_str().unwrap().into(),
            body_html: shared::markdown::comment_to_html(c["text"].as_str().unwrap()),
            status: shared::comments::CommentStatus::Approved,
            kind: Default::default(),
            created: c["date"].as_str().unwrap().into(),
            email_hash: None,
            ip_hash: None,
            spam_rules: vec![],
        };
        records
            .put(comment.to_item().unwrap(), Condition::Always)
            .await
            .unwrap();
        n += 1;
    }
    let t = Instant::now();
    let report = site.builder.full_build().await.unwrap();
    println!(
        "{}",
        json!({"prepared": out, "photos": photos, "comments": n, "first_build_s": t.elapsed().as_secs_f64(), "written": report.written.len(), "errors": report.errors.len()})
    );
}

async fn full(out: &Path, mode: &str) {
    let site_dir = out.join("data/site");
    let theme_base = out.join("content/templates/base.html");
    match mode {
        "changed" => {
            // The built-in base.html with one line that differs from the last run's.
            let (_, base) = shared::site::render::BUILTIN_TEMPLATES
                .iter()
                .find(|(name, _)| *name == "base.html")
                .expect("a built-in base.html");
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let edited = base.replacen(
                "<footer class=\"site-footer\">",
                &format!("<footer class=\"site-footer\" data-edition=\"{stamp}\">"),
                1,
            );
            assert_ne!(&edited, base, "the edit changes base.html");
            std::fs::create_dir_all(theme_base.parent().unwrap()).unwrap();
            std::fs::write(&theme_base, edited).unwrap();
        }
        "unchanged" | "clean" => {}
        other => panic!("--mode changed|unchanged|clean, not {other}"),
    }
    if mode == "clean" {
        for entry in std::fs::read_dir(&site_dir).unwrap() {
            let p = entry.unwrap().path();
            if p.file_name().is_some_and(|n| n != "photos") {
                if p.is_dir() {
                    std::fs::remove_dir_all(&p).unwrap();
                } else {
                    std::fs::remove_file(&p).unwrap();
                }
            }
        }
    }
    let site = open(out);
    let t = Instant::now();
    let report = site.builder.full_build().await.unwrap();
    let wall = t.elapsed().as_secs_f64();
    let posts = std::fs::read_dir(out.join("content/posts"))
        .unwrap()
        .count();
    println!(
        "{}",
        json!({
            "mode": mode,
            "wall_s": wall,
            "post_pages": posts,
            "post_pages_per_s": posts as f64 / wall,
            "objects_written": report.written.len(),
            "objects_unchanged": report.unchanged,
            "errors": report.errors.len(),
            "peak_rss_mb": peak_rss_mb(),
        })
    );
}

async fn edit(out: &Path, runs: usize) {
    let site = open(out);
    let posts: Vec<PathBuf> = {
        let mut v: Vec<PathBuf> = std::fs::read_dir(out.join("content/posts"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    };
    let mut times = Vec::new();
    let mut written = 0;
    for i in 0..runs {
        // A post in the middle of the listing: its page and its listing page change.
        let path = &posts[posts.len() / 2 + i];
        let text = std::fs::read_to_string(path).unwrap();
        let edited = text.replacen("title: \"", &format!("title: \"Edited {i} "), 1);
        std::fs::write(path, edited).unwrap();
        let key = format!("posts/{}", path.file_name().unwrap().to_string_lossy());
        let t = Instant::now();
        let report = site
            .builder
            .apply(&[ContentEvent {
                key,
                removed: false,
                at: None,
            }])
            .await
            .unwrap();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        written = report.written.len();
        std::fs::write(path, text).unwrap();
        site.builder
            .apply(&[ContentEvent {
                key: format!("posts/{}", path.file_name().unwrap().to_string_lossy()),
                removed: false,
                at: None,
            }])
            .await
            .unwrap();
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "{}",
        json!({"edit_ms_median": times[times.len() / 2], "edit_ms_all": times, "objects_written_per_edit": written})
    );
}

async fn count(content: &Path, data: &Path) {
    let site = LocalSite::open(content, data).expect("site opens");
    let store: &dyn ItemStore = &site.records;
    let mut by_status = serde_json::Map::new();
    let mut total = 0;
    for status in [
        shared::comments::CommentStatus::Pending,
        shared::comments::CommentStatus::Approved,
        shared::comments::CommentStatus::Held,
        shared::comments::CommentStatus::Spam,
    ] {
        let n = shared::comments::with_status(store, status)
            .await
            .unwrap()
            .len();
        total += n;
        by_status.insert(status.as_str().into(), n.into());
    }
    println!("{}", json!({"stored": total, "by_status": by_status}));
}

/// Time per spam verdict on labelled comments, as the verifier scores them (rules and the
/// shipped model), against the rules alone in the same run; and the model's first load.
fn verdict(files: &[PathBuf], runs: usize) {
    use shared::comments::filter::{self, SpamSettings};
    use shared::comments::spam::{self, Blocklist, History, Statistical, Submission};
    let rows: Vec<_> = files
        .iter()
        .flat_map(|f| site::spam_cmd::read_csv(f).expect("a labelled CSV"))
        .collect();
    assert!(
        !rows.is_empty(),
        "usage: site-bench verdict FILE.csv... [--runs N]"
    );
    let t = Instant::now();
    let model = filter::prior();
    let load_ms = t.elapsed().as_secs_f64() * 1000.0;
    let settings = SpamSettings::default();
    let statistical = Statistical {
        model,
        spam_at: settings.spam_at,
        approve_below: settings.approve_below,
    };
    let pass = |with_model: bool| {
        let t = Instant::now();
        for r in &rows {
            let v = spam::verify(
                &Submission {
                    author: &r.author,
                    website: None,
                    body: &r.body,
                },
                &Blocklist::default(),
                History::default(),
                with_model.then_some(&statistical),
            );
            std::hint::black_box(v);
        }
        t.elapsed().as_secs_f64() * 1e6 / rows.len() as f64
    };
    // Interleaved, so machine drift hits both alike; medians.
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        with.push(pass(true));
        without.push(pass(false));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let (w, wo) = (median(&mut with), median(&mut without));
    println!(
        "{}",
        json!({
            "comments": rows.len(),
            "runs": runs,
            "verdict_us_median": w,
            "rules_only_us_median": wo,
            "ratio": w / wo,
            "model_first_load_ms": load_ms,
            "model_json_bytes": serde_json::to_string(model).map(|s| s.len()).unwrap_or(0),
        })
    );
}

/// Milliseconds from each approving POST to the page on disk showing what was approved.
async fn approval(runs: usize) {
    use std::time::Duration;
    let tmp = std::env::temp_dir().join(format!("approval-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let content = tmp.join("content");
    integration_tests::copy_dir(&integration_tests::sample_content(), &content);
    let listener = site::server::listen(Some("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let site = LocalSite::open_with(
        &content,
        &tmp.join("data"),
        LocalOptions {
            origin: Some(format!("http://{addr}")),
            linkback_sources_on_loopback: true,
            rate_limit: 0,
            ..Default::default()
        },
    )
    .expect("site opens");
    site.builder.full_build().await.unwrap();
    tokio::spawn(site::server::Server::new(listener, site.clone()).run());
    site.start_stream_processing().unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let slug = "the-big-link-up";
    let page_file = tmp.join(format!("data/site/posts/{slug}/index.html"));
    let target = format!("http://{addr}/posts/{slug}/");

    // Held comments: two links each (the default rules hold them for the moderator).
    let page = std::fs::read_to_string(&page_file).unwrap();
    let token = page
        .split("name=\"form_token\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a form token on the page")
        .to_string();
    // Twice as many as timed: the filter decides some by itself (spam or not).
    for i in 0..runs * 2 {
        let body = integration_tests::form_body(&[
            ("name", &format!("Reader {i}")),
            ("email", &format!("reader{i}@example.net")),
            ("website", ""),
            (
                "body",
                &format!(
                    "Approval bench {i}: {} Two reports: https://a.example/r{i} and https://b.example/r{i}",
                    SENTENCES[i % SENTENCES.len()]
                ),
            ),
            ("parent", ""),
            ("form_token", &token),
            ("contact_reference", ""),
            ("h-captcha-response", shared::adapters::captcha::TEST_RESPONSE),
        ]);
        let resp = client
            .post(format!("http://{addr}/posts/{slug}/comments"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 303, "comment {i} accepted");
    }
    let comments = approve_timed(
        &site,
        &client,
        addr,
        &page_file,
        runs,
        "Approval bench ",
        |i| format!("Approval bench {i}:"),
    )
    .await;

    // Webmentions from a source server on loopback, each page linking to the post.
    let sources = integration_tests::Sources::default();
    for n in 0..runs * 2 {
        let path = format!("/s/{n}");
        let said = SENTENCES[n % SENTENCES.len()];
        let html = format!(
            "<html><head><title>Bench source {path}</title></head><body><p>Note {n}: {said} Read <a href=\"{target}\">this</a>.</p></body></html>"
        );
        sources.set(&path, 200, &html);
    }
    let src = sources.start().await;
    for i in 0..runs * 2 {
        let resp = client
            .post(format!("http://{addr}/webmention"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(integration_tests::form_body(&[
                ("source", &format!("http://{src}/s/{i}")),
                ("target", &target),
            ]))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 202, "webmention {i} queued");
        // Sources are fetched as they arrive; this keeps the verifier's queue short.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let linkbacks = approve_timed(
        &site,
        &client,
        addr,
        &page_file,
        runs,
        "Bench source /s/",
        |i| format!("Bench source /s/{i}<"),
    )
    .await;
    println!(
        "{}",
        json!({
            "runs": runs,
            "comment_ms": summary(comments),
            "linkback_ms": summary(linkbacks),
        })
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Reader-like sentences, so the held comments are not duplicates of each other.
const SENTENCES: &[&str] = &[
    "Our school choir sang at the library opening and the children loved it.",
    "Thanks for the reading list; the chapter on local history was new to me.",
    "Could the next meeting be on a Saturday, so parents can come along?",
    "The mural on the high street needs a fresh coat before the festival.",
    "I wrote to the council about the arts budget and got a kind reply.",
    "My grandmother remembers the old cinema; she has photographs to share.",
    "Is there a way to volunteer at the book swap without a car?",
    "The brass band practice moved to Thursdays, for anyone who asked.",
    "Lovely write-up. The workshop on printmaking was the best part of my week.",
    "We should record the oral histories before the hall is sold.",
    "Where can I find the minutes from the last open evening?",
];

fn summary(mut ms: Vec<f64>) -> Value {
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let at = |q: f64| ms[((ms.len() as f64 * q).ceil() as usize).clamp(1, ms.len()) - 1];
    json!({"median": at(0.5), "p99": at(0.99), "max": ms[ms.len() - 1], "min": ms[0]})
}

/// Wait for `runs` moderator mails whose text contains `about`, then approve them one at a
/// time by their link, timing each until the page file contains `shown(i)`.
async fn approve_timed(
    site: &LocalSite,
    client: &reqwest::Client,
    addr: std::net::SocketAddr,
    page_file: &Path,
    runs: usize,
    about: &str,
    shown: impl Fn(usize) -> String,
) -> Vec<f64> {
    use std::time::Duration;
    let deadline = Instant::now() + Duration::from_secs(30);
    // Until every mail has come (none new for a second), or the deadline.
    let (mut seen, mut since) = (0, Instant::now());
    let mails = loop {
        let mails: Vec<_> = site
            .outbox
            .messages()
            .into_iter()
            .map(|(_, raw)| shared::mail::ReadMail::parse(&raw))
            .filter(|m| m.text.contains(about))
            .collect();
        if mails.len() != seen {
            (seen, since) = (mails.len(), Instant::now());
        }
        if mails.len() >= runs && since.elapsed() > Duration::from_secs(1) {
            break mails;
        }
        if Instant::now() > deadline {
            eprintln!(
                "{} of {runs} mails about {about:?} arrived: timing those",
                mails.len()
            );
            break mails;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut times = Vec::new();
    for i in 0..runs * 2 {
        if times.len() == runs {
            break;
        }
        let marker = shown(i);
        let Some(mail) = mails
            .iter()
            .find(|m| m.text.contains(marker.trim_end_matches('<')))
        else {
            continue;
        };
        let approve = mail
            .links()
            .into_iter()
            .find(|l| mail.text.contains(&format!("Approve: {l}")))
            .expect("an approve link");
        let token = approve.split("token=").nth(1).unwrap().to_string();
        let t = Instant::now();
        let resp = client
            .post(format!("http://{addr}/moderate"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(integration_tests::form_body(&[("token", &token)]))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 303, "approved");
        loop {
            if std::fs::read_to_string(page_file).is_ok_and(|p| p.contains(&marker)) {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "{marker} never shown"
            );
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times
}
