//! Where things live: keys in the content bucket, keys in the site bucket, and the
//! HTTP headers each built object is served with. One place, used by the builder,
//! the S3 adapter and the local server alike.

/// Keys in the content bucket (or folder).
pub mod content {
    pub const CONFIG: &str = "site.toml";
    pub const QUOTES: &str = "quotes.toml";
    pub const POSTS: &str = "posts/";
    /// Pages: `pages/<slug>.md`, published at `/<slug>/`, not listed and not in the feed.
    pub const PAGES: &str = "pages/";
    pub const PHOTOS: &str = "photos/";
    pub const TEMPLATES: &str = "templates/";
    pub const STATIC: &str = "static/";
    pub const BLOCKLIST: &str = "blocklist.txt";
    /// Old addresses and where they now are (see `site::redirects`).
    pub const REDIRECTS: &str = "redirects.txt";
}

/// Keys in the state store (the content bucket under `_state/` on AWS, `<data>/state/` locally):
/// what the builder remembers between events.
pub mod state {
    /// The post index, in shards: `post-index/00` … `post-index/63`.
    pub const POST_INDEX_DIR: &str = "post-index/";
    /// The single-file index of earlier versions, removed by the next full build.
    pub const LEGACY_POST_INDEX: &str = "post-index.json";
    pub const PHOTO_INDEX: &str = "photo-index.json";
    /// The published pages (slug, photo, `updated`): what the sitemap lists, and which
    /// site pages to delete when a page goes.
    pub const PAGE_INDEX: &str = "pages.json";
}

/// What a change to one content key asks the builder to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentChange {
    Post {
        slug: String,
    },
    /// `pages/<slug>.md` (a reserved slug too: the builder says why it is refused).
    Page {
        slug: String,
    },
    Photo {
        key: String,
    },
    /// Config, quotes or a template: everything is re-rendered.
    Everything,
    Static {
        key: String,
    },
    /// Not ours (e.g. `_state/`, stray files): ignored.
    Ignored,
}

/// Classify a content key.
pub fn classify(key: &str) -> ContentChange {
    // The redirect map too: it changes rarely (an import), and a full build is what
    // publishes it and removes redirects it no longer has.
    if key == content::CONFIG
        || key == content::QUOTES
        || key == content::REDIRECTS
        || key.starts_with(content::TEMPLATES)
    {
        return ContentChange::Everything;
    }
    if let Some(rest) = key.strip_prefix(content::POSTS) {
        if let Some(slug) = rest.strip_suffix(".md") {
            if is_valid_slug(slug) {
                return ContentChange::Post {
                    slug: slug.to_string(),
                };
            }
        }
        return ContentChange::Ignored;
    }
    if let Some(rest) = key.strip_prefix(content::PAGES) {
        if let Some(slug) = rest.strip_suffix(".md") {
            if is_valid_slug(slug) {
                return ContentChange::Page {
                    slug: slug.to_string(),
                };
            }
        }
        return ContentChange::Ignored;
    }
    if key.starts_with(content::PHOTOS) && crate::site::photos::is_photo_key(key) {
        return ContentChange::Photo {
            key: key.to_string(),
        };
    }
    if let Some(rest) = key.strip_prefix(content::STATIC) {
        if !rest.is_empty() && !rest.split('/').any(|p| p.is_empty() || p == "..") {
            return ContentChange::Static {
                key: key.to_string(),
            };
        }
    }
    ContentChange::Ignored
}

/// Slugs become URL paths and store keys: lower-case letters, digits, `-` and `_`.
pub fn is_valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 120
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Top-level names of the site's own pages and of the API routes beside them: a page
/// slug may not be one of these (its `/<slug>/` would hide them, or they it).
pub const RESERVED_PAGE_SLUGS: &[&str] = &[
    "posts",
    "page",
    "photos",
    "static",
    "signup",
    "unsubscribe",
    "feed",
    "feed.xml",
    "sitemap",
    "sitemap.xml",
    "404",
    "404.html",
    "index.html",
    "_old",
    "_admin",
    "moderate",
    "webmention",
    "xmlrpc",
];

/// A slug a page cannot have: not a valid slug, or one of [`RESERVED_PAGE_SLUGS`].
pub fn is_reserved_page_slug(slug: &str) -> bool {
    !is_valid_slug(slug) || RESERVED_PAGE_SLUGS.contains(&slug)
}

