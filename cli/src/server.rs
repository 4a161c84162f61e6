//! The local web server: the built site from `<data>/site`, with the headers the site bucket
//! serves and the security headers CloudFront adds, and (mounted by later functions) the
//! form endpoints at the same paths as on API Gateway.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use shared::ports::BlobStore;
use shared::site::layout::object_meta;
use tokio::net::TcpListener;

use crate::local::LocalSite;

pub struct Server {
    listener: TcpListener,
    site: LocalSite,
    /// The secret the site owner's commands carry (see [`crate::admin`]); none: no commands.
    admin_secret: Option<std::sync::Arc<str>>,
}

pub async fn bind(addr: SocketAddr, site: LocalSite) -> std::io::Result<Server> {
    Ok(Server::new(TcpListener::bind(addr).await?, site))
}

/// Where `site serve` listens when no `--addr` is given.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// Why the server could not listen.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("{0} is in use by another program: stop it, or choose another address with --addr (for example --addr 127.0.0.1:9000)")]
    InUse(SocketAddr),
    #[error("cannot listen on {0}: {1}")]
    Other(SocketAddr, std::io::Error),
}

/// Listen on `addr`; without one, on 127.0.0.1:8080, or the next free port after it when
/// another program has 8080 (a newcomer's first command should just work).
pub async fn listen(addr: Option<SocketAddr>) -> Result<TcpListener, ListenError> {
    let bind = |a: SocketAddr| async move {
        TcpListener::bind(a).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::AddrInUse => ListenError::InUse(a),
            _ => ListenError::Other(a, e),
        })
    };
    if let Some(a) = addr {
        return bind(a).await;
    }
    let default: SocketAddr = DEFAULT_ADDR.parse().expect("a valid address");
    let mut last = None;
    for port in default.port()..default.port() + 20 {
        match bind(SocketAddr::new(default.ip(), port)).await {
            Ok(l) => return Ok(l),
            Err(e @ ListenError::InUse(_)) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or(ListenError::InUse(default)))
}

impl Server {
    pub fn new(listener: TcpListener, site: LocalSite) -> Self {
        Server {
            listener,
            site,
            admin_secret: None,
        }
    }

    /// Answer the site owner's commands that carry this secret (from loopback only).
    pub fn with_admin_secret(mut self, secret: &str) -> Self {
        self.admin_secret = Some(secret.into());
        self
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub async fn run(self) -> std::io::Result<()> {
        loop {
            let (stream, peer) = self.listener.accept().await?;
            let site = self.site.clone();
            let admin = self.admin_secret.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let (site, admin) = (site.clone(), admin.clone());
                    async move { Ok::<_, Infallible>(handle(&site, req, peer, admin.as_deref()).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    }
}

type Body = Full<Bytes>;

fn text(status: StatusCode, msg: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(msg.to_string())))
        .expect("static response")
}

/// Answer one request; every answer carries the security headers (see
/// [`with_security_headers`]).
pub async fn handle(
    site: &LocalSite,
    req: Request<Incoming>,
    peer: SocketAddr,
    admin_secret: Option<&str>,
) -> Response<Body> {
    let response = route(site, req, peer, admin_secret).await;
    with_security_headers(site, response).await
}

/// The browser security headers CloudFront adds to the site's pages
/// ([`shared::http::security_headers`], the one definition both use). The form functions'
/// answers have theirs already (their pages' policy names the site's origin): those are
/// left as they are.
async fn with_security_headers(site: &LocalSite, mut response: Response<Body>) -> Response<Body> {
    use shared::http::security_headers::{headers, other_origin, Origins};
    if response.headers().contains_key("content-security-policy") {
        return response;
    }
    // The forms post to `api_url`: named when it is not the site's own address.
    let api = match site.linkbacks.pages.config().await {
        Ok(config) => other_origin(&config.api_url, &config.base_url),
        Err(_) => None,
    };
    let origins = Origins {
        site: None,
        api: api.as_deref(),
    };
    for (name, value) in headers(origins) {
        let value = http::HeaderValue::try_from(value).expect("a valid header value");
        response.headers_mut().insert(name, value);
    }
    response
}

async fn route(
    site: &LocalSite,
    req: Request<Incoming>,
    peer: SocketAddr,
    admin_secret: Option<&str>,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    // Bodies larger than a form endpoint reads are refused before they are buffered.
    let limited = http_body_util::Limited::new(body, shared::http::web::MAX_BODY + 1);
    let body = match limited.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the request body is too large",
            )
        }
    };
    let (method, path) = (parts.method.clone(), parts.uri.path().to_string());
    let query = parts.uri.query().map(str::to_string);
    if path == crate::admin::PATH {
        return admin_command(site, &parts, &body, peer, admin_secret).await;
    }
    if let Some(resp) = crate::api::dispatch(site, parts, body, peer).await {
        return from_lambda(resp);
    }
    match method {
        Method::GET | Method::HEAD => {
            // WordPress's query addresses (/?p=123) are answered from where the redirect
            // map publishes them, as CloudFront's viewer-request function does.
            let old = parts_query_key(&path, query.as_deref());
            static_file(
                site,
                old.as_deref().unwrap_or(&path),
                method == Method::HEAD,
            )
            .await
        }
        _ => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
    }
}

