//! The checks every public form goes through, cheapest first: honeypot, signed form token,
//! rate limit per client IP (a counter with a TTL in the records store), then hCaptcha.
//! Field validation, the cheapest of all, belongs to each form and runs before these.

use std::sync::Arc;

use crate::http::web::FormData;
use crate::ports::{CaptchaError, CaptchaSite, CaptchaVerifier, Clock, ItemStore, StoreError};
use crate::signing::{FormKey, IdentityKey, TokenError};

/// The honeypot field every public form carries: hidden from people, filled by bots.
pub const HONEYPOT_FIELD: &str = "contact_reference";

/// The rate-limit window.
pub const RATE_WINDOW_SECS: i64 = 600;

pub struct Guard {
    pub forms: FormKey,
    pub identity: IdentityKey,
    pub records: Arc<dyn ItemStore>,
    pub captcha: Arc<dyn CaptchaVerifier>,
    pub clock: Arc<dyn Clock>,
    /// Submissions per IP per window and form; 0 turns the limit off.
    pub rate_limit: u32,
}

/// Why a submission was refused; each says what the visitor can do.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(
        "this form could not be accepted: leave the field marked “leave this field empty” empty"
    )]
    Honeypot,
    #[error("{0}")]
    Token(TokenError),
    #[error("too many submissions from your network; please wait ten minutes and try again")]
    RateLimited,
    #[error("please complete the captcha (“I am human”) and send the form again")]
    CaptchaRejected,
    #[error("the captcha service is not answering just now; please try again in a few minutes")]
    CaptchaUnavailable,
    #[error("we could not store your submission just now; please try again in a few minutes")]
    Store(#[from] StoreError),
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Self::Honeypot | Self::Token(_) | Self::CaptchaRejected => 400,
            Self::RateLimited => 429,
            Self::CaptchaUnavailable | Self::Store(_) => 503,
        }
    }

    /// The form field the message belongs beside.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Honeypot => HONEYPOT_FIELD,
            Self::CaptchaRejected | Self::CaptchaUnavailable => "captcha",
            _ => "form",
        }
    }
}

impl Guard {
    pub fn honeypot(&self, form: &FormData) -> Result<(), Refusal> {
        if form.get(HONEYPOT_FIELD).trim().is_empty() {
            Ok(())
        } else {
            Err(Refusal::Honeypot)
        }
    }

    pub fn token(&self, form_name: &str, form: &FormData) -> Result<(), Refusal> {
        self.forms
            .check_form_token(form_name, form.get("form_token"), self.clock.now())
            .map_err(Refusal::Token)
    }

    /// A keyed hash of the client IP: what is stored and logged instead of the IP.
    pub fn ip_hash(&self, ip: Option<&str>) -> String {
        ip_hash(&self.identity, ip)
    }

    pub async fn rate(&self, scope: &str, ip: Option<&str>) -> Result<(), Refusal> {
        self.rate_limiter().check(scope, ip).await
    }

    pub fn rate_limiter(&self) -> RateLimiter {
        RateLimiter {
            identity: self.identity.clone(),
            records: self.records.clone(),
            clock: self.clock.clone(),
            limit: self.rate_limit,
        }
    }

    /// `site`: the site key and host the answer must have been solved for.
    pub async fn captcha(
        &self,
        form: &FormData,
        ip: Option<&str>,
        site: CaptchaSite<'_>,
    ) -> Result<(), Refusal> {
        match self
            .captcha
            .verify(form.get("h-captcha-response"), ip, site)
            .await
        {
            Ok(()) => Ok(()),
            Err(CaptchaError::Rejected) => Err(Refusal::CaptchaRejected),
            Err(CaptchaError::Unavailable(e)) => {
                tracing::warn!(error = %e, "hCaptcha unavailable");
                Err(Refusal::CaptchaUnavailable)
            }
        }
    }
}

/// Submissions per key (a client IP, a source domain) per ten-minute window and scope: the
/// forms' limit, and the linkback endpoints' (which have no captcha, so no [`Guard`]).
#[derive(Clone)]
pub struct RateLimiter {
    pub identity: IdentityKey,
    pub records: Arc<dyn ItemStore>,
    pub clock: Arc<dyn Clock>,
    /// 0 turns the limit off.
    pub limit: u32,
}

impl RateLimiter {
    /// Count one more for `key` (kept only as a keyed hash) in `scope`; refused over the limit.
    pub async fn check(&self, scope: &str, key: Option<&str>) -> Result<(), Refusal> {
        if self.limit == 0 {
            return Ok(());
        }
        let now = self.clock.now().unix_timestamp();
        let window = now - now.rem_euclid(RATE_WINDOW_SECS);
        let key_hash = ip_hash(&self.identity, key);
        let (pk, sk) = crate::keys::rate(scope, &key_hash, window);
        let count = self
            .records
            .increment(&pk, &sk, 1, window + 2 * RATE_WINDOW_SECS)
            .await?;
        if count > i64::from(self.limit) {
            Err(Refusal::RateLimited)
        } else {
            Ok(())
        }
    }
}

/// The keyed hash a client IP is kept as (records, rate counters, imported comments):
/// never the address itself. No IP known (not from API Gateway) counts as one client.
pub fn ip_hash(identity: &IdentityKey, ip: Option<&str>) -> String {
    identity.keyed_hash("ip", ip.unwrap_or("unknown"))
}
