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
//!
//! `<h>` is [`email_hash`]: a keyed hash (HMAC with the site's signing key) of the normalised
//! address. Rotating the signing key therefore orphans the list and the suppressions.
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
//! - The confirmation link carries a random token (32 bytes, base64url); only its SHA-256
//!   is stored; it expires after [`CONFIRM_TTL`] and works once (the confirming write is
//!   conditional on the pending record still holding that token's hash).
//! - The manage / unsubscribe link carries [`manage_token`]: the address's hash and a random
//!   per-supporter nonce, signed with the site key. It must stay valid in every mail the
//!   supporter ever gets (RFC 8058 one-click unsubscribe), and the site must be able to
//!   mint it again for later mails, so it is signed rather than stored. Erasure deletes the
//!   nonce, so old links stop working; unsubscribing twice is harmless.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::content::rfc3339;
use crate::forms::Signer;
use crate::mail::Mail;
use crate::ports::{Condition, Item, ItemStore, StoreError};

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

pub const MAX_NAME: usize = 100;
pub const MAX_EMAIL: usize = 254;
pub const MAX_ORGANISATION: usize = 200;

/// Sign-up related mails an address receives per UTC day, at most. Further sign-ups for it
/// get the same response but no mail: a sign-up form cannot be used to flood someone.
pub const MAILS_PER_ADDRESS_PER_DAY: i64 = 3;

/// The longest name a mail greets by; longer names get a plain "Hello,".
pub const MAX_MAIL_NAME: usize = 40;

const DAY: i64 = 86_400;
const PROFILE_SK: &str = "PROFILE";
const SUPPRESSED_SK: &str = "SUPPRESSED";
const TOKEN_SK: &str = "TOKEN";
/// `gsi1pk` of confirmed supporters.
pub const CONFIRMED_INDEX: &str = "SUPPORTERS";

// ---------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SupporterType {
    Individual,
    Organisation,
}

impl SupporterType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Individual => "individual",
            Self::Organisation => "organisation",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "individual" => Some(Self::Individual),
            "organisation" | "organization" => Some(Self::Organisation),
            _ => None,
        }
    }
}

/// The fields as submitted.
#[derive(Debug, Clone, Default)]
pub struct SignupFields<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub supporter_type: &'a str,
    pub organisation: &'a str,
    pub newsletter: bool,
}

/// A valid sign-up: trimmed, whitespace collapsed, address normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct Signup {
    pub name: String,
    pub email: String,
    pub supporter_type: SupporterType,
    pub organisation: Option<String>,
    pub newsletter: bool,
}

/// Messages by field name (`name`, `email`, `supporter_type`, `organisation`).
pub type FieldErrors = BTreeMap<String, String>;

/// Trim, and turn every run of whitespace (line breaks included) into one space. `None`
/// when the text holds other control characters.
fn clean_line(s: &str) -> Option<String> {
    if s.chars()
        .any(|c| c.is_control() && !c.is_whitespace() || is_invisible_format(c))
    {
        return None;
    }
    Some(s.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Bidi overrides and other invisible formatting characters: used to disguise text.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// Trim and lower-case an address (see the module documentation for why).
pub fn normalise_email(raw: &str) -> String {
    raw.trim().to_lowercase()
}

fn valid_local_part(local: &str) -> bool {
    !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || "!#$%&'*+/=?^_`{|}~.-".contains(c)
                || (!c.is_ascii() && c.is_alphanumeric())
        })
}

fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && domain.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && !labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
}

/// A plausible address: one `@`, a valid local part, a dotted domain of valid labels.
/// (Deliverability is not checked here.) Used by sign-ups and comments alike.
pub fn is_plausible_email(email: &str) -> bool {
    email
        .split_once('@')
        .is_some_and(|(local, domain)| valid_local_part(local) && valid_domain(domain))
}

/// A normalised address, or the message to show beside the field.
pub fn validate_email(raw: &str) -> Result<String, String> {
    let email = normalise_email(raw);
    if email.is_empty() {
        return Err("Please enter your email address.".into());
    }
    if email.len() > MAX_EMAIL {
        return Err(format!(
            "That email address is too long (at most {MAX_EMAIL} characters)."
        ));
    }
    if is_plausible_email(&email) {
        Ok(email)
    } else {
        Err("Please enter an email address like name@example.org.".into())
    }
}

/// Check a submission. All problems are reported at once, by field.
pub fn validate(f: &SignupFields<'_>) -> Result<Signup, FieldErrors> {
    let mut errors = FieldErrors::new();
    let name = match clean_line(f.name) {
        None => {
            errors.insert(
                "name".into(),
                "Your name contains characters we cannot accept.".into(),
            );
            String::new()
        }
        Some(n) if n.is_empty() => {
            errors.insert("name".into(), "Please enter your name.".into());
            n
        }
        Some(n) if n.chars().count() > MAX_NAME => {
            errors.insert(
                "name".into(),
                format!("Please shorten your name to at most {MAX_NAME} characters."),
            );
            n
        }
        Some(n) => n,
    };
    let email = validate_email(f.email).unwrap_or_else(|e| {
        errors.insert("email".into(), e);
        String::new()
    });
    let supporter_type = if f.supporter_type.trim().is_empty() {
        // The form's default choice.
        SupporterType::Individual
    } else {
        SupporterType::parse(f.supporter_type).unwrap_or_else(|| {
            errors.insert(
                "supporter_type".into(),
                "Please choose individual or organisation.".into(),
            );
            SupporterType::Individual
        })
    };
    let organisation = match supporter_type {
        // What an individual typed into the organisation field is not kept.
        SupporterType::Individual => None,
        SupporterType::Organisation => match clean_line(f.organisation) {
            None => {
                errors.insert(
                    "organisation".into(),
                    "The organisation name contains characters we cannot accept.".into(),
                );
                None
            }
            Some(o) if o.is_empty() => {
                errors.insert(
                    "organisation".into(),
                    "Please enter the name of your organisation.".into(),
                );
                None
            }
            Some(o) if o.chars().count() > MAX_ORGANISATION => {
                errors.insert(
                    "organisation".into(),
                    format!(
                        "Please shorten the organisation name to at most {MAX_ORGANISATION} characters."
                    ),
                );
                None
            }
            Some(o) => Some(o),
        },
    };
    if errors.is_empty() {
        Ok(Signup {
            name,
            email,
            supporter_type,
            organisation,
            newsletter: f.newsletter,
        })
    } else {
        Err(errors)
    }
}

