//! Supporter sign-up end to end through the function's entry point (`signup::handler::handle`)
//! with API Gateway HTTP API (v2) events from `events/`, against DynamoDB, S3 and SES in
//! moto, with hCaptcha's test keys or a stand-in for hCaptcha on a loopback port. The mails
//! are sent by the supporter-mail function's entry point
//! (`supporter_mail::handler::on_invocation`), fed the table's stream as moto records it.
//!
//! Long on purpose: every sign-up scenario shares one world and its helpers (forms as a
//! browser posts them, mails read back from moto); each test is one story.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use integration_tests::{
    apigw_request, body_text, create_table, form_body, sample_content, set_body, upload_dir,
    CaptchaStub, Moto, TableStream,
};
use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};
use shared::adapters::aws::{dynamodb_client, s3_client, ses_client, DynamoItemStore, S3BlobStore};
use shared::adapters::captcha::{HcaptchaVerifier, TestKeyVerifier, TEST_RESPONSE};
use shared::adapters::mail::SesMailer;
use shared::mail::ReadMail;
use shared::ports::{
    BlobStore, CaptchaVerifier, Clock, Condition, FixedClock, Item, ItemStore, MailError, Mailer,
    OutgoingMail, StoreError,
};
use shared::signing::Keys;
use shared::supporters::{email_hash, token_hash, Status, Supporter};
use shared::wiring::Assembled;
use signup::handler::handle;
use signup::Deps;

const CONTENT: &str = "campaign-content";
const TABLE: &str = "campaign-records";
const FROM: &str = "hello@example.org";
/// `api_url` of the sample site.
const API: &str = "http://127.0.0.1:8080";
const SECRET: &str = "0x2222222222222222222222222222222222222222";
const ADA: &str = "ada@example.net";
const IP: &str = "198.51.100.23";

/// The records store (DynamoDB in moto) with every operation noted by its kind and the
/// shape of its key (hashes masked), never its values: what a request does, to compare
/// between visitors.
struct Recording {
    inner: DynamoItemStore,
    ops: Mutex<Vec<String>>,
}

/// A key with its keyed hashes and numbers masked: `MAILREQ#<h>`, `RATE#signup#<h>`,
/// `W#<n>`.
fn key_shape(key: &str) -> String {
    key.split('#')
        .map(|part| {
            if !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()) {
                "<n>"
            } else if part.len() >= 16 && part.chars().all(|c| c.is_ascii_hexdigit()) {
                "<h>"
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join("#")
}

impl Recording {
    fn note(&self, op: String) {
        self.ops.lock().unwrap().push(op);
    }

    /// The operations since the last call.
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.ops.lock().unwrap())
    }
}

fn condition_shape(c: &Condition) -> String {
    match c {
        Condition::Always => "always".into(),
        Condition::NotExists => "if absent".into(),
        Condition::Equals { attr, .. } => format!("if {attr} is"),
        Condition::AbsentOrEquals { attr, .. } => format!("if absent or {attr} is"),
    }
}

#[async_trait::async_trait]
impl ItemStore for Recording {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.note(format!("get {} {}", key_shape(pk), key_shape(sk)));
        self.inner.get(pk, sk).await
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<bool, StoreError> {
        let key = |k: &str| {
            item.get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let mut attrs: Vec<&str> = item.keys().map(String::as_str).collect();
        attrs.sort();
        self.note(format!(
            "put {} {} [{}] {}",
            key_shape(&key("pk")),
            key_shape(&key("sk")),
            attrs.join(" "),
            condition_shape(&condition)
        ));
        self.inner.put(item, condition).await
    }
    async fn delete(
        &self,
        pk: &str,
        sk: &str,
        condition: Condition,
    ) -> Result<Option<Item>, StoreError> {
        self.note(format!(
            "delete {} {} {}",
            key_shape(pk),
            key_shape(sk),
            condition_shape(&condition)
        ));
        self.inner.delete(pk, sk, condition).await
    }
    async fn query(&self, pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        self.note(format!("query {} {}", key_shape(pk), key_shape(sk_prefix)));
        self.inner.query(pk, sk_prefix).await
    }
    async fn query_gsi1(&self, gsi1pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        self.note(format!("query gsi1 {gsi1pk} {}", key_shape(sk_prefix)));
        self.inner.query_gsi1(gsi1pk, sk_prefix).await
    }
    async fn increment(
        &self,
        pk: &str,
        sk: &str,
        by: i64,
        expires_at: i64,
    ) -> Result<i64, StoreError> {
        self.note(format!("increment {} {}", key_shape(pk), key_shape(sk)));
        self.inner.increment(pk, sk, by, expires_at).await
    }
}

/// SES (moto) that can be made to fail, as SES does when it throttles or refuses; counts
/// every attempt to send.
struct Ses {
    inner: SesMailer,
    failing: AtomicBool,
    attempts: AtomicUsize,
}

#[async_trait::async_trait]
impl Mailer for Ses {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            // SES names the recipient in some refusals: it must not reach a log or an error.
            return Err(MailError(format!(
                "Throttling: Maximum sending rate exceeded (for {})",
                mail.to
            )));
        }
        self.inner.send(mail).await
    }
}

struct World {
    moto: Moto,
    records: Arc<dyn ItemStore>,
    recording: Arc<Recording>,
    ses: Arc<Ses>,
    keys: Keys,
    clock: Arc<FixedClock>,
    ddb: aws_sdk_dynamodb::Client,
    deps: Deps,
    /// The supporter-mail function, on the same parts.
    sender: supporter_mail::handler::Deps,
    stream: TableStream,
    parts: Assembled,
    seen: Mutex<HashSet<String>>,
}

async fn world() -> World {
    world_with(Arc::new(TestKeyVerifier), 100).await
}

async fn world_with(captcha: Arc<dyn CaptchaVerifier>, rate_limit: u32) -> World {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let s3 = s3_client(&sdk);
    integration_tests::create_bucket(&s3, CONTENT).await;
    upload_dir(&s3, CONTENT, &sample_content()).await;
    let ddb = dynamodb_client(&sdk);
    create_table(&ddb, TABLE).await;
    let stream = TableStream::open(&moto, TABLE).await;
    ses_client(&sdk)
        .create_email_identity()
        .email_identity(FROM)
        .send()
        .await
        .unwrap();
    let recording = Arc::new(Recording {
        inner: DynamoItemStore::new(ddb.clone(), TABLE),
        ops: Mutex::new(Vec::new()),
    });
    let records: Arc<dyn ItemStore> = recording.clone();
    let ses = Arc::new(Ses {
        inner: SesMailer::new(ses_client(&sdk)),
        failing: AtomicBool::new(false),
        attempts: AtomicUsize::new(0),
    });
    let content: Arc<dyn BlobStore> = Arc::new(S3BlobStore::new(s3.clone(), CONTENT, ""));
    let state: Arc<dyn BlobStore> = Arc::new(S3BlobStore::new(s3, CONTENT, "_state/"));
    let keys = Keys::from_master(&[21u8; 32]).unwrap();
    let clock = Arc::new(FixedClock::at(
        time::macros::datetime!(2026-11-20 10:00 UTC),
    ));
    let parts = Assembled {
        records: records.clone(),
        content: content.clone(),
        state: state.clone(),
        // The sign-up function never writes the site.
        site: state.clone(),
        mailer: ses.clone(),
        captcha,
        clock: clock.clone(),
        keys: keys.clone(),
        rate_limit,
        mail_from: FROM.into(),
        moderator: FROM.into(),
        origin: None,
        source_access: shared::linkbacks::SourceAccess::public(),
    };
    World {
        deps: Deps::build(&parts).unwrap(),
        sender: supporter_mail::handler::Deps::build(&parts).unwrap(),
        stream,
        parts,
        moto,
        records,
        recording,
        ses,
        keys,
        clock,
        ddb,
        seen: Mutex::new(HashSet::new()),
    }
}

