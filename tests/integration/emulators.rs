//! The HTTP functions answer the same under `cargo lambda watch` (and other emulators that
//! send a Lambda function URL event: the path, no API Gateway path parameters) as under API
//! Gateway. On the local adapters: nothing here needs AWS.

use std::sync::Arc;

use integration_tests::{apigw_request, body_text, copy_dir, form_body, sample_content, set_body};
use shared::adapters::captcha::{TestKeyVerifier, TEST_RESPONSE};
use shared::adapters::local::LocalStores;
use shared::ports::{Clock, SystemClock};

const POST: &str = "the-big-link-up";

/// The comment form's sample event; `as_function_url`: reshaped as `cargo lambda watch`
/// sends it (a function URL request: route `$default`, no path parameters).
fn comment_post(token: &str, as_function_url: bool) -> lambda_http::Request {
    let body = form_body(&[
        ("name", "Lindsay Ibbotson"),
        ("email", "lindsay@example.net"),
        ("body", "Creative learning beats pigeon-holed facts."),
        ("form_token", token),
        ("contact_reference", ""),
        ("h-captcha-response", TEST_RESPONSE),
    ]);
    apigw_request("apigw-comment-form.json", |e| {
        set_body(e, &body);
        if as_function_url {
            let o = e.as_object_mut().unwrap();
            o.remove("pathParameters");
            o.insert("routeKey".into(), "$default".into());
            e["requestContext"]["routeKey"] = "$default".into();
            e["requestContext"]["domainName"] = "abcdefghij.lambda-url.eu-west-2.on.aws".into();
            e["rawPath"] = format!("/posts/{POST}/comments").into();
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comment_submit_answers_the_same_without_path_parameters() {
    let tmp = tempfile::tempdir().unwrap();
    let content = tmp.path().join("content");
    copy_dir(&sample_content(), &content);
    let stores = LocalStores::open(&content, &tmp.path().join("data")).unwrap();
    let parts = stores.assemble(Arc::new(TestKeyVerifier), Arc::new(SystemClock), 0);
    let deps = comment_submit::handler::Deps::build(&parts).unwrap();
    let token = stores.keys.forms.form_token(
        &format!("comment:{POST}"),
        SystemClock.now() - time::Duration::minutes(1),
    );
    for as_function_url in [false, true] {
        let resp =
            comment_submit::handler::handle(&deps, comment_post("garbage", as_function_url)).await;
        assert_eq!(
            resp.status(),
            400,
            "a malformed token: {}",
            body_text(&resp)
        );
        let resp =
            comment_submit::handler::handle(&deps, comment_post(&token, as_function_url)).await;
        assert_eq!(resp.status(), 303, "{}", body_text(&resp));
        assert!(resp.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with(&format!("/posts/{POST}/#awaiting-moderation")));
    }
}
