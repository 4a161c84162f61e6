//! Old addresses that keep working: `redirects.txt` in the content store, one redirect a
//! line (`/2010/07/21/the-big-link-up/ /posts/the-big-link-up/`), written by `site import
//! wordpress` and the site owner's to read and edit. Pure: the map parsed, and the key in
//! the site store each old address is answered from.
//!
//! Each redirect is published as an object at the old address's key: a small HTML page
//! that points on, stored on S3 with `x-amz-website-redirect-location`, which the CloudFront
//! viewer-response function turns into a 301; the local server answers the same object
//! with a 301 too ([`location_of_page`]). WordPress's query-string addresses (`/?p=123`,
//! `/?page_id=2`, `/?feed=rss2`) have no key of their own: the viewer-request function (and
//! the local server) map them to `_old/<name>/<value>/`, which is where they are published.

use std::collections::BTreeMap;

/// The query parameters WordPress addresses content by, on the site's root.
pub const QUERY_NAMES: [&str; 7] = ["p", "page_id", "attachment_id", "feed", "cat", "tag", "m"];

/// Where query-string addresses are published.
pub const QUERY_PREFIX: &str = "_old/";

/// The parsed map: old address → new address, in file order, the first line for an old
/// address winning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redirects {
    pub entries: Vec<(String, String)>,
}

/// A line that cannot be used, with its number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("redirects.txt:{line}: {message}")]
pub struct RedirectError {
    pub line: usize,
    pub message: String,
}

impl Redirects {
    /// Parse the file; bad lines are returned beside the good ones (a typo on one line does
    /// not take every other redirect down).
    pub fn parse(text: &str) -> (Self, Vec<RedirectError>) {
        let mut seen = std::collections::HashSet::new();
        let mut entries = Vec::new();
        let mut errors = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split(" #").next().unwrap_or("").trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (Some(from), Some(to), None) = (parts.next(), parts.next(), parts.next()) else {
                errors.push(RedirectError {
                    line: i + 1,
                    message: "expected two addresses: the old one, then the new one".into(),
                });
                continue;
            };
            if let Err(message) = key_for(from).map(|_| ()).and_then(|_| check_target(to)) {
                errors.push(RedirectError {
                    line: i + 1,
                    message,
                });
                continue;
            }
            if seen.insert(from.to_string()) {
                entries.push((from.to_string(), to.to_string()));
            }
        }
        (Self { entries }, errors)
    }

    /// The file, as written back (merged with what an import adds).
    pub fn to_text(&self) -> String {
        let mut out = String::from(
            "# Old addresses and where they now are: one a line, the old address first.\n\
             # Written by `site import wordpress`; yours to edit. Old addresses are paths\n\
             # (/2010/07/21/a-post/) or WordPress's query addresses (/?p=123, /?page_id=2).\n",
        );
        let width = self.entries.iter().map(|(f, _)| f.len()).max().unwrap_or(0);
        for (from, to) in &self.entries {
            out.push_str(&format!("{from:width$} {to}\n"));
        }
        out
    }

    /// Add redirects not there yet (an old address already mapped keeps its line: the
    /// owner may have edited it).
    pub fn merge(&mut self, more: impl IntoIterator<Item = (String, String)>) -> usize {
        let have: std::collections::HashSet<String> =
            self.entries.iter().map(|(f, _)| f.clone()).collect();
        let mut added = 0;
        let mut fresh: BTreeMap<String, String> = BTreeMap::new();
        for (from, to) in more {
            if !have.contains(&from) && from != to {
                fresh.entry(from).or_insert(to);
            }
        }
        for (from, to) in fresh {
            self.entries.push((from, to));
            added += 1;
        }
        added
    }

    /// The new address for a request (path and query as received), if it is an old one.
    pub fn lookup(&self, path: &str, query: Option<&str>) -> Option<&str> {
        let wanted = key_for_request(path, query)?;
        self.entries
            .iter()
            .find(|(from, _)| key_for(from).ok().as_deref() == Some(wanted.as_str()))
            .map(|(_, to)| to.as_str())
    }
}

fn check_target(to: &str) -> Result<(), String> {
    if to.starts_with('/') && !to.starts_with("//") {
        return Ok(());
    }
    match url::Url::parse(to) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
        _ => Err(format!(
            "`{to}` is not a new address: use a path (/posts/x/) or an http(s) URL"
        )),
    }
}

/// The site-store key an old address is published at.
pub fn key_for(old: &str) -> Result<String, String> {
    let (path, query) = match old.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (old, None),
    };
    if !path.starts_with('/') || path.contains("..") || path.contains('\\') {
        return Err(format!(
            "`{old}` is not an address on this site: start it with /"
        ));
    }
    if path.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!("`{old}` has spaces or control characters"));
    }
    key_for_request(path, query).ok_or_else(|| {
        format!(
            "`{old}`: of query addresses only /?{}=… on the site's root can be redirected",
            QUERY_NAMES.join("=…, /?")
        )
    })
}

