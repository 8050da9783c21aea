//! A presigned POST: S3's browser-based upload with Signature Version 4. A policy (JSON, base64) fixes what the
//! form may put (the bucket, the key, the content type, the exact size, the name's metadata, the expiry), and is
//! signed with the function's own credentials: aws-sigv4's signing key and signature over the policy, as the
//! SDK's presigning does for a GET. Nothing is sent anywhere.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::sign::v4::{calculate_signature, generate_signing_key};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::ports::UploadSlot;

/// The metadata field that carries an upload's file name (percent-encoded: metadata is ASCII).
pub const NAME_FIELD: &str = "x-amz-meta-name";

/// The form's fields, in the order they are posted (the file goes last, as `file`).
pub fn fields(
    slot: &UploadSlot<'_>,
    bucket: &str,
    encoded_name: &str,
    credentials: &Credentials,
    region: &str,
    now: SystemTime,
) -> Vec<(String, String)> {
    let stamp = humantime::format_rfc3339_seconds(now).to_string().replace(['-', ':'], "");
    let date = &stamp[..8];
    let credential = format!("{}/{date}/{region}/s3/aws4_request", credentials.access_key_id());
    let mut fields = vec![
        ("key", slot.key.to_owned()),
        ("Content-Type", slot.content_type.to_owned()),
        (NAME_FIELD, encoded_name.to_owned()),
        ("x-amz-algorithm", "AWS4-HMAC-SHA256".to_owned()),
        ("x-amz-credential", credential),
        ("x-amz-date", stamp.clone()),
    ];
    if let Some(token) = credentials.session_token() {
        fields.push(("x-amz-security-token", token.to_owned()));
    }
    let expires = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(slot.expires_at);
    let mut conditions: Vec<Value> = vec![json!({ "bucket": bucket })];
    conditions.extend(fields.iter().map(|(name, value)| json!({ *name: value })));
    let size = slot.size;
    conditions.push(json!(["content-length-range", size, size]));
    let policy = json!({
        "expiration": humantime::format_rfc3339_millis(expires).to_string(),
        "conditions": conditions,
    });
    let policy = STANDARD.encode(policy.to_string());
    let key = generate_signing_key(credentials.secret_access_key(), now, region, "s3");
    let signature = calculate_signature(key, policy.as_bytes());
    let mut fields: Vec<(String, String)> = fields.into_iter().map(|(n, v)| (n.to_owned(), v)).collect();
    fields.push(("policy".to_owned(), policy));
    fields.push(("x-amz-signature".to_owned(), signature));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_fixes_the_key_type_name_size_and_expiry_and_names_the_session_token() {
        let credentials = Credentials::new("AKID", "secret", Some("token".into()), None, "test");
        let slot = UploadSlot {
            key: "uploads/acme/ab",
            file_name: "a.png",
            content_type: "image/png",
            size: 42,
            expires_at: 1_800_000_000,
        };
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_799_999_100);
        let fields = fields(&slot, "files-bucket", "a.png", &credentials, "eu-west-1", now);
        let field = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap();
        let policy: Value = serde_json::from_slice(&STANDARD.decode(field("policy")).unwrap()).unwrap();
        assert_eq!(policy["expiration"], "2027-01-15T08:00:00.000Z");
        let conditions = policy["conditions"].as_array().unwrap();
        for expected in [
            json!({"bucket": "files-bucket"}),
            json!({"key": "uploads/acme/ab"}),
            json!({"Content-Type": "image/png"}),
            json!({"x-amz-meta-name": "a.png"}),
            json!(["content-length-range", 42, 42]),
            json!({"x-amz-security-token": "token"}),
            json!({"x-amz-credential": "AKID/20270115/eu-west-1/s3/aws4_request"}),
        ] {
            assert!(conditions.contains(&expected), "{expected} in {conditions:?}");
        }
        assert_eq!(field("x-amz-date"), "20270115T074500Z");
        assert_eq!(field("x-amz-signature").len(), 64);
    }
}
