//! A function's parts on AWS, each made from the function's environment when first asked
//! for: the SDK clients themselves are made on first use ([`LazyClient`]), so start-up
//! reads variables and nothing else.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, OnceLock};

use super::aws::{
    dynamodb_client, lambda_sdk_config, s3_client, ses_client, DynamoItemStore, LazyClient,
    S3BlobStore,
};
use super::captcha::HcaptchaVerifier;
use super::mail::SesMailer;
use crate::env::{Env, EnvError};
use crate::linkbacks::SourceAccess;
use crate::ports::{BlobStore, CaptchaVerifier, Clock, ItemStore, Mailer, SystemClock};
use crate::signing::{FormKey, IdentityKey, ModerationKey, SupporterKey};
use crate::wiring::Parts;

/// The setting that lets the linkback verifier fetch from loopback: refused here.
pub const LOOPBACK_SOURCES_VAR: &str = "LINKBACK_SOURCES_ON_LOOPBACK";

/// Where the builder keeps its state in the content bucket unless `STATE_PREFIX` says.
pub const DEFAULT_STATE_PREFIX: &str = "_state/";

pub struct AwsParts<'e> {
    env: &'e Env,
    sdk: aws_config::SdkConfig,
    s3: LazyClient<aws_sdk_s3::Client>,
    /// One table client, however many parts use it.
    records: OnceLock<Arc<dyn ItemStore>>,
    /// The adapters made so far (tests hold them against the IAM policy).
    built: Mutex<BTreeSet<&'static str>>,
}

impl<'e> AwsParts<'e> {
    pub fn new(env: &'e Env) -> Self {
        let sdk = lambda_sdk_config();
        Self {
            env,
            s3: LazyClient::of(&sdk, s3_client),
            sdk,
            records: OnceLock::new(),
            built: Mutex::default(),
        }
    }

    /// The adapters made so far: `S3BlobStore`, `DynamoItemStore`, `SesMailer`.
    pub fn built(&self) -> BTreeSet<&'static str> {
        self.built.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn note(&self, adapter: &'static str) {
        self.built
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(adapter);
    }

    fn bucket(&self, var: &str, prefix: String) -> Result<Arc<dyn BlobStore>, EnvError> {
        let bucket = self.env.require(var)?;
        self.note("S3BlobStore");
        Ok(Arc::new(S3BlobStore::new(self.s3.clone(), bucket, prefix)))
    }
}

impl Parts for AwsParts<'_> {
    fn records(&self) -> Result<Arc<dyn ItemStore>, EnvError> {
        if let Some(r) = self.records.get() {
            return Ok(r.clone());
        }
        let table = self.env.require("TABLE_NAME")?;
        self.note("DynamoItemStore");
        let store: Arc<dyn ItemStore> = Arc::new(DynamoItemStore::new(
            LazyClient::of(&self.sdk, dynamodb_client),
            table,
        ));
        Ok(self.records.get_or_init(|| store).clone())
    }

    fn content(&self) -> Result<Arc<dyn BlobStore>, EnvError> {
        self.bucket("CONTENT_BUCKET", String::new())
    }

    fn state(&self) -> Result<Arc<dyn BlobStore>, EnvError> {
        let prefix = self.env.get_or("STATE_PREFIX", DEFAULT_STATE_PREFIX);
        self.bucket("CONTENT_BUCKET", prefix)
    }

    fn site(&self) -> Result<Arc<dyn BlobStore>, EnvError> {
        self.bucket("SITE_BUCKET", String::new())
    }

    fn mailer(&self) -> Result<Arc<dyn Mailer>, EnvError> {
        self.note("SesMailer");
        Ok(Arc::new(SesMailer::new(LazyClient::of(
            &self.sdk, ses_client,
        ))))
    }

    fn captcha(&self) -> Result<Arc<dyn CaptchaVerifier>, EnvError> {
        let secret = self.env.captcha_secret()?;
        let verifier = HcaptchaVerifier::new(&secret, self.env.get("HCAPTCHA_VERIFY_URL"))
            .map_err(|e| EnvError::Invalid("HCAPTCHA_SECRET".into(), e))?;
        Ok(Arc::new(verifier))
    }

    fn clock(&self) -> Arc<dyn Clock> {
        Arc::new(SystemClock)
    }

    fn form_key(&self) -> Result<FormKey, EnvError> {
        self.env.form_key()
    }

    fn identity_key(&self) -> Result<IdentityKey, EnvError> {
        self.env.identity_key()
    }

    fn moderation_key(&self) -> Result<ModerationKey, EnvError> {
        self.env.moderation_key()
    }

    fn supporter_key(&self) -> Result<SupporterKey, EnvError> {
        self.env.supporter_key()
    }

    fn rate_limit(&self) -> Result<u32, EnvError> {
        self.env.rate_limit()
    }

    fn mail_from(&self) -> Result<String, EnvError> {
        self.env.require("MAIL_FROM")
    }

    fn moderator(&self) -> Result<String, EnvError> {
        self.env.require("MODERATOR_EMAIL")
    }

    fn source_access(&self) -> Result<SourceAccess, EnvError> {
        // The local server's test setting has no business on Lambda, where 127.0.0.1:9001
        // is the Runtime API: refuse to start rather than run with it.
        if self.env.get(LOOPBACK_SOURCES_VAR).is_some() {
            return Err(EnvError::Invalid(
                LOOPBACK_SOURCES_VAR.into(),
                "fetching linkback sources from loopback is for tests and `site serve` only; a Lambda refuses it".into(),
            ));
        }
        Ok(SourceAccess::public())
    }
}
