//! Fault injection: every function's AWS calls go through [`FaultProxy`] to moto, which
//! answers a share of them with 5xx, throttling, timeouts, resets, or lost replies (moto
//! applied the call, the caller never heard). The real flows run through the real entry
//! points, as API Gateway, the DynamoDB stream and S3 would drive them: a visitor or a
//! moderator tries again after a 503; a failed stream batch or S3 event is delivered again
//! up to the retries infra/template.yaml sets, then goes to the dead-letter queue, from
//! which an operator redrives it once AWS answers again.
//!
//! What must hold whatever was injected:
//! - every answer is a success or a clear 503; never a 502 (a panic or an error out of
//!   the handler), never any other 5xx, never a success for something not done;
//! - a failed batch or event failed because of an injected fault;
//! - once the faults stop and the dead letters are redriven, nothing is half-done: each
//!   approved comment is on its page and nothing else is, the site is byte for byte what a
//!   fresh build makes, every moderator approval counted once, every held comment mailed
//!   to the moderator, a used link does nothing; each confirmed supporter has their consent
//!   recorded, no supporter is left with a token that still works after it was used, an
//!   erased address leaves nothing but its suppression.
//!
//! Run with `--nocapture` to see the figures (operations, faults by kind, violations).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};

use integration_tests::fault_proxy::{FaultProxy, Plan};
use integration_tests::{
    apigw_request, body_text, create_table, form_body, sample_content, set_body, upload_dir, Moto,
    StreamTrigger, TableStream,
};
use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};
use shared::adapters::aws::{dynamodb_client, s3_client, ses_client, DynamoItemStore, S3BlobStore};
use shared::adapters::captcha::{TestKeyVerifier, TEST_RESPONSE};
use shared::adapters::mail::SesMailer;
use shared::comments::moderation::{self, Action};
use shared::mail::ReadMail;
use shared::ports::{BlobStore, Clock, FixedClock, ItemStore};
use shared::signing::Keys;
use shared::wiring::{Assembled, Parts};

const CONTENT: &str = "fault-content";
const SITE: &str = "fault-site";
const FRESH_SITE: &str = "fault-fresh-site";
const TABLE: &str = "fault-records";
const FROM: &str = "site@example.org";
const MODERATOR: &str = "moderator@example.org";
/// Where the sample site's pages post to.
const API: &str = "http://127.0.0.1:8080";
/// Tries a visitor or moderator makes before giving up.
const TRIES: usize = 6;

/// The stream consumers, as the template wires them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Consumer {
    SpamVerify,
    Render,
    SupporterMail,
}

impl Consumer {
    const ALL: [Consumer; 3] = [
        Consumer::SpamVerify,
        Consumer::Render,
        Consumer::SupporterMail,
    ];

    fn logical_id(self) -> &'static str {
        match self {
            Consumer::SpamVerify => "SpamVerifyFunction",
            Consumer::Render => "RenderFunction",
            Consumer::SupporterMail => "SupporterMailFunction",
        }
    }
}

/// A delivery that failed every attempt: what an operator redrives from the DLQ.
struct DeadLetter {
    target: Target,
    event: Value,
}

#[derive(Debug, Clone, Copy)]
enum Target {
    Stream(Consumer),
    /// An S3 event to the render function (asynchronous invoke).
    S3Render,
}

#[derive(Default)]
struct Figures {
    requests: usize,
    answered_503: usize,
    gave_up: usize,
    deliveries: usize,
    failed_attempts: usize,
    dead_letters: usize,
}

struct World {
    moto: Moto,
    /// Every event delivered (to deliver them all again at the end, as an at-least-once
    /// event source may).
    delivered: Mutex<Vec<(Target, Value)>>,
    proxy: FaultProxy,
    /// Fault-free views, for setting up and checking.
    records: Arc<dyn ItemStore>,
    site: Arc<dyn BlobStore>,
    s3: aws_sdk_s3::Client,
    ddb: aws_sdk_dynamodb::Client,
    /// The functions' parts: every AWS call through the proxy.
    parts: Assembled,
    keys: Keys,
    clock: Arc<FixedClock>,
    stream: TableStream,
    triggers: Vec<(Consumer, StreamTrigger)>,
    dead: Mutex<Vec<DeadLetter>>,
    violations: Mutex<Vec<String>>,
    figures: Mutex<Figures>,
    mails_seen: Mutex<BTreeSet<String>>,
}

