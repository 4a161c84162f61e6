//! Second-layer spam verification. Takes record changes (the DynamoDB stream on AWS, the
//! embedded store's change feed locally), scores each comment that has just become pending,
//! stores the verdict with the rules that fired, and mails the moderator about held ones.
//! Also re-scores a comment on demand (`{"rescore": "<comment id>"}`).

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use lambda_runtime::Diagnostic;
use serde_json::{json, Value};
use shared::adapters::aws::{changes_from_stream, event_shape};
use shared::comments;
use shared::comments::classifier::Model;
use shared::comments::filter::{self, SpamSettings};
use shared::comments::moderation::{self, Action};
use shared::comments::spam::{self, Blocklist, History, Statistical, Submission};
use shared::comments::{Comment, CommentKind, CommentStatus};
use shared::env::EnvError;
use shared::http::fields::{ascii_url, is_bidi_or_invisible, is_noncharacter};
use shared::linkbacks::mention::LinkbackSettings;
use shared::mail::Mail;
use shared::ports::{Clock, ItemChange, ItemStore, Mailer, StoreError};
use shared::signing::{IdentityKey, ModerationKey};
use shared::site::build::{BuildError, Pages};
use shared::wiring::Parts;
use tracing::{info, warn};

pub struct Deps {
    pub records: Arc<dyn ItemStore>,
    pub pages: Pages,
    pub mailer: Arc<dyn Mailer>,
    /// Body hashes, for the duplicate check.
    pub identity: IdentityKey,
    /// The moderator's links.
    pub moderation: ModerationKey,
    pub clock: Arc<dyn Clock>,
    pub mail_from: String,
    pub moderator: String,
    /// The site's spam model (the shipped prior taught the moderator's verdicts), kept for
    /// [`shared::site::pages::KEEP_FOR`]: rebuilding it reads every stored verdict.
    pub model: ModelCache,
}

/// The site model and when it was made; made on first use.
#[derive(Default)]
pub struct ModelCache(std::sync::Mutex<Option<(std::time::Instant, Arc<Model>)>>);

impl ModelCache {
    async fn get(&self, deps: &Deps) -> Result<Arc<Model>, StoreError> {
        let kept = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some((at, model)) = kept {
            if at.elapsed() < shared::site::pages::KEEP_FOR {
                return Ok(model);
            }
        }
        let examples = filter::examples(deps.records.as_ref(), deps.clock.now()).await?;
        let model = Arc::new(filter::site_model(&examples));
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((std::time::Instant::now(), model.clone()));
        Ok(model)
    }
}