/// The stream records the supporter-mail function's trigger passes (its filter in
/// infra/template.yaml: a mail request inserted or replaced with the status `queued`).
fn for_the_sender(records: Vec<Value>) -> Vec<Value> {
    records
        .into_iter()
        .filter(|r| {
            let new = &r["dynamodb"]["NewImage"];
            ["INSERT", "MODIFY"].contains(&r["eventName"].as_str().unwrap_or(""))
                && new["type"]["S"] == "mail-request"
                && new["status"]["S"] == "queued"
        })
        .collect()
}

impl World {
    /// The function's dependencies with another captcha verifier or rate limit.
    fn deps_with(&self, captcha: Arc<dyn CaptchaVerifier>, rate_limit: u32) -> Deps {
        Deps::build(&Assembled {
            captcha,
            rate_limit,
            ..self.parts.clone()
        })
        .unwrap()
    }

    /// Call the function as a browser does: a 303 to the sign-up outcome page is followed
    /// (a GET of `/signup/done`), and the page it lands on is returned.
    async fn call(&self, req: Request) -> (u16, String, Response<Body>) {
        let resp = handle(&self.deps, req).await;
        if let Some(done) = done_location(&resp) {
            let resp = handle(&self.deps, done).await;
            return (resp.status().as_u16(), body_text(&resp), resp);
        }
        (resp.status().as_u16(), body_text(&resp), resp)
    }

    /// Call the function, without following a redirect.
    async fn call_once(&self, req: Request) -> Response<Body> {
        handle(&self.deps, req).await
    }

    /// The stream batch the supporter-mail function would get now (the records its filter
    /// passes since the last call), as Lambda hands it over; `None` when there are none.
    async fn stream_batch(&self) -> Option<Value> {
        let records = for_the_sender(self.stream.next_records().await);
        (!records.is_empty()).then(|| json!({ "Records": records }))
    }

    /// Run the supporter-mail function on what the stream delivered since the last call,
    /// as its trigger would (batches of 10).
    async fn deliver(&self) {
        let records = for_the_sender(self.stream.next_records().await);
        for batch in records.chunks(10) {
            let event = json!({ "Records": batch });
            supporter_mail::handler::on_invocation(&self.sender, event)
                .await
                .unwrap_or_else(|e| panic!("supporter-mail failed: {e}"));
        }
    }

    /// The token of a sign-up page rendered a minute ago.
    fn form_token(&self) -> String {
        self.keys
            .forms
            .form_token("signup", self.clock.now() - time::Duration::minutes(1))
    }

    /// The sign-up form as a browser posts it, with `fields` replacing the defaults.
    fn signup_form(&self, fields: &[(&str, &str)], source_ip: &str, xff: &str) -> Request {
        let token = self.form_token();
        let mut all: Vec<(&str, &str)> = vec![
            ("name", "Ada Lovelace"),
            ("email", ADA),
            ("supporter_type", "individual"),
            ("organisation", ""),
            ("newsletter", "yes"),
            ("form_token", &token),
            ("contact_reference", ""),
            ("h-captcha-response", TEST_RESPONSE),
        ];
        for (k, v) in fields {
            match all.iter_mut().find(|(n, _)| n == k) {
                Some(slot) => slot.1 = v,
                None => all.push((k, v)),
            }
        }
        all.retain(|(_, v)| *v != "<absent>");
        let body = form_body(&all);
        apigw_request("apigw-signup-post.json", |e| {
            set_body(e, &body);
            e["requestContext"]["http"]["sourceIp"] = source_ip.into();
            e["headers"]["x-forwarded-for"] = xff.into();
        })
    }

    fn signup(&self, fields: &[(&str, &str)]) -> Request {
        self.signup_form(fields, IP, IP)
    }

    /// New mails, once they are sent: the supporter-mail function is run on what the
    /// table's stream delivered since the last call, then the mails SES (moto) accepted
    /// since the last call are returned.
    async fn new_mails(&self) -> Vec<ReadMail> {
        self.deliver().await;
        self.sent_mails().await
    }

    /// New mails SES (moto) has accepted since the last call (the sender not run).
    async fn sent_mails(&self) -> Vec<ReadMail> {
        let raws = self.moto.sent_mails().await;
        let mut seen = self.seen.lock().unwrap();
        raws.into_iter()
            .filter(|r| seen.insert(r.clone()))
            .map(|r| ReadMail::parse(r.as_bytes()))
            .collect()
    }

    async fn one_mail(&self) -> ReadMail {
        let mut m = self.new_mails().await;
        assert_eq!(
            m.len(),
            1,
            "exactly one new mail: {:?}",
            m.iter().map(|m| &m.text).collect::<Vec<_>>()
        );
        m.remove(0)
    }

    async fn supporter(&self, email: &str) -> Option<Supporter> {
        shared::supporters::get_supporter(
            self.records.as_ref(),
            &email_hash(&self.keys.identity, email),
        )
        .await
        .unwrap()
    }

    /// Every item in the table, as text (to check what is and is not stored).
    async fn table_dump(&self) -> Vec<String> {
        let out = self.ddb.scan().table_name(TABLE).send().await.unwrap();
        out.items().iter().map(|i| format!("{i:?}")).collect()
    }
}

/// An event from `events/` moved to another route, with a `token` query and `body`.
fn route(
    file: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, &str)>,
) -> Request {
    apigw_request(file, |e| {
        e["routeKey"] = format!("{method} {path}").into();
        e["requestContext"]["routeKey"] = format!("{method} {path}").into();
        e["rawPath"] = path.into();
        e["requestContext"]["http"]["path"] = path.into();
        e["requestContext"]["http"]["method"] = method.into();
        match token {
            Some(t) => {
                e["rawQueryString"] = format!("token={t}").into();
                e["queryStringParameters"] = json!({ "token": t });
            }
            None => {
                e["rawQueryString"] = "".into();
                e.as_object_mut().unwrap().remove("queryStringParameters");
            }
        }
        if let Some((content_type, b)) = body {
            e["headers"]["content-type"] = content_type.into();
            if content_type == "application/json" {
                e["headers"]["accept"] = "application/json".into();
                e["isBase64Encoded"] = false.into();
            } else {
                e["isBase64Encoded"] = true.into();
            }
            set_body(e, b);
        }
    })
}

fn confirm_get(token: &str) -> Request {
    apigw_request("apigw-signup-confirm-get.json", |e| {
        e["rawQueryString"] = format!("token={token}").into();
        e["queryStringParameters"] = json!({ "token": token });
    })
}

