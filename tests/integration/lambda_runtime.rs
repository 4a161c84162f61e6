//! Each function binary run as Lambda runs it: a process that talks to the Lambda Runtime
//! API, here a stub of it served by this test, with the AWS services in moto. Every sample
//! in `events/` goes to the function whose trigger it is; each invocation must post a
//! response (not an invocation error), and what the function answers is checked.
//!
//! The binaries are the ones `cargo build --workspace --bins` puts in `target/<profile>/`
//! (tests/run.sh builds them before `cargo test`). The test refuses a binary older than its
//! sources.
//!
//! It also prints, for each function, the time from process start to its first
//! `GET /runtime/invocation/next` (start-up: what a cold start adds before the handler runs),
//! and the duration of each invocation (event handed over -> response posted). These are
//! debug builds on this machine against moto: indications, not Lambda figures.
//!
//! Long on purpose: the Runtime API stub, the binaries' start-up and every sample's expected
//! answer belong together; each test drives the same stub.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use integration_tests::{create_table, root, sample_content, upload_dir, CaptchaStub, Moto};
use serde_json::{json, Value};
use shared::adapters::aws::{dynamodb_client, s3_client, ses_client, DynamoItemStore};
use shared::ports::{Condition, ItemStore};
use shared::signing::Keys;
use tokio::sync::{mpsc, Mutex};

/// The content bucket as the samples in `events/` name it (the template's name for it): the
/// render function acts only on S3 records for its own bucket.
const CONTENT: &str = "campaign-content-123456789012-eu-west-2";
const SITE: &str = "campaign-site";
const TABLE: &str = "campaign-records";
const REGION: &str = "eu-west-2";
const FROM: &str = "site@example.org";
const MODERATOR: &str = "moderator@example.org";
/// The master key the keys below are derived from (`site keys` does the same).
const MASTER_KEY: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/// The keys the template gives `binary`, and no others, as its environment.
fn template_keys(binary: &str) -> Vec<(&'static str, String)> {
    let keys = Keys::from_master(&hex_decode(MASTER_KEY)).unwrap();
    let all: Value = serde_json::from_str(&keys.to_secret_json()).unwrap();
    crate::infra::keys_of(binary)
        .into_iter()
        .map(|var| (var, all[var].as_str().unwrap().to_string()))
        .collect()
}
/// Well-formed, and not hCaptcha's test secret (which the functions refuse).
const HCAPTCHA_SECRET: &str = "0x2222222222222222222222222222222222222222";

// ---------------------------------------------------------------------------------------
// A Lambda Runtime API stub
// ---------------------------------------------------------------------------------------

/// What the function posted back for an invocation.
#[derive(Debug)]
enum Outcome {
    Response(Value),
    Error(String),
    InitError(String),
}

struct Invocation {
    id: String,
    event: Value,
}

struct Shared {
    /// Events waiting to be fetched by `GET .../next`.
    events: Mutex<mpsc::Receiver<Invocation>>,
    outcomes: mpsc::Sender<(String, Outcome, Instant)>,
    /// When each event was handed over, and when the first `next` arrived.
    handed: std::sync::Mutex<BTreeMap<String, Instant>>,
    first_next: std::sync::Mutex<Option<Instant>>,
    function_arn: String,
}

struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    events: mpsc::Sender<Invocation>,
    outcomes: mpsc::Receiver<(String, Outcome, Instant)>,
}

