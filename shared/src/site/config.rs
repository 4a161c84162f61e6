//! Site configuration, read from `site.toml` in the content bucket (or folder).

use serde::{Deserialize, Serialize};

/// One navigation link in the site header.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NavLink {
    pub title: String,
    pub url: String,
}

/// What the site owner sets in `site.toml`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    pub title: String,
    /// Public address of the site, e.g. `https://example.org/` (always kept with a trailing slash).
    pub base_url: String,
    /// Base of the form endpoints, e.g. `https://api.example.org` (no trailing slash).
    pub api_url: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub language: String,
    #[serde(default)]
    pub hcaptcha_site_key: String,
    #[serde(default = "default_per_page")]
    pub posts_per_page: usize,
    /// Entries in `feed.xml`.
    #[serde(default = "default_feed_entries")]
    pub feed_entries: usize,
    #[serde(default)]
    pub nav: Vec<NavLink>,
    /// The spam filter's thresholds.
    #[serde(default)]
    pub spam: crate::comments::filter::SpamSettings,
    /// Pingbacks and Webmentions: on or off, and whose are approved without a moderator.
    #[serde(default)]
    pub linkbacks: crate::linkbacks::mention::LinkbackSettings,
}

fn default_per_page() -> usize {
    10
}
fn default_feed_entries() -> usize {
    20
}

/// A configuration file that cannot be used, with the reason.
#[derive(Debug, thiserror::Error)]
#[error("site.toml: {0}")]
pub struct ConfigError(pub String);

