//! `site comments …`: list and moderate comments from the command line, on the local
//! database or (with `--aws`) on the DynamoDB table. On AWS the change reaches the renderer
//! through the stream; locally the command re-renders the post itself.

use std::sync::Arc;

use shared::comments::moderation::{self, Action, Outcome};
use shared::comments::CommentStatus;
use shared::ports::ItemStore;

pub fn parse_status(s: &str) -> Result<CommentStatus, String> {
    match s {
        "pending" => Ok(CommentStatus::Pending),
        "held" => Ok(CommentStatus::Held),
        "approved" => Ok(CommentStatus::Approved),
        "spam" => Ok(CommentStatus::Spam),
        _ => Err(format!(
            "unknown status `{s}`: pending, held, approved or spam"
        )),
    }
}

/// One line a comment: id, post, status, date, author, the rules that fired, the start of
/// the text. No e-mail addresses or IPs (the records have none).
pub async fn list(
    store: &dyn ItemStore,
    status: CommentStatus,
) -> Result<String, Box<dyn std::error::Error>> {
    let mut out = String::new();
    for c in shared::comments::with_status(store, status).await? {
        let rules: Vec<&str> = c.spam_rules.iter().map(|r| r.rule.as_str()).collect();
        let text: String = c
            .body_md
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(60)
            .collect();
        out.push_str(&format!(
            "{}  {}  {}  {}  {}  [{}]  {}\n",
            c.id,
            c.post,
            c.status.as_str(),
            c.created,
            c.author,
            rules.join(","),
            text
        ));
    }
    if out.is_empty() {
        out = format!("no {} comments\n", status.as_str());
    }
    Ok(out)
}

/// Apply an action to a comment found by id; returns its post (to re-render) and a message.
pub async fn act(
    store: &Arc<dyn ItemStore>,
    id: &str,
    action: Action,
) -> Result<(String, String), Box<dyn std::error::Error>> {
    let comment = shared::comments::find(store.as_ref(), id)
        .await?
        .ok_or_else(|| format!("no comment with id {id}"))?;
    let outcome = moderation::apply(
        store.as_ref(),
        &comment.post,
        &comment.id,
        action,
        time::OffsetDateTime::now_utc(),
    )
    .await?;
    let msg = match outcome {
        Outcome::Done => format!(
            "{}: done ({} on {})",
            action.verb(),
            comment.id,
            comment.post
        ),
        Outcome::NoChange => format!(
            "nothing to do: {} is already {}",
            comment.id,
            comment.status.as_str()
        ),
        Outcome::Gone => format!("{} no longer exists", comment.id),
    };
    Ok((comment.post, msg))
}
