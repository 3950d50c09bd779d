//! Webhook rules, no I/O: what a receiver URL may look like, which IP addresses count as
//! internal (refused unless `--webhooks-allow-private`: a webhook sender is a classic
//! server-side request forgery vector), which events a webhook selects, and how long a
//! failed delivery waits before the next attempt.
//!
//! Resolving a host name is I/O; the service resolves and asks [`is_internal`] about
//! every address, at creation and again before each delivery.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use capstan_client::types::webhook::{ALL_EVENTS, MAX_WEBHOOK_URL_LEN};
use capstan_client::types::EventKind;

use super::metadata::shorten;

/// Most entries in a webhook's `events`.
pub const MAX_EVENT_KINDS: usize = 64;

/// Why a webhook's settings were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookRuleError {
    /// `url` is already shortened for display.
    #[error("webhook URL {url:?} is not valid: {reason}")]
    InvalidUrl { url: String, reason: &'static str },
    #[error("webhook URL host {host:?} is or resolves to {address}, an internal address (loopback, private, link-local, …); the registry refuses those unless started with --webhooks-allow-private")]
    UrlNotAllowed { host: String, address: IpAddr },
    #[error("webhook URL host {host:?} cannot be resolved: {reason}")]
    Unresolvable { host: String, reason: String },
    /// `kind` is already shortened for display.
    #[error(
        "unknown event kind {kind:?}; use one of the kinds of GET /api/v1/events, or \"*\" for all"
    )]
    UnknownEventKind { kind: String },
    #[error("events must list 1–{MAX_EVENT_KINDS} event kinds, or be [\"*\"]")]
    InvalidEvents,
}

/// A receiver URL that passed the rules: http(s), a host, no user name or password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverUrl {
    url: url::Url,
}

impl ReceiverUrl {
    pub fn parse(text: &str) -> Result<Self, WebhookRuleError> {
        let invalid = |reason| WebhookRuleError::InvalidUrl {
            url: shorten(text),
            reason,
        };
        if text.len() > MAX_WEBHOOK_URL_LEN {
            return Err(invalid("longer than 2048 bytes"));
        }
        let url = url::Url::parse(text).map_err(|_| invalid("not an absolute URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("only http and https URLs are allowed"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("a user name or password in the URL is not allowed"));
        }
        match url.host_str() {
            None | Some("") => return Err(invalid("the URL has no host")),
            Some(_) => {}
        }
        if url.fragment().is_some() {
            return Err(invalid("a fragment (#…) is not allowed"));
        }
        Ok(Self { url })
    }

    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// The host as DNS knows it (no brackets around an IPv6 address).
    pub fn host(&self) -> String {
        match self.url.host() {
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            Some(host) => host.to_string(),
            None => String::new(),
        }
    }

    /// The address the URL names literally, if it names one.
    pub fn literal_address(&self) -> Option<IpAddr> {
        match self.url.host()? {
            url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            url::Host::Domain(_) => None,
        }
    }

    pub fn port(&self) -> u16 {
        self.url.port_or_known_default().unwrap_or(80)
    }
}

/// The first of `addresses` that is internal, if any (every one must be public: a host
/// with one public and one private address could be steered to the private one).
pub fn first_internal(addresses: &[IpAddr]) -> Option<IpAddr> {
    addresses.iter().copied().find(|ip| is_internal(*ip))
}

/// Whether `ip` is not a public unicast address: loopback, private, link-local,
/// unique-local, CGNAT, unspecified, multicast, broadcast, reserved or documentation
/// ranges, and IPv6 forms that embed such an IPv4 address (mapped, compatible, NAT64,
/// 6to4).
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_internal_v4(ip),
        IpAddr::V6(ip) => is_internal_v6(ip),
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0                                   // 0.0.0.0/8 "this network", unspecified
        || a == 10                           // 10/8 private
        || a == 127                          // loopback
        || (a == 100 && (64..128).contains(&b)) // 100.64/10 CGNAT
        || (a == 169 && b == 254)            // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b)) // 172.16/12 private
        || (a == 192 && b == 0 && c == 0)    // 192.0.0/24 protocol assignments
        || (a == 192 && b == 0 && c == 2)    // TEST-NET-1
        || (a == 192 && b == 168)            // 192.168/16 private
        || (a == 198 && (18..20).contains(&b)) // 198.18/15 benchmarking
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113)  // TEST-NET-3
        || a >= 224 // multicast 224/4, reserved 240/4, broadcast
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_internal_v4(v4); // ::ffff:a.b.c.d
    }
    let embedded = |high: u16, low: u16| {
        let [a, b] = high.to_be_bytes();
        let [c, d] = low.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if segments[..6] == [0; 6] {
        // ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d
        return ip.is_unspecified()
            || ip.is_loopback()
            || is_internal_v4(embedded(segments[6], segments[7]));
    }
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_internal_v4(embedded(segments[6], segments[7])); // NAT64
    }
    if segments[0] == 0x2002 {
        return is_internal_v4(embedded(segments[1], segments[2])); // 6to4
    }
    (segments[0] & 0xfe00) == 0xfc00         // fc00::/7 unique local
        || (segments[0] & 0xffc0) == 0xfe80  // fe80::/10 link-local
        || (segments[0] & 0xffc0) == 0xfec0  // fec0::/10 site-local (deprecated)
        || (segments[0] & 0xff00) == 0xff00  // multicast
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || (segments[0] == 0x2001 && segments[1] == 0) // Teredo
}

