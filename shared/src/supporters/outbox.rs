//! The supporters' outbox: a mail a visitor asks for (a sign-up's "please confirm", a copy
//! of their data) is one record, written on the request path, and sent from elsewhere.
//!
//! Whether an address is unknown, pending, confirmed or erased must not show in the answer
//! to `POST /signup` or `POST /signup/my-data`: not in its status or bytes, and not in the
//! work done before answering (a lookup, a second write, a call to SES would each take a
//! time of its own). So the request path writes one [`MailRequest`] (the same put for every
//! visitor of a route, keyed by the keyed hash of the address) and answers. The sender
//! (`functions/supporter-mail`, from the table's stream; locally, from the change feed)
//! then decides, against the records, whether there is anything to send:
//!
//! | purpose | the address is | mail |
//! |---|---|---|
//! | sign-up | unknown, or pending / lapsed | "please confirm" (the pending record is stored then) |
//! | sign-up | confirmed | "you are already signed up" |
//! | my data | confirmed (and the link's nonce still holds) | a copy of the data |
//! | either | erased, over the day's allowance, or (my data) unknown or pending | nothing |
//!
//! The decision is made once per request and recorded on it ([`MailRequest::decided`]; the
//! day's allowance is taken then), so a retry after a failed send neither takes the
//! allowance again nor decides otherwise. Each attempt checks the records again before it
//! sends (a confirmation link used meanwhile, an address erased meanwhile: nothing is sent).
//! The confirmation link is derived from the request's random id with the site key
//! ([`MailRequest::confirm_token`]): a retry mails the same link, which is stored (as its
//! hash) once. When the mail is sent, or there is nothing to send, the request is deleted;
//! a request delivered again after that finds nothing and sends nothing.
//!
//! A later request for the same address and purpose replaces one not yet handled (the same
//! key): the sender handles only the request the record holds now.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::dates::rfc3339;
use crate::http::fields::*;
use crate::keys;
use crate::mail::Mail;
use crate::ports::{Condition, Item, ItemStore, StoreError};
use crate::signing::{IdentityKey, SupporterKey};

use super::*;

/// The `type` of a mail request record (the sender's stream filter).
pub const MAIL_REQUEST_TYPE: &str = "mail-request";
/// Written by the request path; the stream filter passes only this status.
pub const REQUEST_QUEUED: &str = "queued";
/// The sender decided what to send (and took the allowance); sent, or being retried.
pub const REQUEST_DECIDED: &str = "decided";
/// How long a request waits for the sender: then it is void (and TTL removes it).
pub const REQUEST_TTL: time::Duration = time::Duration::hours(24);

/// What a visitor asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    /// `POST /signup`.
    Signup,
    /// `POST /signup/my-data`.
    MyData,
}

impl Purpose {
    /// The request's sort key.
    pub fn sk(self) -> &'static str {
        match self {
            Self::Signup => "SIGNUP",
            Self::MyData => "MY-DATA",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signup => "signup",
            Self::MyData => "my-data",
        }
    }
}

/// What the sender decided to mail for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MailKind {
    /// Nothing: erased, over the day's allowance, or (my data) not a confirmed supporter.
    Nothing,
    /// "Please confirm", with the link derived from the request.
    Confirm,
    /// "You are already signed up".
    AlreadySignedUp,
    /// A copy of the supporter's data.
    Data,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nothing => "nothing",
            Self::Confirm => "confirm",
            Self::AlreadySignedUp => "already-signed-up",
            Self::Data => "data",
        }
    }
}

/// A sign-up as the form sent it (valid), and the keyed hash of the IP it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignupRequest {
    pub name: String,
    pub email: String,
    pub supporter_type: SupporterType,
    #[serde(default)]
    pub organisation: Option<String>,
    pub newsletter: bool,
    pub ip_hash: String,
}

impl SignupRequest {
    fn signup(&self) -> Signup {
        Signup {
            name: self.name.clone(),
            email: self.email.clone(),
            supporter_type: self.supporter_type,
            organisation: self.organisation.clone(),
            newsletter: self.newsletter,
        }
    }
}

/// A mail a visitor asked for, waiting for the sender.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MailRequest {
    pub email_hash: String,
    pub purpose: Purpose,
    /// Random: tells this request from a later one for the same address and purpose.
    pub id: String,
    /// RFC 3339, UTC: when the form was sent (a sign-up's consent is given then).
    pub requested: String,
    /// [`REQUEST_QUEUED`], then [`REQUEST_DECIDED`].
    pub status: String,
    #[serde(default)]
    pub decided: Option<MailKind>,
    /// Sign-up only.
    #[serde(default)]
    pub signup: Option<SignupRequest>,
    /// My data by a manage link: the link's nonce, which must still be the supporter's.
    #[serde(default)]
    pub manage_nonce: Option<String>,
    /// Unix time: void after this (DynamoDB TTL).
    pub expires_at: i64,
}

