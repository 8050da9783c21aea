//! Files on tickets, on the local stand-ins: an upload asked for and posted through its presigned form to moto's
//! S3 (never through the function), referenced by a create, kept under the ticket, e-mailed to the team as an
//! attachment and downloaded byte for byte through the requester's and the team's links (a 302 to a presigned
//! GET whose overrides set the type and disposition); every refusal of a reference (422, nothing stored, no
//! number taken); the EICAR file held back while scanning is on; a page's reply with a file.
//!
//! moto 5.2.5 enforces nothing of a POST policy (a 500-byte file under a 100-byte policy and a bad signature are
//! both accepted), so what S3 holds is checked when it is referenced, whatever the policy said: these tests post
//! what the policy forbids on purpose, and the function refuses it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use ticket_api::domain::CollectionId;
use ticket_api::domain::attachment::{UploadId, UploadRequest};
use ticket_api::driving::http::{App, app};
use ticket_api::local::scan::{EICAR, scan_once, scan_result_event};
use ticket_api::ports::TicketStore;

use crate::helpers::*;

/// A real 1×1 PNG (67 bytes), as a screenshot starts.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\nIDATx\x9cc\x00\x01\x00\x00\x05\x00\x01\r\n-\xb4\x00\x00\x00\x00IEND\xaeB`\x82";

fn demo() -> CollectionId {
    CollectionId::parse("demo-collection").unwrap()
}

/// The path and query of one of the service's absolute links (`BASE_URL` first).
fn path_of(url: &str) -> String {
    url.strip_prefix(BASE_URL).unwrap_or(url).to_owned()
}

fn post_json(path: &str, key: Option<&str>, body: &Value) -> axum::http::Request<lambda_http::Body> {
    let mut request = axum::http::Request::post(path).header("content-type", "application/json");
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    request.body(lambda_http::Body::from(body.to_string())).unwrap()
}

fn get(path: &str, json: bool) -> axum::http::Request<lambda_http::Body> {
    let request = axum::http::Request::get(path);
    let request = if json { request.header("accept", "application/json") } else { request };
    request.body(lambda_http::Body::Empty).unwrap()
}

