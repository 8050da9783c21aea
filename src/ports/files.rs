//! The files port: the stack's bucket, where clients post uploads straight (a presigned form) and where a
//! ticket's files are kept, scanned and handed out (a presigned GET). Keys and types are the domain's
//! (`domain::attachment`); this port only moves objects and signs.

use std::future::Future;
use std::sync::Arc;

use super::Unavailable;
use crate::domain::attachment::FileMeta;

/// An upload's form, as the contract shows it: post every field, then the file as `file`, to `url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadForm {
    pub url: String,
    pub fields: Vec<(String, String)>,
}

/// What a form may put: one object at `key`, exactly `size` bytes, posted as `content_type` and named
/// `file_name`, until `expires_at` (seconds since the epoch).
#[derive(Debug, Clone, Copy)]
pub struct UploadSlot<'a> {
    pub key: &'a str,
    pub file_name: &'a str,
    pub content_type: &'a str,
    pub size: u64,
    pub expires_at: u64,
}

/// What an object is found to be: its real size, the name it was posted with, and its first bytes (at most
/// `attachment::SNIFF_BYTES`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub size: u64,
    pub file_name: Option<String>,
    pub head: Vec<u8>,
}

/// What a scan found of a file (GuardDuty Malware Protection's tag on AWS, the stand-in's locally).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan {
    /// Not scanned yet.
    Pending,
    Clean,
    Infected,
    /// The scanner could not say (an archive it cannot open, a failure): the file is not served.
    Unscanned(String),
}

/// What a file's download comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Download {
    /// No such file.
    Missing,
    /// Scanning is on and has not cleared it: what it found.
    Held(Scan),
    /// A presigned GET, good for `attachment::DOWNLOAD_VALID_FOR`.
    Ready(String),
}

pub trait Files: Send + Sync + 'static {
    /// A presigned POST whose policy allows exactly `slot`.
    fn upload_form(&self, slot: &UploadSlot<'_>) -> impl Future<Output = Result<UploadForm, Unavailable>> + Send;

    /// What is at `key`, or `None`.
    fn inspect(&self, key: &str) -> impl Future<Output = Result<Option<Stored>, Unavailable>> + Send;

    /// Copies the upload at `from` to `to`, served as `file`'s type and name (the upload's own metadata is not
    /// kept); whether there was one. A new object under `files/`, which the scan takes as new.
    fn keep(&self, from: &str, to: &str, file: &FileMeta) -> impl Future<Output = Result<bool, Unavailable>> + Send;

    /// Writes a file the function holds (an attachment of a reply by e-mail or a page's).
    fn put(&self, key: &str, bytes: Vec<u8>, file: &FileMeta) -> impl Future<Output = Result<(), Unavailable>> + Send;

    /// A file's bytes, at most `limit` (an e-mail's attachment), or `None` when it is missing or larger.
    fn read(&self, key: &str, limit: u64) -> impl Future<Output = Result<Option<Vec<u8>>, Unavailable>> + Send;

    /// Deletes what is at `keys` (missing ones are no error).
    fn delete(&self, keys: &[String]) -> impl Future<Output = Result<(), Unavailable>> + Send;

    /// A short-lived download of `key`, served with the type and disposition of `attachment` for what it is;
    /// with `scanning`, only once its scan cleared it.
    fn download(&self, key: &str, scanning: bool) -> impl Future<Output = Result<Download, Unavailable>> + Send;
}

impl<T: Files> Files for Arc<T> {
    async fn upload_form(&self, slot: &UploadSlot<'_>) -> Result<UploadForm, Unavailable> {
        (**self).upload_form(slot).await
    }
    async fn inspect(&self, key: &str) -> Result<Option<Stored>, Unavailable> {
        (**self).inspect(key).await
    }
    async fn keep(&self, from: &str, to: &str, file: &FileMeta) -> Result<bool, Unavailable> {
        (**self).keep(from, to, file).await
    }
    async fn put(&self, key: &str, bytes: Vec<u8>, file: &FileMeta) -> Result<(), Unavailable> {
        (**self).put(key, bytes, file).await
    }
    async fn read(&self, key: &str, limit: u64) -> Result<Option<Vec<u8>>, Unavailable> {
        (**self).read(key, limit).await
    }
    async fn delete(&self, keys: &[String]) -> Result<(), Unavailable> {
        (**self).delete(keys).await
    }
    async fn download(&self, key: &str, scanning: bool) -> Result<Download, Unavailable> {
        (**self).download(key, scanning).await
    }
}

/// No bucket: a service that keeps no files (the operator's tool, which lists them from the thread only).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFiles;

const NO_BUCKET: &str = "files (no bucket in this process)";

impl Files for NoFiles {
    async fn upload_form(&self, _slot: &UploadSlot<'_>) -> Result<UploadForm, Unavailable> {
        Err(Unavailable::new(NO_BUCKET, anyhow::anyhow!("no bucket")))
    }
    async fn inspect(&self, _key: &str) -> Result<Option<Stored>, Unavailable> {
        Ok(None)
    }
    async fn keep(&self, _from: &str, _to: &str, _file: &FileMeta) -> Result<bool, Unavailable> {
        Ok(false)
    }
    async fn put(&self, _key: &str, _bytes: Vec<u8>, _file: &FileMeta) -> Result<(), Unavailable> {
        Err(Unavailable::new(NO_BUCKET, anyhow::anyhow!("no bucket")))
    }
    async fn read(&self, _key: &str, _limit: u64) -> Result<Option<Vec<u8>>, Unavailable> {
        Ok(None)
    }
    async fn delete(&self, _keys: &[String]) -> Result<(), Unavailable> {
        Ok(())
    }
    async fn download(&self, _key: &str, _scanning: bool) -> Result<Download, Unavailable> {
        Ok(Download::Missing)
    }
}
