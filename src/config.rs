//! Every environment variable the function reads, read once at start-up, typed. Errors name the variable.
//! Nothing else in the crate reads the environment (the AWS SDK reads its own `AWS_*` variables).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;

use crate::domain::keys::DEFAULT_KEY_CACHE_TTL;
use crate::domain::webhook::Loopback;
use crate::domain::{DeliveryPolicy, Email};
use crate::schema::Table;

/// The variables the Lambda function needs.
pub const REQUIRED_VARIABLES: &[&str] = &[
    API_KEYS_TABLE,
    COLLECTIONS_TABLE,
    TICKETS_TABLE,
    LIMITS_TABLE,
    IDEMPOTENCY_TABLE,
    SUPPRESSIONS_TABLE,
    SENDER_EMAIL,
    PUBLIC_BASE_URL,
    API_KEY_PEPPER_SECRET_ID,
];
/// The variables the Lambda function reads when set, with defaults otherwise.
pub const OPTIONAL_VARIABLES: &[&str] = &[
    UPSTREAM_CONNECT_TIMEOUT_MS,
    UPSTREAM_ATTEMPT_TIMEOUT_MS,
    UPSTREAM_OPERATION_TIMEOUT_MS,
    UPSTREAM_MAX_ATTEMPTS,
    API_KEY_CACHE_TTL_SECONDS,
    MAIL_MAX_SEND_RATE,
    MAIL_SWEEP_AFTER_SECONDS,
    MAIL_RETRY_BASE_SECONDS,
    MAIL_RETRY_MAX_SECONDS,
    MAIL_LEASE_SECONDS,
    MAIL_SEND_TIMEOUT_SECONDS,
    FUNCTION_TIMEOUT_SECONDS,
    SES_CONFIGURATION_SET,
    INBOUND_DOMAIN,
    INBOUND_BUCKET,
    INBOUND_PREFIX,
    FILES_BUCKET,
    FILE_SCANNING,
];

/// Variables the function reads when they are set, which the template leaves unset on purpose: a deployment
/// behind a TLS-inspecting proxy sets `AWS_CA_BUNDLE`; `WARM_UP_CONNECTIONS` is the benchmarks'; a deployment
/// never lets a webhook reach loopback (`WEBHOOKS_ALLOW_LOOPBACK_HTTP` is `make run`'s and the tests').
pub const UNSET_IN_TEMPLATE: &[&str] =
    &[AWS_CA_BUNDLE, WARM_UP_CONNECTIONS, AWS_ENDPOINT_URL_S3, WEBHOOKS_ALLOW_LOOPBACK_HTTP];

/// Every variable the Lambda function reads. `template.yaml` sets each of them and no other (checked by a test).
pub fn function_variables() -> impl Iterator<Item = &'static str> {
    REQUIRED_VARIABLES.iter().chain(OPTIONAL_VARIABLES).copied()
}

