//! Adapters: the ports implemented for AWS (S3, DynamoDB, SES, hCaptcha) and for local,
//! embedded runs (a directory, a redb database, an outbox folder, hCaptcha's test keys).

pub mod aws;
pub mod captcha;
pub mod fs_blob;
pub mod mail;
pub mod redb_items;

pub use fs_blob::FsBlobStore;
pub use redb_items::{ItemChange, RedbItemStore};

use md5::{Digest, Md5};

/// Lower-case hex MD5, the fingerprint S3 reports as the ETag of a single-part upload.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}
