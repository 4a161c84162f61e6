//! Wiring only: the builder made once (its SDK clients on first use), then events served.

use std::sync::Arc;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use shared::adapters::aws::{
    dynamodb_client, lambda_sdk_config, s3_client, DynamoItemStore, LazyClient, S3BlobStore,
};
use shared::ports::SystemClock;
use shared::site::build::{Builder, Stores};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let env = shared::env::Env::from_process()?;
    let sdk = lambda_sdk_config();
    let s3 = LazyClient::of(&sdk, s3_client);
    let builder = Arc::new(Builder::new(
        Stores {
            content: Arc::new(S3BlobStore::new(
                s3.clone(),
                env.require("CONTENT_BUCKET")?,
                "",
            )),
            site: Arc::new(S3BlobStore::new(
                s3.clone(),
                env.require("SITE_BUCKET")?,
                "",
            )),
            state: Arc::new(S3BlobStore::new(
                s3,
                env.require("CONTENT_BUCKET")?,
                env.get_or("STATE_PREFIX", "_state/"),
            )),
            records: Arc::new(DynamoItemStore::new(
                LazyClient::of(&sdk, dynamodb_client),
                env.require("TABLE_NAME")?,
            )),
        },
        env.signer()?,
        Arc::new(SystemClock),
    ));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let builder = builder.clone();
        async move {
            let report = render::handler::handle(&builder, event.payload).await?;
            Ok::<_, Error>(serde_json::json!({
                "written": report.written.len(),
                "deleted": report.deleted.len(),
                "unchanged": report.unchanged,
                "errors": report.errors,
            }))
        }
    }))
    .await
}