pub const API_KEYS_TABLE: &str = "API_KEYS_TABLE";
pub const COLLECTIONS_TABLE: &str = "COLLECTIONS_TABLE";
pub const TICKETS_TABLE: &str = "TICKETS_TABLE";
pub const LIMITS_TABLE: &str = "LIMITS_TABLE";
pub const IDEMPOTENCY_TABLE: &str = "IDEMPOTENCY_TABLE";
pub const SUPPRESSIONS_TABLE: &str = "SUPPRESSIONS_TABLE";
pub const SENDER_EMAIL: &str = "SENDER_EMAIL";
pub const PUBLIC_BASE_URL: &str = "PUBLIC_BASE_URL";
pub const API_KEY_PEPPER_SECRET_ID: &str = "API_KEY_PEPPER_SECRET_ID";
/// Local use only: the pepper itself, when no Secrets Manager secret is configured.
pub const API_KEY_PEPPER: &str = "API_KEY_PEPPER";
pub const UPSTREAM_CONNECT_TIMEOUT_MS: &str = "UPSTREAM_CONNECT_TIMEOUT_MS";
pub const UPSTREAM_ATTEMPT_TIMEOUT_MS: &str = "UPSTREAM_ATTEMPT_TIMEOUT_MS";
pub const UPSTREAM_OPERATION_TIMEOUT_MS: &str = "UPSTREAM_OPERATION_TIMEOUT_MS";
pub const UPSTREAM_MAX_ATTEMPTS: &str = "UPSTREAM_MAX_ATTEMPTS";
/// The domain SES receives the tickets' replies at: every e-mail replies to `{ticket's address}@` it. Unset: no
/// reply addresses (the e-mails say to answer on the ticket's page).
pub const INBOUND_DOMAIN: &str = "INBOUND_DOMAIN";
/// The bucket SES receiving stores each received message in (required with `INBOUND_DOMAIN`).
pub const INBOUND_BUCKET: &str = "INBOUND_BUCKET";
/// The key prefix of those messages in it (`inbound/` by default): a message is `{prefix}{SES message id}`.
pub const INBOUND_PREFIX: &str = "INBOUND_PREFIX";
/// The bucket of the tickets' files: uploads are posted to it, files kept in it. Unset: no files (an upload or a
/// download is a 503 naming it).
pub const FILES_BUCKET: &str = "FILES_BUCKET";
/// `on`: a file is handed out only once GuardDuty Malware Protection's scan tagged it clean (`off` by default;
/// the template turns it on with the protection plan).
pub const FILE_SCANNING: &str = "FILE_SCANNING";
/// The standard variable of an S3 endpoint override: a stand-in, which is addressed path-style.
pub const AWS_ENDPOINT_URL_S3: &str = "AWS_ENDPOINT_URL_S3";
/// `make run` and the tests only: `true` lets webhooks be delivered over plain http to a loopback address.
pub const WEBHOOKS_ALLOW_LOOPBACK_HTTP: &str = "WEBHOOKS_ALLOW_LOOPBACK_HTTP";
/// A PEM file of certificates to trust beside the Amazon roots (the variable the AWS CLI reads): a
/// TLS-inspecting proxy's CA, or a test CA in front of local stand-ins. Not set by the template.
pub const AWS_CA_BUNDLE: &str = "AWS_CA_BUNDLE";
/// Benchmarks only: how many connections to DynamoDB start-up opens (0: none, to measure a cold start without;
/// unset: as many as a create uses at once). Not set by the template.
pub const WARM_UP_CONNECTIONS: &str = "WARM_UP_CONNECTIONS";
/// How long a looked-up API key is trusted before it is read again (and so how long a revocation can take).
pub const API_KEY_CACHE_TTL_SECONDS: &str = "API_KEY_CACHE_TTL_SECONDS";
/// E-mails per second the deployment sends at most, all processes together; unset: the SES account's maximum
/// send rate (`GetAccount`).
pub const MAIL_MAX_SEND_RATE: &str = "MAIL_MAX_SEND_RATE";
/// The SES configuration set every e-mail is sent with: its event destination hands SES's delivery, bounce
/// and complaint events back to the function. Unset: none (no events).
pub const SES_CONFIGURATION_SET: &str = "SES_CONFIGURATION_SET";
/// How long a new e-mail is left to the stream before the sweep takes it.
pub const MAIL_SWEEP_AFTER_SECONDS: &str = "MAIL_SWEEP_AFTER_SECONDS";
/// The delay of the first retry of an e-mail that failed for a passing reason; each further one doubles.
pub const MAIL_RETRY_BASE_SECONDS: &str = "MAIL_RETRY_BASE_SECONDS";
/// The longest delay between two attempts of one e-mail.
pub const MAIL_RETRY_MAX_SECONDS: &str = "MAIL_RETRY_MAX_SECONDS";
/// How long a deliverer owns an e-mail it claimed before another may take it over.
pub const MAIL_LEASE_SECONDS: &str = "MAIL_LEASE_SECONDS";
/// How long one SES `SendEmail` may take, its only attempt: past it, the e-mail may or may not have been sent
/// (it is retried, and counted as `EmailsAmbiguous`).
pub const MAIL_SEND_TIMEOUT_SECONDS: &str = "MAIL_SEND_TIMEOUT_SECONDS";
/// The function's timeout (`template.yaml` sets it from the same parameter): how long an invocation may last,
/// which a claim's lease must outlast; locally, how long an invocation of the stand-ins is given.
pub const FUNCTION_TIMEOUT_SECONDS: &str = "FUNCTION_TIMEOUT_SECONDS";
/// Local server only: where to listen.
pub const LISTEN_ADDR: &str = "LISTEN_ADDR";
/// Local server only: where Lambda's Invoke API listens (the stand-in of SES receiving invokes the function there).
pub const INVOKE_ADDR: &str = "INVOKE_ADDR";
/// Local server only: how often the sweep runs (the schedule's stand-in).
pub const SWEEP_INTERVAL_SECONDS: &str = "SWEEP_INTERVAL_SECONDS";
/// Local server only: where stream records given up on are written (the dead-letter queue's stand-in).
pub const DEAD_LETTER_FILE: &str = "DEAD_LETTER_FILE";

