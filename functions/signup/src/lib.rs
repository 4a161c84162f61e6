//! The sign-up function: supporters join with double opt-in, choose the newsletter,
//! unsubscribe in one click, ask for their data and erase themselves. The rules live in
//! [`shared::supporters`]; this crate is the HTTP side. It sends no mail: the mails a
//! visitor asks for are queued for `functions/supporter-mail`.

use std::sync::Arc;

use shared::env::EnvError;
use shared::http::guard::Guard;
use shared::ports::{Clock, ItemStore};
use shared::signing::{IdentityKey, SupporterKey};
use shared::site::build::Pages;
use shared::wiring::Parts;

pub mod handler;

/// Everything a request needs, built once per process.
pub struct Deps {
    /// Honeypot, form token, rate limit and captcha for the public forms.
    pub guard: Guard,
    pub records: Arc<dyn ItemStore>,
    /// Pages (form re-shown, messages) and the site configuration (`api_url`, `title`).
    pub pages: Pages,
    pub clock: Arc<dyn Clock>,
    /// Address hashes.
    pub identity: IdentityKey,
    /// Manage links.
    pub supporters: SupporterKey,
}

impl Deps {
    pub fn build(parts: &dyn Parts) -> Result<Self, EnvError> {
        Ok(Deps {
            guard: parts.guard()?,
            pages: parts.pages()?,
            records: parts.records()?,
            clock: parts.clock(),
            identity: parts.identity_key()?,
            supporters: parts.supporter_key()?,
        })
    }
}
