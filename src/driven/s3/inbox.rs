//! The inbox on S3: SES receiving's S3 action stores each raw message as `{prefix}{SES message id}` in the
//! stack's bucket, before its Lambda action hands the receipt to the function.

use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_smithy_runtime_api::client::result::SdkError;

use super::S3;
use crate::driven::describe;
use crate::ports::{Inbox, Unavailable};

const GET_MESSAGE: &str = "S3 GetObject (received message)";

/// The bucket and key prefix SES receiving writes to.
#[derive(Clone)]
pub struct S3Inbox {
    s3: S3,
    bucket: String,
    prefix: String,
}

impl S3Inbox {
    pub fn new(s3: S3, bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        Self { s3, bucket: bucket.into(), prefix: prefix.into() }
    }

    pub fn client(&self) -> &aws_sdk_s3::Client {
        self.s3.client()
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Where SES stores the message `message_id`.
    pub fn key(&self, message_id: &str) -> String {
        format!("{}{message_id}", self.prefix)
    }
}

impl std::fmt::Debug for S3Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Inbox").field("bucket", &self.bucket).field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl Inbox for S3Inbox {
    async fn message(&self, message_id: &str, limit: usize) -> Result<Option<Vec<u8>>, Unavailable> {
        // SES's message ids are letters, digits and hyphens: anything else names no object of SES's.
        if message_id.is_empty() || !message_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Ok(None);
        }
        let result = self
            .client()
            .get_object()
            .bucket(&self.bucket)
            .key(self.key(message_id))
            // One byte past the limit: a longer message shows as too long without being read whole.
            .range(format!("bytes=0-{limit}"))
            .send()
            .await;
        let object = match result {
            Ok(object) => object,
            Err(SdkError::ServiceError(e)) if matches!(e.err(), GetObjectError::NoSuchKey(_)) => return Ok(None),
            // An empty object has no byte 0.
            Err(SdkError::ServiceError(e)) if e.raw().status().as_u16() == 416 => return Ok(Some(Vec::new())),
            Err(e) => return Err(Unavailable::new(GET_MESSAGE, anyhow::anyhow!(describe(&e)))),
        };
        let bytes = object.body.collect().await.map_err(|e| Unavailable::new(GET_MESSAGE, e))?;
        Ok(Some(bytes.to_vec()))
    }
}