/// A configuration problem, naming the variable.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

/// The DynamoDB tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    pub api_keys: String,
    pub collections: String,
    pub tickets: String,
    /// Abuse-limit counts, one item per collection, key or requester, and hour, expiring by TTL.
    pub limits: String,
    /// Remembered creates of the `Idempotency-Key` header, expiring after a day.
    pub idempotency: String,
    /// Addresses that bounced for good or complained: sent nothing again until an operator lifts them.
    pub suppressions: String,
}

impl Tables {
    /// The name of one of the deployment's tables.
    pub fn name(&self, table: Table) -> &str {
        match table {
            Table::ApiKeys => &self.api_keys,
            Table::Collections => &self.collections,
            Table::Tickets => &self.tickets,
            Table::Limits => &self.limits,
            Table::Idempotency => &self.idempotency,
            Table::Suppressions => &self.suppressions,
        }
    }

    /// The variable that names a table (the template sets each to its table's `!Ref`).
    pub fn variable(table: Table) -> &'static str {
        match table {
            Table::ApiKeys => API_KEYS_TABLE,
            Table::Collections => COLLECTIONS_TABLE,
            Table::Tickets => TICKETS_TABLE,
            Table::Limits => LIMITS_TABLE,
            Table::Idempotency => IDEMPOTENCY_TABLE,
            Table::Suppressions => SUPPRESSIONS_TABLE,
        }
    }
}

/// Where the API key pepper comes from.
#[derive(Debug, Clone)]
pub enum PepperSource {
    /// The id or ARN of a Secrets Manager secret whose string is the pepper (production).
    SecretsManager(String),
    /// The pepper itself, from `API_KEY_PEPPER` (local development and tests only).
    Inline(SecretString),
}

/// Timeouts and retries for every AWS call, and whom its TLS trusts. Defaults suit a request path: a
/// dependency that hangs costs at most `operation` per call, then the caller gets a 503, long before the
/// Lambda's own timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub connect: Duration,
    pub attempt: Duration,
    pub operation: Duration,
    pub max_attempts: u32,
    /// PEM certificates trusted beside the bundled Amazon roots (`AWS_CA_BUNDLE`), checked to parse.
    pub ca_bundle: Option<Arc<[u8]>>,
}

impl Default for Upstream {
    fn default() -> Self {
        Self {
            connect: Duration::from_millis(1_000),
            attempt: Duration::from_millis(2_000),
            operation: Duration::from_millis(4_000),
            max_attempts: 3,
            ca_bundle: None,
        }
    }
}

/// What an invocation must have beyond one attempt's budget: its own margin and some time to send in.
const MIN_DELIVERY_WINDOW: Duration = Duration::from_secs(10);

