//! Sends the mails supporters ask for, taken from record changes: the DynamoDB stream on AWS
//! (filtered to mail requests just queued), the embedded store's change feed locally.
//!
//! `POST /signup` and `POST /signup/my-data` (the signup function) answer every visitor the
//! same after writing one request ([`MailRequest`]); here, away from the visitor's request,
//! each request is decided against the records ([`shared::supporters::take_up_request`]):
//! an unknown or pending address signing up gets a confirmation link (the pending sign-up is
//! stored now), a confirmed one "you are already signed up", a confirmed supporter asking
//! for their data a copy of it, and an erased address, an address over its day's mails or a
//! stranger asking for data nothing.
//!
//! A mail that cannot be sent fails the invocation: the stream retries the batch (then
//! sends it to the dead-letter queue, which has an alarm). The decision, and the day's
//! allowance, are taken once and recorded on the request; a retry sends the same mail (the
//! same link) unless the records changed meanwhile, and a request that was sent is deleted,
//! so a batch delivered again sends nothing twice.
//!
//! Addresses never reach a log line or an error message: requests are named by the keyed
//! hash of the address, and SES's error messages (which can name the recipient) are
//! stripped of addresses.

use std::sync::Arc;

use lambda_runtime::Diagnostic;
use serde_json::{json, Value};
use shared::adapters::aws::{changes_of_type, stream_batch};
use shared::env::EnvError;
use shared::ports::{Clock, ItemChange, ItemStore, Mailer, StoreError};
use shared::signing::SupporterKey;
use shared::site::build::Pages;
use shared::supporters::{
    finish_request, prepare_mail, take_up_request, MailKind, MailRequest, MailSite,
    MAIL_REQUEST_TYPE,
};
use shared::wiring::Parts;
use tracing::{info, warn};

pub struct Deps {
    pub records: Arc<dyn ItemStore>,
    /// The site's title and API address (`site.toml`), for the mails.
    pub pages: Pages,
    pub mailer: Arc<dyn Mailer>,
    pub clock: Arc<dyn Clock>,
    /// Manage links and confirmation links.
    pub supporters: SupporterKey,
    /// The `From:` of every mail (a verified SES identity on AWS).
    pub from_address: String,
}

impl Deps {
    pub fn build(parts: &dyn Parts) -> Result<Self, EnvError> {
        Ok(Self {
            records: parts.records()?,
            pages: parts.pages()?,
            mailer: parts.mailer()?,
            clock: parts.clock(),
            supporters: parts.supporter_key()?,
            from_address: parts.mail_from()?,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the site configuration could not be read: {0}")]
    Config(String),
    /// The message says why, without the addresses SES may name.
    #[error("a mail could not be sent (the batch is retried): {0}")]
    Mail(String),
    #[error("the invocation is not a DynamoDB stream batch: {0}")]
    BadInvocation(String),
}

impl SendError {
    /// A stable name for the kind of failure: the `errorType` Lambda reports.
    pub fn error_type(&self) -> &'static str {
        match self {
            SendError::Store(StoreError::Unavailable(_)) => "SendError::StoreUnavailable",
            SendError::Store(StoreError::Corrupt(_)) => "SendError::StoreCorrupt",
            SendError::Store(StoreError::ConditionFailed(_)) => "SendError::ConditionFailed",
            SendError::Config(_) => "SendError::Config",
            SendError::Mail(_) => "SendError::Mail",
            SendError::BadInvocation(_) => "SendError::BadInvocation",
        }
    }
}

impl From<SendError> for Diagnostic {
    fn from(e: SendError) -> Diagnostic {
        Diagnostic {
            error_type: e.error_type().into(),
            error_message: e.to_string(),
        }
    }
}

/// One invocation: a DynamoDB stream batch. Answers with how many requests came and how
/// many mails went.
pub async fn on_invocation(deps: &Deps, payload: Value) -> Result<Value, SendError> {
    let stream =
        stream_batch(payload).map_err(|why| SendError::BadInvocation(without_addresses(&why)))?;
    let changes = changes_of_type(&stream, MAIL_REQUEST_TYPE)?;
    let outcomes = on_changes(deps, &changes).await?;
    let sent = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Sent(_)))
        .count();
    Ok(json!({ "requests": outcomes.len(), "sent": sent }))
}

