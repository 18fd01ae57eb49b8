//! Who is asking: the client IP (from the socket, or from `X-Forwarded-For` behind
//! trusted proxies) and the user agent.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use http::{HeaderMap, request::Parts};

/// Which proxies may tell us the client IP through `X-Forwarded-For`.
///
/// The default trusts nobody: the client IP is the socket peer (which needs
/// `into_make_service_with_connect_info::<SocketAddr>()` on the host's listener).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    enabled: bool,
    /// Networks as (address, prefix length); empty with `enabled` means "the nearest hop".
    networks: Vec<(IpAddr, u8)>,
}

/// In a configuration file: `"none"`, `"nearest"`, or a list of networks
/// (`["10.0.0.0/8", "192.0.2.7"]`).
impl<'de> serde::Deserialize<'de> for TrustedProxies {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Word(String),
            Networks(Vec<String>),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Word(word) if word == "none" => Ok(Self::none()),
            Raw::Word(word) if word == "nearest" => Ok(Self::nearest()),
            Raw::Word(word) => Err(serde::de::Error::custom(format!(
                "{word:?}: expected \"none\", \"nearest\" or a list of networks"
            ))),
            Raw::Networks(networks) => Self::networks(&networks).map_err(|bad| {
                serde::de::Error::custom(format!("{bad:?} is not an address or a CIDR network"))
            }),
        }
    }
}

impl TrustedProxies {
    /// Trust nobody: the client IP is the socket peer. The default.
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// Trust the proxy in front of us: the client IP is the right-most
    /// `X-Forwarded-For` entry (the one that proxy appended). `PORTCULLIS_TRUST_PROXY=true`.
    #[must_use]
    pub fn nearest() -> Self {
        Self {
            enabled: true,
            networks: Vec::new(),
        }
    }

    /// Trust proxies in these networks (`10.0.0.0/8`, `2001:db8::/32`, `192.0.2.7`): the
    /// client IP is the right-most `X-Forwarded-For` entry outside them, and the header
    /// is only read when the socket peer is one of them.
    ///
    /// # Errors
    ///
    /// The first entry that is not an address or a CIDR network.
    pub fn networks<I, S>(networks: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let networks = networks
            .into_iter()
            .map(|net| parse_network(net.as_ref()).ok_or_else(|| net.as_ref().to_owned()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            enabled: true,
            networks,
        })
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.networks
            .iter()
            .any(|&(net, prefix)| in_network(ip, net, prefix))
    }

    /// The client IP for a request from `peer` with these headers.
    pub(crate) fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        if !self.enabled {
            return peer;
        }
        let peer_trusted = self.networks.is_empty() || peer.is_some_and(|p| self.trusts(p));
        if !peer_trusted {
            return peer;
        }
        // Every X-Forwarded-For header, in order, as one list, read from the right (the
        // entries our own proxies appended) and only as far as it parses: anything left
        // of a garbled entry was written by whoever spoke to the first proxy.
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect();
        let mut readable = hops.iter().rev().map_while(|hop| parse_hop(hop));
        if self.networks.is_empty() {
            return readable.next().or(peer);
        }
        let mut last = None;
        for hop in readable {
            if !self.trusts(hop) {
                return Some(hop);
            }
            last = Some(hop);
        }
        last.or(peer)
    }
}

/// One `X-Forwarded-For` entry: an address, optionally with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    hop.rsplit_once(':').and_then(|(ip, port)| {
        port.parse::<u16>().ok()?;
        ip.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
    })
}

fn parse_network(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, prefix) = match text.trim().split_once('/') {
        Some((addr, prefix)) => (
            addr.parse::<IpAddr>().ok()?,
            Some(prefix.parse::<u8>().ok()?),
        ),
        None => (text.trim().parse::<IpAddr>().ok()?, None),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = prefix.unwrap_or(max);
    (prefix <= max).then_some((addr, prefix))
}

fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// The client of one request, as recorded on sessions and audit events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client IP, when known.
    pub ip: Option<IpAddr>,
    /// The user agent, truncated to 512 bytes.
    pub user_agent: Option<String>,
    /// The client app the request named with its publishable key (`x-api-key`): its
    /// [`id`](crate::config::Client::id).
    pub app: Option<String>,
}

