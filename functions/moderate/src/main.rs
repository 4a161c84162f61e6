//! Wiring only.

use std::sync::Arc;

use lambda_http::{run, service_fn, Error, Request};
use moderate::handler::{handle, Deps};
use shared::adapters::aws::{
    dynamodb_client, lambda_sdk_config, s3_client, DynamoItemStore, S3BlobStore,
};
use shared::build::Pages;
use shared::ports::SystemClock;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let env = shared::env::Env::from_process()?;
    let sdk = lambda_sdk_config();
    let s3 = s3_client(&sdk);
    let records = Arc::new(DynamoItemStore::new(
        dynamodb_client(&sdk),
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
