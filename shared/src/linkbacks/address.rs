//! Which addresses a stranger's URL may make us connect to.
//!
//! A Webmention or pingback names a source URL that we then fetch. Without a guard, anyone could
//! make the server request its own loopback services, the private network behind it or the cloud
//! metadata endpoint (169.254.169.254) — server-side request forgery. [`refusal`] says whether an
//! address is public, and the [`Resolve`] port lets the fetcher resolve a name exactly once, judge
//! every address it got, and connect only to those (so a DNS answer cannot change in between).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why `ip` must not be connected to on a stranger's behalf, or `None` if it is a public address.
///
/// Addresses that embed an IPv4 address (IPv4-mapped, NAT64 `64:ff9b::/96`, 6to4) are judged by
/// the embedded address. IPv6 outside the global unicast range `2000::/3` is refused.
pub fn refusal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => refusal_v6(v6),
    }
}

fn refusal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let reason = match (a, b, c) {
        _ if ip.is_unspecified() => "unspecified",
        (0, _, _) => "this network",
        (10, _, _) => "private",
        (100, 64..=127, _) => "shared address space (CGNAT)",
        (127, _, _) => "loopback",
        (169, 254, _) => "link-local",
        (172, 16..=31, _) => "private",
        (192, 0, 0) => "reserved (IETF protocol assignments)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (192, 88, 99) => "reserved (6to4 relay anycast)",
        (192, 168, _) => "private",
        (198, 18..=19, _) => "benchmarking",
        (224..=239, _, _) => "multicast",
        _ if ip.is_broadcast() => "broadcast",
        (240..=255, _, _) => "reserved",
        _ => return None,
    };
    Some(reason)
}

fn refusal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    let reason = if ip.is_unspecified() {
        "unspecified"
    } else if ip.is_loopback() {
        "loopback"
    } else if let Some(v4) = ip.to_ipv4_mapped() {
        refusal_v4(v4)?;
        "IPv4-mapped"
    } else if s[..6] == [0; 6] {
        "IPv4-compatible (deprecated)"
    } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        refusal_v4(embedded(s[6], s[7]))?;
        "NAT64"
    } else if s[..3] == [0x64, 0xff9b, 1] {
        // Local-use NAT64 (RFC 8215): where the IPv4 address sits depends on the local prefix
        // length, and the translator is someone's internal network anyway.
        "NAT64 (local use)"
    } else if s[..4] == [0x100, 0, 0, 0] {
        "discard-only"
    } else if s[0] & 0xff00 == 0xff00 {
        "multicast"
    } else if s[0] & 0xfe00 == 0xfc00 {
        "unique local"
    } else if s[0] & 0xffc0 == 0xfe80 {
        "link-local"
    } else if s[0] & 0xffc0 == 0xfec0 {
        "site-local (deprecated)"
    } else if s[0] & 0xe000 != 0x2000 {
        "reserved"
    } else if s[0] == 0x2001 && s[1] == 0x0db8 || s[0] == 0x3fff && s[1] & 0xf000 == 0 {
        "documentation"
    } else if s[0] == 0x2001 && s[1] < 0x0200 {
        "reserved (IETF protocol assignments)"
    } else if s[0] == 0x2002 {
        refusal_v4(embedded(s[1], s[2]))?;
        "6to4"
    } else {
        return None;
    };
    Some(reason)
}

/// The port through which host names are turned into addresses.
#[async_trait::async_trait]
pub trait Resolve: Send + Sync {
    /// Every address `host` resolves to (any order; callers judge all of them).
    async fn resolve(&self, host: &str) -> io::Result<Vec<IpAddr>>;
}

/// The operating system's resolver (`getaddrinfo`, through Tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

#[async_trait::async_trait]
impl Resolve for SystemResolver {
    async fn resolve(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        let addrs = tokio::net::lookup_host((host, 0)).await?;
        let mut ips: Vec<IpAddr> = Vec::new();
        for addr in addrs {
            if !ips.contains(&addr.ip()) {
                ips.push(addr.ip());
            }
        }
        Ok(ips)
    }
}

