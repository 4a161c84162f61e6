//! Wiring only: the builder made once (its SDK clients on first use), then events served.

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
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let builder = builder.clone();
        async move { Ok::<_, Error>(render::handler::on_invocation(&builder, event.payload).await?) }
    }))
    .await
}
