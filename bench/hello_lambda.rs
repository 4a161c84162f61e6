//! The start-up baseline: a hello-world `lambda_runtime` function, built with the same
//! profile as ours (see `bench/startup.py`).

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|e: LambdaEvent<Value>| async move {
        Ok::<_, Error>(e.payload)
    }))
    .await
}
