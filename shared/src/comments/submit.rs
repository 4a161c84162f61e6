//! Comments: what a submission must look like, how it becomes a pending record, and the
//! moves a comment makes afterwards (verified, approved, marked spam, deleted). Written
//! once over the records store port.

use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::comments::{comment_sk, post_pk, Comment, CommentKind, CommentStatus};
use crate::dates::rfc3339;
use crate::http::fields::{
    clean_line, email_hash, is_clean_text, is_noncharacter, is_plausible_email, normalise_email,
};
use crate::http::web::FormData;
use crate::markdown::{comment_to_html, is_safe_url};
use crate::ports::{Condition, ItemStore, StoreError};
use crate::signing::IdentityKey;

pub use crate::http::fields::{FieldErrors, MAX_EMAIL, MAX_NAME};
pub const MAX_WEBSITE: usize = 300;
pub const MAX_BODY: usize = 5000;

/// A submission that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct CommentInput {
    pub name: String,
    pub email: String,
    pub website: Option<String>,
    pub body: String,
    pub parent: Option<String>,
}

/// One line of text (the name, the web address): trimmed, whitespace runs made one space;
/// `None` when it holds control, invisible or bidi characters (as the sign-up form refuses
/// them, through [`clean_line`]) or noncharacters.
fn one_line(s: &str) -> Option<String> {
    clean_line(s).filter(|l| !l.chars().any(is_noncharacter))
}

