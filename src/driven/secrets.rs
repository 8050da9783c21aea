//! The API key pepper: from Secrets Manager in production, from the environment for local use.

use aws_sdk_secretsmanager::Client;
use secrecy::SecretString;

use crate::domain::Pepper;
use crate::ports::{SecretSource, Unavailable};

const GET_SECRET: &str = "Secrets Manager GetSecretValue (pepper)";

/// Where the pepper is read from. The service caches the first successful read for the process's life.
#[derive(Clone, Debug)]
pub enum PepperProvider {
    SecretsManager { client: Client, secret_id: String },
    Inline(Pepper),
}

impl SecretSource for PepperProvider {
    async fn pepper(&self) -> Result<Pepper, Unavailable> {
        match self {
            PepperProvider::Inline(pepper) => Ok(pepper.clone()),
            PepperProvider::SecretsManager { client, secret_id } => {
                let out = client
                    .get_secret_value()
                    .secret_id(secret_id)
                    .send()
                    .await
                    .map_err(|e| Unavailable::new(GET_SECRET, anyhow::anyhow!("{}", super::describe(&e))))?;
                let secret = out
                    .secret_string
                    .ok_or_else(|| Unavailable::new(GET_SECRET, anyhow::anyhow!("the secret has no string value")))?;
                Pepper::new(SecretString::from(secret)).map_err(|e| Unavailable::new(GET_SECRET, anyhow::anyhow!(e)))
            }
        }
    }
}
