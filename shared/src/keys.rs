//! Every key in the single table, in one place: the chart in docs/architecture.md, as code.
//! (Keys in the buckets are in [`crate::site::layout`].)
//!
//! | pk | sk | what |
//! |---|---|---|
//! | `POST#<slug>` | `COMMENT#<id>` | a comment or pingback; in `gsi1` under `COMMENTS#<status>` |
//! | `RATE#<form>#<ip hash>` | `W#<window start>` | rate-limit counter |
//! | `AUTHOR#<email hash>` | `APPROVED#<comment id>` | a comment of this author a moderator approved |
//! | `BODY#<text hash>` | `SEEN` | recent comment text (duplicates) |
//! | `MODLINK#<nonce>` | `USED` | a used moderation link |
//! | `SUPPORTER#<email hash>` | `PROFILE` / `SUPPRESSED` | a supporter; an erased address |
//! | `TOKEN#<sha256>` | `TOKEN` | a confirmation token |
//! | `MAILS#<email hash>` | `D#<day>` | sign-up mails sent to an address that day |
//! | `MAILREQ#<email hash>` | `SIGNUP` / `MY-DATA` | a mail a visitor asked for, waiting for the sender |
//! | `SPAMFILTER` | `EXAMPLE#<comment id>` | a moderator verdict the spam filter learns from |
//! | `MENTION#<id>` | `REQUEST` | a pingback or Webmention received, until and after it is verified |

/// Comments and pingbacks of a post.
pub fn post_pk(slug: &str) -> String {
    format!("POST#{slug}")
}

/// Comment ids are derived from what was submitted (see `comments::comment_id`), so the
/// sort key is the id alone: the same form sent twice lands on the same key.
pub fn comment_sk(id: &str) -> String {
    format!("{COMMENT_SK_PREFIX}{id}")
}

pub const COMMENT_SK_PREFIX: &str = "COMMENT#";

/// `gsi1pk` of comments with a status (`pending`, `approved`, `held`, `spam`).
pub fn comments_by_status(status: &str) -> String {
    format!("COMMENTS#{status}")
}

/// A rate-limit counter: one form, one client (keyed hash of the IP), one window.
pub fn rate(scope: &str, ip_hash: &str, window: i64) -> (String, String) {
    (format!("RATE#{scope}#{ip_hash}"), format!("W#{window}"))
}

/// A comment of this author a moderator approved (one item per comment, so an approval
/// made twice, by a retry or by two moderators, counts once).
pub fn author_approval(email_hash: &str, comment_id: &str) -> (String, String) {
    (
        author_pk(email_hash),
        format!("{AUTHOR_APPROVAL_PREFIX}{comment_id}"),
    )
}

pub fn author_pk(email_hash: &str) -> String {
    format!("AUTHOR#{email_hash}")
}

/// Sort key prefix of an author's approvals. (Before approvals were kept one per comment,
/// they were counted in one `APPROVED` item, which the prefix also reads.)
pub const AUTHOR_APPROVAL_PREFIX: &str = "APPROVED";

/// Recent comment text, by keyed hash (the duplicate rule).
pub fn body_seen(body_hash: &str) -> (String, String) {
    (format!("BODY#{body_hash}"), "SEEN".into())
}

/// A used moderation link.
pub fn modlink_used(nonce: &str) -> (String, String) {
    (format!("MODLINK#{nonce}"), "USED".into())
}

/// A supporter's records, by keyed hash of the address.
pub fn supporter_pk(email_hash: &str) -> String {
    format!("SUPPORTER#{email_hash}")
}
pub const SUPPORTER_PROFILE_SK: &str = "PROFILE";
pub const SUPPRESSED_SK: &str = "SUPPRESSED";
/// `gsi1pk` of confirmed supporters.
pub const CONFIRMED_SUPPORTERS: &str = "SUPPORTERS";

/// A confirmation token, by its SHA-256.
pub fn token_pk(token_hash: &str) -> String {
    format!("TOKEN#{token_hash}")
}
pub const TOKEN_SK: &str = "TOKEN";

/// Sign-up mails sent to an address on a day.
pub fn mails_sent(email_hash: &str, day: i64) -> (String, String) {
    (format!("MAILS#{email_hash}"), format!("D#{day}"))
}

/// A mail a visitor asked for (a sign-up's confirmation, a copy of their data), waiting for
/// the sender: one per address and purpose (`SIGNUP`, `MY-DATA`), so a later request for the
/// same replaces one not yet sent.
pub fn mail_request(email_hash: &str, purpose: &str) -> (String, String) {
    (format!("{MAIL_REQUEST_PREFIX}{email_hash}"), purpose.into())
}
pub const MAIL_REQUEST_PREFIX: &str = "MAILREQ#";

/// A moderator's verdict, kept as a training example for the spam filter.
pub fn spam_example(comment_id: &str) -> (String, String) {
    (SPAM_EXAMPLES_PK.into(), format!("EXAMPLE#{comment_id}"))
}
/// All of them: one partition, read once a minute at most by the verifier.
pub fn spam_examples() -> (String, String) {
    (SPAM_EXAMPLES_PK.into(), "EXAMPLE#".into())
}
const SPAM_EXAMPLES_PK: &str = "SPAMFILTER";

/// A pingback or Webmention received (the id is the comment's it becomes).
pub fn mention(id: &str) -> (String, String) {
    (format!("MENTION#{id}"), "REQUEST".into())
}

/// Rate-limit scope for mentions from one source domain.
pub const MENTION_SOURCE_SCOPE: &str = "linkback-source";