/// A page's button, as the browser posts it: `token=…` to `path`.
fn post_token(path: &str, token: &str) -> Request {
    let body = form_body(&[("token", token)]);
    route(
        "apigw-signup-post.json",
        "POST",
        path,
        None,
        Some(("application/x-www-form-urlencoded", &body)),
    )
}

fn json_post(path: &str, v: Value) -> Request {
    route(
        "apigw-signup-post.json",
        "POST",
        path,
        None,
        Some(("application/json", &v.to_string())),
    )
}

fn one_click(token: &str) -> Request {
    apigw_request("apigw-unsubscribe-one-click.json", |e| {
        e["rawQueryString"] = format!("token={token}").into();
        e["queryStringParameters"] = json!({ "token": token });
    })
}

fn link(mail: &ReadMail, prefix: &str) -> Option<String> {
    mail.links().into_iter().find(|l| l.starts_with(prefix))
}

fn token_in(url: &str) -> String {
    url.split_once("token=").unwrap().1.to_string()
}

fn confirm_token(mail: &ReadMail) -> String {
    token_in(&link(mail, &format!("{API}/signup/confirm?token=")).expect("a confirmation link"))
}

/// The manage token from the `List-Unsubscribe` header.
fn manage_token(mail: &ReadMail) -> String {
    let h = mail.header("list-unsubscribe").expect("List-Unsubscribe");
    let url = h.trim_start_matches('<').trim_end_matches('>');
    assert!(
        url.starts_with(&format!("{API}/unsubscribe?token=")),
        "{url}"
    );
    token_in(url)
}

