//! Ports: the traits through which domain code touches the outside world.
//! Each has an AWS adapter and an embedded (local) adapter in [`crate::adapters`].

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use md5::{Digest, Md5};

/// A storage failure. Adapters map their SDK or I/O errors to this.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
    #[error("the write was cancelled because a condition failed: {0}")]
    ConditionFailed(String),
}

/// Content-Type and Cache-Control an object is stored and served with (chosen by
/// [`crate::site::layout::object_meta`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub content_type: &'static str,
    pub cache_control: &'static str,
}

/// Lower-case hex MD5, the fingerprint S3 reports as the ETag of a single-part upload: how
/// the stores and the builder tell whether bytes changed.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// Blobs: the content bucket, the site bucket, the builder's state; a directory locally.
#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Store bytes together with the headers they are served with.
    async fn put(&self, key: &str, body: Vec<u8>, meta: &ObjectMeta) -> Result<(), StoreError>;
    /// Store a page that stands for a permanent redirect to `location` (an old address,
    /// see `site::redirects`). S3 also records the location as the object's
    /// `x-amz-website-redirect-location`, which CloudFront turns into a 301; a store
    /// without such metadata keeps the page alone (the local server reads its target from it).
    async fn put_redirect(
        &self,
        key: &str,
        page: Vec<u8>,
        meta: &ObjectMeta,
        location: &str,
    ) -> Result<(), StoreError> {
        let _ = location;
        self.put(key, page, meta).await
    }
    /// Deleting a missing key is not an error.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Keys under `prefix`, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
    /// MD5 (lower-case hex) of the stored bytes, or `None` when the key is absent.
    async fn md5(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Put `body` unless the store already holds exactly these bytes; `Ok(true)` if written.
    /// The default compares MD5s (a HEAD on S3); a local store compares the bytes.
    async fn put_if_changed(
        &self,
        key: &str,
        body: Vec<u8>,
        meta: &ObjectMeta,
    ) -> Result<bool, StoreError> {
        if self.md5(key).await?.as_deref() == Some(md5_hex(&body).as_str()) {
            return Ok(false);
        }
        self.put(key, body, meta).await?;
        Ok(true)
    }

    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.md5(key).await?.is_some())
    }

    /// For every key under `prefix`, a value that changes when its bytes change (an ETag on
    /// S3; size and modification time on disk). Cheap: one listing, no reads.
    async fn fingerprints(&self, prefix: &str) -> Result<HashMap<String, String>, StoreError> {
        self.md5_all(prefix).await
    }

    /// Does [`BlobStore::md5_all`] come from a listing (cheap), rather than reading every object?
    fn md5_listing_is_cheap(&self) -> bool {
        false
    }

    /// How many reads or writes to have in flight at once: many for a network store, few
    /// for a local disk, where more only contend for the same directory locks.
    fn concurrency(&self) -> usize {
        32
    }

    /// MD5 of every key under `prefix`. Adapters that get these cheaply (S3 listings carry
    /// ETags) override the default, which asks key by key.
    async fn md5_all(&self, prefix: &str) -> Result<HashMap<String, String>, StoreError> {
        let mut out = HashMap::new();
        for key in self.list(prefix).await? {
            if let Some(m) = self.md5(&key).await? {
                out.insert(key, m);
            }
        }
        Ok(out)
    }
}

/// One record: a JSON object with string attributes `pk` and `sk` (and `gsi1pk`/`gsi1sk`
/// where it belongs to the secondary index). The shape maps 1:1 onto a DynamoDB item.
pub type Item = Map<String, Value>;

/// One committed change to a record, as a DynamoDB stream record carries it (old and new
/// image). The local store publishes the same on a channel.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemChange {
    pub old: Option<Item>,
    pub new: Option<Item>,
}

