//! A supporter's own data (JSON) and the owner's CSV export.

use serde_json::{json, Value};

use super::*;

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
