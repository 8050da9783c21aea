//! `ticketctl` as an operator runs it, against DynamoDB Local and the SES stand-in: tables, collections, keys
//! (shown once, listed by last four, revoked), tickets, the outbox (what is undelivered, and why; re-sending
//! what failed for good), and `--help` on every command.

use std::process::Command;
use std::sync::Arc;

use crate::helpers::*;
use serde_json::Value;

#[tokio::test]
async fn an_operator_sets_up_a_collection_and_key_that_the_api_accepts_then_revokes_it() {
    let ctl = Ctl::new();
    assert!(ctl.ok(&["init"]).contains("created tables"));
    assert!(ctl.ok(&["init"]).contains("already exist"), "init is safe to run twice");

    let team = format!("{}@example.com", unique("team"));
    let collection = ctl.json(&["collections", "create", "--name", "Acme Support", "--notify", &team]);
    let id = collection["collectionId"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 24);
    assert_eq!(collection["ticketingEnabled"], true);
    assert!(ctl.ok(&["collections", "list"]).contains("Acme Support"));

    let created = ctl.json(&["keys", "create", "--name", "website form", "--collection", &id]);
    let key = created["apiKey"].as_str().unwrap().to_owned();
    assert!(key.starts_with("tkapi_"));
    assert_eq!(created["last4"], &key[key.len() - 4..]);
    let listed = ctl.ok(&["keys", "list"]);
    assert!(listed.contains(&key[key.len() - 4..]) && !listed.contains(&key), "listed by last four, never whole");

    // The API, on the same tables, accepts the key; SES refuses the team's address for good, this once.
    let sdk = sdk().await;
    let store = ticket_api::driven::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), ctl.tables.clone());
    let mailer = Arc::new(Refusing { inner: ses_mailer(&sdk), refused: std::sync::Mutex::new(vec![team.clone()]) });
    let service = Arc::new(
        ticket_api::service::TicketService::new(local_ports(store, &sdk).with_mailer(mailer.clone()), BASE_URL)
            .with_delivery(prompt_delivery()),
    );
    let app = ticket_api::driving::http::app::<lambda_http::Body, _>(service.clone());
    let requester = format!("{}@email.com", unique("user"));
    let reply = call(&app, create_request(&id, Some(&key), "application/json", &good_body(&requester))).await;
    assert_eq!(reply.status, 201, "{}", reply.raw);

    let tickets = ctl.json(&["tickets", "list", &id]);
    assert_eq!(tickets[0]["ticketNumber"], 1);
    assert_eq!(tickets[0]["status"], "open");
    let shown = ctl.json(&["tickets", "show", &id, "1"]);
    assert_eq!(shown["ticket"]["userEmail"], requester.as_str());
    assert_eq!(shown["thread"][0]["message"], "Please explain about the pricing plans");
    let states: Vec<&str> =
        shown["mail"].as_array().unwrap().iter().map(|m| m["mailState"].as_str().unwrap()).collect();
    assert_eq!(states, ["pending", "pending"], "the create wrote its e-mails, the outbox sends them");
    let link_key = reply.body["privateUrl"].as_str().unwrap().rsplit("key=").next().unwrap().to_owned();
    assert!(!shown.to_string().contains(&link_key), "no working link in ticketctl's output");
    let undelivered = ctl.ok(&["mail", "list", &id]);
    assert!(undelivered.contains("pending") && undelivered.contains("not tried yet"), "{undelivered}");

    // The sweep sends what is due: the requester's goes out, the team's is refused for good, with its reason.
    deliver_now(&service).await;
    let undelivered = ctl.json(&["mail", "list", &id]);
    assert_eq!(undelivered.as_array().unwrap().len(), 1, "{undelivered}");
    assert_eq!(undelivered[0]["mailState"], "failed");
    assert_eq!(undelivered[0]["to"], team.as_str());
    assert!(undelivered[0]["lastError"].as_str().unwrap().contains("rejected"), "{undelivered}");
    assert!(ctl.ok(&["mail", "list"]).contains("rejected"), "every collection's outbox, with the reason");

    // Once the cause is fixed, the operator re-sends it: the stream delivers it, once; the requester's is not
    // repeated.
    mailer.refused.lock().unwrap().clear();
    let function = Arc::new(ticket_api::driving::Function::new(service.clone()));
    let _stream = start_stream(&sdk, service.store(), function, ticket_api::driving::stream::MAPPING).await;
    assert!(ctl.ok(&["mail", "resend", &id]).contains("re-sent 1 e-mail"));
    assert_eq!(wait_for_mail(&team, 1, std::time::Duration::from_secs(10)).await.len(), 1);
    assert!(ctl.ok(&["mail", "list", &id]).contains("every e-mail is delivered"));
    assert!(ctl.ok(&["mail", "resend", &id, "1"]).contains("nothing failed for good"));
    assert_eq!(mailbox(&team).await.len(), 1);
    assert_eq!(mailbox(&requester).await.len(), 1);

    ctl.ok(&["collections", "update", &id, "--disable"]);
    let reply = call(&app, create_request(&id, Some(&key), "application/json", &good_body(&requester))).await;
    assert_eq!(reply.code(), Some("ticketing_disabled"));
    ctl.ok(&["collections", "update", &id, "--enable"]);

    let key_id = created["keyId"].as_str().unwrap();
    ctl.ok(&["keys", "revoke", key_id]);
    assert!(ctl.ok(&["keys", "list"]).contains("revoked"));
    // A process that has not cached the key refuses it at once (a warm one within the cache TTL: see the
    // key cache tests).
    let store = ticket_api::driven::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), ctl.tables.clone());
    let fresh = ticket_api::driving::http::app::<lambda_http::Body, _>(Arc::new(local_service(store, &sdk)));
    let reply = call(&fresh, create_request(&id, Some(&key), "application/json", &good_body(&requester))).await;
    assert_eq!(reply.code(), Some("unauthorized"), "a revoked key is refused");
}

