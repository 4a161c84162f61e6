//! Comments end to end through the real entry points: the submission handler with API
//! Gateway v2 events, the spam verifier and the renderer with DynamoDB stream events, the
//! moderation links; against DynamoDB, S3 and SES in moto and a stand-in for hCaptcha.
//!
//! Long on purpose: every scenario here shares one world (moto, buckets, table, a built
//! site) and its helpers; each test is one story a reader can follow top to bottom.

use std::sync::Arc;

use integration_tests::{
    apigw_request, body_text, create_table, event, form_body, sample_content, set_body, upload_dir,
    CaptchaStub, Moto,
};
use serde_json::Value;
use shared::adapters::aws::{
    changes_from_stream, dynamodb_client, s3_client, ses_client, DynamoItemStore, S3BlobStore,
};
use shared::adapters::captcha::HcaptchaVerifier;
use shared::adapters::mail::SesMailer;
use shared::comments::CommentStatus;
use shared::mail::ReadMail;
use shared::ports::{BlobStore, Clock, FixedClock, ItemStore};
use shared::signing::Keys;
use shared::site::build::{Builder, Pages};
use shared::wiring::{Assembled, Parts};

const CONTENT: &str = "campaign-content";
const SITE: &str = "campaign-site";
const TABLE: &str = "campaign-records";
const POST: &str = "the-big-link-up";
const SECRET: &str = "0x1111111111111111111111111111111111111111";
const FROM: &str = "site@example.org";
const MODERATOR: &str = "moderator@example.org";

struct World {
    moto: Moto,
    records: Arc<dyn ItemStore>,
    keys: Keys,
    clock: Arc<FixedClock>,
    pages: Pages,
    /// What every function here is built from (as `main.rs` builds it on AWS).
    parts: Assembled,
    builder: Builder,
    site: Arc<dyn BlobStore>,
}

async fn world() -> World {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let s3 = s3_client(&sdk);
    for b in [CONTENT, SITE] {
        integration_tests::create_bucket(&s3, b).await;
    }
    upload_dir(&s3, CONTENT, &sample_content()).await;
    create_table(&dynamodb_client(&sdk), TABLE).await;
    ses_client(&sdk)
        .create_email_identity()
        .email_identity(FROM)
        .send()
        .await
        .unwrap();
    let records: Arc<dyn ItemStore> = Arc::new(DynamoItemStore::new(dynamodb_client(&sdk), TABLE));
    let content: Arc<dyn BlobStore> = Arc::new(S3BlobStore::new(s3.clone(), CONTENT, ""));
    let state: Arc<dyn BlobStore> = Arc::new(S3BlobStore::new(s3.clone(), CONTENT, "_state/"));
    let site: Arc<dyn BlobStore> = Arc::new(S3BlobStore::new(s3.clone(), SITE, ""));
    let keys = Keys::from_master(&[42u8; 32]).unwrap();
    let clock = Arc::new(FixedClock::at(
        time::macros::datetime!(2026-11-20 10:00 UTC),
    ));
    let parts = Assembled {
        records: records.clone(),
        content,
        state,
        site: site.clone(),
        mailer: Arc::new(SesMailer::new(ses_client(&sdk))),
        captcha: Arc::new(HcaptchaVerifier::new(SECRET, None).unwrap()),
        clock: clock.clone(),
        keys: keys.clone(),
        rate_limit: 100,
        mail_from: FROM.into(),
        moderator: MODERATOR.into(),
        origin: None,
        source_access: shared::linkbacks::SourceAccess::public(),
    };
    let builder = parts.builder().unwrap();
    builder.full_build().await.unwrap();
    World {
        moto,
        pages: parts.pages().unwrap(),
        parts,
        records,
        keys,
        clock,
        builder,
        site,
    }
}

impl World {
    fn submit_deps(&self, captcha_url: &str, rate_limit: u32) -> comment_submit::handler::Deps {
        comment_submit::handler::Deps::build(&Assembled {
            captcha: Arc::new(HcaptchaVerifier::new(SECRET, Some(captcha_url)).unwrap()),
            rate_limit,
            ..self.parts.clone()
        })
        .unwrap()
    }

    fn spam_deps(&self) -> spam_verify::handler::Deps {
        spam_verify::handler::Deps::build(&self.parts).unwrap()
    }

    fn moderate_deps(&self) -> moderate::handler::Deps {
        moderate::handler::Deps::build(&self.parts).unwrap()
    }

    /// The token of the post page, rendered a minute ago.
    fn token(&self) -> String {
        self.keys.forms.form_token(
            &format!("comment:{POST}"),
            self.clock.now() - time::Duration::minutes(1),
        )
    }

    async fn comments(&self) -> Vec<shared::ports::Item> {
        self.records
            .query(&format!("POST#{POST}"), "COMMENT#")
            .await
            .unwrap()
    }

    /// Mails SES (in moto) has sent.
    /// The site owner uploads `blocklist.txt` to the content bucket.
    async fn set_blocklist(&self, text: &str) {
        self.pages
            .content
            .put(
                shared::site::layout::content::BLOCKLIST,
                text.as_bytes().to_vec(),
                &shared::site::layout::object_meta(shared::site::layout::content::BLOCKLIST),
            )
            .await
            .unwrap();
    }

    /// The site owner moves the spam filter's thresholds (`[spam]` in site.toml).
    async fn set_spam_thresholds(&self, spam_at: f64, approve_below: f64) {
        let key = shared::site::layout::content::CONFIG;
        let mut config =
            String::from_utf8(self.pages.content.get(key).await.unwrap().unwrap()).unwrap();
        config.push_str(&format!(
            "\n[spam]\nspam_at = {spam_at}\napprove_below = {approve_below}\n"
        ));
        self.pages
            .content
            .put(
                key,
                config.into_bytes(),
                &shared::site::layout::object_meta(key),
            )
            .await
            .unwrap();
    }

    /// The one comment stored since `before`, scored as the stream would deliver it.
    async fn score_the_new_comment(
        &self,
        spam: &spam_verify::handler::Deps,
        before: &[shared::ports::Item],
    ) -> (String, CommentStatus) {
        let new: Vec<_> = self
            .comments()
            .await
            .into_iter()
            .filter(|i| !before.contains(i))
            .collect();
        assert_eq!(new.len(), 1);
        let change = shared::ports::ItemChange {
            old: None,
            new: Some(new[0].clone()),
        };
        let verdicts = spam_verify::handler::on_changes(spam, &[change])
            .await
            .unwrap();
        verdicts[0].clone()
    }

    async fn sent_mail(&self) -> Vec<ReadMail> {
        let raws = self.moto.sent_mails().await;
        raws.iter().map(|r| ReadMail::parse(r.as_bytes())).collect()
    }
}

