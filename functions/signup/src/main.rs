//! Wiring only: configuration read and checked at start-up; SDK clients made once, on first
//! use (`LazyClient`); then requests served.

use std::sync::Arc;

use lambda_http::{run, service_fn, Error, Request};
use shared::adapters::aws::{
    dynamodb_client, lambda_sdk_config, s3_client, ses_client, DynamoItemStore, LazyClient,
    S3BlobStore,
};
use shared::adapters::captcha::HcaptchaVerifier;
use shared::adapters::mail::SesMailer;
use shared::ports::SystemClock;
use signup::{handler::handle, Deps, Parts};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let env = shared::env::Env::from_process()?;
    let sdk = lambda_sdk_config();
    let s3 = LazyClient::of(&sdk, s3_client);
    let content_bucket = env.require("CONTENT_BUCKET")?;
    let deps = Arc::new(Deps::new(Parts {
        records: Arc::new(DynamoItemStore::new(
            LazyClient::of(&sdk, dynamodb_client),
            env.require("TABLE_NAME")?,
        )),
        content: Arc::new(S3BlobStore::new(s3.clone(), content_bucket.clone(), "")),
        state: Arc::new(S3BlobStore::new(
            s3,
            content_bucket,
            env.get_or("STATE_PREFIX", "_state/"),
        )),
        mailer: Arc::new(SesMailer::new(LazyClient::of(&sdk, ses_client))),
        captcha: Arc::new(HcaptchaVerifier::new(
            &env.captcha_secret()?,
            env.get("HCAPTCHA_VERIFY_URL"),
        )?),
        clock: Arc::new(SystemClock),
        signer: env.signer()?,
        rate_limit: env.rate_limit()?,
        from_address: env.require("SES_SENDER_ADDRESS")?,
    }));
    run(service_fn(move |req: Request| {
        let deps = deps.clone();
        async move { Ok::<_, Error>(handle(&deps, req).await) }
    }))
    .await
}
