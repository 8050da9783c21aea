//! The bucket in memory: objects by key, with the name and type they were posted or kept with, and a scan
//! verdict a test sets. A form's "post" is `post`, as a client would make it (this fake, like the S3 stand-in,
//! takes whatever is posted: what is kept is checked when it is referenced, as on AWS).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::domain::attachment::{self, FileMeta, SNIFF_BYTES};
use crate::ports::{Download, Files, Scan, Stored, Unavailable, UploadForm, UploadSlot};

#[derive(Debug, Clone)]
struct Object {
    bytes: Vec<u8>,
    file_name: Option<String>,
    content_type: String,
    scan: Scan,
}

/// The bucket in memory. A file kept or put is scanned clean at once; `set_scan` says otherwise.
#[derive(Default)]
pub struct MemoryFiles {
    objects: Mutex<HashMap<String, Object>>,
    /// The forms handed out, by key: what a `post` to them is named.
    forms: Mutex<HashMap<String, String>>,
}

impl MemoryFiles {
    /// A client's post of `bytes` through the form for `key` (whatever the form allowed: nothing is enforced).
    pub fn post(&self, key: &str, bytes: impl Into<Vec<u8>>) {
        let file_name = self.forms.lock().unwrap().get(key).cloned();
        let object = Object { bytes: bytes.into(), file_name, content_type: String::new(), scan: Scan::Pending };
        self.objects.lock().unwrap().insert(key.to_owned(), object);
    }

    /// Sets what the scan of `key` found.
    pub fn set_scan(&self, key: &str, scan: Scan) {
        if let Some(object) = self.objects.lock().unwrap().get_mut(key) {
            object.scan = scan;
        }
    }

    /// The keys held, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.objects.lock().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    }

    /// The bytes at `key`.
    pub fn bytes(&self, key: &str) -> Option<Vec<u8>> {
        self.objects.lock().unwrap().get(key).map(|o| o.bytes.clone())
    }
}

impl Files for MemoryFiles {
    async fn upload_form(&self, slot: &UploadSlot<'_>) -> Result<UploadForm, Unavailable> {
        self.forms.lock().unwrap().insert(slot.key.to_owned(), slot.file_name.to_owned());
        Ok(UploadForm {
            url: "memory://files".to_owned(),
            fields: vec![
                ("key".to_owned(), slot.key.to_owned()),
                ("Content-Type".to_owned(), slot.content_type.to_owned()),
            ],
        })
    }

    async fn inspect(&self, key: &str) -> Result<Option<Stored>, Unavailable> {
        Ok(self.objects.lock().unwrap().get(key).map(|o| Stored {
            size: o.bytes.len() as u64,
            file_name: o.file_name.clone(),
            head: o.bytes[..o.bytes.len().min(SNIFF_BYTES)].to_vec(),
        }))
    }

    async fn keep(&self, from: &str, to: &str, file: &FileMeta) -> Result<bool, Unavailable> {
        let mut objects = self.objects.lock().unwrap();
        let Some(upload) = objects.get(from).cloned() else { return Ok(false) };
        let kept = Object {
            bytes: upload.bytes,
            file_name: Some(file.file_name.clone()),
            content_type: file.content_type.clone(),
            scan: Scan::Clean,
        };
        objects.insert(to.to_owned(), kept);
        Ok(true)
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, file: &FileMeta) -> Result<(), Unavailable> {
        let object = Object {
            bytes,
            file_name: Some(file.file_name.clone()),
            content_type: file.content_type.clone(),
            scan: Scan::Clean,
        };
        self.objects.lock().unwrap().insert(key.to_owned(), object);
        Ok(())
    }

    async fn read(&self, key: &str, limit: u64) -> Result<Option<Vec<u8>>, Unavailable> {
        Ok(self.objects.lock().unwrap().get(key).filter(|o| o.bytes.len() as u64 <= limit).map(|o| o.bytes.clone()))
    }

    async fn delete(&self, keys: &[String]) -> Result<(), Unavailable> {
        let mut objects = self.objects.lock().unwrap();
        for key in keys {
            objects.remove(key);
        }
        Ok(())
    }

    async fn download(&self, key: &str, scanning: bool) -> Result<Download, Unavailable> {
        let objects = self.objects.lock().unwrap();
        let Some(object) = objects.get(key) else { return Ok(Download::Missing) };
        if scanning && object.scan != Scan::Clean {
            return Ok(Download::Held(object.scan.clone()));
        }
        let name = object.file_name.as_deref().unwrap_or("file");
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("response-content-type", &attachment::content_type_header(&object.content_type))
            .append_pair("response-content-disposition", &attachment::disposition(&object.content_type, name))
            .finish();
        Ok(Download::Ready(format!("memory://files/{key}?{query}")))
    }
}
