//! The files of tickets on S3. A client posts an upload straight to the bucket through a presigned form
//! (`post_policy`); the function reads its first bytes and real size (one ranged GET), copies it under its ticket
//! served as what it was found to be (CopyObject, no byte through the function), and hands it out as a presigned
//! GET whose response overrides set the type and disposition. Scanning is GuardDuty Malware Protection for S3's:
//! it tags each new object under `files/` with `GuardDutyMalwareScanStatus`, which a download reads first.

use std::time::SystemTime;

use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::operation::head_object::HeadObjectError;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::MetadataDirective;
use aws_smithy_runtime_api::client::result::SdkError;

use super::S3;
use super::post_policy;
use crate::domain::attachment::{self, DOWNLOAD_VALID_FOR, FileMeta, SNIFF_BYTES};
use crate::driven::describe;
use crate::ports::{Download, Files, Scan, Stored, Unavailable, UploadForm, UploadSlot};

const SIGN_FORM: &str = "S3 presigned POST (upload form)";
const INSPECT: &str = "S3 GetObject (an upload's first bytes)";
const KEEP: &str = "S3 CopyObject (an upload kept under its ticket)";
const PUT: &str = "S3 PutObject (a file)";
const READ: &str = "S3 GetObject (a file)";
const DELETE: &str = "S3 DeleteObject";
const HEAD: &str = "S3 HeadObject (a file to download)";
const TAGS: &str = "S3 GetObjectTagging (a file's scan)";
const PRESIGN: &str = "S3 presigned GET (a download)";

/// The tag GuardDuty Malware Protection for S3 writes on each object it scans, and its verdicts.
pub const SCAN_TAG: &str = "GuardDutyMalwareScanStatus";
pub const NO_THREATS_FOUND: &str = "NO_THREATS_FOUND";
pub const THREATS_FOUND: &str = "THREATS_FOUND";

/// The metadata key of a file's name (`x-amz-meta-name`).
const NAME: &str = "name";

/// The bucket of files, and the URL a form posts to (the bucket's own host on AWS, the stand-in's path locally).
#[derive(Clone)]
pub struct S3Files {
    s3: S3,
    bucket: String,
    form_url: String,
}

impl S3Files {
    pub fn new(s3: S3, bucket: impl Into<String>, form_url: impl Into<String>) -> Self {
        Self { s3, bucket: bucket.into(), form_url: form_url.into() }
    }

    fn client(&self) -> &aws_sdk_s3::Client {
        self.s3.client()
    }
}

impl std::fmt::Debug for S3Files {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Files").field("bucket", &self.bucket).finish_non_exhaustive()
    }
}

/// A name as metadata carries it: percent-encoded UTF-8 (metadata is ASCII), and back.
fn encode_name(name: &str) -> String {
    form_urlencoded::byte_serialize(name.as_bytes()).collect()
}

