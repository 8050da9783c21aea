//! Webhooks: a collection's endpoints, the events they hear of, their signing secrets and the signature of each
//! delivery (Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`),
//! and which addresses a delivery may never reach (no request forgery towards the deployment's own network).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::keys::{Pepper, key_nonce};
use super::random::random_hex;

/// A delivery's whole budget: connecting, TLS, the request and the answer's status.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(15);
/// Endpoints one collection may have.
pub const MAX_ENDPOINTS: usize = 10;
/// How long a rotated-out secret still signs deliveries, beside the new one.
pub const SECRET_OVERLAP_SECS: u64 = 24 * 3_600;
/// The longest URL an endpoint may have.
pub const MAX_URL_CHARS: usize = 2_000;

/// What a webhook tells of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "ticket.created")]
    TicketCreated,
    #[serde(rename = "ticket.message.created")]
    MessageCreated,
    #[serde(rename = "ticket.status.changed")]
    StatusChanged,
    #[serde(rename = "mail.undeliverable")]
    MailUndeliverable,
    #[serde(rename = "ticket.assigned")]
    Assigned,
    /// `ticketctl webhooks test`: sent to one endpoint whatever it subscribed to.
    #[serde(rename = "webhook.ping")]
    Ping,
}

impl EventType {
    /// The events an endpoint may subscribe to (a ping is sent on request only).
    pub const ALL: [EventType; 5] = [
        EventType::TicketCreated,
        EventType::MessageCreated,
        EventType::StatusChanged,
        EventType::MailUndeliverable,
        EventType::Assigned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::TicketCreated => "ticket.created",
            EventType::MessageCreated => "ticket.message.created",
            EventType::StatusChanged => "ticket.status.changed",
            EventType::MailUndeliverable => "mail.undeliverable",
            EventType::Assigned => "ticket.assigned",
            EventType::Ping => "webhook.ping",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == raw.trim())
    }
}

/// One of a collection's endpoints, as stored on the collection: its URL, what it hears of, and the nonces its
/// signing secrets are derived from (with the pepper: a copy of the table signs nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    /// `wh_` and 16 hex digits: how the operator and the API name it.
    pub id: String,
    pub url: String,
    /// What it hears of; empty: everything.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventType>,
    pub secret_nonce: String,
    /// The secret before the last rotation, which signs beside the new one until `until` (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<PreviousSecret>,
    pub created_at: String,
    /// Set when deliveries kept failing for days (`DISABLE_AFTER`), or when the API key that added it was
    /// revoked: nothing is sent until it is enabled; what it is owed meanwhile is held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<String>,
    /// Why it was disabled, in a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_why: Option<String>,
    /// When its deliveries started failing, with no success since: what `DISABLE_AFTER` is counted from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<String>,
    /// The id of the API key that added it (none: the operator), whose revocation disables it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_by: Option<String>,
}

/// One change to a stored endpoint, written alone (an attribute of the endpoint, never the whole of it), so that
/// two changes at once both land: a disabling does not undo a rotation made meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointChange {
    Disable {
        at: String,
        why: String,
    },
    /// On again, its failures forgotten.
    Enable,
    /// A new secret nonce, the previous one signing beside it until its time.
    Rotate {
        secret_nonce: String,
        previous: PreviousSecret,
    },
    /// A delivery failed: the endpoint is failing since `since`, unless it already was.
    Failing {
        since: String,
    },
    /// A delivery succeeded: the endpoint is no longer failing.
    Recovered,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviousSecret {
    pub secret_nonce: String,
    pub until: u64,
}

impl Endpoint {
    pub fn new(url: WebhookUrl, events: Vec<EventType>, created_at: String) -> Self {
        Self {
            id: format!("wh_{}", random_hex::<8>()),
            url: url.0,
            events,
            secret_nonce: key_nonce(),
            previous: None,
            created_at,
            disabled_at: None,
            disabled_why: None,
            failing_since: None,
            added_by: None,
        }
    }

    /// Whether an event is owed to this endpoint: disabled or not (what a disabled one is owed waits for it).
    pub fn wants(&self, event: EventType) -> bool {
        self.events.is_empty() || self.events.contains(&event)
    }

    /// A new secret, as a change to write; the one it replaces keeps signing for `SECRET_OVERLAP_SECS` after
    /// `now_secs`.
    pub fn rotation(&self, now_secs: u64) -> EndpointChange {
        let previous =
            PreviousSecret { secret_nonce: self.secret_nonce.clone(), until: now_secs + SECRET_OVERLAP_SECS };
        EndpointChange::Rotate { secret_nonce: key_nonce(), previous }
    }

