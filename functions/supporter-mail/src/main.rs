//! Wiring only: configuration read and checked at start-up (SDK clients are made on first
//! use); then stream batches served. A failed invocation reports its `SendError` variant as
//! the error type, and the stream retries the batch (then sends it to the dead-letter queue).

use std::sync::Arc;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use shared::adapters::aws_parts::AwsParts;
use supporter_mail::handler::{on_invocation, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let env = shared::env::Env::from_process()?;
    let deps = Arc::new(Deps::build(&AwsParts::new(&env))?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let deps = deps.clone();
        async move { on_invocation(&deps, event.payload).await }
    }))
    .await
}