/// A fixed table of names and their addresses, for tests and local runs. Names are matched
/// case-insensitively; an unknown name fails with [`io::ErrorKind::NotFound`].
#[derive(Debug, Clone, Default)]
pub struct StaticResolver {
    names: HashMap<String, Vec<IpAddr>>,
}

impl StaticResolver {
    /// A table from `(name, address)` pairs; a name given several times gets all its addresses.
    pub fn new<'a>(entries: impl IntoIterator<Item = (&'a str, IpAddr)>) -> Self {
        let mut names: HashMap<String, Vec<IpAddr>> = HashMap::new();
        for (name, ip) in entries {
            names.entry(name.to_ascii_lowercase()).or_default().push(ip);
        }
        Self { names }
    }
}

#[async_trait::async_trait]
impl Resolve for StaticResolver {
    async fn resolve(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        self.names
            .get(&host.to_ascii_lowercase())
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("unknown host {host}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_non_public_addresses() {
        for (ip, why) in [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "this network"),
            ("10.0.0.1", "private"),
            ("169.254.169.254", "link-local"),
            ("172.16.5.4", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "shared address space (CGNAT)"),
            ("100.127.255.254", "shared address space (CGNAT)"),
            ("192.0.0.8", "reserved (IETF protocol assignments)"),
            ("192.0.2.1", "documentation"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("192.88.99.1", "reserved (6to4 relay anycast)"),
            ("198.18.0.1", "benchmarking"),
            ("198.19.255.1", "benchmarking"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "broadcast"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "IPv4-mapped"),
            ("::ffff:10.0.0.1", "IPv4-mapped"),
            ("::ffff:169.254.169.254", "IPv4-mapped"),
            ("::7f00:1", "IPv4-compatible (deprecated)"),
            ("64:ff9b::7f00:1", "NAT64"),
            ("64:ff9b::a9fe:a9fe", "NAT64"),
            ("64:ff9b:1::5db8:d822", "NAT64 (local use)"),
            ("100::1", "discard-only"),
            ("2001:db8::1", "documentation"),
            ("3fff::1", "documentation"),
            ("2001::1", "reserved (IETF protocol assignments)"),
            ("2002:7f00:1::1", "6to4"),
            ("2002:c0a8:101::1", "6to4"),
            ("fd00::1", "unique local"),
            ("fc00::1", "unique local"),
            ("fe80::1", "link-local"),
            ("fec0::1", "site-local (deprecated)"),
            ("ff02::1", "multicast"),
            ("4000::1", "reserved"),
        ] {
            let addr: IpAddr = ip.parse().unwrap();
            assert_eq!(refusal(addr), Some(why), "{ip}");
        }
    }

    #[test]
    fn accepts_public_addresses() {
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "192.0.3.1",
            "223.255.255.254",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:93.184.216.34",
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
        ] {
            let addr: IpAddr = ip.parse().unwrap();
            assert_eq!(refusal(addr), None, "{ip}");
        }
    }

    #[tokio::test]
    async fn static_resolver_answers_from_its_table() {
        let resolver = StaticResolver::new([
            ("blog.example", "127.0.0.1".parse().unwrap()),
            ("blog.example", "::1".parse().unwrap()),
        ]);
        let ips = resolver.resolve("Blog.Example").await.unwrap();
        assert_eq!(
            ips,
            vec![
                IpAddr::from([127, 0, 0, 1]),
                IpAddr::from(Ipv6Addr::LOCALHOST)
            ]
        );
        let err = resolver.resolve("other.example").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn system_resolver_resolves_localhost() {
        let ips = SystemResolver.resolve("localhost").await.unwrap();
        assert!(ips.iter().all(|ip| ip.is_loopback()), "{ips:?}");
    }
}