impl MailRequest {
    fn new(email_hash: String, purpose: Purpose, now: OffsetDateTime) -> Self {
        Self {
            email_hash,
            purpose,
            id: new_nonce(),
            requested: rfc3339(now),
            status: REQUEST_QUEUED.into(),
            decided: None,
            signup: None,
            manage_nonce: None,
            expires_at: (now + REQUEST_TTL).unix_timestamp(),
        }
    }

    /// A valid sign-up's request.
    pub fn signup(
        identity: &IdentityKey,
        signup: &Signup,
        ip_hash: &str,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            signup: Some(SignupRequest {
                name: signup.name.clone(),
                email: signup.email.clone(),
                supporter_type: signup.supporter_type,
                organisation: signup.organisation.clone(),
                newsletter: signup.newsletter,
                ip_hash: ip_hash.into(),
            }),
            ..Self::new(email_hash(identity, &signup.email), Purpose::Signup, now)
        }
    }

    /// "Mail me my data": by address (`manage_nonce` `None`), or by a manage link (the
    /// address's hash and the nonce it carries). The address itself is not kept: the data
    /// goes to the supporter's stored address.
    pub fn my_data(email_hash: String, manage_nonce: Option<String>, now: OffsetDateTime) -> Self {
        Self {
            manage_nonce,
            ..Self::new(email_hash, Purpose::MyData, now)
        }
    }

    pub fn key(&self) -> (String, String) {
        keys::mail_request(&self.email_hash, self.purpose.sk())
    }

    pub fn to_item(&self) -> Result<Item, StoreError> {
        let mut item = to_object(self)?;
        let (pk, sk) = self.key();
        item.insert("pk".into(), pk.into());
        item.insert("sk".into(), sk.into());
        item.insert("type".into(), MAIL_REQUEST_TYPE.into());
        Ok(item)
    }

    pub fn from_item(item: &Item) -> Result<Self, StoreError> {
        let r: Self = serde_json::from_value(Value::Object(item.clone()))
            .map_err(|e| StoreError::Corrupt(format!("mail request: {e}")))?;
        if r.purpose == Purpose::Signup && r.signup.is_none() {
            return Err(StoreError::Corrupt(
                "a sign-up request without the sign-up".into(),
            ));
        }
        Ok(r)
    }

    /// Is this record a request waiting for the sender (what the stream filter passes)?
    pub fn is_queued(item: &Item) -> bool {
        let field = |name: &str| item.get(name).and_then(Value::as_str);
        field("type") == Some(MAIL_REQUEST_TYPE) && field("status") == Some(REQUEST_QUEUED)
    }

    /// The confirmation token this request's mail carries: derived from the request's id
    /// with the site key (so a retry mails the same link), stored only as its hash.
    pub fn confirm_token(&self, key: &SupporterKey) -> String {
        key.derived_secret("supporter-confirm", &self.id)
    }

    /// The Message-ID of its mail: the same on a retry, so a mail that did arrive although
    /// the send reported a failure is shown once by mail clients that go by it.
    pub fn message_id(&self) -> String {
        format!("supporter-{}-{}", self.purpose.as_str(), self.id)
    }

    fn requested_at(&self, fallback: OffsetDateTime) -> OffsetDateTime {
        OffsetDateTime::parse(
            &self.requested,
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap_or(fallback)
    }
}

/// The request path's one write: the same put for every visitor of a route, whatever the
/// address (a request not yet handled for the same address and purpose is replaced).
pub async fn queue_mail(store: &dyn ItemStore, request: &MailRequest) -> Result<(), StoreError> {
    store.put(request.to_item()?, Condition::Always).await?;
    Ok(())
}

/// Take up a request the stream delivered: the request as stored now, with what to send
/// decided (once: recorded on the request, the day's allowance taken then). `None`: nothing
/// to do (handled already, replaced by a newer request that comes in its turn, or void).
pub async fn take_up_request(
    store: &dyn ItemStore,
    now: OffsetDateTime,
    delivered: &MailRequest,
) -> Result<Option<MailRequest>, StoreError> {
    let (pk, sk) = delivered.key();
    let Some(item) = store.get(&pk, &sk).await? else {
        return Ok(None);
    };
    let current = MailRequest::from_item(&item)?;
    if current.id != delivered.id {
        return Ok(None);
    }
    if current.expires_at <= now.unix_timestamp() {
        finish_request(store, &current).await?;
        return Ok(None);
    }
    if current.decided.is_some() {
        return Ok(Some(current));
    }
    let kind = decide(store, &current, now).await?;
    let decided = MailRequest {
        status: REQUEST_DECIDED.into(),
        decided: Some(kind),
        ..current.clone()
    };
    let written = store
        .put(
            decided.to_item()?,
            Condition::Equals {
                attr: "id".into(),
                value: current.id.clone().into(),
            },
        )
        .await?;
    Ok(written.then_some(decided))
}

