//! The site owner's side of the supporter list: the CSV export (`site supporters export`).
//! The rules (who is listed, the columns, quoting) are in [`shared::supporters`].

use shared::ports::{ItemStore, StoreError};
use shared::supporters::{confirmed_supporters, to_csv};
pub use shared::supporters::{lift_suppression, ExportFilter, SupporterType};

/// Confirmed supporters matching `filter`, as CSV (RFC 4180, a header line, CRLF line ends),
/// oldest confirmation first. Pending sign-ups are never listed.
pub async fn export_csv(
    records: &dyn ItemStore,
    filter: &ExportFilter,
) -> Result<String, StoreError> {
    Ok(to_csv(&confirmed_supporters(records).await?, filter))
}

/// The filter from the command line: `--type individual|organisation` and
/// `--newsletter yes|no` (each optional).
pub fn parse_filter(
    supporter_type: Option<&str>,
    newsletter: Option<&str>,
) -> Result<ExportFilter, String> {
    let supporter_type = supporter_type
        .map(|t| {
            SupporterType::parse(t)
                .ok_or_else(|| format!("--type must be individual or organisation, not `{t}`"))
        })
        .transpose()?;
    let newsletter = newsletter
        .map(|n| match n.trim().to_ascii_lowercase().as_str() {
            "yes" | "true" => Ok(true),
            "no" | "false" => Ok(false),
            _ => Err(format!("--newsletter must be yes or no, not `{n}`")),
        })
        .transpose()?;
    Ok(ExportFilter {
        supporter_type,
        newsletter,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::adapters::FjallItemStore;
    use shared::ports::{Clock, SystemClock};
    use shared::signing::IdentityKey;
    use shared::supporters::{confirm, register, validate, Registration, SignupFields};

    #[test]
    fn parses_the_command_line_filter() {
        assert_eq!(parse_filter(None, None).unwrap(), ExportFilter::default());
        assert_eq!(
            parse_filter(Some("organisation"), Some("no")).unwrap(),
            ExportFilter {
                supporter_type: Some(SupporterType::Organisation),
                newsletter: Some(false)
            }
        );
        assert!(parse_filter(Some("company"), None)
            .unwrap_err()
            .contains("--type"));
        assert!(parse_filter(None, Some("maybe"))
            .unwrap_err()
            .contains("--newsletter"));
    }

    #[tokio::test]
    async fn exports_confirmed_supporters_from_the_local_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = FjallItemStore::open(&dir.path().join("records")).unwrap();
        let identity = IdentityKey::new(&[5u8; 32]).unwrap();
        let now = SystemClock.now();
        let people = [
            (
                "Ada Lovelace",
                "ada@example.org",
                "individual",
                "",
                true,
                true,
            ),
            (
                "Bo Org",
                "bo@example.org",
                "organisation",
                "Bo's Band, Ltd",
                false,
                true,
            ),
            (
                "Cy Pending",
                "cy@example.org",
                "individual",
                "",
                true,
                false,
            ),
        ];
        for (name, email, t, org, news, confirmed) in people {
            let signup = validate(&SignupFields {
                name,
                email,
                supporter_type: t,
                organisation: org,
                newsletter: news,
            })
            .unwrap();
            let Registration::Confirm { token, .. } =
                register(&store, &identity, now, &signup, "ip")
                    .await
                    .unwrap()
            else {
                panic!("a new address gets a confirmation token");
            };
            if confirmed {
                confirm(&store, now, &token).await.unwrap().unwrap();
            }
        }
        let all = export_csv(&store, &ExportFilter::default()).await.unwrap();
        let lines: Vec<&str> = all.lines().collect();
        assert_eq!(lines.len(), 3, "{all}");
        assert!(lines[1].starts_with("Ada Lovelace,ada@example.org,individual,,yes,"));
        assert!(lines[2].starts_with("Bo Org,bo@example.org,organisation,\"Bo's Band, Ltd\",no,"));
        assert!(
            !all.contains("cy@example.org"),
            "pending sign-ups are not exported"
        );

        let orgs = export_csv(&store, &parse_filter(Some("organisation"), None).unwrap())
            .await
            .unwrap();
        assert!(orgs.contains("bo@example.org") && !orgs.contains("ada@example.org"));
        let news = export_csv(&store, &parse_filter(None, Some("yes")).unwrap())
            .await
            .unwrap();
        assert!(news.contains("ada@example.org") && !news.contains("bo@example.org"));
    }
}