impl Deps {
    pub fn build(parts: &dyn Parts) -> Result<Self, EnvError> {
        Ok(Self {
            records: parts.records()?,
            pages: parts.pages()?,
            mailer: parts.mailer()?,
            identity: parts.identity_key()?,
            moderation: parts.moderation_key()?,
            clock: parts.clock(),
            mail_from: parts.mail_from()?,
            moderator: parts.moderator()?,
            model: ModelCache::default(),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("comment {0} not found")]
    NotFound(String),
    /// The moderator could not be told about a held comment: the batch is retried (and
    /// dead-lettered past the retries) rather than the comment held unseen.
    #[error("the moderator could not be notified: {0}")]
    Notify(String),
    #[error("the invocation is neither a DynamoDB stream batch nor {{\"rescore\": \"<comment id>\"}}: {0}")]
    BadInvocation(String),
}

impl VerifyError {
    /// A stable name for the kind of failure: the `errorType` Lambda reports (CloudWatch,
    /// the dead-letter queue), so alarms and searches can tell failures apart.
    pub fn error_type(&self) -> &'static str {
        match self {
            VerifyError::Store(StoreError::Unavailable(_)) => "VerifyError::StoreUnavailable",
            VerifyError::Store(StoreError::Corrupt(_)) => "VerifyError::StoreCorrupt",
            VerifyError::Store(StoreError::ConditionFailed(_)) => "VerifyError::ConditionFailed",
            VerifyError::NotFound(_) => "VerifyError::NotFound",
            VerifyError::Notify(_) => "VerifyError::Notify",
            VerifyError::BadInvocation(_) => "VerifyError::BadInvocation",
        }
    }
}

/// What the runtime posts to Lambda for a failed invocation: the variant's name and the
/// message (instead of the type name of a boxed error).
impl From<VerifyError> for Diagnostic {
    fn from(e: VerifyError) -> Diagnostic {
        Diagnostic {
            error_type: e.error_type().into(),
            error_message: e.to_string(),
        }
    }
}

/// One invocation of the function: a DynamoDB stream batch, or a request to score one
/// comment again (`{"rescore": "<comment id>"}`, e.g. after the blocklist changed:
/// `aws lambda invoke --payload '{"rescore": "…"}'`). Answers with what was done.
pub async fn on_invocation(deps: &Deps, payload: Value) -> Result<Value, VerifyError> {
    if let Some(id) = payload.get("rescore").and_then(Value::as_str) {
        let status = rescore(deps, id).await?;
        return Ok(json!({ "id": id, "status": status.as_str() }));
    }
    let source = payload
        .pointer("/Records/0/eventSource")
        .and_then(Value::as_str);
    if source != Some("aws:dynamodb") {
        let source = source.map(|s| s.chars().take(40).collect::<String>());
        let shape = event_shape(&payload);
        warn!(event = %shape, "event not ours: not a DynamoDB stream batch or a re-score request");
        let what = match source {
            Some(s) => format!("records from {s}"),
            None => format!("an event: {shape}"),
        };
        return Err(VerifyError::BadInvocation(what));
    }
    let shape = event_shape(&payload);
    let stream: StreamEvent = serde_json::from_value(payload).map_err(|e| {
        warn!(event = %shape, error = %e, "event not ours: not a DynamoDB stream batch");
        VerifyError::BadInvocation(e.to_string())
    })?;
    let changes = changes_from_stream(&stream)?;
    let verdicts = on_changes(deps, &changes).await?;
    Ok(json!({ "verified": verdicts.len() }))
}

/// Comments that have just become pending in these changes (locally the change feed holds
/// every record, so other records are passed over silently). A comment record that cannot
/// be read is skipped, said at warn level.
pub fn newly_pending(changes: &[ItemChange]) -> Vec<Comment> {
    let field = |i: &Option<shared::ports::Item>, name: &str| {
        i.as_ref()
            .and_then(|i| i.get(name).and_then(Value::as_str).map(str::to_string))
    };
    changes
        .iter()
        .filter(|c| {
            field(&c.new, "type").as_deref() == Some("comment")
                && field(&c.new, "status").as_deref() == Some("pending")
                && field(&c.old, "status").as_deref() != Some("pending")
        })
        .filter_map(|c| {
            let item = c.new.as_ref()?;
            Comment::from_item(item)
                .inspect_err(|e| {
                    warn!(
                        comment = field(&c.new, "id").as_deref().unwrap_or("(none)"),
                        error = %e,
                        "stream record skipped: not a readable comment"
                    );
                })
                .ok()
        })
        .collect()
}

/// Score every newly pending comment; returns the verdicts.
pub async fn on_changes(
    deps: &Deps,
    changes: &[ItemChange],
) -> Result<Vec<(String, CommentStatus)>, VerifyError> {
    verify_all(deps, newly_pending(changes)).await
}

/// Score these comments (the blocklist read once for all).
pub async fn verify_all(
    deps: &Deps,
    pending: Vec<Comment>,
) -> Result<Vec<(String, CommentStatus)>, VerifyError> {
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    let rules = load_rules(deps).await?;
    let mut out = Vec::with_capacity(pending.len());
    for c in pending {
        out.push((c.id.clone(), verify_one(deps, &rules, c).await?));
    }
    Ok(out)
}

/// Score one comment again, whatever its status (e.g. after the blocklist changed).
pub async fn rescore(deps: &Deps, id: &str) -> Result<CommentStatus, VerifyError> {
    let comment = comments::find(deps.records.as_ref(), id)
        .await?
        .ok_or_else(|| VerifyError::NotFound(id.into()))?;
    let rules = load_rules(deps).await?;
    verify_one(deps, &rules, comment).await
}

/// What every comment of a batch is scored with, read once per batch.
struct Rules {
    blocklist: Blocklist,
    model: Arc<Model>,
    settings: SpamSettings,
    linkbacks: LinkbackSettings,
}

async fn load_rules(deps: &Deps) -> Result<Rules, VerifyError> {
    let (blocklist, model, config) =
        tokio::try_join!(deps.pages.blocklist(), deps.model.get(deps), async {
            match deps.pages.config().await {
                Ok(config) => Ok((config.spam, config.linkbacks)),
                Err(BuildError::Store(e)) => Err(e),
                // A broken site.toml is the site owner's to mend; comments are still scored.
                Err(e) => {
                    warn!(error = %e, "site.toml unusable: default spam thresholds");
                    Ok(Default::default())
                }
            }
        },)?;
    let (settings, linkbacks) = config;
    Ok(Rules {
        blocklist,
        model,
        settings,
        linkbacks,
    })
}

async fn verify_one(
    deps: &Deps,
    rules: &Rules,
    comment: Comment,
) -> Result<CommentStatus, VerifyError> {
    let store = deps.records.as_ref();
    let (duplicate, trusted_author) = tokio::try_join!(
        comments::is_duplicate(store, &deps.identity, &comment, deps.clock.now()),
        comments::is_trusted(store, &comment),
    )?;
    let verdict = spam::verify(
        &Submission {
            author: &comment.author,
            website: comment.website.as_deref(),
            body: &comment.body_md,
        },
        &rules.blocklist,
        History {
            duplicate,
            trusted_author,
        },
        Some(&Statistical {
            model: &rules.model,
            spam_at: rules.settings.spam_at,
            approve_below: rules.settings.approve_below,
        }),
    );
    let mut verdict = verdict;
    if comment.kind == CommentKind::Pingback {
        linkback_policy(&mut verdict, &comment, &rules.linkbacks);
    }
    let mut scored = comment.clone();
    scored.spam_rules = verdict.hits.clone();
    // A held comment is mailed to the moderator before it is stored as held: if the mail
    // fails, the batch fails and is delivered again (the comment still pending), so no
    // comment waits unseen. A retry after a write that succeeded finds the comment no
    // longer pending and does nothing, so a moderator gets a second mail only when the
    // write itself failed.
    if verdict.status == CommentStatus::Held {
        let current = comments::get(store, &comment.post, &comment.id).await?;
        if current.is_none_or(|c| c.status != comment.status) {
            info!(comment = %comment.id, "already scored (a batch delivered again)");
            return Ok(verdict.status);
        }
        notify_moderator(deps, &scored)
            .await
            .map_err(|e| VerifyError::Notify(e.to_string()))?;
    }
    // One write: the verdict and the rules behind it, conditional on the status the comment
    // was read with, so a moderator acting meanwhile wins.
    let moved = comments::set_status(store, &scored, verdict.status).await?;
    info!(comment = %comment.id, post = %comment.post, verdict = verdict.status.as_str(), score = verdict.score, rules = ?verdict.hits.iter().map(|h| h.rule.as_str()).collect::<Vec<_>>(), moved, "comment verified");
    Ok(verdict.status)
}

/// Pingbacks and Webmentions are held for a moderator (nearly all on the open web are
/// spam), unless `site.toml` approves the source's domain; spam stays spam either way.
fn linkback_policy(verdict: &mut spam::Verdict, c: &Comment, settings: &LinkbackSettings) {
    if verdict.status == CommentStatus::Spam {
        return;
    }
    let source = c.website.as_deref().unwrap_or("");
    if settings.approves(source) {
        verdict.status = CommentStatus::Approved;
        verdict.hits.push(spam::RuleHit {
            rule: "linkback-approved-domain".into(),
            points: 0,
            detail: "the source's domain is in [linkbacks] approve_from".into(),
        });
    } else if verdict.status == CommentStatus::Approved {
        verdict.status = CommentStatus::Held;
        verdict.hits.push(spam::RuleHit {
            rule: "linkback".into(),
            points: 0,
            detail: "linkbacks wait for a moderator unless [linkbacks] approve_from lists the source's domain".into(),
        });
    }
}

async fn notify_moderator(
    deps: &Deps,
    c: &Comment,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let config = deps.pages.config().await?;
    let title = match deps.pages.post(&c.post).await? {
        Some(p) => p.title.clone(),
        None => c.post.clone(),
    };
    let now = deps.clock.now();
    let what = match c.kind {
        CommentKind::Comment => "comment",
        CommentKind::Pingback => {
            "linkback (a pingback or Webmention: another site says it links to this post)"
        }
    };
    let link = |a: Action| {
        format!(
            "{}/moderate?token={}",
            config.api_url,
            moderation::make_link(&deps.moderation, a, c, now)
        )
    };
    let rules = c
        .spam_rules
        .iter()
        .map(|h| format!("  - {} ({:+}): {}", h.rule, h.points, visible(&h.detail)))
        .collect::<Vec<_>>()
        .join("\n");
    let website = match c.website.as_deref() {
        None => "(none)".to_string(),
        Some(w) => match ascii_url(w) {
            Some(ascii) => ascii,
            None => format!("{} (not a valid web address)", visible(w)),
        },
    };
    // The site's own links first; everything the visitor typed after them, labelled and
    // quoted, so a comment cannot pass off a link of its own as one of these.
    let queue_link = format!(
        "{}/moderate/queue?token={}",
        config.api_url,
        moderation::make_queue_link(&deps.moderation, now)
    );
    let text = format!(
        "A {what} on “{title}” is waiting for you.\n\nApprove: {approve}\n\nMark as spam: {spam}\n\nDelete: {delete}\n\nEach link opens a page where you confirm; links work once and expire in 7 days.\n\nAll comments waiting for you: {queue}\n(a list where you approve, mark as spam or delete several at once; this link works until it expires in 7 days)\n\nOn the command line: site comments approve {id}\n\nWhy it was held:\n{rules}\n\nPosted: {created}\n\n----- What the visitor sent (their words, not the site's: the only moderation links are the ones above) -----\n\nName, as given by the visitor: {author}\nWebsite, as given by the visitor: {website}\nComment, quoted:\n{body}\n\n----- End of the visitor's text -----\n",
        author = visible(&c.author),
        created = c.created,
        body = quoted(&c.body_md),
        approve = link(Action::Approve),
        spam = link(Action::Spam),
        delete = link(Action::Delete),
        queue = queue_link,
        id = c.id,
        what = what,
    );
    let mail = Mail {
        from: deps.mail_from.clone(),
        to: deps.moderator.clone(),
        subject: match c.kind {
            CommentKind::Comment => format!("Comment to moderate on “{title}”"),
            CommentKind::Pingback => format!("Linkback to moderate on “{title}”"),
        },
        text,
        unsubscribe_url: None,
    };
    deps.mailer
        .send(&mail.to_outgoing(now, &format!("moderate-{}-{}", c.id, now.unix_timestamp())))
        .await?;
    Ok(())
}

/// The visitor's text for the moderator's mail, made visible: control characters (line
/// breaks included: callers split lines first), line and paragraph separators, bidi and
/// invisible characters and noncharacters written as `\u{…}`, so none can hide or reorder
/// what the moderator reads, or start a line of its own.
fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if (c.is_control() && c != '\t')
            || matches!(c, '\u{2028}' | '\u{2029}')
            || is_bidi_or_invisible(c)
            || is_noncharacter(c)
        {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// A comment's text quoted: every line starts with "> ".
fn quoted(body: &str) -> String {
    body.replace("\r\n", "\n")
        .split('\n')
        .map(|l| format!("> {}", visible(l)))
        .collect::<Vec<_>>()
        .join("\n")
}