/// When a put may go ahead.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Always,
    /// Only if no item has this key yet.
    NotExists,
    /// Only if the item exists and `attr` equals `value`.
    Equals {
        attr: String,
        value: Value,
    },
    /// Only if no item has this key yet, or it has and `attr` equals `value`.
    AbsentOrEquals {
        attr: String,
        value: Value,
    },
}

/// The one secondary index of the single table.
pub const GSI1: &str = "gsi1";

/// Records: the DynamoDB single table on AWS, an embedded fjall database locally.
/// A deliberately small, DynamoDB-shaped surface, so that the domain repositories in
/// [`crate::comments`] are written once for both.
#[async_trait]
pub trait ItemStore: Send + Sync {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError>;
    /// Returns `Ok(false)` when the condition did not hold (nothing was written).
    async fn put(&self, item: Item, condition: Condition) -> Result<bool, StoreError>;
    /// Returns the deleted item; with a condition that fails, nothing is deleted and
    /// `Ok(None)` is returned.
    async fn delete(
        &self,
        pk: &str,
        sk: &str,
        condition: Condition,
    ) -> Result<Option<Item>, StoreError>;
    /// Items with partition `pk` whose sort key starts with `sk_prefix`, in sort-key order.
    async fn query(&self, pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError>;
    /// The same over the secondary index `gsi1` (`gsi1pk`, `gsi1sk`).
    async fn query_gsi1(&self, gsi1pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError>;
    /// Atomically add `by` to the number attribute `count` (creating the item at 0), set
    /// `expires_at`, and return the new count. Used for rate limits.
    async fn increment(
        &self,
        pk: &str,
        sk: &str,
        by: i64,
        expires_at: i64,
    ) -> Result<i64, StoreError>;
}

/// A mail ready to send: the RFC 5322 message is produced by [`crate::comments`]'s mail
/// formatter, so SES and the local outbox send the very same bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingMail {
    pub to: String,
    pub raw: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
#[error("mail could not be sent: {0}")]
pub struct MailError(pub String);

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError>;
}

/// Why a captcha answer was not accepted.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CaptchaError {
    #[error("the captcha answer was not accepted")]
    Rejected,
    #[error("the captcha service could not be reached: {0}")]
    Unavailable(String),
}

/// hCaptcha's published test keys: the local verifier accepts only this response, and the
/// deployed functions refuse this secret at start-up.
pub mod hcaptcha_test {
    pub const SITE_KEY: &str = "10000000-ffff-ffff-ffff-000000000001";
    pub const SECRET: &str = "0x0000000000000000000000000000000000000000";
    pub const RESPONSE: &str = "10000000-aaaa-bbbb-cccc-000000000001";
}

/// Which site a captcha answer must have been solved for: an answer solved on another site
/// (with our public site key, or with someone else's) is refused.
#[derive(Debug, Clone, Copy, Default)]
pub struct CaptchaSite<'a> {
    /// The site key the page's widget used (`hcaptcha_site_key` in site.toml); sent with
    /// the verification, so hCaptcha refuses an answer made for another key.
    pub site_key: &'a str,
    /// The host the answer must have been solved on (the site's); checked against the
    /// hostname hCaptcha reports, when it reports one.
    pub hostname: Option<&'a str>,
}

#[async_trait]
pub trait CaptchaVerifier: Send + Sync {
    /// `remote_ip` is the client IP from the request context, never from a header.
    async fn verify(
        &self,
        response: &str,
        remote_ip: Option<&str>,
        site: CaptchaSite<'_>,
    ) -> Result<(), CaptchaError>;
}

pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that says what it is told, for tests and reproducible builds.
#[derive(Debug)]
pub struct FixedClock(pub std::sync::Mutex<OffsetDateTime>);

impl FixedClock {
    pub fn at(t: OffsetDateTime) -> Self {
        Self(std::sync::Mutex::new(t))
    }
    pub fn advance(&self, d: time::Duration) {
        *self.0.lock().unwrap() += d;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}