fn form_event(
    token: &str,
    fields: &[(&str, &str)],
    source_ip: &str,
    xff: &str,
) -> lambda_http::Request {
    // The first value of a repeated field counts, so the test's own fields go first.
    let mut all: Vec<(&str, &str)> = fields.to_vec();
    all.extend_from_slice(&[
        ("form_token", token),
        ("contact_reference", ""),
        ("h-captcha-response", "any-answer"),
    ]);
    let body = form_body(&all);
    apigw_request("apigw-comment-form.json", |e| {
        set_body(e, &body);
        e["requestContext"]["http"]["sourceIp"] = source_ip.into();
        e["headers"]["x-forwarded-for"] = xff.into();
    })
}

const GOOD: &[(&str, &str)] = &[
    ("name", "Lindsay Ibbotson"),
    ("email", "lindsay@example.net"),
    (
        "body",
        "Creative learning beats pigeon-holed facts, over and over again.",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submission_checks_store_once_and_refuse_clearly() {
    let w = world().await;
    let ok = CaptchaStub::start(true).await;
    let deps = w.submit_deps(&ok.url, 0);

    // A form post: 303 back to the post's "awaiting moderation" notice, stored pending once.
    let resp =
        comment_submit::handler::handle(&deps, form_event(&w.token(), GOOD, "198.51.100.23", ""))
            .await;
    assert_eq!(resp.status(), 303, "{}", body_text(&resp));
    assert_eq!(
        resp.headers()["location"],
        format!("http://127.0.0.1:8080/posts/{POST}/#awaiting-moderation")
    );
    let resp =
        comment_submit::handler::handle(&deps, form_event(&w.token(), GOOD, "198.51.100.23", ""))
            .await;
    assert_eq!(
        resp.status(),
        303,
        "a double submission gets the same answer"
    );
    let stored = w.comments().await;
    assert_eq!(stored.len(), 1, "stored once");
    assert_eq!(stored[0]["status"], "pending");
    let raw = serde_json::to_string(&stored[0]).unwrap();
    assert!(
        !raw.contains("lindsay@example.net") && !raw.contains("198.51.100.23"),
        "no e-mail or IP in the clear: {raw}"
    );

    // JSON: 202 with the id.
    let token = w.token();
    let req = apigw_request("apigw-comment-json.json", |e| {
        let body = serde_json::json!({"name": "Sam", "email": "sam@example.net", "body": "Agreed.", "form_token": token, "h-captcha-response": "x"}).to_string();
        set_body(e, &body);
    });
    let resp = comment_submit::handler::handle(&deps, req).await;
    assert_eq!(resp.status(), 202, "{}", body_text(&resp));
    let v: Value = serde_json::from_str(&body_text(&resp)).unwrap();
    assert_eq!(v["status"], "pending");
    assert!(v["id"].as_str().is_some_and(|id| id.len() == 20));

    // Bad fields: 422, each error beside its field, the visitor's text kept (escaped).
    let long = "y".repeat(5001);
    let resp = comment_submit::handler::handle(
        &deps,
        form_event(
            &w.token(),
            &[
                ("name", "Ann <b>"),
                ("email", "not-an-address"),
                ("body", &long),
            ],
            "198.51.100.23",
            "",
        ),
    )
    .await;
    assert_eq!(resp.status(), 422);
    let page = body_text(&resp);
    assert!(
        page.contains("That does not look like an e-mail address."),
        "error beside the field"
    );
    assert!(
        page.contains("the limit is 5000"),
        "over-long is refused, not truncated"
    );
    assert!(
        page.contains("Ann &lt;b&gt;"),
        "typed name kept and escaped"
    );
    assert!(page.contains(&long), "typed body kept in full");
    assert!(page.contains("not-an-address"));
    // JSON errors.
    let token = w.token();
    let req = apigw_request("apigw-comment-json.json", |e| {
        set_body(
            e,
            &serde_json::json!({"name": "", "email": "a@b.co", "body": "x", "form_token": token})
                .to_string(),
        )
    });
    let resp = comment_submit::handler::handle(&deps, req).await;
    assert_eq!(resp.status(), 422);
    assert!(
        serde_json::from_str::<Value>(&body_text(&resp)).unwrap()["errors"]["name"].is_string()
    );

    // Honeypot, forged and expired tokens: 400 with the reason; a form for another post too.
    let resp = comment_submit::handler::handle(
        &deps,
        form_event(
            &w.token(),
            &[
                GOOD[0],
                GOOD[1],
                GOOD[2],
                ("contact_reference", "http://spam"),
            ],
            "198.51.100.23",
            "",
        ),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let resp = comment_submit::handler::handle(
        &deps,
        form_event(
            &format!(
                "{}.AAAAAAAAAAAAAAAAAAAAAAAA",
                w.token().split('.').next().unwrap()
            ),
            GOOD,
            "198.51.100.23",
            "",
        ),
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert!(body_text(&resp).contains("not valid for this form"));
    let other_post = w.keys.forms.form_token(
        "comment:welcome-to-the-alliance",
        w.clock.now() - time::Duration::minutes(1),
    );
    assert_eq!(
        comment_submit::handler::handle(&deps, form_event(&other_post, GOOD, "198.51.100.23", ""))
            .await
            .status(),
        400
    );
    let old = w.keys.forms.form_token(
        &format!("comment:{POST}"),
        w.clock.now() - time::Duration::days(9),
    );
    let resp =
        comment_submit::handler::handle(&deps, form_event(&old, GOOD, "198.51.100.23", "")).await;
    assert_eq!(resp.status(), 400);
    assert!(body_text(&resp).contains("expired"));
    // Sent as the page was rendered: faster than anyone writes. The form comes back with the
    // text kept and the same token (it still says when the page was made, so sending again
    // a little later is not refused).
    let stored = w.comments().await.len();
    let just_rendered = w
        .keys
        .forms
        .form_token(&format!("comment:{POST}"), w.clock.now());
    let resp = comment_submit::handler::handle(
        &deps,
        form_event(&just_rendered, GOOD, "198.51.100.23", ""),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let page = body_text(&resp);
    assert!(page.contains("faster than anyone writes"), "{page}");
    assert!(page.contains(&format!("name=\"form_token\" value=\"{just_rendered}\"")));
    assert!(page.contains("Lindsay"), "the visitor's text is kept");
    assert_eq!(w.comments().await.len(), stored, "nothing stored");
    // A post that does not exist.
    let ghost_token = w.keys.forms.form_token(
        "comment:no-such-post",
        w.clock.now() - time::Duration::minutes(1),
    );
    let ghost_body = form_body(&[
        GOOD[0],
        GOOD[1],
        GOOD[2],
        ("form_token", &ghost_token),
        ("h-captcha-response", "x"),
    ]);
    let req = apigw_request("apigw-comment-form.json", |e| {
        set_body(e, &ghost_body);
        e["pathParameters"]["slug"] = "no-such-post".into();
        e["rawPath"] = "/posts/no-such-post/comments".into();
    });
    assert_eq!(
        comment_submit::handler::handle(&deps, req).await.status(),
        404
    );
    assert_eq!(w.comments().await.len(), 2, "nothing refused was stored");

    // hCaptcha says no: 400, form re-shown with the text kept.
    let no = CaptchaStub::start(false).await;
    let deps_no = w.submit_deps(&no.url, 0);
    let resp = comment_submit::handler::handle(
        &deps_no,
        form_event(
            &w.token(),
            &[GOOD[0], GOOD[1], ("body", "A new thought.")],
            "198.51.100.23",
            "",
        ),
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert!(body_text(&resp).contains("A new thought."));
    assert_eq!(no.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    // hCaptcha down: 503 with a clear message, nothing stored.
    let closed = format!(
        "http://127.0.0.1:{}/siteverify",
        integration_tests::free_port()
    );
    let deps_down = w.submit_deps(&closed, 0);
    let resp = comment_submit::handler::handle(
        &deps_down,
        form_event(
            &w.token(),
            &[GOOD[0], GOOD[1], ("body", "While hCaptcha is down.")],
            "198.51.100.23",
            "",
        ),
    )
    .await;
    assert_eq!(resp.status(), 503);
    assert!(
        body_text(&resp).contains("captcha service is not answering"),
        "{}",
        body_text(&resp)
    );
    assert_eq!(
        w.comments().await.len(),
        2,
        "nothing stored while hCaptcha is down"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_keys_on_the_request_context_ip_not_forwarded_headers() {
    let w = world().await;
    let ok = CaptchaStub::start(true).await;
    let deps = w.submit_deps(&ok.url, 2);
    for (i, xff) in ["203.0.113.1", "203.0.113.2"].iter().enumerate() {
        let body = format!("Comment number {i} about arts in schools.");
        let resp = comment_submit::handler::handle(
            &deps,
            form_event(
                &w.token(),
                &[GOOD[0], GOOD[1], ("body", &body)],
                "198.51.100.7",
                xff,
            ),
        )
        .await;
        assert_eq!(resp.status(), 303);
    }
    // A third from the same address, whatever X-Forwarded-For claims, is refused.
    let resp = comment_submit::handler::handle(
        &deps,
        form_event(
            &w.token(),
            &[GOOD[0], GOOD[1], ("body", "Third.")],
            "198.51.100.7",
            "192.0.2.99",
        ),
    )
    .await;
    assert_eq!(resp.status(), 429);
    assert!(
        body_text(&resp).contains("Third."),
        "text kept on the re-shown form"
    );
    // Another client is not affected.
    let resp = comment_submit::handler::handle(
        &deps,
        form_event(
            &w.token(),
            &[GOOD[0], GOOD[1], ("body", "From elsewhere.")],
            "198.51.100.8",
            "198.51.100.7",
        ),
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(
        ok.calls.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "the refused one never reached hCaptcha"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_moderation_and_publication_through_events() {
    let w = world().await;
    // This site lets the filter approve ordinary comments on its own (by default it
    // holds what it is unsure of until the moderator has taught it the site's comments),
    // and keeps "spam" for the very sure, so the hostile comment below waits for the
    // moderator.
    w.set_spam_thresholds(0.99, 0.6).await;
    let ok = CaptchaStub::start(true).await;
    let deps = w.submit_deps(&ok.url, 0);
    let spam = w.spam_deps();

    // The stream event for a new pending comment (the sample), with that comment stored.
    let sample = event("dynamodb-comment-pending.json");
    let changes = changes_from_stream(&serde_json::from_value(sample.clone()).unwrap()).unwrap();
    w.records
        .put(
            changes[0].new.clone().unwrap(),
            shared::ports::Condition::Always,
        )
        .await
        .unwrap();
    // The function's entry point, with the event exactly as the stream sends it.
    let answer = spam_verify::handler::on_invocation(&spam, sample)
        .await
        .unwrap();
    assert_eq!(answer, serde_json::json!({ "verified": 1 }));
    assert_eq!(
        shared::comments::get(w.records.as_ref(), POST, "5d41402abc4b2a76b971")
            .await
            .unwrap()
            .unwrap()
            .status,
        CommentStatus::Approved
    );

    // The approval, as the stream delivers it, re-renders that post's page.
    let report = render::handler::handle(&w.builder, event("dynamodb-comment-approved.json"))
        .await
        .unwrap();
    assert!(
        report.written.contains(&format!("posts/{POST}/index.html")),
        "{:?}",
        report.written
    );
    let page = String::from_utf8(
        w.site
            .get(&format!("posts/{POST}/index.html"))
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert!(page.contains("Lindsay Ibbotson") && page.contains("<em>pigeon-holed</em>"));
    assert!(page.contains("1 comment"));
    let feed = String::from_utf8(
        w.site
            .get(&format!("posts/{POST}/comments.xml"))
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert!(feed.contains("Comment by Lindsay Ibbotson"));

    // A hostile comment in every field, with links enough to be held for a moderator.
    let hostile = [
        ("name", "<script>alert('n')</script>"),
        ("email", "x@example.net"),
        ("website", "https://evil.example/\"><script>alert(1)</script>"),
        ("body", "Read [this](javascript:alert(1)) and <img src=x onerror=alert(2)> and https://a.example/1 https://b.example/2 ![i](data:text/html,x)"),
    ];
    let resp = comment_submit::handler::handle(
        &deps,
        form_event(&w.token(), &hostile, "198.51.100.9", ""),
    )
    .await;
    assert_eq!(resp.status(), 303, "{}", body_text(&resp));
    let pending: Vec<_> = w
        .comments()
        .await
        .into_iter()
        .filter(|i| i["status"] == "pending")
        .collect();
    assert_eq!(pending.len(), 1);
    // Stored sanitised, in the form a read takes as it is (the form's write path).
    let stored_html = pending[0]["body_html"].as_str().unwrap();
    assert!(
        shared::markdown::SafeHtml::is_sanitised(stored_html)
            && !stored_html.contains("<img")
            && !stored_html.contains("javascript:"),
        "{stored_html}"
    );
    let change = shared::ports::ItemChange {
        old: None,
        new: Some(pending[0].clone()),
    };
    let verdicts = spam_verify::handler::on_changes(&spam, &[change])
        .await
        .unwrap();
    assert_eq!(verdicts[0].1, CommentStatus::Held);
    let id = verdicts[0].0.clone();
    let stored = shared::comments::get(w.records.as_ref(), POST, &id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored.spam_rules.iter().any(|r| r.rule == "links"),
        "the rules are stored with the verdict: {:?}",
        stored.spam_rules
    );

    // The moderator's mail, through SES, with signed links.
    let mails = w.sent_mail().await;
    let mail = mails
        .iter()
        .find(|m| m.header("To") == Some(MODERATOR))
        .expect("a mail to the moderator");
    let approve = mail
        .links()
        .into_iter()
        .find(|l| l.contains("/moderate?token=") && mail.text.contains(&format!("Approve: {l}")))
        .expect("an approve link");
    let token = approve.split("token=").nth(1).unwrap().to_string();
    let mdeps = w.moderate_deps();

    // GET only shows a confirmation page.
    let resp = moderate::handler::handle(
        &mdeps,
        apigw_request("apigw-moderate-get.json", |e| {
            e["queryStringParameters"]["token"] = token.clone().into();
            e["rawQueryString"] = format!("token={token}").into();
        }),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(
        body_text(&resp).contains("method=\"post\""),
        "a button, not an action"
    );
    assert!(
        !body_text(&resp).contains("<script>alert"),
        "the comment is shown inert"
    );
    assert_eq!(
        shared::comments::get(w.records.as_ref(), POST, &id)
            .await
            .unwrap()
            .unwrap()
            .status,
        CommentStatus::Held
    );
    // A tampered token is refused.
    let post = |t: String| {
        apigw_request("apigw-moderate-post.json", move |e| {
            set_body(e, &form_body(&[("token", &t)]))
        })
    };
    let last = if token.ends_with('x') { "y" } else { "x" };
    let tampered = format!("{}{last}", &token[..token.len() - 1]);
    let resp = moderate::handler::handle(&mdeps, post(tampered)).await;
    assert_eq!(resp.status(), 400);
    // POST approves; the stream then publishes it.
    let resp = moderate::handler::handle(&mdeps, post(token.clone())).await;
    assert_eq!(resp.status(), 303, "{}", body_text(&resp));
    // ... and sends the browser on to a page it can reload without acting again.
    assert_eq!(
        resp.headers()["location"],
        "http://127.0.0.1:8080/moderate?done=approve"
    );
    let done = moderate::handler::handle(
        &mdeps,
        apigw_request("apigw-moderate-get.json", |e| {
            e["rawQueryString"] = "done=approve".into();
            e["queryStringParameters"] = serde_json::json!({"done": "approve"});
        }),
    )
    .await;
    assert_eq!(done.status(), 200);
    assert!(body_text(&done).contains("Approve: done"));
    let approved = shared::comments::get(w.records.as_ref(), POST, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(approved.status, CommentStatus::Approved);
    // Replayed: refused.
    assert_eq!(
        moderate::handler::handle(&mdeps, post(token.clone()))
            .await
            .status(),
        410
    );
    // Expired: refused.
    let spam_link = mail
        .links()
        .into_iter()
        .find(|l| mail.text.contains(&format!("Mark as spam: {l}")))
        .unwrap();
    let spam_token = spam_link.split("token=").nth(1).unwrap().to_string();
    w.clock.advance(time::Duration::days(8));
    let resp = moderate::handler::handle(&mdeps, post(spam_token)).await;
    assert_eq!(resp.status(), 410);
    assert!(body_text(&resp).contains("expired"));

    // Published: every hostile field is inert in the page.
    render::handler::comments_changed(&w.builder, &[POST.to_string()], None)
        .await
        .unwrap();
    let page = String::from_utf8(
        w.site
            .get(&format!("posts/{POST}/index.html"))
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert!(
        page.contains("&lt;script&gt;alert(&#39;n&#39;)&lt;&#x2f;script&gt;")
            || page.contains("&lt;script&gt;alert(&#39;n&#39;)&lt;/script&gt;"),
        "name escaped"
    );
    assert!(!page.contains("<script>alert"), "no script from any field");
    assert!(!page.contains("javascript:"), "no javascript: link");
    assert!(!page.contains("data:text/html"), "no data: link");
    assert!(
        !page.contains("onerror=alert(2)>") && !page.contains("<img src=x"),
        "no image tag, no event handler attribute"
    );
    assert!(
        page.contains("&lt;img src=x onerror=alert(2)&gt;"),
        "raw HTML shown as text"
    );
    assert!(
        !page.contains("href=\"https://evil.example/\""),
        "an unsafe website is not linked"
    );
    assert!(
        page.contains("rel=\"nofollow ugc noopener\""),
        "links in comments are nofollow ugc"
    );
    assert!(page.contains("2 comments"));
}

/// The verifier's rules through its stream handler: the site owner's blocklist (a file in the
/// content bucket), a duplicate of a recent comment, a trusted returning author; and a
/// moderator deleting an approved comment takes it off the page and the feed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verifier_rules_through_the_stream_and_a_deleted_comment_leaves_the_page() {
    let w = world().await;
    // This site lets the filter approve ordinary comments on its own (by default it
    // holds what it is unsure of until the moderator has taught it the site's comments),
    // and keeps "spam" for the very sure, so the hostile comment below waits for the
    // moderator.
    w.set_spam_thresholds(0.99, 0.6).await;
    let ok = CaptchaStub::start(true).await;
    let deps = w.submit_deps(&ok.url, 0);
    let spam = w.spam_deps();
    // Submit through the handler, then score what the stream would deliver.
    let submit_and_score = |fields: Vec<(&'static str, &'static str)>| {
        let (deps, spam, w) = (&deps, &spam, &w);
        async move {
            let before = w.comments().await;
            let resp = comment_submit::handler::handle(
                deps,
                form_event(&w.token(), &fields, "198.51.100.40", ""),
            )
            .await;
            assert_eq!(resp.status(), 303, "{}", body_text(&resp));
            let (id, status) = w.score_the_new_comment(spam, &before).await;
            let stored = shared::comments::get(w.records.as_ref(), POST, &id)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(stored.status, status, "the verdict is stored");
            let rules: Vec<String> = stored.spam_rules.iter().map(|r| r.rule.clone()).collect();
            (id, status, rules)
        }
    };

    let (first, status, _) = submit_and_score(GOOD.to_vec()).await;
    assert_eq!(status, CommentStatus::Approved);

    // The site owner blocklists a word by uploading blocklist.txt.
    w.set_blocklist("# words we never want\ncasino\n").await;
    let (_, status, rules) = submit_and_score(vec![
        ("name", "Sam"),
        ("email", "sam@example.net"),
        (
            "body",
            "Our Casino night raised money for the school orchestra.",
        ),
    ])
    .await;
    assert_eq!(status, CommentStatus::Spam);
    assert!(rules.contains(&"blocklisted-word".to_string()), "{rules:?}");

    // The same text again, from someone else: a duplicate.
    let (_, status, rules) =
        submit_and_score(vec![("name", "Pat"), ("email", "pat@example.net"), GOOD[2]]).await;
    assert_eq!(status, CommentStatus::Spam);
    assert!(rules.contains(&"duplicate".to_string()), "{rules:?}");

    // The same author again, with two links. The verifier approved their first comment,
    // which does not make them trusted (only a moderator's approvals count, two of them,
    // and trust never lifts the link count): held.
    let (second, status, rules) = submit_and_score(vec![
        GOOD[0],
        GOOD[1],
        (
            "body",
            "Two reports worth reading: https://a.example/report and https://b.example/survey",
        ),
    ])
    .await;
    assert_eq!(status, CommentStatus::Held, "{rules:?}");
    assert!(!rules.contains(&"trusted-author".to_string()), "{rules:?}");
    // The moderator approves it from the mail's link.
    let held = shared::comments::get(w.records.as_ref(), POST, &second)
        .await
        .unwrap()
        .unwrap();
    let approve = shared::comments::moderation::make_link(
        &w.keys.moderation,
        shared::comments::moderation::Action::Approve,
        &held,
        w.clock.now(),
    );
    let resp = moderate::handler::handle(
        &w.moderate_deps(),
        apigw_request("apigw-moderate-post.json", |e| {
            set_body(e, &form_body(&[("token", &approve)]))
        }),
    )
    .await;
    assert_eq!(resp.status(), 303, "{}", body_text(&resp));

    render::handler::comments_changed(&w.builder, &[POST.to_string()], None)
        .await
        .unwrap();
    let page_key = format!("posts/{POST}/index.html");
    let feed_key = format!("posts/{POST}/comments.xml");
    let text = |key: String| {
        let site = w.site.clone();
        async move { String::from_utf8(site.get(&key).await.unwrap().unwrap()).unwrap() }
    };
    let page = text(page_key.clone()).await;
    assert!(page.contains("pigeon-holed") && page.contains("Two reports worth reading"));
    assert!(!page.contains("Casino night"), "spam is not published");

    // The moderator deletes the first comment through a signed link.
    let comment = shared::comments::get(w.records.as_ref(), POST, &first)
        .await
        .unwrap()
        .unwrap();
    let token = shared::comments::moderation::make_link(
        &w.keys.moderation,
        shared::comments::moderation::Action::Delete,
        &comment,
        w.clock.now(),
    );
    let resp = moderate::handler::handle(
        &w.moderate_deps(),
        apigw_request("apigw-moderate-post.json", |e| {
            set_body(e, &form_body(&[("token", &token)]))
        }),
    )
    .await;
    assert_eq!(resp.status(), 303, "{}", body_text(&resp));
    assert!(shared::comments::get(w.records.as_ref(), POST, &first)
        .await
        .unwrap()
        .is_none());
    // The stream's re-render: that post's page and comment feed, nothing else.
    let report = render::handler::comments_changed(&w.builder, &[POST.to_string()], None)
        .await
        .unwrap();
    assert!(
        report
            .written
            .iter()
            .all(|k| *k == page_key || *k == feed_key),
        "{:?}",
        report.written
    );
    assert!(report.written.contains(&page_key) && report.written.contains(&feed_key));
    let page = text(page_key).await;
    assert!(
        !page.contains("pigeon-holed"),
        "the deleted comment is gone"
    );
    assert!(page.contains("Two reports worth reading") && page.contains("1 comment"));
    assert!(!text(feed_key).await.contains("pigeon-holed"));
}

/// Everything the functions log from now on, in this test binary (so other tests' logs too),
/// as the functions' own subscriber would write it (every target at `info`, ours at
/// `debug`). A global subscriber: a thread-scoped one misses events whose call sites another
/// test's thread registered first.
struct LogCapture {
    buf: Arc<std::sync::Mutex<Vec<u8>>>,
}

impl LogCapture {
    fn install() -> Self {
        let buf = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "info,shared=debug,comment_submit=debug,spam_verify=debug,moderate=debug,render=debug",
            ))
            .with_ansi(false)
            .with_writer(move || LogSink(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("only this test installs a subscriber");
        Self { buf }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().unwrap()).into_owned()
    }
}

struct LogSink(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A reader replies to an approved comment (the form's `parent`, which the page's "Reply"
/// link fills in) and the reply is threaded under it; a reply to a comment that is not
/// published is refused beside the field; the site owner re-scores a comment on demand
/// (the function's `{"rescore": id}` invocation) after changing the blocklist, and it leaves
/// the page. Nothing logged along the way carries an e-mail address or the client's IP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_thread_rescoring_on_demand_and_logs_without_addresses() {
    let logs = LogCapture::install();
    let w = world().await;
    // This site trusts the filter to approve ordinary comments on its own (the default
    // holds anything it is not sure of, until the moderator has taught it the site's
    // comments).
    w.set_spam_thresholds(0.9, 0.6).await;
    let ok = CaptchaStub::start(true).await;
    let deps = w.submit_deps(&ok.url, 0);
    let spam = w.spam_deps();
    const IP: &str = "198.51.100.77";
    const FORWARDED: &str = "203.0.113.9";
    let submit = |fields: Vec<(&'static str, String)>| {
        let (deps, w) = (&deps, &w);
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            comment_submit::handler::handle(deps, form_event(&w.token(), &fields, IP, FORWARDED))
                .await
        }
    };
    // Store, then score what the stream would deliver; the new comment's id.
    let submit_and_score = |fields: Vec<(&'static str, String)>| {
        let (spam, w, submit) = (&spam, &w, &submit);
        async move {
            let before = w.comments().await;
            let resp = submit(fields).await;
            assert_eq!(resp.status(), 303, "{}", body_text(&resp));
            let (id, status) = w.score_the_new_comment(spam, &before).await;
            assert_eq!(status, CommentStatus::Approved);
            id
        }
    };
    let owned = |f: &[(&'static str, &'static str)]| -> Vec<(&'static str, String)> {
        f.iter().map(|(k, v)| (*k, v.to_string())).collect()
    };

    let parent = submit_and_score(owned(GOOD)).await;
    let reply = submit_and_score(vec![
        ("name", "Robin Ashe".into()),
        ("email", "robin.ashe@example.net".into()),
        (
            "body",
            "Agreed, and the school play taught me more than any test.".into(),
        ),
        ("parent", parent.clone()),
    ])
    .await;

    // A reply to a comment that is not on the page: refused beside the field, text kept.
    let before = w.comments().await.len();
    let resp = submit(vec![
        ("name", "Robin Ashe".into()),
        ("email", "robin.ashe@example.net".into()),
        ("body", "Replying to something that is not there.".into()),
        ("parent", "abcdef0123456789abcd".into()),
    ])
    .await;
    assert_eq!(resp.status(), 422);
    let page = body_text(&resp);
    assert!(page.contains("The comment you are replying to does not exist."));
    assert!(page.contains("Replying to something that is not there."));
    assert!(page.contains("it will be posted as a new comment"));
    assert!(
        page.contains("name=\"parent\" id=\"comment-parent\" value=\"\""),
        "sent again, it is a new comment"
    );
    assert!(page.contains("id=\"replying-to\" hidden"));
    assert_eq!(w.comments().await.len(), before, "nothing stored");

    render::handler::comments_changed(&w.builder, &[POST.to_string()], None)
        .await
        .unwrap();
    let page_key = format!("posts/{POST}/index.html");
    let page = String::from_utf8(w.site.get(&page_key).await.unwrap().unwrap()).unwrap();
    let at = |needle: &str| {
        page.find(needle)
            .unwrap_or_else(|| panic!("{needle} not on the page"))
    };
    let (p, replies, r) = (
        at(&format!("id=\"comment-{parent}\"")),
        at("<ol class=\"replies\">"),
        at(&format!("id=\"comment-{reply}\"")),
    );
    assert!(
        p < replies && replies < r,
        "the reply is threaded under its parent"
    );
    assert!(
        page.contains(&format!("data-reply-to=\"{parent}\"")),
        "each comment has a Reply link"
    );
    assert!(page.contains("2 comments"));

    // The owner blocklists a word the published reply uses and has it scored again.
    w.set_blocklist("school play\n").await;
    let answer =
        spam_verify::handler::on_invocation(&spam, serde_json::json!({ "rescore": reply }))
            .await
            .unwrap();
    assert_eq!(answer["id"], reply.as_str());
    assert_ne!(answer["status"], "approved", "{answer}");
    let stored = shared::comments::get(w.records.as_ref(), POST, &reply)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status.as_str(), answer["status"].as_str().unwrap());
    assert!(
        stored
            .spam_rules
            .iter()
            .any(|h| h.rule == "blocklisted-word"),
        "{:?}",
        stored.spam_rules
    );
    assert!(
        !stored.spam_rules.iter().any(|h| h.rule == "trusted-author"),
        "its own approval does not make its author trusted"
    );
    let err = spam_verify::handler::on_invocation(
        &spam,
        serde_json::json!({ "rescore": "nosuchcomment" }),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("nosuchcomment"), "{err}");
    let err = spam_verify::handler::on_invocation(&spam, serde_json::json!({ "hello": 1 }))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("rescore"), "{err}");

    render::handler::comments_changed(&w.builder, &[POST.to_string()], None)
        .await
        .unwrap();
    let page = String::from_utf8(w.site.get(&page_key).await.unwrap().unwrap()).unwrap();
    assert!(
        !page.contains("school play taught me"),
        "re-scored off the page"
    );
    assert!(page.contains("pigeon-holed") && page.contains("1 comment"));

    let logged = logs.text();
    assert!(
        logged.contains("comment stored as pending"),
        "the capture works: {logged}"
    );
    for secret in ["@example.net", "lindsay", "robin.ashe", IP, FORWARDED] {
        assert!(!logged.contains(secret), "{secret} in the logs:\n{logged}");
    }
}

/// The statistical rule's probability, from the rules stored with a scored comment.
async fn statistical_p(w: &World, id: &str) -> f64 {
    let c = shared::comments::get(w.records.as_ref(), POST, id)
        .await
        .unwrap()
        .unwrap();
    let hit = c
        .spam_rules
        .iter()
        .find(|h| h.rule == "statistical")
        .unwrap_or_else(|| panic!("no statistical rule in {:?}", c.spam_rules));
    hit.detail
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// A kind of spam the shipped model never saw: the moderator marks some of it as spam
/// through the mailed links (the moderate function), and the verifier (through its stream
/// entry point) scores the next one of that kind higher, and catches it. Text whose case
/// changes its byte length is scored too, instead of stopping the verifier.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_filter_learns_from_the_moderators_verdicts() {
    let w = world().await;
    let ok = CaptchaStub::start(true).await;
    let deps = w.submit_deps(&ok.url, 0);
    let pitch = |i: usize| {
        format!(
            "Professional essay writing service number {i}: plagiarism free dissertations, \
             coursework and thesis help, delivered overnight by certified academic writers."
        )
    };
    let submit_and_score = |name: String, body: String| {
        let (deps, w) = (&deps, &w);
        async move {
            let spam = w.spam_deps();
            let before = w.comments().await;
            let fields = [
                ("name", name.as_str()),
                ("email", "writer@example.net"),
                ("body", body.as_str()),
            ];
            let resp = comment_submit::handler::handle(
                deps,
                form_event(&w.token(), &fields, "198.51.100.50", ""),
            )
            .await;
            assert_eq!(resp.status(), 303, "{}", body_text(&resp));
            w.score_the_new_comment(&spam, &before).await
        }
    };

    let (_, status) = submit_and_score("Ayşe".into(), "İİİİİwww. İstanbul".into()).await;
    assert_ne!(status, CommentStatus::Pending, "scored, not stuck");

    let (first, status) = submit_and_score("Essay Helper".into(), pitch(0)).await;
    assert_ne!(
        status,
        CommentStatus::Spam,
        "the prior does not know this kind yet"
    );
    let p_before = statistical_p(&w, &first).await;

    // The moderator marks them as spam, one mailed link each, until the verifier catches
    // the next one by itself (each scored by a fresh verifier: a new Lambda instance).
    let mdeps = w.moderate_deps();
    let mut taught = 0;
    let caught = loop {
        let (id, status) = submit_and_score(format!("Writer {taught}"), pitch(taught + 1)).await;
        if status == CommentStatus::Spam {
            break id;
        }
        assert!(taught < 20, "not caught after {taught} verdicts");
        let comment = shared::comments::get(w.records.as_ref(), POST, &id)
            .await
            .unwrap()
            .unwrap();
        let token = shared::comments::moderation::make_link(
            &w.keys.moderation,
            shared::comments::moderation::Action::Spam,
            &comment,
            w.clock.now(),
        );
        let resp = moderate::handler::handle(
            &mdeps,
            apigw_request("apigw-moderate-post.json", |e| {
                set_body(e, &form_body(&[("token", &token)]))
            }),
        )
        .await;
        assert_eq!(resp.status(), 303, "{}", body_text(&resp));
        taught += 1;
    };
    let examples = shared::comments::filter::examples(w.records.as_ref(), w.clock.now())
        .await
        .unwrap();
    assert_eq!(examples.len(), taught, "one stored example per verdict");
    assert!(taught >= 1 && examples.iter().all(|(_, spam)| *spam));
    let p_after = statistical_p(&w, &caught).await;
    assert!(p_after > p_before, "{p_before} -> {p_after}");
    println!("caught after {taught} verdicts: p {p_before} -> {p_after}");

    // An ordinary comment is still not taken for spam.
    let (_, status) = submit_and_score("Lindsay Ibbotson".into(), GOOD[2].1.into()).await;
    assert_ne!(status, CommentStatus::Spam);
}

/// Security review, issue 11, items 5 and 6: the comment form refuses control characters in
/// the text and invisible or bidi characters in the name and web address, with an error
/// beside the field and the form re-shown with the visitor's text; nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_comment_form_refuses_control_and_invisible_characters() {
    let w = world().await;
    let ok = CaptchaStub::start(true).await;
    let deps = w.submit_deps(&ok.url, 0);
    let before = w.comments().await.len();

    let body = "Agreed\u{1b}[2J\u{1b}[31m, and the feed breaks\u{b}here.";
    let resp = comment_submit::handler::handle(
        &deps,
        form_event(
            &w.token(),
            &[GOOD[0], GOOD[1], ("body", body)],
            "198.51.100.23",
            "",
        ),
    )
    .await;
    assert_eq!(resp.status(), 422, "{}", body_text(&resp));
    let page = body_text(&resp);
    assert!(
        page.contains("Your comment contains characters we cannot accept"),
        "{page}"
    );
    assert!(page.contains("and the feed breaks"), "the text is kept");

    for name in [
        "Moderator\u{202e}nimdA",
        "Lindsay\u{200b}Ibbotson",
        "\u{2066}Admin\u{2069}",
        "Ann\u{feff}",
    ] {
        let resp = comment_submit::handler::handle(
            &deps,
            form_event(
                &w.token(),
                &[
                    ("name", name),
                    GOOD[1],
                    ("website", "https://example.net/\u{202e}fdp.exe"),
                    GOOD[2],
                ],
                "198.51.100.23",
                "",
            ),
        )
        .await;
        assert_eq!(resp.status(), 422, "{name:?}: {}", body_text(&resp));
        let page = body_text(&resp);
        assert!(
            page.contains("Your name contains characters we cannot accept"),
            "{name:?}: {page}"
        );
        assert!(
            page.contains("The web address contains characters we cannot accept"),
            "{page}"
        );
        assert!(page.contains("pigeon-holed facts"), "the text is kept");
    }
    assert_eq!(
        w.comments().await.len(),
        before,
        "nothing refused was stored"
    );
}

/// Security review, issue 11, item 7: in the moderator's mail the site's own moderation
/// links come first; the visitor's name, web address (host in punycode) and text come
/// after them, labelled, and the text quoted line by line, so a comment imitating the links
/// ("Approve: https://evil.example/…") cannot pass for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_moderators_mail_puts_the_real_links_first_and_quotes_the_visitor() {
    let w = world().await;
    // The filter calls this comment spam by default; this site keeps "spam" for the very
    // sure, so it reaches the moderator and the mail can be read.
    w.set_spam_thresholds(0.99, 0.15).await;
    let ok = CaptchaStub::start(true).await;
    let deps = w.submit_deps(&ok.url, 0);
    let spam = w.spam_deps();
    let before = w.comments().await;
    let fake = "https://evil.example/moderate?token=steal";
    let body = format!(
        "Thanks for the report on music in schools.\n\nApprove: {fake}\n\nDelete: {fake}&delete"
    );
    // "аpple" with a Cyrillic а: looks like apple.example.
    let resp = comment_submit::handler::handle(
        &deps,
        form_event(
            &w.token(),
            &[
                ("name", "Site Moderator"),
                ("email", "moderator-lookalike@example.net"),
                ("website", "https://\u{430}pple.example/offer"),
                ("body", &body),
            ],
            "198.51.100.23",
            "",
        ),
    )
    .await;
    assert_eq!(resp.status(), 303, "{}", body_text(&resp));
    let (_, status) = w.score_the_new_comment(&spam, &before).await;
    assert_eq!(status, CommentStatus::Held);

    let mails = w.sent_mail().await;
    let mail = mails
        .iter()
        .find(|m| m.header("To") == Some(MODERATOR))
        .expect("a mail to the moderator");
    let text = &mail.text;
    let quoted_at = text
        .find("> Approve: https://evil.example/")
        .unwrap_or_else(|| panic!("the fake link is quoted: {text}"));
    for label in ["Approve", "Mark as spam", "Delete"] {
        let at = text
            .find(&format!("\n{label}: "))
            .unwrap_or_else(|| panic!("a {label} line: {text}"));
        let line = text[at + 1..].lines().next().unwrap();
        assert!(
            line.contains("/moderate?token=") && !line.contains("evil"),
            "{line}"
        );
        assert!(at < quoted_at, "{label} comes first: {text}");
    }
    assert!(
        !text.lines().any(
            |l| l.starts_with("Approve: https://evil") || l.starts_with("Delete: https://evil")
        ),
        "no line of the visitor's passes for a link: {text}"
    );
    // Every line of the visitor's text is quoted.
    let quoted: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("Comment, quoted:"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----"))
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(quoted.len(), body.lines().count(), "{text}");
    assert!(quoted.iter().all(|l| l.starts_with("> ")), "{quoted:?}");
    assert!(
        text.contains("Name, as given by the visitor: Site Moderator"),
        "{text}"
    );
    let website = text
        .lines()
        .find_map(|l| l.strip_prefix("Website, as given by the visitor: "))
        .expect("the website line");
    assert!(
        website.starts_with("https://xn--") && website.is_ascii(),
        "the look-alike host in punycode: {website}"
    );
    let moderation_links: Vec<String> = mail
        .links()
        .into_iter()
        .filter(|l| l.contains("/moderate?token=") && !l.contains("evil.example"))
        .collect();
    assert_eq!(moderation_links.len(), 3, "{text}");
}

/// A GET of the moderator's list (`GET /moderate/queue`) with these query parameters.
fn queue_get(params: &[(&str, &str)]) -> lambda_http::Request {
    let query: serde_json::Map<String, Value> = params
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(*v)))
        .collect();
    let raw = form_body(params);
    apigw_request("apigw-moderate-queue-get.json", move |e| {
        e["queryStringParameters"] = Value::Object(query);
        e["rawQueryString"] = raw.into();
    })
}

/// A POST from the moderator's list (`POST /moderate/queue`) with these form fields.
fn queue_post(fields: &[(&str, &str)]) -> lambda_http::Request {
    let body = form_body(fields);
    apigw_request("apigw-moderate-queue-post.json", move |e| {
        set_body(e, &body)
    })
}

/// Issue 16, item 7: every moderator mail links to a list of all held comments (signed,
/// expiring, usable again until then), where the moderator approves, marks as spam or
/// deletes several at once with one POST; the filter learns from each. Nothing on it is
/// cached or indexed; a per-comment token is no queue token; a POST with nothing ticked is
/// refused clearly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_moderator_acts_on_several_held_comments_from_one_list() {
    let w = world().await;
    let ok = CaptchaStub::start(true).await;
    let deps = w.submit_deps(&ok.url, 0);
    let spam = w.spam_deps();
    let mdeps = w.moderate_deps();

    // Three ordinary comments, each with two links: held for the moderator. (Links lean
    // spammy for the shipped model; this site keeps "spam" for the very sure.)
    w.set_spam_thresholds(0.99, 0.085).await;
    let bodies = [
        "Our school joined the alliance last term: see https://school.example/news and https://council.example/minutes <b>for details</b>.",
        "The parents' evening notes are at https://parents.example/notes and the survey at https://survey.example/results for anyone who missed it.",
        "Music lessons came back thanks to this; the timetable is on https://music.example/timetable and https://music.example/staff now.",
    ];
    let mut ids = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let before = w.comments().await;
        let name = format!("Parent {}", i + 1);
        let email = format!("parent{}@example.net", i + 1);
        let fields = [
            ("name", name.as_str()),
            ("email", email.as_str()),
            ("website", "https://parent.example/blog"),
            ("body", body),
        ];
        let resp = comment_submit::handler::handle(
            &deps,
            form_event(&w.token(), &fields, &format!("198.51.100.{}", 60 + i), ""),
        )
        .await;
        assert_eq!(resp.status(), 303, "{}", body_text(&resp));
        let (id, status) = w.score_the_new_comment(&spam, &before).await;
        let rules = shared::comments::get(w.records.as_ref(), POST, &id)
            .await
            .unwrap()
            .map(|c| c.spam_rules);
        assert_eq!(status, CommentStatus::Held, "comment {i}: {rules:?}");
        ids.push(id);
    }
    let value = |id: &str| format!("{POST}/{id}");

    // Each moderator mail carries a link to the list, after the comment's own links.
    let mails = w.sent_mail().await;
    let to_moderator: Vec<_> = mails
        .iter()
        .filter(|m| m.header("To") == Some(MODERATOR))
        .collect();
    assert_eq!(to_moderator.len(), 3);
    let mut queue_links = Vec::new();
    for mail in &to_moderator {
        let text = &mail.text;
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("All comments waiting for you: "))
            .unwrap_or_else(|| panic!("a queue link: {text}"));
        assert!(line.contains("/moderate/queue?token="), "{line}");
        assert!(
            text.find("\nDelete: ").unwrap() < text.find("All comments waiting").unwrap(),
            "after the comment's own links: {text}"
        );
        queue_links.push(line.to_string());
    }
    let token = queue_links[0].split("token=").nth(1).unwrap().to_string();

    // The list: every held comment with its rules, as text, one form; not cached or indexed.
    let resp = moderate::handler::handle(&mdeps, queue_get(&[("token", &token)])).await;
    assert_eq!(resp.status(), 200, "{}", body_text(&resp));
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.headers()["x-robots-tag"], "noindex");
    let page = body_text(&resp);
    assert!(
        page.contains("<meta name=\"robots\" content=\"noindex\">"),
        "{page}"
    );
    for id in &ids {
        assert!(
            page.contains(&format!(
                "<input type=\"checkbox\" name=\"id\" value=\"{}\"",
                value(id)
            )),
            "a checkbox for {id}: {page}"
        );
    }
    for name in ["Parent 1", "Parent 2", "Parent 3"] {
        assert!(page.contains(name), "{name}");
    }
    assert!(
        page.contains("links</span> (+1): 2 links"),
        "the rules: {page}"
    );
    assert!(page.contains("statistical"), "every rule that fired");
    assert!(
        page.contains("&lt;b&gt;for details&lt;&#x2f;b&gt;")
            || page.contains("&lt;b&gt;for details&lt;/b&gt;"),
        "the text as plain text"
    );
    assert!(!page.contains("<b>for details"), "no markup from a comment");
    assert!(
        !page.contains("href=\"https://parent.example/blog\""),
        "the website is shown, not linked"
    );
    assert!(page.contains("https://parent.example/blog"));
    assert!(page.contains("<form method=\"post\" action=\"http://127.0.0.1:8080/moderate/queue\""));
    assert!(page.contains(&format!(
        "<input type=\"hidden\" name=\"token\" value=\"{token}\">"
    )));
    for action in ["approve", "spam", "delete"] {
        assert!(
            page.contains(&format!(
                "<button type=\"submit\" name=\"action\" value=\"{action}\""
            )),
            "{action}"
        );
    }
    assert!(!page.contains("<script"), "works with JavaScript off");

    // Two approved with one POST; the third stays held and listed.
    let resp = moderate::handler::handle(
        &mdeps,
        queue_post(&[
            ("token", &token),
            ("id", &value(&ids[0])),
            ("id", &value(&ids[1])),
            ("action", "approve"),
        ]),
    )
    .await;
    assert_eq!(resp.status(), 303, "{}", body_text(&resp));
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(
        location,
        format!("http://127.0.0.1:8080/moderate/queue?token={token}&done=2-approve")
    );
    let status = |id: String| {
        let records = w.records.clone();
        async move {
            shared::comments::get(records.as_ref(), POST, &id)
                .await
                .unwrap()
                .map(|c| c.status)
        }
    };
    assert_eq!(status(ids[0].clone()).await, Some(CommentStatus::Approved));
    assert_eq!(status(ids[1].clone()).await, Some(CommentStatus::Approved));
    assert_eq!(status(ids[2].clone()).await, Some(CommentStatus::Held));
    let examples = shared::comments::filter::examples(w.records.as_ref(), w.clock.now())
        .await
        .unwrap();
    assert_eq!(
        examples.iter().filter(|(_, spam)| !spam).count(),
        2,
        "the filter learns from each approval"
    );
    let resp = moderate::handler::handle(
        &mdeps,
        queue_get(&[("token", &token), ("done", "2-approve")]),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let page = body_text(&resp);
    assert!(page.contains("2 comments approved"), "{page}");
    assert!(page.contains(&value(&ids[2])));
    assert!(!page.contains(&value(&ids[0])) && !page.contains(&value(&ids[1])));

    // Refused: nothing ticked, an unknown action.
    let resp =
        moderate::handler::handle(&mdeps, queue_post(&[("token", &token), ("action", "spam")]))
            .await;
    assert_eq!(resp.status(), 400);
    assert!(body_text(&resp).contains("No comments selected"));
    let resp = moderate::handler::handle(
        &mdeps,
        queue_post(&[
            ("token", &token),
            ("id", &value(&ids[2])),
            ("action", "publish"),
        ]),
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert!(body_text(&resp).contains("Unknown action"));

    // A per-comment token is no queue token, nor the other way round.
    let approve = to_moderator[2]
        .links()
        .into_iter()
        .find(|l| to_moderator[2].text.contains(&format!("Approve: {l}")))
        .unwrap();
    let comment_token = approve.split("token=").nth(1).unwrap().to_string();
    let resp = moderate::handler::handle(&mdeps, queue_get(&[("token", &comment_token)])).await;
    assert_eq!(resp.status(), 400);
    assert!(body_text(&resp).contains("Link not valid"));
    let resp = moderate::handler::handle(
        &mdeps,
        queue_post(&[
            ("token", &comment_token),
            ("id", &value(&ids[2])),
            ("action", "delete"),
        ]),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let resp = moderate::handler::handle(
        &mdeps,
        apigw_request("apigw-moderate-post.json", |e| {
            set_body(e, &form_body(&[("token", &token)]))
        }),
    )
    .await;
    assert_eq!(resp.status(), 400, "a queue token on a per-comment link");
    assert_eq!(status(ids[2].clone()).await, Some(CommentStatus::Held));

    // Expired after 7 days, for the list and its actions alike.
    w.clock.advance(time::Duration::days(8));
    let resp = moderate::handler::handle(&mdeps, queue_get(&[("token", &token)])).await;
    assert_eq!(resp.status(), 410);
    assert!(body_text(&resp).contains("expired"));
    let resp = moderate::handler::handle(
        &mdeps,
        queue_post(&[
            ("token", &token),
            ("id", &value(&ids[2])),
            ("action", "spam"),
        ]),
    )
    .await;
    assert_eq!(resp.status(), 410);
    assert_eq!(status(ids[2].clone()).await, Some(CommentStatus::Held));

    // A newer mail's link works; with the last one deleted, the list says it is empty.
    let token = shared::comments::moderation::make_queue_link(&w.keys.moderation, w.clock.now());
    let resp = moderate::handler::handle(
        &mdeps,
        queue_post(&[
            ("token", &token),
            ("id", &value(&ids[2])),
            ("action", "delete"),
        ]),
    )
    .await;
    assert_eq!(resp.status(), 303, "{}", body_text(&resp));
    assert_eq!(status(ids[2].clone()).await, None);
    let resp = moderate::handler::handle(
        &mdeps,
        queue_get(&[("token", &token), ("done", "1-delete")]),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let page = body_text(&resp);
    assert!(page.contains("1 comment deleted."), "{page}");
    assert!(page.contains("No comments are waiting for you."), "{page}");
    assert!(!page.contains("<form method=\"post\" action=\"http://127.0.0.1:8080/moderate/queue\""));
}