/// A `multipart/form-data` body: the fields, then the file as `file_field` (as a browser and S3's POST want it).
pub fn multipart(
    fields: &[(String, String)],
    file_field: &str,
    file: Option<(&str, &str, &[u8])>,
) -> (String, Vec<u8>) {
    let boundary = format!("----ticketapi{}", unique("b").replace('-', ""));
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    if let Some((file_name, content_type, bytes)) = file {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{file_field}\"; filename=\"{file_name}\"\r\n\
                 Content-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Posts `bytes` through an upload's form, as a client does: every field, then the file.
async fn post_form(form: &Value, content_type: &str, bytes: &[u8]) -> reqwest::StatusCode {
    let fields: Vec<(String, String)> = form["fields"]
        .as_object()
        .expect("the form's fields")
        .iter()
        .map(|(n, v)| (n.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let (media, body) = multipart(&fields, "file", Some(("upload", content_type, bytes)));
    let url = form["url"].as_str().unwrap();
    let response = reqwest::Client::new().post(url).header("content-type", media).body(body).send().await.unwrap();
    response.status()
}

/// Asks for an upload for a create and posts `bytes` through its form; the upload id.
async fn uploaded(
    app: &App<lambda_http::Body>,
    key: &str,
    name: &str,
    content_type: &str,
    declared: usize,
    bytes: &[u8],
) -> String {
    let body = json!({"fileName": name, "contentType": content_type, "size": declared});
    let granted = call(app, post_json("/ticket/demo-collection/uploads", Some(key), &body)).await;
    assert_eq!(granted.status, 201, "{}", granted.raw);
    assert!(post_form(&granted.body["form"], content_type, bytes).await.is_success(), "the S3 stand-in takes the post");
    granted.body["uploadId"].as_str().unwrap().to_owned()
}

fn create_with(requester: &str, ids: &[&str]) -> String {
    json!({"userEmail": requester, "title": "Checkout fails", "message": "See the screenshot.", "attachments": ids})
        .to_string()
}

/// Follows a file's URL through the app (302), then the presigned GET to moto: status, type, disposition, bytes.
async fn download(app: &App<lambda_http::Body>, url: &str) -> (String, String, Vec<u8>) {
    let redirect = call(app, get(&path_of(url), false)).await;
    assert_eq!(redirect.status, 302, "{}", redirect.raw);
    assert_eq!(redirect.header("cache-control"), Some("no-store"));
    let location = redirect.header("location").unwrap();
    assert!(location.contains("X-Amz-Expires=300"), "a presigned GET of five minutes: {location}");
    let got = reqwest::get(location).await.unwrap();
    assert!(got.status().is_success(), "{}", got.status());
    let header = |name: &str| got.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let (content_type, disposition) = (header("content-type"), header("content-disposition"));
    (content_type, disposition, got.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn a_file_posted_through_its_upload_form_opens_a_ticket_reaches_the_team_and_downloads_through_either_link() {
    let sdk = sdk().await;
    let team = format!("{}@example.com", unique("team"));
    let requester = format!("{}@email.com", unique("user"));
    let store = seeded_dynamo_store(&sdk, &[&team]).await;
    let (bucket, files) = s3_files(&sdk).await;
    let service = Arc::new(service_on(local_ports(store.clone(), &sdk).with_files(files)));
    let app = app::<lambda_http::Body, _>(service.clone());
    let key = expected().keys.granted;

    let started = Instant::now();
    let upload = uploaded(&app, &key, "screen shot.png", "image/png", PNG.len(), PNG).await;
    let created = call(
        &app,
        create_request("demo-collection", Some(&key), "application/json", &create_with(&requester, &[&upload])),
    );
    let created = created.await;
    assert_eq!(created.status, 201, "{}", created.raw);
    let took = started.elapsed();

    // The requester's view lists it with a link through their own key; the link answers the file itself.
    let private = created.body["privateUrl"].as_str().unwrap();
    let view = call(&app, get(&path_of(private), true)).await;
    let file = &view.body["thread"][0]["attachments"][0];
    assert_eq!((file["fileName"].as_str(), file["contentType"].as_str()), (Some("screen shot.png"), Some("image/png")));
    assert_eq!(file["size"], PNG.len());
    let url = file["url"].as_str().unwrap();
    assert!(url.contains("/attachments/") && url.contains("?key="), "{url}");
    let (content_type, disposition, bytes) = download(&app, url).await;
    assert_eq!(bytes, PNG, "byte for byte");
    assert_eq!(content_type, "image/png");
    assert!(
        disposition.starts_with("inline; filename=\"screen shot.png\""),
        "a raster image may be inline: {disposition}"
    );

    // The team's e-mail carries the file; its link (the team's) downloads it too.
    deliver_now(&service).await;
    let to_team = wait_for_mail(&team, 1, Duration::from_secs(10)).await;
    let attached = &to_team[0]["attachments"][0];
    assert_eq!(attached["filename"], "screen shot.png");
    let sent = base64::engine::general_purpose::STANDARD.decode(attached["content"].as_str().unwrap()).unwrap();
    assert_eq!(sent, PNG, "attached to the team's e-mail, byte for byte");
    let text = to_team[0]["body"]["text"].as_str().unwrap();
    let team_link = text.split_whitespace().find(|w| w.contains("teamKey=")).expect("the team's link").to_owned();
    let team_view = call(&app, get(&path_of(&team_link), true)).await;
    let team_url = team_view.body["thread"][0]["attachments"][0]["url"].as_str().unwrap().to_owned();
    assert!(team_url.contains("teamKey="), "{team_url}");
    assert_eq!(download(&app, &team_url).await.2, PNG);

    // The upload is gone once used; the file lives under its ticket only.
    let listed = |prefix: &'static str| {
        let (s3, bucket) = (s3(&sdk), bucket.clone());
        async move { s3.list_objects_v2().bucket(bucket).prefix(prefix).send().await.unwrap().key_count().unwrap_or(0) }
    };
    assert_eq!((listed("uploads/").await, listed("files/").await), (0, 1));
    // A wrong key, another ticket's file and a file that is not there are one 404.
    let file_id = file["id"].as_str().unwrap();
    let wrong = format!("/ticket/demo-collection/1/attachments/{file_id}?key=wrong");
    let other = path_of(url).replace("/1/attachments/", "/2/attachments/");
    let missing = path_of(url).replace(file_id, &"0".repeat(32));
    for path in [wrong, other, missing] {
        let answer = call(&app, get(&path, false)).await;
        assert_eq!((answer.status.as_u16(), answer.code()), (404, Some("not_found")), "{path}");
    }
    println!("upload, post to S3 and create with one file: {took:?}; the team's e-mail carried {} bytes", sent.len());
}

#[tokio::test]
async fn a_bad_upload_reference_is_a_422_on_attachments_and_stores_nothing_takes_no_number_and_sends_nothing() {
    let sdk = sdk().await;
    let team = format!("{}@example.com", unique("team"));
    let requester = format!("{}@email.com", unique("user"));
    let store = seeded_dynamo_store(&sdk, &[&team]).await;
    let (_, files) = s3_files(&sdk).await;
    let service = Arc::new(service_on(local_ports(store.clone(), &sdk).with_files(files)));
    let app = app::<lambda_http::Body, _>(service.clone());
    let key = expected().keys.granted;
    let now = ticket_api::domain::Now::at(std::time::SystemTime::now()).secs();
    let request = UploadRequest::parse(Some("a.png"), Some("image/png"), Some(PNG.len() as u64)).unwrap();

    let expired = UploadId { expires_at: now - 1, ..UploadId::new(&request, 0, now) }.encode(&pepper(), &demo());
    let foreign = UploadId::new(&request, 0, now).encode(&pepper(), &CollectionId::parse("other-collection").unwrap());
    let for_a_reply = UploadId::new(&request, 7, now).encode(&pepper(), &demo());
    let granted = call(
        &app,
        post_json(
            "/ticket/demo-collection/uploads",
            Some(&key),
            &json!({"fileName": "a.png", "contentType": "image/png", "size": 67}),
        ),
    )
    .await;
    let never_posted = granted.body["uploadId"].as_str().unwrap().to_owned();
    let larger = uploaded(&app, &key, "small.png", "image/png", 100, &[PNG, &[0u8; 433]].concat()).await;
    let html = b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>";
    let html_as_png = uploaded(&app, &key, "shot.png", "image/png", html.len(), html).await;
    let cases: [(&str, String, &str); 7] = [
        ("unknown", "bm90LWFuLXVwbG9hZA".into(), "not an upload of this collection"),
        ("expired", expired, "has expired"),
        ("another collection's", foreign, "not an upload of this collection"),
        ("a reply's", for_a_reply, "was asked for a reply"),
        ("never posted", never_posted, "was not uploaded, or is used already"),
        (
            "larger than declared (moto took 500 bytes under a policy of 100)",
            larger,
            "holds 500 bytes, not the 100 declared",
        ),
        ("HTML declared as PNG", html_as_png, "is not a image/png file"),
    ];
    for (case, id, says) in &cases {
        let refused = call(
            &app,
            create_request("demo-collection", Some(&key), "application/json", &create_with(&requester, &[id])),
        )
        .await;
        assert_eq!(
            (refused.status.as_u16(), refused.code()),
            (422, Some("validation_failed")),
            "{case}: {}",
            refused.raw
        );
        let error = &refused.body["errors"][0];
        assert_eq!(error["field"], "attachments", "{case}");
        assert!(error["message"].as_str().unwrap().contains(says), "{case}: {error}");
    }
    // Used once: a second create with the same upload is refused, after the first took it.
    let good = uploaded(&app, &key, "a.png", "image/png", PNG.len(), PNG).await;
    let first = call(
        &app,
        create_request("demo-collection", Some(&key), "application/json", &create_with(&requester, &[&good])),
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.raw);
    assert_eq!(first.body["ticketNumber"], 1, "none of the refusals took a number");
    let again = call(
        &app,
        create_request("demo-collection", Some(&key), "application/json", &create_with(&requester, &[&good])),
    )
    .await;
    assert_eq!((again.status.as_u16(), again.body["errors"][0]["field"].as_str()), (422, Some("attachments")));
    assert!(store.get_ticket(&demo(), 2).await.unwrap().is_none(), "the reuse stored nothing");
    deliver_now(&service).await;
    assert_eq!(mailbox(&requester).await.len(), 1, "only the one ticket's confirmation was sent");
    println!(
        "{} refusals of a reference, each a 422 on attachments; the reuse of a used upload refused",
        cases.len() + 1
    );
}

#[tokio::test]
async fn while_scanning_is_on_a_file_is_held_until_cleared_and_the_eicar_file_is_never_handed_out() {
    let sdk = sdk().await;
    let requester = format!("{}@email.com", unique("user"));
    let team = format!("{}@example.com", unique("team"));
    let store = seeded_dynamo_store(&sdk, &[&team]).await;
    let (bucket, files) = s3_files(&sdk).await;
    let service = Arc::new(service_on(local_ports(store.clone(), &sdk).with_files(files)).with_file_scanning(true));
    let app = app::<lambda_http::Body, _>(service.clone());
    let key = expected().keys.granted;
    let eicar = uploaded(&app, &key, "eicar.txt", "text/plain", EICAR.len(), EICAR.as_bytes()).await;
    let clean = uploaded(&app, &key, "notes.txt", "text/plain", 11, b"plain notes").await;
    let created = call(
        &app,
        create_request("demo-collection", Some(&key), "application/json", &create_with(&requester, &[&eicar, &clean])),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.raw);
    let view = call(&app, get(&path_of(created.body["privateUrl"].as_str().unwrap()), true)).await;
    let urls: Vec<String> = view.body["thread"][0]["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["url"].as_str().unwrap().to_owned())
        .collect();

    // Not scanned yet: a problem that says to come back, never the file.
    let held = call(&app, get(&path_of(&urls[0]), false)).await;
    assert_eq!((held.status.as_u16(), held.code()), (409, Some("file_scanning")), "{}", held.raw);
    assert!(held.header("retry-after").is_some());

    // The stand-in of GuardDuty's scan tags both: the EICAR file as a threat, the other clean; its result event
    // tells the team, once however often it comes.
    let tagged = scan_once(&s3(&sdk), &bucket, &mut Default::default()).await.unwrap();
    assert_eq!(tagged.iter().filter(|(_, v)| *v == "THREATS_FOUND").count(), 1, "{tagged:?}");
    let infected_key = &tagged.iter().find(|(_, v)| *v == "THREATS_FOUND").unwrap().0;
    let function = ticket_api::driving::Function::new(service.clone());
    let event = scan_result_event(&bucket, infected_key, "THREATS_FOUND");
    for _ in 0..2 {
        let told = function.invoke(&event, lambda_http::Context::default()).await.unwrap();
        assert_eq!(told["told"], true);
    }
    deliver_now(&service).await;
    let to_team = mailbox(&team).await;
    let told: Vec<&Value> = to_team
        .iter()
        .filter(|m| m["body"]["text"].as_str().unwrap_or_default().contains("was found infected"))
        .collect();
    assert_eq!(told.len(), 1, "the team told once");
    let text = told[0]["body"]["text"].as_str().unwrap();
    assert!(text.contains("\"eicar.txt\"") && text.contains("EICAR-Test-File"), "{text}");
    assert!(told[0]["replyTo"].as_array().is_none_or(Vec::is_empty), "it answers nothing");
    let infected = call(&app, get(&path_of(&urls[0]), false)).await;
    assert_eq!((infected.status.as_u16(), infected.code()), (403, Some("file_infected")), "{}", infected.raw);
    assert!(infected.body["detail"].as_str().unwrap().contains("found a threat"));
    let (content_type, disposition, bytes) = download(&app, &urls[1]).await;
    assert_eq!((content_type.as_str(), bytes.as_slice()), ("text/plain; charset=utf-8", b"plain notes".as_slice()));
    assert!(disposition.starts_with("attachment;"), "text is a download, never shown in place: {disposition}");
    println!("EICAR: 409 before the scan, 403 after; the clean file served after its scan");
}

#[tokio::test]
async fn a_reply_through_the_api_references_an_upload_of_its_own_ticket_and_its_webhook_lists_the_file() {
    let sdk = sdk().await;
    let requester = format!("{}@email.com", unique("user"));
    let store = seeded_dynamo_store(&sdk, &["team@example.com"]).await;
    let (_, files) = s3_files(&sdk).await;
    let service = Arc::new(service_on(local_ports(store.clone(), &sdk).with_files(files)));
    let app = app::<lambda_http::Body, _>(service.clone());
    let key = expected().keys.granted;
    let created =
        call(&app, create_request("demo-collection", Some(&key), "application/json", &good_body(&requester))).await;
    let private = path_of(created.body["privateUrl"].as_str().unwrap());
    let (ticket, query) = private.split_once('?').unwrap();

    // The requester asks for an upload through their own link, posts a PDF, and replies with it.
    let pdf = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";
    let body = json!({"fileName": "invoice.pdf", "contentType": "application/pdf", "size": pdf.len()});
    let granted = call(&app, post_json(&format!("{ticket}/uploads?{query}"), None, &body)).await;
    assert_eq!(granted.status, 201, "{}", granted.raw);
    assert!(post_form(&granted.body["form"], "application/pdf", pdf).await.is_success());
    let id = granted.body["uploadId"].as_str().unwrap();
    // Not for a create: the id is this ticket's.
    let as_create =
        call(&app, create_request("demo-collection", Some(&key), "application/json", &create_with(&requester, &[id])))
            .await;
    assert_eq!(as_create.status, 422);
    let reply = json!({"message": "Here is the invoice.", "attachments": [id]});
    let added = call(&app, post_json(&format!("{ticket}/messages?{query}"), None, &reply)).await;
    assert_eq!(added.status, 201, "{}", added.raw);
    let file = &added.body["entry"]["attachments"][0];
    assert_eq!(
        (file["fileName"].as_str(), file["contentType"].as_str()),
        (Some("invoice.pdf"), Some("application/pdf"))
    );
    let (content_type, disposition, bytes) = download(&app, file["url"].as_str().unwrap()).await;
    assert_eq!((content_type.as_str(), bytes.as_slice()), ("application/pdf", pdf.as_slice()));
    assert!(disposition.starts_with("attachment;"));
    let header = store.get_ticket(&demo(), 1).await.unwrap().unwrap();
    assert_eq!((header.files, header.file_bytes), (1, pdf.len() as u64), "the ticket counts its files");
    let thread = store.thread(&demo(), 1).await.unwrap();
    let data = ticket_api::domain::webhook_delivery::data(&webhook_delivery_for(&thread[1]), &header, Some(&thread[1]));
    assert_eq!(data["attachments"][0]["fileName"], "invoice.pdf", "{data}");
    assert!(!data.to_string().contains("key="), "no link with a key in a webhook: {data}");
}

/// A `ticket.message.created` delivery of `entry`, for reading its payload.
fn webhook_delivery_for(entry: &ticket_api::domain::Entry) -> ticket_api::domain::webhook_delivery::WebhookDelivery {
    use ticket_api::domain::webhook::EventType;
    use ticket_api::domain::webhook_delivery::{WebhookDelivery, WebhookDeliveryState};
    WebhookDelivery {
        collection_id: demo(),
        ticket_number: 1,
        entry: entry.seq,
        endpoint_id: "e".into(),
        mail: None,
        mail_attempt: None,
        event: EventType::MessageCreated,
        detail: Default::default(),
        state: WebhookDeliveryState::Pending,
        attempts: 0,
        created_at: entry.at.clone(),
        due_at_ms: None,
        last_status: None,
        last_error: None,
        last_latency_ms: None,
        settled_at: None,
    }
}

#[tokio::test]
async fn a_page_reply_posts_its_file_with_the_text_and_shows_it_under_the_message() {
    let sdk = sdk().await;
    let requester = format!("{}@email.com", unique("user"));
    let store = seeded_dynamo_store(&sdk, &["team@example.com"]).await;
    let (_, files) = s3_files(&sdk).await;
    let service = Arc::new(service_on(local_ports(store.clone(), &sdk).with_files(files)));
    let app = app::<lambda_http::Body, _>(service.clone());
    let key = expected().keys.granted;
    let created =
        call(&app, create_request("demo-collection", Some(&key), "application/json", &good_body(&requester))).await;
    let private = path_of(created.body["privateUrl"].as_str().unwrap());
    let (ticket, query) = private.split_once('?').unwrap();
    // Three MB of a file, as a browser posts the page's form.
    let log: Vec<u8> = "2026-12-07 error: checkout failed\n".repeat(3 * 1024 * 1024 / 34).into_bytes();
    let fields = [("message".to_owned(), "The log is attached.".to_owned())];
    let (media, body) = multipart(&fields, "file", Some(("checkout.log", "text/plain", &log)));
    let request = axum::http::Request::post(format!("{ticket}/messages?{query}"))
        .header("content-type", media)
        .body(lambda_http::Body::from(body))
        .unwrap();
    let posted = call(&app, request).await;
    assert_eq!(posted.status, 303, "back to the page: {}", posted.raw);
    let page = call(&app, get(&private, false)).await;
    assert!(page.raw.contains("checkout.log</a> (3.0 MB)"), "the file under the message");
    let view = call(&app, get(&private, true)).await;
    let file = &view.body["thread"][1]["attachments"][0];
    assert_eq!((file["contentType"].as_str(), file["size"].as_u64()), (Some("text/plain"), Some(log.len() as u64)));
    assert_eq!(download(&app, file["url"].as_str().unwrap()).await.2, log, "byte for byte");
    // Past what a Lambda request carries: refused before anything is read, with the reason on the page.
    let big = vec![b'a'; 5 * 1024 * 1024];
    let (media, body) = multipart(&fields, "file", Some(("big.txt", "text/plain", &big)));
    let request = axum::http::Request::post(format!("{ticket}/messages?{query}"))
        .header("content-type", media)
        .body(lambda_http::Body::from(body))
        .unwrap();
    let refused = call(&app, request).await;
    assert_eq!(refused.status, 413, "{}", &refused.raw[..200.min(refused.raw.len())]);
    assert_eq!(store.thread(&demo(), 1).await.unwrap().len(), 2, "nothing more was recorded");
}

/// moto checks no signature, so the form's is checked against botocore's own SigV4 code (the reference
/// implementation AWS's Python SDK signs POST policies with): the same credentials, date, region and policy give
/// the same signature.
#[tokio::test]
async fn the_upload_forms_signature_is_the_one_botocore_computes_for_its_policy() {
    use ticket_api::ports::{Files, UploadSlot};
    let sdk = sdk().await;
    let (_, files) = s3_files(&sdk).await;
    let now = ticket_api::domain::Now::at(std::time::SystemTime::now()).secs();
    let slot = UploadSlot {
        key: "uploads/demo-collection/ab",
        file_name: "a b.png",
        content_type: "image/png",
        size: 67,
        expires_at: now + 900,
    };
    let form = files.upload_form(&slot).await.unwrap();
    let field = |name: &str| form.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap();
    let credential = field("x-amz-credential");
    let scope: Vec<&str> = credential.split('/').collect();
    assert_eq!((scope[3], scope[4]), ("s3", "aws4_request"));
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").expect("the stand-ins' credentials");
    let script = "import sys\n\
        from botocore.auth import SigV4Auth\n\
        from botocore.awsrequest import AWSRequest\n\
        from botocore.credentials import Credentials\n\
        key, secret, stamp, region, policy = sys.argv[1:]\n\
        request = AWSRequest()\n\
        request.context['timestamp'] = stamp\n\
        print(SigV4Auth(Credentials(key, secret), 's3', region).signature(policy, request))\n";
    let out = std::process::Command::new(root().join(".tools/venv/bin/python"))
        .args(["-c", script, scope[0], &secret, &field("x-amz-date"), scope[2], &field("policy")])
        .output()
        .expect("the tools' Python runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        field("x-amz-signature"),
        "botocore signs the policy alike"
    );
    assert_eq!(
        form.url,
        format!("{}/{}", std::env::var("AWS_ENDPOINT_URL_S3").unwrap(), form.url.rsplit('/').next().unwrap())
    );
}

fn root() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A part of a multipart message: its headers and base64 body.
fn part(boundary: &str, headers: &str, bytes: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(bytes);
    format!("--{boundary}\r\n{headers}\r\nContent-Transfer-Encoding: base64\r\n\r\n{body}\r\n")
}

#[tokio::test]
async fn a_reply_over_smtp_keeps_its_files_inline_images_and_winmail_dat_and_the_other_side_gets_them() {
    use ticket_api::driving::Function;
    use ticket_api::driving::stream::MAPPING;
    let sdk = sdk().await;
    let team = format!("{}@example.com", unique("team"));
    let requester = format!("{}@email.com", unique("user"));
    let store = seeded_dynamo_store(&sdk, &[&team]).await;
    let inbound = inbound_bucket(&sdk).await;
    let (_, files) = s3_files(&sdk).await;
    let ports = local_ports(store.clone(), &sdk).with_inbox(s3_inbox(&sdk, &inbound)).with_files(files);
    let service = Arc::new(service_on(ports).with_delivery(stream_delivery()));
    let function = Arc::new(Function::new(service.clone()));
    let _stream = start_stream(&sdk, &store, function.clone(), MAPPING).await;
    let (invoke_url, _invoke_api) = serve_invoke_api(function).await;
    let smtp = SesReceiving::start(&inbound, &invoke_url).await;
    let app = app::<lambda_http::Body, _>(service.clone());
    let key = expected().keys.granted;
    let created =
        call(&app, create_request("demo-collection", Some(&key), "application/json", &good_body(&requester))).await;
    assert_eq!(created.status, 201);
    let to_requester = wait_for_mail(&requester, 1, Duration::from_secs(10)).await;
    let address = to_requester[0]["replyTo"][0].as_str().unwrap().to_owned();

    // As Outlook and Apple Mail send one: an HTML body with an inline image (`cid:`), an image no HTML refers to,
    // attached files, `winmail.dat`; eleven files in all, one past a message's ten.
    let pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n%%EOF\n".to_vec();
    let tnef = b"\x78\x9f\x3e\x22\x00\x00\x01\x06\x90\x08\x00\x04\x00\x00\x00\x00\x00".to_vec();
    let mut raw = format!(
        "From: <{requester}>\r\nTo: {address}\r\nSubject: Re: ticket\r\nMessage-ID: <{}@mail.example.com>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n\
         --m\r\nContent-Type: multipart/related; boundary=\"r\"\r\n\r\n\
         --r\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>The error is on the screen: <img src=\"cid:shot1\"></p>\r\n",
        unique("m")
    );
    raw += &part(
        "r",
        "Content-Type: image/png; name=\"screen.png\"\r\nContent-ID: <shot1>\r\nContent-Disposition: inline; filename=\"screen.png\"",
        PNG,
    );
    raw += "--r--\r\n";
    raw += &part("m", "Content-Type: image/png\r\nContent-Disposition: inline", PNG);
    raw += &part(
        "m",
        "Content-Type: application/pdf; name=\"invoice.pdf\"\r\nContent-Disposition: attachment; filename=\"invoice.pdf\"",
        &pdf,
    );
    raw += &part(
        "m",
        "Content-Type: application/ms-tnef; name=\"winmail.dat\"\r\nContent-Disposition: attachment; filename=\"winmail.dat\"",
        &tnef,
    );
    for i in 1..=7 {
        let headers = format!(
            "Content-Type: text/plain; name=\"note-{i}.txt\"\r\nContent-Disposition: attachment; filename=\"note-{i}.txt\""
        );
        raw += &part("m", &headers, format!("note {i}").as_bytes());
    }
    raw += "--m--\r\n";
    smtp.send(&requester, &address, raw.as_bytes()).await.expect("accepted");
    let to_team = wait_for_mail(&team, 2, Duration::from_secs(20)).await;
    assert_eq!(to_team.len(), 2, "the reply reached the team");

    let thread = store.thread(&demo(), 1).await.unwrap();
    let entry = &thread[1];
    let names: Vec<&str> = entry.attachments.iter().map(|f| f.file_name.as_str()).collect();
    assert_eq!(&names[..4], ["screen.png", "attachment-2.png", "invoice.pdf", "winmail.dat"], "{names:?}");
    assert_eq!(names.len(), 10, "a message keeps ten files");
    let by = entry.by_email.as_ref().unwrap();
    assert_eq!(
        (by.left_out.len(), by.left_out[0].name.as_str()),
        (1, "note-7.txt"),
        "the eleventh is left out, and said"
    );
    let types: Vec<&str> = entry.attachments.iter().take(4).map(|f| f.content_type.as_str()).collect();
    assert_eq!(types, ["image/png", "image/png", "application/pdf", "application/octet-stream"]);

    // The team's e-mail carries them, byte for byte; the team downloads each through its link.
    let attached = to_team[1]["attachments"].as_array().unwrap();
    assert_eq!(attached.len(), 10);
    let decode = |a: &Value| base64::engine::general_purpose::STANDARD.decode(a["content"].as_str().unwrap()).unwrap();
    assert_eq!(
        (decode(&attached[0]), decode(&attached[2]), decode(&attached[3])),
        (PNG.to_vec(), pdf.clone(), tnef.clone())
    );
    let text = to_team[1]["body"]["text"].as_str().unwrap();
    assert!(text.contains("note-1.txt (6 bytes), attached"), "{text}");
    let team_link = text.split_whitespace().find(|w| w.contains("teamKey=")).unwrap().to_owned();
    let view = call(&app, get(&path_of(&team_link), true)).await;
    let listed = view.body["thread"][1]["attachments"].as_array().unwrap().clone();
    assert_eq!(view.body["thread"][1]["byEmail"]["leftOut"][0]["name"], "note-7.txt");
    for (file, expected) in listed.iter().zip([PNG.to_vec(), PNG.to_vec(), pdf.clone(), tnef.clone()]) {
        let (_, disposition, bytes) = download(&app, file["url"].as_str().unwrap()).await;
        assert_eq!(bytes, expected, "{}", file["fileName"]);
        assert!(!disposition.starts_with("inline") || file["contentType"] == "image/png", "{disposition}");
    }

    // A reply that is only a file: recorded, its text says so, the file kept.
    let only = format!(
        "From: <{requester}>\r\nTo: {address}\r\nSubject: Re: ticket\r\nMessage-ID: <{}@mail.example.com>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n{}--m--\r\n",
        unique("m"),
        part(
            "m",
            "Content-Type: application/pdf; name=\"receipt.pdf\"\r\nContent-Disposition: attachment; filename=\"receipt.pdf\"",
            &pdf
        )
    );
    smtp.send(&requester, &address, only.as_bytes()).await.expect("accepted");
    let to_team = wait_for_mail(&team, 3, Duration::from_secs(20)).await;
    assert_eq!(to_team.len(), 3);
    let thread = store.thread(&demo(), 1).await.unwrap();
    assert_eq!(thread[2].message.as_ref().unwrap().as_str(), "(Attachments only: receipt.pdf.)");
    assert_eq!(thread[2].attachments[0].file_name, "receipt.pdf");
    assert_eq!(decode(&to_team[2]["attachments"][0]), pdf);
    println!(
        "a reply over SMTP with 11 files: 10 kept (inline, unreferenced image, PDF, winmail.dat, notes), 1 left out and listed; all 10 attached to the team's e-mail"
    );
}