/// The name as a mail may greet someone by, or `None` for a plain "Hello,".
///
/// Sign-up forms are abused to send text to third parties ("Win a prize at http://…" as the
/// name, the victim's address as the address). So a mail only ever repeats a name made of
/// letters, spaces, apostrophes, hyphens and initials' full stops, at most
/// [`MAX_MAIL_NAME`] characters: no digits, no URL, no domain, no line break, no markup.
pub fn mail_name(name: &str) -> Option<String> {
    let name = clean_line(name)?;
    let chars: Vec<char> = name.chars().collect();
    if chars.is_empty() || chars.len() > MAX_MAIL_NAME {
        return None;
    }
    let ok = chars.iter().enumerate().all(|(i, &c)| match c {
        ' ' | '\'' | '\u{2019}' | '-' => true,
        // "J. Smith" yes, "spam.example" no.
        '.' => i > 0 && chars.get(i + 1).is_none_or(|n| *n == ' '),
        c => c.is_alphabetic(),
    });
    (ok && chars.iter().any(|c| c.is_alphabetic())).then_some(name)
}

// ---------------------------------------------------------------------------------------
// Tokens and hashes
// ---------------------------------------------------------------------------------------

/// The keyed hash an address is filed under.
pub fn email_hash(signer: &Signer, normalised_email: &str) -> String {
    signer.keyed_hash("email", normalised_email)
}

/// A new confirmation token: 32 random bytes, base64url. Goes into the mail only.
pub fn new_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// What is stored instead of a token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

fn new_nonce() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

const MANAGE_LABEL: &str = "supporter-manage";

/// The signed manage / unsubscribe token of a supporter (see the module documentation).
pub fn manage_token(signer: &Signer, s: &Supporter) -> String {
    signer.sign(
        MANAGE_LABEL,
        format!("{}|{}", s.email_hash, s.manage_nonce).as_bytes(),
    )
}

/// The address hash and nonce in a genuine manage token.
pub fn read_manage_token(signer: &Signer, token: &str) -> Option<(String, String)> {
    let payload = signer.verify(MANAGE_LABEL, token.trim())?;
    let text = String::from_utf8(payload).ok()?;
    let (h, nonce) = text.split_once('|')?;
    Some((h.to_string(), nonce.to_string()))
}

// ---------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Confirmed,
}

/// Proof of consent: the form's version and wording, when, from where (a keyed hash of the
/// IP, never the IP), and what was chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Consent {
    pub form_version: String,
    /// RFC 3339, UTC: when the form was sent.
    pub at: String,
    pub ip_hash: String,
    pub offered: Vec<String>,
    /// The newsletter box was unticked until the person ticked it.
    pub newsletter_default: bool,
    pub newsletter: bool,
    pub supporter_type: SupporterType,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Supporter {
    pub email_hash: String,
    pub status: Status,
    pub name: String,
    pub email: String,
    pub supporter_type: SupporterType,
    #[serde(default)]
    pub organisation: Option<String>,
    pub newsletter: bool,
    /// RFC 3339, UTC.
    pub created: String,
    #[serde(default)]
    pub confirmed_at: Option<String>,
    /// When the newsletter choice last changed after sign-up (unsubscribe).
    #[serde(default)]
    pub newsletter_changed_at: Option<String>,
    pub consent: Consent,
    pub manage_nonce: String,
    /// Pending only: the SHA-256 of the confirmation token that is currently valid.
    #[serde(default)]
    pub token_hash: Option<String>,
    /// Pending only: unix time after which the sign-up is void (and TTL removes it).
    #[serde(default)]
    pub expires_at: Option<i64>,
}

pub fn supporter_pk(email_hash: &str) -> String {
    format!("SUPPORTER#{email_hash}")
}

pub fn token_pk(token_hash: &str) -> String {
    format!("TOKEN#{token_hash}")
}

fn to_object<T: Serialize>(v: &T) -> Result<Item, StoreError> {
    match serde_json::to_value(v).map_err(|e| StoreError::Corrupt(e.to_string()))? {
        Value::Object(mut m) => {
            m.retain(|_, v| !v.is_null());
            Ok(m)
        }
        _ => Err(StoreError::Corrupt("a record must be an object".into())),
    }
}

