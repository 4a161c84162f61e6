//! Function configuration from the process environment, read once in `main`.
//! A missing or malformed setting stops the function at start-up with its name, instead of
//! failing later inside a request.

use crate::signing::{FormKey, IdentityKey, ModerationKey, Purpose, SupporterKey};

#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("environment variable {0} is not set")]
    Missing(String),
    #[error("environment variable {0} is invalid: {1}")]
    Invalid(String, String),
}

/// A snapshot of the environment (tests build one from pairs). It remembers every name it
/// was asked for, so a test can hold what a function reads against what its template sets.
#[derive(Debug, Default)]
pub struct Env {
    vars: std::collections::HashMap<String, String>,
    asked: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl Env {
    pub fn from_process() -> Result<Self, EnvError> {
        Ok(Self {
            vars: std::env::vars().collect(),
            ..Default::default()
        })
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    /// Every variable asked for so far, set or not.
    pub fn asked(&self) -> std::collections::BTreeSet<String> {
        self.asked.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.asked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string());
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn require(&self, name: &str) -> Result<String, EnvError> {
        self.get(name)
            .map(str::to_string)
            .ok_or_else(|| EnvError::Missing(name.into()))
    }

    pub fn get_or(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or(default).to_string()
    }

    /// One purpose's key (`FORM_KEY`, `IDENTITY_KEY`, `MODERATION_KEY`, `SUPPORTER_KEY`:
    /// hex, at least 32 bytes; `site keys` makes them). A function asks only for the keys it
    /// uses, at start-up, so a missing one stops it there.
    fn key_bytes(&self, purpose: Purpose) -> Result<Vec<u8>, EnvError> {
        let name = purpose.variable();
        let hex_key = self.require(name)?;
        let key = hex::decode(hex_key.trim()).map_err(|e| {
            EnvError::Invalid(
                name.into(),
                format!("not a key in hex ({e}); make the keys with `site keys` (docs/deploy.md, \"Secrets\")"),
            )
        })?;
        if key.len() < 32 {
            return Err(EnvError::Invalid(
                name.into(),
                "a signing key must be at least 32 bytes (64 hex digits)".into(),
            ));
        }
        Ok(key)
    }

    pub fn form_key(&self) -> Result<FormKey, EnvError> {
        let p = FormKey::PURPOSE;
        FormKey::new(&self.key_bytes(p)?).map_err(|e| EnvError::Invalid(p.variable().into(), e))
    }

    pub fn identity_key(&self) -> Result<IdentityKey, EnvError> {
        let p = IdentityKey::PURPOSE;
        IdentityKey::new(&self.key_bytes(p)?).map_err(|e| EnvError::Invalid(p.variable().into(), e))
    }

    pub fn moderation_key(&self) -> Result<ModerationKey, EnvError> {
        let p = ModerationKey::PURPOSE;
        ModerationKey::new(&self.key_bytes(p)?)
            .map_err(|e| EnvError::Invalid(p.variable().into(), e))
    }

    pub fn supporter_key(&self) -> Result<SupporterKey, EnvError> {
        let p = SupporterKey::PURPOSE;
        SupporterKey::new(&self.key_bytes(p)?)
            .map_err(|e| EnvError::Invalid(p.variable().into(), e))
    }
}

impl Env {
    /// The hCaptcha secret for a deployed function. hCaptcha's published test secret is
    /// refused here, so test mode cannot switch on in a Lambda by a configuration slip.
    pub fn captcha_secret(&self) -> Result<String, EnvError> {
        let secret = self.require("HCAPTCHA_SECRET")?;
        if secret.trim() == crate::ports::hcaptcha_test::SECRET {
            return Err(EnvError::Invalid(
                "HCAPTCHA_SECRET".into(),
                "hCaptcha's test secret is only for local runs".into(),
            ));
        }
        Ok(secret)
    }

    /// Requests per client IP per ten minutes for a form (`RATE_LIMIT`, default 5; 0 turns
    /// the limit off).
    pub fn rate_limit(&self) -> Result<u32, EnvError> {
        self.get_or("RATE_LIMIT", "5")
            .parse()
            .map_err(|e: std::num::ParseIntError| {
                EnvError::Invalid("RATE_LIMIT".into(), e.to_string())
            })
    }
}