fn item_keys(item: &Item) -> Vec<&str> {
    let mut k: Vec<&str> = item.keys().map(String::as_str).collect();
    k.sort();
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_confirm_by_post_one_click_unsubscribe_and_erase() {
    let w = world().await;

    // Sign up: a page saying to check the mail, which carries nothing typed.
    let (status, first_page, resp) = w.call(w.signup(&[])).await;
    assert_eq!(status, 200, "{first_page}");
    assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert!(first_page.contains("Check your email"), "{first_page}");
    assert!(!first_page.contains(ADA) && !first_page.contains(IP));

    let mail = w.one_mail().await;
    assert_eq!(mail.header("to"), Some(ADA));
    assert_eq!(mail.header("from"), Some(FROM));
    assert!(mail.header("subject").unwrap().contains("Please confirm"));
    assert_eq!(
        mail.header("list-unsubscribe-post"),
        Some("List-Unsubscribe=One-Click")
    );
    assert!(
        mail.text.starts_with("Hello Ada Lovelace,"),
        "{}",
        mail.text
    );
    let token = confirm_token(&mail);
    let manage = manage_token(&mail);
    assert!(mail
        .text
        .contains(&format!("{API}/unsubscribe?token={manage}")));

    // Stored pending, with a consent record; the token only as its hash; no raw IP.
    let p = w.supporter(ADA).await.expect("stored");
    assert_eq!(p.status, Status::Pending);
    let now = w.clock.now();
    assert_eq!(
        p.expires_at,
        Some((now + time::Duration::hours(48)).unix_timestamp())
    );
    assert_eq!(p.token_hash.as_deref(), Some(token_hash(&token).as_str()));
    assert!(p.consent.newsletter && !p.consent.newsletter_default);
    assert_eq!(p.consent.form_version, shared::supporters::FORM_VERSION);
    assert_eq!(p.consent.at, "2026-11-20T10:00:00Z");
    assert_eq!(p.consent.ip_hash, w.keys.identity.keyed_hash("ip", IP));
    let dump = w.table_dump().await.join("\n");
    assert!(!dump.contains(&token), "the raw token is never stored");
    assert!(!dump.contains(IP), "the raw IP is never stored");
    assert!(w
        .records
        .get(&format!("TOKEN#{}", token_hash(&token)), "TOKEN")
        .await
        .unwrap()
        .is_some());

    // Following the link (as a mail scanner would, twice) changes nothing.
    for _ in 0..2 {
        let (status, page, _) = w.call(confirm_get(&token)).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains(&format!(
            "<form method=\"post\" action=\"{API}/signup/confirm\""
        )));
        assert!(page.contains(&format!("name=\"token\" value=\"{token}\"")));
        assert!(page.contains("Confirm my sign-up"));
        assert_eq!(w.supporter(ADA).await.unwrap().status, Status::Pending);
    }

    // The button confirms.
    let (status, page, _) = w.call(post_token("/signup/confirm", &token)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("you are signed up"), "{page}");
    let c = w.supporter(ADA).await.unwrap();
    assert_eq!(c.status, Status::Confirmed);
    assert_eq!((c.expires_at, c.token_hash.clone()), (None, None));
    assert!(w
        .records
        .get(&format!("TOKEN#{}", token_hash(&token)), "TOKEN")
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        shared::supporters::confirmed_supporters(w.records.as_ref())
            .await
            .unwrap()
            .len(),
        1
    );

    // The token works once.
    let (status, page, _) = w.call(post_token("/signup/confirm", &token)).await;
    assert_eq!(status, 400);
    assert!(
        page.contains("not valid or has already been used"),
        "{page}"
    );
    assert_eq!(w.call(confirm_get(&token)).await.0, 400);

    // RFC 8058 one-click from the mailbox provider: newsletter off, supporter kept.
    let (status, page, _) = w.call(one_click(&manage)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("You are unsubscribed"));
    assert!(
        page.contains(&format!("action=\"{API}/signup/remove\"")),
        "{page}"
    );
    let u = w.supporter(ADA).await.unwrap();
    assert_eq!((u.status, u.newsletter), (Status::Confirmed, false));
    assert!(u.newsletter_changed_at.is_some());
    assert_eq!(w.call(one_click(&manage)).await.0, 200, "again: harmless");
    // The manage page now offers removal.
    let (status, page, _) = w
        .call(route(
            "apigw-signup-confirm-get.json",
            "GET",
            "/unsubscribe",
            Some(&manage),
            None,
        ))
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("Remove me entirely"), "{page}");

    // A forged manage token is refused.
    let last = if manage.ends_with('x') { "y" } else { "x" };
    let forged = format!("{}{last}", &manage[..manage.len() - 1]);
    assert_eq!(w.call(one_click(&forged)).await.0, 400);

    // Erase: only the keyed hash is left.
    let (status, page, _) = w.call(post_token("/signup/remove", &manage)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Your details have been removed"));
    assert!(w.supporter(ADA).await.is_none());
    let dump = w.table_dump().await.join("\n");
    assert!(!dump.contains(ADA) && !dump.contains("Lovelace"), "{dump}");
    let eh = email_hash(&w.keys.identity, ADA);
    let suppression = w
        .records
        .get(&format!("SUPPORTER#{eh}"), "SUPPRESSED")
        .await
        .unwrap()
        .expect("suppression kept");
    assert_eq!(item_keys(&suppression), ["pk", "sk", "type"]);
    let (status, page, _) = w
        .call(route(
            "apigw-signup-confirm-get.json",
            "GET",
            "/unsubscribe",
            Some(&manage),
            None,
        ))
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("You are not on our list"), "{page}");

    // Signing up again with an erased address: the same answer, but no mail and nothing
    // stored (the person asked not to be mailed; the site owner can lift it).
    let (status, again, _) = w.call(w.signup(&[])).await;
    assert_eq!((status, again.as_str()), (200, first_page.as_str()));
    assert!(w.new_mails().await.is_empty());
    assert!(w.supporter(ADA).await.is_none());
    assert!(shared::supporters::lift_suppression(
        w.records.as_ref(),
        &w.keys.identity,
        "ADA@example.net"
    )
    .await
    .unwrap());
    assert_eq!(w.call(w.signup(&[])).await.0, 200);
    assert_eq!(
        w.new_mails().await.len(),
        1,
        "after lifting, mail is sent again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_sign_up_is_indistinguishable_from_a_new_one() {
    let w = world().await;
    let (s_new, new_body, r_new) = w.call(w.signup(&[])).await;
    let first = w.one_mail().await;
    let first_token = confirm_token(&first);

    // Pending, again, with the address typed differently and another name.
    let (s_pending, pending_body, r_pending) = w
        .call(w.signup(&[("email", "  Ada@Example.NET "), ("name", "Ada King")]))
        .await;
    let second = w.one_mail().await;
    assert_eq!(second.header("to"), Some(ADA));
    assert!(second.header("subject").unwrap().contains("Please confirm"));
    let second_token = confirm_token(&second);
    assert_ne!(first_token, second_token);
    // The earlier link was replaced, but not the details: anyone can type an address, so
    // the sign-up waiting for confirmation keeps what it asked for, and the confirm page
    // says what it confirms.
    assert_eq!(
        w.call(post_token("/signup/confirm", &first_token)).await.0,
        400
    );
    let confirm_page = w
        .call(apigw_request("apigw-signup-confirm-get.json", |e| {
            e["rawQueryString"] = format!("token={second_token}").into();
            e["queryStringParameters"] = json!({ "token": second_token });
        }))
        .await;
    assert_eq!(confirm_page.0, 200);
    assert!(
        confirm_page
            .1
            .contains("as Ada Lovelace (an individual), with the e-newsletter"),
        "{}",
        confirm_page.1
    );
    assert_eq!(
        w.call(post_token("/signup/confirm", &second_token)).await.0,
        200
    );
    assert_eq!(w.supporter(ADA).await.unwrap().name, "Ada Lovelace");
    assert_eq!(
        manage_token(&first),
        manage_token(&second),
        "manage links stay valid"
    );

    // Confirmed, again: same answer, a different mail.
    let (s_confirmed, confirmed_body, r_confirmed) =
        w.call(w.signup(&[("name", "Someone Else")])).await;
    let third = w.one_mail().await;
    assert!(third
        .header("subject")
        .unwrap()
        .contains("already signed up"));
    assert!(link(&third, &format!("{API}/signup/confirm")).is_none());
    assert!(link(&third, &format!("{API}/unsubscribe?token=")).is_some());
    assert!(link(&third, &format!("{API}/signup/my-data?token=")).is_some());
    assert!(
        third.text.starts_with("Hello Ada Lovelace,"),
        "the confirmed name, not the new one"
    );
    assert_eq!(
        w.supporter(ADA).await.unwrap().name,
        "Ada Lovelace",
        "nothing changed"
    );

    // A different, new address.
    let (s_other, other_body, r_other) = w.call(w.signup(&[("email", "bob@example.net")])).await;
    assert_eq!(w.one_mail().await.header("to"), Some("bob@example.net"));

    for (s, b, r) in [
        (s_pending, &pending_body, &r_pending),
        (s_confirmed, &confirmed_body, &r_confirmed),
        (s_other, &other_body, &r_other),
    ] {
        assert_eq!(s, s_new);
        assert_eq!(b.as_bytes(), new_body.as_bytes());
        assert_eq!(r.headers(), r_new.headers());
    }

    // At most three sign-up mails a day per address; the fourth gets the same answer.
    let (s, b, _) = w.call(w.signup(&[])).await;
    assert_eq!((s, b.as_str()), (s_new, new_body.as_str()));
    assert!(w.new_mails().await.is_empty());

    // JSON callers get the same indistinguishable answer.
    let token = w.form_token();
    let body = |email: &str| {
        json!({"name": "Ada", "email": email, "supporter_type": "individual", "newsletter": false,
               "form_token": token, "contact_reference": "", "h-captcha-response": TEST_RESPONSE})
    };
    let (s1, b1, _) = w
        .call(json_post("/signup", body("carol@example.net")))
        .await;
    let (s2, b2, _) = w
        .call(json_post("/signup", body("carol@example.net")))
        .await;
    assert_eq!((s1, s2), (202, 202));
    assert_eq!(b1, b2);
    assert_eq!(
        serde_json::from_str::<Value>(&b1).unwrap()["status"],
        "check-your-email"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_reused_tokens_are_refused() {
    let w = world().await;
    assert_eq!(w.call(w.signup(&[])).await.0, 200);
    let old = confirm_token(&w.one_mail().await);

    w.clock.advance(time::Duration::hours(49));
    let (status, page, _) = w.call(confirm_get(&old)).await;
    assert_eq!(status, 410);
    assert!(page.contains("This link has expired"), "{page}");
    assert_eq!(w.call(post_token("/signup/confirm", &old)).await.0, 410);
    assert_eq!(w.supporter(ADA).await.unwrap().status, Status::Pending);

    // A lapsed sign-up counts as none: signing up again starts afresh.
    assert_eq!(w.call(w.signup(&[])).await.0, 200);
    let fresh = confirm_token(&w.one_mail().await);
    assert_eq!(w.call(post_token("/signup/confirm", &fresh)).await.0, 200);
    assert_eq!(
        w.call(post_token("/signup/confirm", &fresh)).await.0,
        400,
        "reused"
    );
    assert_eq!(w.call(post_token("/signup/confirm", &old)).await.0, 400);
    assert_eq!(
        w.call(post_token("/signup/confirm", "made-up")).await.0,
        400
    );
    assert_eq!(w.call(post_token("/signup/confirm", "")).await.0, 400);
    assert_eq!(w.supporter(ADA).await.unwrap().status, Status::Confirmed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_text_never_reaches_a_mail() {
    let w = world().await;
    let (status, page, _) = w
        .call(w.signup(&[
            (
                "name",
                "Win a prize at http://spam.example/claim\r\nBcc: list@example.com",
            ),
            ("email", "victim@example.net"),
            ("supporter_type", "organisation"),
            (
                "organisation",
                "<a href=\"http://evil.example/\">Claim your prize</a>",
            ),
        ]))
        .await;
    assert_eq!(status, 200, "{page}");
    let mail = w.one_mail().await;
    let raw_headers: Vec<&str> = mail.headers.iter().map(|(k, _)| k.as_str()).collect();
    assert!(
        !raw_headers.iter().any(|h| h.eq_ignore_ascii_case("bcc")),
        "{raw_headers:?}"
    );
    assert!(mail.text.starts_with("Hello,\n"), "{}", mail.text);
    for injected in [
        "spam.example",
        "evil.example",
        "prize",
        "Claim",
        "Bcc",
        "<a",
        "list@example.com",
    ] {
        assert!(
            !mail.text.contains(injected),
            "{injected} reached the mail: {}",
            mail.text
        );
        assert!(!mail.header("subject").unwrap().contains(injected));
    }
    assert!(
        mail.links().iter().all(|l| l.starts_with(API)),
        "{:?}",
        mail.links()
    );
    // The record keeps what was typed (cleaned of line breaks), for the site owner.
    let s = w.supporter("victim@example.net").await.unwrap();
    assert_eq!(
        s.name,
        "Win a prize at http://spam.example/claim Bcc: list@example.com"
    );

    // An ordinary name is used.
    let token = w.form_token();
    let (status, _, _) = w
        .call(json_post(
            "/signup",
            json!({"name": "Zoë O’Brien", "email": "zoe@example.net", "form_token": token,
                   "supporter_type": "individual", "h-captcha-response": TEST_RESPONSE}),
        ))
        .await;
    assert_eq!(status, 202);
    assert!(w.one_mail().await.text.starts_with("Hello Zoë O’Brien,\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organisation_without_a_name_is_refused_with_the_form_kept() {
    let w = world().await;
    let (status, page, resp) = w
        .call(w.signup(&[("supporter_type", "organisation"), ("organisation", "  ")]))
        .await;
    assert_eq!(status, 422);
    assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
    assert!(page.contains("<p class=\"field-error\" id=\"err-organisation\">Please enter the name of your organisation.</p>"), "{page}");
    assert!(page.contains("value=\"Ada Lovelace\""));
    assert!(
        page.contains(&format!("value=\"{ADA}\"")),
        "the visitor's own text is kept"
    );
    assert!(page.contains("value=\"organisation\" checked"));
    assert!(page.contains("name=\"newsletter\" value=\"yes\" checked"));
    assert!(page.contains(&format!("name=\"form_token\" value=\"{}\"", w.form_token())));
    assert!(w.supporter(ADA).await.is_none(), "nothing stored");
    assert!(w.new_mails().await.is_empty(), "nothing mailed");

    // Escaped when re-shown.
    let (status, page, _) = w
        .call(w.signup(&[
            ("name", ""),
            ("organisation", "<script>x</script>"),
            ("supporter_type", "organisation"),
        ]))
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("value=\"&lt;script&gt;x&lt;/script&gt;\""));
    assert!(page.contains("Please enter your name."));

    // JSON: the errors by field.
    let (status, body, _) = w
        .call(json_post(
            "/signup",
            json!({"name": "Ada", "email": ADA, "supporter_type": "organisation",
                   "form_token": w.form_token(), "h-captcha-response": TEST_RESPONSE}),
        ))
        .await;
    assert_eq!(status, 422);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"], "invalid-form");
    assert_eq!(
        v["errors"]["organisation"],
        "Please enter the name of your organisation."
    );

    // The guard's refusals re-show the form too.
    let (status, page, _) = w
        .call(w.signup(&[("form_token", "1700000000.forged")]))
        .await;
    assert_eq!(status, 400);
    assert!(page.contains("form token"), "{page}");
    assert!(page.contains("value=\"Ada Lovelace\""));
    let (status, _, _) = w
        .call(w.signup(&[("contact_reference", "http://bot.example")]))
        .await;
    assert_eq!(status, 400);
    let (status, page, _) = w
        .call(w.signup(&[("h-captcha-response", "<absent>")]))
        .await;
    assert_eq!(status, 400);
    assert!(page.contains("id=\"err-captcha\""), "{page}");
    assert!(w.supporter(ADA).await.is_none());
    assert!(w.new_mails().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoofed_forwarded_for_does_not_change_the_rate_limit_key() {
    let mut w = world().await;
    w.deps = w.deps_with(Arc::new(TestKeyVerifier), 2);
    let client = "203.0.113.7";
    for (i, xff) in ["192.0.2.1", "192.0.2.2"].iter().enumerate() {
        let email = format!("p{i}@example.net");
        let (status, _, _) = w
            .call(w.signup_form(&[("email", &email)], client, xff))
            .await;
        assert_eq!(status, 200);
    }
    let (status, page, _) = w
        .call(w.signup_form(
            &[("email", "p3@example.net")],
            client,
            "192.0.2.99, 203.0.113.7",
        ))
        .await;
    assert_eq!(status, 429);
    assert!(page.contains("too many submissions"), "{page}");
    assert!(page.contains("value=\"p3@example.net\""));
    assert!(w.supporter("p3@example.net").await.is_none());
    // Another client is not affected, whatever it claims to forward for.
    let (status, _, _) = w
        .call(w.signup_form(&[("email", "p4@example.net")], "203.0.113.8", client))
        .await;
    assert_eq!(status, 200);
    let dump = w.table_dump().await.join("\n");
    assert!(
        !dump.contains(client),
        "only keyed hashes of IPs are stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_callers_use_every_route() {
    let w = world().await;
    let (status, body, resp) = w
        .call(json_post(
            "/signup",
            json!({"name": "Arts Trust Office", "email": "office@trust.example", "supporter_type": "organisation",
                   "organisation": "Arts Trust", "newsletter": true, "form_token": w.form_token(),
                   "contact_reference": "", "h-captcha-response": TEST_RESPONSE}),
        ))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(resp.headers()["content-type"], "application/json");
    let mail = w.one_mail().await;
    let token = confirm_token(&mail);
    let manage = manage_token(&mail);

    let get_json = |path: &str, t: &str| {
        apigw_request("apigw-signup-confirm-get.json", |e| {
            e["rawPath"] = path.into();
            e["requestContext"]["http"]["path"] = path.into();
            e["rawQueryString"] = format!("token={t}").into();
            e["headers"]["accept"] = "application/json".into();
        })
    };
    let (status, body, _) = w.call(get_json("/signup/confirm", &token)).await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "confirm");
    assert_eq!(v["action"]["method"], "POST");
    assert_eq!(v["action"]["url"], format!("{API}/signup/confirm"));
    assert_eq!(v["action"]["fields"]["token"], token.as_str());
    assert_eq!(
        w.supporter("office@trust.example").await.unwrap().status,
        Status::Pending
    );

    let (status, body, _) = w
        .call(json_post("/signup/confirm", json!({ "token": token })))
        .await;
    assert_eq!(
        (
            status,
            serde_json::from_str::<Value>(&body).unwrap()["status"].clone()
        ),
        (200, json!("confirmed"))
    );
    let (status, body, _) = w
        .call(json_post("/signup/confirm", json!({ "token": token })))
        .await;
    assert_eq!(
        (
            status,
            serde_json::from_str::<Value>(&body).unwrap()["error"].clone()
        ),
        (400, json!("invalid-link"))
    );

    let (status, body, _) = w.call(get_json("/unsubscribe", &manage)).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["action"]["url"],
        format!("{API}/unsubscribe")
    );

    // My data, by the manage link: mailed to the confirmed address as JSON.
    let (status, body, _) = w
        .call(json_post("/signup/my-data", json!({ "token": manage })))
        .await;
    assert_eq!(
        (
            status,
            serde_json::from_str::<Value>(&body).unwrap()["status"].clone()
        ),
        (202, json!("data-sent"))
    );
    let data_mail = w.one_mail().await;
    assert_eq!(data_mail.header("to"), Some("office@trust.example"));
    let text = &data_mail.text;
    let data: Value =
        serde_json::from_str(&text[text.find('{').unwrap()..=text.rfind('}').unwrap()]).unwrap();
    assert_eq!(data["organisation"], "Arts Trust");
    assert_eq!(data["supporter_type"], "organisation");
    assert_eq!(data["status"], "confirmed");
    assert_eq!(data["consent"]["newsletter_chosen"], true);
    assert_eq!(
        data["consent"]["ip_address_hash"],
        w.keys.identity.keyed_hash("ip", IP).as_str()
    );

    let (status, body, _) = w
        .call(json_post("/unsubscribe", json!({ "token": manage })))
        .await;
    assert_eq!(
        (
            status,
            serde_json::from_str::<Value>(&body).unwrap()["status"].clone()
        ),
        (200, json!("unsubscribed"))
    );
    assert!(
        !w.supporter("office@trust.example")
            .await
            .unwrap()
            .newsletter
    );
    let (status, body, _) = w
        .call(json_post("/signup/remove", json!({ "token": manage })))
        .await;
    assert_eq!(
        (
            status,
            serde_json::from_str::<Value>(&body).unwrap()["status"].clone()
        ),
        (200, json!("removed"))
    );
    assert!(w.supporter("office@trust.example").await.is_none());

    // Unknown routes and methods.
    let (status, body, _) = w.call(json_post("/nowhere", json!({}))).await;
    assert_eq!(status, 404);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"],
        "not-found"
    );
    let (status, _, resp) = w.call(get_json("/signup", "x")).await;
    assert_eq!(status, 405);
    assert_eq!(resp.headers()["allow"], "POST");
    let (status, _, _) = w
        .call(route(
            "apigw-signup-post.json",
            "POST",
            "/signup",
            None,
            Some(("text/plain", "hello")),
        ))
        .await;
    assert_eq!(status, 415);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_data_by_address_answers_the_same_for_everyone() {
    let w = world().await;
    assert_eq!(w.call(w.signup(&[])).await.0, 200);
    let t = confirm_token(&w.one_mail().await);
    assert_eq!(w.call(post_token("/signup/confirm", &t)).await.0, 200);
    assert_eq!(
        w.call(w.signup(&[("email", "pending@example.net")]))
            .await
            .0,
        200
    );
    w.new_mails().await;

    let ask = |email: &str| {
        let body = form_body(&[
            ("email", email),
            ("contact_reference", ""),
            ("h-captcha-response", TEST_RESPONSE),
        ]);
        route(
            "apigw-signup-post.json",
            "POST",
            "/signup/my-data",
            None,
            Some(("application/x-www-form-urlencoded", &body)),
        )
    };
    let (status, known, _) = w.call(ask("ADA@example.net")).await;
    assert_eq!(status, 200);
    let mail = w.one_mail().await;
    assert_eq!(mail.header("to"), Some(ADA));
    assert!(
        mail.text.contains("\"email\": \"ada@example.net\""),
        "{}",
        mail.text
    );
    for other in ["nobody@example.net", "pending@example.net"] {
        let (status, body, _) = w.call(ask(other)).await;
        assert_eq!((status, body.as_str()), (200, known.as_str()));
        assert!(w.new_mails().await.is_empty(), "{other} gets nothing");
    }
    assert!(!known.contains(ADA));
    assert_eq!(w.call(ask("not an address")).await.0, 422);
    let no_captcha = route(
        "apigw-signup-post.json",
        "POST",
        "/signup/my-data",
        None,
        Some((
            "application/x-www-form-urlencoded",
            &form_body(&[("email", ADA)]),
        )),
    );
    assert_eq!(w.call(no_captcha).await.0, 400);
    assert!(w.new_mails().await.is_empty());
}

/// A siteverify stand-in that accepts connections and never answers.
async fn silent_captcha() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/siteverify", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hcaptcha_is_asked_and_its_silence_is_a_503() {
    let mut w = world().await;
    let verifier = |url: &str| -> Arc<dyn CaptchaVerifier> {
        Arc::new(HcaptchaVerifier::new(SECRET, Some(url)).unwrap())
    };

    let no = CaptchaStub::start(false).await;
    w.deps = w.deps_with(verifier(&no.url), 100);
    let (status, page, _) = w
        .call(w.signup(&[("h-captcha-response", "wrong-answer")]))
        .await;
    assert_eq!(status, 400);
    assert!(page.contains("please complete the captcha"), "{page}");
    assert!(page.contains("value=\"Ada Lovelace\""));
    assert_eq!(no.calls.load(Ordering::SeqCst), 1);
    assert!(w.supporter(ADA).await.is_none());

    let silent = silent_captcha().await;
    w.deps = w.deps_with(verifier(&silent), 100);
    let (status, page, _) = w.call(w.signup(&[])).await;
    assert_eq!(status, 503);
    assert!(
        page.contains("the captcha service is not answering"),
        "{page}"
    );
    assert!(w.supporter(ADA).await.is_none(), "nothing stored");
    assert!(w.new_mails().await.is_empty(), "nothing mailed");

    let yes = CaptchaStub::start(true).await;
    w.deps = w.deps_with(verifier(&yes.url), 100);
    let (status, page, _) = w.call(w.signup(&[])).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(yes.calls.load(Ordering::SeqCst), 1);
    assert_eq!(w.one_mail().await.header("to"), Some(ADA));
    assert_eq!(w.supporter(ADA).await.unwrap().status, Status::Pending);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_click_on_a_confirmation_mail_cancels_and_stops_all_mail() {
    let w = world().await;
    assert_eq!(w.call(w.signup(&[])).await.0, 200);
    let mail = w.one_mail().await;
    let manage = manage_token(&mail);
    let token = confirm_token(&mail);

    // The manage page of an unconfirmed sign-up offers to cancel it; reading changes nothing.
    let (status, page, _) = w
        .call(route(
            "apigw-signup-confirm-get.json",
            "GET",
            "/unsubscribe",
            Some(&manage),
            None,
        ))
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("Cancel the sign-up"), "{page}");
    assert_eq!(w.supporter(ADA).await.unwrap().status, Status::Pending);

    // The data page only shows a button.
    let (status, page, _) = w
        .call(route(
            "apigw-signup-confirm-get.json",
            "GET",
            "/signup/my-data",
            Some(&manage),
            None,
        ))
        .await;
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!("action=\"{API}/signup/my-data\"")),
        "{page}"
    );
    assert!(w.new_mails().await.is_empty());

    // Someone signed this address up; its owner presses "unsubscribe" in the mail client.
    let (status, page, _) = w.call(one_click(&manage)).await;
    assert_eq!(status, 200);
    assert!(page.contains("Your sign-up is cancelled"), "{page}");
    assert!(w.supporter(ADA).await.is_none());
    assert_eq!(w.call(post_token("/signup/confirm", &token)).await.0, 400);
    let dump = w.table_dump().await.join("\n");
    assert!(!dump.contains(ADA), "{dump}");
    let eh = email_hash(&w.keys.identity, ADA);
    assert!(w
        .records
        .get(&format!("SUPPORTER#{eh}"), "SUPPRESSED")
        .await
        .unwrap()
        .is_some());

    // Further sign-ups for the address: the usual answer, and no mail.
    let (status, _, _) = w.call(w.signup(&[("email", "ADA@example.net")])).await;
    assert_eq!(status, 200);
    assert!(w.new_mails().await.is_empty());
}

/// The supporter-type radio group cleared (no value sent): refused with the message beside
/// the group, the visitor's text kept, nothing stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_up_without_a_supporter_type_is_refused_beside_the_group() {
    let w = world().await;
    let (status, page, _) = w.call(w.signup(&[("supporter_type", "<absent>")])).await;
    assert_eq!(status, 422);
    assert!(
        page.contains("id=\"err-supporter_type\">Please choose whether you sign up as an individual or for an organisation.</p>"),
        "{page}"
    );
    assert!(page.contains("value=\"Ada Lovelace\""));
    assert!(w.supporter(ADA).await.is_none(), "nothing stored");
    assert!(w.new_mails().await.is_empty(), "nothing mailed");
}

/// A 303 to the sign-up outcome page (`{api}/signup/done?m=…`), as the GET a browser makes.
fn done_location(resp: &Response<Body>) -> Option<Request> {
    if resp.status() != 303 {
        return None;
    }
    let location = resp.headers().get("location")?.to_str().ok()?;
    let query = location
        .strip_prefix(&format!("{API}/signup/done?"))?
        .to_string();
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    Some(apigw_request("apigw-signup-done-get.json", |e| {
        e["rawQueryString"] = query.clone().into();
        e["queryStringParameters"] = params
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }))
}

/// Every form that changes something answers a browser with 303 to a page it can reload
/// (reloading shows the page again, it does not send the form again); a script gets its
/// answer at once; a mail client's one-click unsubscribe gets the page at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_that_change_something_redirect_to_a_page_that_can_be_reloaded() {
    let w = world().await;
    let resp = w.call_once(w.signup(&[])).await;
    assert_eq!(resp.status(), 303, "{}", body_text(&resp));
    assert_eq!(
        resp.headers()["location"],
        format!("{API}/signup/done?m=check-your-email")
    );
    // The page it leads to, loaded twice: the same page, nothing sent again.
    let mails = w.new_mails().await.len();
    for _ in 0..2 {
        let page = handle(&w.deps, done_location(&resp).unwrap()).await;
        assert_eq!(page.status(), 200);
        assert!(body_text(&page).contains("Check your email"));
    }
    assert_eq!(mails, 1, "one confirmation mail");
    assert!(w.new_mails().await.is_empty(), "reloading sent nothing");
    assert!(w.supporter(ADA).await.is_some());

    // An unknown outcome is not a page.
    let unknown = handle(
        &w.deps,
        apigw_request("apigw-signup-done-get.json", |e| {
            e["rawQueryString"] = "m=nope".into();
            e["queryStringParameters"] = json!({"m": "nope"});
        }),
    )
    .await;
    assert_eq!(unknown.status(), 404);
}

/// What an address is, for the comparisons below.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Known {
    Unknown,
    Pending,
    Confirmed,
    Erased,
}

