//! Field rules every form shares: one-line text cleaning (no control, bidi or invisible
//! characters), e-mail addresses, and the errors shown beside fields.

use std::collections::BTreeMap;

use crate::signing::IdentityKey;

pub const MAX_NAME: usize = 100;
pub const MAX_EMAIL: usize = 254;

/// Messages by field name (`name`, `email`, `supporter_type`, `organisation`).
pub type FieldErrors = BTreeMap<String, String>;

/// Trim, and turn every run of whitespace (line breaks included) into one space. `None`
/// when the text holds other control characters.
pub fn clean_line(s: &str) -> Option<String> {
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

/// A Unicode noncharacter (U+FDD0–U+FDEF, and the last two code points of every plane,
/// U+FFFE and U+FFFF among them): never text, and U+FFFE/U+FFFF are not allowed in XML.
pub fn is_noncharacter(c: char) -> bool {
    matches!(c, '\u{FDD0}'..='\u{FDEF}') || (c as u32) & 0xFFFE == 0xFFFE
}

/// Bidi controls and other invisible formatting characters (zero-width space and joiners,
/// direction marks, embeddings, overrides, isolates, the byte-order mark): what
/// [`clean_line`] refuses besides control characters.
pub fn is_bidi_or_invisible(c: char) -> bool {
    is_invisible_format(c)
}

/// Is this multi-line text (a comment body) free of characters no page, feed or terminal
/// should get: control characters (C0, DEL, C1) other than tab, line feed and a carriage
/// return that starts a CR LF, and noncharacters? (Invisible formatting characters are
/// allowed here: right-to-left writing and emoji sequences need them.)
pub fn is_clean_text(s: &str) -> bool {
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let ok = match c {
            '\t' | '\n' => true,
            '\r' => chars.peek() == Some(&'\n'),
            c => !c.is_control() && !is_noncharacter(c),
        };
        if !ok {
            return false;
        }
    }
    true
}

/// A web address as plain ASCII, the host in punycode (`https://xn--pple-43d.example/`
/// for a Cyrillic look-alike of `apple.example`), so that a look-alike domain shows for
/// what it is; `None` when it is not an absolute URL with a host.
pub fn ascii_url(raw: &str) -> Option<String> {
    let u = url::Url::parse(raw.trim()).ok()?;
    u.host()?;
    Some(u.to_string())
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

/// An address that passed [`validate_email`]: trimmed and lower-cased (no mail provider in
/// use treats the local part case-sensitively, and matching case-insensitively keeps
/// `Ada@Example.org` and `ada@example.org` one person).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// The address, or the message to show beside the field.
    pub fn parse(raw: &str) -> Result<Self, String> {
        validate_email(raw).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The keyed hash the address is filed under.
    pub fn hash(&self, identity: &IdentityKey) -> String {
        email_hash(identity, &self.0)
    }
}

impl AsRef<str> for EmailAddress {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The keyed hash an address is filed under.
pub fn email_hash(identity: &IdentityKey, normalised_email: &str) -> String {
    identity.keyed_hash("email", normalised_email)
}