impl Supporter {
    /// A new pending sign-up. `nonce` keeps the manage links of an earlier pending sign-up
    /// for the same address working.
    pub fn pending(
        email_hash: String,
        signup: &Signup,
        ip_hash: String,
        now: OffsetDateTime,
        token_hash: String,
        nonce: Option<String>,
    ) -> Self {
        let at = rfc3339(now);
        Supporter {
            email_hash,
            status: Status::Pending,
            name: signup.name.clone(),
            email: signup.email.clone(),
            supporter_type: signup.supporter_type,
            organisation: signup.organisation.clone(),
            newsletter: signup.newsletter,
            created: at.clone(),
            confirmed_at: None,
            newsletter_changed_at: None,
            consent: Consent {
                form_version: FORM_VERSION.into(),
                at,
                ip_hash,
                offered: OFFERED.iter().map(|s| s.to_string()).collect(),
                newsletter_default: false,
                newsletter: signup.newsletter,
                supporter_type: signup.supporter_type,
            },
            manage_nonce: nonce.unwrap_or_else(new_nonce),
            token_hash: Some(token_hash),
            expires_at: Some((now + CONFIRM_TTL).unix_timestamp()),
        }
    }

    /// A pending sign-up whose time is up counts as absent (DynamoDB's TTL removes items
    /// some time after `expires_at`, not at once).
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.status == Status::Pending && self.expires_at.is_none_or(|t| t <= now.unix_timestamp())
    }

    /// The record confirmed with the token whose hash is `hash`.
    pub fn confirmed(&self, hash: &str, now: OffsetDateTime) -> Result<Supporter, TokenProblem> {
        if self.status != Status::Pending || self.token_hash.as_deref() != Some(hash) {
            return Err(TokenProblem::Invalid);
        }
        if self.is_expired(now) {
            return Err(TokenProblem::Expired);
        }
        Ok(Supporter {
            status: Status::Confirmed,
            confirmed_at: Some(rfc3339(now)),
            token_hash: None,
            expires_at: None,
            ..self.clone()
        })
    }

    pub fn to_item(&self) -> Result<Item, StoreError> {
        let mut item = to_object(self)?;
        item.insert("pk".into(), supporter_pk(&self.email_hash).into());
        item.insert("sk".into(), PROFILE_SK.into());
        item.insert("type".into(), "supporter".into());
        if self.status == Status::Confirmed {
            item.insert("gsi1pk".into(), CONFIRMED_INDEX.into());
            item.insert(
                "gsi1sk".into(),
                format!(
                    "{}#{}",
                    self.confirmed_at.as_deref().unwrap_or(""),
                    self.email_hash
                )
                .into(),
            );
        }
        Ok(item)
    }

    pub fn from_item(item: &Item) -> Result<Self, StoreError> {
        serde_json::from_value(Value::Object(item.clone()))
            .map_err(|e| StoreError::Corrupt(format!("supporter record: {e}")))
    }
}

/// Why a confirmation token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    /// Unknown, already used, or replaced by a newer link.
    Invalid,
    Expired,
}

fn token_item(hash: &str, email_hash: &str, expires_at: i64) -> Item {
    let mut item = Item::new();
    item.insert("pk".into(), token_pk(hash).into());
    item.insert("sk".into(), TOKEN_SK.into());
    item.insert("type".into(), "token".into());
    item.insert("purpose".into(), "confirm".into());
    item.insert("email_hash".into(), email_hash.into());
    item.insert("expires_at".into(), expires_at.into());
    item
}

fn suppression_item(email_hash: &str) -> Item {
    let mut item = Item::new();
    item.insert("pk".into(), supporter_pk(email_hash).into());
    item.insert("sk".into(), SUPPRESSED_SK.into());
    item.insert("type".into(), "suppression".into());
    item
}

/// What a sign-up for an address leads to.
#[derive(Debug, Clone, PartialEq)]
pub enum SignupPlan {
    /// Nothing is done or mailed: the address was erased and asked not to be mailed.
    Suppressed,
    /// Store a new pending sign-up and mail a confirmation link.
    Create,
    /// Replace a pending (or lapsed) sign-up with this one and mail a new link; the old
    /// link stops working.
    Replace { previous: Box<Supporter> },
    /// Already a supporter: change nothing, mail "you are already signed up".
    AlreadyConfirmed { existing: Box<Supporter> },
}

pub fn plan_signup(existing: Option<Supporter>, suppressed: bool) -> SignupPlan {
    match existing {
        _ if suppressed => SignupPlan::Suppressed,
        None => SignupPlan::Create,
        Some(s) if s.status == Status::Confirmed => SignupPlan::AlreadyConfirmed {
            existing: Box::new(s),
        },
        Some(s) => SignupPlan::Replace {
            previous: Box::new(s),
        },
    }
}

// ---------------------------------------------------------------------------------------
// Mails
// ---------------------------------------------------------------------------------------

/// Where mails come from and point to.
#[derive(Debug, Clone)]
pub struct MailSite<'a> {
    pub title: &'a str,
    pub from: &'a str,
    /// Base of the form endpoints, no trailing slash.
    pub api_url: &'a str,
}

impl MailSite<'_> {
    pub fn confirm_url(&self, token: &str) -> String {
        format!("{}/signup/confirm?token={token}", self.api_url)
    }
    pub fn manage_url(&self, manage: &str) -> String {
        format!("{}/unsubscribe?token={manage}", self.api_url)
    }
    pub fn my_data_url(&self, manage: &str) -> String {
        format!("{}/signup/my-data?token={manage}", self.api_url)
    }
}

fn greeting(name: &str) -> String {
    match mail_name(name) {
        Some(n) => format!("Hello {n},"),
        None => "Hello,".into(),
    }
}

fn footer(site: &MailSite<'_>, manage: &str) -> String {
    format!(
        "\n\n--\n{title}\nTo stop our mails or remove your details: {url}\n",
        title = site.title,
        url = site.manage_url(manage)
    )
}

