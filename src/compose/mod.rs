//! The composition root: the one place that builds the AWS clients (one HTTPS stack, bounded timeouts and
//! retries), bundles the driven adapters into `Ports`, and builds the service on them: as deployed (`service`),
//! on a given SDK configuration with its calls recorded (`service_on`, for the tests), and as the operator's
//! tool uses it (`operator`: where its commands act, and the service on those tables).

mod operator;

pub use operator::{Operator, OperatorPorts};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

use crate::config::{Config, PepperSource, Upstream};
use crate::domain::Pepper;
use crate::driven::background::{self, Background};
use crate::driven::s3::{S3, S3Files, S3Inbox};
use crate::driven::{CallLog, DynamoStore, HttpWebhooks, PepperProvider, SesMailer, SystemClock};
use crate::ports::{Adapters, Ports};
use crate::service::TicketService;

/// Every port on AWS, on the system's clock.
pub type AwsPorts = Adapters<DynamoStore, SesMailer, PepperProvider, SystemClock, S3Inbox, HttpWebhooks, S3Files>;

/// The service as deployed.
pub type AwsService = TicketService<AwsPorts>;

/// The roots AWS service endpoints chain to: Amazon Root CA 1 to 4 and the Starfield Services root that
/// cross-signs them (Amazon Trust Services). Bundled, so that start-up parses five certificates instead of
/// reading the system's whole store (that read was most of the cold start), and so that the function trusts
/// no one else.
const AMAZON_ROOTS: &str = include_str!("amazon-roots.pem");

/// The one HTTPS client every AWS client shares: hyper 1, rustls on ring (smaller than aws-lc-rs), pooled
/// connections, the Amazon roots only, and the certificates of `AWS_CA_BUNDLE` if one is set (checked by
/// `config`). Plain-HTTP endpoints (the local stand-ins) need no roots.
pub fn https_client(ca_bundle: Option<&[u8]>) -> SharedHttpClient {
    use aws_smithy_http_client::tls;
    let mut roots = tls::TrustStore::empty().with_native_roots(false).with_pem_certificate(AMAZON_ROOTS.as_bytes());
    if let Some(bundle) = ca_bundle {
        roots = roots.with_pem_certificate(bundle);
    }
    let context = tls::TlsContext::builder().with_trust_store(roots).build().expect("the bundled roots are PEM");
    let client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .tls_context(context)
        .build_https();
    SharedHttpClient::new(ConnectorOnFirstRequest(client))
}

/// The HTTPS client, less the connector every SDK client's construction made and dropped: the hyper client's
/// `validate_base_client_config` builds one so that a system trust store is read early, and with the bundled
/// roots that was their PEM decoded once more per client built (0.24 M instructions each, BENCHMARKS.md). The
/// connector that requests go through is built at the first request, as before, and shared by every client with
/// the same timeouts.
#[derive(Debug)]
struct ConnectorOnFirstRequest(SharedHttpClient);

impl HttpClient for ConnectorOnFirstRequest {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// Shared SDK configuration with explicit timeouts and a bounded retry policy, so that a dependency that
/// hangs turns into a 503 within seconds instead of a Lambda timeout. Region, credentials and endpoint
/// overrides (`AWS_ENDPOINT_URL_DYNAMODB`, …) come from the standard AWS environment.
pub async fn sdk_config(upstream: Upstream) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    // On Lambda the credentials and the region are in the standard variables. Naming their providers skips
    // building the default chains (web identity with its STS client, the EC2 metadata client): a third of the
    // cold start. Without the variables (an operator's shell), the default chains apply.
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
        loader = loader.credentials_provider(aws_config::environment::EnvironmentVariableCredentialsProvider::new());
    }
    if let Some(region) = std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()) {
        loader = loader.region(aws_config::Region::new(region));
    }
    loader
        .http_client(https_client(upstream.ca_bundle.as_deref()))
        .timeout_config(timeouts(&upstream))
        .retry_config(RetryConfig::standard().with_max_attempts(upstream.max_attempts))
        .load()
        .await
}