/// The function's timeout by default (`template.yaml`'s `FunctionTimeout` parameter).
pub const DEFAULT_FUNCTION_TIMEOUT: Duration = Duration::from_secs(60);
/// SES's `SendEmail` timeout by default.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The function's whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub tables: Tables,
    pub sender_email: String,
    pub configuration_set: Option<String>,
    pub public_base_url: String,
    pub pepper: PepperSource,
    pub upstream: Upstream,
    pub key_cache_ttl: Duration,
    pub delivery: DeliveryPolicy,
    /// SES's own timeout: one attempt of `SendEmail`.
    pub send_timeout: Duration,
    pub function_timeout: Duration,
    /// Connections to DynamoDB opened at start-up; `None`: the service's own count.
    pub warm_up_connections: Option<usize>,
    /// Where replies by e-mail are received (lower case); `None`: not at all.
    pub inbound_domain: Option<String>,
    /// Where SES receiving stores them: the bucket and the key prefix, and whether it is a stand-in
    /// (addressed path-style).
    pub inbound_store: Option<InboundStore>,
    /// Whether webhooks may reach loopback over http (never in a deployment).
    pub webhooks_loopback: Loopback,
    /// The bucket of the tickets' files, and where a form posts to; `None`: no files.
    pub files: Option<FilesStore>,
    /// Whether a file is handed out only once a malware scan cleared it.
    pub file_scanning: bool,
}

/// The bucket of the tickets' files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesStore {
    pub bucket: String,
    /// A stand-in's URL of the bucket (path-style), where its forms post; `None` on AWS, where they post to the
    /// bucket's own host in the function's region (`compose` makes it).
    pub stand_in_form_url: Option<String>,
}

impl FilesStore {
    pub fn path_style(&self) -> bool {
        self.stand_in_form_url.is_some()
    }
}

/// The bucket SES receiving stores received messages in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundStore {
    pub bucket: String,
    pub prefix: String,
    pub path_style: bool,
}

/// Reads variables from a source: the process environment in production, a map in tests.
pub struct Env<F>(pub F);