/// A site owner's command, from this machine, with the secret from `<data>/admin.json`.
async fn admin_command(
    site: &LocalSite,
    parts: &http::request::Parts,
    body: &Bytes,
    peer: SocketAddr,
    secret: Option<&str>,
) -> Response<Body> {
    let presented = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let allowed = parts.method == Method::POST
        && peer.ip().is_loopback()
        && secret.is_some_and(|s| crate::admin::authorised(s, presented));
    if !allowed {
        return text(StatusCode::FORBIDDEN, "forbidden");
    }
    let command: crate::admin::Command = match serde_json::from_slice(body) {
        Ok(c) => c,
        Err(e) => return text(StatusCode::BAD_REQUEST, &format!("not a command: {e}")),
    };
    match crate::admin::run(site, command).await {
        Ok(out) => text(StatusCode::OK, &out),
        Err(e) => text(StatusCode::UNPROCESSABLE_ENTITY, &e),
    }
}

fn from_lambda(resp: http::Response<lambda_http::Body>) -> Response<Body> {
    let (parts, body) = resp.into_parts();
    let bytes = match body {
        lambda_http::Body::Empty => Bytes::new(),
        lambda_http::Body::Text(t) => Bytes::from(t),
        lambda_http::Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    Response::from_parts(parts, Full::new(bytes))
}

/// The path a WordPress query address on the root is published at (`/?p=123` →
/// `/_old/p/123/`), or `None`.
fn parts_query_key(path: &str, query: Option<&str>) -> Option<String> {
    let key = shared::site::redirects::key_for_request(path, query)?;
    key.starts_with(shared::site::redirects::QUERY_PREFIX)
        .then(|| format!("/{}", key.trim_end_matches("index.html")))
}

/// The key a URL path names, as CloudFront's rewrite does: `/` and `/posts/x/` get
/// `index.html`, `/posts/x` too when it has no extension.
pub fn key_for_path(path: &str) -> Option<String> {
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .ok()?;
    let mut key = decoded.trim_start_matches('/').to_string();
    if key.split('/').any(|s| s == ".." || s == ".") || key.contains('\\') || key.contains('\0') {
        return None;
    }
    let last = key.rsplit('/').next().unwrap_or("");
    if key.is_empty() || key.ends_with('/') {
        key.push_str("index.html");
    } else if !last.contains('.') {
        key.push_str("/index.html");
    }
    Some(key)
}

async fn static_file(site: &LocalSite, path: &str, head: bool) -> Response<Body> {
    let found = match key_for_path(path) {
        Some(key) => site.site.get(&key).await.ok().flatten().map(|b| (key, b)),
        None => None,
    };
    let (status, key, bytes) = match found {
        Some((key, bytes)) => (StatusCode::OK, key, bytes),
        None => match site
            .site
            .get(shared::site::layout::site::NOT_FOUND)
            .await
            .ok()
            .flatten()
        {
            Some(b) => (
                StatusCode::NOT_FOUND,
                shared::site::layout::site::NOT_FOUND.to_string(),
                b,
            ),
            None => return text(StatusCode::NOT_FOUND, "not found"),
        },
    };
    // An old address: a permanent redirect, as CloudFront answers it.
    if status == StatusCode::OK {
        if let Some(location) = shared::site::redirects::location_of_page(&bytes) {
            return Response::builder()
                .status(StatusCode::MOVED_PERMANENTLY)
                .header(header::LOCATION, location)
                .header(header::CACHE_CONTROL, "max-age=3600")
                .body(Full::new(Bytes::new()))
                .expect("valid response");
        }
    }
    let meta = object_meta(&key);
    let len = bytes.len();
    let mut response = Response::builder();
    if status == StatusCode::OK && key.starts_with("posts/") && key.ends_with("/index.html") {
        if let Ok(config) = site.linkbacks.pages.config().await {
            for (name, value) in config.linkbacks.discovery_headers(&config.api_url) {
                response = response.header(name, value);
            }
        }
    }
    response
        .status(status)
        .header(header::CONTENT_TYPE, meta.content_type)
        .header(header::CACHE_CONTROL, meta.cache_control)
        .header(header::CONTENT_LENGTH, len)
        .body(Full::new(if head {
            Bytes::new()
        } else {
            Bytes::from(bytes)
        }))
        .expect("valid response")
}

#[cfg(test)]
mod tests {
    use super::key_for_path;

    #[test]
    fn paths_map_to_keys_like_cloudfront() {
        assert_eq!(key_for_path("/").unwrap(), "index.html");
        assert_eq!(key_for_path("/posts/a/").unwrap(), "posts/a/index.html");
        assert_eq!(key_for_path("/posts/a").unwrap(), "posts/a/index.html");
        assert_eq!(key_for_path("/feed.xml").unwrap(), "feed.xml");
        assert_eq!(key_for_path("/photos/a%20b.jpg").unwrap(), "photos/a b.jpg");
        assert!(key_for_path("/../secrets.json").is_none());
        assert!(key_for_path("/%2e%2e/secrets.json").is_none());
    }
}