/// `sdk_config` as the Lambda function needs it, built without `aws_config`'s loader: credentials and region
/// from the variables Lambda sets (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
/// `AWS_REGION`), endpoint overrides from `AWS_ENDPOINT_URL_<SERVICE>` and `AWS_ENDPOINT_URL`, and the same
/// timeouts and retries. The loader would link in every default chain (profiles, SSO, web identity with its
/// STS client, the instance metadata client) whatever is set, and Lambda uses none of them: BENCHMARKS.md,
/// "What each lever changed".
pub fn lambda_sdk_config(upstream: &Upstream) -> anyhow::Result<SdkConfig> {
    use anyhow::Context;
    use aws_credential_types::provider::SharedCredentialsProvider;
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let region = var("AWS_REGION").context("AWS_REGION is not set (Lambda sets it)")?;
    anyhow::ensure!(var("AWS_ACCESS_KEY_ID").is_some(), "AWS_ACCESS_KEY_ID is not set (Lambda sets it)");
    let credentials = aws_config::environment::EnvironmentVariableCredentialsProvider::new();
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_config::Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .identity_cache(aws_config::identity::IdentityCache::lazy().build())
        .http_client(https_client(upstream.ca_bundle.as_deref()))
        .timeout_config(timeouts(upstream))
        .retry_config(RetryConfig::standard().with_max_attempts(upstream.max_attempts))
        .time_source(aws_smithy_async::time::SystemTimeSource::new())
        .service_config(EndpointsFromEnvironment);
    config.set_sleep_impl(aws_smithy_async::rt::sleep::default_async_sleep());
    Ok(config.build())
}

/// A client's endpoint override, as `aws_config` reads it from the environment: `AWS_ENDPOINT_URL_<SERVICE>`
/// (the service's id in capitals, spaces as `_`: `AWS_ENDPOINT_URL_DYNAMODB`, `…_SECRETS_MANAGER`), else
/// `AWS_ENDPOINT_URL`.
#[derive(Debug)]
struct EndpointsFromEnvironment;

impl aws_types::service_config::LoadServiceConfig for EndpointsFromEnvironment {
    fn load_config(&self, key: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        let service = format!("{}_{}", key.env(), key.service_id().to_uppercase().replace(' ', "_"));
        [service.as_str(), key.env()].into_iter().find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }
}

fn timeouts(upstream: &Upstream) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(upstream.connect)
        .operation_attempt_timeout(upstream.attempt)
        .operation_timeout(upstream.operation)
        .build()
}

/// Builds the service on AWS from the configuration, as the Lambda function runs. Called once per process.
pub async fn service(config: &Config) -> anyhow::Result<AwsService> {
    service_on(&lambda_sdk_config(&config.upstream)?, config, None)
}

/// The service on a given SDK configuration; with a `CallLog`, every AWS call it makes is recorded.
pub fn service_on(sdk: &SdkConfig, config: &Config, calls: Option<&CallLog>) -> anyhow::Result<AwsService> {
    Ok(configured(ports(sdk, config, calls)?, config))
}

/// The service on these ports, with the configuration's links, key cache and delivery rules (the local server
/// wraps the mailer of `ports` in its stand-in of SES's events first).
pub fn configured<P: Ports>(ports: P, config: &Config) -> TicketService<P> {
    let service = TicketService::new(ports, config.public_base_url.clone())
        .with_key_cache_ttl(config.key_cache_ttl)
        .with_delivery(config.delivery)
        .with_inbound_domain(config.inbound_domain.clone())
        .with_webhooks_loopback(config.webhooks_loopback)
        .with_file_scanning(config.file_scanning);
    match config.warm_up_connections {
        Some(connections) => service.with_warm_up_connections(connections),
        None => service,
    }
}

