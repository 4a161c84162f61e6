//! Keys, one per purpose ([`Purpose`]), each derived from the site's master key with HKDF,
//! so a function is given only the keys it uses; and what they sign.
//!
//! Form tokens: each rendered form carries `<issued>.<mac>`: when the page was
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

/// What a key is for. Each purpose has its own key, so a function holds only the keys of
/// the purposes it serves: the functions that parse comments cannot make a supporter's
/// manage link, and only the verifier and the moderation function hold the moderation key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Purpose {
    /// Form tokens: made by the builder, checked by the form functions.
    Forms,
    /// Keyed hashes of e-mail addresses, IPs, comment bodies and record ids.
    Identity,
    /// Moderation links in the moderator's mail.
    Moderation,
    /// Supporters' confirmation and manage links.
    Supporters,
}

impl Purpose {
    pub const ALL: [Purpose; 4] = [
        Purpose::Forms,
        Purpose::Identity,
        Purpose::Moderation,
        Purpose::Supporters,
    ];

    /// The environment variable that carries the key, and its name in the keys secret.
    pub fn variable(self) -> &'static str {
        match self {
            Purpose::Forms => "FORM_KEY",
            Purpose::Identity => "IDENTITY_KEY",
            Purpose::Moderation => "MODERATION_KEY",
            Purpose::Supporters => "SUPPORTER_KEY",
        }
    }

    /// The HKDF `info` that derives this purpose's key from the master key.
    fn info(self) -> &'static [u8] {
        match self {
            Purpose::Forms => b"forms",
            Purpose::Identity => b"identity",
            Purpose::Moderation => b"moderation",
            Purpose::Supporters => b"supporters",
        }
    }
}

/// Key bytes, never printed.
#[derive(Clone)]
struct Key(Vec<u8>);

impl Key {
    fn new(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() < 32 {
            return Err("a signing key must be at least 32 bytes".into());
        }
        Ok(Self(bytes.to_vec()))
    }

    fn mac(&self, label: &str, data: &[u8]) -> [u8; 32] {
        let mut m = HmacSha256::new_from_slice(&self.0).expect("any key length works for HMAC");
        m.update(label.as_bytes());
        m.update(&[0]);
        m.update(data);
        m.finalize().into_bytes().into()
    }

    /// `<payload>.<mac>` with the payload base64url.
    fn sign(&self, label: &str, payload: &[u8]) -> String {
        let mac = self.mac(label, payload);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(&mac[..24])
        )
    }

    fn verify(&self, label: &str, signed: &str) -> Option<Vec<u8>> {
        let (p, m) = signed.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(p).ok()?;
        let mac = URL_SAFE_NO_PAD.decode(m).ok()?;
        constant_time_eq(&mac, &self.mac(label, &payload)[..24]).then_some(payload)
    }
}

