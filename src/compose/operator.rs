//! The operator's tool (`ticketctl`) composed: where its commands act (a deployed stack's outputs, or the
//! function's own variables), the SDK with a person's patience, and the service on those tables, which sends no
//! e-mail (the deployed function delivers what the operator's changes owe) and reads the pepper only to print a
//! link or hash a new key.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::SdkConfig;

use super::{pepper_provider, sdk_config};
use crate::config::{Env, PepperSource, Tables, Upstream};
use crate::domain::{OutgoingEmail, Pepper};
use crate::driven::{DynamoStore, HttpWebhooks, PepperProvider, SystemClock, describe};
use crate::ports::{Adapters, Failure, Mailer, NoFiles, NoInbox, SecretSource, SendError, Unavailable};
use crate::service::TicketService;

/// The operator's ports: the tables, nothing that sends, and the pepper when the deployment's is at hand. The
/// operator acts as the team: it writes entries and the e-mails they owe, which the deployed function delivers
/// and links.
pub type OperatorPorts = Adapters<DynamoStore, NoMail, OperatorPepper, SystemClock, NoInbox, HttpWebhooks, NoFiles>;

/// The operator's service on a deployment's tables, and what printing a link needs (the pepper and where links
/// point), when the deployment gave them.
pub struct Operator {
    service: TicketService<OperatorPorts>,
    store: DynamoStore,
    pepper: Result<(), String>,
    public_base_url: Result<(), String>,
}

impl Operator {
    /// Reaches a deployment: the tables and pepper of stack `stack`'s outputs, or of the function's variables.
    /// Endpoints, region and credentials come from the standard AWS environment.
    pub async fn connect(stack: Option<&str>) -> anyhow::Result<Self> {
        let env = Env::process();
        // The function's settings (AWS_CA_BUNDLE behind a TLS-inspecting proxy, say), with the patience of a person
        // at a terminal: scans and table creation take longer than a request's calls.
        let upstream = env.upstream()?;
        let sdk = sdk_config(Upstream { operation: upstream.operation.max(Duration::from_secs(30)), ..upstream }).await;
        let deployment = match stack {
            Some(name) => Deployment::from_stack(&sdk, name).await?,
            None => Deployment::from_env(&env)?,
        };
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), deployment.tables.clone());
        let pepper = match &deployment.pepper {
            Ok(source) => Ok(pepper_provider(&sdk, source, None)?),
            Err(e) => Err(e.clone()),
        };
        let base = deployment.public_base_url.clone().unwrap_or_else(|_| "https://unused.invalid".into());
        let webhooks = HttpWebhooks::new(env.webhooks_loopback());
        let secrets = OperatorPepper(pepper);
        let ports = Adapters {
            store: store.clone(),
            mailer: NoMail,
            secrets,
            clock: SystemClock,
            inbox: NoInbox,
            webhooks,
            files: NoFiles,
        };
        Ok(Self {
            service: TicketService::new(ports, base).with_webhooks_loopback(env.webhooks_loopback()),
            store,
            pepper: deployment.pepper.map(|_| ()),
            public_base_url: deployment.public_base_url.map(|_| ()),
        })
    }

    /// The use cases, as the operator acts through them.
    pub fn service(&self) -> &TicketService<OperatorPorts> {
        &self.service
    }

    /// Creates the tables where they do not exist (for local endpoints; SAM creates them on AWS); those created.
    pub async fn create_tables(&self) -> anyhow::Result<Vec<String>> {
        self.store.create_tables().await
    }

    /// Why a new link cannot be printed (no pepper, or no `PUBLIC_BASE_URL`), if it cannot.
    pub fn missing_for_links(&self) -> Option<String> {
        match (&self.pepper, &self.public_base_url) {
            (Err(e), _) => Some(e.clone()),
            (Ok(()), Err(e)) => Some(format!("{e} (or use --stack)")),
            (Ok(()), Ok(())) => None,
        }
    }
}

/// Where the operator's commands act: the tables, the pepper, and where the deployment's links point.
struct Deployment {
    tables: Tables,
    pepper: Result<PepperSource, String>,
    public_base_url: Result<String, String>,
}

impl Deployment {
    fn from_env(env: &Env<fn(&str) -> Option<String>>) -> anyhow::Result<Self> {
        Ok(Self {
            tables: env.tables()?,
            pepper: env.pepper().map_err(|e| e.to_string()),
            public_base_url: env.public_base_url().map_err(|e| e.to_string()),
        })
    }

    /// From the outputs `template.yaml` declares.
    async fn from_stack(sdk: &SdkConfig, name: &str) -> anyhow::Result<Self> {
        let described = aws_sdk_cloudformation::Client::new(sdk)
            .describe_stacks()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("reading stack {name}: {}", describe(&e)))?;
        let outputs: HashMap<String, String> = described
            .stacks()
            .first()
            .map(|s| {
                s.outputs()
                    .iter()
                    .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let output = |key: &str| {
            outputs
                .get(key)
                .cloned()
                .ok_or_else(|| format!("stack {name} has no output {key}: is it a ticket-api stack?"))
        };
        Ok(Self {
            tables: Tables {
                api_keys: output("ApiKeysTableName").map_err(anyhow::Error::msg)?,
                collections: output("CollectionsTableName").map_err(anyhow::Error::msg)?,
                tickets: output("TicketsTableName").map_err(anyhow::Error::msg)?,
                limits: output("LimitsTableName").map_err(anyhow::Error::msg)?,
                idempotency: output("IdempotencyTableName").map_err(anyhow::Error::msg)?,
                suppressions: output("SuppressionsTableName").map_err(anyhow::Error::msg)?,
            },
            pepper: output("ApiKeyPepperSecretArn").map(PepperSource::SecretsManager),
            public_base_url: output("PublicBaseUrl").or_else(|_| output("ApiUrl")),
        })
    }
}

/// The operator's tool sends no e-mail: the outbox does.
#[derive(Debug, Clone, Copy)]
pub struct NoMail;

impl Mailer for NoMail {
    async fn send(&self, _: &OutgoingEmail) -> Result<String, SendError> {
        Err(SendError::Transient(Failure::new("NotHere", "the operator's tool sends no e-mail")))
    }
    async fn max_send_rate(&self) -> Result<f64, Unavailable> {
        Err(Unavailable::new("max send rate", anyhow::anyhow!("the operator's tool sends no e-mail")))
    }
}

/// The deployment's pepper, when the operator's tool was given it (`--stack`, or the pepper's variables): only
/// printing a link and hashing a new key need it; acting on a ticket does not. Without it, why not.
#[derive(Debug, Clone)]
pub struct OperatorPepper(Result<PepperProvider, String>);

impl SecretSource for OperatorPepper {
    async fn pepper(&self) -> Result<Pepper, Unavailable> {
        match &self.0 {
            Ok(provider) => provider.pepper().await,
            Err(why) => Err(Unavailable::new("pepper", anyhow::anyhow!("{why}"))),
        }
    }
}
