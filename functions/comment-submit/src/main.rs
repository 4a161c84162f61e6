//! Wiring only: configuration read and checked at start-up; SDK clients made once, on first
//! use (`LazyClient`); then requests served.

use std::sync::Arc;

use comment_submit::handler::{handle, Deps};
use lambda_http::{run, service_fn, Error, Request};
use shared::adapters::aws::{
    dynamodb_client, lambda_sdk_config, s3_client, DynamoItemStore, LazyClient, S3BlobStore,
};
use shared::adapters::captcha::HcaptchaVerifier;
use shared::http::guard::Guard;
use shared::ports::SystemClock;
use shared::site::build::Pages;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let env = shared::env::Env::from_process()?;
    let sdk = lambda_sdk_config();
    let s3 = LazyClient::of(&sdk, s3_client);
    let records = Arc::new(DynamoItemStore::new(
        LazyClient::of(&sdk, dynamodb_client),
        env.require("TABLE_NAME")?,
    ));
    let clock = Arc::new(SystemClock);
    let deps = Arc::new(Deps {
        guard: Guard {
            signer: env.signer()?,
            records: records.clone(),
            captcha: Arc::new(HcaptchaVerifier::new(
                &env.captcha_secret()?,
                env.get("HCAPTCHA_VERIFY_URL"),
            )?),
            clock: clock.clone(),
            rate_limit: env.rate_limit()?,
        },
        pages: Pages {
            content: Arc::new(S3BlobStore::new(
                s3.clone(),
                env.require("CONTENT_BUCKET")?,
                "",
            )),
            state: Arc::new(S3BlobStore::new(
                s3,
                env.require("CONTENT_BUCKET")?,
                env.get_or("STATE_PREFIX", "_state/"),
            )),
            records: records.clone(),
            cache: Default::default(),
        },
        records,
        clock,
    });
    run(service_fn(move |req: Request| {
        let deps = deps.clone();
        async move { Ok::<_, Error>(handle(&deps, req).await) }
    }))
    .await
}
