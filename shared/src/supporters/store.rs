//! The supporter repository: the rules above applied to the records store through
//! [`ItemStore`], so DynamoDB and the local fjall store behave alike.

use serde_json::Value;
use time::OffsetDateTime;

use crate::dates::rfc3339;
use crate::http::fields::*;
use crate::keys;
use crate::ports::{Condition, ItemStore, StoreError};
use crate::signing::{IdentityKey, SupporterKey};

use super::*;

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
    let (pk, sk) = keys::mails_sent(email_hash, day);
    let n = store.increment(&pk, &sk, 1, day + 2 * DAY).await?;
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
    identity: &IdentityKey,
    now: OffsetDateTime,
    signup: &Signup,
    ip_hash: &str,
) -> Result<Registration, StoreError> {
    let eh = email_hash(identity, &signup.email);
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
    let supporter = store_pending(
        store,
        &eh,
        signup,
        ip_hash,
        now,
        &token,
        previous.as_deref(),
    )
    .await?;
    Ok(Registration::Confirm {
        supporter: Box::new(supporter),
        token,
    })
}

/// Store a pending sign-up for the address `eh` whose confirmation link carries `token`, in
/// place of `previous` (the address's pending or lapsed sign-up, if any), and return it.
/// The previous link stops working. Fails with [`StoreError::ConditionFailed`] when the
/// address's record changed meanwhile (nothing is left half-written).
pub async fn store_pending(
    store: &dyn ItemStore,
    eh: &str,
    signup: &Signup,
    ip_hash: &str,
    now: OffsetDateTime,
    token: &str,
    previous: Option<&Supporter>,
) -> Result<Supporter, StoreError> {
    // A sign-up still waiting for confirmation keeps its details: anyone can type an
    // address, so a second sign-up must not replace what the first asked for. It only
    // gets a new link (the confirm page shows what it confirms). A lapsed one is replaced.
    let waiting = previous.filter(|p| {
        p.status == Status::Pending && p.expires_at.is_some_and(|e| e > now.unix_timestamp())
    });
    let details = match waiting {
        Some(p) => Signup {
            name: p.name.clone(),
            email: signup.email.clone(),
            supporter_type: p.supporter_type,
            organisation: p.organisation.clone(),
            newsletter: p.newsletter,
        },
        None => signup.clone(),
    };
    let hash = token_hash(token);
    let supporter = Supporter::pending(
        eh.to_string(),
        &details,
        ip_hash.to_string(),
        now,
        hash.clone(),
        previous.map(|p| p.manage_nonce.clone()),
    );
    let expires_at = supporter.expires_at.unwrap_or_default();
    store
        .put(token_item(&hash, eh, expires_at), Condition::NotExists)
        .await?;
    let condition = match previous.and_then(|p| p.token_hash.clone()) {
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
    if let Some(old) = previous.and_then(|p| p.token_hash.as_deref()) {
        store
            .delete(&token_pk(old), TOKEN_SK, Condition::Always)
            .await?;
    }
    Ok(supporter)
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
    // Already confirmed with this token: a retry finishing what failed half-way.
    if pending.status == Status::Pending {
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
    }
    // The sign-up is confirmed: a token record that cannot be deleted just now only lets
    // the same confirmation be shown again until its TTL removes it (a retry finds the
    // supporter confirmed with it and writes nothing), so it does not fail the request.
    if let Err(e) = store
        .delete(&token_pk(&hash), TOKEN_SK, Condition::Always)
        .await
    {
        tracing::warn!(error = %e, "a used confirmation token is left to its TTL");
    }
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
    key: &SupporterKey,
    token: &str,
) -> Result<ManageLookup, StoreError> {
    let Some((eh, nonce)) = read_manage_token(key, token) else {
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
    identity: &IdentityKey,
    email: &str,
) -> Result<bool, StoreError> {
    let eh = email_hash(identity, &normalise_email(email));
    Ok(store
        .delete(&supporter_pk(&eh), SUPPRESSED_SK, Condition::Always)
        .await?
        .is_some())
}

/// The confirmed supporter with this address, if any (for "send me my data").
pub async fn confirmed_by_email(
    store: &dyn ItemStore,
    identity: &IdentityKey,
    normalised_email: &str,
) -> Result<Option<Supporter>, StoreError> {
    Ok(
        get_supporter(store, &email_hash(identity, normalised_email))
            .await?
            .filter(|s| s.status == Status::Confirmed),
    )
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
