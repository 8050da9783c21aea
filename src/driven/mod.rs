//! The driven adapters: what the service calls, behind the ports. DynamoDB (`dynamodb`, every store port), SES v2
//! (`ses`, the mailer), Secrets Manager (`secrets`, the pepper), the system clock (`clock`), S3 (`s3`, the inbox
//! of received replies), and `memory`, the in-memory fakes of every port. SDK types never leave this module; `compose` builds the clients.

pub mod background;
pub mod calls;
pub mod clock;
pub mod dynamodb;
pub mod memory;
pub mod s3;
pub mod secrets;
pub mod ses;
pub mod webhooks;

pub use background::Background;
pub use calls::{Call, CallLog};
pub use clock::SystemClock;
pub use dynamodb::DynamoStore;
pub use s3::{S3Files, S3Inbox};
pub use secrets::PepperProvider;
pub use ses::SesMailer;
pub use webhooks::HttpWebhooks;

/// A one-line account of an SDK error: the service's code and message, a timeout, or why the service could not
/// be reached. (The SDK's own `Display` of a service error dumps the whole raw response.)
pub fn describe<E, R>(error: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    use aws_smithy_types::error::display::DisplayErrorContext;
    match error {
        SdkError::ServiceError(e) => {
            let e = e.err();
            format!("{}: {}", e.code().unwrap_or("service error"), e.message().unwrap_or("no message"))
        }
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        SdkError::DispatchFailure(e) => match e.as_connector_error() {
            Some(connector) => format!("could not reach the service: {}", DisplayErrorContext(connector)),
            None => "could not reach the service".to_owned(),
        },
        other => DisplayErrorContext(other).to_string(),
    }
}
