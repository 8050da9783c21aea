//! The stand-in of GuardDuty Malware Protection for S3: every new object under `files/` of the bucket is read
//! and tagged `GuardDutyMalwareScanStatus` as GuardDuty tags it: `THREATS_FOUND` for a file that holds the EICAR
//! test signature (what every anti-virus engine flags, GuardDuty's among them), `NO_THREATS_FOUND` otherwise.
//! It finds the signature anywhere in the file, where real engines look in far more places; the point is the
//! function's side: a file is handed out only once tagged clean. A threat found is also told to the function as
//! GuardDuty's result event (`scan_result_event`), as the stack's EventBridge rule does.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{Tag, Tagging};
use serde_json::{Value, json};

use crate::driven::s3::{NO_THREATS_FOUND, SCAN_TAG, THREATS_FOUND};
use crate::driving::Function;
use crate::driving::file_scans::DETAIL_TYPE;
use crate::ports::Ports;

/// The EICAR anti-malware test file's signature: harmless, and flagged by every scanner by agreement.
pub const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// The verdict on a file's bytes.
pub fn verdict(bytes: &[u8]) -> &'static str {
    match bytes.windows(EICAR.len()).any(|w| w == EICAR.as_bytes()) {
        true => THREATS_FOUND,
        false => NO_THREATS_FOUND,
    }
}

/// GuardDuty's EventBridge event of a scan result (the fields the function reads, and their neighbours).
pub fn scan_result_event(bucket: &str, key: &str, verdict: &str) -> Value {
    let threats = (verdict == THREATS_FOUND).then(|| json!([{ "name": "EICAR-Test-File (not a virus)" }]));
    json!({
        "version": "0",
        "id": crate::domain::random::random_hex::<16>(),
        "detail-type": DETAIL_TYPE,
        "source": "aws.guardduty",
        "time": crate::domain::Now::at(std::time::SystemTime::now()).rfc3339(),
        "resources": [],
        "detail": {
            "schemaVersion": "1.0",
            "scanStatus": "COMPLETED",
            "resourceType": "S3_OBJECT",
            "s3ObjectDetails": { "bucketName": bucket, "objectKey": key },
            "scanResultDetails": { "scanResultStatus": verdict, "threats": threats },
        },
    })
}

/// Scans what is new under `files/` in `bucket` once; the keys it tagged, with their verdicts. `seen` keeps what
/// was scanned.
pub async fn scan_once(
    s3: &Client,
    bucket: &str,
    seen: &mut HashSet<String>,
) -> anyhow::Result<Vec<(String, &'static str)>> {
    let mut tagged = Vec::new();
    let mut pages = s3.list_objects_v2().bucket(bucket).prefix("files/").into_paginator().send();
    while let Some(page) = pages.next().await {
        for object in page?.contents() {
            let Some(key) = object.key() else { continue };
            if seen.contains(key) {
                continue;
            }
            let bytes = s3.get_object().bucket(bucket).key(key).send().await?.body.collect().await?.into_bytes();
            let verdict = verdict(&bytes);
            let tag = Tag::builder().key(SCAN_TAG).value(verdict).build()?;
            let tagging = Tagging::builder().tag_set(tag).build()?;
            s3.put_object_tagging().bucket(bucket).key(key).tagging(tagging).send().await?;
            seen.insert(key.to_owned());
            tagged.push((key.to_owned(), verdict));
        }
    }
    Ok(tagged)
}

/// Scans every `interval`, as GuardDuty would within seconds of each new object, and tells `function` of each
/// threat found, as the stack's rule does.
pub async fn run_scanner<P: Ports>(s3: Client, bucket: String, interval: Duration, function: Arc<Function<P>>) {
    let mut seen = HashSet::new();
    let mut ticks = tokio::time::interval(interval);
    loop {
        ticks.tick().await;
        match scan_once(&s3, &bucket, &mut seen).await {
            Ok(tagged) => {
                for (key, verdict) in tagged {
                    tracing::info!(key, verdict, "file scanned (the local stand-in of GuardDuty Malware Protection)");
                    if verdict == THREATS_FOUND {
                        let event = scan_result_event(&bucket, &key, verdict);
                        if let Err(e) = function.invoke(&event, lambda_http::Context::default()).await {
                            tracing::warn!(error = %e, key, "the scan result was not taken in");
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "the local malware scan failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eicar_signature_is_flagged_wherever_it_stands() {
        assert_eq!(verdict(EICAR.as_bytes()), THREATS_FOUND);
        assert_eq!(verdict(format!("a zip's text\n{EICAR}\n").as_bytes()), THREATS_FOUND);
        assert_eq!(verdict(b"\x89PNG\r\n\x1a\n"), NO_THREATS_FOUND);
    }
}