#[test]
fn ticketctl_refuses_bad_input_with_a_message() {
    let ctl = Ctl::new();
    for (args, says) in [
        (vec!["collections", "create", "--name", "X", "--notify", "not-an-address"], "--notify"),
        (vec!["collections", "create", "--name", "X", "--id", "bad/id"], "not a collection id"),
        (vec!["keys", "revoke", "no-such-key"], "no API key with id"),
    ] {
        ctl.ok(&["init"]);
        let out = ctl.run(&args);
        assert!(!out.status.success(), "{args:?} must fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

#[test]
fn every_ticketctl_command_has_help() {
    let ctl = Ctl::new();
    let commands: [&[&str]; 15] = [
        &[],
        &["init"],
        &["collections"],
        &["collections", "create"],
        &["collections", "list"],
        &["collections", "update"],
        &["keys"],
        &["keys", "create"],
        &["keys", "list"],
        &["keys", "revoke"],
        &["tickets", "list"],
        &["tickets", "show"],
        &["mail"],
        &["mail", "list"],
        &["mail", "resend"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let help = ctl.ok(&args);
        assert!(help.contains("Usage: ticketctl"), "{command:?}: {help}");
    }
}

#[tokio::test]
async fn ticketctl_finds_tables_and_pepper_from_a_deployed_stacks_outputs() {
    let ctl = Ctl::new();
    ctl.ok(&["init"]);
    let sdk = sdk().await;
    stack_var("AWS_ENDPOINT_URL_CLOUDFORMATION");
    let secret_arn = pepper_secret(&sdk).await;
    // A stack with the outputs template.yaml declares, in moto's CloudFormation.
    let outputs = serde_json::json!({
        "ApiKeysTableName": {"Value": ctl.tables.api_keys},
        "CollectionsTableName": {"Value": ctl.tables.collections},
        "TicketsTableName": {"Value": ctl.tables.tickets},
        "LimitsTableName": {"Value": ctl.tables.limits},
        "IdempotencyTableName": {"Value": ctl.tables.idempotency},
        "SuppressionsTableName": {"Value": ctl.tables.suppressions},
        "ApiKeyPepperSecretArn": {"Value": secret_arn},
        "SenderEmail": {"Value": SENDER},
        "PublicBaseUrl": {"Value": BASE_URL},
    });
    let template = serde_json::json!({"Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}}, "Outputs": outputs});
    let stack = unique("ticket-api");
    aws_sdk_cloudformation::Client::new(&sdk)
        .create_stack()
        .stack_name(&stack)
        .template_body(template.to_string())
        .send()
        .await
        .expect("moto creates the stack");

    let with_stack = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ticketctl"))
            .args(["--json", "--stack", &stack])
            .args(args)
            .env_remove("API_KEYS_TABLE")
            .env_remove("COLLECTIONS_TABLE")
            .env_remove("TICKETS_TABLE")
            .env_remove("LIMITS_TABLE")
            .env_remove("IDEMPOTENCY_TABLE")
            .env_remove("SUPPRESSIONS_TABLE")
            .env_remove("API_KEY_PEPPER")
            .env_remove("SENDER_EMAIL")
            .env_remove("PUBLIC_BASE_URL")
            .output()
            .unwrap();
        assert!(out.status.success(), "ticketctl --stack {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let collection = with_stack(&["collections", "create", "--name", "Deployed"]);
    let id = collection["collectionId"].as_str().unwrap();
    let key = with_stack(&["keys", "create", "--name", "first key", "--collection", id]);

    // The key was hashed with the stack's pepper: the service, on the same tables and pepper, accepts it.
    let store = ticket_api::driven::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), ctl.tables.clone());
    let app = ticket_api::driving::http::app::<lambda_http::Body, _>(Arc::new(local_service(store, &sdk)));
    let reply =
        call(&app, create_request(id, key["apiKey"].as_str(), "application/json", &good_body("u@email.com"))).await;
    assert_eq!(reply.status, 201, "{}", reply.raw);
    assert!(ctl.ok(&["collections", "list"]).contains("Deployed"), "the same tables as the stack names");
    // The links it prints are of the stack's public address.
    let rotated = with_stack(&["tickets", "rotate-links", id, "1"]);
    assert!(rotated["privateUrl"].as_str().unwrap().starts_with(&format!("{BASE_URL}/ticket/{id}/1?key=")));
}

/// Delegates to SES, but refuses the addresses it is told to for good, as SES refuses a rejected address.
struct Refusing<M> {
    inner: M,
    refused: std::sync::Mutex<Vec<String>>,
}

impl<M: ticket_api::ports::Mailer> ticket_api::ports::Mailer for Refusing<M> {
    async fn send(&self, email: &ticket_api::domain::OutgoingEmail) -> Result<String, ticket_api::ports::SendError> {
        if self.refused.lock().unwrap().iter().any(|r| r == email.to.as_str()) {
            let refusal = ticket_api::ports::Failure::new("MessageRejected", "injected: the address was rejected");
            return Err(ticket_api::ports::SendError::Permanent(refusal));
        }
        self.inner.send(email).await
    }

    async fn max_send_rate(&self) -> Result<f64, ticket_api::ports::Unavailable> {
        self.inner.max_send_rate().await
    }
}

#[tokio::test]
async fn an_operator_lists_suppressed_addresses_and_lifts_one() {
    use ticket_api::ports::SuppressionStore as _;
    let ctl = Ctl::new();
    ctl.ok(&["init"]);
    assert!(ctl.ok(&["suppressions", "list"]).contains("no address is suppressed"));
    let sdk = sdk().await;
    let store = ticket_api::driven::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), ctl.tables.clone());
    for (address, reason) in [("Bounced@Example.com", "bounce"), ("angry@example.com", "complaint")] {
        let suppression = ticket_api::domain::Suppression {
            address: ticket_api::domain::Email::parse(address).unwrap(),
            reason: reason.into(),
            detail: format!("{reason} detail"),
            at: now().rfc3339(),
            mail: "demo-collection_1_1_0".into(),
        };
        store.suppress(&suppression).await.unwrap();
    }
    let listed = ctl.ok(&["suppressions", "list"]);
    assert!(listed.contains("Bounced@Example.com") && listed.contains("complaint"), "{listed}");
    let json: Value = ctl.json(&["suppressions", "list"]);
    assert_eq!(json.as_array().unwrap().len(), 2);
    // Addresses compare case-blind: the lift finds the address however it is written.
    assert!(ctl.ok(&["suppressions", "lift", "bounced@example.com"]).contains("may be sent to again"));
    assert!(ctl.ok(&["suppressions", "lift", "bounced@example.com"]).contains("was not suppressed"));
    let left = store.suppressions().await.unwrap();
    assert_eq!(left.iter().map(|s| s.address.as_str()).collect::<Vec<_>>(), ["angry@example.com"]);
    let refused = ctl.run(&["suppressions", "lift", "not an address"]);
    assert!(!refused.status.success(), "a malformed address is refused");
}