/// A request's answer and the work it did: its status, headers and body bytes, the records
/// operations (kinds and key shapes, see [`Recording`]) and the attempts to send a mail.
#[derive(Debug, PartialEq)]
struct Seen {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    ops: Vec<String>,
    sends: usize,
}

impl World {
    /// Bring `email` into `state` through the function's routes (the sender run as the
    /// stream would run it); the manage token its mails carry, if it got one.
    async fn make(&self, email: &str, state: Known) -> Option<String> {
        if state == Known::Unknown {
            return None;
        }
        assert_eq!(self.call(self.signup(&[("email", email)])).await.0, 200);
        let mail = self.one_mail().await;
        let manage = manage_token(&mail);
        if state != Known::Pending {
            let confirm = post_token("/signup/confirm", &confirm_token(&mail));
            assert_eq!(self.call(confirm).await.0, 200);
        }
        if state == Known::Erased {
            assert_eq!(
                self.call(post_token("/signup/remove", &manage)).await.0,
                200
            );
        }
        Some(manage)
    }

    /// One request through the function as the browser (or script) sends it, no redirect
    /// followed, with SES failing or not: what it answered and what it did.
    async fn seen(&self, req: Request, ses_failing: bool) -> Seen {
        self.ses.failing.store(ses_failing, Ordering::SeqCst);
        self.recording.take();
        let sends = self.ses.attempts.load(Ordering::SeqCst);
        let resp = self.call_once(req).await;
        let ops = self.recording.take();
        let sends = self.ses.attempts.load(Ordering::SeqCst) - sends;
        self.ses.failing.store(false, Ordering::SeqCst);
        let mut headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        headers.sort();
        let body = match resp.body() {
            Body::Text(t) => t.as_bytes().to_vec(),
            Body::Binary(b) => b.clone(),
            _ => Vec::new(),
        };
        Seen {
            status: resp.status().as_u16(),
            headers,
            body,
            ops,
            sends,
        }
    }
}

