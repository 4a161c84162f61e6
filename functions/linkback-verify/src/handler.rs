//! Verifies the mentions other sites sent (queued by the `linkbacks` function), taken from
//! record changes: the DynamoDB stream on AWS, the embedded store's change feed locally.
//!
//! For each queued mention: fetch the source within the SSRF guard
//! ([`shared::linkbacks::fetch`]), check that it links to the exact target, and read what it
//! shows ([`shared::linkbacks::source`]). Then:
//! - it links: the mention becomes a pending comment of the pingback kind (spam-verify then
//!   scores it and holds it for a moderator unless `site.toml` approves its domain), or the
//!   one already shown is updated in place (W3C Webmention §3.2.4);
//! - it answers 410 Gone or 404, or no longer links: a mention already stored is taken off
//!   the page (its record deleted; the renderer re-renders the post);
//! - it cannot be fetched just now (timeout, network, 5xx): a mention already shown stays.
//!
//! What was found is written back on the mention record (`status`), which the stream filter
//! then passes over.

use std::sync::{Arc, OnceLock};

use futures::stream::{self, StreamExt, TryStreamExt};
use lambda_runtime::Diagnostic;
use serde_json::{json, Value};
use shared::adapters::aws::{changes_from_stream, stream_batch};
use shared::comments::{self, Comment};
use shared::env::EnvError;
use shared::linkbacks::fetch::{FetchError, SafeFetcher};
use shared::linkbacks::mention::{self, Mention, QUEUED};
use shared::linkbacks::{source, SourceAccess};
use shared::ports::{Clock, Condition, Item, ItemChange, ItemStore, StoreError};
use shared::site::build::Pages;
use shared::wiring::Parts;
use tracing::{info, warn};

pub struct Deps {
    pub records: Arc<dyn ItemStore>,
    pub pages: Pages,
    pub clock: Arc<dyn Clock>,
    pub access: SourceAccess,
    /// Made on first use: its User-Agent names the site, from `site.toml`.
    fetcher: OnceLock<SafeFetcher>,
}

impl Deps {
    pub fn build(parts: &dyn Parts) -> Result<Self, EnvError> {
        Ok(Self {
            records: parts.records()?,
            pages: parts.pages()?,
            clock: parts.clock(),
            access: parts.source_access()?,
            fetcher: OnceLock::new(),
        })
    }

    async fn fetcher(&self) -> &SafeFetcher {
        if let Some(f) = self.fetcher.get() {
            return f;
        }
        let base = match self.pages.config().await {
            Ok(c) => c.base_url,
            Err(_) => "this site".into(),
        };
        self.fetcher.get_or_init(|| self.access.fetcher(&base))
    }
}

/// Mentions checked at once: each waits on another site for up to five seconds.
const AT_ONCE: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the invocation is not a DynamoDB stream batch: {0}")]
    BadInvocation(String),
}

impl From<VerifyError> for Diagnostic {
    fn from(e: VerifyError) -> Diagnostic {
        let error_type = match &e {
            VerifyError::Store(StoreError::Unavailable(_)) => "VerifyError::StoreUnavailable",
            VerifyError::Store(StoreError::Corrupt(_)) => "VerifyError::StoreCorrupt",
            VerifyError::Store(StoreError::ConditionFailed(_)) => "VerifyError::ConditionFailed",
            VerifyError::BadInvocation(_) => "VerifyError::BadInvocation",
        };
        Diagnostic {
            error_type: error_type.into(),
            error_message: e.to_string(),
        }
    }
}

/// One invocation: a DynamoDB stream batch. Answers with what was done.
pub async fn on_invocation(deps: &Deps, payload: Value) -> Result<Value, VerifyError> {
    let stream = stream_batch(payload).map_err(VerifyError::BadInvocation)?;
    let changes = changes_from_stream(&stream)?;
    let outcomes = on_changes(deps, &changes).await?;
    Ok(json!({ "verified": outcomes.len() }))
}

/// Mentions queued in these changes (other records are passed over silently; a mention
/// record that cannot be read is skipped, said at warn level).
pub fn queued(changes: &[ItemChange]) -> Vec<Mention> {
    let field = |i: &Item, name: &str| i.get(name).and_then(Value::as_str).map(str::to_string);
    changes
        .iter()
        .filter_map(|c| c.new.as_ref())
        .filter(|i| {
            field(i, "type").as_deref() == Some("mention")
                && field(i, "status").as_deref() == Some(QUEUED)
        })
        .filter_map(|i| {
            Mention::from_item(i)
                .inspect_err(|e| warn!(error = %e, "stream record skipped: not a readable mention"))
                .ok()
        })
        .collect()
}

