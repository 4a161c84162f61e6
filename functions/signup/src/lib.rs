//! The sign-up function: supporters join with double opt-in, choose the newsletter,
//! unsubscribe in one click, ask for their data and erase themselves. The rules live in
//! [`shared::supporters`]; this crate is the HTTP side.

use std::sync::Arc;

use shared::http::guard::Guard;
use shared::ports::{BlobStore, CaptchaVerifier, Clock, ItemStore, Mailer};
use shared::signing::Signer;
use shared::site::build::Pages;

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

/// The parts [`Deps`] is made of: the same on AWS (`main.rs`) and in the local server.
pub struct Parts {
    pub records: Arc<dyn ItemStore>,
    pub content: Arc<dyn BlobStore>,
    pub state: Arc<dyn BlobStore>,
    pub mailer: Arc<dyn Mailer>,
    pub captcha: Arc<dyn CaptchaVerifier>,
    pub clock: Arc<dyn Clock>,
    pub signer: Signer,
    /// Sign-ups per client IP per ten minutes (0: no limit).
    pub rate_limit: u32,
    pub from_address: String,
}

impl Deps {
    pub fn new(p: Parts) -> Self {
        Deps {
            guard: Guard {
                signer: p.signer.clone(),
                records: p.records.clone(),
                captcha: p.captcha,
                clock: p.clock.clone(),
                rate_limit: p.rate_limit,
            },
            pages: Pages {
                content: p.content,
                state: p.state,
                records: p.records.clone(),
                cache: Default::default(),
            },
            records: p.records,
            mailer: p.mailer,
            clock: p.clock,
            signer: p.signer,
            from_address: p.from_address,
        }
    }
}