/// Every case answered and did exactly what the first did; the request path wrote `writes`
/// (key shapes) and sent nothing.
fn assert_alike(cases: &[(String, Seen)], ops: &[&str]) {
    let (first_what, first) = &cases[0];
    for (what, seen) in cases {
        assert_eq!(
            (seen.status, &seen.headers),
            (first.status, &first.headers),
            "{what} vs {first_what}: status and headers"
        );
        assert!(
            seen.body == first.body,
            "{what} vs {first_what}: body bytes\n{}\n---\n{}",
            String::from_utf8_lossy(&seen.body),
            String::from_utf8_lossy(&first.body)
        );
        assert_eq!(
            seen.ops, first.ops,
            "{what} vs {first_what}: records operations"
        );
        assert_eq!(seen.sends, 0, "{what}: a mail was sent on the request path");
    }
    let shapes: Vec<String> = first
        .ops
        .iter()
        .map(|o| o.split(" [").next().unwrap().to_string())
        .collect();
    assert_eq!(shapes, ops, "the request path's work: {:?}", first.ops);
}

/// Issue 11, 1.2 (supporter enumeration by timing): `POST /signup/my-data` (by address and
/// by link) and `POST /signup` answer an unknown, a pending, a confirmed and an erased
/// address, and a confirmed one while SES fails, with the same status and bytes, after the
/// same records operations (counted through a recording store around the real DynamoDB
/// adapter: the rate limit, then one put of the same shape) and no mail. The mails come
/// afterwards, from the supporter-mail function run on the table's stream: to whom there is
/// something to send, and to nobody else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forms_answer_alike_and_do_the_same_work_whatever_the_address() {
    let w = world().await;
    let states = [
        Known::Unknown,
        Known::Pending,
        Known::Confirmed,
        Known::Erased,
    ];
    let mut people = Vec::new();
    for (i, state) in states.into_iter().enumerate() {
        let email = format!("{state:?}{i}@example.net").to_lowercase();
        let manage = w.make(&email, state).await;
        people.push((state, email, manage));
    }
    let confirmed = people[2].1.clone();
    let ask = |email: &str| {
        let body = form_body(&[
            ("email", email),
            ("contact_reference", ""),
            ("h-captcha-response", TEST_RESPONSE),
        ]);
        route(
            "apigw-signup-post.json",
            "POST",
            "/signup/my-data",
            None,
            Some(("application/x-www-form-urlencoded", &body)),
        )
    };

    // My data, by address. (A first request warms the page cache.)
    w.call_once(ask("warm@example.net")).await;
    w.new_mails().await;
    let mut cases = Vec::new();
    for (state, email, _) in &people {
        cases.push((format!("{state:?}"), w.seen(ask(email), false).await));
    }
    cases.push((
        "confirmed, SES failing".into(),
        w.seen(ask(&confirmed), true).await,
    ));
    assert_eq!(cases[0].1.status, 303);
    assert_alike(
        &cases,
        &[
            "increment RATE#my-data#<h> W#<n>",
            "put MAILREQ#<h> MY-DATA",
        ],
    );
    assert!(
        w.sent_mails().await.is_empty(),
        "nothing is mailed before the sender runs"
    );
    let mails = w.new_mails().await;
    assert_eq!(mails.len(), 1, "the confirmed supporter's copy, once");
    assert_eq!(mails[0].header("to"), Some(confirmed.as_str()));
    assert!(mails[0].header("subject").unwrap().contains("Your details"));

    // My data, by the link in a mail (JSON): pending, confirmed, erased.
    let mut cases = Vec::new();
    for (state, _, manage) in &people[1..] {
        let req = json_post(
            "/signup/my-data",
            json!({ "token": manage.as_deref().unwrap() }),
        );
        cases.push((format!("{state:?}"), w.seen(req, false).await));
    }
    let req = json_post(
        "/signup/my-data",
        json!({ "token": people[2].2.as_deref().unwrap() }),
    );
    cases.push(("confirmed, SES failing".into(), w.seen(req, true).await));
    assert_eq!(cases[0].1.status, 202);
    assert_alike(&cases, &["put MAILREQ#<h> MY-DATA"]);
    let mails = w.new_mails().await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].header("to"), Some(confirmed.as_str()));

    // Sign-up, with addresses in each state (new ones: each address gets three mails a day).
    let mut people = Vec::new();
    for (i, state) in states.into_iter().enumerate() {
        let email = format!("{state:?}-signup{i}@example.net").to_lowercase();
        w.make(&email, state).await;
        people.push((state, email));
    }
    let mut cases = Vec::new();
    for (state, email) in &people {
        let req = w.signup(&[("email", email)]);
        cases.push((format!("{state:?}"), w.seen(req, false).await));
    }
    let req = w.signup(&[("email", &people[2].1)]);
    cases.push(("confirmed, SES failing".into(), w.seen(req, true).await));
    assert_eq!(cases[0].1.status, 303);
    assert_alike(
        &cases,
        &["increment RATE#signup#<h> W#<n>", "put MAILREQ#<h> SIGNUP"],
    );
    assert!(w.sent_mails().await.is_empty());
    let mut mails: Vec<(String, String)> = w
        .new_mails()
        .await
        .iter()
        .map(|m| {
            (
                m.header("to").unwrap().to_string(),
                m.header("subject").unwrap().to_string(),
            )
        })
        .collect();
    mails.sort();
    let title_free: Vec<(String, String)> = mails
        .iter()
        .map(|(to, s)| (to.clone(), s.split(" to ").next().unwrap().to_string()))
        .collect();
    assert_eq!(
        title_free,
        [
            (people[2].1.clone(), "You are already signed up".to_string()),
            (
                people[1].1.clone(),
                "Please confirm your sign-up".to_string()
            ),
            (
                people[0].1.clone(),
                "Please confirm your sign-up".to_string()
            ),
        ],
        "the erased address gets nothing; {mails:?}"
    );
}

