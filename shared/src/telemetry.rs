//! Logging. JSON lines on Lambda (CloudWatch), readable text locally. Log lines never carry
//! e-mail addresses or raw IP addresses: callers log ids and keyed hashes only.

use tracing_subscriber::EnvFilter;

/// Initialise tracing once per process; `RUST_LOG` overrides the default `info`.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let on_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = if on_lambda {
        // CloudWatch adds its own timestamps.
        builder
            .json()
            .without_time()
            .with_current_span(false)
            .try_init()
    } else {
        builder.try_init()
    };
}