/// Keys in the site bucket.
pub mod site {
    pub fn post_page(slug: &str) -> String {
        format!("posts/{slug}/index.html")
    }
    /// A page (`pages/<slug>.md`) is published at `/<slug>/`.
    pub fn page(slug: &str) -> String {
        format!("{slug}/index.html")
    }
    pub fn post_comments_feed(slug: &str) -> String {
        format!("posts/{slug}/comments.xml")
    }
    /// Page 1 is `index.html`, page n is `page/n/index.html`.
    pub fn index_page(n: usize) -> String {
        if n <= 1 {
            "index.html".into()
        } else {
            format!("page/{n}/index.html")
        }
    }
    pub const FEED: &str = "feed.xml";
    pub const SITEMAP: &str = "sitemap.xml";
    pub const NOT_FOUND: &str = "404.html";
    pub const SIGNUP: &str = "signup/index.html";
    pub const THEME_PREFIX: &str = "static/";
}

/// The URL path a site key is served at (`posts/a/index.html` → `posts/a/`).
pub fn url_path_of(key: &str) -> String {
    match key.strip_suffix("index.html") {
        Some(dir) => dir.to_string(),
        None => key.to_string(),
    }
}

/// The URL path of a page (`about` → `about/`), as the sitemap lists it.
pub fn page_url_path(slug: &str) -> String {
    url_path_of(&site::page(slug))
}

pub use crate::ports::ObjectMeta;

/// Pages change whenever a comment lands, so browsers revalidate them; photo variants
/// and theme assets are named by content and can be cached for long.
pub fn object_meta(key: &str) -> ObjectMeta {
    let ext = key
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let content_type = match ext.as_str() {
        "html" => "text/html; charset=utf-8",
        "xml" if key.ends_with(site::FEED) || key.ends_with("comments.xml") => {
            "application/atom+xml; charset=utf-8"
        }
        "xml" => "application/xml; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    };
    let cache_control = if key.starts_with("photos/") {
        // Variant names carry a content hash: safe to cache for a year.
        "public, max-age=31536000, immutable"
    } else if key.starts_with(site::THEME_PREFIX) {
        "public, max-age=3600"
    } else {
        "public, max-age=0, must-revalidate"
    };
    ObjectMeta {
        content_type,
        cache_control,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_content_keys() {
        assert_eq!(
            classify("posts/hello-world.md"),
            ContentChange::Post {
                slug: "hello-world".into()
            }
        );
        assert_eq!(classify("posts/Bad Slug.md"), ContentChange::Ignored);
        assert_eq!(
            classify("pages/about.md"),
            ContentChange::Page {
                slug: "about".into()
            }
        );
        // Reserved slugs still reach the builder, which says why they are refused.
        assert_eq!(
            classify("pages/posts.md"),
            ContentChange::Page {
                slug: "posts".into()
            }
        );
        assert_eq!(classify("pages/About Us.md"), ContentChange::Ignored);
        assert_eq!(classify("pages/about.txt"), ContentChange::Ignored);
        assert_eq!(classify("pages/sub/about.md"), ContentChange::Ignored);
        assert_eq!(
            classify("photos/hall.jpg"),
            ContentChange::Photo {
                key: "photos/hall.jpg".into()
            }
        );
        assert_eq!(classify("templates/post.html"), ContentChange::Everything);
        assert_eq!(classify("site.toml"), ContentChange::Everything);
        assert_eq!(
            classify("static/extra.css"),
            ContentChange::Static {
                key: "static/extra.css".into()
            }
        );
        assert_eq!(classify("static/../x"), ContentChange::Ignored);
        assert_eq!(classify("_state/post-index.json"), ContentChange::Ignored);
    }

    #[test]
    fn headers_fit_the_object() {
        assert_eq!(
            object_meta("index.html").content_type,
            "text/html; charset=utf-8"
        );
        assert_eq!(
            object_meta("feed.xml").content_type,
            "application/atom+xml; charset=utf-8"
        );
        assert_eq!(
            object_meta("sitemap.xml").content_type,
            "application/xml; charset=utf-8"
        );
        assert!(object_meta("photos/a-480-0123.webp")
            .cache_control
            .contains("immutable"));
        assert!(object_meta("posts/a/index.html")
            .cache_control
            .contains("must-revalidate"));
        assert_eq!(url_path_of("posts/a/index.html"), "posts/a/");
        assert_eq!(url_path_of("index.html"), "");
        assert_eq!(site::page("about"), "about/index.html");
        assert_eq!(page_url_path("about"), "about/");
    }

    #[test]
    fn page_slugs_that_would_collide_are_reserved() {
        for slug in [
            "posts",
            "page",
            "photos",
            "static",
            "signup",
            "feed",
            "feed.xml",
            "sitemap.xml",
            "404",
            "_old",
            "moderate",
            "webmention",
            "xmlrpc",
            "index.html",
            "unsubscribe",
            "",
            "About",
        ] {
            assert!(is_reserved_page_slug(slug), "{slug}");
        }
        for slug in ["about", "contact-us", "posts-archive", "pages"] {
            assert!(!is_reserved_page_slug(slug), "{slug}");
        }
    }
}
