//! Wiring only: the builder made once (its SDK clients on first use), then events served.
//! A failed invocation reports its `RenderError` variant as the error type.

use std::sync::Arc;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use shared::adapters::aws_parts::AwsParts;
use shared::wiring::Parts;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let env = shared::env::Env::from_process()?;
    let builder = Arc::new(AwsParts::new(&env).builder()?);
    let bucket: Arc<str> = env.require("CONTENT_BUCKET")?.into();
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let (builder, bucket) = (builder.clone(), bucket.clone());
        async move { render::handler::on_invocation(&builder, &bucket, event.payload).await }
    }))
    .await
}
