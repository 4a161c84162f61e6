//! Captcha verifiers: hCaptcha's siteverify through the `hcaptcha` crate, and a local
//! verifier that knows only hCaptcha's published test keys (for running with no network).

use std::time::Duration;

use async_trait::async_trait;

use crate::ports::{CaptchaError, CaptchaSite, CaptchaVerifier};

pub use crate::ports::hcaptcha_test::{
    RESPONSE as TEST_RESPONSE, SECRET as TEST_SECRET, SITE_KEY as TEST_SITE_KEY,
};

const TIMEOUT: Duration = Duration::from_secs(5);

pub struct HcaptchaVerifier {
    /// Built on first use: an HTTPS client with its TLS set-up, which start-up does not need.
    client: std::sync::OnceLock<Result<hcaptcha::Client, String>>,
    url: Option<String>,
    secret: String,
}

impl HcaptchaVerifier {
    /// `url` overrides hCaptcha's siteverify endpoint (tests point it at a local stub).
    /// The secret is checked here, at start-up: the crate panics on some malformed secrets.
    pub fn new(secret: &str, url: Option<&str>) -> Result<Self, String> {
        let s = secret.trim();
        let well_formed =
            (s.len() == 42 && s.starts_with("0x") && s[2..].bytes().all(|b| b.is_ascii_hexdigit()))
                || (s.len() == 35
                    && s.starts_with("ES_")
                    && s[3..].bytes().all(|b| b.is_ascii_hexdigit()));
        if !well_formed {
            return Err(
                "the hCaptcha secret must be 0x + 40 hex digits or ES_ + 32 hex digits".into(),
            );
        }
        if let Some(u) = url {
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                return Err(format!("hCaptcha URL: {u} is not an http(s) address"));
            }
        }
        Ok(Self {
            client: std::sync::OnceLock::new(),
            url: url.map(str::to_string),
            secret: s.to_string(),
        })
    }

    fn client(&self) -> Result<&hcaptcha::Client, CaptchaError> {
        self.client
            .get_or_init(|| match &self.url {
                Some(u) => hcaptcha::Client::new_with(u).map_err(|e| format!("hCaptcha URL: {e}")),
                None => Ok(hcaptcha::Client::new()),
            })
            .as_ref()
            .map_err(|e| CaptchaError::Unavailable(e.clone()))
    }
}

#[async_trait]
impl CaptchaVerifier for HcaptchaVerifier {
    async fn verify(
        &self,
        response: &str,
        remote_ip: Option<&str>,
        site: CaptchaSite<'_>,
    ) -> Result<(), CaptchaError> {
        if response.trim().is_empty() {
            return Err(CaptchaError::Rejected);
        }
        let mut req = hcaptcha::Request::new_from_response(&self.secret, response)
            .map_err(|_| CaptchaError::Rejected)?;
        if !site.site_key.trim().is_empty() {
            req = req
                .set_sitekey(site.site_key.trim())
                .map_err(|e| CaptchaError::Unavailable(format!("site key: {e}")))?;
        }
        if let Some(ip) = remote_ip {
            req = req
                .set_remoteip(ip)
                .map_err(|e| CaptchaError::Unavailable(e.to_string()))?;
        }
        match tokio::time::timeout(TIMEOUT, self.client()?.verify_request(req)).await {
            Err(_) => Err(CaptchaError::Unavailable(
                "no answer within 5 seconds".into(),
            )),
            Ok(Ok(r)) if r.success() => match (site.hostname, r.hostname()) {
                // Solved on another site: someone else's page relayed the answer.
                (Some(ours), Some(theirs)) if !theirs.eq_ignore_ascii_case(ours) => {
                    tracing::warn!(solved_on = %theirs, "captcha answer from another site");
                    Err(CaptchaError::Rejected)
                }
                _ => Ok(()),
            },
            Ok(Ok(_)) | Ok(Err(hcaptcha::Error::Codes(_))) => Err(CaptchaError::Rejected),
            Ok(Err(e)) => Err(CaptchaError::Unavailable(e.to_string())),
        }
    }
}

/// For local runs: accepts hCaptcha's test response and nothing else, with no network.
/// It is only ever built by the local `site` command; the Lambda functions build
/// [`HcaptchaVerifier`] and refuse the test secret (see `Env::captcha_secret`).
pub struct TestKeyVerifier;

#[async_trait]
impl CaptchaVerifier for TestKeyVerifier {
    async fn verify(
        &self,
        response: &str,
        _remote_ip: Option<&str>,
        _site: CaptchaSite<'_>,
    ) -> Result<(), CaptchaError> {
        if response.trim() == TEST_RESPONSE {
            Ok(())
        } else {
            Err(CaptchaError::Rejected)
        }
    }
}
