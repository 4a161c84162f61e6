//! Signed form tokens. Each rendered form carries `<issued>.<mac>`: when the page was
//! rendered, and an HMAC over that time and which form it is (a post's comment form, the
//! sign-up form) with the site's key. The submission handler refuses tokens that are
//! forged, for another form, sent within [`FORM_TOKEN_MIN_AGE`] of the render (faster than
//! a person writes: a script that watches for new pages), or older than
//! [`FORM_TOKEN_MAX_AGE`].
//!
//! The builder chooses the issue time so the same input renders the same bytes: a page
//! re-rendered by an event carries the event's time, and a full build the start of its UTC
//! day (the daily scheduled build keeps forms on old pages fresh).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

type HmacSha256 = Hmac<Sha256>;

pub const FORM_TOKEN_MAX_AGE: time::Duration = time::Duration::days(8);
pub const FORM_TOKEN_MIN_AGE: time::Duration = time::Duration::seconds(3);
pub const DAY: i64 = 86_400;

/// A secret key and the signatures made with it (form tokens, keyed hashes of e-mail
/// addresses and IPs, moderation links). Different purposes use different labels, so one
/// signature never stands in for another.
#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the form token is missing or malformed")]
    Malformed,
    #[error("the form token is not valid for this form")]
    BadSignature,
    #[error("the form has expired; reload the page and try again")]
    Expired,
    #[error(
        "the form was sent within seconds of the page being made, faster than anyone writes; \
         wait a moment and send it again"
    )]
    TooFast,
}

impl Signer {
    /// At least 32 bytes of key.
    pub fn new(key: &[u8]) -> Result<Self, String> {
        if key.len() < 32 {
            return Err("the signing key must be at least 32 bytes".into());
        }
        Ok(Self { key: key.to_vec() })
    }

    fn mac(&self, label: &str, data: &[u8]) -> [u8; 32] {
        let mut m = HmacSha256::new_from_slice(&self.key).expect("any key length works for HMAC");
        m.update(label.as_bytes());
        m.update(&[0]);
        m.update(data);
        m.finalize().into_bytes().into()
    }

    /// A keyed, non-reversible hash (for e-mail addresses and IPs), hex.
    pub fn keyed_hash(&self, label: &str, value: &str) -> String {
        hex::encode(&self.mac(label, value.as_bytes())[..16])
    }

    /// A secret derived from `value` for a purpose: the whole HMAC (32 bytes), base64url.
    /// Whoever lacks the key cannot make it from `value`; whoever has it makes the same one
    /// again (the supporter mail sender re-sends a confirmation link after a failed send
    /// without storing the link).
    pub fn derived_secret(&self, label: &str, value: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(label, value.as_bytes()))
    }

    /// A token for `form` (e.g. `comment:the-big-link-up`, `signup`) on a page rendered at
    /// `issued` (to the second).
    pub fn form_token(&self, form: &str, issued: OffsetDateTime) -> String {
        let issued = issued.unix_timestamp();
        let mac = self.mac("form", format!("{form}|{issued}").as_bytes());
        format!("{issued}.{}", URL_SAFE_NO_PAD.encode(&mac[..18]))
    }

    /// Check a token for `form` at `now`.
    pub fn check_form_token(
        &self,
        form: &str,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<(), TokenError> {
        let (issued, mac) = token.trim().split_once('.').ok_or(TokenError::Malformed)?;
        let issued: i64 = issued.parse().map_err(|_| TokenError::Malformed)?;
        let given = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| TokenError::Malformed)?;
        let expected = self.mac("form", format!("{form}|{issued}").as_bytes());
        if !constant_time_eq(&given, &expected[..18]) {
            return Err(TokenError::BadSignature);
        }
        let age = now.unix_timestamp() - issued;
        if age < FORM_TOKEN_MIN_AGE.whole_seconds() {
            return Err(TokenError::TooFast);
        }
        if age > FORM_TOKEN_MAX_AGE.whole_seconds() {
            return Err(TokenError::Expired);
        }
        Ok(())
    }

    /// The token for a form shown again after a refused submission: the one the visitor sent
    /// when it is genuine and not expired (it still says when they first got the page, so
    /// sending again at once is not "too fast"), otherwise a new one issued `now`.
    pub fn token_for_reshown_form(&self, form: &str, sent: &str, now: OffsetDateTime) -> String {
        match self.check_form_token(form, sent, now) {
            Ok(()) | Err(TokenError::TooFast) => sent.trim().to_string(),
            Err(_) => self.form_token(form, now),
        }
    }

    /// Sign arbitrary data for a purpose: `<payload>.<mac>` with the payload base64url.
    pub fn sign(&self, label: &str, payload: &[u8]) -> String {
        let mac = self.mac(label, payload);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(&mac[..24])
        )
    }

    /// The payload of a value made by [`Signer::sign`] with the same label, if genuine.
    pub fn verify(&self, label: &str, signed: &str) -> Option<Vec<u8>> {
        let (p, m) = signed.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(p).ok()?;
        let mac = URL_SAFE_NO_PAD.decode(m).ok()?;
        constant_time_eq(&mac, &self.mac(label, &payload)[..24]).then_some(payload)
    }
}