/// What verification did with a mention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored as a new pending mention (spam-verify takes it from there).
    Received,
    /// A mention already stored, updated in place.
    Updated,
    /// Taken off the page (or never shown): the source is gone or no longer links.
    TakenDown(String),
    /// Not shown: the source could not be used (refused address, not a page, no link).
    Refused(String),
}

impl Outcome {
    fn state(&self) -> String {
        match self {
            Outcome::Received => "received".into(),
            Outcome::Updated => "updated".into(),
            Outcome::TakenDown(why) => format!("taken down: {why}"),
            Outcome::Refused(why) => format!("refused: {why}"),
        }
    }
}

/// Verify every queued mention in these changes, a few at once.
pub async fn on_changes(
    deps: &Deps,
    changes: &[ItemChange],
) -> Result<Vec<(String, Outcome)>, VerifyError> {
    verify_all(deps, queued(changes)).await
}

/// Verify these mentions, a few at once.
pub async fn verify_all(
    deps: &Deps,
    mentions: Vec<Mention>,
) -> Result<Vec<(String, Outcome)>, VerifyError> {
    if mentions.is_empty() {
        return Ok(Vec::new());
    }
    let fetcher = deps.fetcher().await;
    stream::iter(mentions)
        .map(|m| async move {
            let outcome = verify(deps, fetcher, &m).await?;
            Ok::<_, VerifyError>((m.id.clone(), outcome))
        })
        .buffer_unordered(AT_ONCE)
        .try_collect()
        .await
}

/// Verify one mention and record what was found.
pub async fn verify(
    deps: &Deps,
    fetcher: &SafeFetcher,
    m: &Mention,
) -> Result<Outcome, VerifyError> {
    let store = deps.records.as_ref();
    let existing = comments::get(store, &m.post, &m.id).await?;
    let outcome = match fetcher.fetch(&m.source).await {
        Ok(page) => match source::inspect(&page.body, &page.content_type, &page.url, &m.target) {
            Some(summary) => {
                let now = deps.clock.now();
                let comment = mention::as_comment(m, &summary, existing.as_ref(), now);
                store_comment(store, &comment, existing.as_ref()).await?
            }
            None => {
                take_down(
                    store,
                    existing.as_ref(),
                    "the source does not link to the post",
                )
                .await?
            }
        },
        Err(FetchError::Gone) => {
            take_down(store, existing.as_ref(), "the source is gone (410)").await?
        }
        Err(FetchError::Status(404)) => {
            take_down(store, existing.as_ref(), "the source is not found (404)").await?
        }
        Err(e) => Outcome::Refused(e.to_string()),
    };
    info!(mention = %m.id, post = %m.post, outcome = %outcome.state(), "mention verified");
    record_state(store, m, &outcome, deps.clock.now()).await?;
    Ok(outcome)
}

async fn store_comment(
    store: &dyn ItemStore,
    comment: &Comment,
    existing: Option<&Comment>,
) -> Result<Outcome, StoreError> {
    let condition = match existing {
        // In place, unless a moderator changed its status meanwhile (their word wins).
        Some(old) => Condition::Equals {
            attr: "status".into(),
            value: json!(old.status.as_str()),
        },
        None => Condition::NotExists,
    };
    if existing == Some(comment) {
        return Ok(Outcome::Updated);
    }
    let written = store.put(comment.to_item()?, condition).await?;
    Ok(match (existing, written) {
        (None, true) => Outcome::Received,
        (None, false) | (Some(_), _) => Outcome::Updated,
    })
}

async fn take_down(
    store: &dyn ItemStore,
    existing: Option<&Comment>,
    why: &str,
) -> Result<Outcome, StoreError> {
    match existing {
        Some(c) => {
            comments::delete(store, c).await?;
            Ok(Outcome::TakenDown(why.into()))
        }
        None => Ok(Outcome::Refused(why.into())),
    }
}

/// Write what was found on the mention record, unless the mention was sent again meanwhile
/// (then that newer one is verified in its turn).
async fn record_state(
    store: &dyn ItemStore,
    m: &Mention,
    outcome: &Outcome,
    now: time::OffsetDateTime,
) -> Result<(), StoreError> {
    let mut done = m.clone();
    done.status = outcome.state();
    store
        .put(
            done.to_item(now)?,
            Condition::Equals {
                attr: "received".into(),
                value: json!(m.received),
            },
        )
        .await?;
    Ok(())
}
