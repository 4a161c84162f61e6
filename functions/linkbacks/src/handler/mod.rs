//! `POST /webmention` (W3C Webmention) and `POST /xmlrpc` (Pingback 1.0's `pingback.ping`).
//!
//! Both run the same checks, cheapest first: the request itself, the rate limit for the
//! client IP (from the request context, never a header), linkbacks turned on in
//! `site.toml`, the two URLs (http(s), different, the target one of our published posts),
//! the blocklist, the rate limit for the source's domain. A mention that passes is stored
//! once as `queued` (one record per source and post, so the same mention sent again replaces
//! it and is verified again) and answered at once: the source is fetched later, by
//! `linkback-verify`, never in the request.

mod webmention;
mod xmlrpc;

use std::sync::Arc;

use lambda_http::{Body, Request, Response};
use shared::env::EnvError;
use shared::http::guard::{RateLimiter, Refusal};
use shared::http::web;
use shared::keys::MENTION_SOURCE_SCOPE;
use shared::linkbacks::mention::{self, Mention, Protocol, Refused};
use shared::ports::{Clock, Condition, ItemStore, StoreError};
use shared::signing::IdentityKey;
use shared::site::build::Pages;
use shared::wiring::Parts;
use tracing::{info, warn};

pub struct Deps {
    pub rate: RateLimiter,
    pub pages: Pages,
    pub records: Arc<dyn ItemStore>,
    /// Keys the IP hash and the linkback's id.
    pub identity: IdentityKey,
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    pub fn build(parts: &dyn Parts) -> Result<Self, EnvError> {
        Ok(Self {
            rate: parts.rate_limiter()?,
            pages: parts.pages()?,
            records: parts.records()?,
            identity: parts.identity_key()?,
            clock: parts.clock(),
        })
    }
}

/// The two endpoints, at the paths API Gateway routes here.
pub const PATHS: [&str; 2] = ["/webmention", "/xmlrpc"];

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    if req.method() != lambda_http::http::Method::POST {
        return web::text(405, "send a POST");
    }
    match web::route_path(&req).as_str() {
        "/webmention" => webmention::handle(deps, &req).await,
        "/xmlrpc" => xmlrpc::handle(deps, &req).await,
        _ => web::text(404, "no such endpoint"),
    }
}

/// Why a mention was not taken: refused (the sender's to mend), or we could not store it
/// just now (worth sending again later).
enum NotTaken {
    Refused(Refused),
    Unavailable(String),
}

impl From<StoreError> for NotTaken {
    fn from(e: StoreError) -> Self {
        NotTaken::Unavailable(e.to_string())
    }
}

/// The checks both protocols share, then the mention queued. `Ok` holds the queued mention.
async fn take(
    deps: &Deps,
    req: &Request,
    source: &str,
    target: &str,
    protocol: Protocol,
) -> Result<Mention, NotTaken> {
    let ip = web::client_ip(req);
    deps.rate
        .check("linkback", ip.as_deref())
        .await
        .map_err(refusal)?;
    let config = deps
        .pages
        .config()
        .await
        .map_err(|e| NotTaken::Unavailable(e.to_string()))?;
    if !config.linkbacks.enabled {
        return Err(NotTaken::Refused(Refused::Disabled));
    }
    let addressed =
        mention::address(source, target, &config.base_url).map_err(NotTaken::Refused)?;
    match deps.pages.post(&addressed.post).await {
        Ok(Some(_)) => {}
        Ok(None) => return Err(NotTaken::Refused(Refused::NoSuchPost)),
        Err(e) => return Err(NotTaken::Unavailable(e.to_string())),
    }
    if deps.pages.blocklist().await?.blocks_url(&addressed.source) {
        info!(post = %addressed.post, "mention refused: source blocklisted");
        return Err(NotTaken::Refused(Refused::Blocked));
    }
    let domain = addressed.source_host();
    deps.rate
        .check(MENTION_SOURCE_SCOPE, Some(&domain))
        .await
        .map_err(refusal)?;
    let now = deps.clock.now();
    let ip_hash = shared::http::guard::ip_hash(&deps.identity, ip.as_deref());
    let m = Mention::new(&deps.identity, addressed, protocol, now, Some(ip_hash));
    if protocol == Protocol::Pingback {
        // Pingback 1.0: a ping already registered is refused (fault 48); a Webmention sent
        // again is verified again (an update or a deletion, W3C Webmention §3.2.4).
        let (pk, sk) = (
            shared::keys::post_pk(&m.post),
            shared::keys::comment_sk(&m.id),
        );
        if deps.records.get(&pk, &sk).await?.is_some() {
            return Err(NotTaken::Refused(Refused::AlreadyRegistered));
        }
    }
    deps.records.put(m.to_item(now)?, Condition::Always).await?;
    info!(mention = %m.id, post = %m.post, protocol = ?protocol, "mention queued");
    Ok(m)
}

fn refusal(r: Refusal) -> NotTaken {
    match r {
        Refusal::RateLimited => NotTaken::Refused(Refused::RateLimited),
        Refusal::Store(e) => NotTaken::Unavailable(e.to_string()),
        other => NotTaken::Unavailable(other.to_string()),
    }
}

fn log_unavailable(e: &str) {
    warn!(error = %e, "mention not stored: a store is unavailable");
}
