//! The captcha answer must have been solved for this site: the verification pins the site's
//! key, and an answer hCaptcha says was solved on another host is refused. Through the
//! comment-submit handler, on the local adapters, with a stand-in for hCaptcha.

use std::sync::Arc;

use integration_tests::{
    apigw_request, body_text, copy_dir, form_body, sample_content, set_body, CaptchaStub,
};
use shared::adapters::captcha::HcaptchaVerifier;
use shared::adapters::local::LocalStores;
use shared::ports::{Clock, SystemClock};

const POST: &str = "the-big-link-up";
const SECRET: &str = "0x3333333333333333333333333333333333333333";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_solved_on_another_site_are_refused_and_the_site_key_is_pinned() {
    let tmp = tempfile::tempdir().unwrap();
    let content = tmp.path().join("content");
    copy_dir(&sample_content(), &content);
    let stores = LocalStores::open(&content, &tmp.path().join("data")).unwrap();
    let token = stores.keys.forms.form_token(
        &format!("comment:{POST}"),
        SystemClock.now() - time::Duration::minutes(1),
    );
    let post = |body: &str| {
        let form = form_body(&[
            ("name", "Lindsay Ibbotson"),
            ("email", "lindsay@example.net"),
            ("body", body),
            ("form_token", &token),
            ("contact_reference", ""),
            ("h-captcha-response", "an-answer"),
        ]);
        apigw_request("apigw-comment-form.json", |e| set_body(e, &form))
    };
    let deps_for = |stub: &CaptchaStub| {
        let captcha = Arc::new(HcaptchaVerifier::new(SECRET, Some(&stub.url)).unwrap());
        comment_submit::handler::Deps::build(&stores.assemble(captcha, Arc::new(SystemClock), 0))
            .unwrap()
    };

    // Solved on another site: refused, the form shown again.
    let elsewhere = CaptchaStub::solved_on("phishing.example").await;
    let resp = comment_submit::handler::handle(&deps_for(&elsewhere), post("First try.")).await;
    assert_eq!(resp.status(), 400, "{}", body_text(&resp));
    assert!(body_text(&resp).contains("captcha"));
    // The request pinned the site key from site.toml.
    let sent = elsewhere.requests.lock().unwrap().join("\n");
    assert!(
        sent.contains("sitekey=10000000-ffff-ffff-ffff-000000000001"),
        "{sent}"
    );

    // Solved on the site itself (the sample's base_url host): accepted.
    let here = CaptchaStub::solved_on("127.0.0.1").await;
    let resp = comment_submit::handler::handle(&deps_for(&here), post("Second try.")).await;
    assert_eq!(resp.status(), 303, "{}", body_text(&resp));
}