async fn world(seed: u64) -> World {
    let moto = Moto::start();
    let direct = moto.sdk_config().await;
    let s3 = s3_client(&direct);
    for b in [CONTENT, SITE, FRESH_SITE] {
        integration_tests::create_bucket(&s3, b).await;
    }
    upload_dir(&s3, CONTENT, &sample_content()).await;
    create_table(&dynamodb_client(&direct), TABLE).await;
    ses_client(&direct)
        .create_email_identity()
        .email_identity(FROM)
        .send()
        .await
        .unwrap();
    let stream = TableStream::open(&moto, TABLE).await;

    let proxy = FaultProxy::start(&moto.endpoint, seed).await;
    let via = proxy.sdk_config().await;
    let vs3 = s3_client(&via);
    let keys = Keys::from_master(&[7u8; 32]).unwrap();
    let clock = Arc::new(FixedClock::at(
        time::macros::datetime!(2026-11-20 10:00 UTC),
    ));
    let parts = Assembled {
        records: Arc::new(DynamoItemStore::new(dynamodb_client(&via), TABLE)),
        content: Arc::new(S3BlobStore::new(vs3.clone(), CONTENT, "")),
        state: Arc::new(S3BlobStore::new(vs3.clone(), CONTENT, "_state/")),
        site: Arc::new(S3BlobStore::new(vs3, SITE, "")),
        mailer: Arc::new(SesMailer::new(ses_client(&via))),
        captcha: Arc::new(TestKeyVerifier),
        clock: clock.clone(),
        keys: keys.clone(),
        rate_limit: 1000,
        mail_from: FROM.into(),
        moderator: MODERATOR.into(),
        origin: None,
        source_access: shared::linkbacks::SourceAccess::public(),
    };
    // The site as it stands before the run (no faults yet).
    parts.builder().unwrap().full_build().await.unwrap();
    World {
        records: Arc::new(DynamoItemStore::new(dynamodb_client(&direct), TABLE)),
        site: Arc::new(S3BlobStore::new(s3.clone(), SITE, "")),
        s3,
        ddb: dynamodb_client(&direct),
        parts,
        keys,
        clock,
        stream,
        triggers: Consumer::ALL
            .iter()
            .map(|c| (*c, StreamTrigger::of(c.logical_id())))
            .collect(),
        dead: Mutex::new(Vec::new()),
        delivered: Mutex::new(Vec::new()),
        violations: Mutex::new(Vec::new()),
        figures: Mutex::new(Figures::default()),
        mails_seen: Mutex::new(BTreeSet::new()),
        proxy,
        moto,
    }
}

impl World {
    fn violation(&self, what: String) {
        eprintln!("VIOLATION: {what}");
        self.violations.lock().unwrap().push(what);
    }

    fn faults_on(&self, rate: f64) {
        self.proxy
            .set_plan(Plan::every_kind(&["dynamodb", "s3", "ses"], rate));
    }

    fn faults_off(&self) {
        self.proxy.set_plan(Plan::none());
    }

    /// A visitor (or moderator) who tries again after a 503. Every answer must be one of
    /// `expected` or a 503; the answer is returned, `None` if they gave up.
    async fn until_answered<F, Fut>(
        &self,
        what: &str,
        expected: &[u16],
        mut call: F,
    ) -> Option<Response<Body>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Response<Body>>,
    {
        for attempt in 1..=TRIES {
            let resp = call().await;
            let status = resp.status().as_u16();
            self.figures.lock().unwrap().requests += 1;
            if expected.contains(&status) {
                return Some(resp);
            }
            if status == 503 {
                self.figures.lock().unwrap().answered_503 += 1;
                let text = body_text(&resp);
                if !text.to_lowercase().contains("try again") {
                    self.violation(format!(
                        "{what}: a 503 that does not say to try again: {text}"
                    ));
                }
                continue;
            }
            let text = body_text(&resp);
            let message = text
                .split("<main")
                .nth(1)
                .unwrap_or(&text)
                .chars()
                .take(600)
                .collect::<String>();
            self.violation(format!(
                "{what}: answered {status} on try {attempt} (expected {expected:?} or 503): {message}"
            ));
            return None;
        }
        self.figures.lock().unwrap().gave_up += 1;
        None
    }

    /// Deliver one event as Lambda would: again on failure, up to `retries` times, then to
    /// the dead-letter queue. Each failed attempt must be explained by an injected fault.
    async fn deliver(&self, target: Target, event: Value, retries: usize) {
        self.figures.lock().unwrap().deliveries += 1;
        self.delivered.lock().unwrap().push((target, event.clone()));
        for _ in 0..=retries {
            let before = self.proxy.faults();
            let result = self.invoke(target, event.clone()).await;
            match result {
                Ok(()) => return,
                Err(e) => {
                    self.figures.lock().unwrap().failed_attempts += 1;
                    if self.proxy.faults() == before {
                        self.violation(format!("{target:?} failed with no fault injected: {e}"));
                    }
                }
            }
        }
        self.figures.lock().unwrap().dead_letters += 1;
        self.dead.lock().unwrap().push(DeadLetter { target, event });
    }

