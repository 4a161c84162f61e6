//! The supporter record and its consent, as stored in the single table, and the decision
//! a sign-up leads to.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::dates::rfc3339;
use crate::ports::{Item, StoreError};

use super::*;

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
    /// Confirmed only: the SHA-256 of the token that confirmed it, so that confirming again
    /// with it (a visitor's retry after a failure half-way) finishes the same confirmation
    /// instead of calling the link invalid.
    #[serde(default)]
    pub confirmed_with: Option<String>,
}

pub use crate::keys::{supporter_pk, token_pk};

pub(crate) fn to_object<T: Serialize>(v: &T) -> Result<Item, StoreError> {
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
            confirmed_with: None,
        }
    }

    /// A pending sign-up whose time is up counts as absent (DynamoDB's TTL removes items
    /// some time after `expires_at`, not at once).
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.status == Status::Pending && self.expires_at.is_none_or(|t| t <= now.unix_timestamp())
    }

    /// The record confirmed with the token whose hash is `hash`.
    pub fn confirmed(&self, hash: &str, now: OffsetDateTime) -> Result<Supporter, TokenProblem> {
        if self.status == Status::Confirmed && self.confirmed_with.as_deref() == Some(hash) {
            return Ok(self.clone());
        }
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
            confirmed_with: Some(hash.to_string()),
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

pub(crate) fn token_item(hash: &str, email_hash: &str, expires_at: i64) -> Item {
    let mut item = Item::new();
    item.insert("pk".into(), token_pk(hash).into());
    item.insert("sk".into(), TOKEN_SK.into());
    item.insert("type".into(), "token".into());
    item.insert("purpose".into(), "confirm".into());
    item.insert("email_hash".into(), email_hash.into());
    item.insert("expires_at".into(), expires_at.into());
    item
}

pub(crate) fn suppression_item(email_hash: &str) -> Item {
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