/// Check every field; refuse, never truncate.
pub fn validate(form: &FormData) -> Result<CommentInput, FieldErrors> {
    let mut errors = FieldErrors::new();
    let email = form.get("email").trim();
    let body = form.get("body").trim();
    let parent = form.get("parent").trim();
    let name = one_line(form.get("name"));
    let website = one_line(form.get("website"));
    match name.as_deref() {
        None => {
            errors.insert(
                "name".into(),
                "Your name contains characters we cannot accept (control, invisible or \
                 text-direction characters); please type it again without them."
                    .into(),
            );
        }
        Some("") => {
            errors.insert("name".into(), "Please give your name.".into());
        }
        Some(n) if n.chars().count() > MAX_NAME => {
            errors.insert(
                "name".into(),
                format!("Your name is longer than {MAX_NAME} characters."),
            );
        }
        Some(_) => {}
    }
    if email.is_empty() {
        errors.insert(
            "email".into(),
            "Please give your e-mail address (it is never published).".into(),
        );
    } else if email.len() > MAX_EMAIL {
        errors.insert(
            "email".into(),
            format!("The e-mail address is longer than {MAX_EMAIL} characters."),
        );
    } else if !is_plausible_email(email) {
        errors.insert(
            "email".into(),
            "That does not look like an e-mail address.".into(),
        );
    }
    match website.as_deref() {
        None => {
            errors.insert(
                "website".into(),
                "The web address contains characters we cannot accept (control, invisible \
                 or text-direction characters)."
                    .into(),
            );
        }
        Some("") => {}
        Some(w) if w.chars().count() > MAX_WEBSITE => {
            errors.insert(
                "website".into(),
                format!("The web address is longer than {MAX_WEBSITE} characters."),
            );
        }
        Some(w) => match url::Url::parse(w) {
            Ok(u)
                if matches!(u.scheme(), "http" | "https")
                    && u.host().is_some()
                    && is_safe_url(w) => {}
            _ => {
                errors.insert(
                    "website".into(),
                    "A web address starts with http:// or https://.".into(),
                );
            }
        },
    }
    if body.is_empty() {
        errors.insert("body".into(), "Please write your comment.".into());
    } else if body.chars().count() > MAX_BODY {
        errors.insert(
            "body".into(),
            format!(
                "Your comment is {} characters; the limit is {MAX_BODY}.",
                body.chars().count()
            ),
        );
    } else if !is_clean_text(body) {
        errors.insert(
            "body".into(),
            "Your comment contains characters we cannot accept (control characters, such as \
             a terminal escape or a form feed, often from a bad copy and paste); please \
             remove them and send it again."
                .into(),
        );
    }
    if !parent.is_empty()
        && (parent.len() > 40 || !parent.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        errors.insert(
            "parent".into(),
            "The comment you are replying to does not exist.".into(),
        );
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(CommentInput {
        name: name.unwrap_or_default(),
        email: email.to_string(),
        website: website.filter(|w| !w.is_empty()),
        body: body.to_string(),
        parent: (!parent.is_empty()).then(|| parent.to_string()),
    })
}

/// The id: a keyed hash of what was submitted, so the same form sent twice is one comment.
pub fn comment_id(identity: &IdentityKey, post: &str, input: &CommentInput) -> String {
    let key = format!(
        "{post}\u{0}{}\u{0}{}\u{0}{}",
        normalise_email(&input.email),
        input.parent.as_deref().unwrap_or(""),
        input.body
    );
    identity.keyed_hash("comment-id", &key)[..20].to_string()
}

/// A new pending comment. The e-mail address and IP are kept only as keyed hashes.
pub fn new_pending(
    identity: &IdentityKey,
    post: &str,
    input: &CommentInput,
    now: OffsetDateTime,
    ip_hash: String,
) -> Comment {
    Comment {
        id: comment_id(identity, post, input),
        post: post.to_string(),
        parent: input.parent.clone(),
        author: input.name.clone(),
        website: input.website.clone(),
        body_md: input.body.clone(),
        body_html: comment_to_html(&input.body),
        status: CommentStatus::Pending,
        kind: CommentKind::Comment,
        created: rfc3339(now),
        email_hash: Some(email_hash(identity, &normalise_email(&input.email))),
        ip_hash: Some(ip_hash),
        spam_rules: Vec::new(),
    }
}

/// Store a pending comment once. `Ok(false)`: it was already stored (a double submission).
pub async fn store_pending(store: &dyn ItemStore, comment: &Comment) -> Result<bool, StoreError> {
    store.put(comment.to_item()?, Condition::NotExists).await
}

pub async fn get(
    store: &dyn ItemStore,
    post: &str,
    id: &str,
) -> Result<Option<Comment>, StoreError> {
    store
        .get(&post_pk(post), &comment_sk(id))
        .await?
        .map(|i| Comment::from_item(&i))
        .transpose()
}

/// Find a comment by id alone (the command line and moderation links), through the status
/// index.
pub async fn find(store: &dyn ItemStore, id: &str) -> Result<Option<Comment>, StoreError> {
    for status in [
        CommentStatus::Held,
        CommentStatus::Pending,
        CommentStatus::Approved,
        CommentStatus::Spam,
    ] {
        for item in store
            .query_gsi1(&crate::keys::comments_by_status(status.as_str()), "")
            .await?
        {
            if item.get("id").and_then(Value::as_str) == Some(id) {
                return Ok(Some(Comment::from_item(&item)?));
            }
        }
    }
    Ok(None)
}

/// Comments with a status, oldest first.
pub async fn with_status(
    store: &dyn ItemStore,
    status: CommentStatus,
) -> Result<Vec<Comment>, StoreError> {
    store
        .query_gsi1(&crate::keys::comments_by_status(status.as_str()), "")
        .await?
        .iter()
        .map(Comment::from_item)
        .collect()
}

/// Move a comment from the status it was read with to `to`, unless someone else moved it
/// first. `Ok(false)`: it had changed meanwhile (or is gone).
pub async fn set_status(
    store: &dyn ItemStore,
    comment: &Comment,
    to: CommentStatus,
) -> Result<bool, StoreError> {
    let mut updated = comment.clone();
    updated.status = to;
    let ok = store
        .put(
            updated.to_item()?,
            Condition::Equals {
                attr: "status".into(),
                value: json!(comment.status.as_str()),
            },
        )
        .await?;
    Ok(ok)
}

/// A moderator approved this comment: count it toward its author's trust. Only a person's
/// approval counts (the verifier's own never does), and only [`TRUSTED_AFTER`] of them make
/// an author trusted.
pub async fn count_moderator_approval(
    store: &dyn ItemStore,
    comment: &Comment,
) -> Result<(), StoreError> {
    if let Some(h) = &comment.email_hash {
        let (pk, sk) = crate::keys::author_approval(h, &comment.id);
        let item = serde_json::json!({ "pk": pk, "sk": sk });
        store
            .put(
                item.as_object().cloned().unwrap_or_default(),
                Condition::Always,
            )
            .await?;
    }
    Ok(())
}

/// Moderator approvals an address needs before its comments are trusted.
pub const TRUSTED_AFTER: i64 = 2;

pub async fn delete(store: &dyn ItemStore, comment: &Comment) -> Result<bool, StoreError> {
    Ok(store
        .delete(
            &post_pk(&comment.post),
            &comment_sk(&comment.id),
            Condition::Always,
        )
        .await?
        .is_some())
}

/// Has a moderator approved at least [`TRUSTED_AFTER`] other comments from this comment's
/// author (keyed e-mail hash)? (When the comment itself is approved, as when it is scored
/// again, it does not count.)
pub async fn is_trusted(store: &dyn ItemStore, comment: &Comment) -> Result<bool, StoreError> {
    let Some(email_hash) = &comment.email_hash else {
        return Ok(false);
    };
    Ok(moderator_approvals(store, email_hash, Some(&comment.id)).await? >= TRUSTED_AFTER)
}

/// How many of an author's comments a moderator approved, `except` one.
pub async fn moderator_approvals(
    store: &dyn ItemStore,
    email_hash: &str,
    except: Option<&str>,
) -> Result<i64, StoreError> {
    let except_sk = except.map(|id| crate::keys::author_approval(email_hash, id).1);
    let items = store
        .query(
            &crate::keys::author_pk(email_hash),
            crate::keys::AUTHOR_APPROVAL_PREFIX,
        )
        .await?;
    Ok(items
        .iter()
        .map(|i| match i.get("sk").and_then(Value::as_str) {
            // The count kept before approvals were kept one per comment.
            Some(crate::keys::AUTHOR_APPROVAL_PREFIX) => {
                i.get("count").and_then(Value::as_i64).unwrap_or(0)
            }
            sk if sk.is_some() && sk == except_sk.as_deref() => 0,
            _ => 1,
        })
        .sum())
}

/// How long a comment's text counts as "recent" for the duplicate rule.
pub const DUPLICATE_WINDOW_SECS: i64 = 7 * 86_400;

/// Record this comment's text; true if another comment had the same text within the window.
pub async fn is_duplicate(
    store: &dyn ItemStore,
    identity: &IdentityKey,
    comment: &Comment,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let normalised: String = comment
        .body_md
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let (pk, sk) = crate::keys::body_seen(&identity.keyed_hash("body", &normalised));
    let expires = now.unix_timestamp() + DUPLICATE_WINDOW_SECS;
    if let Some(existing) = store.get(&pk, &sk).await? {
        let other = existing
            .get("comment")
            .and_then(Value::as_str)
            .unwrap_or("");
        let live = existing
            .get("expires_at")
            .and_then(Value::as_i64)
            .is_some_and(|e| e > now.unix_timestamp());
        if other != comment.id && live {
            return Ok(true);
        }
    }
    let item = json!({"pk": pk, "sk": sk, "comment": comment.id, "expires_at": expires});
    store
        .put(
            item.as_object().cloned().unwrap_or_default(),
            Condition::Always,
        )
        .await?;
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> FormData {
        FormData(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn validation_names_each_bad_field_and_never_truncates() {
        let long = "x".repeat(MAX_BODY + 1);
        let errs = validate(&form(&[
            ("name", ""),
            ("email", "nope"),
            ("website", "javascript:alert(1)"),
            ("body", &long),
        ]))
        .unwrap_err();
        assert_eq!(
            errs.keys().collect::<Vec<_>>(),
            ["body", "email", "name", "website"]
        );
        assert!(errs["body"].contains("5001"));
        let ok = validate(&form(&[
            ("name", " Ann "),
            ("email", "Ann@Example.org"),
            ("body", "Hi"),
            ("website", "https://ann.example"),
        ]))
        .unwrap();
        assert_eq!(ok.name, "Ann");
        assert_eq!(ok.website.as_deref(), Some("https://ann.example"));
        assert!(validate(&form(&[
            ("name", &"n".repeat(101)),
            ("email", "a@b.co"),
            ("body", "x")
        ]))
        .unwrap_err()
        .contains_key("name"));
        assert!(validate(&form(&[
            ("name", "a"),
            ("email", &format!("{}@b.co", "a".repeat(250))),
            ("body", "x")
        ]))
        .unwrap_err()
        .contains_key("email"));
    }

    #[test]
    fn emails() {
        for good in ["a@b.co", "first.last+tag@sub.example.org"] {
            assert!(is_plausible_email(good), "{good}");
        }
        for bad in [
            "", "a", "a@b", "a@.b", "a b@c.d", "<a@b.c>", "a@b..c", "a@b.c\n",
        ] {
            assert!(!is_plausible_email(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_same_submission_gets_the_same_id_and_no_clear_email() {
        let identity = IdentityKey::new(&[3u8; 32]).unwrap();
        let input = validate(&form(&[
            ("name", "Ann"),
            ("email", "ann@example.org"),
            ("body", "Hello"),
        ]))
        .unwrap();
        let mut upper = input.clone();
        upper.email = "ANN@example.org".into();
        assert_eq!(
            comment_id(&identity, "p", &input),
            comment_id(&identity, "p", &upper)
        );
        assert_ne!(
            comment_id(&identity, "p", &input),
            comment_id(&identity, "q", &input)
        );
        let c = new_pending(
            &identity,
            "p",
            &input,
            OffsetDateTime::UNIX_EPOCH,
            "iphash".into(),
        );
        let item = serde_json::to_string(&c.to_item().unwrap()).unwrap();
        assert!(!item.contains("ann@example.org"), "{item}");
        assert_eq!(c.status, CommentStatus::Pending);
    }

    #[test]
    fn control_characters_in_the_body_are_refused_clearly() {
        let with = |body: &str| {
            validate(&form(&[
                ("name", "Ann"),
                ("email", "ann@example.org"),
                ("body", body),
            ]))
        };
        for bad in [
            "a\u{1}b",
            "a\u{b}b",
            "see \u{1b}[2J\u{1b}[31mthis",
            "a\u{7f}b",
            "a\u{85}b",
            "a\u{9b}31mb",
            "a\u{fffe}b",
            "a\u{ffff}b",
            "a\u{c}b",
            "a\u{0}b",
            "lone\rreturn",
        ] {
            let errs = with(bad).expect_err(bad);
            assert_eq!(errs.keys().collect::<Vec<_>>(), ["body"], "{bad:?}");
            assert!(
                errs["body"].starts_with("Your comment contains characters we cannot accept"),
                "{bad:?}: {}",
                errs["body"]
            );
        }
        // Line breaks (as browsers send them), tabs, right-to-left text and emoji sequences
        // are text.
        for good in [
            "one\r\ntwo\n\tthree",
            "\u{5e9}\u{5dc}\u{5d5}\u{5dd} \u{200f}(RTL)",
            "\u{1f468}\u{200d}\u{1f469}\u{200d}\u{1f467}",
        ] {
            assert_eq!(with(good).expect(good).body, good.trim());
        }
    }

    #[test]
    fn invisible_and_bidi_characters_in_the_name_and_website_are_refused() {
        for c in [
            '\u{200b}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202e}', '\u{2066}', '\u{2069}',
            '\u{feff}', '\u{1b}', '\u{7f}', '\u{ffff}',
        ] {
            let name = format!("Ann{c}Admin");
            let errs = validate(&form(&[
                ("name", &name),
                ("email", "ann@example.org"),
                ("website", &format!("https://ann.example/{c}x")),
                ("body", "Hi"),
            ]))
            .unwrap_err();
            assert_eq!(
                errs.keys().collect::<Vec<_>>(),
                ["name", "website"],
                "{c:?}"
            );
            assert!(
                errs["name"].starts_with("Your name contains characters we cannot accept"),
                "{c:?}"
            );
            assert!(errs["website"].contains("characters we cannot accept"));
        }
        // Ordinary whitespace is tidied the same way the sign-up form tidies it.
        let ok = validate(&form(&[
            ("name", " Ann \t Lee\n"),
            ("email", "ann@example.org"),
            ("body", "Hi"),
        ]))
        .unwrap();
        assert_eq!(ok.name, "Ann Lee");
    }
}