/// Mail requests just queued in these changes (other records are passed over silently; a
/// request that cannot be read is skipped, said at warn level).
pub fn queued(changes: &[ItemChange]) -> Vec<MailRequest> {
    changes
        .iter()
        .filter_map(|c| c.new.as_ref())
        .filter(|i| MailRequest::is_queued(i))
        .filter_map(|i| {
            MailRequest::from_item(i)
                .inspect_err(|e| {
                    let e = without_addresses(&e.to_string());
                    warn!(error = %e, "stream record skipped: not a readable mail request")
                })
                .ok()
        })
        .collect()
}

/// What became of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Handled already, replaced by a newer request for the address, or void.
    Skipped,
    /// Decided, and nothing (any more) to send.
    Nothing,
    Sent(MailKind),
}

/// Send what the queued requests in these changes lead to.
pub async fn on_changes(deps: &Deps, changes: &[ItemChange]) -> Result<Vec<Outcome>, SendError> {
    send_all(deps, queued(changes)).await
}

/// Handle these requests, one after the other (a later request for an address replaces an
/// earlier one: order matters). Every request is tried; if any failed, the first failure is
/// returned (the stream retries the batch, and the requests handled already are skipped).
pub async fn send_all(deps: &Deps, requests: Vec<MailRequest>) -> Result<Vec<Outcome>, SendError> {
    let mut outcomes = Vec::with_capacity(requests.len());
    let mut failed = None;
    for r in &requests {
        match send(deps, r).await {
            Ok(o) => outcomes.push(o),
            Err(e) => {
                warn!(email_hash = %r.email_hash, purpose = r.purpose.as_str(), error = %e, "mail request failed; it is retried");
                failed.get_or_insert(e);
            }
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(outcomes),
    }
}

/// Handle one request: decide (once), prepare against the records as they stand, send,
/// and delete the request.
pub async fn send(deps: &Deps, delivered: &MailRequest) -> Result<Outcome, SendError> {
    let store = deps.records.as_ref();
    let now = deps.clock.now();
    let Some(request) = take_up_request(store, now, delivered).await? else {
        info!(email_hash = %delivered.email_hash, purpose = delivered.purpose.as_str(), "mail request handled already or replaced");
        return Ok(Outcome::Skipped);
    };
    let cfg = deps
        .pages
        .config()
        .await
        .map_err(|e| SendError::Config(e.to_string()))?;
    let site = MailSite {
        title: &cfg.title,
        from: &deps.from_address,
        api_url: &cfg.api_url,
    };
    let decided = request.decided.unwrap_or(MailKind::Nothing);
    let Some(prepared) = prepare_mail(store, &deps.supporters, &site, now, &request).await? else {
        finish_request(store, &request).await?;
        info!(email_hash = %request.email_hash, purpose = request.purpose.as_str(), decided = decided.as_str(), "nothing to mail");
        return Ok(Outcome::Nothing);
    };
    let out = prepared.mail.to_outgoing(now, &request.message_id());
    deps.mailer
        .send(&out)
        .await
        .map_err(|e| SendError::Mail(without_addresses(&e.to_string())))?;
    finish_request(store, &request).await?;
    info!(email_hash = %request.email_hash, purpose = request.purpose.as_str(), mail = prepared.kind.as_str(), "mailed");
    Ok(Outcome::Sent(prepared.kind))
}

/// `text` with every e-mail address in it replaced by `<address>`: SES names the recipient
/// in some errors (an address not verified, in the sandbox), and addresses stay out of logs.
pub fn without_addresses(text: &str) -> String {
    let part = |c: char| c.is_alphanumeric() || "._%+-!#$&'*/=?^`{|}~@".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let trimmed = word.trim_matches(|c: char| !c.is_alphanumeric());
        let is_address = trimmed
            .split_once('@')
            .is_some_and(|(user, domain)| !user.is_empty() && !domain.is_empty());
        if is_address {
            out.push_str("<address>");
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if part(c) {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::without_addresses;

    #[test]
    fn addresses_are_taken_out_of_error_messages() {
        assert_eq!(
            without_addresses("Email address is not verified. The following identities failed the check in region EU-WEST-2: ada@example.net, <bob.o'neil+x@mail.example.org>"),
            "Email address is not verified. The following identities failed the check in region EU-WEST-2: <address>, <<address>>"
        );
        assert_eq!(
            without_addresses("throttled: rate exceeded"),
            "throttled: rate exceeded"
        );
        assert_eq!(without_addresses("a @ b"), "a @ b");
    }
}