    async fn invoke(&self, target: Target, event: Value) -> Result<(), String> {
        match target {
            Target::Stream(Consumer::SpamVerify) => {
                let deps = spam_verify::handler::Deps::build(&self.parts).unwrap();
                spam_verify::handler::on_invocation(&deps, event)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
            Target::Stream(Consumer::SupporterMail) => {
                let deps = supporter_mail::handler::Deps::build(&self.parts).unwrap();
                supporter_mail::handler::on_invocation(&deps, event)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
            Target::Stream(Consumer::Render) | Target::S3Render => {
                let builder = self.parts.builder().unwrap();
                render::handler::on_invocation(&builder, CONTENT, event)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// Run every stream consumer on what the table's stream recorded since the last call,
    /// each given the records its filter passes in batches of its size, until the stream
    /// is quiet.
    async fn pump(&self) {
        loop {
            let records = self.stream.next_records().await;
            if records.is_empty() {
                return;
            }
            for (consumer, trigger) in &self.triggers {
                let selected = trigger.select(&records);
                for batch in selected.chunks(trigger.batch_size) {
                    let event = json!({ "Records": batch });
                    self.deliver(Target::Stream(*consumer), event, trigger.retries)
                        .await;
                }
            }
        }
    }

    /// The operator redrives the dead letters (faults off by then), then the stream runs
    /// until quiet.
    async fn redrive(&self) {
        let dead = std::mem::take(&mut *self.dead.lock().unwrap());
        for d in dead {
            if let Err(e) = self.invoke(d.target, d.event).await {
                self.violation(format!(
                    "{:?}: a redriven dead letter failed: {e}",
                    d.target
                ));
            }
        }
        self.pump().await;
    }

    /// Mails SES (moto) accepted since the last call.
    async fn new_mails(&self) -> Vec<ReadMail> {
        let raws = self.moto.sent_mails().await;
        let mut seen = self.mails_seen.lock().unwrap();
        raws.into_iter()
            .filter(|r| seen.insert(r.clone()))
            .map(|r| ReadMail::parse(r.as_bytes()))
            .collect()
    }

    async fn comments(&self, post: &str) -> Vec<shared::comments::Comment> {
        self.records
            .query(
                &shared::keys::post_pk(post),
                shared::keys::COMMENT_SK_PREFIX,
            )
            .await
            .unwrap()
            .iter()
            .map(|i| shared::comments::Comment::from_item(i).unwrap())
            .collect()
    }

    /// Print the figures and fail on any violation.
    fn report(&self, story: &str) {
        let f = self.figures.lock().unwrap();
        let tally = self.proxy.tally();
        let operations: usize = tally.values().map(|t| t.0).sum();
        let faults: usize = tally.values().map(|t| t.1).sum();
        println!("fault run ({story}): {operations} AWS operations, {faults} faults injected");
        for (kind, n) in self.proxy.faults_by_kind() {
            println!("  {kind:?}: {n}");
        }
        for (op, (n, k)) in &tally {
            println!("  {op}: {n} calls, {k} faults");
        }
        println!(
            "  {} requests ({} answered 503, {} abandoned after {TRIES} tries); {} deliveries, {} failed attempts, {} dead letters",
            f.requests, f.answered_503, f.gave_up, f.deliveries, f.failed_attempts, f.dead_letters
        );
        let violations = self.violations.lock().unwrap();
        println!("  invariant violations: {}", violations.len());
        assert!(faults > 0, "no fault was injected");
        assert!(
            violations.is_empty(),
            "{} invariant violations:\n{}",
            violations.len(),
            violations.join("\n")
        );
    }

    /// Every object of a bucket, by key.
    async fn objects(&self, bucket: &str) -> BTreeMap<String, Vec<u8>> {
        let store = S3BlobStore::new(self.s3.clone(), bucket, "");
        let mut out = BTreeMap::new();
        for key in store.list("").await.unwrap() {
            out.insert(key.clone(), store.get(&key).await.unwrap().unwrap());
        }
        out
    }
}

impl World {
    /// Every item in the table, canonical, sorted (rate counters left out: a request
    /// counts).
    async fn ddb_items(&self) -> Vec<String> {
        let out = self.ddb.scan().table_name(TABLE).send().await.unwrap();
        let mut items: Vec<String> = out
            .items()
            .iter()
            .filter(|i| !i["pk"].as_s().is_ok_and(|pk| pk.starts_with("RATE#")))
            .map(|i| {
                let mut i = i.clone();
                i.remove("_write");
                canonical(&aws_sdk_dynamodb::types::AttributeValue::M(i)).to_string()
            })
            .collect();
        items.sort();
        items
    }

    /// Every event delivered during the run, delivered once more (faults off): the site,
    /// the table and the mails sent must stay exactly as they are.
    async fn redeliver_everything(&self) {
        let (site, records) = (self.objects(SITE).await, self.ddb_items().await);
        self.new_mails().await;
        let events = self.delivered.lock().unwrap().clone();
        for (target, event) in events {
            if let Err(e) = self.invoke(target, event).await {
                self.violation(format!("{target:?}: delivered again, it failed: {e}"));
            }
        }
        self.pump().await;
        let again = self.objects(SITE).await;
        for (k, v) in &again {
            if site.get(k) != Some(v) {
                self.violation(format!("delivered again, the site's {k} changed"));
            }
        }
        if again.len() != site.len() {
            self.violation("delivered again, the site's objects changed".into());
        }
        let now = self.ddb_items().await;
        for item in now.iter().filter(|i| !records.contains(i)) {
            self.violation(format!("delivered again, the table has {item}"));
        }
        for item in records.iter().filter(|i| !now.contains(i)) {
            self.violation(format!("delivered again, the table lost {item}"));
        }
        let more = self.new_mails().await.len();
        if more > 0 {
            self.violation(format!("delivered again, {more} more mails were sent"));
        }
    }

    /// The moderation links in the moderator's new mails, by comment and action.
    async fn collect_links(&self, links: &mut HashMap<(String, &'static str), String>) {
        for m in self.new_mails().await {
            if m.header("To") != Some(MODERATOR) {
                continue;
            }
            for l in m.links() {
                if let Some((_, t)) = l.split_once("/moderate?token=") {
                    if let Ok(link) =
                        moderation::read_link(&self.keys.moderation, t, self.clock.now())
                    {
                        links.insert((link.id, link.action.code()), t.to_string());
                    }
                }
            }
        }
    }
}

/// The moderator acts on every held comment mailed so far: approves most, marks some as
/// spam, deletes some; each click is a GET (the confirmation page), then the POST.
async fn moderate_held(
    w: &World,
    moderate: &moderate::handler::Deps,
    posts: &[&str],
    links: &HashMap<(String, &'static str), String>,
    round: usize,
) -> Vec<(shared::comments::Comment, Action, String)> {
    let mut done = Vec::new();
    let mut n = 0;
    for post in posts {
        for c in w.comments(post).await {
            if c.status != shared::comments::CommentStatus::Held {
                continue;
            }
            n += 1;
            let action = match (n + round) % 7 {
                3 => Action::Spam,
                5 => Action::Delete,
                _ => Action::Approve,
            };
            let Some(token) = links.get(&(c.id.clone(), action.code())).cloned() else {
                continue;
            };
            w.until_answered("moderation page", &[200], || {
                moderate::handler::handle(moderate, moderate_get(&token))
            })
            .await;
            let resp = w
                .until_answered("moderation", &[303], || {
                    moderate::handler::handle(moderate, moderate_post(&token))
                })
                .await;
            if let Some(resp) = resp {
                let to = resp.headers()["location"].to_str().unwrap().to_string();
                // "No change" is true only when the action had already taken effect (a
                // retry after a failure half-way).
                let now = w.comments(&c.post).await.into_iter().find(|x| x.id == c.id);
                let took_effect = match action {
                    Action::Delete => now.is_none(),
                    Action::Approve => {
                        now.is_some_and(|x| x.status == shared::comments::CommentStatus::Approved)
                    }
                    Action::Spam => {
                        now.is_some_and(|x| x.status == shared::comments::CommentStatus::Spam)
                    }
                };
                let told_done = to.contains(&format!("done={}", action.code()));
                let told_no_change = to.contains("done=nochange")
                    || (action == Action::Delete && to.contains("done=gone"));
                if !took_effect || !(told_done || told_no_change) {
                    w.violation(format!(
                        "moderating {} ({action:?}): sent to {to}, not told it was done",
                        c.id
                    ));
                }
                done.push((c, action, token));
            }
        }
    }
    done
}

fn without_form_tokens(objects: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    const FIELD: &str = r#"name="form_token" value=""#;
    let mask = |text: &str| {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find(FIELD) {
            out.push_str(&rest[..at + FIELD.len()]);
            rest = &rest[at + FIELD.len()..];
            rest = &rest[rest.find('"').unwrap_or(0)..];
        }
        out.push_str(rest);
        out
    };
    objects
        .into_iter()
        .map(|(k, v)| match String::from_utf8(v) {
            Ok(text) => (k, mask(&text).into_bytes()),
            Err(e) => (k, e.into_bytes()),
        })
        .collect()
}

/// An item as JSON with its maps' keys in order (the SDK's maps have none).
fn canonical(v: &aws_sdk_dynamodb::types::AttributeValue) -> Value {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    match v {
        A::S(s) => json!({ "S": s }),
        A::N(n) => json!({ "N": n }),
        A::Bool(b) => json!({ "BOOL": b }),
        A::Null(_) => Value::Null,
        A::L(l) => Value::Array(l.iter().map(canonical).collect()),
        A::M(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), canonical(v))).collect()),
        A::Ss(s) => json!({ "SS": s }),
        A::Ns(n) => json!({ "NS": n }),
        other => json!({ "other": format!("{other:?}") }),
    }
}

/// The first line where two pages differ, both ways.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    for (x, y) in a.lines().zip(b.lines()) {
        if x != y {
            return format!("built: {x:?}\nfresh: {y:?}");
        }
    }
    format!("{} lines against {}", a.lines().count(), b.lines().count())
}

fn comment_form(post: &str, token: &str, name: &str, email: &str, body: &str) -> Request {
    let form = form_body(&[
        ("name", name),
        ("email", email),
        ("body", body),
        ("form_token", token),
        ("contact_reference", ""),
        ("h-captcha-response", TEST_RESPONSE),
    ]);
    apigw_request("apigw-comment-form.json", |e| {
        set_body(e, &form);
        e["rawPath"] = format!("/posts/{post}/comments").into();
        e["requestContext"]["http"]["path"] = format!("/posts/{post}/comments").into();
        e["pathParameters"] = json!({ "slug": post });
        e["requestContext"]["http"]["sourceIp"] = "198.51.100.40".into();
    })
}

fn moderate_get(token: &str) -> Request {
    apigw_request("apigw-moderate-get.json", |e| {
        e["queryStringParameters"]["token"] = token.into();
        e["rawQueryString"] = format!("token={token}").into();
    })
}

fn moderate_post(token: &str) -> Request {
    apigw_request("apigw-moderate-post.json", |e| {
        set_body(e, &form_body(&[("token", token)]))
    })
}

/// An S3 notification for `key` in the content bucket, shaped as S3 sends it.
fn s3_event(key: &str, removed: bool) -> Value {
    let mut e = integration_tests::event("s3-post-put.json");
    e["Records"][0]["s3"]["bucket"]["name"] = CONTENT.into();
    e["Records"][0]["s3"]["object"]["key"] = key.into();
    if removed {
        e["Records"][0]["eventName"] = "ObjectRemoved:Delete".into();
    }
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_moderation_and_rendering_hold_their_invariants_under_aws_faults() {
    let w = world(0xC0FFEE).await;
    let posts = ["the-big-link-up", "what-pupils-told-us"];
    let submit = comment_submit::handler::Deps::build(&w.parts).unwrap();
    let moderate = moderate::handler::Deps::build(&w.parts).unwrap();
    let token_for = |post: &str| {
        w.keys.forms.form_token(
            &format!("comment:{post}"),
            w.clock.now() - time::Duration::minutes(1),
        )
    };

    // Comments: plain ones the filter may approve, ones with links it holds, and a few
    // regular authors whose approvals the moderator's trust counts.
    let mut submitted = Vec::new();
    for i in 0..24 {
        let post = posts[i % 2];
        let (name, email) = match i % 4 {
            0 => (
                "Regular Reader".to_string(),
                "regular@example.net".to_string(),
            ),
            _ => (format!("Reader {i}"), format!("reader{i}@example.net")),
        };
        let body = match i % 3 {
            0 => format!("Comment {i}: our school library is open again on Saturdays, and it is full every week."),
            1 => format!("Comment {i}: I wrote up the meeting at https://blog.example/{i} for anyone who missed it."),
            _ => format!("Comment {i}: thank you for the report, I shared it with the parents' group."),
        };
        submitted.push((post, name, email, body));
    }

    w.faults_on(0.4);
    let mut accepted = Vec::new();
    for (post, name, email, body) in &submitted {
        let resp = w
            .until_answered("comment form", &[303], || {
                comment_submit::handler::handle(
                    &submit,
                    comment_form(post, &token_for(post), name, email, body),
                )
            })
            .await;
        if resp.is_some() {
            accepted.push(body.clone());
        }
    }
    // No false success: every comment a visitor was told about is stored.
    let mut stored_bodies = BTreeSet::new();
    for post in posts {
        for c in w.comments(post).await {
            stored_bodies.insert(c.body_md.clone());
        }
    }
    for body in &accepted {
        if !stored_bodies.contains(body) {
            w.violation(format!("a comment answered 303 is not stored: {body}"));
        }
    }

    w.pump().await;

    // The moderator acts on every held comment mailed so far.
    let mut links: HashMap<(String, &'static str), String> = HashMap::new();
    w.collect_links(&mut links).await;
    let mut moderator_approved: BTreeMap<String, usize> = BTreeMap::new();
    let mut used_links = Vec::new();
    let mut tally = |acted: Vec<(shared::comments::Comment, Action, String)>| {
        for (c, action, token) in acted {
            if action == Action::Approve {
                *moderator_approved
                    .entry(c.email_hash.clone().unwrap_or_default())
                    .or_default() += 1;
            }
            used_links.push((c, action, token));
        }
    };
    tally(moderate_held(&w, &moderate, &posts, &links, 0).await);
    w.pump().await;

    // The site owner publishes a new post and edits another while AWS is failing.
    let new_post = "---\ntitle: Open libraries on Saturday\ndate: 2026-11-19\n---\nThe libraries open on Saturdays from next week.\n";
    let content = S3BlobStore::new(w.s3.clone(), CONTENT, "");
    content
        .put(
            "posts/open-libraries-on-saturday.md",
            new_post.as_bytes().to_vec(),
            &shared::site::layout::object_meta("posts/open-libraries-on-saturday.md"),
        )
        .await
        .unwrap();
    w.deliver(
        Target::S3Render,
        s3_event("posts/open-libraries-on-saturday.md", false),
        2,
    )
    .await;
    content
        .delete("posts/spring-conference-2012.md")
        .await
        .unwrap();
    w.deliver(
        Target::S3Render,
        s3_event("posts/spring-conference-2012.md", true),
        2,
    )
    .await;

    // AWS answers again: the operator redrives the dead letters; held comments mailed only
    // now are moderated too.
    w.faults_off();
    w.redrive().await;
    w.collect_links(&mut links).await;
    tally(moderate_held(&w, &moderate, &posts, &links, 1).await);
    w.pump().await;

    // Every held comment was mailed to the moderator.
    for post in posts {
        for c in w.comments(post).await {
            if c.status == shared::comments::CommentStatus::Held
                && !links.contains_key(&(c.id.clone(), Action::Approve.code()))
            {
                w.violation(format!(
                    "held comment {} was never mailed to the moderator",
                    c.id
                ));
            }
        }
    }

    // Each approved comment is on its page, and nothing else is.
    for post in posts {
        let page = String::from_utf8(
            w.site
                .get(&format!("posts/{post}/index.html"))
                .await
                .unwrap()
                .unwrap(),
        )
        .unwrap();
        for c in w.comments(post).await {
            let shown = page.contains(&c.body_md);
            let approved = c.status == shared::comments::CommentStatus::Approved;
            if shown != approved {
                w.violation(format!(
                    "comment {} is {} but {} on its page",
                    c.id,
                    c.status.as_str(),
                    if shown { "shown" } else { "missing" }
                ));
            }
        }
    }

    // Moderator approvals counted once each.
    for (email_hash, n) in &moderator_approved {
        let counted = shared::comments::moderator_approvals(w.records.as_ref(), email_hash, None)
            .await
            .unwrap();
        if counted != *n as i64 {
            w.violation(format!(
                "an author's moderator approvals: {n} made, {counted} counted"
            ));
        }
    }

    // A used link does nothing.
    for (c, action, token) in &used_links {
        let before = w.comments(&c.post).await.into_iter().find(|x| x.id == c.id);
        let resp = moderate::handler::handle(&moderate, moderate_post(token)).await;
        if resp.status() != 409 && resp.status() != 410 {
            w.violation(format!(
                "a used {action:?} link answered {}: {}",
                resp.status(),
                body_text(&resp)
            ));
        }
        let after = w.comments(&c.post).await.into_iter().find(|x| x.id == c.id);
        if before.map(|x| x.status) != after.map(|x| x.status) {
            w.violation(format!("a used link changed comment {}", c.id));
        }
    }

    // The site is what a fresh build from the same content and records makes.
    let fresh = Assembled {
        site: Arc::new(S3BlobStore::new(w.s3.clone(), FRESH_SITE, "")),
        state: Arc::new(S3BlobStore::new(w.s3.clone(), CONTENT, "_fresh_state/")),
        records: w.records.clone(),
        content: Arc::new(S3BlobStore::new(w.s3.clone(), CONTENT, "")),
        ..w.parts.clone()
    };
    fresh.builder().unwrap().full_build().await.unwrap();
    // Form tokens carry the time of the render that wrote them (an event's time, the fresh
    // build's clock), so they are compared by shape; everything else byte for byte.
    let (built, rebuilt) = (
        without_form_tokens(w.objects(SITE).await),
        without_form_tokens(w.objects(FRESH_SITE).await),
    );
    let keys: BTreeSet<&String> = built.keys().chain(rebuilt.keys()).collect();
    for k in keys {
        if built.get(k) != rebuilt.get(k) {
            w.violation(format!(
                "site object {k} differs from a fresh build ({})",
                match (built.get(k), rebuilt.get(k)) {
                    (Some(_), None) => "left over".to_string(),
                    (None, Some(_)) => "missing".to_string(),
                    (Some(a), Some(b)) => first_difference(a, b),
                    _ => unreachable!(),
                }
            ));
        }
    }
    w.redeliver_everything().await;
    let mut statuses: BTreeMap<&str, usize> = BTreeMap::new();
    for post in posts {
        for c in w.comments(post).await {
            *statuses.entry(c.status.as_str()).or_default() += 1;
        }
    }
    let mut actions: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, a, _) in &used_links {
        *actions.entry(a.code()).or_default() += 1;
    }
    println!(
        "comments: {} submitted, {} acknowledged; now {statuses:?}; the moderator's actions {actions:?}",
        submitted.len(),
        accepted.len()
    );
    assert!(
        actions.get("approve").is_some_and(|n| *n >= 3) && statuses.contains_key("approved"),
        "the run exercised too little: {actions:?} {statuses:?}"
    );
    w.report("comments");
}

/// A form posted to the sign-up function's `path`, as a browser sends it.
fn signup_post(path: &str, fields: &[(&str, &str)]) -> Request {
    let body = form_body(fields);
    apigw_request("apigw-signup-post.json", |e| {
        e["routeKey"] = format!("POST {path}").into();
        e["requestContext"]["routeKey"] = format!("POST {path}").into();
        e["rawPath"] = path.into();
        e["requestContext"]["http"]["path"] = path.into();
        e["requestContext"]["http"]["sourceIp"] = "198.51.100.41".into();
        set_body(e, &body);
    })
}

fn confirm_get(token: &str) -> Request {
    apigw_request("apigw-signup-confirm-get.json", |e| {
        e["rawQueryString"] = format!("token={token}").into();
        e["queryStringParameters"] = json!({ "token": token });
    })
}

fn token_after(mail: &ReadMail, prefix: &str) -> Option<String> {
    mail.links()
        .into_iter()
        .chain(
            mail.header("list-unsubscribe")
                .map(|h| h.trim_matches(|c| c == '<' || c == '>').to_string()),
        )
        .find_map(|l| l.strip_prefix(prefix).map(str::to_string))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supporters_sign_up_confirm_unsubscribe_and_erasure_hold_their_invariants_under_aws_faults()
{
    let w = world(0x5EED).await;
    let deps = signup::Deps::build(&w.parts).unwrap();
    let form_token = w
        .keys
        .forms
        .form_token("signup", w.clock.now() - time::Duration::minutes(1));
    let people: Vec<(String, String)> = (0..12)
        .map(|i| {
            (
                format!("Supporter {i}"),
                format!("supporter{i}@example.net"),
            )
        })
        .collect();
    let hash = |email: &str| shared::supporters::email_hash(&w.keys.identity, email);

    w.faults_on(0.4);
    let mut acknowledged = Vec::new();
    for (name, email) in &people {
        let fields = [
            ("name", name.as_str()),
            ("email", email.as_str()),
            ("supporter_type", "individual"),
            ("organisation", ""),
            ("newsletter", "yes"),
            ("form_token", form_token.as_str()),
            ("contact_reference", ""),
            ("h-captcha-response", TEST_RESPONSE),
        ];
        let resp = w
            .until_answered("sign-up", &[303], || {
                signup::handler::handle(&deps, signup_post("/signup", &fields))
            })
            .await;
        if resp.is_some() {
            acknowledged.push(email.clone());
        }
    }
    w.pump().await;

    // Each person confirms from their mail; then some stop the newsletter, some ask for
    // their data, some erase themselves.
    let mut confirm_tokens: HashMap<String, String> = HashMap::new();
    let mut manage_tokens: HashMap<String, String> = HashMap::new();
    let read_mails = |mails: Vec<ReadMail>,
                      confirm_tokens: &mut HashMap<String, String>,
                      manage_tokens: &mut HashMap<String, String>| {
        for m in mails {
            let to = m.header("To").unwrap_or_default().to_string();
            if let Some(t) = token_after(&m, &format!("{API}/signup/confirm?token=")) {
                confirm_tokens.insert(to.clone(), t);
            }
            if let Some(t) = token_after(&m, &format!("{API}/unsubscribe?token=")) {
                manage_tokens.insert(to, t);
            }
        }
    };
    read_mails(w.new_mails().await, &mut confirm_tokens, &mut manage_tokens);
    let mut confirmed = BTreeSet::new();
    let mut unsubscribed = BTreeSet::new();
    let mut erased = BTreeSet::new();
    let act = |skip: BTreeSet<String>,
               confirm_tokens: HashMap<String, String>,
               manage_tokens: HashMap<String, String>| {
        let (w, deps) = (&w, &deps);
        let people = people.clone();
        async move {
            let mut done = (Vec::new(), Vec::new(), Vec::new());
            for (i, (_, email)) in people.iter().enumerate() {
                let Some(token) = confirm_tokens.get(email) else {
                    continue;
                };
                if skip.contains(email) {
                    continue;
                }
                w.until_answered("confirmation page", &[200], || {
                    signup::handler::handle(deps, confirm_get(token))
                })
                .await;
                let ok = w
                    .until_answered("confirmation", &[303], || {
                        signup::handler::handle(
                            deps,
                            signup_post("/signup/confirm", &[("token", token)]),
                        )
                    })
                    .await;
                if ok.is_none() {
                    continue;
                }
                done.0.push((email.clone(), token.clone()));
                let Some(manage) = manage_tokens.get(email) else {
                    continue;
                };
                let path = match i % 3 {
                    1 => "/unsubscribe",
                    2 => "/signup/remove",
                    _ => continue,
                };
                let ok = w
                    .until_answered(path, &[303], || {
                        signup::handler::handle(deps, signup_post(path, &[("token", manage)]))
                    })
                    .await;
                if ok.is_some() {
                    if i % 3 == 1 {
                        done.1.push(email.clone());
                    } else {
                        done.2.push(email.clone());
                    }
                }
            }
            done
        }
    };
    let (c, u, e) = act(
        BTreeSet::new(),
        confirm_tokens.clone(),
        manage_tokens.clone(),
    )
    .await;
    confirmed.extend(c);
    unsubscribed.extend(u);
    erased.extend(e);
    w.pump().await;

    // AWS answers again: dead letters redriven, late mails acted on.
    w.faults_off();
    w.redrive().await;
    read_mails(w.new_mails().await, &mut confirm_tokens, &mut manage_tokens);
    let (c, u, e) = act(
        confirmed.iter().map(|(e, _)| e.clone()).collect(),
        confirm_tokens.clone(),
        manage_tokens.clone(),
    )
    .await;
    confirmed.extend(c);
    unsubscribed.extend(u);
    erased.extend(e);
    w.pump().await;

    // Every acknowledged sign-up was mailed its link.
    for email in &acknowledged {
        if !confirm_tokens.contains_key(email) {
            w.violation(format!(
                "{email} signed up and never got a confirmation link"
            ));
        }
    }
    for (email, token) in &confirmed {
        let h = hash(email);
        let s = shared::supporters::get_supporter(w.records.as_ref(), &h)
            .await
            .unwrap();
        if erased.contains(email) {
            if s.is_some() {
                w.violation(format!("{email} erased, the record is still there"));
            }
            let (pk, sk) = (shared::keys::supporter_pk(&h), shared::keys::SUPPRESSED_SK);
            if w.records.get(&pk, sk).await.unwrap().is_none() {
                w.violation(format!("{email} erased, no suppression kept"));
            }
        } else {
            match s {
                Some(s)
                    if s.status == shared::supporters::Status::Confirmed
                        && !s.consent.at.is_empty()
                        && !s.consent.form_version.is_empty() =>
                {
                    if unsubscribed.contains(email) && s.newsletter {
                        w.violation(format!("{email} unsubscribed, still on the newsletter"));
                    }
                }
                other => w.violation(format!(
                    "{email} confirmed, the record is {:?}",
                    other.map(|s| s.status)
                )),
            }
        }
        // A used confirmation link is spent.
        let th = shared::supporters::token_hash(token);
        if w.records
            .get(&shared::keys::token_pk(&th), shared::keys::TOKEN_SK)
            .await
            .unwrap()
            .is_some()
        {
            w.violation(format!(
                "{email}: the used confirmation token is still stored"
            ));
        }
        let again =
            signup::handler::handle(&deps, signup_post("/signup/confirm", &[("token", token)]))
                .await;
        if again.status() != 400 {
            w.violation(format!(
                "{email}: a used confirmation link answered {}",
                again.status()
            ));
        }
    }

    w.redeliver_everything().await;
    println!(
        "supporters: {} signed up, {} acknowledged, {} confirmed, {} unsubscribed, {} erased",
        people.len(),
        acknowledged.len(),
        confirmed.len(),
        unsubscribed.len(),
        erased.len()
    );
    assert!(
        confirmed.len() >= 8 && !unsubscribed.is_empty() && !erased.is_empty(),
        "the run exercised too little"
    );
    w.report("supporters");
}