impl Env<fn(&str) -> Option<String>> {
    pub fn process() -> Self {
        Env(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    fn required(&self, variable: &'static str) -> Result<String, ConfigError> {
        (self.0)(variable).ok_or_else(|| ConfigError { variable, problem: "is not set".into() })
    }

    fn millis(&self, variable: &'static str, default: Duration) -> Result<Duration, ConfigError> {
        match (self.0)(variable) {
            None => Ok(default),
            Some(v) => v.trim().parse::<u64>().ok().filter(|ms| *ms > 0).map(Duration::from_millis).ok_or_else(|| {
                ConfigError { variable, problem: format!("`{v}` is not a positive number of milliseconds") }
            }),
        }
    }

    pub fn tables(&self) -> Result<Tables, ConfigError> {
        Ok(Tables {
            api_keys: self.required(API_KEYS_TABLE)?,
            collections: self.required(COLLECTIONS_TABLE)?,
            tickets: self.required(TICKETS_TABLE)?,
            limits: self.required(LIMITS_TABLE)?,
            idempotency: self.required(IDEMPOTENCY_TABLE)?,
            suppressions: self.required(SUPPRESSIONS_TABLE)?,
        })
    }

    pub fn pepper(&self) -> Result<PepperSource, ConfigError> {
        // The local fallback is not even looked at when a secret is configured.
        if let Some(id) = (self.0)(API_KEY_PEPPER_SECRET_ID) {
            return Ok(PepperSource::SecretsManager(id));
        }
        match (self.0)(API_KEY_PEPPER) {
            Some(pepper) => Ok(PepperSource::Inline(SecretString::from(pepper))),
            None => Err(ConfigError {
                variable: API_KEY_PEPPER_SECRET_ID,
                problem: format!("is not set (nor is {API_KEY_PEPPER}, which is for local use only)"),
            }),
        }
    }

    pub fn sender_email(&self) -> Result<String, ConfigError> {
        let sender = self.required(SENDER_EMAIL)?;
        Email::parse(&sender)
            .map(String::from)
            .map_err(|(_, why)| ConfigError { variable: SENDER_EMAIL, problem: format!("`{sender}` {why}") })
    }

    pub fn public_base_url(&self) -> Result<String, ConfigError> {
        let url = self.required(PUBLIC_BASE_URL)?;
        let url = url.trim().trim_end_matches('/').to_owned();
        let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
        if !scheme_ok || url.contains(['?', '#', ' ']) {
            return Err(ConfigError {
                variable: PUBLIC_BASE_URL,
                problem: format!("`{url}` is not an http(s) URL without query or fragment"),
            });
        }
        Ok(url)
    }

    pub fn upstream(&self) -> Result<Upstream, ConfigError> {
        let d = Upstream::default();
        let max_attempts = match (self.0)(UPSTREAM_MAX_ATTEMPTS) {
            None => d.max_attempts,
            Some(v) => v.trim().parse::<u32>().ok().filter(|n| (1..=10).contains(n)).ok_or_else(|| ConfigError {
                variable: UPSTREAM_MAX_ATTEMPTS,
                problem: format!("`{v}` is not a number from 1 to 10"),
            })?,
        };
        Ok(Upstream {
            connect: self.millis(UPSTREAM_CONNECT_TIMEOUT_MS, d.connect)?,
            attempt: self.millis(UPSTREAM_ATTEMPT_TIMEOUT_MS, d.attempt)?,
            operation: self.millis(UPSTREAM_OPERATION_TIMEOUT_MS, d.operation)?,
            max_attempts,
            ca_bundle: self.ca_bundle()?,
        })
    }

    /// A domain name: labels of letters, digits and hyphens, at least two of them.
    fn inbound_domain(&self) -> Result<Option<String>, ConfigError> {
        let Some(v) = (self.0)(INBOUND_DOMAIN) else { return Ok(None) };
        let domain = v.trim().trim_end_matches('.').to_ascii_lowercase();
        let label_ok = |l: &str| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if domain.len() > 253 || domain.split('.').count() < 2 || !domain.split('.').all(label_ok) {
            return Err(ConfigError { variable: INBOUND_DOMAIN, problem: format!("`{v}` is not a domain name") });
        }
        Ok(Some(domain))
    }

    /// The bucket of received messages: required when replies are received, so that none is lost.
    fn inbound_store(&self) -> Result<Option<InboundStore>, ConfigError> {
        let bucket = (self.0)(INBOUND_BUCKET);
        if bucket.is_none() && (self.0)(INBOUND_DOMAIN).is_some() {
            return Err(ConfigError {
                variable: INBOUND_BUCKET,
                problem: format!("is not set, and {INBOUND_DOMAIN} is: the replies received could not be read"),
            });
        }
        Ok(bucket.map(|bucket| InboundStore {
            bucket: bucket.trim().to_owned(),
            prefix: (self.0)(INBOUND_PREFIX).unwrap_or_else(|| "inbound/".to_owned()),
            path_style: (self.0)(AWS_ENDPOINT_URL_S3).is_some(),
        }))
    }

    fn files(&self) -> Option<FilesStore> {
        let bucket = (self.0)(FILES_BUCKET)?.trim().to_owned();
        let stand_in = (self.0)(AWS_ENDPOINT_URL_S3).map(|e| format!("{}/{bucket}", e.trim().trim_end_matches('/')));
        Some(FilesStore { bucket, stand_in_form_url: stand_in })
    }

    fn file_scanning(&self) -> Result<bool, ConfigError> {
        match (self.0)(FILE_SCANNING).as_deref().map(str::trim) {
            None | Some("off") => Ok(false),
            Some("on") => Ok(true),
            Some(v) => Err(ConfigError { variable: FILE_SCANNING, problem: format!("`{v}` is not `on` or `off`") }),
        }
    }

    fn warm_up_connections(&self) -> Result<Option<usize>, ConfigError> {
        let Some(v) = (self.0)(WARM_UP_CONNECTIONS) else { return Ok(None) };
        let n = v.trim().parse::<usize>().ok().filter(|n| *n <= 16);
        n.map(Some).ok_or_else(|| ConfigError {
            variable: WARM_UP_CONNECTIONS,
            problem: format!("`{v}` is not a number from 0 to 16"),
        })
    }

    /// `AWS_CA_BUNDLE`'s certificates, read and checked as the HTTPS client will take them: a bundle it could
    /// not use stops the start, naming the variable, rather than the first call.
    fn ca_bundle(&self) -> Result<Option<Arc<[u8]>>, ConfigError> {
        use rustls_pki_types::pem::PemObject;
        let Some(path) = (self.0)(AWS_CA_BUNDLE) else { return Ok(None) };
        let problem = |problem: String| ConfigError { variable: AWS_CA_BUNDLE, problem };
        let pem = std::fs::read(&path).map_err(|e| problem(format!("`{path}` cannot be read: {e}")))?;
        let certificates = rustls_pki_types::CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| problem(format!("`{path}` is not PEM: {e}")))?;
        if certificates.is_empty() {
            return Err(problem(format!("`{path}` holds no certificate")));
        }
        let mut roots = rustls::RootCertStore::empty();
        for certificate in certificates {
            roots
                .add(certificate)
                .map_err(|e| problem(format!("`{path}` holds a certificate that cannot be a root: {e}")))?;
        }
        Ok(Some(pem.into()))
    }

    pub fn webhooks_loopback(&self) -> Loopback {
        match (self.0)(WEBHOOKS_ALLOW_LOOPBACK_HTTP).as_deref().map(str::trim) {
            Some("true") => Loopback::AllowedOverHttp,
            _ => Loopback::Refused,
        }
    }

    pub fn config(&self) -> Result<Config, ConfigError> {
        Config {
            tables: self.tables()?,
            sender_email: self.sender_email()?,
            configuration_set: (self.0)(SES_CONFIGURATION_SET),
            public_base_url: self.public_base_url()?,
            pepper: self.pepper()?,
            upstream: self.upstream()?,
            key_cache_ttl: self.key_cache_ttl()?,
            delivery: self.delivery()?,
            send_timeout: self.seconds(MAIL_SEND_TIMEOUT_SECONDS, DEFAULT_SEND_TIMEOUT, 1)?,
            function_timeout: self.seconds(FUNCTION_TIMEOUT_SECONDS, DEFAULT_FUNCTION_TIMEOUT, 1)?,
            warm_up_connections: self.warm_up_connections()?,
            inbound_domain: self.inbound_domain()?,
            inbound_store: self.inbound_store()?,
            webhooks_loopback: self.webhooks_loopback(),
            files: self.files(),
            file_scanning: self.file_scanning()?,
        }
        .checked()
    }

    fn seconds(&self, variable: &'static str, default: Duration, min: u64) -> Result<Duration, ConfigError> {
        match (self.0)(variable) {
            None => Ok(default),
            Some(v) => v.trim().parse::<u64>().ok().filter(|s| *s >= min).map(Duration::from_secs).ok_or_else(|| {
                ConfigError { variable, problem: format!("`{v}` is not a whole number of seconds, at least {min}") }
            }),
        }
    }

    pub fn delivery(&self) -> Result<DeliveryPolicy, ConfigError> {
        let d = DeliveryPolicy::default();
        let max_send_rate = match (self.0)(MAIL_MAX_SEND_RATE) {
            None => None,
            Some(v) => Some(v.trim().parse::<f64>().ok().filter(|r| r.is_finite() && *r > 0.0).ok_or_else(|| {
                ConfigError { variable: MAIL_MAX_SEND_RATE, problem: format!("`{v}` is not a positive number") }
            })?),
        };
        let policy = DeliveryPolicy {
            lease: self.seconds(MAIL_LEASE_SECONDS, d.lease, 1)?,
            sweep_after: self.seconds(MAIL_SWEEP_AFTER_SECONDS, d.sweep_after, 0)?,
            retry_base: self.seconds(MAIL_RETRY_BASE_SECONDS, d.retry_base, 1)?,
            retry_max: self.seconds(MAIL_RETRY_MAX_SECONDS, d.retry_max, 1)?,
            max_send_rate,
            ..d
        };
        if policy.retry_max < policy.retry_base {
            return Err(ConfigError {
                variable: MAIL_RETRY_MAX_SECONDS,
                problem: format!("is shorter than {MAIL_RETRY_BASE_SECONDS}"),
            });
        }
        Ok(policy)
    }

    /// Local server only: where Lambda's Invoke API listens (the stand-in of SES receiving invokes the function there).
    pub const INVOKE_ADDR: &str = "INVOKE_ADDR";
    /// Local server only: how often the sweep runs (10 s by default).
    pub fn sweep_interval(&self) -> Result<Duration, ConfigError> {
        self.seconds(SWEEP_INTERVAL_SECONDS, Duration::from_secs(10), 1)
    }

    pub fn key_cache_ttl(&self) -> Result<Duration, ConfigError> {
        match (self.0)(API_KEY_CACHE_TTL_SECONDS) {
            None => Ok(DEFAULT_KEY_CACHE_TTL),
            Some(v) => v.trim().parse::<u64>().ok().filter(|s| *s <= 3_600).map(Duration::from_secs).ok_or_else(|| {
                ConfigError { variable: API_KEY_CACHE_TTL_SECONDS, problem: format!("`{v}` is not 0 to 3600 seconds") }
            }),
        }
    }

    /// Local server only: the dead-letter file, if one is named.
    pub fn dead_letter_file(&self) -> Option<PathBuf> {
        (self.0)(DEAD_LETTER_FILE).map(Into::into)
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.address(LISTEN_ADDR, "127.0.0.1:3000")
    }

    pub fn invoke_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.address(INVOKE_ADDR, "127.0.0.1:9001")
    }

