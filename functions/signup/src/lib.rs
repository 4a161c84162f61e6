//! The sign-up function: supporters join with double opt-in, choose the newsletter,
//! unsubscribe in one click, ask for their data and erase themselves. The rules live in
//! [`shared::supporters`]; this crate is the HTTP side.

use std::sync::Arc;

use shared::env::EnvError;
use shared::http::guard::Guard;
use shared::ports::{Clock, ItemStore, Mailer};
use shared::signing::Signer;
use shared::site::build::Pages;
use shared::wiring::Parts;

pub mod handler;

/// Everything a request needs, built once per process.
pub struct Deps {
    /// Honeypot, form token, rate limit and captcha for the public forms.
    pub guard: Guard,
    pub records: Arc<dyn ItemStore>,
    pub mailer: Arc<dyn Mailer>,
    /// Pages (form re-shown, messages) and the site configuration (`api_url`, `title`).
    pub pages: Pages,
    pub clock: Arc<dyn Clock>,
    pub signer: Signer,
    /// The `From:` of every mail (a verified SES identity on AWS).
    pub from_address: String,
}

impl Deps {
    pub fn build(parts: &dyn Parts) -> Result<Self, EnvError> {
        Ok(Deps {
            guard: parts.guard()?,
            pages: parts.pages()?,
            records: parts.records()?,
            mailer: parts.mailer()?,
            clock: parts.clock(),
            signer: parts.signer()?,
            from_address: parts.mail_from()?,
        })
    }
}
