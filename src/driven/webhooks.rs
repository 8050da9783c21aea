//! Webhook deliveries over HTTPS, with the HTTP and TLS stack the AWS clients already use (hyper 1, rustls on
//! ring): no second stack. Every delivery resolves its host, refuses the whole name if any of its addresses is
//! one a delivery must never reach (`webhook::forbidden`), and connects to the address it checked, so that a
//! name cannot be checked as public and then reached as private. One request, no redirects followed, 15 s in all,
//! at most 4 KB of the answer read. Public certificate authorities come from the system's store, read on the
//! first delivery (not at start-up: most invocations deliver none).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use crate::domain::webhook::DELIVERY_TIMEOUT;
use crate::domain::webhook::{Host, Loopback, Target, forbidden};
use crate::ports::{Posted, WebhookSender};

/// How much of an answer is read (for the delivery log): the status is what counts.
const ANSWER_BYTES: usize = 4 * 1024;

#[derive(Clone)]
pub struct HttpWebhooks {
    loopback: Loopback,
    timeout: Duration,
    /// Names answered without DNS (tests: a name that resolves to a private address).
    hosts: Arc<HashMap<String, Vec<IpAddr>>>,
    tls: Arc<OnceLock<Result<Arc<rustls::ClientConfig>, String>>>,
    extra_roots: Option<Arc<Vec<rustls_pki_types::CertificateDer<'static>>>>,
}

impl std::fmt::Debug for HttpWebhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpWebhooks").field("loopback", &self.loopback).finish_non_exhaustive()
    }
}

impl HttpWebhooks {
    pub fn new(loopback: Loopback) -> Self {
        Self { loopback, timeout: DELIVERY_TIMEOUT, hosts: Arc::default(), tls: Arc::default(), extra_roots: None }
    }

    /// Another budget than `DELIVERY_TIMEOUT` for a delivery (tests).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Names resolved from this table instead of DNS.
    pub fn with_hosts(mut self, hosts: HashMap<String, Vec<IpAddr>>) -> Self {
        self.hosts = Arc::new(hosts);
        self
    }

    /// Certificates trusted beside the system's (a test's CA).
    pub fn with_roots(mut self, roots: Vec<rustls_pki_types::CertificateDer<'static>>) -> Self {
        self.extra_roots = Some(Arc::new(roots));
        self
    }

    /// The address to connect to: every address the host has must be allowed, and the first is used.
    async fn resolve(&self, target: &Target) -> Result<SocketAddr, String> {
        let addresses: Vec<IpAddr> = match &target.host {
            Host::Ip(ip) => vec![*ip],
            Host::Name(name) => match self.hosts.get(name) {
                Some(ips) => ips.clone(),
                None => tokio::net::lookup_host((name.as_str(), target.port))
                    .await
                    .map_err(|e| format!("{name} does not resolve: {e}"))?
                    .map(|a| a.ip())
                    .collect(),
            },
        };
        if addresses.is_empty() {
            return Err("the host has no address".into());
        }
        for ip in &addresses {
            if let Some(why) = forbidden(*ip, self.loopback) {
                return Err(format!("refused: the host resolves to an address that is {why} ({ip})"));
            }
        }
        let loopback_http = self.loopback == Loopback::AllowedOverHttp && addresses.iter().all(IpAddr::is_loopback);
        if !(target.https || loopback_http) {
            return Err("refused: only https:// is delivered to".into());
        }
        Ok(SocketAddr::new(addresses[0], target.port))
    }

    fn tls(&self) -> Result<Arc<rustls::ClientConfig>, String> {
        self.tls
            .get_or_init(|| {
                let mut roots = rustls::RootCertStore::empty();
                let native = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(native.certs);
                for cert in self.extra_roots.iter().flat_map(|r| r.iter()) {
                    roots.add(cert.clone()).map_err(|e| format!("a trusted root does not parse: {e}"))?;
                }
                if roots.is_empty() {
                    return Err("no certificate authority to trust: the system's store is empty".into());
                }
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| e.to_string())?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                Ok(Arc::new(config))
            })
            .clone()
    }

    async fn send(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: Vec<u8>,
    ) -> Result<(u16, String), String> {
        let target = Target::of(url)?;
        let address = self.resolve(&target).await?;
        let tcp = tokio::net::TcpStream::connect(address).await.map_err(|e| format!("connect {address}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let request = {
            let mut builder = hyper::Request::post(&target.path)
                .header(hyper::header::HOST, target.authority())
                .header(hyper::header::CONTENT_TYPE, "application/json")
                .header(hyper::header::USER_AGENT, concat!("ticket-api-webhooks/", env!("CARGO_PKG_VERSION")));
            for (name, value) in headers {
                builder = builder.header(*name, value);
            }
            builder.body(Full::new(Bytes::from(body))).map_err(|e| e.to_string())?
        };
        if target.https {
            let name = match &target.host {
                Host::Ip(ip) => rustls_pki_types::ServerName::IpAddress((*ip).into()),
                Host::Name(n) => rustls_pki_types::ServerName::try_from(n.clone()).map_err(|e| e.to_string())?,
            };
            let tls = tokio_rustls::TlsConnector::from(self.tls()?)
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS: {e}"))?;
            exchange(TokioIo::new(tls), request).await
        } else {
            exchange(TokioIo::new(tcp), request).await
        }
    }
}

async fn exchange<T>(io: T, request: hyper::Request<Full<Bytes>>) -> Result<(u16, String), String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.map_err(|e| e.to_string())?;
    let driver = tokio::spawn(connection);
    let answer = sender.send_request(request).await.map_err(|e| format!("no answer: {e}"));
    let result = match answer {
        Ok(response) => {
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), ANSWER_BYTES).collect().await;
            let text = body.map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned()).unwrap_or_default();
            Ok((status, text))
        }
        Err(e) => Err(e),
    };
    driver.abort();
    result
}

impl WebhookSender for HttpWebhooks {
    async fn post(&self, url: &str, headers: &[(&'static str, String)], body: Vec<u8>) -> Posted {
        let started = Instant::now();
        let outcome = tokio::time::timeout(self.timeout, self.send(url, headers, body)).await;
        let latency = started.elapsed();
        match outcome {
            Ok(Ok((status, _))) if (200..300).contains(&status) => {
                Posted { status: Some(status), error: None, latency }
            }
            Ok(Ok((status, answer))) => {
                let answer: String = answer.chars().filter(|c| !c.is_control()).take(200).collect();
                Posted { status: Some(status), error: Some(format!("answered {status}: {answer}")), latency }
            }
            Ok(Err(e)) => Posted { status: None, error: Some(e), latency },
            Err(_) => Posted { status: None, error: Some(format!("no answer within {:?}", self.timeout)), latency },
        }
    }

    async fn check(&self, url: &str) -> Result<(), String> {
        let target = Target::of(url)?;
        self.resolve(&target).await.map(|_| ())
    }
}