fn text(status: u16, body: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

async fn serve(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body = String::from_utf8_lossy(&body).into_owned();
    const BASE: &str = "/2018-06-01/runtime/";
    let Some(rest) = path.strip_prefix(BASE) else {
        return Ok(text(404, r#"{"errorMessage":"not found"}"#));
    };
    if method == hyper::Method::GET && rest == "invocation/next" {
        shared
            .first_next
            .lock()
            .unwrap()
            .get_or_insert_with(Instant::now);
        // Long poll: held until the test hands over an event (as Lambda holds it between
        // invocations).
        let next = shared.events.lock().await.recv().await;
        let Some(inv) = next else {
            // The test is over; the process is about to be stopped.
            std::future::pending::<()>().await;
            unreachable!()
        };
        let deadline =
            SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(300);
        shared
            .handed
            .lock()
            .unwrap()
            .insert(inv.id.clone(), Instant::now());
        let resp = Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .header("lambda-runtime-aws-request-id", &inv.id)
            .header(
                "lambda-runtime-deadline-ms",
                deadline.as_millis().to_string(),
            )
            .header("lambda-runtime-invoked-function-arn", &shared.function_arn)
            .header(
                "lambda-runtime-trace-id",
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            )
            .body(Full::new(Bytes::from(inv.event.to_string())))
            .unwrap();
        return Ok(resp);
    }
    if method == hyper::Method::POST && rest == "init/error" {
        let _ = shared
            .outcomes
            .send(("init".into(), Outcome::InitError(body), Instant::now()))
            .await;
        return Ok(text(202, r#"{"status":"OK"}"#));
    }
    if method == hyper::Method::POST {
        if let Some(inv) = rest.strip_prefix("invocation/") {
            if let Some(id) = inv.strip_suffix("/response") {
                let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
                let _ = shared
                    .outcomes
                    .send((id.to_string(), Outcome::Response(value), Instant::now()))
                    .await;
                return Ok(text(202, r#"{"status":"OK"}"#));
            }
            if let Some(id) = inv.strip_suffix("/error") {
                let _ = shared
                    .outcomes
                    .send((id.to_string(), Outcome::Error(body), Instant::now()))
                    .await;
                return Ok(text(202, r#"{"status":"OK"}"#));
            }
        }
    }
    Ok(text(404, r#"{"errorMessage":"unknown runtime API call"}"#))
}

impl Outcome {
    /// The response, or the test fails with what the function reported instead.
    fn response(&self, what: &str) -> &Value {
        match self {
            Outcome::Response(v) => v,
            Outcome::Error(e) => panic!("{what}: the invocation failed: {e}"),
            Outcome::InitError(e) => panic!("{what}: the function failed to start: {e}"),
        }
    }
}

impl RuntimeApi {
    async fn start(function: &str) -> RuntimeApi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (events_tx, events_rx) = mpsc::channel(16);
        let (out_tx, out_rx) = mpsc::channel(16);
        let shared = Arc::new(Shared {
            events: Mutex::new(events_rx),
            outcomes: out_tx,
            handed: Default::default(),
            first_next: Default::default(),
            function_arn: format!(
                "arn:aws:lambda:{REGION}:123456789012:function:campaign-{function}"
            ),
        });
        let s = shared.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let s = s.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| serve(s.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        RuntimeApi {
            addr,
            shared,
            events: events_tx,
            outcomes: out_rx,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Function processes
// ---------------------------------------------------------------------------------------

/// `target/<profile>/<name>`, next to this test's own executable (`target/<profile>/deps/`).
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = profile_dir.join(name);
    assert!(
        bin.exists(),
        "{} not built: run `cargo build --workspace --bins` first (tests/run.sh does)",
        bin.display()
    );
    // Refuse a stale binary: it would test yesterday's code.
    let built = std::fs::metadata(&bin).unwrap().modified().unwrap();
    let newest = newest_source(&[root().join("functions").join(name), root().join("shared")]);
    assert!(
        built >= newest,
        "{} is older than its sources: run `cargo build --workspace --bins`",
        bin.display()
    );
    bin
}

fn newest_source(dirs: &[PathBuf]) -> SystemTime {
    let mut newest = UNIX_EPOCH;
    let mut stack: Vec<PathBuf> = dirs.to_vec();
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .is_some_and(|x| x == "rs" || x == "toml" || x == "html" || x == "css")
            {
                newest = newest.max(std::fs::metadata(&p).unwrap().modified().unwrap());
            }
        }
    }
    newest
}

struct Function {
    name: String,
    child: Child,
    api: RuntimeApi,
    log: PathBuf,
    started: Instant,
    startup: Option<Duration>,
    count: usize,
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Function {
    async fn start(
        name: &str,
        memory: u32,
        env: &[(&str, String)],
        moto: &str,
        logs: &Path,
    ) -> Function {
        let api = RuntimeApi::start(name).await;
        let log = logs.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(binary(name));
        // Only what Lambda would set, plus the function's own configuration.
        cmd.env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", format!("campaign-{name}"))
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory.to_string())
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/11/20/[$LATEST]0123456789abcdef",
            )
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/campaign-{name}"),
            )
            .env("AWS_REGION", REGION)
            .env("AWS_DEFAULT_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_SESSION_TOKEN", "test")
            .env("AWS_ENDPOINT_URL", moto)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let child = cmd.spawn().unwrap();
        Function {
            name: name.into(),
            child,
            api,
            log,
            started,
            startup: None,
            count: 0,
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Hand over one event; wait for what the function posts back. Returns the outcome and
    /// the handler's duration (event handed over -> response received).
    async fn invoke(&mut self, event: Value) -> (Outcome, Duration) {
        self.count += 1;
        let id = format!("{:08x}-0000-4000-8000-{:012x}", self.count, self.count);
        self.api
            .events
            .send(Invocation {
                id: id.clone(),
                event,
            })
            .await
            .unwrap();
        loop {
            let got =
                tokio::time::timeout(Duration::from_secs(120), self.api.outcomes.recv()).await;
            let Ok(Some((for_id, outcome, at))) = got else {
                let status = self.child.try_wait().unwrap();
                panic!(
                    "{}: no answer to invocation {id} (process status {status:?}); log:\n{}",
                    self.name,
                    self.log_tail()
                );
            };
            if let Outcome::InitError(e) = &outcome {
                panic!("{}: init error {e}; log:\n{}", self.name, self.log_tail());
            }
            if for_id != id {
                continue;
            }
            if self.startup.is_none() {
                let first = self.api.shared.first_next.lock().unwrap().unwrap();
                self.startup = Some(first - self.started);
            }
            let handed = self.api.shared.handed.lock().unwrap()[&id];
            return (outcome, at - handed);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The world: moto with the site's resources
// ---------------------------------------------------------------------------------------

/// DynamoDB JSON (`{"S": ..}`, `{"N": ..}`, `{"M": ..}`...) as plain JSON, the form
/// `ItemStore` takes.
fn from_dynamodb_json(v: &Value) -> Value {
    let (ty, inner) = v
        .as_object()
        .and_then(|o| o.iter().next())
        .expect("a typed attribute value");
    match ty.as_str() {
        "S" => inner.clone(),
        "N" => {
            let n = inner.as_str().unwrap();
            n.parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| json!(n.parse::<f64>().unwrap()))
        }
        "BOOL" => inner.clone(),
        "NULL" => Value::Null,
        "L" => Value::Array(
            inner
                .as_array()
                .unwrap()
                .iter()
                .map(from_dynamodb_json)
                .collect(),
        ),
        "M" => Value::Object(
            inner
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), from_dynamodb_json(v)))
                .collect(),
        ),
        "SS" => inner.clone(),
        other => panic!("attribute type {other}"),
    }
}

/// Plain JSON as DynamoDB JSON (the form stream records carry).
fn to_dynamodb_json(v: &Value) -> Value {
    match v {
        Value::String(s) => json!({ "S": s }),
        Value::Number(n) => json!({ "N": n.to_string() }),
        Value::Bool(b) => json!({ "BOOL": b }),
        Value::Null => json!({ "NULL": true }),
        Value::Array(a) => json!({ "L": a.iter().map(to_dynamodb_json).collect::<Vec<_>>() }),
        Value::Object(o) => json!({ "M": o
            .iter()
            .map(|(k, v)| (k.clone(), to_dynamodb_json(v)))
            .collect::<serde_json::Map<_, _>>() }),
    }
}

fn image(event: &Value, which: &str) -> serde_json::Map<String, Value> {
    event["Records"][0]["dynamodb"][which]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), from_dynamodb_json(v)))
        .collect()
}

fn events() -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = std::fs::read_dir(root().join("events"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            (
                name,
                serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The function a sample is for (tests/infra.rs holds this against the template's
/// triggers; here it only routes the sample).
fn owner(name: &str, event: &Value) -> &'static str {
    if name.starts_with("s3-") || name.starts_with("schedule-") {
        return "render";
    }
    if name.starts_with("dynamodb-mention") {
        return "linkback-verify";
    }
    if name.starts_with("dynamodb-mail-request") {
        return "supporter-mail";
    }
    if name.starts_with("dynamodb-") {
        let new_status = event
            .pointer("/Records/0/dynamodb/NewImage/status/S")
            .and_then(Value::as_str);
        return if new_status == Some("pending") {
            "spam-verify"
        } else {
            "render"
        };
    }
    let route = event["routeKey"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: no routeKey"));
    match route.split_once(' ').map(|(_, p)| p) {
        Some(p) if p.starts_with("/posts/") && p.ends_with("/comments") => "comment-submit",
        Some("/moderate" | "/moderate/queue") => "moderate",
        Some(p) if p.starts_with("/signup") || p == "/unsubscribe" => "signup",
        Some("/webmention" | "/xmlrpc") => "linkbacks",
        _ => panic!("{name}: no function for route {route}: add it here"),
    }
}

/// An API Gateway v2 response as Lambda returns it: status, headers, body (decoded).
fn http_response(outcome: &Outcome, what: &str) -> (u16, Value, String) {
    let v = outcome.response(what);
    let status = v["statusCode"]
        .as_u64()
        .unwrap_or_else(|| panic!("{what}: no statusCode in {v}")) as u16;
    let raw = v["body"].as_str().unwrap_or("");
    let body = if v["isBase64Encoded"].as_bool().unwrap_or(false) {
        use base64::Engine;
        String::from_utf8_lossy(
            &base64::engine::general_purpose::STANDARD
                .decode(raw)
                .unwrap(),
        )
        .into_owned()
    } else {
        raw.to_string()
    };
    (status, v["headers"].clone(), body)
}

/// Memory (MB) and the function's own environment.
type FunctionConfig<'a> = (u32, Vec<(&'a str, String)>);

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// The site's resources in moto: both buckets (the sample content in the content bucket),
/// the table, the mail identities. Returns the table.
async fn world(moto: &Moto) -> DynamoItemStore {
    let sdk = moto.sdk_config().await;
    let s3 = s3_client(&sdk);
    for b in [CONTENT, SITE] {
        integration_tests::create_bucket(&s3, b).await;
    }
    upload_dir(&s3, CONTENT, &sample_content()).await;
    create_table(&dynamodb_client(&sdk), TABLE).await;
    for identity in [FROM, MODERATOR] {
        ses_client(&sdk)
            .create_email_identity()
            .email_identity(identity)
            .send()
            .await
            .unwrap();
    }
    DynamoItemStore::new(dynamodb_client(&sdk), TABLE)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_function_binary_answers_its_samples_through_the_runtime_api() {
    let moto = Moto::start();
    let records = world(&moto).await;
    let captcha = CaptchaStub::start(true).await;
    let logs = tempfile::tempdir().unwrap();

    let common: Vec<(&str, String)> = vec![
        ("TABLE_NAME", TABLE.into()),
        ("CONTENT_BUCKET", CONTENT.into()),
        ("STATE_PREFIX", "_state/".into()),
    ];
    let form_env: Vec<(&str, String)> = vec![
        ("HCAPTCHA_SECRET", HCAPTCHA_SECRET.into()),
        ("HCAPTCHA_VERIFY_URL", captcha.url.clone()),
        ("RATE_LIMIT", "100".into()),
    ];
    // In this order: spam-verify scores the comment moderate then acts on.
    let config: Vec<(&str, FunctionConfig)> = Vec::from([
        ("render", (512, vec![("SITE_BUCKET", SITE.into())])),
        ("comment-submit", (256, form_env.clone())),
        (
            "spam-verify",
            (
                256,
                vec![
                    ("MAIL_FROM", FROM.into()),
                    ("MODERATOR_EMAIL", MODERATOR.into()),
                ],
            ),
        ),
        ("moderate", (128, vec![])),
        ("linkbacks", (256, vec![("RATE_LIMIT", "100".into())])),
        ("linkback-verify", (256, vec![])),
        // signup sends no mail: it queues requests, which supporter-mail (after it) sends.
        ("signup", (256, form_env.clone())),
        ("supporter-mail", (256, vec![("MAIL_FROM", FROM.into())])),
    ]);

    // Samples per function, in the order they are sent. The render function gets the daily
    // full build first (it builds the state the incremental events work from).
    let mut queue: BTreeMap<&str, VecDeque<(String, Value)>> = BTreeMap::new();
    for (name, event) in events() {
        let f = owner(&name, &event);
        assert!(
            config.iter().any(|(n, _)| *n == f),
            "{name}: function {f} is not configured in this test"
        );
        let q = queue.entry(f).or_default();
        if name.starts_with("schedule-") {
            q.push_front((name, event));
        } else {
            q.push_back((name, event));
        }
    }
    for (f, _) in &config {
        assert!(queue.contains_key(f), "{f}: no sample in events/");
    }

    let mut report: Vec<String> = Vec::new();
    let mut startups: Vec<(String, Duration)> = Vec::new();
    let keys = Keys::from_master(&hex_decode(MASTER_KEY)).unwrap();

    for (fname, (memory, own)) in &config {
        let env: Vec<(&str, String)> = common
            .iter()
            .cloned()
            .chain(own.iter().cloned())
            .chain(template_keys(fname))
            .collect();
        let mut f = Function::start(fname, *memory, &env, &moto.endpoint, logs.path()).await;
        for (name, event) in queue.remove(fname).unwrap() {
            if name == "dynamodb-comment-pending.json" {
                // The comment the stream record is about, as comment-submit stored it.
                records
                    .put(image(&event, "NewImage"), Condition::Always)
                    .await
                    .unwrap();
            }
            if name == "dynamodb-mail-request-queued.json" {
                // The request the stream record is about, as signup stored it (today: a
                // request the sender finds past its day is void).
                let mut request = image(&event, "NewImage");
                let now = time::OffsetDateTime::now_utc();
                request.insert("requested".into(), shared::dates::rfc3339(now).into());
                request.insert(
                    "expires_at".into(),
                    (now + time::Duration::days(1)).unix_timestamp().into(),
                );
                records.put(request, Condition::Always).await.unwrap();
            }
            let (outcome, took) = f.invoke(event.clone()).await;
            let what = format!("{fname} <- {name}");
            let summary = check_sample(&name, &event, &outcome, &what);
            report.push(format!("{what}: {summary} [{}]", ms(took)));
        }
        // Beyond the samples: the paths that need fresh tokens and links.
        for (what, summary, took) in extra_invocations(fname, &mut f, &keys, &records).await {
            report.push(format!("{fname} <- {what}: {summary} [{}]", ms(took)));
        }
        startups.push((
            fname.to_string(),
            f.startup.expect("at least one invocation"),
        ));
    }

    println!("\nInvocations (debug build, moto on loopback; handler time from event handed over to response posted):");
    for line in &report {
        println!("  {line}");
    }
    println!("\nStart-up, process start -> first GET /runtime/invocation/next:");
    for (f, d) in &startups {
        println!("  {f:<15} {}", ms(*d));
    }
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// What each sample must produce. HTTP samples carry a placeholder form token
/// (`REPLACE_TOKEN`): the functions refuse them before touching a record.
fn check_sample(name: &str, event: &Value, outcome: &Outcome, what: &str) -> String {
    if event.get("routeKey").is_some() {
        let (status, headers, body) = http_response(outcome, what);
        let expected: (u16, &str) = match name {
            "apigw-comment-json.json" => (400, "the form token is missing or malformed"),
            "apigw-comment-form.json" => (400, "the form token is missing or malformed"),
            "apigw-moderate-get.json"
            | "apigw-moderate-post.json"
            | "apigw-moderate-queue-get.json"
            | "apigw-moderate-queue-post.json" => (400, "this moderation link is not valid"),
            "apigw-signup-post.json" => (400, "the form token is missing or malformed"),
            "apigw-signup-confirm-get.json" => (400, "This link does not work"),
            "apigw-unsubscribe-one-click.json" => (400, "This link does not work"),
            "apigw-signup-confirm-post.json"
            | "apigw-unsubscribe-get.json"
            | "apigw-signup-remove.json"
            | "apigw-signup-my-data-get.json"
            | "apigw-signup-my-data-post.json" => (400, "This link does not work"),
            "apigw-signup-done-get.json" => (200, "Check your email"),
            // The samples name www.example.org; the sample site is on 127.0.0.1:8080.
            "apigw-webmention.json" => (400, "the target is not on this site"),
            "apigw-pingback.json" => (200, "<int>33</int>"),
            other => panic!("{other}: no expectation for this sample: add one"),
        };
        if std::env::var_os("SHOW_BODIES").is_some() {
            eprintln!("--- {what}\n{body}");
        }
        assert_eq!(status, expected.0, "{what}: status; body:\n{body}");
        assert!(
            body.contains(expected.1),
            "{what}: body lacks {:?}:\n{body}",
            expected.1
        );
        let ct = headers["content-type"].as_str().unwrap_or("");
        return format!("{status} {ct}, {} bytes", body.len());
    }
    let v = outcome.response(what);
    if name == "dynamodb-mail-request-queued.json" {
        // A sign-up of an address the site does not know: stored pending, the link mailed.
        assert_eq!(v, &json!({"requests": 1, "sent": 1}), "{what}");
        return v.to_string();
    }
    if name == "dynamodb-comment-pending.json" || name == "dynamodb-mention-queued.json" {
        // (The mention's source cannot be reached from here: verified, and refused.)
        assert_eq!(v, &json!({"verified": 1}), "{what}");
    } else {
        // The render function's report: no content failed to publish.
        assert_eq!(v["errors"], json!([]), "{what}: {v}");
        assert!(
            v["written"].is_u64() && v["deleted"].is_u64(),
            "{what}: {v}"
        );
    }
    v.to_string()
}

/// Invocations beyond the samples, for the paths a placeholder token cannot reach.
async fn extra_invocations(
    function: &str,
    f: &mut Function,
    keys: &Keys,
    records: &DynamoItemStore,
) -> Vec<(String, String, Duration)> {
    let now = time::OffsetDateTime::now_utc();
    let mut out = Vec::new();
    match function {
        "comment-submit" => {
            // Accepted submissions, warm: the figure the cost estimate uses.
            let token = keys
                .forms
                .form_token("comment:the-big-link-up", now - time::Duration::minutes(1));
            for i in 0..5 {
                let mut event = integration_tests::event("apigw-comment-json.json");
                let body = json!({"name": "Lindsay Ibbotson", "email": "lindsay@example.net",
                    "body": format!("Creative learning beats pigeon-holed facts ({i})."),
                    "form_token": token, "h-captcha-response": "10000000-aaaa-bbbb-cccc-000000000001"});
                integration_tests::set_body(&mut event, &body.to_string());
                let (outcome, took) = f.invoke(event).await;
                let (status, _, text) = http_response(&outcome, "comment-submit (valid token)");
                assert_eq!(status, 202, "accepted JSON submission: {text}");
                let v: Value = serde_json::from_str(&text).unwrap();
                let id = v["id"].as_str().expect("the new comment's id").to_string();
                let stored = records
                    .get("POST#the-big-link-up", &format!("COMMENT#{id}"))
                    .await
                    .unwrap()
                    .expect("stored");
                assert_eq!(stored["status"], "pending");
                out.push((
                    format!("valid token #{i}"),
                    format!("{status} {text}"),
                    took,
                ));
            }
        }
        "linkbacks" => {
            // A Webmention for a post of the sample site: queued, answered 202 at once.
            let mut event = integration_tests::event("apigw-webmention.json");
            integration_tests::set_body(
                &mut event,
                &integration_tests::form_body(&[
                    (
                        "source",
                        "https://culture-learning.example.net/2010/07/ed-vaizey/",
                    ),
                    ("target", "http://127.0.0.1:8080/posts/the-big-link-up/"),
                ]),
            );
            let (outcome, took) = f.invoke(event).await;
            let (status, _, text) = http_response(&outcome, "linkbacks (our post)");
            assert_eq!(status, 202, "{text}");
            out.push((
                "a Webmention for our post".into(),
                format!("{status}"),
                took,
            ));
        }
        "signup" => {
            // A sign-up with a fresh form token: answered at once; the one thing done is a
            // mail request queued for supporter-mail (no mail sent from here).
            let token = keys
                .forms
                .form_token("signup", now - time::Duration::minutes(1));
            let mut event = integration_tests::event("apigw-signup-post.json");
            event["headers"]["content-type"] = "application/json".into();
            event["headers"]["accept"] = "application/json".into();
            event["isBase64Encoded"] = false.into();
            let body = json!({"name": "Bo Ode", "email": "bo@example.net",
                "supporter_type": "individual", "form_token": token,
                "h-captcha-response": "10000000-aaaa-bbbb-cccc-000000000001"});
            integration_tests::set_body(&mut event, &body.to_string());
            let (outcome, took) = f.invoke(event).await;
            let (status, _, text) = http_response(&outcome, "signup POST (valid token)");
            assert_eq!(status, 202, "{text}");
            assert!(text.contains("check-your-email"), "{text}");
            let eh = shared::supporters::email_hash(&keys.identity, "bo@example.net");
            let queued = records
                .get(&format!("MAILREQ#{eh}"), "SIGNUP")
                .await
                .unwrap()
                .expect("the request is queued");
            assert_eq!(queued["status"], "queued");
            assert!(
                records
                    .get(&format!("SUPPORTER#{eh}"), "PROFILE")
                    .await
                    .unwrap()
                    .is_none(),
                "nothing else is written on the request path"
            );
            out.push((
                "a sign-up with a valid token".into(),
                format!("{status}, queued"),
                took,
            ));
        }
        "supporter-mail" => {
            // The sample's batch delivered again (a stream retry): handled already, nothing
            // sent twice.
            let sample = integration_tests::event("dynamodb-mail-request-queued.json");
            let (outcome, took) = f.invoke(sample).await;
            let v = outcome.response("supporter-mail (the sample again)");
            assert_eq!(v, &json!({"requests": 1, "sent": 0}));
            out.push(("the sample again".into(), v.to_string(), took));
            // The request the signup function queued above, as the stream delivers it.
            let eh = shared::supporters::email_hash(&keys.identity, "bo@example.net");
            let queued = records
                .get(&format!("MAILREQ#{eh}"), "SIGNUP")
                .await
                .unwrap()
                .expect("signup queued a request");
            let event = json!({"Records": [{
                "eventID": "c9f0f895fb98ab9159f51fd0297e236d",
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": REGION,
                "dynamodb": {
                    "ApproximateCreationDateTime": now.unix_timestamp(),
                    "Keys": {"pk": to_dynamodb_json(&queued["pk"]), "sk": to_dynamodb_json(&queued["sk"])},
                    "NewImage": to_dynamodb_json(&Value::Object(queued.clone()))["M"].clone(),
                    "SequenceNumber": "111300000000012345678901",
                    "SizeBytes": 512,
                    "StreamViewType": "NEW_AND_OLD_IMAGES"
                },
                "eventSourceARN": format!("arn:aws:dynamodb:{REGION}:123456789012:table/{TABLE}/stream/2026-11-01T00:00:00.000")
            }]});
            let (outcome, took) = f.invoke(event).await;
            let v = outcome.response("supporter-mail (signup's request)");
            assert_eq!(v, &json!({"requests": 1, "sent": 1}));
            let stored = records
                .get(&format!("SUPPORTER#{eh}"), "PROFILE")
                .await
                .unwrap()
                .expect("stored pending by the sender");
            assert_eq!(stored["status"], "pending");
            assert!(records
                .get(&format!("MAILREQ#{eh}"), "SIGNUP")
                .await
                .unwrap()
                .is_none());
            out.push(("signup's request".into(), v.to_string(), took));
        }
        "moderate" => {
            // A real link for the comment spam-verify scored (seeded from the pending sample).
            let item = records
                .get("POST#the-big-link-up", "COMMENT#5d41402abc4b2a76b971")
                .await
                .unwrap()
                .expect("the sample comment is stored");
            let comment = shared::comments::Comment::from_item(&item).unwrap();
            let link = shared::comments::moderation::make_link(
                &keys.moderation,
                shared::comments::moderation::Action::Spam,
                &comment,
                now,
            );
            let mut get = integration_tests::event("apigw-moderate-get.json");
            get["rawQueryString"] = format!("token={link}").into();
            get["queryStringParameters"] = json!({ "token": link });
            let (outcome, took) = f.invoke(get).await;
            let (status, _, text) = http_response(&outcome, "moderate GET (valid link)");
            assert_eq!(status, 200, "confirmation page: {text}");
            out.push((
                "GET with a valid link".into(),
                format!("{status}, {} bytes", text.len()),
                took,
            ));
            let mut post = integration_tests::event("apigw-moderate-post.json");
            integration_tests::set_body(
                &mut post,
                &integration_tests::form_body(&[("token", &link)]),
            );
            let (outcome, took) = f.invoke(post).await;
            let (status, headers, text) = http_response(&outcome, "moderate POST (valid link)");
            assert_eq!(
                status, 303,
                "action done, sent on to a page to reload: {text}"
            );
            assert!(
                headers.to_string().contains("/moderate?done=spam"),
                "{headers}"
            );
            let after = records
                .get("POST#the-big-link-up", "COMMENT#5d41402abc4b2a76b971")
                .await
                .unwrap()
                .unwrap();
            assert_eq!(after["status"], "spam", "the link's action was applied");
            out.push((
                "POST with a valid link".into(),
                format!("{status}, marked spam"),
                took,
            ));
        }
        _ => {}
    }
    out
}

// ---------------------------------------------------------------------------------------
// AWS's own sample events
// ---------------------------------------------------------------------------------------

/// The sample events the `aws_lambda_events` crate tests itself with (its `src/fixtures/`),
/// from the cargo registry's copy of the crate (the version in Cargo.lock if present), or
/// `None` when no copy is found.
fn aws_fixtures_dir() -> Option<PathBuf> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let locked = std::fs::read_to_string(root().join("Cargo.lock"))
        .ok()
        .and_then(|lock| {
            let after = lock.split("name = \"aws_lambda_events\"\n").nth(1)?;
            let version = after.strip_prefix("version = \"")?.split('"').next()?;
            Some(format!("aws_lambda_events-{version}"))
        });
    let mut found: Vec<PathBuf> = std::fs::read_dir(cargo_home.join("registry").join("src"))
        .ok()?
        .flatten()
        .flat_map(|index| {
            std::fs::read_dir(index.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("aws_lambda_events-"))
        })
        .map(|p| p.join("src").join("fixtures"))
        .filter(|p| p.is_dir())
        .collect();
    // The locked version last, so it is the one taken.
    found.sort_by_key(|p| {
        let name = p.parent()?.parent()?.file_name()?.to_str()?.to_string();
        Some(Some(&name) == locked.as_ref())
    });
    found.pop()
}

/// Every IP address and e-mail address in an event's strings (loopback aside): what must
/// not reach a log line or an error message.
fn addresses_in(v: &Value, out: &mut std::collections::BTreeSet<String>) {
    match v {
        Value::String(s) => {
            let word = |c: char| c.is_ascii_alphanumeric() || "._+-@:".contains(c);
            for token in s.split(|c: char| !word(c)) {
                let token = token.trim_matches(|c: char| c == '.' || c == ':');
                let ip = token
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| !ip.is_loopback() && !ip.is_unspecified());
                let email = token.split_once('@').is_some_and(|(user, domain)| {
                    !user.is_empty() && domain.contains('.') && !domain.contains(':')
                });
                if ip || email {
                    out.insert(token.to_string());
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| addresses_in(v, out)),
        Value::Object(o) => o.values().for_each(|v| addresses_in(v, out)),
        _ => {}
    }
}

/// `errorType` and `errorMessage` of an invocation error the function posted.
fn posted_error(body: &str, what: &str) -> (String, String) {
    let v: Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("{what}: the error posted is not JSON ({e}): {body}"));
    let field = |name: &str| {
        v[name]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no {name} in the error posted: {body}"))
            .to_string()
    };
    (field("errorType"), field("errorMessage"))
}

/// AWS's own sample events (every fixture of the `aws_lambda_events` crate: S3, DynamoDB
/// stream, EventBridge, SQS, API Gateway...) sent to the render, supporter-mail and
/// spam-verify binaries.
/// Whatever fails is reported to Lambda as a named error type (a variant of the function's
/// error enum, not the type name of a boxed error) with a message; no IP or e-mail address
/// of the events reaches a message or a log line; records skipped as not ours are said at
/// warn level; and afterwards each function still answers well-formed inputs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aws_sample_events_fail_with_named_error_types_through_the_runtime_api() {
    let Some(dir) = aws_fixtures_dir() else {
        eprintln!(
            "SKIPPED: the aws_lambda_events crate's fixtures were not found under \
             $CARGO_HOME/registry/src/*/aws_lambda_events-*/src/fixtures (nor \
             $HOME/.cargo/...): run `cargo fetch` to fill the registry"
        );
        return;
    };
    let mut fixtures: Vec<(String, Value)> = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "json") {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if let Ok(v) = serde_json::from_slice::<Value>(&std::fs::read(&path).unwrap()) {
                fixtures.push((name, v));
            }
        }
    }
    fixtures.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        fixtures.len() >= 20
            && fixtures.iter().any(|(n, _)| n == "example-s3-event.json")
            && fixtures
                .iter()
                .any(|(n, _)| n == "example-dynamodb-event.json"),
        "{}: too few fixtures ({})",
        dir.display(),
        fixtures.len()
    );
    let mut addresses = std::collections::BTreeSet::new();
    for (_, v) in &fixtures {
        addresses_in(v, &mut addresses);
    }
    assert!(
        addresses.iter().any(|a| a.contains('@')),
        "the fixtures carry e-mail addresses to look for"
    );

    let moto = Moto::start();
    let records = world(&moto).await;
    let logs = tempfile::tempdir().unwrap();
    let common: Vec<(&str, String)> = vec![
        ("TABLE_NAME", TABLE.into()),
        ("CONTENT_BUCKET", CONTENT.into()),
        ("STATE_PREFIX", "_state/".into()),
    ];
    // Name, errorType prefix, memory and own environment.
    let functions: [(&str, &str, FunctionConfig); 3] = [
        (
            "render",
            "RenderError::",
            (512, vec![("SITE_BUCKET", SITE.into())]),
        ),
        (
            "supporter-mail",
            "SendError::",
            (256, vec![("MAIL_FROM", FROM.into())]),
        ),
        (
            "spam-verify",
            "VerifyError::",
            (
                256,
                vec![
                    ("MAIL_FROM", FROM.into()),
                    ("MODERATOR_EMAIL", MODERATOR.into()),
                ],
            ),
        ),
    ];
    let mut report: Vec<String> = Vec::new();
    for (fname, prefix, (memory, own)) in functions {
        let env: Vec<(&str, String)> = common
            .iter()
            .cloned()
            .chain(own)
            .chain(template_keys(fname))
            .collect();
        let mut f = Function::start(fname, memory, &env, &moto.endpoint, logs.path()).await;
        // Well-formed inputs: before AWS's samples (the render function's state), and after.
        let mut well_formed: Vec<(String, Value)> = Vec::new();
        if fname == "render" {
            let (name, event) = (
                "schedule-daily-rebuild.json",
                integration_tests::event("schedule-daily-rebuild.json"),
            );
            let (outcome, _) = f.invoke(event.clone()).await;
            check_sample(name, &event, &outcome, &format!("{fname} <- {name}"));
            well_formed.push((
                "s3-post-put.json".into(),
                integration_tests::event("s3-post-put.json"),
            ));
        } else if fname == "supporter-mail" {
            let name = "dynamodb-mail-request-queued.json";
            let event = integration_tests::event(name);
            let mut request = image(&event, "NewImage");
            let now = time::OffsetDateTime::now_utc();
            request.insert("requested".into(), shared::dates::rfc3339(now).into());
            request.insert(
                "expires_at".into(),
                (now + time::Duration::days(1)).unix_timestamp().into(),
            );
            records.put(request, Condition::Always).await.unwrap();
            well_formed.push((name.into(), event));
        } else {
            let event = integration_tests::event("dynamodb-comment-pending.json");
            records
                .put(image(&event, "NewImage"), Condition::Always)
                .await
                .unwrap();
            well_formed.push(("dynamodb-comment-pending.json".into(), event));
        }

        let mut answered = 0;
        let mut errors: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        let sent = fixtures.iter().map(|(n, v)| (n.clone(), v.clone()));
        // A well-formed request for a comment that does not exist: a named error too.
        let extra = (fname == "spam-verify").then(|| {
            (
                "rescore of an unknown comment".to_string(),
                json!({"rescore": "nosuchcomment"}),
            )
        });
        for (name, event) in sent.chain(extra) {
            let what = format!("{fname} <- {name}");
            match f.invoke(event).await.0 {
                Outcome::Response(_) => answered += 1,
                Outcome::Error(body) => {
                    let (ty, message) = posted_error(&body, &what);
                    assert!(
                        !ty.contains("alloc::boxed::Box") && !ty.contains("dyn"),
                        "{what}: errorType is a boxed error's type name: {body}"
                    );
                    let variant = ty.strip_prefix(prefix).unwrap_or("");
                    assert!(
                        !variant.is_empty() && variant.chars().all(|c| c.is_ascii_alphanumeric()),
                        "{what}: errorType {ty:?} is not a {prefix}<variant> name: {body}"
                    );
                    assert!(
                        !message.trim().is_empty(),
                        "{what}: empty errorMessage: {body}"
                    );
                    for a in &addresses {
                        assert!(
                            !message.contains(a.as_str()),
                            "{what}: the errorMessage carries {a}: {message}"
                        );
                    }
                    errors.entry(ty).or_default().push((name, message));
                }
                Outcome::InitError(e) => panic!("{what}: init error {e}"),
            }
        }
        for (name, event) in well_formed {
            let what = format!("{fname} <- {name} (after AWS's samples)");
            let (outcome, _) = f.invoke(event.clone()).await;
            let summary = check_sample(&name, &event, &outcome, &what);
            report.push(format!("{what}: {summary}"));
        }

        // Skipped records are said at warn level, and no address reaches the log.
        let log = std::fs::read_to_string(&f.log).unwrap();
        for a in &addresses {
            assert!(!log.contains(a.as_str()), "{fname}: the log carries {a}");
        }
        let warnings: Vec<Value> = log
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["level"] == "WARN")
            .collect();
        let said = |text: &str| {
            warnings.iter().any(|w| {
                w["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(text))
            })
        };
        let expected: &[&str] = if fname == "render" {
            &[
                "S3 record skipped: not the content bucket",
                "stream record skipped",
                "event not ours",
            ]
        } else {
            &["stream record skipped", "event not ours"]
        };
        for text in expected {
            assert!(
                said(text),
                "{fname}: no warning saying {text:?}; log:\n{}",
                f.log_tail()
            );
        }

        report.push(format!(
            "{fname}: {} AWS samples (+ extras): {answered} answered, {} failed, {} warnings",
            fixtures.len(),
            errors.values().map(Vec::len).sum::<usize>(),
            warnings.len()
        ));
        let mut said_how_often: BTreeMap<&str, usize> = BTreeMap::new();
        for w in &warnings {
            *said_how_often
                .entry(w["fields"]["message"].as_str().unwrap_or(""))
                .or_default() += 1;
        }
        for (message, n) in said_how_often {
            report.push(format!("  warn x{n}: {message}"));
        }
        for (ty, cases) in &errors {
            let (name, message) = &cases[0];
            report.push(format!(
                "  errorType {ty:?} x{}; e.g. {name}: errorMessage {message:?}",
                cases.len()
            ));
        }
    }
    println!("\nAWS's sample events ({}):", dir.display());
    for line in &report {
        println!("  {line}");
    }
}

/// hCaptcha's published test secret (the local server's mode) cannot switch on in a Lambda:
/// a form function configured with it stops at start-up, before it polls for an event, and
/// says why.
#[test]
fn form_functions_refuse_hcaptchas_test_secret_at_start_up() {
    for name in ["comment-submit", "signup"] {
        let out = Command::new(binary(name))
            .env_clear()
            // Nothing listens here: the function must stop before it would poll.
            .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
            .env("AWS_REGION", REGION)
            .env("TABLE_NAME", TABLE)
            .env("CONTENT_BUCKET", CONTENT)
            .envs(template_keys(name))
            .env("MAIL_FROM", FROM)
            .env("HCAPTCHA_SECRET", shared::adapters::captcha::TEST_SECRET)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{name} started: {said}");
        assert!(
            said.contains("HCAPTCHA_SECRET") && said.contains("only for local runs"),
            "{name}: {said}"
        );
    }
}

/// Every function under `functions/` is linked position-dependent (`functions/link.rs`):
/// a position-independent build makes the loader apply some 50,000 relocations at each cold
/// start, which put functions over 1.5× a hello-world's start-up (docs/architecture.md,
/// "Start-up"). A new function crate that forgets `build = "../link.rs"` fails here.
#[test]
fn every_function_binary_is_linked_position_dependent() {
    const ET_EXEC: u16 = 2;
    let mut names: Vec<String> = std::fs::read_dir(root().join("functions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 8, "function crates: {names:?}");
    for name in names {
        let elf = std::fs::read(binary(&name)).unwrap();
        assert_eq!(&elf[..4], b"\x7fELF", "{name} is not an ELF file");
        let e_type = u16::from_le_bytes([elf[16], elf[17]]);
        assert_eq!(
            e_type, ET_EXEC,
            "{name}: ELF type {e_type} (3 is a position-independent executable); \
             its Cargo.toml needs build = \"../link.rs\""
        );
    }
}