/// What a request leads to, as the records stand; takes the day's allowance when there is
/// something to send.
async fn decide(
    store: &dyn ItemStore,
    request: &MailRequest,
    now: OffsetDateTime,
) -> Result<MailKind, StoreError> {
    let eh = &request.email_hash;
    if is_suppressed(store, eh).await? {
        return Ok(MailKind::Nothing);
    }
    let existing = get_supporter(store, eh).await?;
    let kind = match request.purpose {
        Purpose::Signup => match plan_signup(existing, false) {
            SignupPlan::AlreadyConfirmed { .. } => MailKind::AlreadySignedUp,
            SignupPlan::Create | SignupPlan::Replace { .. } => MailKind::Confirm,
            SignupPlan::Suppressed => MailKind::Nothing,
        },
        Purpose::MyData => match existing {
            Some(s) if is_data_for(&s, request) => MailKind::Data,
            _ => MailKind::Nothing,
        },
    };
    if kind != MailKind::Nothing && !take_mail_allowance(store, eh, now).await? {
        return Ok(MailKind::Nothing);
    }
    Ok(kind)
}

/// A copy of the data goes to a confirmed supporter only, and by a manage link only while
/// the link's nonce is theirs (erasure and sign-up again make a new one).
fn is_data_for(s: &Supporter, request: &MailRequest) -> bool {
    s.status == Status::Confirmed
        && request
            .manage_nonce
            .as_deref()
            .is_none_or(|n| n == s.manage_nonce)
}

/// A mail to send, and which.
#[derive(Debug, Clone)]
pub struct PreparedMail {
    pub mail: Mail,
    pub kind: MailKind,
}

/// The mail for a decided request, as the records stand now: `None` when there is nothing
/// (any more) to send: decided so, the address erased meanwhile, the link used meanwhile. A
/// confirmation's pending sign-up is stored here, once: a retry finds it and mails the same
/// link again.
pub async fn prepare_mail(
    store: &dyn ItemStore,
    key: &SupporterKey,
    site: &MailSite<'_>,
    now: OffsetDateTime,
    request: &MailRequest,
) -> Result<Option<PreparedMail>, StoreError> {
    let kind = request.decided.unwrap_or(MailKind::Nothing);
    let eh = &request.email_hash;
    if kind == MailKind::Nothing || is_suppressed(store, eh).await? {
        return Ok(None);
    }
    let existing = get_supporter(store, eh).await?;
    let mail = match kind {
        MailKind::Nothing => None,
        MailKind::AlreadySignedUp => existing
            .filter(|s| s.status == Status::Confirmed)
            .map(|s| already_signed_up_mail(site, &s, &manage_token(key, &s))),
        MailKind::Data => existing
            .filter(|s| is_data_for(s, request))
            .map(|s| data_mail(site, &s, &manage_token(key, &s))),
        MailKind::Confirm => {
            let signup = request.signup.as_ref().ok_or_else(|| {
                StoreError::Corrupt("a sign-up request without the sign-up".into())
            })?;
            let token = request.confirm_token(key);
            let hash = token_hash(&token);
            let pending = match existing {
                // Confirmed meanwhile (by this link, or an earlier one): nothing to send.
                Some(s) if s.status == Status::Confirmed => None,
                // Stored by an earlier attempt whose mail failed: the same link again.
                Some(s) if s.token_hash.as_deref() == Some(hash.as_str()) => Some(s),
                previous => Some(
                    store_pending(
                        store,
                        eh,
                        &signup.signup(),
                        &signup.ip_hash,
                        request.requested_at(now),
                        &token,
                        previous.as_ref(),
                    )
                    .await?,
                ),
            };
            pending.map(|s| confirmation_mail(site, &s, &token, &manage_token(key, &s)))
        }
    };
    Ok(mail.map(|mail| PreparedMail { mail, kind }))
}

/// The request is done with (its mail sent, or nothing to send): deleted, unless a newer
/// request replaced it meanwhile.
pub async fn finish_request(
    store: &dyn ItemStore,
    request: &MailRequest,
) -> Result<(), StoreError> {
    let (pk, sk) = request.key();
    store
        .delete(
            &pk,
            &sk,
            Condition::Equals {
                attr: "id".into(),
                value: request.id.clone().into(),
            },
        )
        .await?;
    Ok(())
}
