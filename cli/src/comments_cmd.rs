//! `site comments …`: list and moderate comments from the command line, on the local
//! database or (with `--aws`) on the DynamoDB table. On AWS the change reaches the renderer
//! through the stream; locally the command re-renders the post itself.

use std::sync::Arc;

use shared::comments::moderation::{self, Action, Outcome};
use shared::comments::CommentStatus;
use shared::http::fields::{is_bidi_or_invisible, is_noncharacter};
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

/// `s` as it may reach a terminal: control characters (escape sequences, line breaks,
/// DEL, C1), line and paragraph separators, bidi controls and other invisible characters,
/// and noncharacters written as `\u{1b}`, so a comment cannot move the cursor, recolour or
/// clear the moderator's terminal, or reorder what the listing shows.
pub fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{061C}')
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

/// One line a comment: id, post, status, date, author, the rules that fired, the start of
/// the text. No e-mail addresses or IPs (the records have none). Everything read from the
/// records goes through [`printable`].
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
            printable(&c.id),
            printable(&c.post),
            c.status.as_str(),
            printable(&c.created),
            printable(&c.author),
            printable(&rules.join(",")),
            printable(&text)
        ));
    }
    if out.is_empty() {
        out = format!("no {} comments\n", status.as_str());
    }
    Ok(out)
}

/// `approve`, `spam` or `delete`.
pub fn parse_action(s: &str) -> Result<Action, String> {
    Action::from_code(s.trim()).ok_or_else(|| {
        format!(
            "the action must be approve, spam or delete, not `{}`",
            printable(s)
        )
    })
}

/// Apply an action to a comment found by id; returns its post (to re-render) and a message.
pub async fn act(
    store: &Arc<dyn ItemStore>,
    id: &str,
    action: Action,
) -> Result<(String, String), Box<dyn std::error::Error>> {
    let comment = shared::comments::find(store.as_ref(), id)
        .await?
        .ok_or_else(|| format!("no comment with id {}", printable(id)))?;
    let outcome = moderation::apply(
        store.as_ref(),
        &comment.post,
        &comment.id,
        action,
        time::OffsetDateTime::now_utc(),
    )
    .await?;
    let (shown_id, shown_post) = (printable(&comment.id), printable(&comment.post));
    let msg = match outcome {
        Outcome::Done => format!("{}: done ({shown_id} on {shown_post})", action.verb()),
        Outcome::NoChange => format!(
            "nothing to do: {shown_id} is already {}",
            comment.status.as_str()
        ),
        Outcome::Gone => format!("{shown_id} no longer exists"),
    };
    Ok((comment.post, msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::adapters::FjallItemStore;
    use shared::comments::{Comment, CommentKind};

    /// A comment stored with terminal escapes and bidi controls (imported, or older than
    /// the rule that refuses them): the listing shows them as `\u{…}`, never raw.
    #[tokio::test]
    async fn the_listing_never_prints_control_or_bidi_characters() {
        let dir = tempfile::tempdir().unwrap();
        let store = FjallItemStore::open(&dir.path().join("records")).unwrap();
        let comment = Comment {
            id: "c0ffee".into(),
            post: "the-big-link-up".into(),
            parent: None,
            author: "Ann\u{1b}[2J\u{1b}]0;pwned\u{7}\u{202e}nimdA".into(),
            website: None,
            body_md: "Hello\u{1b}[31m red\u{9b}2K\u{7f}\u{2066}x\u{2069}\r\u{200b}done".into(),
            body_html: Default::default(),
            status: CommentStatus::Held,
            kind: CommentKind::Comment,
            created: "2026-11-20T10:00:00Z".into(),
            email_hash: None,
            ip_hash: None,
            spam_rules: vec![],
        };
        assert!(shared::comments::store_pending(&store, &comment)
            .await
            .unwrap());
        let listing = list(&store, CommentStatus::Held).await.unwrap();
        assert_eq!(listing.lines().count(), 1, "{listing}");
        assert!(
            !listing
                .trim_end_matches('\n')
                .chars()
                .any(|c| c.is_control() || is_bidi_or_invisible(c)),
            "{listing:?}"
        );
        assert!(
            listing.contains("Ann\\u{1b}[2J\\u{1b}]0;pwned\\u{7}\\u{202e}nimdA"),
            "{listing}"
        );
        assert!(
            listing.contains("Hello\\u{1b}[31m red\\u{9b}2K\\u{7f}\\u{2066}x\\u{2069}"),
            "{listing}"
        );
        assert!(listing.contains("\\u{200b}done"), "{listing}");
        assert_eq!(printable("plain text, émigré"), "plain text, émigré");
    }
}
