//! Moderation: signed, expiring, single-use links mailed to the moderator, and the actions
//! they (or the command line) take. A link only opens a confirmation page; the action is a
//! POST, because mail scanners follow links. A queue link opens the list of every held
//! comment, where the moderator acts on several at once (also by POST).

use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use crate::comments;
use crate::comments::filter;
use crate::comments::{Comment, CommentStatus};
use crate::keys;
use crate::ports::{Condition, Item, ItemStore, StoreError};
use crate::signing::ModerationKey;

/// How long a moderation link works.
pub const LINK_LIFETIME_SECS: i64 = 7 * 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Approve,
    Spam,
    Delete,
}

impl Action {
    pub const ALL: [Action; 3] = [Action::Approve, Action::Spam, Action::Delete];

    /// The action a short name names.
    pub fn from_code(code: &str) -> Option<Action> {
        Self::ALL.into_iter().find(|a| a.code() == code)
    }

    /// A short name for URLs (`approve`, `spam`, `delete`).
    pub fn code(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Spam => "spam",
            Self::Delete => "delete",
        }
    }

    pub fn verb(self) -> &'static str {
        match self {
            Self::Approve => "Approve",
            Self::Spam => "Mark as spam",
            Self::Delete => "Delete",
        }
    }
}

/// What a moderation link carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    #[serde(rename = "a")]
    pub action: Action,
    #[serde(rename = "p")]
    pub post: String,
    #[serde(rename = "i")]
    pub id: String,
    #[serde(rename = "e")]
    pub expires: i64,
    #[serde(rename = "n")]
    pub nonce: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LinkError {
    #[error("this moderation link is not valid (it may have been cut short by the mail program)")]
    Invalid,
    #[error("this moderation link has expired; use the command line or a newer mail")]
    Expired,
    #[error("this moderation link has already been used")]
    Used,
}

impl LinkError {
    pub fn status(&self) -> u16 {
        match self {
            Self::Invalid => 400,
            Self::Expired | Self::Used => 410,
        }
    }
}

const LABEL: &str = "moderate";

pub fn make_link(
    key: &ModerationKey,
    action: Action,
    comment: &Comment,
    now: OffsetDateTime,
) -> String {
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let link = Link {
        action,
        post: comment.post.clone(),
        id: comment.id.clone(),
        expires: now.unix_timestamp() + LINK_LIFETIME_SECS,
        nonce: hex::encode(nonce),
    };
    key.sign(
        LABEL,
        &serde_json::to_vec(&link).expect("a link serialises"),
    )
}

/// Check a link's signature and age (not yet whether it was used).
pub fn read_link(key: &ModerationKey, token: &str, now: OffsetDateTime) -> Result<Link, LinkError> {
    let payload = key.verify(LABEL, token.trim()).ok_or(LinkError::Invalid)?;
    let link: Link = serde_json::from_slice(&payload).map_err(|_| LinkError::Invalid)?;
    if link.expires < now.unix_timestamp() {
        return Err(LinkError::Expired);
    }
    Ok(link)
}

/// The label of the moderator's queue link, apart from [`LABEL`]: a per-comment token is
/// never a queue token, nor the other way round.
const QUEUE_LABEL: &str = "moderate-queue";

/// What a queue link carries: only when it stops working.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct QueueLink {
    #[serde(rename = "e")]
    expires: i64,
    #[serde(rename = "n")]
    nonce: String,
}

/// A signed link to the list of held comments (`GET /moderate/queue?token=…`), mailed with
/// every held comment. Unlike a per-comment link it is not single-use: the page is a list,
/// and each action on it is a POST carrying this token, so it works any number of times
/// until it expires ([`LINK_LIFETIME_SECS`] after `now`).
pub fn make_queue_link(key: &ModerationKey, now: OffsetDateTime) -> String {
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let link = QueueLink {
        expires: now.unix_timestamp() + LINK_LIFETIME_SECS,
        nonce: hex::encode(nonce),
    };
    key.sign(
        QUEUE_LABEL,
        &serde_json::to_vec(&link).expect("a link serialises"),
    )
}

/// Check a queue link's signature and age. It may be used again until it expires.
pub fn read_queue_link(
    key: &ModerationKey,
    token: &str,
    now: OffsetDateTime,
) -> Result<(), LinkError> {
    let payload = key
        .verify(QUEUE_LABEL, token.trim())
        .ok_or(LinkError::Invalid)?;
    let link: QueueLink = serde_json::from_slice(&payload).map_err(|_| LinkError::Invalid)?;
    if link.expires < now.unix_timestamp() {
        return Err(LinkError::Expired);
    }
    Ok(())
}

/// Claim a link for acting; `Err(Used)` if it was used before. The marker says `acting`
/// until the action is done, then `used`: a link whose use failed half-way (the moderator
/// was told to try again, whatever the store had already applied) can be used again, and
/// the action, safe to repeat, is finished; a link whose action was done cannot. The
/// record expires with the link.
pub async fn consume(
    store: &dyn ItemStore,
    link: &Link,
) -> Result<Result<(), LinkError>, StoreError> {
    let claimed = store
        .put(
            modlink_marker(link, MODLINK_ACTING),
            Condition::AbsentOrEquals {
                attr: "state".into(),
                value: MODLINK_ACTING.into(),
            },
        )
        .await?;
    Ok(if claimed {
        Ok(())
    } else {
        Err(LinkError::Used)
    })
}

const MODLINK_ACTING: &str = "acting";
const MODLINK_USED: &str = "used";

