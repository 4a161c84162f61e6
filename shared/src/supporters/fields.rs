//! What the sign-up form must hold: the fields as submitted, checked all at once, and the
//! name a mail may greet someone by.

use serde::{Deserialize, Serialize};

use crate::http::fields::*;

use super::*;

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
    // No choice is an error like any other field's: the page preselects "individual", so
    // an empty value means the visitor cleared it (or a script left it out).
    let supporter_type = SupporterType::parse(f.supporter_type).unwrap_or_else(|| {
        errors.insert(
            "supporter_type".into(),
            "Please choose whether you sign up as an individual or for an organisation.".into(),
        );
        SupporterType::Individual
    });
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