/// "Please confirm": the only free text in it is the person's own name, filtered by
/// [`mail_name`]. Organisation names and other typed text never appear in a mail.
pub fn confirmation_mail(site: &MailSite<'_>, s: &Supporter, token: &str, manage: &str) -> Mail {
    Mail {
        from: site.from.into(),
        to: s.email.clone(),
        subject: format!("Please confirm your sign-up to {}", site.title),
        text: format!(
            "{greeting}\n\nThank you for signing up to {title}. Please confirm that this is your \
             address by opening this link and pressing the button on the page:\n\n{url}\n\n\
             The link works once, for 48 hours. If you did not sign up, ignore this mail: \
             nothing happens unless the link is used, and we will delete the request.{footer}",
            greeting = greeting(&s.name),
            title = site.title,
            url = site.confirm_url(token),
            footer = footer(site, manage),
        ),
        unsubscribe_url: Some(site.manage_url(manage)),
    }
}

/// Sent when someone signs up again with an address that is already confirmed.
pub fn already_signed_up_mail(site: &MailSite<'_>, s: &Supporter, manage: &str) -> Mail {
    Mail {
        from: site.from.into(),
        to: s.email.clone(),
        subject: format!("You are already signed up to {}", site.title),
        text: format!(
            "{greeting}\n\nSomeone (probably you) tried to sign up to {title} with this address. \
             You are already signed up, so nothing has changed.\n\n\
             To change your newsletter choice or remove your details: {manage_url}\n\
             To get a copy of the details we hold about you: {data_url}{footer}",
            greeting = greeting(&s.name),
            title = site.title,
            manage_url = site.manage_url(manage),
            data_url = site.my_data_url(manage),
            footer = footer(site, manage),
        ),
        unsubscribe_url: Some(site.manage_url(manage)),
    }
}

/// A supporter's data, as JSON, to their own confirmed address.
pub fn data_mail(site: &MailSite<'_>, s: &Supporter, manage: &str) -> Mail {
    let data = serde_json::to_string_pretty(&data_export(s)).unwrap_or_default();
    Mail {
        from: site.from.into(),
        to: s.email.clone(),
        subject: format!("Your details held by {}", site.title),
        text: format!(
            "{greeting}\n\nYou asked for a copy of the details {title} holds about you. Here they \
             are, as JSON:\n\n{data}{footer}",
            greeting = greeting(&s.name),
            title = site.title,
            footer = footer(site, manage),
        ),
        unsubscribe_url: Some(site.manage_url(manage)),
    }
}

// ---------------------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------------------

/// Everything held about a supporter, for the supporter.
pub fn data_export(s: &Supporter) -> Value {
    json!({
        "name": s.name,
        "email": s.email,
        "supporter_type": s.supporter_type.as_str(),
        "organisation": s.organisation,
        "newsletter": s.newsletter,
        "status": match s.status { Status::Pending => "pending", Status::Confirmed => "confirmed" },
        "signed_up_at": s.created,
        "confirmed_at": s.confirmed_at,
        "newsletter_changed_at": s.newsletter_changed_at,
        "consent": {
            "form_version": s.consent.form_version,
            "given_at": s.consent.at,
            "ip_address_hash": s.consent.ip_hash,
            "ip_address_note": "a keyed, non-reversible hash of the IP address the form was sent from; the address itself is not kept",
            "offered": s.consent.offered,
            "newsletter_box_ticked_by_default": s.consent.newsletter_default,
            "newsletter_chosen": s.consent.newsletter,
            "supporter_type_chosen": s.consent.supporter_type.as_str(),
        },
    })
}

/// Which supporters an export lists (`None`: all).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ExportFilter {
    pub supporter_type: Option<SupporterType>,
    pub newsletter: Option<bool>,
}

impl ExportFilter {
    pub fn matches(&self, s: &Supporter) -> bool {
        s.status == Status::Confirmed
            && self.supporter_type.is_none_or(|t| t == s.supporter_type)
            && self.newsletter.is_none_or(|n| n == s.newsletter)
    }
}

/// One CSV field (RFC 4180). A cell starting with `= + - @` (or a tab / carriage return)
/// gets a leading apostrophe, so that a spreadsheet does not run a typed-in formula.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

pub const CSV_HEADER: &str =
    "name,email,supporter_type,organisation,newsletter,signed_up,confirmed";

