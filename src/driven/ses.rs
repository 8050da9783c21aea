//! SES v2: the `Mailer` port. One `SendEmail` per recipient, so that each e-mail's outcome is its own, and
//! SES's answers sorted: the two refusals that are about this message or its address are final (recorded as
//! failed for good); everything else passes (throttling, quotas, outages, a paused account, an IAM change
//! still propagating, an expired token, an error this SDK does not know) and is retried; a call whose answer
//! never came may have been accepted, and is reported as such.

use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::error::SdkError;
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{
    Attachment, AttachmentContentDisposition, Body, Content, Destination, EmailContent, Message, MessageHeader,
    MessageTag,
};

use super::Background;
use crate::domain::OutgoingEmail;
use crate::ports::{Failure, Mailer, SendError, Unavailable};

const GET_ACCOUNT: &str = "SES GetAccount (maximum send rate)";

#[derive(Clone, Debug)]
pub struct SesMailer {
    client: Background<Client>,
    sender_email: String,
    configuration_set: Option<String>,
}

impl SesMailer {
    /// `sender_email` is the verified SES identity every e-mail is sent from. On a client, or on one being built
    /// (`Background`): the first e-mail of a process goes out only after two DynamoDB round trips.
    pub fn new(client: impl Into<Background<Client>>, sender_email: String) -> Self {
        Self { client: client.into(), sender_email, configuration_set: None }
    }

    /// Every e-mail sent with this SES configuration set (whose events come back to the function).
    pub fn with_configuration_set(mut self, name: Option<String>) -> Self {
        self.configuration_set = name;
        self
    }

    fn client(&self) -> &Client {
        &self.client
    }
}

fn utf8(data: &str) -> Result<Content, SendError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| SendError::Permanent(Failure::new("InvalidContent", e.to_string())))
}

/// What SES's answer to one e-mail means. Only two refusals are final, each about this message as it is:
/// `MessageRejected` (its content or address) and `BadRequestException` (a parameter SES will never take, such
/// as an address it cannot parse). Every other refusal is the deployment's or SES's to get over (throttling,
/// quotas, a paused or suspended account, an unverified MAIL FROM domain, a missing configuration set, and
/// errors this SDK does not model, whatever their HTTP status: `AccessDenied` while an IAM change propagates, an
/// expired token, `Throttling` in AWS's common shape), and the e-mail goes out once they are. A timeout or a
/// connection cut after the request was sent leaves the outcome unknown: SES may have accepted it.
fn classify(error: SdkError<SendEmailError, aws_smithy_runtime_api::http::Response>) -> SendError {
    use aws_smithy_types::error::metadata::ProvideErrorMetadata as _;
    let code = match &error {
        SdkError::ServiceError(e) => e.err().code().unwrap_or("ServiceError").to_owned(),
        SdkError::TimeoutError(_) => "Timeout".to_owned(),
        SdkError::DispatchFailure(_) => "Unreachable".to_owned(),
        _ => "BadResponse".to_owned(),
    };
    let why = Failure::new(format!("SES SendEmail {code}"), super::describe(&error));
    match &error {
        SdkError::ServiceError(e) => match e.err() {
            SendEmailError::MessageRejected(_) | SendEmailError::BadRequestException(_) => SendError::Permanent(why),
            _ => SendError::Transient(why),
        },
        // Sent, and no answer in time, or an answer that does not read: SES may have taken it.
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => SendError::Unknown(why),
        // No answer at all, most often no connection (refused, unresolved, a failed handshake): retried.
        _ => SendError::Transient(why),
    }
}

impl Mailer for SesMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<String, SendError> {
        let headers = email
            .headers
            .iter()
            .map(|(name, value)| MessageHeader::builder().name(*name).value(value).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SendError::Permanent(Failure::new("InvalidHeader", e.to_string())))?;
        let attachments = email
            .attachments
            .iter()
            .map(|file| {
                Attachment::builder()
                    .file_name(&file.file_name)
                    .content_type(&file.content_type)
                    .content_disposition(AttachmentContentDisposition::Attachment)
                    .raw_content(Blob::new(file.bytes.clone()))
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SendError::Permanent(Failure::new("InvalidAttachment", e.to_string())))?;
        let message = Message::builder()
            .subject(utf8(&email.content.subject)?)
            .body(Body::builder().text(utf8(&email.content.text)?).html(utf8(&email.content.html)?).build())
            .set_headers(Some(headers))
            .set_attachments((!attachments.is_empty()).then_some(attachments))
            .build();
        let out = self
            .client()
            .send_email()
            .from_email_address(from_header(&email.sender_name, &self.sender_email))
            .destination(Destination::builder().to_addresses(email.to.as_str()).build())
            .set_reply_to_addresses(email.reply_to.as_ref().map(|r| vec![r.as_str().to_owned()]))
            .content(EmailContent::builder().simple(message).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .email_tags(
                MessageTag::builder()
                    .name("mail")
                    .value(&email.tag)
                    .build()
                    .map_err(|e| SendError::Permanent(Failure::new("InvalidTag", e.to_string())))?,
            )
            .send()
            .await
            .map_err(classify)?;
        Ok(out.message_id.unwrap_or_default())
    }

    async fn max_send_rate(&self) -> Result<f64, Unavailable> {
        let account = self
            .client()
            .get_account()
            .send()
            .await
            .map_err(|e| Unavailable::new(GET_ACCOUNT, anyhow::anyhow!("{}", super::describe(&e))))?;
        account
            .send_quota()
            .map(|q| q.max_send_rate())
            .ok_or_else(|| Unavailable::new(GET_ACCOUNT, anyhow::anyhow!("the account has no send quota")))
    }
}

/// `"Display Name" <sender@example.com>`. SES wants non-ASCII display names as an RFC 2047 encoded word.
pub fn from_header(display_name: &str, address: &str) -> String {
    if display_name.is_ascii() {
        let quoted = display_name.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{quoted}\" <{address}>")
    } else {
        format!("=?UTF-8?B?{}?= <{address}>", aws_smithy_types::base64::encode(display_name))
    }
}

#[cfg(test)]
mod tests {
    use super::from_header;

    #[test]
    fn display_names_are_quoted_or_encoded() {
        assert_eq!(from_header("Acme \"Support\"", "s@example.com"), "\"Acme \\\"Support\\\"\" <s@example.com>");
        assert_eq!(from_header("Café", "s@example.com"), "=?UTF-8?B?Q2Fmw6k=?= <s@example.com>");
    }
}
