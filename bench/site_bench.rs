//! Benchmark driver (see `bench/render.sh`, which runs it beside Hugo, and
//! `bench/comments.sh`, beside Isso).
//!
//! - `prepare --corpus DIR --out DIR`: a site from gen-corpus.py's `neutral/` layout: the
//!   posts, a small photo for every photo a post names, the comments imported as approved
//!   (sanitised once, as on approval), then one build so the photo variants exist, as they
//!   do when photos are uploaded before posts.
//! - `full --out DIR [--clean]`: one timed full build in this process; with `--clean` the
//!   rendered pages are removed first (photo variants kept). Prints JSON with the wall time,
//!   post pages per second and this process's peak RSS.
//! - `edit --out DIR --runs N`: N timed one-post edits (the same path the S3 event takes).
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
    let out = PathBuf::from(arg(&args, "--out").expect("--out DIR"));
    match args.get(1).map(String::as_str) {
        Some("prepare") => {
            prepare(
                &PathBuf::from(arg(&args, "--corpus").expect("--corpus DIR")),
                &out,
            )
            .await
        }
        Some("full") => full(&out, args.iter().any(|a| a == "--clean")).await,
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

async fn full(out: &Path, clean: bool) {
    let site_dir = out.join("data/site");
    if clean {
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
            "mode": if clean { "clean" } else { "overwrite" },
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
