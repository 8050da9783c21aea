//! Clients generated from openapi.yaml, as a user would make them: openapi-python-client 0.29.1 (pinned in
//! tools/client-requirements.txt) and openapi-typescript 7.13.0 (tools/package-lock.json). Every response of
//! every operation, errors included, must come out typed as its schema (tools/check-clients.py says how that is
//! checked), and the generated Python client must parse the running API's answers into those types.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use crate::helpers::*;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// tools/check-clients.py on `spec`, in a fresh directory; with `live`, against that base URL and API key.
fn check(spec: &Path, live: Option<(&str, &str)>) -> (Output, PathBuf) {
    let venv = root().join(".tools/client-venv/bin");
    assert!(
        venv.join("openapi-python-client").exists(),
        "the client generator is missing: run the tests with `make test`"
    );
    let work = std::env::temp_dir().join(unique("clients"));
    std::fs::create_dir_all(&work).unwrap();
    let mut command = Command::new(venv.join("python"));
    command
        .arg(root().join("tools/check-clients.py"))
        .arg(spec)
        .arg(&work)
        .arg(root().join("tools/node_modules"))
        // The generator runs ruff (from the same venv) over what it writes.
        .env("PATH", format!("{}:{}", venv.display(), std::env::var("PATH").unwrap_or_default()))
        .current_dir(&work);
    if let Some((base, key)) = live {
        command.args([base, key]);
    }
    (command.output().expect("the checker runs"), work)
}

#[tokio::test(flavor = "multi_thread")]
async fn both_generated_clients_type_every_response_and_the_python_one_reads_the_running_api() {
    let sdk = sdk().await;
    let store = seeded_dynamo_store(&sdk, &["team@example.com"]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let service = ticket_api::service::TicketService::new(local_ports(store, &sdk), base.clone());
    let app = ticket_api::driving::http::app::<axum::body::Body, _>(Arc::new(service));
    let make_service = axum::ServiceExt::<axum::http::Request<axum::body::Body>>::into_make_service(app);
    let server = tokio::spawn(async move { axum::serve(listener, make_service).await.unwrap() });

    let (out, work) =
        tokio::task::block_in_place(|| check(&root().join("openapi.yaml"), Some((&base, &expected().keys.granted))));
    server.abort();
    let _ = std::fs::remove_dir_all(&work);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the generated clients fall short:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report.lines().count(), 3, "python, typescript, and the live run: {report}");
    println!("{report}");
}

/// The check is not one that passes whatever: the `allOf` + `const` refinement of `Problem` that
/// openapi-python-client cannot merge makes the 422s of the replies and status changes disappear from the Python
/// client and changes their TypeScript type, and both are reported.
#[test]
fn a_spec_with_an_allof_const_refinement_is_reported_untyped() {
    let spec = std::fs::read_to_string(root().join("openapi.yaml")).unwrap();
    let typed = "      content:\n        application/problem+json:\n          schema: { $ref: \"#/components/schemas/ValidationProblem\" }";
    assert!(spec.contains(typed), "the ValidationFailed response reads as this test expects");
    let refined = spec.replace(
        typed,
        "      content:\n        application/problem+json:\n          schema:\n            allOf:\n              - { $ref: \"#/components/schemas/Problem\" }\n              - { properties: { status: { const: 422 } } }",
    );
    let dir = std::env::temp_dir().join(unique("refined-spec"));
    std::fs::create_dir_all(&dir).unwrap();
    let broken = dir.join("openapi.yaml");
    std::fs::write(&broken, refined).unwrap();
    let (out, work) = check(&broken, None);
    let _ = std::fs::remove_dir_all(&work);
    let _ = std::fs::remove_dir_all(&dir);
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a refined spec passed:\n{}", String::from_utf8_lossy(&out.stdout));
    assert!(errors.contains("python: addMessage has no branch for 422"), "{errors}");
    assert!(errors.contains("typescript: the types are not the spec's"), "{errors}");
}