    /// The endpoint as `change` leaves it.
    pub fn changed(mut self, change: &EndpointChange) -> Self {
        match change {
            EndpointChange::Disable { at, why } => {
                self.disabled_at = Some(at.clone());
                self.disabled_why = Some(why.clone());
            }
            EndpointChange::Enable => {
                self.disabled_at = None;
                self.disabled_why = None;
                self.failing_since = None;
            }
            EndpointChange::Rotate { secret_nonce, previous } => {
                self.secret_nonce = secret_nonce.clone();
                self.previous = Some(previous.clone());
            }
            EndpointChange::Failing { since } => {
                self.failing_since.get_or_insert_with(|| since.clone());
            }
            EndpointChange::Recovered => self.failing_since = None,
        }
        self
    }

    /// The secrets that sign a delivery at `now_secs`: the current one, and the previous one in its overlap.
    pub fn signing_secrets(&self, pepper: &Pepper, now_secs: u64) -> Vec<WebhookSecret> {
        let mut secrets = vec![WebhookSecret::derive(pepper, &self.secret_nonce)];
        if let Some(previous) = self.previous.as_ref().filter(|p| now_secs < p.until) {
            secrets.push(WebhookSecret::derive(pepper, &previous.secret_nonce));
        }
        secrets
    }
}

/// A signing secret: 32 bytes, shown as `whsec_` + base64 (the Standard Webhooks form). Its `Debug` is redacted.
#[derive(Clone)]
pub struct WebhookSecret([u8; 32]);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret([REDACTED])")
    }
}

impl WebhookSecret {
    /// HMAC-SHA256(pepper, "webhook-secret:" + nonce).
    pub fn derive(pepper: &Pepper, nonce: &str) -> Self {
        Self(pepper.derive_secret(b"webhook-secret:", nonce.as_bytes()))
    }

    /// `whsec_` + base64: what the endpoint's owner is shown once, and verifies with.
    pub fn reveal(&self) -> String {
        format!("whsec_{}", BASE64.encode(self.0))
    }

    /// `v1,` + base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}")).
    fn sign(&self, id: &str, timestamp: u64, body: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC accepts keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-signature` header of a delivery: one signature per secret, separated by spaces.
pub fn signature(secrets: &[WebhookSecret], id: &str, timestamp: u64, body: &[u8]) -> String {
    secrets.iter().map(|s| s.sign(id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

/// Whether plain `http://` to a loopback address is allowed: `make run` and the tests only (a deployment has no
/// such setting). A link-local address stays refused even then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Loopback {
    #[default]
    Refused,
    AllowedOverHttp,
}

/// An endpoint URL that may be registered: `https` (or loopback `http` where allowed), a host, no credentials in
/// it, no fragment, not too long, and no address a delivery must never reach when the host is an IP literal.
/// A name is checked again each time it is resolved, at registration and at every delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    pub fn parse(raw: &str, loopback: Loopback) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.chars().count() > MAX_URL_CHARS {
            return Err(format!("longer than {MAX_URL_CHARS} characters"));
        }
        let target = Target::of(raw)?;
        match (target.https, loopback, &target.host) {
            (true, _, _) => {}
            (false, Loopback::AllowedOverHttp, Host::Ip(ip)) if ip.is_loopback() => {}
            (false, Loopback::AllowedOverHttp, Host::Name(name)) if name == "localhost" => {}
            _ => return Err("must be an https:// URL".into()),
        }
        if let Host::Ip(ip) = target.host
            && let Some(why) = forbidden(ip, loopback)
        {
            return Err(format!("its address is {why}"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a URL points: the scheme, the host as named, the port and what to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    pub host: Host,
    pub port: u16,
    /// The path and query, `/` at least.
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    Name(String),
}

impl Target {
    pub fn of(raw: &str) -> Result<Self, String> {
        let url = url::Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            other => return Err(format!("the scheme {other}: is not https")),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err("a URL may not carry credentials".into());
        }
        if url.fragment().is_some() {
            return Err("a URL may not have a fragment".into());
        }
        let host = match url.host() {
            Some(url::Host::Ipv4(ip)) => Host::Ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Host::Ip(IpAddr::V6(ip)),
            Some(url::Host::Domain(name)) => Host::Name(name.trim_end_matches('.').to_ascii_lowercase()),
            None => return Err("a URL needs a host".into()),
        };
        let port = url.port_or_known_default().ok_or("a URL needs a port")?;
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        Ok(Self { https, host, port, path })
    }

    /// The `Host` header and TLS server name.
    pub fn authority(&self) -> String {
        let host = match &self.host {
            Host::Ip(IpAddr::V6(ip)) => format!("[{ip}]"),
            Host::Ip(ip) => ip.to_string(),
            Host::Name(name) => name.clone(),
        };
        let default = if self.https { 443 } else { 80 };
        if self.port == default { host } else { format!("{host}:{}", self.port) }
    }
}

/// Why a delivery must never reach `ip`, if it must not: the deployment's own network, the instance metadata
/// service, anything not a public unicast address. IPv4 inside IPv6 (mapped, NAT64) is judged as IPv4.
pub fn forbidden(ip: IpAddr, loopback: Loopback) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4, loopback),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4, loopback);
            }
            let s = v6.segments();
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                return forbidden_v4(Ipv4Addr::from(((s[6] as u32) << 16) | s[7] as u32), loopback);
            }
            forbidden_v6(v6, loopback)
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr, loopback: Loopback) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        return (loopback == Loopback::Refused).then_some("loopback");
    }
    if ip.is_link_local() {
        return Some("link-local (the instance metadata service among them)");
    }
    if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        return Some("private");
    }
    if ip.is_multicast() || ip.is_broadcast() {
        return Some("multicast or broadcast");
    }
    if ip.is_unspecified() || a == 0 || a >= 240 || ip.is_documentation() || (a == 198 && (b == 18 || b == 19)) {
        return Some("reserved");
    }
    if a == 192 && b == 0 && ip.octets()[2] == 0 {
        return Some("reserved");
    }
    None
}

