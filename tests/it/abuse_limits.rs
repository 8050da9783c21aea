//! Abuse limits on DynamoDB Local and the SES stand-in, set per collection with `ticketctl`: tickets per API key
//! and per requester address per hour. Past a limit the answer is 429 with `Retry-After` and the `RateLimit`
//! headers, and nothing is taken: no ticket, no number, no e-mail. (That the check adds no round trip is
//! counted in tests/round_trips.rs, whose creates are checked against the limits too.)

use std::sync::Arc;

use crate::helpers::*;

/// The `t=` (seconds to reset) of a `RateLimit` header, which must name `policy`.
fn reset_of(reply: &Reply, policy: &str) -> u64 {
    let header = reply.header("ratelimit").unwrap_or_else(|| panic!("no RateLimit header: {:?}", reply.headers));
    assert!(header.starts_with(&format!("\"{policy}\";")), "RateLimit names {policy}: {header}");
    header.rsplit_once(";t=").and_then(|(_, t)| t.parse().ok()).unwrap_or_else(|| panic!("no t= in {header}"))
}

#[tokio::test]
async fn creates_past_a_limit_set_with_ticketctl_get_429_and_take_nothing() {
    let ctl = Ctl::new();
    ctl.ok(&["init"]);
    let team = format!("{}@example.com", unique("team"));
    let collection = ctl.json(&[
        "collections",
        "create",
        "--name",
        "Limited Support",
        "--notify",
        &team,
        "--limit-per-key",
        "3",
        "--limit-per-requester",
        "2",
    ]);
    assert_eq!(
        collection["rateLimits"],
        serde_json::json!({
            "perKey": 3,
            "perRequester": 2,
            "perTicketReplies": 20,
            "perTicketTeamLink": 100,
            "newRequesters": 200
        })
    );
    let id = collection["collectionId"].as_str().unwrap().to_owned();
    let key =
        ctl.json(&["keys", "create", "--name", "form", "--collection", &id])["apiKey"].as_str().unwrap().to_owned();

    let sdk = sdk().await;
    let store = ticket_api::driven::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), ctl.tables.clone());
    let service = Arc::new(local_service(store, &sdk));
    let app = ticket_api::driving::http::app::<lambda_http::Body, _>(service.clone());
    let create =
        |requester: &str| call(&app, create_request(&id, Some(&key), "application/json", &good_body(requester)));
    let ann = format!("{}@example.com", unique("ann"));
    let bob = format!("{}@example.com", unique("bob"));
    let cy = format!("{}@example.com", unique("cy"));

    // Two tickets from one address: both created, each saying what is left.
    for (n, left) in [(1, 1), (2, 0)] {
        let reply = create(&ann).await;
        assert_eq!((reply.status.as_u16(), reply.body["ticketNumber"].as_u64()), (201, Some(n)), "{}", reply.raw);
        assert_eq!(
            reply.header("ratelimit-policy"),
            Some(r#""per-key";q=3;w=3600, "per-requester";q=2;w=3600, "new-requesters";q=200;w=3600"#)
        );
        assert!(reply.header("ratelimit").unwrap().starts_with(&format!("\"per-requester\";r={left};t=")));
    }

    // The third, from the same address written in capitals: 429, and the client is told when to come back.
    let refused = create(&ann.to_uppercase()).await;
    assert_eq!(refused.status, 429, "{}", refused.raw);
    assert_eq!(refused.code(), Some("rate_limited"));
    assert_eq!(refused.header("content-type"), Some("application/problem+json"));
    assert!(refused.body["detail"].as_str().unwrap().contains("2 tickets per hour"), "{}", refused.raw);
    let reset = reset_of(&refused, "per-requester");
    assert!((1..=3600).contains(&reset), "t={reset}");
    assert_eq!(refused.header("retry-after"), Some(reset.to_string().as_str()), "Retry-After is the reset");
    assert!(refused.header("ratelimit").unwrap().contains(";r=0;"));

    // Another address goes on, and gets the next number: the refusal took none. The key is now used up.
    let reply = create(&bob).await;
    assert_eq!(reply.body["ticketNumber"], 3, "{}", reply.raw);
    assert!(reply.header("ratelimit").unwrap().starts_with("\"per-key\";r=0;"), "the tightest limit is shown");
    let refused = create(&cy).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (429, Some("rate_limited")), "{}", refused.raw);
    assert!(refused.body["detail"].as_str().unwrap().contains("API key may create 3 tickets per hour"));
    reset_of(&refused, "per-key");

    // Nothing of the refused creates exists: three tickets, three numbers, e-mails only for those.
    deliver_now(&service).await;
    let tickets = ctl.json(&["tickets", "list", &id]);
    assert_eq!(tickets.as_array().unwrap().len(), 3);
    assert_eq!(ctl.json(&["collections", "list"])[0]["lastTicketNumber"], 3);
    assert_eq!(mailbox(&ann).await.len(), 2, "no e-mail for the refused create");
    assert_eq!(mailbox(&cy).await.len(), 0);
    assert_eq!(mailbox(&team).await.len(), 3);

    // The operator raises the key's limit: it holds from the next create, with no restart and no cache.
    ctl.ok(&["collections", "update", &id, "--limit-per-key", "10"]);
    let reply = create(&cy).await;
    assert_eq!(reply.body["ticketNumber"], 4, "{}", reply.raw);

    // The collection's addresses new to the hour: ann, bob and cy are three. At three, a fourth address is
    // refused, whatever the key and the address have left; an address seen this hour goes on.
    ctl.ok(&["collections", "update", &id, "--limit-new-requesters", "3"]);
    let dee = format!("{}@example.com", unique("dee"));
    let refused = create(&dee).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (429, Some("rate_limited")), "{}", refused.raw);
    assert!(refused.body["detail"].as_str().unwrap().contains("3 addresses new to the hour"), "{}", refused.raw);
    reset_of(&refused, "new-requesters");
    let reply = create(&bob).await;
    assert_eq!(reply.body["ticketNumber"], 5, "a returning address is no new one: {}", reply.raw);
    assert_eq!(mailbox(&dee).await.len(), 0);
    println!(
        "abuse limits: 4 creates refused with 429 (the last as a 4th address new to the hour), numbers 1..=5 given \
         without a gap, 0 e-mails for refusals"
    );
}

#[test]
fn ticketctl_refuses_limits_outside_one_to_ten_thousand() {
    let ctl = Ctl::new();
    ctl.ok(&["init"]);
    for bad in ["0", "10001", "-1", "many"] {
        let out = ctl.run(&["collections", "create", "--name", "X", &format!("--limit-per-requester={bad}")]);
        assert!(!out.status.success(), "--limit-per-requester {bad} must be refused");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--limit-per-requester"), "{bad}: {stderr}");
    }
}