/// Every port's AWS adapter, on one SDK configuration; with a `CallLog`, every AWS call is recorded.
pub fn ports(sdk: &SdkConfig, config: &Config, calls: Option<&CallLog>) -> anyhow::Result<AwsPorts> {
    let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(sdk);
    // One attempt per send: the outbox retries what fails, paced and backing off, so that an e-mail SES
    // throttles is not sent again at once, faster than the account's rate. Its own timeout, longer than a
    // DynamoDB call's: past it SES may have taken the e-mail, and a retry may send it twice.
    let mut sesv2 = aws_sdk_sesv2::config::Builder::from(sdk)
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(config.upstream.connect)
                .operation_attempt_timeout(config.send_timeout)
                .operation_timeout(config.send_timeout)
                .build(),
        );
    if let Some(log) = calls {
        dynamodb = dynamodb.interceptor(log.clone());
        sesv2 = sesv2.interceptor(log.clone());
    }
    // Both clients are built on one blocking thread while init goes on, the store's first (the warm-up's reads
    // and the first event need it first): BENCHMARKS.md, "What each lever changed".
    let (dynamodb, sesv2) = (dynamodb.build(), sesv2.build());
    let dynamodb = Background::lazy(move || aws_sdk_dynamodb::Client::from_conf(dynamodb));
    let sesv2 = Background::lazy(move || aws_sdk_sesv2::Client::from_conf(sesv2));
    background::start(vec![dynamodb.task(), sesv2.task()]);
    let store = DynamoStore::new(dynamodb, config.tables.clone());
    let mailer =
        SesMailer::new(sesv2, config.sender_email.clone()).with_configuration_set(config.configuration_set.clone());
    let secrets = pepper_provider(sdk, &config.pepper, calls)?;
    // Without a bucket no reply is received (the receipts' door refuses every one), and the inbox is never read.
    // One client for both buckets: path-style when either is a stand-in's.
    let path_style = config.inbound_store.as_ref().is_some_and(|i| i.path_style)
        || config.files.as_ref().is_some_and(|f| f.path_style());
    let s3 = S3::new(sdk, calls, path_style);
    let inbox = match &config.inbound_store {
        Some(at) => S3Inbox::new(s3.clone(), &at.bucket, &at.prefix),
        None => S3Inbox::new(s3.clone(), "", ""),
    };
    // Without a bucket of files, every call of `files` fails, naming the bucket that is not there: a 503.
    let files = match &config.files {
        Some(at) => {
            let region = sdk.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".to_owned());
            let on_aws = || format!("https://{}.s3.{region}.amazonaws.com", at.bucket);
            S3Files::new(s3, &at.bucket, at.stand_in_form_url.clone().unwrap_or_else(on_aws))
        }
        None => S3Files::new(s3, "", ""),
    };
    let webhooks = HttpWebhooks::new(config.webhooks_loopback);
    Ok(Adapters { store, mailer, secrets, clock: SystemClock, inbox, webhooks, files })
}

/// The pepper's source for a configuration.
pub fn pepper_provider(
    sdk: &SdkConfig,
    source: &PepperSource,
    calls: Option<&CallLog>,
) -> anyhow::Result<PepperProvider> {
    Ok(match source {
        PepperSource::SecretsManager(secret_id) => {
            let mut config = aws_sdk_secretsmanager::config::Builder::from(sdk);
            if let Some(log) = calls {
                config = config.interceptor(log.clone());
            }
            PepperProvider::SecretsManager {
                client: aws_sdk_secretsmanager::Client::from_conf(config.build()),
                secret_id: secret_id.clone(),
            }
        }
        PepperSource::Inline(secret) => {
            PepperProvider::Inline(Pepper::new(secret.clone()).map_err(anyhow::Error::msg)?)
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bundled_roots_are_the_five_amazon_trust_services_roots() {
        assert_eq!(super::AMAZON_ROOTS.matches("-----BEGIN CERTIFICATE-----").count(), 5);
        let _ = super::https_client(None);
    }
}
