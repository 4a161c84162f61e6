//! Supporters: the sign-up list, with double opt-in, a newsletter preference, unsubscribe,
//! erasure, export and a copy of one's own data.
//!
//! The rules live here as pure functions (validation, the decision a sign-up leads to, the
//! records' shapes, the mails, CSV); the repository functions at the end apply them to the
//! records store through [`ItemStore`], so DynamoDB and the local fjall store behave alike.
//!
//! # Records (single table)
//!
//! | pk | sk | what |
//! |---|---|---|
//! | `SUPPORTER#<h>` | `PROFILE` | the supporter: name, address, type, organisation, newsletter choice, consent record. Pending ones carry `expires_at` (DynamoDB TTL purges unconfirmed sign-ups) and `token_hash`; confirmed ones are in `gsi1` under `SUPPORTERS`. |
//! | `SUPPORTER#<h>` | `SUPPRESSED` | an erased address: nothing but the key. Nothing is mailed to it again. |
//! | `TOKEN#<sha256>` | `TOKEN` | a confirmation token, by the SHA-256 of the token (the token itself is never stored), with `expires_at`. |
//! | `MAILS#<h>` | `D#<day>` | how many sign-up mails an address got that day (a TTL counter). |
//! | `MAILREQ#<h>` | `SIGNUP` / `MY-DATA` | a mail a visitor asked for, waiting for the sender (below), with `expires_at`. |
//!
//! `<h>` is [`email_hash`]: a keyed hash (HMAC with the site's signing key) of the normalised
//! address. Rotating the signing key therefore orphans the list and the suppressions.
//!
//! # Mails: requested on the request path, sent from the stream
//!
//! `POST /signup` and `POST /signup/my-data` write one [`MailRequest`] (the same put for
//! every visitor, whatever the address) and answer; the sender (`functions/supporter-mail`,
//! from the table's stream) decides what, if anything, the request leads to and mails it:
//! [`take_up_request`], [`prepare_mail`], [`finish_request`] (see `outbox.rs`).
//!
//! # Addresses
//!
//! Addresses are normalised by trimming and lower-casing the whole address. Strictly the
//! local part may be case-sensitive (RFC 5321), but no mail provider in use treats it so,
//! and matching case-insensitively is what keeps `Ada@Example.org` and `ada@example.org`
//! from becoming two supporters (or from escaping a suppression). Mail goes to the
//! normalised address.
//!
//! # Links in mails
//!
//! - The confirmation link carries a token (32 bytes, base64url) derived with the site key
//!   from the mail request's random id ([`MailRequest::confirm_token`]); only its SHA-256
//!   is stored; it expires after [`CONFIRM_TTL`] and works once (the confirming write is
//!   conditional on the pending record still holding that token's hash).
//! - The manage / unsubscribe link carries [`manage_token`]: the address's hash and a random
//!   per-supporter nonce, signed with the site key. It must stay valid in every mail the
//!   supporter ever gets (RFC 8058 one-click unsubscribe), and the site must be able to
//!   mint it again for later mails, so it is signed rather than stored. Erasure deletes the
//!   nonce, so old links stop working; unsubscribing twice is harmless.

mod export;
mod fields;
mod mails;
mod model;
mod outbox;
mod store;
#[cfg(test)]
mod tests;
mod tokens;

pub use crate::http::fields::{
    email_hash, is_plausible_email, normalise_email, validate_email, FieldErrors, MAX_EMAIL,
    MAX_NAME,
};
pub use export::*;
pub use fields::*;
pub use mails::*;
pub use model::*;
pub use outbox::*;
pub use store::*;
pub use tokens::*;

/// Identifies the wording of the form a consent was given on. Change it whenever the
/// statements in [`OFFERED`] (and the sign-up page) change.
pub const FORM_VERSION: &str = "signup-2026-11";

/// What the sign-up form offers, word for word; each consent record keeps a copy.
pub const OFFERED: &[&str] = &[
    "Add my name as a supporter. It is quick, free and secure and we will never share your details with anyone else.",
    "Keep me up to date on arts education news and campaigns by sending me the e-newsletter (about once a month, unsubscribe at any time). [checkbox, unticked by default]",
];

/// How long a confirmation link works (and an unconfirmed sign-up is kept).
pub const CONFIRM_TTL: time::Duration = time::Duration::hours(48);

pub const MAX_ORGANISATION: usize = 200;

/// Sign-up related mails an address receives per UTC day, at most. Further sign-ups for it
/// get the same response but no mail: a sign-up form cannot be used to flood someone.
pub const MAILS_PER_ADDRESS_PER_DAY: i64 = 3;

/// The longest name a mail greets by; longer names get a plain "Hello,".
pub const MAX_MAIL_NAME: usize = 40;

const DAY: i64 = 86_400;
pub use crate::keys::CONFIRMED_SUPPORTERS as CONFIRMED_INDEX;
use crate::keys::{SUPPORTER_PROFILE_SK as PROFILE_SK, SUPPRESSED_SK, TOKEN_SK};