fn decode_name(encoded: &str) -> String {
    form_urlencoded::parse(format!("n={encoded}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

/// The object's total size from a ranged GET's `Content-Range` (`bytes 0-4095/123456`).
fn total_size(content_range: Option<&str>, read: usize) -> u64 {
    content_range.and_then(|r| r.rsplit('/').next()).and_then(|n| n.parse().ok()).unwrap_or(read as u64)
}

fn unavailable<E, R>(operation: &'static str) -> impl Fn(SdkError<E, R>) -> Unavailable
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    move |e| Unavailable::new(operation, anyhow::anyhow!(describe(&e)))
}

impl Files for S3Files {
    async fn upload_form(&self, slot: &UploadSlot<'_>) -> Result<UploadForm, Unavailable> {
        let provider = self
            .s3
            .credentials
            .as_ref()
            .ok_or_else(|| Unavailable::new(SIGN_FORM, anyhow::anyhow!("no credentials to sign with")))?;
        let credentials = provider.provide_credentials().await.map_err(|e| Unavailable::new(SIGN_FORM, e))?;
        let name = encode_name(slot.file_name);
        let fields = post_policy::fields(slot, &self.bucket, &name, &credentials, &self.s3.region, SystemTime::now());
        Ok(UploadForm { url: self.form_url.clone(), fields })
    }

    async fn inspect(&self, key: &str) -> Result<Option<Stored>, Unavailable> {
        let result = self
            .client()
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes=0-{}", SNIFF_BYTES - 1))
            .send()
            .await;
        let object = match result {
            Ok(object) => object,
            Err(SdkError::ServiceError(e)) if matches!(e.err(), GetObjectError::NoSuchKey(_)) => return Ok(None),
            // An empty object has no byte 0.
            Err(SdkError::ServiceError(e)) if e.raw().status().as_u16() == 416 => {
                return Ok(Some(Stored { size: 0, file_name: None, head: Vec::new() }));
            }
            Err(e) => return Err(unavailable(INSPECT)(e)),
        };
        let file_name = object.metadata().and_then(|m| m.get(NAME)).map(|n| decode_name(n));
        let range = object.content_range().map(str::to_owned);
        let head = object.body.collect().await.map_err(|e| Unavailable::new(INSPECT, e))?.to_vec();
        Ok(Some(Stored { size: total_size(range.as_deref(), head.len()), file_name, head }))
    }

    async fn keep(&self, from: &str, to: &str, file: &FileMeta) -> Result<bool, Unavailable> {
        let result = self
            .client()
            .copy_object()
            .bucket(&self.bucket)
            .copy_source(format!("{}/{from}", self.bucket))
            .key(to)
            .content_type(&file.content_type)
            .metadata(NAME, encode_name(&file.file_name))
            .metadata_directive(MetadataDirective::Replace)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().meta().code() == Some("NoSuchKey") => Ok(false),
            Err(e) => Err(unavailable(KEEP)(e)),
        }
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, file: &FileMeta) -> Result<(), Unavailable> {
        self.client()
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(&file.content_type)
            .metadata(NAME, encode_name(&file.file_name))
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(unavailable(PUT))?;
        Ok(())
    }

    async fn read(&self, key: &str, limit: u64) -> Result<Option<Vec<u8>>, Unavailable> {
        let result =
            self.client().get_object().bucket(&self.bucket).key(key).range(format!("bytes=0-{limit}")).send().await;
        let object = match result {
            Ok(object) => object,
            Err(SdkError::ServiceError(e)) if matches!(e.err(), GetObjectError::NoSuchKey(_)) => return Ok(None),
            Err(e) => return Err(unavailable(READ)(e)),
        };
        let bytes = object.body.collect().await.map_err(|e| Unavailable::new(READ, e))?.to_vec();
        Ok((bytes.len() as u64 <= limit).then_some(bytes))
    }

    async fn delete(&self, keys: &[String]) -> Result<(), Unavailable> {
        for key in keys {
            self.client().delete_object().bucket(&self.bucket).key(key).send().await.map_err(unavailable(DELETE))?;
        }
        Ok(())
    }

    async fn download(&self, key: &str, scanning: bool) -> Result<Download, Unavailable> {
        let head = match self.client().head_object().bucket(&self.bucket).key(key).send().await {
            Ok(head) => head,
            Err(SdkError::ServiceError(e)) if matches!(e.err(), HeadObjectError::NotFound(_)) => {
                return Ok(Download::Missing);
            }
            Err(e) => return Err(unavailable(HEAD)(e)),
        };
        if scanning {
            let tags = self.client().get_object_tagging().bucket(&self.bucket).key(key).send().await;
            let tags = tags.map_err(unavailable(TAGS))?;
            let verdict = tags.tag_set().iter().find(|t| t.key() == SCAN_TAG).map(|t| t.value().to_owned());
            let scan = match verdict.as_deref() {
                None => Scan::Pending,
                Some(NO_THREATS_FOUND) => Scan::Clean,
                Some(THREATS_FOUND) => Scan::Infected,
                Some(other) => Scan::Unscanned(other.to_owned()),
            };
            if scan != Scan::Clean {
                return Ok(Download::Held(scan));
            }
        }
        let content_type = head.content_type().unwrap_or(attachment::OCTET_STREAM).to_owned();
        let name = head.metadata().and_then(|m| m.get(NAME)).map(|n| decode_name(n)).unwrap_or_else(|| "file".into());
        let presigning = PresigningConfig::expires_in(DOWNLOAD_VALID_FOR).map_err(|e| Unavailable::new(PRESIGN, e))?;
        let request = self
            .client()
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_type(attachment::content_type_header(&content_type))
            .response_content_disposition(attachment::disposition(&content_type, &name))
            .presigned(presigning)
            .await
            .map_err(unavailable(PRESIGN))?;
        Ok(Download::Ready(request.uri().to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_survives_metadata_and_a_ranged_get_tells_the_whole_size() {
        for name in ["shot 1.png", "résumé (final).pdf", "日本語.txt", "a+b=c&d.csv"] {
            assert_eq!(decode_name(&encode_name(name)), name);
            assert!(encode_name(name).is_ascii());
        }
        assert_eq!(total_size(Some("bytes 0-4095/123456"), 4096), 123_456);
        assert_eq!(total_size(None, 17), 17);
    }
}