    fn address(&self, variable: &'static str, default: &str) -> Result<SocketAddr, ConfigError> {
        let raw = (self.0)(variable).unwrap_or_else(|| default.into());
        raw.parse().map_err(|_| ConfigError { variable, problem: format!("`{raw}` is not an address:port") })
    }
}

impl Config {
    /// The delivery rules made whole by the timeouts, and refused where they would let an e-mail go out twice or
    /// never: an attempt's budget (the global pace's token, the claim, the reads and the record at the
    /// operation timeout, the send at SES's) must leave an invocation time to start one, and a claim's lease
    /// must outlast any invocation, so that a deliverer still at work never loses its e-mail to another.
    fn checked(mut self) -> Result<Self, ConfigError> {
        self.delivery.send_budget = self.upstream.operation * 4 + self.send_timeout;
        if self.delivery.lease <= self.function_timeout {
            return Err(ConfigError {
                variable: MAIL_LEASE_SECONDS,
                problem: format!(
                    "{} s is not longer than the function's timeout ({} s, {FUNCTION_TIMEOUT_SECONDS}): a deliverer \
                     still at work could lose its e-mail to another, and the e-mail go out twice",
                    self.delivery.lease.as_secs(),
                    self.function_timeout.as_secs()
                ),
            });
        }
        if self.delivery.send_budget + MIN_DELIVERY_WINDOW > self.function_timeout {
            return Err(ConfigError {
                variable: FUNCTION_TIMEOUT_SECONDS,
                problem: format!(
                    "{} s leaves no time to deliver: one attempt may take {} s ({MAIL_SEND_TIMEOUT_SECONDS} and four \
                     DynamoDB calls at {UPSTREAM_OPERATION_TIMEOUT_MS}), and an invocation needs {} s more",
                    self.function_timeout.as_secs(),
                    self.delivery.send_budget.as_secs(),
                    MIN_DELIVERY_WINDOW.as_secs()
                ),
            });
        }
        Ok(self)
    }

