//! Adapters: the ports implemented for AWS (S3, DynamoDB, SES, hCaptcha) and for local,
//! embedded runs (a directory, a fjall database, an outbox folder, hCaptcha's test keys).

pub mod aws;
pub mod captcha;
pub mod fjall_items;
pub mod fs_blob;
pub mod mail;

pub use fjall_items::{FjallItemStore, ItemChange};
pub use fs_blob::FsBlobStore;

use md5::{Digest, Md5};

/// Lower-case hex MD5, the fingerprint S3 reports as the ETag of a single-part upload.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}
