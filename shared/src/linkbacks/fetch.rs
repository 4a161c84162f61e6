//! Fetching a linkback's source page within the SSRF guard of [`super::address`].
//!
//! The source URL comes from a stranger, so every hop (the first URL and each redirect) is
//! checked the same way before anything is connected to: http or https only, no user info, ports
//! 80 and 443 only, and every address of the host must be public. A host name is resolved once,
//! by the HTTP client's own resolver hook, which judges the addresses and hands the client only
//! those, so the connection goes exactly to the addresses that were checked (no DNS rebinding
//! between check and connect). IP-literal hosts are never resolved, so they are judged here.
//! Redirects are followed by hand for the same reason. Time and size are bounded too: a source
//! page that is slow or huge must not tie the function up.

use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest13::header::{HeaderValue, ACCEPT, CONTENT_TYPE, LOCATION};
use reqwest13::StatusCode;
use url::{Host, Url};

use super::address::{refusal, Resolve};

/// At most this many bytes of a source page are read.
pub const MAX_BYTES: usize = 1024 * 1024;
/// At most this many redirects are followed.
pub const MAX_REDIRECTS: usize = 5;
/// The whole fetch, redirects and body included, must finish within this.
pub const TIMEOUT: Duration = Duration::from_secs(5);

const ACCEPTED: &str = "text/html, application/xhtml+xml;q=0.9, text/plain;q=0.8";
const TEXT_TYPES: [&str; 3] = ["text/html", "application/xhtml+xml", "text/plain"];

/// A fetched source page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The final URL, after redirects.
    pub url: String,
    /// The media type, lowercased and without parameters, e.g. `text/html`.
    pub content_type: String,
    /// The body as (lossy) UTF-8; at most [`MAX_BYTES`] were read.
    pub body: String,
    /// Whether the page was longer than [`MAX_BYTES`] and cut there.
    pub truncated: bool,
}

/// Why a source page could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL (or a redirect) may not be fetched: scheme, port, user info, address, redirects.
    #[error("refused: {0}")]
    Refused(String),
    /// The source answered 410 Gone: the page, and so the mention, was deleted.
    #[error("the source is gone (410)")]
    Gone,
    /// The source answered with another status that is not a success.
    #[error("the source answered HTTP {0}")]
    Status(u16),
    /// The source is not a text page (HTML, XHTML or plain text).
    #[error("the source is not a text page but {0}")]
    NotText(String),
    /// The whole fetch took longer than [`TIMEOUT`].
    #[error("fetching the source timed out")]
    Timeout,
    /// Name resolution, connection, TLS or protocol failure.
    #[error("network error: {0}")]
    Network(String),
}

/// Which addresses a client's resolver hook lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admit {
    /// Public addresses only (ports 80 and 443).
    Public,
    /// Public addresses and loopback (ports 80 and 443, loopback allowed).
    PublicOrLoopback,
    /// Loopback only (any other port, loopback allowed).
    LoopbackOnly,
}

impl Admit {
    fn judge(self, ip: IpAddr) -> Option<&'static str> {
        match self {
            Admit::Public => refusal(ip),
            Admit::PublicOrLoopback if ip.is_loopback() => None,
            Admit::PublicOrLoopback => refusal(ip),
            Admit::LoopbackOnly if ip.is_loopback() => None,
            Admit::LoopbackOnly => {
                Some(refusal(ip).unwrap_or("not loopback, and the port is neither 80 nor 443"))
            }
        }
    }
}

/// A host name resolved to an address we will not connect to.
#[derive(Debug)]
struct AddressRefused {
    host: String,
    ip: IpAddr,
    why: &'static str,
}

impl fmt::Display for AddressRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} resolves to {}, refused: {}",
            self.host, self.ip, self.why
        )
    }
}

impl StdError for AddressRefused {}

/// The HTTP client's resolver hook: asks our [`Resolve`] port once and passes on the addresses
/// only if every one of them is admitted.
struct Guard {
    port: Arc<dyn Resolve>,
    admit: Admit,
}

