//! Dates as the site reads and prints them: front matter dates in, RFC 3339 for feeds and
//! records, "21 July 2010" for pages. Pure.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Accepts `2010-07-21`, `2010-07-21 10:30`, `2010-07-21T10:30:00` (UTC) and RFC 3339, for
/// instants from year 0 to 9999 in UTC: what [`rfc3339`] can print (an offset can carry a
/// date just past either end, which has no UTC form, or none that feeds can hold).
pub fn parse_date(s: &str) -> Result<OffsetDateTime, String> {
    let s = s.trim();
    let t = parse_any(s).ok_or_else(|| {
        format!(
            "date `{s}` is not a date: use YYYY-MM-DD, optionally with a time (2010-07-21T10:30:00Z)"
        )
    })?;
    match t.checked_to_offset(UtcOffset::UTC) {
        Some(utc) if (0..=9999).contains(&utc.year()) => Ok(utc),
        _ => Err(format!(
            "date `{s}` is out of range: use a date between the years 0 and 9999"
        )),
    }
}

fn parse_any(s: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    for fmt in [
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
        format_description!("[year]-[month]-[day] [hour]:[minute]"),
    ] {
        if let Ok(t) = PrimitiveDateTime::parse(s, fmt) {
            return Some(t.assume_utc());
        }
    }
    Date::parse(s, format_description!("[year]-[month]-[day]"))
        .ok()
        .map(|d| d.midnight().assume_utc())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (`fuzz/` target `dates`): an offset that moves the instant past
    /// year 9999 in UTC panicked in `to_offset`, and one before year 0 (or a negative year)
    /// was accepted but printed as an empty date, so a post's or a Webmention's date broke
    /// the build or the feed.
    #[test]
    fn dates_without_a_utc_form_are_refused_not_a_panic() {
        for s in [
            "9999-12-31T23:59:59-23:59",
            "0000-01-01T00:00:00+23:59",
            "-0001-01-01",
            "+10000-01-01",
        ] {
            assert!(parse_date(s).is_err(), "{s}");
        }
        for s in [
            "9999-12-31T23:59:59Z",
            "0000-01-01",
            "2010-07-21T10:30:00+02:00",
        ] {
            let t = parse_date(s).unwrap();
            assert_eq!(parse_date(&rfc3339(t)), Ok(t), "{s}");
        }
    }
}
