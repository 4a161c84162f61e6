//! The one place a function is put together. Each function's `Deps::build` asks a [`Parts`]
//! for what it needs; [`crate::adapters::aws::AwsParts`] makes each part from the
//! function's environment (reading only that part's variables, so a function reads exactly
//! what it uses), and [`Assembled`] holds parts already made: the local server's (a data
//! folder, see [`crate::adapters::local`]) and the tests'.

use std::sync::Arc;

use crate::env::EnvError;
use crate::http::guard::{Guard, RateLimiter};
use crate::linkbacks::SourceAccess;
use crate::ports::{BlobStore, CaptchaVerifier, Clock, ItemStore, Mailer};
use crate::signing::{FormKey, IdentityKey, Keys, ModerationKey, SupporterKey};
use crate::site::build::{Builder, Pages, Stores};

/// Where a function's parts come from.
pub trait Parts {
    /// The records store (the single table).
    fn records(&self) -> Result<Arc<dyn ItemStore>, EnvError>;
    /// Content: posts, photos, templates, `site.toml`.
    fn content(&self) -> Result<Arc<dyn BlobStore>, EnvError>;
    /// The builder's memory (post and photo indexes).
    fn state(&self) -> Result<Arc<dyn BlobStore>, EnvError>;
    /// The built site.
    fn site(&self) -> Result<Arc<dyn BlobStore>, EnvError>;
    fn mailer(&self) -> Result<Arc<dyn Mailer>, EnvError>;
    fn captcha(&self) -> Result<Arc<dyn CaptchaVerifier>, EnvError>;
    fn clock(&self) -> Arc<dyn Clock>;
    /// Each purpose's key; a function asks only for those it uses.
    fn form_key(&self) -> Result<FormKey, EnvError>;
    fn identity_key(&self) -> Result<IdentityKey, EnvError>;
    fn moderation_key(&self) -> Result<ModerationKey, EnvError>;
    fn supporter_key(&self) -> Result<SupporterKey, EnvError>;
    /// Form submissions per client IP per ten minutes (0: no limit).
    fn rate_limit(&self) -> Result<u32, EnvError>;
    /// The `From:` of every mail.
    fn mail_from(&self) -> Result<String, EnvError>;
    /// Where held comments are reported.
    fn moderator(&self) -> Result<String, EnvError>;

    /// How the linkback verifier reaches source pages.
    fn source_access(&self) -> Result<SourceAccess, EnvError>;

    /// Where a local server listens, when the site's loopback addresses should follow it
    /// (never on AWS).
    fn origin(&self) -> Option<String> {
        None
    }

    /// Pages the form functions render on request.
    fn pages(&self) -> Result<Pages, EnvError> {
        let mut pages = Pages::new(self.content()?, self.state()?, self.records()?);
        pages.origin = self.origin();
        Ok(pages)
    }

    /// The checks in front of every public form.
    fn guard(&self) -> Result<Guard, EnvError> {
        Ok(Guard {
            forms: self.form_key()?,
            identity: self.identity_key()?,
            records: self.records()?,
            captcha: self.captcha()?,
            clock: self.clock(),
            rate_limit: self.rate_limit()?,
        })
    }

    /// The rate limit alone, for endpoints without a form (the linkback endpoints).
    fn rate_limiter(&self) -> Result<RateLimiter, EnvError> {
        Ok(RateLimiter {
            identity: self.identity_key()?,
            records: self.records()?,
            clock: self.clock(),
            limit: self.rate_limit()?,
        })
    }

    /// The site builder.
    fn builder(&self) -> Result<Builder, EnvError> {
        let mut builder = Builder::new(
            Stores {
                content: self.content()?,
                site: self.site()?,
                state: self.state()?,
                records: self.records()?,
            },
            self.form_key()?,
            self.clock(),
        );
        builder.origin = self.origin();
        Ok(builder)
    }
}

/// Parts already made: the local server's, and the tests'.
#[derive(Clone)]
pub struct Assembled {
    pub records: Arc<dyn ItemStore>,
    pub content: Arc<dyn BlobStore>,
    pub state: Arc<dyn BlobStore>,
    pub site: Arc<dyn BlobStore>,
    pub mailer: Arc<dyn Mailer>,
    pub captcha: Arc<dyn CaptchaVerifier>,
    pub clock: Arc<dyn Clock>,
    pub keys: Keys,
    pub rate_limit: u32,
    pub mail_from: String,
    pub moderator: String,
    /// Where a local server listens (`None`: the addresses in `site.toml` as they are).
    pub origin: Option<String>,
    pub source_access: SourceAccess,
}

impl Parts for Assembled {
    fn records(&self) -> Result<Arc<dyn ItemStore>, EnvError> {
        Ok(self.records.clone())
    }
    fn content(&self) -> Result<Arc<dyn BlobStore>, EnvError> {
        Ok(self.content.clone())
    }
    fn state(&self) -> Result<Arc<dyn BlobStore>, EnvError> {
        Ok(self.state.clone())
    }
    fn site(&self) -> Result<Arc<dyn BlobStore>, EnvError> {
        Ok(self.site.clone())
    }
    fn mailer(&self) -> Result<Arc<dyn Mailer>, EnvError> {
        Ok(self.mailer.clone())
    }
    fn captcha(&self) -> Result<Arc<dyn CaptchaVerifier>, EnvError> {
        Ok(self.captcha.clone())
    }
    fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }
    fn form_key(&self) -> Result<FormKey, EnvError> {
        Ok(self.keys.forms.clone())
    }
    fn identity_key(&self) -> Result<IdentityKey, EnvError> {
        Ok(self.keys.identity.clone())
    }
    fn moderation_key(&self) -> Result<ModerationKey, EnvError> {
        Ok(self.keys.moderation.clone())
    }
    fn supporter_key(&self) -> Result<SupporterKey, EnvError> {
        Ok(self.keys.supporters.clone())
    }
    fn rate_limit(&self) -> Result<u32, EnvError> {
        Ok(self.rate_limit)
    }
    fn mail_from(&self) -> Result<String, EnvError> {
        Ok(self.mail_from.clone())
    }
    fn moderator(&self) -> Result<String, EnvError> {
        Ok(self.moderator.clone())
    }
    fn origin(&self) -> Option<String> {
        self.origin.clone()
    }
    fn source_access(&self) -> Result<SourceAccess, EnvError> {
        Ok(self.source_access.clone())
    }
}
