//! The local twin of the AWS deployment: the same builder and handlers, with embedded
//! adapters (directories, fjall) plugged into the ports.

pub mod admin;
pub mod api;
pub mod comments_cmd;
pub mod import;
pub mod keys_cmd;
pub mod local;
pub mod server;
pub mod spam_cmd;
pub mod supporters;
pub mod watch;

use std::sync::Arc;

use shared::adapters::aws::{dynamodb_client, s3_client, sdk_config, DynamoItemStore, S3BlobStore};
use shared::ports::SystemClock;
use shared::site::build::{BuildReport, Builder, Stores};

/// A one-paragraph summary of a build, with every content error on its own line.
pub fn print_report(report: &BuildReport) {
    println!(
        "built: {} written, {} unchanged, {} deleted, {} error(s)",
        report.written.len(),
        report.unchanged,
        report.deleted.len(),
        report.errors.len()
    );
    for e in &report.errors {
        println!("  error: {e}");
    }
}

/// A builder on the AWS buckets and table, configured from the environment exactly as the
/// render function is.
pub async fn aws_builder() -> Result<Arc<Builder>, Box<dyn std::error::Error>> {
    let env = shared::env::Env::from_process()?;
    let sdk = sdk_config().await;
    let s3 = s3_client(&sdk);
    Ok(Arc::new(Builder::new(
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
                dynamodb_client(&sdk),
                env.require("TABLE_NAME")?,
            )),
        },
        env.form_key()?,
        Arc::new(SystemClock),
    )))
}
