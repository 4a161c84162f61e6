//! Dates as the site reads and prints them: front matter dates in, RFC 3339 for feeds and
//! records, "21 July 2010" for pages. Pure.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Accepts `2010-07-21`, `2010-07-21 10:30`, `2010-07-21T10:30:00` (UTC) and RFC 3339.
pub fn parse_date(s: &str) -> Result<OffsetDateTime, String> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t.to_offset(UtcOffset::UTC));
    }
    for fmt in [
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
        format_description!("[year]-[month]-[day] [hour]:[minute]"),
    ] {
        if let Ok(t) = PrimitiveDateTime::parse(s, fmt) {
            return Ok(t.assume_utc());
        }
    }
    if let Ok(d) = Date::parse(s, format_description!("[year]-[month]-[day]")) {
        return Ok(d.midnight().assume_utc());
    }
    Err(format!(
        "date `{s}` is not a date: use YYYY-MM-DD, optionally with a time (2010-07-21T10:30:00Z)"
    ))
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// "21 July 2010", as the seed site prints dates.
pub fn human_date(t: OffsetDateTime) -> String {
    t.format(format_description!(
        "[day padding:none] [month repr:long] [year]"
    ))
    .unwrap_or_default()
}
