//! What `privateUrl` opens: the requester's view, as HTML (escaped, with strict security headers) or JSON, and
//! a 404 that looks the same for a wrong key, a missing key and a missing ticket. The last test opens the link
//! in Debian's headless Chromium.

use std::process::Command;

use crate::helpers::*;
use axum::http::Request;
use serde_json::json;

const SCRIPT_TITLE: &str = "<script>document.title='pwned';document.body.innerHTML='pwned'</script> Help";

fn get(path: &str, accept: &str) -> Request<lambda_http::Body> {
    Request::get(path).header("accept", accept).body(lambda_http::Body::Empty).unwrap()
}

/// Creates a ticket and returns the path and query of its private link.
async fn create(app: &MemoryApp, title: &str) -> String {
    let body = json!({"userEmail": "user@email.com", "title": title, "message": "Line 1\n<b>not bold</b> & more"});
    let reply = call(
        &app.app,
        create_request("demo-collection", Some(&expected().keys.granted), "application/json", &body.to_string()),
    )
    .await;
    assert_eq!(reply.status, 201);
    reply.body["privateUrl"].as_str().unwrap().strip_prefix(BASE_URL).unwrap().to_owned()
}

#[tokio::test]
async fn the_private_link_opens_an_escaped_page_with_strict_headers() {
    let app = memory_app();
    let link = create(&app, SCRIPT_TITLE).await;
    let reply = call(&app.app, get(&link, "text/html,application/xhtml+xml,*/*;q=0.8")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(reply.header("referrer-policy"), Some("no-referrer"));
    assert!(reply.header("x-robots-tag").unwrap().contains("noindex"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let csp = reply.header("content-security-policy").unwrap();
    assert!(csp.starts_with("default-src 'none'; style-src 'sha256-"), "{csp}");
    assert!(!csp.contains("unsafe") && !csp.contains("script-src"), "no script may run: {csp}");
    let html = &reply.raw;
    assert!(!html.contains("<script>") && !html.contains("<b>not bold</b>"), "user text is escaped");
    assert!(html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"), "and shown as text");
    for shown in ["Demo Support", "Ticket #1", "open", "<html lang=\"en\">", "<time datetime="] {
        assert!(html.contains(shown), "the page shows {shown}");
    }
}

#[tokio::test]
async fn json_is_served_to_clients_that_ask_for_it() {
    let app = memory_app();
    let link = create(&app, "Enquiry about pricing").await;
    let reply = call(&app.app, get(&link, "application/json")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.body["collectionName"], "Demo Support");
    assert_eq!(reply.body["ticketNumber"], 1);
    assert_eq!(reply.body["title"], "Enquiry about pricing");
    assert_eq!(reply.body["message"], "Line 1\n<b>not bold</b> & more");
    assert_eq!(reply.body["status"], "open");
    assert!(reply.body["createdAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(reply.header("referrer-policy"), Some("no-referrer"));
}

#[tokio::test]
async fn a_wrong_key_is_the_same_404_as_a_missing_ticket_and_no_key_is_a_401() {
    let app = memory_app();
    let link = create(&app, "Secret").await;
    let (path, key) = link.split_once("?key=").unwrap();
    let mut wrong = key.to_owned().into_bytes();
    wrong[0] = if wrong[0] == b'a' { b'b' } else { b'a' };
    let wrong = String::from_utf8(wrong).unwrap();
    let cases = [
        format!("{path}?key={wrong}"),
        format!("{path}?key="),
        format!("{path}?key={key}extra"),
        format!("/ticket/demo-collection/99?key={key}"),
        format!("/ticket/other-collection/1?key={key}"),
        format!("/ticket/demo-collection/one?key={key}"),
        format!("/ticket/demo-collection/-1?key={key}"),
    ];
    let mut bodies = Vec::new();
    for url in &cases {
        let reply = call(&app.app, get(url, "application/json")).await;
        assert_eq!((reply.status.as_u16(), reply.code()), (404, Some("not_found")), "{url}");
        let mut body = reply.body.clone();
        body.as_object_mut().unwrap().remove("requestId");
        bodies.push(body);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "every refusal reads the same: {bodies:?}");
    let keyless = call(&app.app, get(path, "application/json")).await;
    assert_eq!(
        (keyless.status.as_u16(), keyless.code()),
        (401, Some("unauthorized")),
        "no credential at all is a 401 that is the same for every ticket, existing or not"
    );
    assert_eq!(call(&app.app, get(&link, "application/json")).await.status, 200, "the right key still works");
}

#[tokio::test]
async fn the_view_is_read_only_and_other_methods_are_405() {
    let app = memory_app();
    let link = create(&app, "Hi").await;
    let request = Request::delete(&link).body(lambda_http::Body::Empty).unwrap();
    let reply = call(&app.app, request).await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET,HEAD"));
}

#[tokio::test(flavor = "multi_thread")]
async fn chromium_shows_the_script_in_a_title_as_text_and_does_not_run_it() {
    let chromium = std::path::Path::new("/usr/bin/chromium");
    assert!(chromium.exists(), "Debian's chromium is missing: `make test` installs it (apt-get install chromium)");

    // The real router on 127.0.0.1, its private links pointing at itself.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = memory_app_at::<axum::body::Body>(&base);
    let service = axum::ServiceExt::<axum::http::Request<axum::body::Body>>::into_make_service(app.app.clone());
    let server = tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });

    let body = json!({"userEmail": "user@email.com", "title": SCRIPT_TITLE, "message": "Please explain"}).to_string();
    let request = Request::post("/ticket/demo-collection")
        .header("content-type", "application/json")
        .header("x-api-key", expected().keys.granted)
        .body(axum::body::Body::from(body))
        .unwrap();
    let reply = call(&app.app, request).await;
    let link = reply.body["privateUrl"].as_str().unwrap().to_owned();
    assert!(link.starts_with(&base));

    let shots = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let screenshot = shots.join("private-view.png");
    let _ = std::fs::remove_file(&screenshot);
    let profile = std::env::temp_dir().join(unique("chromium-profile"));
    let run = |extra: &[String]| {
        let out = Command::new(chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
            .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(&link)
            .output()
            .expect("chromium runs");
        assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dom = tokio::task::block_in_place(|| run(&["--dump-dom".into()]));
    tokio::task::block_in_place(|| {
        run(&[format!("--screenshot={}", screenshot.display()), "--window-size=900,700".into()])
    });
    server.abort();
    let _ = std::fs::remove_dir_all(&profile);

    assert!(
        dom.contains("<span id=\"title\">&lt;script&gt;document.title='pwned'"),
        "the title is shown as text:\n{dom}"
    );
    assert!(!dom.contains("<title>pwned</title>") && dom.contains("Ticket #1"), "the script did not run:\n{dom}");
    let png = std::fs::read(&screenshot).expect("chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 5_000, "a real screenshot ({} bytes)", png.len());
    println!("screenshot kept at {}", screenshot.display());
}