/// SES refusing a mail fails the sender's invocation, so the stream retries the batch; the
/// retry sends the same mail (the same link) once SES is back, the day's allowance is taken
/// once, and the batch delivered again after that sends nothing twice. The link works once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_ses_refuses_is_retried_and_sent_once() {
    let w = world().await;
    assert_eq!(w.call(w.signup(&[])).await.0, 200);
    let batch = w
        .stream_batch()
        .await
        .expect("the request reached the stream");
    assert_eq!(batch["Records"].as_array().unwrap().len(), 1);

    w.ses.failing.store(true, Ordering::SeqCst);
    for _ in 0..2 {
        let err = supporter_mail::handler::on_invocation(&w.sender, batch.clone())
            .await
            .expect_err("a mail SES refused fails the batch");
        assert_eq!(err.error_type(), "SendError::Mail");
        assert!(!err.to_string().contains(ADA), "{err}");
    }
    w.ses.failing.store(false, Ordering::SeqCst);
    assert_eq!(w.ses.attempts.load(Ordering::SeqCst), 2);
    assert!(w.sent_mails().await.is_empty());
    let eh = email_hash(&w.keys.identity, ADA);
    let request = w
        .records
        .get(&format!("MAILREQ#{eh}"), "SIGNUP")
        .await
        .unwrap()
        .expect("kept for the retry");
    assert_eq!(
        (&request["status"], &request["decided"]),
        (&json!("decided"), &json!("confirm"))
    );
    let day = w.clock.now().unix_timestamp() / 86_400 * 86_400;
    let allowance = w
        .records
        .get(&format!("MAILS#{eh}"), &format!("D#{day}"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(allowance["count"], 1, "the day's allowance is taken once");
    let pending = w.supporter(ADA).await.expect("stored pending");

    // SES is back: the retry sends the mail, once, with the link stored on the first try.
    let v = supporter_mail::handler::on_invocation(&w.sender, batch.clone())
        .await
        .unwrap();
    assert_eq!(v, json!({"requests": 1, "sent": 1}));
    let mut mails = w.sent_mails().await;
    assert_eq!(mails.len(), 1);
    let mail = mails.remove(0);
    let token = confirm_token(&mail);
    assert_eq!(pending.token_hash, Some(token_hash(&token)));
    assert!(w
        .records
        .get(&format!("MAILREQ#{eh}"), "SIGNUP")
        .await
        .unwrap()
        .is_none());

    // The stream delivers at least once: the same batch again sends nothing.
    let v = supporter_mail::handler::on_invocation(&w.sender, batch.clone())
        .await
        .unwrap();
    assert_eq!(v, json!({"requests": 1, "sent": 0}));
    assert!(w.sent_mails().await.is_empty());
    // The sender's own writes are not for it (its trigger passes none of them).
    assert!(w.stream_batch().await.is_none());

    // The link works once; the batch delivered after that still sends nothing.
    assert_eq!(w.call(post_token("/signup/confirm", &token)).await.0, 200);
    assert_eq!(w.call(post_token("/signup/confirm", &token)).await.0, 400);
    let v = supporter_mail::handler::on_invocation(&w.sender, batch)
        .await
        .unwrap();
    assert_eq!(v, json!({"requests": 1, "sent": 0}));
    assert!(w.sent_mails().await.is_empty());
    assert_eq!(w.supporter(ADA).await.unwrap().status, Status::Confirmed);
}