impl SiteConfig {
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let mut cfg: SiteConfig = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        cfg.normalise()?;
        Ok(cfg)
    }

    fn normalise(&mut self) -> Result<(), ConfigError> {
        self.spam.check().map_err(ConfigError)?;
        // The URL parser ignores tabs and line breaks anywhere and spaces and control
        // characters at either end; the stored address must not keep them either (a slash
        // added after them makes it no URL, and links built on it break).
        for value in [&mut self.base_url, &mut self.api_url] {
            value.retain(|c| !matches!(c, '\t' | '\n' | '\r'));
            *value = value.trim_matches(|c: char| c <= ' ').to_string();
        }
        for (name, value) in [("base_url", &self.base_url), ("api_url", &self.api_url)] {
            let parsed = url::Url::parse(value)
                .map_err(|e| ConfigError(format!("{name} `{value}` is not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(ConfigError(format!("{name} must be http or https")));
            }
        }
        if !self.base_url.ends_with('/') {
            self.base_url.push('/');
        }
        // Without its trailing slashes (and any spaces they were hiding).
        let kept = self
            .api_url
            .trim_end_matches(|c: char| c == '/' || c <= ' ')
            .len();
        self.api_url.truncate(kept);
        if self.posts_per_page == 0 {
            return Err(ConfigError("posts_per_page must be at least 1".into()));
        }
        if self.language.is_empty() {
            self.language = "en".into();
        }
        Ok(())
    }

    /// Absolute URL of a site path such as `posts/x/`.
    pub fn url_for(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path.trim_start_matches('/'))
    }

    /// Point the site's own loopback addresses (`http://127.0.0.1:8080/`, `localhost`) at
    /// the address a local server actually listens on (`origin`, e.g.
    /// `http://127.0.0.1:9000`), so links, form actions and mailed links follow `--addr`.
    /// A public address the owner set on purpose is left alone.
    pub fn served_at(&mut self, origin: &str) {
        let Ok(origin) = url::Url::parse(origin) else {
            return;
        };
        for value in [&mut self.base_url, &mut self.api_url] {
            let Ok(mut u) = url::Url::parse(value) else {
                continue;
            };
            let loopback = match u.host() {
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if !loopback {
                continue;
            }
            let path = u.path().to_string();
            u = origin.clone();
            u.set_path(&path);
            let mut s = u.to_string();
            // Keep the stored forms: base_url with its slash, api_url without.
            if !value.ends_with('/') {
                while s.ends_with('/') {
                    s.pop();
                }
            }
            *value = s;
        }
    }

    /// What a captcha answer must have been solved for: this site's key, on this site's host.
    pub fn captcha_site(&self) -> crate::ports::CaptchaSite<'_> {
        crate::ports::CaptchaSite {
            site_key: &self.hcaptcha_site_key,
            hostname: self
                .base_url
                .split("://")
                .nth(1)
                .and_then(|rest| rest.split(['/', ':']).next())
                .filter(|h| !h.is_empty()),
        }
    }

    /// The path part of `base_url` (`/` for a site at the root), for links inside pages.
    pub fn base_path(&self) -> String {
        url::Url::parse(&self.base_url)
            .map(|u| u.path().to_string())
            .unwrap_or_else(|_| "/".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (`fuzz/` target `config`, the parse → print → parse round trip):
    /// `base_url = "http://127.0.0.1:8080 "` passed the URL check (the parser ignores the
    /// space) and was stored as `http://127.0.0.1:8080 /`, which is no URL: every link on
    /// the site was broken, and the printed configuration no longer parsed. Likewise an
    /// `api_url` whose trailing slashes hid a tab or a space.
    #[test]
    fn addresses_are_stored_without_the_spaces_the_url_check_ignores() {
        let cfg = SiteConfig::parse(
            "title = \"T\"\nbase_url = \" https://example.org/blog \"\n\
             api_url = \"https://api.example.org/ \\t\"\n",
        )
        .unwrap();
        assert_eq!(cfg.base_url, "https://example.org/blog/");
        assert_eq!(cfg.api_url, "https://api.example.org");
        for (api_url, stored) in [
            ("https://api.example.org//\\t//", "https://api.example.org"),
            ("https://api.example.org/ /", "https://api.example.org"),
            (
                "https://api.exa\\tmple.org/v1/",
                "https://api.example.org/v1",
            ),
        ] {
            let text =
                format!("title = \"T\"\nbase_url = \"https://e.org/\"\napi_url = \"{api_url}\"\n");
            let cfg = SiteConfig::parse(&text).unwrap();
            assert_eq!(cfg.api_url, stored, "{api_url}");
            let printed = toml::to_string(&cfg).unwrap();
            assert_eq!(SiteConfig::parse(&printed).unwrap(), cfg, "{api_url}");
        }
        assert_eq!(cfg.url_for("posts/a/"), "https://example.org/blog/posts/a/");
        let printed = toml::to_string(&cfg).unwrap();
        assert_eq!(SiteConfig::parse(&printed).unwrap(), cfg);
    }

    #[test]
    fn loopback_addresses_follow_the_local_server() {
        let mut cfg = SiteConfig::parse(
            "title = \"T\"\nbase_url = \"http://127.0.0.1:8080/\"\napi_url = \"http://localhost:8080\"\n",
        )
        .unwrap();
        cfg.served_at("http://127.0.0.1:9000");
        assert_eq!(cfg.base_url, "http://127.0.0.1:9000/");
        assert_eq!(cfg.api_url, "http://127.0.0.1:9000");
        let mut public = SiteConfig::parse(
            "title = \"T\"\nbase_url = \"https://example.org/campaign/\"\napi_url = \"https://api.example.org\"\n",
        )
        .unwrap();
        public.served_at("http://127.0.0.1:9000");
        assert_eq!(public.base_url, "https://example.org/campaign/");
        assert_eq!(public.api_url, "https://api.example.org");
    }

    #[test]
    fn normalises_urls_and_defaults() {
        let cfg = SiteConfig::parse(
            "title = \"T\"\nbase_url = \"https://example.org\"\napi_url = \"https://api.example.org/\"\n",
        )
        .unwrap();
        assert_eq!(cfg.base_url, "https://example.org/");
        assert_eq!(cfg.api_url, "https://api.example.org");
        assert_eq!(cfg.posts_per_page, 10);
        assert_eq!(cfg.url_for("/posts/a/"), "https://example.org/posts/a/");
    }

    #[test]
    fn rejects_unknown_keys_and_bad_urls() {
        let err = SiteConfig::parse("title = \"T\"\nbase_url = \"x\"\napi_url = \"https://a\"\n")
            .unwrap_err();
        assert!(err.to_string().contains("base_url"), "{err}");
        let err = SiteConfig::parse(
            "title = \"T\"\nbase_url = \"https://a\"\napi_url = \"https://a\"\ntitel = 1\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("titel"), "{err}");
    }
}
