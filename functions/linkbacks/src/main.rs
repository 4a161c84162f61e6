//! Wiring only: configuration read and checked at start-up (SDK clients are made on first
//! use); then requests served.

use std::sync::Arc;

use lambda_http::{run, service_fn, Error, Request};
use linkbacks::handler::{handle, Deps};
use shared::adapters::aws_parts::AwsParts;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let env = shared::env::Env::from_process()?;
    let deps = Arc::new(Deps::build(&AwsParts::new(&env))?);
    run(service_fn(move |req: Request| {
        let deps = deps.clone();
        async move { Ok::<_, Error>(handle(&deps, req).await) }
    }))
    .await
}