    /// The function's configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Env::process().config()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Env(move |k: &str| map.get(k).cloned())
    }

    const BASE: &[(&str, &str)] = &[
        (API_KEYS_TABLE, "keys"),
        (COLLECTIONS_TABLE, "collections"),
        (TICKETS_TABLE, "tickets"),
        (LIMITS_TABLE, "limits"),
        (IDEMPOTENCY_TABLE, "idempotency"),
        (SUPPRESSIONS_TABLE, "suppressions"),
        (SENDER_EMAIL, "support@example.com"),
        (PUBLIC_BASE_URL, "https://support.example.com/"),
        (API_KEY_PEPPER_SECRET_ID, "arn:aws:secretsmanager:eu-west-1:1:secret:pepper"),
    ];

    #[test]
    fn a_complete_environment_gives_a_config_with_defaults() {
        let config = env(BASE).config().unwrap();
        assert_eq!(config.public_base_url, "https://support.example.com");
        assert_eq!(config.upstream, Upstream::default());
        assert!(matches!(config.pepper, PepperSource::SecretsManager(_)));
    }

    #[test]
    fn each_missing_required_variable_is_named() {
        for missing in REQUIRED_VARIABLES {
            let pairs: Vec<_> = BASE.iter().copied().filter(|(k, _)| k != missing).collect();
            let err = env(&pairs).config().unwrap_err();
            assert_eq!(err.variable, *missing, "{err}");
        }
    }

    #[test]
    fn bad_values_are_refused_with_the_variable_named() {
        for (variable, value) in [
            (PUBLIC_BASE_URL, "support.example.com"),
            (SENDER_EMAIL, "not an address"),
            (UPSTREAM_OPERATION_TIMEOUT_MS, "0"),
            (UPSTREAM_MAX_ATTEMPTS, "99"),
            (MAIL_MAX_SEND_RATE, "0"),
            (MAIL_LEASE_SECONDS, "0"),
            (MAIL_RETRY_MAX_SECONDS, "5"),
        ] {
            let mut pairs: Vec<_> = BASE.iter().copied().filter(|(k, _)| *k != variable).collect();
            pairs.push((variable, value));
            let err = env(&pairs).config().unwrap_err();
            assert_eq!(err.variable, variable, "{value} for {variable}: {err}");
        }
    }

    #[test]
    fn a_ca_bundle_is_read_and_checked_at_start_up_and_one_it_cannot_use_is_refused_by_name() {
        let manifest = env!("CARGO_MANIFEST_DIR");
        let roots = format!("{manifest}/src/compose/amazon-roots.pem");
        let mut pairs = BASE.to_vec();
        pairs.push((AWS_CA_BUNDLE, &roots));
        let bundle = env(&pairs).config().unwrap().upstream.ca_bundle.expect("the bundle is read");
        assert_eq!(&*bundle, std::fs::read(&roots).unwrap().as_slice());

        let not_pem = format!("{manifest}/Cargo.toml");
        let missing = format!("{manifest}/no-such-bundle.pem");
        let truncated = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let dir = std::env::temp_dir().join(format!("ca-bundle-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let broken = dir.join("broken.pem");
        std::fs::write(&broken, truncated).unwrap();
        let broken = broken.display().to_string();
        for (path, problem) in
            [(&missing, "cannot be read"), (&not_pem, "holds no certificate"), (&broken, "cannot be a root")]
        {
            let mut pairs = BASE.to_vec();
            pairs.push((AWS_CA_BUNDLE, path));
            let err = env(&pairs).config().unwrap_err();
            assert_eq!(err.variable, AWS_CA_BUNDLE);
            assert!(err.to_string().contains(problem), "{path}: {err}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
