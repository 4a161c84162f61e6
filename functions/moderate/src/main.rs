//! Wiring only: configuration read and checked at start-up; SDK clients made once, on first
//! use (`LazyClient`); then requests served.

use std::sync::Arc;

use lambda_http::{run, service_fn, Error, Request};
use moderate::handler::{handle, Deps};
use shared::adapters::aws::{
    dynamodb_client, lambda_sdk_config, s3_client, DynamoItemStore, LazyClient, S3BlobStore,
};
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
    let deps = Arc::new(Deps {
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
        signer: env.signer()?,
        clock: Arc::new(SystemClock),
    });
    run(service_fn(move |req: Request| {
        let deps = deps.clone();
        async move { Ok::<_, Error>(handle(&deps, req).await) }
    }))
    .await
}