impl reqwest13::dns::Resolve for Guard {
    fn resolve(&self, name: reqwest13::dns::Name) -> reqwest13::dns::Resolving {
        let port = Arc::clone(&self.port);
        let admit = self.admit;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let ips = port.resolve(&host).await?;
            if ips.is_empty() {
                return Err(format!("{host} has no addresses").into());
            }
            if let Some((ip, why)) = ips
                .iter()
                .find_map(|&ip| admit.judge(ip).map(|why| (ip, why)))
            {
                tracing::info!(%host, %ip, why, "linkback source address refused");
                return Err(Box::new(AddressRefused { host, ip, why }) as _);
            }
            let addrs: reqwest13::dns::Addrs =
                Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

struct Clients {
    /// For ports 80 and 443.
    standard: reqwest13::Client,
    /// For other ports; only when loopback is allowed, and then it reaches loopback only.
    other_ports: Option<reqwest13::Client>,
}

/// Fetches stranger-supplied URLs without letting them reach anything but the public internet.
pub struct SafeFetcher {
    resolver: Arc<dyn Resolve>,
    user_agent: String,
    allow_loopback: bool,
    timeout: Duration,
    /// Built once and shared (connection reuse); an error if the HTTP client could not be built
    /// (a user agent that is not a valid header value, TLS set-up failure), reported per fetch.
    clients: Result<Clients, String>,
}

impl fmt::Debug for SafeFetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SafeFetcher")
            .field("user_agent", &self.user_agent)
            .field("allow_loopback", &self.allow_loopback)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl SafeFetcher {
    /// A fetcher resolving host names through `resolver` and sending `user_agent`.
    pub fn new(resolver: Arc<dyn Resolve>, user_agent: impl Into<String>) -> Self {
        let user_agent = user_agent.into();
        let clients = Self::build(&resolver, &user_agent, false);
        Self {
            resolver,
            user_agent,
            allow_loopback: false,
            timeout: TIMEOUT,
            clients,
        }
    }

    /// Tests and the local server only: also allow loopback addresses (127.0.0.0/8, ::1) and then
    /// any port. Everything else stays refused.
    pub fn allowing_loopback(self) -> Self {
        let clients = Self::build(&self.resolver, &self.user_agent, true);
        Self {
            allow_loopback: true,
            clients,
            ..self
        }
    }

    /// Whether loopback addresses are allowed (see [`Self::allowing_loopback`]).
    pub fn allows_loopback(&self) -> bool {
        self.allow_loopback
    }

    /// A shorter overall time limit, so tests need not wait [`TIMEOUT`].
    #[cfg(test)]
    fn with_timeout(self, timeout: Duration) -> Self {
        Self { timeout, ..self }
    }

    fn build(
        resolver: &Arc<dyn Resolve>,
        user_agent: &str,
        allow_loopback: bool,
    ) -> Result<Clients, String> {
        let client = |admit: Admit| {
            reqwest13::Client::builder()
                .redirect(reqwest13::redirect::Policy::none())
                .timeout(TIMEOUT)
                .connect_timeout(TIMEOUT)
                .user_agent(user_agent)
                .no_proxy()
                .referer(false)
                .dns_resolver(Arc::new(Guard {
                    port: Arc::clone(resolver),
                    admit,
                }))
                .build()
                .map_err(|e| error_chain(&e))
        };
        if allow_loopback {
            Ok(Clients {
                standard: client(Admit::PublicOrLoopback)?,
                other_ports: Some(client(Admit::LoopbackOnly)?),
            })
        } else {
            Ok(Clients {
                standard: client(Admit::Public)?,
                other_ports: None,
            })
        }
    }

    /// Fetches `url`, following at most [`MAX_REDIRECTS`] redirects, each checked like the first.
    pub async fn fetch(&self, url: &str) -> Result<Fetched, FetchError> {
        match tokio::time::timeout(self.timeout, self.fetch_unbounded(url)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout),
        }
    }

    async fn fetch_unbounded(&self, url: &str) -> Result<Fetched, FetchError> {
        let clients = self
            .clients
            .as_ref()
            .map_err(|e| FetchError::Network(format!("no HTTP client: {e}")))?;
        let mut current = Url::parse(url)
            .map_err(|e| FetchError::Refused(format!("not a URL ({e}): {url:?}")))?;
        let mut redirects = 0;
        loop {
            let client = self.client_for(clients, &current)?;
            tracing::debug!(url = %current, "fetching linkback source");
            let mut response = client
                .get(current.as_str())
                .header(ACCEPT, ACCEPTED)
                .send()
                .await
                .map_err(classify)?;
            let status = response.status();
            if is_redirect(status) {
                if let Some(location) = response.headers().get(LOCATION) {
                    if redirects == MAX_REDIRECTS {
                        return Err(FetchError::Refused(format!(
                            "more than {MAX_REDIRECTS} redirects"
                        )));
                    }
                    current = next_hop(&current, location)?;
                    redirects += 1;
                    continue;
                }
            }
            if status == StatusCode::GONE {
                return Err(FetchError::Gone);
            }
            if !status.is_success() {
                return Err(FetchError::Status(status.as_u16()));
            }
            let content_type = media_type(response.headers().get(CONTENT_TYPE));
            if !TEXT_TYPES.contains(&content_type.as_str()) {
                return Err(FetchError::NotText(if content_type.is_empty() {
                    "no Content-Type".to_owned()
                } else {
                    content_type
                }));
            }
            let expected = response.content_length().unwrap_or(0).min(MAX_BYTES as u64) as usize;
            let mut body = Vec::with_capacity(expected);
            let mut truncated = false;
            while let Some(chunk) = response.chunk().await.map_err(classify)? {
                let room = MAX_BYTES - body.len();
                if chunk.len() > room {
                    body.extend_from_slice(&chunk[..room]);
                    truncated = true;
                    break;
                }
                body.extend_from_slice(&chunk);
            }
            return Ok(Fetched {
                url: current.into(),
                content_type,
                body: String::from_utf8_lossy(&body).into_owned(),
                truncated,
            });
        }
    }

    /// Checks everything about `url` that can be checked before resolving, and picks the client
    /// whose resolver hook admits the right addresses for its port.
    fn client_for<'c>(
        &self,
        clients: &'c Clients,
        url: &Url,
    ) -> Result<&'c reqwest13::Client, FetchError> {
        let refused = |why: String| Err(FetchError::Refused(why));
        if !matches!(url.scheme(), "http" | "https") {
            return refused(format!("scheme {:?} is not http or https", url.scheme()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return refused("the URL carries a user name or password".to_owned());
        }
        let Some(port) = url.port_or_known_default() else {
            return refused("the URL has no port".to_owned());
        };
        let standard_port = port == 80 || port == 443;
        let ip = match url.host() {
            None => return refused("the URL has no host".to_owned()),
            Some(Host::Domain(_)) if standard_port => return Ok(&clients.standard),
            Some(Host::Domain(host)) => {
                return match &clients.other_ports {
                    Some(client) => Ok(client),
                    None => refused(format!(
                        "port {port} of {host} (only 80 and 443 are allowed)"
                    )),
                }
            }
            Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        };
        if self.allow_loopback && ip.is_loopback() {
            return Ok(&clients.standard);
        }
        if let Some(why) = refusal(ip) {
            tracing::info!(%ip, why, "linkback source address refused");
            return refused(format!("address {ip} is {why}"));
        }
        if !standard_port {
            return refused(format!("port {port} of {ip} (only 80 and 443 are allowed)"));
        }
        Ok(&clients.standard)
    }
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

fn next_hop(current: &Url, location: &HeaderValue) -> Result<Url, FetchError> {
    let location = location
        .to_str()
        .map_err(|_| FetchError::Refused("a redirect Location that is not text".to_owned()))?;
    current
        .join(location)
        .map_err(|e| FetchError::Refused(format!("a bad redirect Location ({e}): {location:?}")))
}

/// `text/HTML; charset=utf-8` → `text/html`; nothing → empty.
fn media_type(value: Option<&HeaderValue>) -> String {
    value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

fn classify(err: reqwest13::Error) -> FetchError {
    let mut source: Option<&(dyn StdError + 'static)> = Some(&err);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<AddressRefused>() {
            return FetchError::Refused(refused.to_string());
        }
        source = e.source();
    }
    if err.is_timeout() {
        return FetchError::Timeout;
    }
    FetchError::Network(error_chain(&err))
}

/// An error and its causes, `outer: inner: innermost`.
fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::linkbacks::address::StaticResolver;

    const UA: &str = "Campaign site linkback checker (+https://example.org/)";

    /// A tiny HTTP/1.1 server on 127.0.0.1 with canned answers per path; counts connections.
    struct Server {
        port: u16,
        connections: Arc<AtomicUsize>,
    }

    impl Server {
        async fn start() -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let connections = Arc::new(AtomicUsize::new(0));
            let counter = Arc::clone(&connections);
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    counter.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(answer(stream, port));
                }
            });
            Self { port, connections }
        }

        fn url(&self, path: &str) -> String {
            format!("http://127.0.0.1:{}{path}", self.port)
        }

        fn connections(&self) -> usize {
            self.connections.load(Ordering::SeqCst)
        }
    }

    async fn answer(mut stream: TcpStream, port: u16) {
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        let request = String::from_utf8_lossy(&request).into_owned();
        let path = request.split(' ').nth(1).unwrap_or("/").to_owned();
        let header = |name: &str| {
            request
                .lines()
                .find_map(|line| {
                    let (key, value) = line.split_once(':')?;
                    key.eq_ignore_ascii_case(name)
                        .then(|| value.trim().to_owned())
                })
                .unwrap_or_default()
        };
        let redirect = |to: String| (302, vec![format!("Location: {to}")], Vec::new());
        let page = |kind: &str, body: Vec<u8>| (200, vec![format!("Content-Type: {kind}")], body);
        let (status, headers, body): (u16, Vec<String>, Vec<u8>) = match path.as_str() {
            "/ok" => page("Text/HTML; charset=UTF-8", b"<p>hello</p>".to_vec()),
            "/xhtml" => page("application/xhtml+xml", b"<p/>".to_vec()),
            "/user-agent" => page("text/plain", header("user-agent").into_bytes()),
            "/gone" => (410, Vec::new(), Vec::new()),
            "/missing" => (404, Vec::new(), Vec::new()),
            "/redirect" => redirect("/ok".into()),
            "/redirect-nowhere" => (302, Vec::new(), Vec::new()),
            "/to-private" => redirect("http://10.0.0.1/".into()),
            "/to-metadata" => redirect("http://169.254.169.254/latest/meta-data/".into()),
            "/to-mapped" => redirect(format!("http://[::ffff:127.0.0.1]:{port}/ok")),
            "/to-internal-name" => redirect("http://internal.example/".into()),
            "/to-named" => redirect(format!("http://blog.example:{port}/ok")),
            "/to-file" => redirect("file:///etc/passwd".into()),
            "/big" => page("text/plain", vec![b'a'; 3 * 1024 * 1024]),
            "/image" => page("image/png", b"\x89PNG\r\n\x1a\n".to_vec()),
            "/untyped" => (200, Vec::new(), b"hello".to_vec()),
            "/slow" => {
                tokio::time::sleep(Duration::from_secs(2)).await;
                page("text/html", b"late".to_vec())
            }
            other => match other
                .strip_prefix("/hops/")
                .and_then(|n| n.parse::<u32>().ok())
            {
                Some(0) => page("text/html", b"arrived".to_vec()),
                Some(n) => redirect(format!("/hops/{}", n - 1)),
                None => (404, Vec::new(), Vec::new()),
            },
        };
        let mut head = format!(
            "HTTP/1.1 {status} Canned\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        for line in headers {
            head.push_str(&line);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(&body).await;
        let _ = stream.shutdown().await;
    }

    fn resolver() -> Arc<StaticResolver> {
        Arc::new(StaticResolver::new([
            ("blog.example", "127.0.0.1".parse().unwrap()),
            ("internal.example", "10.0.0.1".parse().unwrap()),
            ("metadata.example", "169.254.169.254".parse().unwrap()),
            ("public.example", "93.184.216.34".parse().unwrap()),
            ("mixed.example", "93.184.216.34".parse().unwrap()),
            ("mixed.example", "10.0.0.1".parse().unwrap()),
        ]))
    }

    fn fetcher() -> SafeFetcher {
        SafeFetcher::new(resolver(), UA)
    }

    fn local_fetcher() -> SafeFetcher {
        fetcher().allowing_loopback()
    }

    #[track_caller]
    fn assert_refused(result: Result<Fetched, FetchError>, mentions: &str) {
        match result {
            Err(FetchError::Refused(why)) => assert!(
                why.contains(mentions),
                "{why:?} should mention {mentions:?}"
            ),
            other => panic!("expected Refused mentioning {mentions:?}, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn loopback_is_refused_by_default_without_connecting() {
        let server = Server::start().await;
        let fetcher = fetcher();
        assert!(!fetcher.allows_loopback());
        assert_refused(fetcher.fetch(&server.url("/ok")).await, "loopback");
        let named = format!("http://blog.example:{}/ok", server.port);
        assert_refused(fetcher.fetch(&named).await, "port");
        assert_eq!(server.connections(), 0);
    }

    #[tokio::test]
    async fn loopback_is_fetched_when_allowed() {
        let server = Server::start().await;
        let fetcher = local_fetcher();
        assert!(fetcher.allows_loopback());
        let page = fetcher.fetch(&server.url("/ok")).await.unwrap();
        assert_eq!(
            page,
            Fetched {
                url: server.url("/ok"),
                content_type: "text/html".into(),
                body: "<p>hello</p>".into(),
                truncated: false,
            }
        );
        assert_eq!(server.connections(), 1);
        let xhtml = fetcher.fetch(&server.url("/xhtml")).await.unwrap();
        assert_eq!(xhtml.content_type, "application/xhtml+xml");
    }

    #[tokio::test]
    async fn a_name_is_resolved_through_the_port_and_pinned() {
        let server = Server::start().await;
        let url = format!("http://blog.example:{}/ok", server.port);
        let page = local_fetcher().fetch(&url).await.unwrap();
        assert_eq!(page.url, url);
        assert_eq!(page.body, "<p>hello</p>");
        assert_eq!(server.connections(), 1);
    }

    #[tokio::test]
    async fn sends_the_callers_user_agent() {
        let server = Server::start().await;
        let page = local_fetcher()
            .fetch(&server.url("/user-agent"))
            .await
            .unwrap();
        assert_eq!(page.body, UA);
    }

    #[tokio::test]
    async fn names_resolving_to_refused_addresses_are_refused_before_connecting() {
        // Port 80: if these were connected to, the result would be a network error or a timeout.
        for fetcher in [fetcher(), local_fetcher()] {
            assert_refused(fetcher.fetch("http://internal.example/").await, "10.0.0.1");
            assert_refused(
                fetcher
                    .fetch("http://metadata.example/latest/meta-data/")
                    .await,
                "link-local",
            );
            assert_refused(fetcher.fetch("https://mixed.example/").await, "private");
        }
        assert_refused(fetcher().fetch("http://blog.example/").await, "127.0.0.1");
    }

    #[tokio::test]
    async fn other_ports_are_refused_for_public_addresses() {
        let fetcher = fetcher();
        assert_refused(
            fetcher.fetch("http://public.example:8080/").await,
            "port 8080",
        );
        assert_refused(
            fetcher.fetch("https://public.example:8443/").await,
            "port 8443",
        );
        assert_refused(
            fetcher.fetch("http://93.184.216.34:8080/").await,
            "port 8080",
        );
        // Even with loopback allowed, another port reaches loopback only.
        let local = local_fetcher();
        assert_refused(
            local.fetch("http://public.example:8080/").await,
            "93.184.216.34",
        );
        assert_refused(local.fetch("http://93.184.216.34:22/").await, "port 22");
    }

    #[tokio::test]
    async fn unknown_names_are_network_errors() {
        let result = fetcher().fetch("http://unknown.example/").await;
        assert!(matches!(result, Err(FetchError::Network(_))), "{result:?}");
    }

    #[tokio::test]
    async fn only_http_and_https_without_user_info() {
        let fetcher = local_fetcher();
        assert_refused(fetcher.fetch("ftp://public.example/file").await, "scheme");
        assert_refused(fetcher.fetch("file:///etc/passwd").await, "scheme");
        assert_refused(fetcher.fetch("gopher://public.example/").await, "scheme");
        assert_refused(fetcher.fetch("not a url").await, "not a URL");
        assert_refused(
            fetcher.fetch("http://user:secret@public.example/").await,
            "user name",
        );
        assert_refused(
            fetcher.fetch("http://user@public.example/").await,
            "user name",
        );
    }

    #[tokio::test]
    async fn ip_literals_are_judged_directly() {
        let fetcher = fetcher();
        for url in [
            "http://127.0.0.1/",
            "http://0.0.0.0/",
            "http://10.0.0.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[64:ff9b::7f00:1]/",
            "http://100.64.0.1/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0177.0.0.1/",
            "https://192.168.1.1/",
        ] {
            assert_refused(fetcher.fetch(url).await, "address");
        }
        // Allowing loopback allows 127.0.0.0/8 and ::1, nothing that merely embeds them.
        let local = local_fetcher();
        for url in [
            "http://0.0.0.0/",
            "http://[::ffff:127.0.0.1]/",
            "http://10.0.0.1/",
        ] {
            assert_refused(local.fetch(url).await, "address");
        }
    }

    #[tokio::test]
    async fn redirects_are_followed_relative_to_the_current_url() {
        let server = Server::start().await;
        let page = local_fetcher()
            .fetch(&server.url("/redirect"))
            .await
            .unwrap();
        assert_eq!(page.url, server.url("/ok"));
        assert_eq!(page.body, "<p>hello</p>");
        let named = local_fetcher()
            .fetch(&server.url("/to-named"))
            .await
            .unwrap();
        assert_eq!(named.url, format!("http://blog.example:{}/ok", server.port));
    }

    #[tokio::test]
    async fn a_redirect_to_a_refused_address_is_refused_without_connecting() {
        let server = Server::start().await;
        let fetcher = local_fetcher();
        assert_refused(fetcher.fetch(&server.url("/to-private")).await, "10.0.0.1");
        assert_refused(
            fetcher.fetch(&server.url("/to-metadata")).await,
            "169.254.169.254",
        );
        assert_refused(
            fetcher.fetch(&server.url("/to-internal-name")).await,
            "private",
        );
        assert_refused(fetcher.fetch(&server.url("/to-file")).await, "scheme");
        // The mapped form of our own loopback server would reach it; it must not be connected.
        assert_refused(
            fetcher.fetch(&server.url("/to-mapped")).await,
            "IPv4-mapped",
        );
        assert_eq!(server.connections(), 5, "only the first hops connected");
    }

    #[tokio::test]
    async fn at_most_five_redirects() {
        let server = Server::start().await;
        let fetcher = local_fetcher();
        let page = fetcher.fetch(&server.url("/hops/5")).await.unwrap();
        assert_eq!(
            (page.url, page.body),
            (server.url("/hops/0"), "arrived".to_owned())
        );
        let before = server.connections();
        assert_refused(fetcher.fetch(&server.url("/hops/6")).await, "redirects");
        assert_eq!(server.connections() - before, 6);
    }

    #[tokio::test]
    async fn statuses() {
        let server = Server::start().await;
        let fetcher = local_fetcher();
        assert!(matches!(
            fetcher.fetch(&server.url("/gone")).await,
            Err(FetchError::Gone)
        ));
        assert!(matches!(
            fetcher.fetch(&server.url("/missing")).await,
            Err(FetchError::Status(404))
        ));
        assert!(matches!(
            fetcher.fetch(&server.url("/redirect-nowhere")).await,
            Err(FetchError::Status(302))
        ));
    }

    #[tokio::test]
    async fn only_text_pages() {
        let server = Server::start().await;
        let fetcher = local_fetcher();
        match fetcher.fetch(&server.url("/image")).await {
            Err(FetchError::NotText(kind)) => assert_eq!(kind, "image/png"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            fetcher.fetch(&server.url("/untyped")).await,
            Err(FetchError::NotText(_))
        ));
    }

    #[tokio::test]
    async fn the_body_is_cut_at_one_megabyte() {
        let server = Server::start().await;
        let page = local_fetcher().fetch(&server.url("/big")).await.unwrap();
        assert!(page.truncated);
        assert_eq!(page.body.len(), MAX_BYTES);
        assert_eq!(page.content_type, "text/plain");
    }

    #[tokio::test]
    async fn slow_sources_time_out() {
        let server = Server::start().await;
        let fetcher = local_fetcher().with_timeout(Duration::from_millis(200));
        let started = std::time::Instant::now();
        assert!(matches!(
            fetcher.fetch(&server.url("/slow")).await,
            Err(FetchError::Timeout)
        ));
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(fetcher.timeout, Duration::from_millis(200));
        assert_eq!(SafeFetcher::new(resolver(), UA).timeout, TIMEOUT);
    }
}