macro_rules! purpose_key {
    ($(#[$doc:meta])* $name:ident, $purpose:expr) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(Key);

        impl $name {
            pub const PURPOSE: Purpose = $purpose;

            /// At least 32 bytes of key.
            pub fn new(key: &[u8]) -> Result<Self, String> {
                Key::new(key).map(Self)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(..)"))
            }
        }
    };
}

purpose_key!(
    /// Signs and checks form tokens.
    FormKey,
    Purpose::Forms
);
purpose_key!(
    /// Keys the non-reversible hashes of addresses, IPs and bodies, and record ids.
    IdentityKey,
    Purpose::Identity
);
purpose_key!(
    /// Signs and checks the moderator's links.
    ModerationKey,
    Purpose::Moderation
);
purpose_key!(
    /// Signs and checks supporters' confirmation and manage links.
    SupporterKey,
    Purpose::Supporters
);

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

impl FormKey {
    /// A token for `form` (e.g. `comment:the-big-link-up`, `signup`) on a page rendered at
    /// `issued` (to the second).
    pub fn form_token(&self, form: &str, issued: OffsetDateTime) -> String {
        let issued = issued.unix_timestamp();
        let mac = self.0.mac("form", format!("{form}|{issued}").as_bytes());
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
        let expected = self.0.mac("form", format!("{form}|{issued}").as_bytes());
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
}

impl IdentityKey {
    /// A keyed, non-reversible hash (for e-mail addresses and IPs), hex. Different labels
    /// give unrelated hashes of the same value.
    pub fn keyed_hash(&self, label: &str, value: &str) -> String {
        hex::encode(&self.0.mac(label, value.as_bytes())[..16])
    }
}

impl ModerationKey {
    /// Sign a payload for a purpose: `<payload>.<mac>` with the payload base64url.
    pub fn sign(&self, label: &str, payload: &[u8]) -> String {
        self.0.sign(label, payload)
    }

    /// The payload of a value made by [`ModerationKey::sign`] with the same label, if genuine.
    pub fn verify(&self, label: &str, signed: &str) -> Option<Vec<u8>> {
        self.0.verify(label, signed)
    }
}

impl SupporterKey {
    /// Sign a payload for a purpose: `<payload>.<mac>` with the payload base64url.
    pub fn sign(&self, label: &str, payload: &[u8]) -> String {
        self.0.sign(label, payload)
    }

    /// The payload of a value made by [`SupporterKey::sign`] with the same label, if genuine.
    pub fn verify(&self, label: &str, signed: &str) -> Option<Vec<u8>> {
        self.0.verify(label, signed)
    }

    /// A secret derived from `value` for a purpose: the whole HMAC (32 bytes), base64url.
    /// Whoever lacks the key cannot make it from `value`; whoever has it makes the same one
    /// again (the supporter mail sender re-sends a confirmation link after a failed send
    /// without storing the link).
    pub fn derived_secret(&self, label: &str, value: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.0.mac(label, value.as_bytes()))
    }
}

/// Every purpose's key: what the operator's tools and the local server hold. A deployed
/// function never holds this, only the keys its purposes need (see `Env::form_key` & co.).
#[derive(Clone, Debug)]
pub struct Keys {
    pub forms: FormKey,
    pub identity: IdentityKey,
    pub moderation: ModerationKey,
    pub supporters: SupporterKey,
}

/// HKDF's salt: fixed, so the same master key always gives the same keys.
const HKDF_SALT: &[u8] = b"campaign-site signing keys v1";

impl Keys {
    /// Each purpose's key derived from one master key (HKDF-SHA256, the purpose as `info`).
    /// Knowing one purpose's key tells nothing about the others or the master.
    pub fn from_master(master: &[u8]) -> Result<Self, String> {
        if master.len() < 32 {
            return Err("the master key must be at least 32 bytes".into());
        }
        let hk = hkdf::Hkdf::<Sha256>::new(Some(HKDF_SALT), master);
        let derive = |p: Purpose| {
            let mut okm = [0u8; 32];
            hk.expand(p.info(), &mut okm)
                .expect("32 bytes is a valid HKDF-SHA256 output length");
            Key(okm.to_vec())
        };
        Ok(Self {
            forms: FormKey(derive(Purpose::Forms)),
            identity: IdentityKey(derive(Purpose::Identity)),
            moderation: ModerationKey(derive(Purpose::Moderation)),
            supporters: SupporterKey(derive(Purpose::Supporters)),
        })
    }

    /// Keys for a site that used one signing key for everything: the identity and supporter
    /// keys stay that key, because what they made outlives a key change (supporters are
    /// stored under the keyed hash of their address, and manage links sit in mailboxes);
    /// form and moderation keys are derived from a new master (their tokens expire).
    pub fn upgraded(legacy: &[u8], master: &[u8]) -> Result<Self, String> {
        let fresh = Self::from_master(master)?;
        Ok(Self {
            identity: IdentityKey::new(legacy)?,
            supporters: SupporterKey::new(legacy)?,
            ..fresh
        })
    }

    /// The keys as the keys secret holds them: a JSON object, each purpose's variable name
    /// to its key in hex.
    pub fn to_secret_json(&self) -> String {
        let map: serde_json::Map<String, serde_json::Value> = [
            (Purpose::Forms, &self.forms.0),
            (Purpose::Identity, &self.identity.0),
            (Purpose::Moderation, &self.moderation.0),
            (Purpose::Supporters, &self.supporters.0),
        ]
        .into_iter()
        .map(|(p, k)| (p.variable().to_string(), hex::encode(&k.0).into()))
        .collect();
        serde_json::Value::Object(map).to_string()
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
        let s = FormKey::new(&[7u8; 32]).unwrap();
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
        let other = FormKey::new(&[8u8; 32]).unwrap();
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
        let s = FormKey::new(&[7u8; 32]).unwrap();
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
        let s = FormKey::new(&[7u8; 32]).unwrap();
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
        let s = ModerationKey::new(&[1u8; 32]).unwrap();
        let v = s.sign("moderate", b"approve|c1|123");
        assert_eq!(s.verify("moderate", &v).unwrap(), b"approve|c1|123");
        assert!(s.verify("unsubscribe", &v).is_none());
        let mut tampered = v.clone();
        tampered.replace_range(0..1, "X");
        assert!(s.verify("moderate", &tampered).is_none());
        let h = IdentityKey::new(&[1u8; 32]).unwrap();
        assert_eq!(h.keyed_hash("ip", "1.2.3.4"), h.keyed_hash("ip", "1.2.3.4"));
        assert_ne!(
            h.keyed_hash("ip", "1.2.3.4"),
            h.keyed_hash("email", "1.2.3.4")
        );
        assert!(IdentityKey::new(b"short").is_err());
    }

    #[test]
    fn each_purpose_gets_its_own_key_from_the_master() {
        let keys = Keys::from_master(&[9u8; 32]).unwrap();
        let again = Keys::from_master(&[9u8; 32]).unwrap();
        assert_eq!(
            keys.to_secret_json(),
            again.to_secret_json(),
            "deterministic"
        );
        let json: serde_json::Value = serde_json::from_str(&keys.to_secret_json()).unwrap();
        let hexes: Vec<&str> = Purpose::ALL
            .iter()
            .map(|p| json[p.variable()].as_str().unwrap())
            .collect();
        assert_eq!(hexes.len(), 4);
        for (i, a) in hexes.iter().enumerate() {
            assert_eq!(a.len(), 64);
            assert_ne!(
                *a,
                hex::encode([9u8; 32]),
                "the master itself is never a key"
            );
            for b in &hexes[i + 1..] {
                assert_ne!(a, b, "two purposes share a key");
            }
        }
        // A moderation link made with the moderation key is no supporter link.
        let signed = keys.moderation.sign("supporter-manage", b"x");
        assert!(keys
            .supporters
            .verify("supporter-manage", &signed)
            .is_none());
        // Another master gives other keys.
        let other = Keys::from_master(&[10u8; 32]).unwrap();
        assert_ne!(
            keys.identity.keyed_hash("email", "a@b.c"),
            other.identity.keyed_hash("email", "a@b.c")
        );
        assert!(Keys::from_master(&[1u8; 16]).is_err());
    }

    #[test]
    fn an_upgraded_site_keeps_its_hashes_and_supporter_links() {
        let legacy = [4u8; 32];
        let keys = Keys::upgraded(&legacy, &[5u8; 32]).unwrap();
        let old = IdentityKey::new(&legacy).unwrap();
        assert_eq!(
            keys.identity.keyed_hash("email", "a@b.c"),
            old.keyed_hash("email", "a@b.c")
        );
        let old_link = SupporterKey::new(&legacy)
            .unwrap()
            .sign("supporter-manage", b"h|n");
        assert_eq!(
            keys.supporters
                .verify("supporter-manage", &old_link)
                .unwrap(),
            b"h|n"
        );
        let fresh = Keys::from_master(&[5u8; 32]).unwrap();
        let t = datetime!(2026-11-20 10:00 UTC);
        assert_eq!(
            keys.forms.form_token("signup", t),
            fresh.forms.form_token("signup", t)
        );
    }
}