impl ClientInfo {
    pub(crate) fn from_parts(parts: &Parts, trusted: &TrustedProxies) -> Self {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        if peer.is_none() && !trusted.enabled {
            warn_no_peer_once();
        }
        let user_agent = parts
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| truncate(ua, 512).to_owned());
        Self {
            ip: trusted.client_ip(peer, &parts.headers),
            user_agent,
            app: None,
        }
    }

    /// The rate-limit key part for this client: the IPv4 address, or the IPv6 /64 (one
    /// subscriber usually holds a whole /64, so single addresses would be free budgets).
    pub(crate) fn ip_key(&self) -> String {
        match self.ip.map(|ip| ip.to_canonical()) {
            None => "unknown".to_owned(),
            Some(IpAddr::V4(ip)) => ip.to_string(),
            Some(IpAddr::V6(ip)) => {
                let prefix = u128::from(ip) & (u128::MAX << 64);
                format!("{}/64", std::net::Ipv6Addr::from(prefix))
            }
        }
    }
}

/// Without the peer address every client shares one rate-limit bucket: say so, once.
fn warn_no_peer_once() {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            "portcullis cannot see client IPs: serve the app with \
             `into_make_service_with_connect_info::<SocketAddr>()` (or configure trusted \
             proxies), otherwise every client shares one rate-limit bucket"
        );
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
pub(crate) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", value.parse().unwrap());
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn by_default_the_socket_peer_is_the_client_whatever_the_headers_say() {
        let t = TrustedProxies::none();
        assert_eq!(
            t.client_ip(Some(ip("10.0.0.1")), &xff("1.2.3.4")),
            Some(ip("10.0.0.1"))
        );
    }

    #[test]
    fn nearest_takes_the_right_most_entry() {
        let t = TrustedProxies::nearest();
        let headers = xff("6.6.6.6, 1.2.3.4");
        assert_eq!(
            t.client_ip(Some(ip("10.0.0.1")), &headers),
            Some(ip("1.2.3.4"))
        );
        assert_eq!(
            t.client_ip(Some(ip("10.0.0.1")), &HeaderMap::new()),
            Some(ip("10.0.0.1"))
        );
    }

    #[test]
    fn networks_skip_trusted_hops_and_ignore_untrusted_peers() {
        let t = TrustedProxies::networks(["10.0.0.0/8", "192.0.2.7"]).unwrap();
        let headers = xff("6.6.6.6, 1.2.3.4, 10.1.2.3");
        assert_eq!(
            t.client_ip(Some(ip("192.0.2.7")), &headers),
            Some(ip("1.2.3.4"))
        );
        // A peer we do not trust cannot choose its IP.
        assert_eq!(
            t.client_ip(Some(ip("8.8.8.8")), &headers),
            Some(ip("8.8.8.8"))
        );
        // Garbage left of the readable part is ignored, not fatal.
        let headers = xff("garbage, 1.2.3.4, 10.1.2.3");
        assert_eq!(
            t.client_ip(Some(ip("10.0.0.9")), &headers),
            Some(ip("1.2.3.4"))
        );
        // A forged, unparsable header falls back to the peer.
        assert_eq!(
            t.client_ip(Some(ip("10.0.0.9")), &xff("not-an-ip")),
            Some(ip("10.0.0.9"))
        );
        assert!(TrustedProxies::networks(["10.0.0.0/33"]).is_err());
        assert!(TrustedProxies::networks(["nonsense"]).is_err());
    }

    #[test]
    fn entries_with_ports_are_read() {
        let t = TrustedProxies::nearest();
        assert_eq!(t.client_ip(None, &xff("1.2.3.4:5678")), Some(ip("1.2.3.4")));
        assert_eq!(
            t.client_ip(None, &xff("[2001:db8::1]:443")),
            Some(ip("2001:db8::1"))
        );
        assert_eq!(
            t.client_ip(None, &xff("2001:db8::2")),
            Some(ip("2001:db8::2"))
        );
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let a = ClientInfo {
            ip: Some(ip("2001:db8:1:2:aaaa::1")),
            user_agent: None,
            app: None,
        };
        let b = ClientInfo {
            ip: Some(ip("2001:db8:1:2:bbbb::9")),
            user_agent: None,
            app: None,
        };
        let c = ClientInfo {
            ip: Some(ip("2001:db8:1:3::1")),
            user_agent: None,
            app: None,
        };
        assert_eq!(a.ip_key(), b.ip_key());
        assert_ne!(a.ip_key(), c.ip_key());
        let mapped = ClientInfo {
            ip: Some(ip("::ffff:192.0.2.1")),
            user_agent: None,
            app: None,
        };
        assert_eq!(mapped.ip_key(), "192.0.2.1");
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
