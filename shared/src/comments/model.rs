//! Domain repositories on the records store ([`ItemStore`]): written once, used with
//! DynamoDB on AWS and a fjall database locally. The single-table design is documented in
//! `docs/architecture.md`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::markdown::SafeHtml;
use crate::ports::{Item, ItemStore, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommentStatus {
    Pending,
    Approved,
    Held,
    Spam,
}

impl CommentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Held => "held",
            Self::Spam => "spam",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CommentKind {
    #[default]
    Comment,
    Pingback,
}

/// A comment (or pingback) on a post. E-mail addresses and IPs are never kept in the clear:
/// only keyed hashes, enough to recognise a returning author and to rate-limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    pub id: String,
    pub post: String,
    #[serde(default)]
    pub parent: Option<String>,
    pub author: String,
    #[serde(default)]
    pub website: Option<String>,
    pub body_md: String,
    /// Sanitised: made only by the sanitiser or the text escaper, and checked again when
    /// read back from the store (see [`SafeHtml`]); the renderer inserts it as is.
    pub body_html: SafeHtml,
    pub status: CommentStatus,
    #[serde(default)]
    pub kind: CommentKind,
    /// RFC 3339, UTC.
    pub created: String,
    #[serde(default)]
    pub email_hash: Option<String>,
    #[serde(default)]
    pub ip_hash: Option<String>,
    /// The spam rules that fired, with the verdict (explainable moderation).
    #[serde(default)]
    pub spam_rules: Vec<RuleHit>,
}

/// One spam rule that fired on a comment, kept with it: its name, its points, and what it
/// saw (explainable moderation; the rules themselves are in [`crate::comments::spam`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleHit {
    pub rule: String,
    pub points: i32,
    pub detail: String,
}

pub use crate::keys::{comment_sk, post_pk, COMMENT_SK_PREFIX};

impl Comment {
    /// The record, with its keys and its place in the status index.
    pub fn to_item(&self) -> Result<Item, StoreError> {
        let mut item =
            match serde_json::to_value(self).map_err(|e| StoreError::Corrupt(e.to_string()))? {
                Value::Object(m) => m,
                _ => unreachable!("a struct serialises to an object"),
            };
        item.retain(|_, v| !v.is_null());
        item.insert("pk".into(), post_pk(&self.post).into());
        item.insert("sk".into(), comment_sk(&self.id).into());
        item.insert(
            "gsi1pk".into(),
            crate::keys::comments_by_status(self.status.as_str()).into(),
        );
        item.insert(
            "gsi1sk".into(),
            format!("{}#{}", self.created, self.id).into(),
        );
        item.insert("type".into(), "comment".into());
        Ok(item)
    }

    pub fn from_item(item: &Item) -> Result<Self, StoreError> {
        serde_json::from_value(Value::Object(item.clone()))
            .map_err(|e| StoreError::Corrupt(format!("comment record: {e}")))
    }
}

/// Approved comments and pingbacks of a post, oldest first.
pub async fn approved_comments(
    store: &dyn ItemStore,
    slug: &str,
) -> Result<Vec<Comment>, StoreError> {
    let items = store.query(&post_pk(slug), COMMENT_SK_PREFIX).await?;
    let mut out = Vec::with_capacity(items.len());
    for item in &items {
        if item.get("status").and_then(Value::as_str) == Some("approved") {
            out.push(Comment::from_item(item)?);
        }
    }
    out.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
    Ok(out)
}

/// Posts whose published comments a set of record changes affects: a comment became
/// approved, an approved one changed or was deleted.
pub fn posts_with_changed_comments(
    changes: &[crate::ports::ItemChange],
) -> std::collections::BTreeSet<String> {
    let approved = |i: &Option<Item>| {
        i.as_ref().is_some_and(|i| {
            i.get("type").and_then(Value::as_str) == Some("comment")
                && i.get("status").and_then(Value::as_str) == Some("approved")
        })
    };
    let post = |i: &Option<Item>| {
        i.as_ref()
            .and_then(|i| i.get("post").and_then(Value::as_str))
            .map(str::to_string)
    };
    changes
        .iter()
        .filter(|c| (approved(&c.old) || approved(&c.new)) && c.old != c.new)
        .filter_map(|c| post(&c.new).or_else(|| post(&c.old)))
        .collect()
}