fn modlink_marker(link: &Link, state: &str) -> Item {
    let (pk, sk) = keys::modlink_used(&link.nonce);
    let item = json!({"pk": pk, "sk": sk, "state": state, "expires_at": link.expires + 86_400});
    item.as_object().cloned().unwrap_or_default()
}

/// Use a link: claim it, act, then mark it used. If acting fails (the store is not
/// answering), the claim stays open, so the moderator's "try again" works with the same
/// link.
pub async fn use_link(
    store: &dyn ItemStore,
    link: &Link,
    now: OffsetDateTime,
) -> Result<Result<Outcome, LinkError>, StoreError> {
    if let Err(used) = consume(store, link).await? {
        return Ok(Err(used));
    }
    let outcome = apply(store, &link.post, &link.id, link.action, now).await?;
    store
        .put(modlink_marker(link, MODLINK_USED), Condition::Always)
        .await?;
    Ok(Ok(outcome))
}

/// What an action did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Already in that state, or changed by someone else meanwhile.
    NoChange,
    Gone,
}

/// A moderator's action. Each one that changes something also teaches the spam filter
/// (an approval as "not spam"; marking as spam, or deleting, as "spam").
pub async fn apply(
    store: &dyn ItemStore,
    post: &str,
    id: &str,
    action: Action,
    now: OffsetDateTime,
) -> Result<Outcome, StoreError> {
    match comments::get(store, post, id).await? {
        Some(comment) => apply_to(store, comment, action, now).await,
        None => Ok(Outcome::Gone),
    }
}

/// [`apply`] to a comment already read (the status it was read with is the condition of
/// the write, so a moderator acting meanwhile wins).
pub async fn apply_to(
    store: &dyn ItemStore,
    comment: Comment,
    action: Action,
    now: OffsetDateTime,
) -> Result<Outcome, StoreError> {
    // Each action is one conditional write plus follow-ups that are safe to repeat (the
    // filter's example and the author's approval are keyed by the comment). An action
    // that already took effect (a retry after a failure half-way, or a second moderator)
    // finishes its follow-ups, and is reported as no change.
    let spam = action != Action::Approve;
    let to = match action {
        Action::Delete => {
            // The example first: once the comment is gone, nothing would say what it was.
            filter::record_verdict(store, &comment, spam, now).await?;
            let deleted = comments::delete(store, &comment).await?;
            return Ok(if deleted {
                Outcome::Done
            } else {
                Outcome::NoChange
            });
        }
        Action::Approve => CommentStatus::Approved,
        Action::Spam => CommentStatus::Spam,
    };
    let already = comment.status == to;
    if !already && !comments::set_status(store, &comment, to).await? {
        return Ok(Outcome::NoChange);
    }
    if action == Action::Approve {
        comments::count_moderator_approval(store, &comment).await?;
    }
    filter::record_verdict(store, &comment, spam, now).await?;
    Ok(if already {
        Outcome::NoChange
    } else {
        Outcome::Done
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn held() -> Comment {
        Comment {
            id: "abc".into(),
            post: "p".into(),
            parent: None,
            author: "A".into(),
            website: None,
            body_md: "b".into(),
            body_html: crate::markdown::SafeHtml::paragraph("b"),
            status: CommentStatus::Held,
            kind: Default::default(),
            created: "2026-11-20T10:00:00Z".into(),
            email_hash: None,
            ip_hash: None,
            spam_rules: vec![],
        }
    }

    #[test]
    fn links_are_signed_and_expire() {
        let s = ModerationKey::new(&[5u8; 32]).unwrap();
        let now = datetime!(2026-11-20 10:00 UTC);
        let c = held();
        let t = make_link(&s, Action::Approve, &c, now);
        let l = read_link(&s, &t, now).unwrap();
        assert_eq!(
            (l.action, l.post.as_str(), l.id.as_str()),
            (Action::Approve, "p", "abc")
        );
        assert_eq!(
            read_link(&s, &t, now + time::Duration::days(8)),
            Err(LinkError::Expired)
        );
        assert_eq!(
            read_link(&s, &t[..t.len() - 2], now),
            Err(LinkError::Invalid)
        );
        assert_eq!(
            read_link(&ModerationKey::new(&[6u8; 32]).unwrap(), &t, now),
            Err(LinkError::Invalid)
        );
        assert_ne!(
            make_link(&s, Action::Approve, &c, now),
            t,
            "each link has its own nonce"
        );
    }

    #[test]
    fn queue_links_are_their_own_kind_and_expire() {
        let s = ModerationKey::new(&[5u8; 32]).unwrap();
        let now = datetime!(2026-11-20 10:00 UTC);
        let q = make_queue_link(&s, now);
        assert_eq!(read_queue_link(&s, &q, now), Ok(()));
        assert_eq!(
            read_queue_link(&s, &q, now + time::Duration::days(6)),
            Ok(()),
            "used again and again until it expires"
        );
        assert_eq!(
            read_queue_link(&s, &q, now + time::Duration::days(8)),
            Err(LinkError::Expired)
        );
        assert_eq!(
            read_queue_link(&s, &q[..q.len() - 2], now),
            Err(LinkError::Invalid)
        );
        assert_eq!(
            read_queue_link(&ModerationKey::new(&[6u8; 32]).unwrap(), &q, now),
            Err(LinkError::Invalid)
        );
        assert_eq!(
            read_link(&s, &q, now),
            Err(LinkError::Invalid),
            "a queue token is no per-comment token"
        );
        let c = held();
        let t = make_link(&s, Action::Approve, &c, now);
        assert_eq!(
            read_queue_link(&s, &t, now),
            Err(LinkError::Invalid),
            "a per-comment token is no queue token"
        );
    }
}