fn forbidden_v6(ip: Ipv6Addr, loopback: Loopback) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        return (loopback == Loopback::Refused).then_some("loopback");
    }
    if first & 0xffc0 == 0xfe80 {
        return Some("link-local (the instance metadata service among them)");
    }
    if first & 0xfe00 == 0xfc00 {
        return Some("unique-local");
    }
    if ip.is_multicast() {
        return Some("multicast or broadcast");
    }
    if ip.is_unspecified() || first & 0xe000 != 0x2000 {
        // Only global unicast (2000::/3) is public.
        return Some("reserved");
    }
    if first == 0x2001 && ip.segments()[1] == 0x0db8 {
        return Some("reserved");
    }
    None
}

/// The payload of a delivery: `{"type", "timestamp", "data"}`.
pub fn payload(event: EventType, timestamp: &str, data: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "type": event.as_str(), "timestamp": timestamp, "data": data }))
        .expect("JSON values serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pepper() -> Pepper {
        Pepper::new(secrecy::SecretString::from("p".repeat(32))).unwrap()
    }

    #[test]
    fn an_address_a_delivery_may_reach_is_public_unicast_only() {
        let refused = [
            ("127.0.0.1", "loopback"),
            ("::1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "private"),
            ("169.254.169.254", "link-local (the instance metadata service among them)"),
            ("fe80::1", "link-local (the instance metadata service among them)"),
            ("fd00:ec2::254", "unique-local"),
            ("224.0.0.1", "multicast or broadcast"),
            ("ff02::1", "multicast or broadcast"),
            ("255.255.255.255", "multicast or broadcast"),
            ("0.0.0.0", "reserved"),
            ("::", "reserved"),
            ("::ffff:10.0.0.1", "private"),
            ("::ffff:169.254.169.254", "link-local (the instance metadata service among them)"),
            ("64:ff9b::a9fe:a9fe", "link-local (the instance metadata service among them)"),
            ("192.0.2.1", "reserved"),
            ("2001:db8::1", "reserved"),
        ];
        for (ip, why) in refused {
            assert_eq!(forbidden(ip.parse().unwrap(), Loopback::Refused), Some(why), "{ip}");
        }
        for ip in ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "1.1.1.1", "::ffff:8.8.8.8"] {
            assert_eq!(forbidden(ip.parse().unwrap(), Loopback::Refused), None, "{ip}");
        }
        // Where loopback over http is allowed (make run, the tests), link-local stays refused.
        assert_eq!(forbidden("127.0.0.1".parse().unwrap(), Loopback::AllowedOverHttp), None);
        assert!(forbidden("169.254.169.254".parse().unwrap(), Loopback::AllowedOverHttp).is_some());
    }

    #[test]
    fn only_https_urls_without_credentials_are_registered() {
        let ok = WebhookUrl::parse("https://hooks.example.com/ticket-api?x=1", Loopback::Refused).unwrap();
        assert_eq!(ok.as_str(), "https://hooks.example.com/ticket-api?x=1");
        for (raw, why) in [
            ("http://hooks.example.com/", "https"),
            ("ftp://hooks.example.com/", "scheme"),
            ("https://user:pw@hooks.example.com/", "credentials"),
            ("https://hooks.example.com/#x", "fragment"),
            ("https://10.0.0.1/", "private"),
            ("https://[fd00::1]/", "unique-local"),
            ("https://169.254.169.254/latest/meta-data/", "link-local"),
            ("http://127.0.0.1:9000/", "https"),
            ("not a url", "not a URL"),
        ] {
            let refused = WebhookUrl::parse(raw, Loopback::Refused).unwrap_err();
            assert!(refused.contains(why), "{raw}: {refused}");
        }
        assert!(WebhookUrl::parse("http://127.0.0.1:9000/hook", Loopback::AllowedOverHttp).is_ok());
        assert!(WebhookUrl::parse("http://10.0.0.1/hook", Loopback::AllowedOverHttp).is_err());
        assert!(WebhookUrl::parse("http://169.254.169.254/", Loopback::AllowedOverHttp).is_err());
    }

    #[test]
    fn a_target_names_its_host_port_and_path() {
        let t = Target::of("https://Hooks.Example.com./in?a=b").unwrap();
        assert_eq!(
            (t.https, t.port, t.path.as_str(), t.authority()),
            (true, 443, "/in?a=b", "hooks.example.com".into())
        );
        let t = Target::of("http://[::1]:8080").unwrap();
        assert_eq!((t.authority(), t.path.as_str()), ("[::1]:8080".into(), "/"));
        assert_eq!(t.host, Host::Ip("::1".parse().unwrap()));
    }

    #[test]
    fn a_rotated_secret_signs_beside_the_new_one_for_a_day() {
        let url = WebhookUrl::parse("https://hooks.example.com/", Loopback::Refused).unwrap();
        let endpoint = Endpoint::new(url, vec![], "2026-12-05T00:00:00Z".into());
        let before = endpoint.signing_secrets(&pepper(), 1_000)[0].reveal();
        assert!(before.starts_with("whsec_") && BASE64.decode(&before[6..]).unwrap().len() == 32);
        let rotation = endpoint.rotation(1_000);
        let endpoint = endpoint.changed(&rotation);
        let during: Vec<String> =
            endpoint.signing_secrets(&pepper(), 1_000 + 3_600).iter().map(|s| s.reveal()).collect();
        assert_eq!(during.len(), 2);
        assert_eq!(during[1], before, "the old secret still signs");
        assert_ne!(during[0], before);
        assert_eq!(
            endpoint.signing_secrets(&pepper(), 1_000 + SECRET_OVERLAP_SECS).len(),
            1,
            "and no longer after a day"
        );
        let secrets = endpoint.signing_secrets(&pepper(), 2_000);
        let header = signature(&secrets, "msg_1", 1_700_000_000, b"{}");
        assert_eq!(header.split(' ').count(), 2);
        assert!(header.split(' ').all(|s| s.starts_with("v1,")));
        assert_eq!(format!("{:?}", secrets[0]), "WebhookSecret([REDACTED])");
    }

    #[test]
    fn an_endpoint_hears_what_it_subscribed_to() {
        let url = WebhookUrl::parse("https://hooks.example.com/", Loopback::Refused).unwrap();
        let mut all = Endpoint::new(url.clone(), vec![], "t".into());
        let some = Endpoint::new(url, vec![EventType::StatusChanged], "t".into());
        assert!(EventType::ALL.iter().all(|e| all.wants(*e)));
        assert!(some.wants(EventType::StatusChanged) && !some.wants(EventType::TicketCreated));
        all.disabled_at = Some("t".into());
        assert!(all.wants(EventType::TicketCreated), "owed while disabled, delivered once enabled");
        assert_eq!(EventType::parse("ticket.message.created"), Some(EventType::MessageCreated));
        assert_eq!(EventType::parse("ticket.deleted"), None);
    }
}