/// Which event kinds a webhook receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSelection {
    All,
    Kinds(Vec<EventKind>),
}

impl EventSelection {
    /// `["*"]`, or one or more kind names (duplicates dropped).
    pub fn parse(names: &[String]) -> Result<Self, WebhookRuleError> {
        if names.is_empty() || names.len() > MAX_EVENT_KINDS {
            return Err(WebhookRuleError::InvalidEvents);
        }
        if names.iter().any(|name| name == ALL_EVENTS) {
            return if names.len() == 1 {
                Ok(EventSelection::All)
            } else {
                Err(WebhookRuleError::InvalidEvents)
            };
        }
        let mut kinds = Vec::with_capacity(names.len());
        for name in names {
            let kind =
                EventKind::parse(name).ok_or_else(|| WebhookRuleError::UnknownEventKind {
                    kind: shorten(name),
                })?;
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        Ok(EventSelection::Kinds(kinds))
    }

    pub fn selects(&self, kind: EventKind) -> bool {
        match self {
            EventSelection::All => true,
            EventSelection::Kinds(kinds) => kinds.contains(&kind),
        }
    }

    pub fn names(&self) -> Vec<String> {
        match self {
            EventSelection::All => vec![ALL_EVENTS.to_owned()],
            EventSelection::Kinds(kinds) => kinds.iter().map(|k| k.as_str().to_owned()).collect(),
        }
    }
}

/// How long to wait after the `failures`-th failed attempt (1, 2, …) of an event:
/// `first` doubled each time up to `max`, with "equal jitter" — the upper half of the
/// delay is scaled by `jitter` (uniform in `[0, 1)`), so receivers that failed together
/// are not retried together.
pub fn retry_delay(failures: i64, first: Duration, max: Duration, jitter: f64) -> Duration {
    let doublings = u32::try_from(failures.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(32);
    let base = first
        .checked_mul(1u32 << doublings.min(31))
        .unwrap_or(max)
        .min(max);
    let half = base / 2;
    half + half.mul_f64(jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn internal(text: &str) -> bool {
        is_internal(text.parse().unwrap())
    }

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "127.1.2.3",
            "0.0.0.0",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:c0a8:101::1",
        ] {
            assert!(internal(ip), "{ip} is internal");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.1.1",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(!internal(ip), "{ip} is public");
        }
    }

    #[test]
    fn one_internal_address_among_public_ones_is_found() {
        let addresses: Vec<IpAddr> = ["8.8.8.8", "10.0.0.1"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(first_internal(&addresses), Some(addresses[1]));
        assert_eq!(first_internal(&addresses[..1]), None);
    }

    #[test]
    fn receiver_urls_are_http_without_credentials() {
        let url = ReceiverUrl::parse("https://hooks.example.com/capstan?x=1").unwrap();
        assert_eq!(url.host(), "hooks.example.com");
        assert_eq!(url.port(), 443);
        assert_eq!(url.literal_address(), None);
        let v6 = ReceiverUrl::parse("http://[::1]:8080/").unwrap();
        assert_eq!(v6.host(), "::1");
        assert_eq!(v6.literal_address(), Some("::1".parse().unwrap()));
        for bad in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "gopher://example.com",
            "http://user:pw@example.com/",
            "http://user@example.com/",
            "example.com/hook",
            "http://",
            "https://example.com/#frag",
        ] {
            assert!(ReceiverUrl::parse(bad).is_err(), "{bad} refused");
        }
    }

    #[test]
    fn event_selections_parse_kinds_or_star() {
        let names = |n: &[&str]| n.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            EventSelection::parse(&names(&["*"])).unwrap(),
            EventSelection::All
        );
        let kinds = EventSelection::parse(&names(&["stage_changed", "stage_changed"])).unwrap();
        assert_eq!(kinds.names(), ["stage_changed"]);
        assert!(kinds.selects(EventKind::StageChanged));
        assert!(!kinds.selects(EventKind::ModelCreated));
        assert!(matches!(
            EventSelection::parse(&names(&["nope"])),
            Err(WebhookRuleError::UnknownEventKind { .. })
        ));
        assert!(EventSelection::parse(&[]).is_err());
        assert!(EventSelection::parse(&names(&["*", "stage_changed"])).is_err());
    }

    #[test]
    fn retry_delays_double_up_to_the_maximum_with_jitter() {
        let first = Duration::from_secs(1);
        let max = Duration::from_secs(60);
        assert_eq!(retry_delay(1, first, max, 0.0), Duration::from_millis(500));
        assert_eq!(retry_delay(1, first, max, 1.0), first);
        assert_eq!(retry_delay(3, first, max, 1.0), Duration::from_secs(4));
        assert_eq!(retry_delay(30, first, max, 1.0), max);
        assert_eq!(
            retry_delay(i64::MAX, first, max, 0.5),
            Duration::from_secs(45)
        );
    }
}
