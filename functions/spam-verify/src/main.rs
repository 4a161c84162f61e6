//! Wiring only: SDK clients made once, on first use; then stream batches (or re-score
//! requests) served.

use std::sync::Arc;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use shared::adapters::aws::{
    dynamodb_client, lambda_sdk_config, s3_client, ses_client, DynamoItemStore, LazyClient,
    S3BlobStore,
};
use shared::adapters::mail::SesMailer;
use shared::ports::SystemClock;
use shared::site::build::Pages;
use spam_verify::handler::{on_invocation, Deps};

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
    let content = Arc::new(S3BlobStore::new(
        s3.clone(),
        env.require("CONTENT_BUCKET")?,
        "",
    ));
    let deps = Arc::new(Deps {
        pages: Pages {
            content: content.clone(),
            state: Arc::new(S3BlobStore::new(
                s3,
                env.require("CONTENT_BUCKET")?,
                env.get_or("STATE_PREFIX", "_state/"),
            )),
            records: records.clone(),
            cache: Default::default(),
        },
        records,
        content,
        mailer: Arc::new(SesMailer::new(LazyClient::of(&sdk, ses_client))),
        signer: env.signer()?,
        clock: Arc::new(SystemClock),
        mail_from: env.require("MAIL_FROM")?,
        moderator: env.require("MODERATOR_EMAIL")?,
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let deps = deps.clone();
        async move { Ok::<_, Error>(on_invocation(&deps, event.payload).await?) }
    }))
    .await
}
