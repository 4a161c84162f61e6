//! Linkbacks: pingbacks (Pingback 1.0, XML-RPC) and Webmentions (W3C) that other sites send
//! when they link to one of our posts.
//!
//! - [`mention`]: the settings, the checks both protocols share, the queued record, and the
//!   comment a verified mention becomes.
//! - [`xmlrpc`]: the `pingback.ping` call read from an XML-RPC body, and the answers.
//! - [`address`]: which addresses a stranger's URL may make us connect to (the SSRF guard).
//! - [`fetch`]: fetching a source page within that guard.
//! - [`source`]: what a source page shows: the link to us, its title, author, date, excerpt.

pub mod address;
pub mod fetch;
pub mod mention;
pub mod source;
pub mod xmlrpc;

use std::sync::Arc;

/// How the linkback verifier reaches source pages: the resolver it asks, and whether it may
/// fetch from loopback addresses (the local server's tests only: a Lambda refuses the
/// setting at start-up, as it refuses hCaptcha's test secret).
#[derive(Clone)]
pub struct SourceAccess {
    pub resolver: Arc<dyn address::Resolve>,
    pub loopback: bool,
}

impl SourceAccess {
    /// Public addresses only, names resolved by the system.
    pub fn public() -> Self {
        Self {
            resolver: Arc::new(address::SystemResolver),
            loopback: false,
        }
    }

    /// The fetcher, with a User-Agent that names the site (`base_url`), so a site owner who
    /// sees our request in their logs knows who asked and why.
    pub fn fetcher(&self, base_url: &str) -> fetch::SafeFetcher {
        let f = fetch::SafeFetcher::new(
            self.resolver.clone(),
            format!("linkback-verifier (checks a link to {base_url})"),
        );
        if self.loopback {
            f.allowing_loopback()
        } else {
            f
        }
    }
}