/// Confirmed supporters matching `filter` as CSV (header line, CRLF line ends), in the
/// order given.
pub fn to_csv(supporters: &[Supporter], filter: &ExportFilter) -> String {
    let mut out = format!("{CSV_HEADER}\r\n");
    for s in supporters.iter().filter(|s| filter.matches(s)) {
        let row = [
            s.name.as_str(),
            s.email.as_str(),
            s.supporter_type.as_str(),
            s.organisation.as_deref().unwrap_or(""),
            if s.newsletter { "yes" } else { "no" },
            s.created.as_str(),
            s.confirmed_at.as_deref().unwrap_or(""),
        ];
        out.push_str(
            &row.iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str("\r\n");
    }
    out
}

// ---------------------------------------------------------------------------------------
// Repository
// ---------------------------------------------------------------------------------------

pub async fn get_supporter(
    store: &dyn ItemStore,
    email_hash: &str,
) -> Result<Option<Supporter>, StoreError> {
    store
        .get(&supporter_pk(email_hash), PROFILE_SK)
        .await?
        .map(|i| Supporter::from_item(&i))
        .transpose()
}

pub async fn is_suppressed(store: &dyn ItemStore, email_hash: &str) -> Result<bool, StoreError> {
    Ok(store
        .get(&supporter_pk(email_hash), SUPPRESSED_SK)
        .await?
        .is_some())
}

/// Count one more mail to the address today; `false` when it has had its share.
pub async fn take_mail_allowance(
    store: &dyn ItemStore,
    email_hash: &str,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let t = now.unix_timestamp();
    let day = t - t.rem_euclid(DAY);
    let n = store
        .increment(
            &format!("MAILS#{email_hash}"),
            &format!("D#{day}"),
            1,
            day + 2 * DAY,
        )
        .await?;
    Ok(n <= MAILS_PER_ADDRESS_PER_DAY)
}

/// What to mail after a sign-up was stored.
#[derive(Debug, Clone, PartialEq)]
pub enum Registration {
    /// A pending sign-up was stored: mail this confirmation token.
    Confirm {
        supporter: Box<Supporter>,
        token: String,
    },
    /// The address is a confirmed supporter: mail "you are already signed up".
    AlreadySignedUp { supporter: Box<Supporter> },
    /// Mail nothing (a suppressed address, or one that had its mails for today).
    Quiet,
}

/// Apply a valid sign-up. The caller answers the same whatever comes back, so the
/// response never tells whether an address is on the list.
pub async fn register(
    store: &dyn ItemStore,
    signer: &Signer,
    now: OffsetDateTime,
    signup: &Signup,
    ip_hash: &str,
) -> Result<Registration, StoreError> {
    let eh = email_hash(signer, &signup.email);
    let suppressed = is_suppressed(store, &eh).await?;
    let existing = if suppressed {
        None
    } else {
        get_supporter(store, &eh).await?
    };
    let plan = plan_signup(existing, suppressed);
    if plan == SignupPlan::Suppressed || !take_mail_allowance(store, &eh, now).await? {
        return Ok(Registration::Quiet);
    }
    let previous = match plan {
        SignupPlan::Suppressed => return Ok(Registration::Quiet),
        SignupPlan::AlreadyConfirmed { existing } => {
            return Ok(Registration::AlreadySignedUp {
                supporter: existing,
            })
        }
        SignupPlan::Create => None,
        SignupPlan::Replace { previous } => Some(previous),
    };
    let token = new_token();
    let hash = token_hash(&token);
    let supporter = Supporter::pending(
        eh.clone(),
        signup,
        ip_hash.to_string(),
        now,
        hash.clone(),
        previous.as_ref().map(|p| p.manage_nonce.clone()),
    );
    let expires_at = supporter.expires_at.unwrap_or_default();
    store
        .put(token_item(&hash, &eh, expires_at), Condition::NotExists)
        .await?;
    let condition = match previous.as_ref().and_then(|p| p.token_hash.clone()) {
        Some(old) => Condition::Equals {
            attr: "token_hash".into(),
            value: old.into(),
        },
        None => Condition::NotExists,
    };
    if !store.put(supporter.to_item()?, condition).await? {
        store
            .delete(&token_pk(&hash), TOKEN_SK, Condition::Always)
            .await?;
        return Err(StoreError::ConditionFailed(
            "the sign-up for this address changed at the same time".into(),
        ));
    }
    if let Some(old) = previous.and_then(|p| p.token_hash) {
        store
            .delete(&token_pk(&old), TOKEN_SK, Condition::Always)
            .await?;
    }
    Ok(Registration::Confirm {
        supporter: Box::new(supporter),
        token,
    })
}

/// The pending supporter a confirmation token belongs to, without changing anything (for
/// the page a mailed link opens).
pub async fn check_confirm_token(
    store: &dyn ItemStore,
    now: OffsetDateTime,
    token: &str,
) -> Result<Result<Supporter, TokenProblem>, StoreError> {
    if token.trim().is_empty() {
        return Ok(Err(TokenProblem::Invalid));
    }
    let hash = token_hash(token);
    let Some(item) = store.get(&token_pk(&hash), TOKEN_SK).await? else {
        return Ok(Err(TokenProblem::Invalid));
    };
    if item.get("purpose").and_then(Value::as_str) != Some("confirm") {
        return Ok(Err(TokenProblem::Invalid));
    }
    if item
        .get("expires_at")
        .and_then(Value::as_i64)
        .is_none_or(|t| t <= now.unix_timestamp())
    {
        return Ok(Err(TokenProblem::Expired));
    }
    let Some(eh) = item.get("email_hash").and_then(Value::as_str) else {
        return Ok(Err(TokenProblem::Invalid));
    };
    let Some(s) = get_supporter(store, eh).await? else {
        return Ok(Err(TokenProblem::Invalid));
    };
    Ok(s.confirmed(&hash, now).map(|_| s))
}

/// Confirm a sign-up. Works once: the write only succeeds while the pending record still
/// holds this token's hash, which the confirmed record no longer does.
pub async fn confirm(
    store: &dyn ItemStore,
    now: OffsetDateTime,
    token: &str,
) -> Result<Result<Supporter, TokenProblem>, StoreError> {
    let pending = match check_confirm_token(store, now, token).await? {
        Ok(s) => s,
        Err(p) => return Ok(Err(p)),
    };
    let hash = token_hash(token);
    let confirmed = match pending.confirmed(&hash, now) {
        Ok(c) => c,
        Err(p) => return Ok(Err(p)),
    };
    let won = store
        .put(
            confirmed.to_item()?,
            Condition::Equals {
                attr: "token_hash".into(),
                value: hash.clone().into(),
            },
        )
        .await?;
    if !won {
        return Ok(Err(TokenProblem::Invalid));
    }
    store
        .delete(&token_pk(&hash), TOKEN_SK, Condition::Always)
        .await?;
    Ok(Ok(confirmed))
}

/// What a manage token leads to.
#[derive(Debug, Clone, PartialEq)]
pub enum ManageLookup {
    /// Not a token this site signed.
    Forged,
    /// Genuine, but the details are gone (erased, or a lapsed sign-up).
    Gone,
    Found(Box<Supporter>),
}

pub async fn find_by_manage_token(
    store: &dyn ItemStore,
    signer: &Signer,
    token: &str,
) -> Result<ManageLookup, StoreError> {
    let Some((eh, nonce)) = read_manage_token(signer, token) else {
        return Ok(ManageLookup::Forged);
    };
    Ok(match get_supporter(store, &eh).await? {
        Some(s) if s.manage_nonce == nonce => ManageLookup::Found(Box::new(s)),
        _ => ManageLookup::Gone,
    })
}

/// Stop the newsletter, keeping the supporter. Returns the updated record (`None` if it
/// disappeared meanwhile).
pub async fn stop_newsletter(
    store: &dyn ItemStore,
    s: &Supporter,
    now: OffsetDateTime,
) -> Result<Option<Supporter>, StoreError> {
    if !s.newsletter {
        return Ok(Some(s.clone()));
    }
    let updated = Supporter {
        newsletter: false,
        newsletter_changed_at: Some(rfc3339(now)),
        ..s.clone()
    };
    let written = store
        .put(
            updated.to_item()?,
            Condition::Equals {
                attr: "manage_nonce".into(),
                value: s.manage_nonce.clone().into(),
            },
        )
        .await?;
    Ok(written.then_some(updated))
}

/// Erase a supporter: the suppression (only the keyed hash) is written first, so that a
/// failure half-way errs on the side of never mailing the address again.
pub async fn erase(store: &dyn ItemStore, s: &Supporter) -> Result<(), StoreError> {
    store
        .put(suppression_item(&s.email_hash), Condition::Always)
        .await?;
    if let Some(h) = &s.token_hash {
        store
            .delete(&token_pk(h), TOKEN_SK, Condition::Always)
            .await?;
    }
    store
        .delete(&supporter_pk(&s.email_hash), PROFILE_SK, Condition::Always)
        .await?;
    Ok(())
}

/// Let an erased address sign up again (the site owner does this when the person asks).
/// Returns whether it was suppressed.
pub async fn lift_suppression(
    store: &dyn ItemStore,
    signer: &Signer,
    email: &str,
) -> Result<bool, StoreError> {
    let eh = email_hash(signer, &normalise_email(email));
    Ok(store
        .delete(&supporter_pk(&eh), SUPPRESSED_SK, Condition::Always)
        .await?
        .is_some())
}

/// The confirmed supporter with this address, if any (for "send me my data").
pub async fn confirmed_by_email(
    store: &dyn ItemStore,
    signer: &Signer,
    normalised_email: &str,
) -> Result<Option<Supporter>, StoreError> {
    Ok(get_supporter(store, &email_hash(signer, normalised_email))
        .await?
        .filter(|s| s.status == Status::Confirmed))
}

/// Every confirmed supporter, in order of confirmation.
pub async fn confirmed_supporters(store: &dyn ItemStore) -> Result<Vec<Supporter>, StoreError> {
    store
        .query_gsi1(CONFIRMED_INDEX, "")
        .await?
        .iter()
        .map(Supporter::from_item)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn fields<'a>(name: &'a str, email: &'a str, t: &'a str, org: &'a str) -> SignupFields<'a> {
        SignupFields {
            name,
            email,
            supporter_type: t,
            organisation: org,
            newsletter: true,
        }
    }

    fn signer() -> Signer {
        Signer::new(&[3u8; 32]).unwrap()
    }

    fn pending(now: OffsetDateTime) -> Supporter {
        let signup = validate(&fields("Ada Lovelace", "ada@example.org", "", "")).unwrap();
        Supporter::pending(
            email_hash(&signer(), &signup.email),
            &signup,
            "iphash".into(),
            now,
            token_hash("tok"),
            None,
        )
    }

    #[test]
    fn validates_and_normalises_a_sign_up() {
        let s = validate(&fields(
            "  Ada \n  Lovelace ",
            "  Ada.Lovelace+news@Example.ORG ",
            "organisation",
            "  Analytical\tEngines  Ltd ",
        ))
        .unwrap();
        assert_eq!(s.name, "Ada Lovelace");
        assert_eq!(s.email, "ada.lovelace+news@example.org");
        assert_eq!(s.supporter_type, SupporterType::Organisation);
        assert_eq!(s.organisation.as_deref(), Some("Analytical Engines Ltd"));
        assert!(s.newsletter);
        // An individual's organisation field is dropped; the type defaults to individual.
        let s = validate(&fields("Ada", "ada@example.org", "", "Something")).unwrap();
        assert_eq!(s.supporter_type, SupporterType::Individual);
        assert_eq!(s.organisation, None);
    }

    #[test]
    fn reports_every_problem_by_field() {
        let errors = validate(&fields("", "not-an-address", "company", "")).unwrap_err();
        assert_eq!(
            errors.keys().collect::<Vec<_>>(),
            ["email", "name", "supporter_type"]
        );
        let errors = validate(&fields("Ada", "ada@example.org", "organisation", " ")).unwrap_err();
        assert_eq!(
            errors.get("organisation").map(String::as_str),
            Some("Please enter the name of your organisation.")
        );
        let long = "x".repeat(MAX_NAME + 1);
        assert!(validate(&fields(&long, "a@b.org", "", ""))
            .unwrap_err()
            .contains_key("name"));
        let long_org = "y".repeat(MAX_ORGANISATION + 1);
        assert!(
            validate(&fields("Ada", "a@b.org", "organisation", &long_org))
                .unwrap_err()
                .contains_key("organisation")
        );
        assert!(validate(&fields("Ada\u{0}", "a@b.org", "", ""))
            .unwrap_err()
            .contains_key("name"));
        assert!(validate(&fields("Ada\u{202E}", "a@b.org", "", ""))
            .unwrap_err()
            .contains_key("name"));
        // Exactly at the limits is fine.
        let name = "n".repeat(MAX_NAME);
        let org = "o".repeat(MAX_ORGANISATION);
        assert!(validate(&fields(&name, "a@b.org", "organisation", &org)).is_ok());
    }

    #[test]
    fn email_addresses() {
        for ok in [
            "a@b.org",
            "first.last+tag@sub.example.co.uk",
            "o'brien@example.ie",
            "zoë@exämple.de",
        ] {
            assert!(validate_email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "plain",
            "@example.org",
            "a@",
            "a@b",
            "a@@b.org",
            "a b@c.org",
            ".a@b.org",
            "a..b@c.org",
            "a@-b.org",
            "a@b..org",
            "a@1.2.3.4",
            "a<script>@b.org",
            "a@b.org\r\nBcc: c@d.org",
        ] {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
        let local = "l".repeat(64);
        let domain = format!("{}.org", "d".repeat(63));
        assert!(validate_email(&format!("{local}@{domain}")).is_ok());
        let too_long = format!(
            "{local}@{}.{}.{}.org",
            "d".repeat(63),
            "e".repeat(63),
            "f".repeat(60)
        );
        assert!(too_long.len() > MAX_EMAIL);
        assert!(validate_email(&too_long).unwrap_err().contains("too long"));
        assert_eq!(
            validate_email(" Ada@EXAMPLE.org ").unwrap(),
            "ada@example.org"
        );
    }

    #[test]
    fn mails_only_greet_by_plain_names() {
        assert_eq!(
            mail_name("Zoë O'Brien-Smith").as_deref(),
            Some("Zoë O'Brien-Smith")
        );
        assert_eq!(mail_name("J. R. Hartley").as_deref(), Some("J. R. Hartley"));
        assert_eq!(
            mail_name("  Ada\n Lovelace ").as_deref(),
            Some("Ada Lovelace")
        );
        for spam in [
            "Win a prize at http://spam.example",
            "Win a prize at spam.example",
            "visit www.spam.example",
            "Call 0800 123 456",
            "<b>Ada</b>",
            "ada@example.org",
            "Ada\r\nBcc: victim@example.org",
            "A very long name that goes on and on and on beyond forty",
            "...",
            "",
        ] {
            assert_eq!(mail_name(spam), None, "{spam}");
        }
    }

    #[test]
    fn tokens_are_random_and_stored_as_hashes() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert_eq!(token_hash(&a).len(), 64);
        assert_eq!(token_hash(&a), token_hash(&format!(" {a} ")));
        assert_ne!(token_hash(&a), token_hash(&b));
        assert!(!token_hash(&a).contains(&a));
    }

    #[test]
    fn manage_tokens_are_signed_and_bound_to_the_nonce() {
        let now = datetime!(2026-11-20 10:00 UTC);
        let s = pending(now);
        let t = manage_token(&signer(), &s);
        assert_eq!(
            read_manage_token(&signer(), &t),
            Some((s.email_hash.clone(), s.manage_nonce.clone()))
        );
        assert_eq!(
            read_manage_token(&Signer::new(&[4u8; 32]).unwrap(), &t),
            None
        );
        // A form-token or other signature does not pass as a manage token.
        let other = signer().sign("moderate", b"x|y");
        assert_eq!(read_manage_token(&signer(), &other), None);
        assert!(!t.contains(&s.email));
    }

    #[test]
    fn pending_records_expire_and_confirm_once() {
        let now = datetime!(2026-11-20 10:00 UTC);
        let p = pending(now);
        assert_eq!(p.status, Status::Pending);
        assert_eq!(
            p.expires_at,
            Some((now + time::Duration::hours(48)).unix_timestamp())
        );
        assert_eq!(p.consent.form_version, FORM_VERSION);
        assert!(!p.consent.newsletter_default);
        assert!(p.consent.newsletter);
        assert_eq!(p.consent.ip_hash, "iphash");
        let item = p.to_item().unwrap();
        assert!(!item.contains_key("gsi1pk"), "pending ones are not listed");
        assert_eq!(item["pk"], format!("SUPPORTER#{}", p.email_hash).as_str());
        assert_eq!(Supporter::from_item(&item).unwrap(), p);

        assert_eq!(
            p.confirmed(&token_hash("other"), now).unwrap_err(),
            TokenProblem::Invalid
        );
        assert_eq!(
            p.confirmed(&token_hash("tok"), now + time::Duration::hours(49))
                .unwrap_err(),
            TokenProblem::Expired
        );
        let c = p
            .confirmed(&token_hash("tok"), now + time::Duration::hours(47))
            .unwrap();
        assert_eq!(c.status, Status::Confirmed);
        assert_eq!((c.expires_at, c.token_hash.as_deref()), (None, None));
        let item = c.to_item().unwrap();
        assert!(!item.contains_key("expires_at"), "confirmed ones are kept");
        assert_eq!(item["gsi1pk"], CONFIRMED_INDEX);
        assert_eq!(
            c.confirmed(&token_hash("tok"), now).unwrap_err(),
            TokenProblem::Invalid,
            "a confirmed record cannot be confirmed again"
        );
        assert!(!c.is_expired(now + time::Duration::days(400)));
    }

    #[test]
    fn plans_follow_the_record() {
        let now = datetime!(2026-11-20 10:00 UTC);
        let p = pending(now);
        let c = p.confirmed(&token_hash("tok"), now).unwrap();
        assert_eq!(plan_signup(None, false), SignupPlan::Create);
        assert_eq!(plan_signup(Some(c.clone()), true), SignupPlan::Suppressed);
        assert_eq!(plan_signup(None, true), SignupPlan::Suppressed);
        assert!(matches!(
            plan_signup(Some(p), false),
            SignupPlan::Replace { .. }
        ));
        assert!(matches!(
            plan_signup(Some(c), false),
            SignupPlan::AlreadyConfirmed { .. }
        ));
    }

    #[test]
    fn mails_carry_links_and_no_typed_text_but_a_plain_name() {
        let now = datetime!(2026-11-20 10:00 UTC);
        let signup = validate(&fields(
            "Win a prize at http://spam.example",
            "victim@example.org",
            "organisation",
            "<a href=\"http://evil.example\">Click</a>",
        ))
        .unwrap();
        let s = Supporter::pending("h".into(), &signup, "ip".into(), now, "x".into(), None);
        let site = MailSite {
            title: "Arts Alliance",
            from: "hello@example.org",
            api_url: "https://api.example.org",
        };
        for mail in [
            confirmation_mail(&site, &s, "TOKEN123", "MANAGE.SIG"),
            already_signed_up_mail(&site, &s, "MANAGE.SIG"),
        ] {
            assert_eq!(mail.to, "victim@example.org");
            assert!(mail.text.starts_with("Hello,\n"), "{}", mail.text);
            for injected in ["prize", "spam", "evil", "Click", "<a"] {
                assert!(!mail.text.contains(injected), "{injected} in {}", mail.text);
                assert!(!mail.subject.contains(injected));
            }
            assert_eq!(
                mail.unsubscribe_url.as_deref(),
                Some("https://api.example.org/unsubscribe?token=MANAGE.SIG")
            );
            assert!(mail
                .text
                .contains("https://api.example.org/unsubscribe?token=MANAGE.SIG"));
        }
        let m = confirmation_mail(&site, &s, "TOKEN123", "M");
        assert!(m
            .text
            .contains("https://api.example.org/signup/confirm?token=TOKEN123"));
        let m = already_signed_up_mail(&site, &s, "M");
        assert!(!m.text.contains("confirm?token"));
        assert!(m
            .text
            .contains("https://api.example.org/signup/my-data?token=M"));

        let mut named = s.clone();
        named.name = "Zoë O'Brien".into();
        assert!(confirmation_mail(&site, &named, "T", "M")
            .text
            .starts_with("Hello Zoë O'Brien,\n"));
    }

    #[test]
    fn data_export_holds_everything_kept() {
        let now = datetime!(2026-11-20 10:00 UTC);
        let c = pending(now).confirmed(&token_hash("tok"), now).unwrap();
        let v = data_export(&c);
        assert_eq!(v["email"], "ada@example.org");
        assert_eq!(v["status"], "confirmed");
        assert_eq!(v["consent"]["form_version"], FORM_VERSION);
        assert_eq!(v["consent"]["ip_address_hash"], "iphash");
        assert_eq!(
            v["consent"]["offered"].as_array().unwrap().len(),
            OFFERED.len()
        );
        let site = MailSite {
            title: "T",
            from: "f@example.org",
            api_url: "https://api.example.org",
        };
        let mail = data_mail(&site, &c, "M");
        let json_start = mail.text.find('{').unwrap();
        let json_end = mail.text.rfind('}').unwrap();
        let back: Value = serde_json::from_str(&mail.text[json_start..=json_end]).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn csv_export_filters_and_quotes() {
        let now = datetime!(2026-11-20 10:00 UTC);
        let ada = pending(now).confirmed(&token_hash("tok"), now).unwrap();
        let mut org = ada.clone();
        org.name = "Bob \"the\" Builder".into();
        org.email = "bob@example.org".into();
        org.supporter_type = SupporterType::Organisation;
        org.organisation = Some("=HYPERLINK(\"http://x\"), Ltd".into());
        org.newsletter = false;
        let mut still_pending = pending(now);
        still_pending.email = "pending@example.org".into();
        let all = [ada.clone(), org.clone(), still_pending];

        let csv = to_csv(&all, &ExportFilter::default());
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(lines.len(), 4, "header, two confirmed, final empty: {csv}");
        assert!(lines[1].starts_with("Ada Lovelace,ada@example.org,individual,,yes,"));
        assert!(
            lines[2].starts_with(
                "\"Bob \"\"the\"\" Builder\",bob@example.org,organisation,\"'=HYPERLINK(\"\"http://x\"\"), Ltd\",no,"
            ),
            "{}",
            lines[2]
        );
        assert!(!csv.contains("pending@example.org"));

        let orgs = to_csv(
            &all,
            &ExportFilter {
                supporter_type: Some(SupporterType::Organisation),
                newsletter: None,
            },
        );
        assert!(orgs.contains("bob@example.org") && !orgs.contains("ada@example.org"));
        let news = to_csv(
            &all,
            &ExportFilter {
                supporter_type: None,
                newsletter: Some(true),
            },
        );
        assert!(news.contains("ada@example.org") && !news.contains("bob@example.org"));
        let none = to_csv(
            &all,
            &ExportFilter {
                supporter_type: Some(SupporterType::Organisation),
                newsletter: Some(true),
            },
        );
        assert_eq!(none, format!("{CSV_HEADER}\r\n"));
    }
}