/// The key a request is answered from when it is an old address: the path as the site
/// stores pages (`/a/b/` → `a/b/index.html`), or for a WordPress query address on the
/// root, `_old/<name>/<value>/index.html`. `None`: a query this map cannot hold.
pub fn key_for_request(path: &str, query: Option<&str>) -> Option<String> {
    let query = query.filter(|q| !q.is_empty());
    if let Some(q) = query {
        if path != "/" && !path.is_empty() {
            return None;
        }
        let (name, value) = q.split('&').next()?.split_once('=')?;
        if !QUERY_NAMES.contains(&name)
            || value.is_empty()
            || !value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        {
            return None;
        }
        return Some(format!("{QUERY_PREFIX}{name}/{value}/index.html"));
    }
    let trimmed = path.trim_start_matches('/');
    if trimmed.is_empty() {
        return None;
    }
    let last = trimmed.rsplit('/').next().unwrap_or("");
    Some(if trimmed.ends_with('/') {
        format!("{trimmed}index.html")
    } else if last.contains('.') {
        trimmed.to_string()
    } else {
        format!("{trimmed}/index.html")
    })
}

/// The page published at an old address: it points on by itself for any client that
/// gets it (a refresh and a link), and names its target on its first line, so the local
/// server can answer it with a 301 ([`location_of_page`]).
pub fn page_for(location: &str) -> Vec<u8> {
    let esc = location
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        "{MARKER}{esc} -->\n<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Moved</title><meta name=\"robots\" content=\"noindex\">\
         <link rel=\"canonical\" href=\"{esc}\">\
         <meta http-equiv=\"refresh\" content=\"0; url={esc}\"></head>\
         <body><p>This page has moved to <a href=\"{esc}\">{esc}</a>.</p></body></html>\n"
    )
    .into_bytes()
}

const MARKER: &str = "<!-- moved permanently to: ";

/// The target of a page made by [`page_for`], if these bytes are one.
pub fn location_of_page(bytes: &[u8]) -> Option<String> {
    let first = bytes.split(|b| *b == b'\n').next()?;
    let first = std::str::from_utf8(first).ok()?;
    let esc = first.strip_prefix(MARKER)?.strip_suffix(" -->")?;
    Some(
        esc.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&amp;", "&"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_addresses_have_keys_where_the_site_answers_them() {
        assert_eq!(
            key_for("/2010/07/21/the-big-link-up/").unwrap(),
            "2010/07/21/the-big-link-up/index.html"
        );
        assert_eq!(key_for("/about").unwrap(), "about/index.html");
        assert_eq!(key_for("/old.html").unwrap(), "old.html");
        assert_eq!(key_for("/?p=123").unwrap(), "_old/p/123/index.html");
        assert_eq!(key_for("/?feed=rss2").unwrap(), "_old/feed/rss2/index.html");
        assert!(key_for("/?s=search").is_err());
        assert!(key_for("/a/?p=1").is_err());
        assert!(key_for("relative").is_err());
        assert!(key_for("/../etc/passwd").is_err());
        assert_eq!(
            key_for_request("/", Some("p=123&foo=bar")).as_deref(),
            Some("_old/p/123/index.html")
        );
        assert_eq!(key_for_request("/", Some("p=<script>")), None);
    }

    #[test]
    fn the_file_parses_merges_and_reads_back() {
        let (r, errors) = Redirects::parse(
            "# comment\n/2010/07/21/a/ /posts/a/\n/?p=1 /posts/a/ # trailing\nbad line here\n/x javascript:alert(1)\n/2010/07/21/a/ /posts/b/\n",
        );
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0].line, 4);
        assert_eq!(r.entries.len(), 2);
        assert_eq!(r.lookup("/2010/07/21/a/", None), Some("/posts/a/"));
        assert_eq!(r.lookup("/2010/07/21/a", None), Some("/posts/a/"));
        assert_eq!(r.lookup("/", Some("p=1")), Some("/posts/a/"));
        assert_eq!(r.lookup("/", Some("p=2")), None);
        let mut again = Redirects::parse(&r.to_text()).0;
        assert_eq!(again, r);
        assert_eq!(
            again.merge([
                ("/?p=1".to_string(), "/posts/other/".to_string()),
                ("/?p=2".to_string(), "/posts/b/".to_string())
            ]),
            1,
            "an old address already mapped keeps its line"
        );
        assert_eq!(again.lookup("/", Some("p=1")), Some("/posts/a/"));
    }

    #[test]
    fn the_published_page_names_its_target() {
        let page = page_for("/posts/a-\"b\"/");
        assert_eq!(location_of_page(&page).as_deref(), Some("/posts/a-\"b\"/"));
        assert_eq!(location_of_page(b"<!doctype html>"), None);
    }
}
