//! GuardDuty Malware Protection for S3's scan results, from EventBridge (`source` `aws.guardduty`, `detail-type`
//! `GuardDuty Malware Protection Object Scan Result`): a threat found in a ticket's file tells its team. The
//! verdict itself is the object's tag, which every download reads; this only tells people.

use serde::Deserialize;
use serde_json::Value;

use crate::ports::Ports;
use crate::service::TicketService;

/// GuardDuty's `detail-type` of a scan result.
pub const DETAIL_TYPE: &str = "GuardDuty Malware Protection Object Scan Result";

#[derive(Deserialize)]
struct ScanEvent {
    detail: Detail,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Detail {
    s3_object_details: ObjectDetails,
    scan_result_details: ScanResult,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectDetails {
    object_key: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScanResult {
    scan_result_status: String,
    #[serde(default)]
    threats: Option<Vec<Threat>>,
}

#[derive(Deserialize)]
struct Threat {
    name: String,
}

/// One scan result. A failure to tell the team is an error, which EventBridge retries.
pub async fn handle<P: Ports>(service: &TicketService<P>, raw: &str) -> Result<Value, lambda_http::Error> {
    let event: ScanEvent = serde_json::from_str(raw)?;
    let result = event.detail.scan_result_details;
    if result.scan_result_status != "THREATS_FOUND" {
        return Ok(serde_json::json!({ "told": false }));
    }
    let threats: Vec<String> = result.threats.unwrap_or_default().into_iter().map(|t| t.name).collect();
    let told = service.file_infected(&event.detail.s3_object_details.object_key, &threats).await?;
    Ok(serde_json::json!({ "told": told }))
}
