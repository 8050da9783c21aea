//! S3: the inbox of received replies (`inbox`, the raw messages SES receiving stores) and the files of tickets
//! (`files`: uploads posted straight to the bucket by a presigned form, files kept under their ticket, handed
//! out by presigned GETs). Both on one client, built on first use.

mod files;
mod inbox;
mod post_policy;

use std::sync::{Arc, OnceLock};

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_types::SdkConfig;

use super::CallLog;

pub use files::{NO_THREATS_FOUND, S3Files, SCAN_TAG, THREATS_FOUND};
pub use inbox::S3Inbox;

/// The S3 client, and even its configuration, built on the first call: most invocations make none, and
/// building an SDK client is most of what a cold start computes. Cheap to clone: the client is shared. It keeps
/// the SDK's credentials and region to sign upload forms with (a POST policy is signed outside any request).
#[derive(Clone)]
pub struct S3 {
    config: Arc<dyn Fn() -> aws_sdk_s3::config::Builder + Send + Sync>,
    client: Arc<OnceLock<aws_sdk_s3::Client>>,
    credentials: Option<SharedCredentialsProvider>,
    region: String,
}

impl S3 {
    /// The client of `sdk` (every call recorded in `calls`, when given); `path_style` for a stand-in (the bucket
    /// in the path, not the host name).
    pub fn new(sdk: &SdkConfig, calls: Option<&CallLog>, path_style: bool) -> Self {
        let (config, log) = (sdk.clone(), calls.cloned());
        let build = move || {
            let builder = aws_sdk_s3::config::Builder::from(&config).force_path_style(path_style);
            match &log {
                Some(log) => builder.interceptor(log.clone()),
                None => builder,
            }
        };
        Self {
            config: Arc::new(build),
            client: Default::default(),
            credentials: sdk.credentials_provider(),
            region: sdk.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".to_owned()),
        }
    }

    pub fn client(&self) -> &aws_sdk_s3::Client {
        self.client.get_or_init(|| aws_sdk_s3::Client::from_conf((self.config)().build()))
    }
}
