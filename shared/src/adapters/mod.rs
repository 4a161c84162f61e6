//! Adapters: the ports implemented for AWS (S3, DynamoDB, SES, hCaptcha) and for local,
//! embedded runs (a directory, a fjall database, an outbox folder, hCaptcha's test keys).

pub mod aws;
pub mod aws_parts;
pub mod captcha;
pub mod fjall_items;
pub mod fs_blob;
pub mod local;
pub mod mail;

pub use fjall_items::{FjallItemStore, ItemChange};
pub use fs_blob::FsBlobStore;