/// The start of `t`'s UTC day: the issue time of a full build's forms.
pub fn day_start(t: OffsetDateTime) -> OffsetDateTime {
    let secs = t.unix_timestamp();
    OffsetDateTime::from_unix_timestamp(secs - secs.rem_euclid(DAY)).expect("in range")
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn form_tokens_are_bound_to_their_form_and_render_time() {
        let s = Signer::new(&[7u8; 32]).unwrap();
        let rendered = datetime!(2026-11-20 10:00 UTC);
        let tok = s.form_token("comment:a", rendered);
        assert_eq!(tok, s.form_token("comment:a", rendered), "deterministic");
        let later = rendered + time::Duration::minutes(2);
        assert!(s.check_form_token("comment:a", &tok, later).is_ok());
        assert_eq!(
            s.check_form_token("comment:b", &tok, later),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            s.check_form_token("comment:a", &tok, rendered + time::Duration::days(9)),
            Err(TokenError::Expired)
        );
        assert_eq!(
            s.check_form_token("comment:a", "junk", later),
            Err(TokenError::Malformed)
        );
        let other = Signer::new(&[8u8; 32]).unwrap();
        assert_eq!(
            other.check_form_token("comment:a", &tok, later),
            Err(TokenError::BadSignature)
        );
        // The time cannot be moved without the key.
        let (_, mac) = tok.split_once('.').unwrap();
        let backdated = format!("{}.{mac}", rendered.unix_timestamp() - 60);
        assert_eq!(
            s.check_form_token("comment:a", &backdated, later),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn a_submission_seconds_after_the_render_is_too_fast() {
        let s = Signer::new(&[7u8; 32]).unwrap();
        let rendered = datetime!(2026-11-20 10:00 UTC);
        let tok = s.form_token("signup", rendered);
        for after in [0, 1, 2] {
            assert_eq!(
                s.check_form_token("signup", &tok, rendered + time::Duration::seconds(after)),
                Err(TokenError::TooFast),
                "{after} s"
            );
        }
        assert_eq!(
            s.check_form_token("signup", &tok, rendered - time::Duration::seconds(30)),
            Err(TokenError::TooFast),
            "a token from the future is not accepted either"
        );
        assert!(s
            .check_form_token("signup", &tok, rendered + FORM_TOKEN_MIN_AGE)
            .is_ok());
    }

    #[test]
    fn a_reshown_form_keeps_a_genuine_token_and_replaces_a_bad_one() {
        let s = Signer::new(&[7u8; 32]).unwrap();
        let rendered = datetime!(2026-11-20 10:00 UTC);
        let tok = s.form_token("signup", rendered);
        let soon = rendered + time::Duration::seconds(1);
        assert_eq!(s.token_for_reshown_form("signup", &tok, soon), tok);
        let much_later = rendered + time::Duration::days(10);
        let fresh = s.token_for_reshown_form("signup", &tok, much_later);
        assert_eq!(fresh, s.form_token("signup", much_later));
        assert_eq!(
            s.token_for_reshown_form("signup", "forged.abc", soon),
            s.form_token("signup", soon)
        );
    }

    #[test]
    fn full_builds_issue_at_the_start_of_the_day() {
        assert_eq!(
            day_start(datetime!(2026-11-20 23:59:59 UTC)),
            datetime!(2026-11-20 0:00 UTC)
        );
    }

    #[test]
    fn signed_payloads_and_keyed_hashes() {
        let s = Signer::new(&[1u8; 32]).unwrap();
        let v = s.sign("moderate", b"approve|c1|123");
        assert_eq!(s.verify("moderate", &v).unwrap(), b"approve|c1|123");
        assert!(s.verify("unsubscribe", &v).is_none());
        let mut tampered = v.clone();
        tampered.replace_range(0..1, "X");
        assert!(s.verify("moderate", &tampered).is_none());
        assert_eq!(s.keyed_hash("ip", "1.2.3.4"), s.keyed_hash("ip", "1.2.3.4"));
        assert_ne!(
            s.keyed_hash("ip", "1.2.3.4"),
            s.keyed_hash("email", "1.2.3.4")
        );
        assert!(Signer::new(b"short").is_err());
    }
}
