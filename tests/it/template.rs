//! `template.yaml` against the code: cfn-lint (pinned 1.53.3) accepts it and refuses broken copies; the function
//! is given exactly the variables it reads; its IAM policy allows exactly the calls the adapters make.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::helpers::*;
use serde_json::Value;
use ticket_api::config::{Config, Env, PepperSource, Tables, Upstream, function_variables};
use ticket_api::driven::CallLog;
use ticket_api::ports::AdminStore;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn venv_bin(tool: &str) -> PathBuf {
    let path = root().join(".tools/venv/bin").join(tool);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `make test`, which installs the pinned tools",
        path.display()
    );
    path
}

fn cfn_lint(template: &Path) -> (bool, String) {
    let out = Command::new(venv_bin("cfn-lint")).arg(template).output().expect("cfn-lint runs");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

/// The template as JSON, intrinsics in long form (`{"Ref": …}`), decoded by cfn-lint once per test run.
fn template() -> Value {
    static DECODED: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let decoded = DECODED.get_or_init(|| {
        let out = Command::new(venv_bin("python"))
            .arg(root().join("scripts/template-json.py"))
            .arg(root().join("template.yaml"))
            .output()
            .expect("the template decoder runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    });
    decoded.clone()
}

fn function(template: &Value) -> &Value {
    &template["Resources"]["TicketFunction"]["Properties"]
}

#[test]
fn cfn_lint_accepts_the_template() {
    let (ok, output) = cfn_lint(&root().join("template.yaml"));
    assert!(ok, "cfn-lint refused template.yaml:\n{output}");
}

#[test]
fn cfn_lint_refuses_broken_copies_of_the_template() {
    let original = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let breaks = [
        ("an unknown runtime", "Runtime: provided.al2023", "Runtime: provided.al2099"),
        (
            "a policy naming a resource that does not exist",
            "Resource: !GetAtt ApiKeysTable.Arn",
            "Resource: !GetAtt NoSuchTable.Arn",
        ),
        (
            "an alarm with a comparison that does not exist",
            "ComparisonOperator: GreaterThanOrEqualToThreshold\n      TreatMissingData: notBreaching",
            "ComparisonOperator: AboutTheSameAs\n      TreatMissingData: notBreaching",
        ),
        ("an SES event destination without its event bus", "          EventBusArn: !Sub", "          EventBus: !Sub"),
        ("a dashboard without a body", "      DashboardBody: !Sub", "      DashboardBodyX: !Sub"),
        (
            "an alarm subscription without its topic",
            "      TopicArn: !Ref AlarmTopic\n      Protocol: email",
            "      Topic: !Ref AlarmTopic\n      Protocol: email",
        ),
        (
            "a table without a key schema type",
            "KeyType: HASH }\n      PointInTimeRecoverySpecification",
            "KeyType: SIDEWAYS }\n      PointInTimeRecoverySpecification",
        ),
    ];
    let dir = std::env::temp_dir().join(unique("template"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut copies = Vec::new();
    for (i, (what, from, to)) in breaks.iter().enumerate() {
        assert!(original.contains(from), "the break for {what} no longer applies: update this test");
        let broken = dir.join(format!("broken-{i}.yaml"));
        std::fs::write(&broken, original.replacen(from, to, 1)).unwrap();
        copies.push((*what, broken));
    }
    // One cfn-lint run for every copy (its start-up is most of its time); each problem line names its file.
    let out = Command::new(venv_bin("cfn-lint"))
        .args(["--format", "parseable"])
        .args(copies.iter().map(|(_, path)| path))
        .output()
        .expect("cfn-lint runs");
    assert!(!out.status.success(), "cfn-lint accepted every broken copy");
    let output = String::from_utf8_lossy(&out.stdout);
    for (what, path) in &copies {
        let prefix = format!("{}:", path.display());
        let problem = output.lines().find(|line| line.starts_with(&prefix));
        let problem = problem.unwrap_or_else(|| panic!("cfn-lint accepted a template with {what}:\n{output}"));
        println!("cfn-lint refused {what}: {}", &problem[prefix.len()..]);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_function_answers_every_request_before_lambda_cuts_it_off() {
    let template = template();
    let timeout = template["Globals"]["Function"]["Timeout"].as_u64().expect("a function timeout in Globals");
    let budget = ticket_api::driving::http::REQUEST_BUDGET;
    // Two seconds at least for the 503 to be written and the invocation's metrics flushed.
    assert!(
        std::time::Duration::from_secs(timeout) >= budget + std::time::Duration::from_secs(2),
        "the function's {timeout} s timeout leaves no room after the {budget:?} request budget"
    );
    // The code is told the same timeout, and the claims' lease outlasts it (config refuses it otherwise).
    let variables = &function(&template)["Environment"]["Variables"];
    assert_eq!(variables["FUNCTION_TIMEOUT_SECONDS"].as_str(), Some(timeout.to_string().as_str()));
    let lease: u64 = variables["MAIL_LEASE_SECONDS"].as_str().unwrap().parse().unwrap();
    assert!(lease > timeout, "a lease of {lease} s does not outlast an invocation of {timeout} s");
}

#[test]
fn the_function_is_given_exactly_the_variables_it_reads() {
    let template = template();
    let variables = function(&template)["Environment"]["Variables"].as_object().unwrap();
    let in_template: BTreeSet<&str> = variables.keys().map(String::as_str).collect();
    let in_code: BTreeSet<&str> = function_variables().collect();
    assert_eq!(in_template, in_code, "template.yaml and config::function_variables() disagree");

    // The configuration, read from what the template sets (intrinsics replaced by plausible values), is
    // complete, and asks for no variable the template does not set.
    let asked = Mutex::new(BTreeSet::new());
    let value_of = |name: &str| -> Option<String> {
        asked.lock().unwrap().insert(name.to_owned());
        variables.get(name).map(|v| match (name, v) {
            (_, Value::String(s)) => s.clone(),
            ("SENDER_EMAIL", _) => "support@example.com".into(),
            ("PUBLIC_BASE_URL", _) => "https://abc123.execute-api.eu-west-1.amazonaws.com".into(),
            ("MAIL_MAX_SEND_RATE", _) => "14".into(),
            ("INBOUND_DOMAIN", _) => "reply.support.example.com".into(),
            ("FILE_SCANNING", _) => "on".into(),
            _ => format!("resolved-{name}"),
        })
    };
    let config = Env(value_of).config().expect("the template's variables make a complete configuration");
    assert!(matches!(config.pepper, PepperSource::SecretsManager(_)), "on AWS the pepper comes from Secrets Manager");
    let asked = asked.into_inner().unwrap();
    let not_set: Vec<_> = asked
        .iter()
        .filter(|n| !variables.contains_key(n.as_str()) && !ticket_api::config::UNSET_IN_TEMPLATE.contains(&n.as_str()))
        .collect();
    assert!(not_set.is_empty(), "the function reads variables the template does not set: {not_set:?}");
}

/// A statement's resources, each named by the logical resource it points at (`TicketsTable/index/outbox` for an
/// index, `TicketsTable/stream/*` for its stream, `ses-identity` for the sender's identities, `*`).
fn resources_of(statement: &Value) -> Vec<String> {
    match &statement["Resource"] {
        Value::Array(list) => list.iter().map(|r| resource_of(statement, r)).collect(),
        one => vec![resource_of(statement, one)],
    }
}

fn resource_of(statement: &Value, resource: &Value) -> String {
    match resource {
        Value::String(star) if star == "*" => "*".to_owned(),
        Value::Object(o) if o.contains_key("Fn::GetAtt") => o["Fn::GetAtt"][0].as_str().unwrap().to_owned(),
        Value::Object(o) if o.contains_key("Ref") => o["Ref"].as_str().unwrap().to_owned(),
        Value::Object(o) if o["Fn::Sub"].as_str().is_some_and(|s| s.ends_with(":identity/*")) => {
            // Any identity, but only with the configured sender as From address.
            let condition = &statement["Condition"]["StringEquals"]["ses:FromAddress"];
            assert_eq!(condition["Ref"], "SenderEmail", "ses:SendEmail must be limited to the sender");
            "ses-identity".to_owned()
        }
        Value::Object(o)
            if o["Fn::Sub"].as_str().is_some_and(|s| s.ends_with(":configuration-set/${EmailConfigurationSet}")) =>
        {
            "EmailConfigurationSet".to_owned()
        }
        Value::Object(o) if o["Fn::Sub"].as_str().is_some_and(|s| s.starts_with("${TicketsTable.Arn}/")) => {
            o["Fn::Sub"].as_str().unwrap().replace("${TicketsTable.Arn}", "TicketsTable")
        }
        Value::Object(o) if o["Fn::Sub"].as_str().is_some_and(|s| s.starts_with("${InboundMailBucket.Arn}/")) => {
            o["Fn::Sub"].as_str().unwrap().replace("${InboundMailBucket.Arn}", "InboundMailBucket")
        }
        Value::Object(o) if o["Fn::Sub"].as_str().is_some_and(|s| s.starts_with("${FilesBucket.Arn}/")) => {
            o["Fn::Sub"].as_str().unwrap().replace("${FilesBucket.Arn}", "FilesBucket")
        }
        other => panic!("a statement with an unexpected resource: {other}"),
    }
}

/// (IAM action, logical resource) pairs.
type Grants = BTreeSet<(String, String)>;

/// The (IAM action, logical resource) pairs the template's policy allows: those for the code's own calls, and
/// those Lambda uses itself (statements named `EventSourceMapping…`, and `AsyncInvocation…` for the failed
/// asynchronous invocations' destination).
fn allowed(template: &Value) -> (Grants, Grants) {
    let (mut code, mut mapping) = (BTreeSet::new(), BTreeSet::new());
    for policy in function(template)["Policies"].as_array().unwrap() {
        for statement in policy["Statement"].as_array().unwrap() {
            // A statement made only with a feature on (`!If [HasInbound, …, NoValue]`): as deployed with it on.
            let statement = match statement.get("Fn::If") {
                Some(branches) => &branches[1],
                None => statement,
            };
            assert_eq!(statement["Effect"], "Allow");
            let resources = resources_of(statement);
            let sid = statement["Sid"].as_str().unwrap_or_default();
            let into = if sid.starts_with("EventSourceMapping") || sid.starts_with("AsyncInvocation") {
                &mut mapping
            } else {
                &mut code
            };
            for action in statement["Action"].as_array().unwrap() {
                for resource in &resources {
                    into.insert((action.as_str().unwrap().to_owned(), resource.clone()));
                }
            }
        }
    }
    (code, mapping)
}

#[tokio::test]
async fn the_policy_allows_exactly_the_calls_the_function_makes() {
    let sdk = sdk().await;
    let team = format!("{}@example.com", unique("team"));
    let store = seeded_dynamo_store(&sdk, &[&team]).await;
    let tables: Tables = store.tables().clone();
    let secret_id = pepper_secret(&sdk).await;
    let files_bucket = unique("files");
    s3(&sdk).create_bucket().bucket(&files_bucket).send().await.unwrap();
    let config = Config {
        tables: tables.clone(),
        sender_email: SENDER.into(),
        configuration_set: Some("ticket-api-test".into()),
        public_base_url: BASE_URL.into(),
        pepper: PepperSource::SecretsManager(secret_id),
        upstream: Upstream::default(),
        key_cache_ttl: std::time::Duration::ZERO,
        // The pace from the SES account (GetAccount), as deployed when MaxSendRate is empty.
        delivery: ticket_api::domain::DeliveryPolicy { max_send_rate: None, ..prompt_delivery() },
        send_timeout: ticket_api::config::DEFAULT_SEND_TIMEOUT,
        function_timeout: ticket_api::config::DEFAULT_FUNCTION_TIMEOUT,
        warm_up_connections: None,
        inbound_domain: Some(INBOUND_DOMAIN.into()),
        inbound_store: Some(ticket_api::config::InboundStore {
            bucket: inbound_bucket(&sdk).await,
            prefix: "inbound/".into(),
            path_style: true,
        }),
        webhooks_loopback: Default::default(),
        files: Some(ticket_api::config::FilesStore {
            stand_in_form_url: Some(format!("{}/{files_bucket}", std::env::var("AWS_ENDPOINT_URL_S3").unwrap())),
            bucket: files_bucket.clone(),
        }),
        file_scanning: true,
    };
    let log = CallLog::default();
    let service = std::sync::Arc::new(ticket_api::compose::service_on(&sdk, &config, Some(&log)).unwrap());
    let app = ticket_api::driving::http::app::<lambda_http::Body, _>(service.clone());

    // Every path the function has that reaches AWS: a create, and a refused body (which reads the collection).
    let key = expected().keys.granted;
    let created =
        call(&app, create_request("demo-collection", Some(&key), "application/json", &good_body("u@email.com"))).await;
    assert_eq!(created.status, 201);
    let refused = call(&app, create_request("demo-collection", Some(&key), "application/json", "{}")).await;
    assert_eq!(refused.status, 422);

    // Files: an upload asked for and posted through its form (S3 authorises the post as the function's role,
    // which signed it: a put under uploads/), a create with it (its first bytes read, copied under the ticket,
    // the upload deleted); its download below, after the e-mails (which attach it).
    let asked = axum::http::Request::post("/ticket/demo-collection/uploads")
        .header("content-type", "application/json")
        .header("x-api-key", key.as_str())
        .body(lambda_http::Body::from(r#"{"fileName": "n.txt", "contentType": "text/plain", "size": 5}"#))
        .unwrap();
    let upload = call(&app, asked).await;
    assert_eq!(upload.status, 201, "{}", upload.raw);
    let fields: Vec<(String, String)> = upload.body["form"]["fields"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(n, v)| (n.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let (media, form) = crate::attachments::multipart(&fields, "file", Some(("n.txt", "text/plain", b"notes")));
    let url = upload.body["form"]["url"].as_str().unwrap();
    assert!(
        reqwest::Client::new()
            .post(url)
            .header("content-type", media)
            .body(form)
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let with_file = serde_json::json!({"userEmail": "f@email.com", "title": "A file", "message": "Attached.",
        "attachments": [upload.body["uploadId"]]});
    let with_file =
        call(&app, create_request("demo-collection", Some(&key), "application/json", &with_file.to_string())).await;
    assert_eq!(with_file.status, 201, "{}", with_file.raw);

    // The idempotency paths: claim and complete, a replay, a claim released after a failed create, and a
    // repeat that polls a claim another process still holds (taken here through an unlogged client).
    let with_key = |collection: &str, idempotency_key: &str| {
        let mut request = create_request(collection, Some(&key), "application/json", &good_body("u@email.com"));
        request.headers_mut().insert("idempotency-key", idempotency_key.parse().unwrap());
        request
    };
    assert_eq!(call(&app, with_key("demo-collection", "k1")).await.status, 201);
    assert_eq!(call(&app, with_key("demo-collection", "k1")).await.header("idempotent-replayed"), Some("true"));
    assert_eq!(call(&app, with_key("gone-collection", "k2")).await.code(), Some("collection_not_found"));
    let fingerprint =
        ticket_api::domain::NewTicket::from_json(good_body("u@email.com").as_bytes()).unwrap().fingerprint();
    let now = now().secs();
    let held =
        ticket_api::domain::IdempotencyRecord::claim("demo-collection#granted#k3".into(), fingerprint, "n".into(), now);
    ticket_api::ports::IdempotencyStore::claim_idempotency(&store, &held, now).await.unwrap();
    assert_eq!(call(&app, with_key("demo-collection", "k3")).await.code(), Some("idempotency_in_progress"));

    // An abuse limit reached: the refusal reads the collection and takes back the count it made.
    let mut limited = store
        .get_collection(&ticket_api::domain::CollectionId::parse("demo-collection").unwrap())
        .await
        .unwrap()
        .unwrap();
    limited.rate_limits.per_requester = 1;
    store.update_collection(&limited).await.unwrap();
    let once = |user: &str| create_request("demo-collection", Some(&key), "application/json", &good_body(user));
    assert_eq!(call(&app, once("limited@email.com")).await.status, 201);
    assert_eq!(call(&app, once("limited@email.com")).await.status, 429);

    // The private view reads the ticket (its header, then its thread); a reply writes an entry with its
    // e-mails (and, from the requester, reads the collection and counts the reply); the team lists tickets.
    let link = created.body["privateUrl"].as_str().unwrap().strip_prefix(BASE_URL).unwrap().to_owned();
    let view = axum::http::Request::get(&link).body(lambda_http::Body::Empty).unwrap();
    assert_eq!(call(&app, view).await.status, 200);
    let (path, query) = link.split_once('?').unwrap();
    let reply = axum::http::Request::post(format!("{path}/messages?{query}"))
        .header("content-type", "application/json")
        .body(lambda_http::Body::from(r#"{"message": "Any news?"}"#))
        .unwrap();
    assert_eq!(call(&app, reply).await.status, 201);
    let list = axum::http::Request::get("/ticket/demo-collection?status=open")
        .header("x-api-key", key.as_str())
        .body(lambda_http::Body::Empty)
        .unwrap();
    assert_eq!(call(&app, list).await.status, 200);

    // Delivery: the sweep finds what is due in the outbox index, claims, reads, paces (GetAccount), sends and
    // records each e-mail.
    // Each send first reads the suppression list; an SES bounce moves the e-mail's record and suppresses its
    // address.
    let report = deliver_now(&service).await;
    assert!(report.sent >= 2, "the sweep delivered the e-mails: {report:?}");
    let demo = ticket_api::domain::CollectionId::parse("demo-collection").unwrap();
    let first_mail = ticket_api::domain::MailKey { collection_id: demo, ticket_number: 1, entry: 1, index: 0 };
    let bounce = ticket_api::domain::FeedbackEvent {
        mail: first_mail,
        feedback: ticket_api::domain::Feedback::Bounced {
            permanent: true,
            detail: "Permanent bounce (General)".into(),
        },
        recipients: vec![ticket_api::domain::Email::parse("u@email.com").unwrap()],
    };
    assert_eq!(
        service.record_feedback(&bounce).await.unwrap(),
        ticket_api::service::Recorded::Moved,
        "the bounce moved the e-mail's record"
    );

    // A reply by e-mail: SES stored the message, the function reads it (once) and records it.
    let delivered = wait_for_mail(&team, 1, std::time::Duration::from_secs(5)).await;
    let address = delivered[0]["replyTo"][0].as_str().expect("the e-mail has its reply address").to_owned();
    let bucket = &config.inbound_store.as_ref().unwrap().bucket;
    let raw = format!("From: {team}\r\nTo: {address}\r\nSubject: Re: x\r\n\r\nThe fix is live.\r\n");
    store_received(&sdk, bucket, "policy-reply", raw.into_bytes()).await;
    let receipt = ticket_api::domain::inbound::Receipt {
        message_id: "policy-reply".into(),
        recipients: vec![address],
        source: team.clone(),
        verdicts: ticket_api::domain::inbound::Verdicts::PASSED,
        dmarc_policy: ticket_api::domain::inbound::DmarcPolicy::None,
    };
    assert_eq!(service.receive(&receipt).await.unwrap(), [ticket_api::service::Received::Recorded]);
    // A reply by e-mail with a file (written under its ticket), then the same message again (its file, written
    // again, deleted when the entry is found recorded already).
    let raw = format!(
        "From: {team}\r\nTo: {}\r\nSubject: Re: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nThe log.\r\n--b\r\nContent-Type: text/plain; name=log.txt\r\n\
         Content-Disposition: attachment; filename=log.txt\r\n\r\nline\r\n--b--\r\n",
        receipt.recipients[0]
    );
    store_received(&sdk, bucket, "policy-file", raw.into_bytes()).await;
    let with_file = ticket_api::domain::inbound::Receipt { message_id: "policy-file".into(), ..receipt.clone() };
    assert_eq!(service.receive(&with_file).await.unwrap(), [ticket_api::service::Received::Recorded]);
    assert_eq!(service.receive(&with_file).await.unwrap(), [ticket_api::service::Received::AlreadyRecorded]);
    // The file's download (scanning is on: its scan read first).
    let view = axum::http::Request::get("/ticket/demo-collection/2")
        .header("x-api-key", key.as_str())
        .body(lambda_http::Body::Empty)
        .unwrap();
    let view = call(&app, view).await;
    let file =
        view.body["thread"][0]["attachments"][0]["url"].as_str().unwrap().strip_prefix(BASE_URL).unwrap().to_owned();
    let download =
        axum::http::Request::get(file).header("x-api-key", key.as_str()).body(lambda_http::Body::Empty).unwrap();
    assert_eq!(call(&app, download).await.code(), Some("file_scanning"));

    let logical: BTreeMap<&str, &str> = BTreeMap::from([
        (tables.api_keys.as_str(), "ApiKeysTable"),
        (tables.collections.as_str(), "CollectionsTable"),
        (tables.tickets.as_str(), "TicketsTable"),
        (tables.limits.as_str(), "LimitsTable"),
        (tables.idempotency.as_str(), "IdempotencyTable"),
        (tables.suppressions.as_str(), "SuppressionsTable"),
    ]);
    let mut called = BTreeSet::new();
    for c in log.calls() {
        for (action, table, index) in c.iam() {
            let resource = match (c.service.as_str(), table, index, action.as_str()) {
                ("DynamoDB", Some(table), Some(index), _) => format!("{}/index/{index}", logical[table.as_str()]),
                ("DynamoDB", Some(table), None, _) => logical[table.as_str()].to_owned(),
                // With a configuration set, a send needs it too.
                ("SESv2", _, _, "ses:SendEmail") => {
                    called.insert((action.clone(), "EmailConfigurationSet".to_owned()));
                    "ses-identity".to_owned()
                }
                ("SESv2", _, _, _) => "*".to_owned(),
                ("Secrets Manager", _, _, _) => "ApiKeyPepper".to_owned(),
                ("S3", Some(object), _, _) => match object.split_once('/') {
                    Some((bucket, key)) if *bucket == config.files.as_ref().unwrap().bucket => {
                        format!("FilesBucket/{}/*", key.split('/').next().unwrap())
                    }
                    _ => "InboundMailBucket/inbound/*".to_owned(),
                },
                other => panic!("an AWS call the test does not know how to map: {other:?}"),
            };
            called.insert((action, resource));
        }
    }
    // The upload's post: S3 checks it against the role that signed the form.
    called.insert(("s3:PutObject".to_owned(), "FilesBucket/uploads/*".to_owned()));
    // No call of its own: S3 answers a missing key 404 (not 403) only to a role that may list the bucket, and a
    // missing upload or file is a 422 or a 404, not an outage.
    called.insert(("s3:ListBucket".to_owned(), "FilesBucket".to_owned()));
    let (allowed, mapping) = allowed(&template());
    let missing: Vec<_> = called.difference(&allowed).collect();
    let unused: Vec<_> = allowed.difference(&called).collect();
    assert!(missing.is_empty(), "the code calls what the policy does not allow: {missing:?}");
    assert!(unused.is_empty(), "the policy allows what the code never calls (least privilege): {unused:?}");
    println!("policy = calls = {called:?}");

    // The event source mappings may read the tickets table's stream and send to its dead-letter queue, and read
    // the SES events' queue and the replies' queue; Lambda may send a failed asynchronous invocation to its queue:
    // no more.
    let stream = "TicketsTable/stream/*".to_owned();
    let needed: BTreeSet<(String, String)> = ["DescribeStream", "GetRecords", "GetShardIterator", "ListStreams"]
        .iter()
        .map(|a| (format!("dynamodb:{a}"), stream.clone()))
        .chain([("sqs:SendMessage".to_owned(), "StreamDeadLetterQueue".to_owned())])
        .chain(["SesEventsQueue", "RepliesQueue"].iter().flat_map(|queue| {
            ["ReceiveMessage", "DeleteMessage", "GetQueueAttributes"]
                .iter()
                .map(move |a| (format!("sqs:{a}"), (*queue).to_owned()))
        }))
        .chain([("sqs:SendMessage".to_owned(), "AsyncFailuresQueue".to_owned())])
        .collect();
    assert_eq!(mapping, needed, "the event source mappings' permissions");
}

#[test]
fn the_event_source_mapping_is_the_one_the_code_and_the_local_stand_in_follow() {
    let template = template();
    for (resource, rules) in [
        ("TicketsStreamMapping", ticket_api::driving::stream::MAPPING),
        ("TicketsHookMapping", ticket_api::driving::stream::WEBHOOK_MAPPING),
    ] {
        mapping_follows(&template["Resources"][resource]["Properties"], rules);
    }
    let stream = &template["Resources"]["TicketsTable"]["Properties"]["StreamSpecification"]["StreamViewType"];
    assert_eq!(stream, "NEW_IMAGE", "the filter and the handler read new images");
    // Time to act on a dead letter: SQS's longest retention, 14 days.
    let queue = &template["Resources"]["StreamDeadLetterQueue"]["Properties"];
    assert_eq!(queue["MessageRetentionPeriod"], 14 * 24 * 3600);
    // Replies reach the function through their queue: SES's S3 action publishes each receipt to a topic that
    // delivers it raw to the queue, whose redrive is the policy the code and the local stand-in follow.
    use ticket_api::driving::ses_receipts::{RECEIPTS_MAX_RECEIVES, RECEIPTS_VISIBILITY};
    let resources = &template["Resources"];
    let actions = &resources["InboundRule"]["Properties"]["Rule"]["Actions"];
    assert_eq!(actions.as_array().map(Vec::len), Some(1), "one action: {actions}");
    assert_eq!(actions[0]["S3Action"]["TopicArn"]["Ref"], "RepliesTopic", "the receipt published to the topic");
    let replies = &resources["RepliesQueue"]["Properties"];
    assert_eq!(replies["VisibilityTimeout"], RECEIPTS_VISIBILITY.as_secs());
    assert_eq!(replies["RedrivePolicy"]["maxReceiveCount"], RECEIPTS_MAX_RECEIVES);
    assert_eq!(replies["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0], "RepliesDeadLetterQueue");
    assert_eq!(resources["RepliesSubscription"]["Properties"]["RawMessageDelivery"], true);
    let mapping = &resources["RepliesMapping"]["Properties"];
    assert_eq!(mapping["FunctionResponseTypes"], serde_json::json!(["ReportBatchItemFailures"]));
    assert_eq!(
        resources["RepliesDeadLetterAlarm"]["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0],
        "RepliesDeadLetterQueue"
    );
    let sweep = &function(&template)["Events"]["Sweep"];
    assert_eq!(
        (sweep["Type"].as_str(), sweep["Properties"]["Schedule"].as_str()),
        (Some("Schedule"), Some("rate(1 minute)"))
    );
}

/// A stream mapping of the template is the one the code and the local stand-in follow.
fn mapping_follows(mapping: &Value, rules: ticket_api::driving::stream::MappingRules) {
    assert_eq!(mapping["EventSourceArn"]["Fn::GetAtt"], serde_json::json!(["TicketsTable", "StreamArn"]));
    assert_eq!(mapping["FunctionName"]["Ref"], "TicketFunction");
    assert_eq!(mapping["BatchSize"], rules.batch_size);
    assert_eq!(mapping["MaximumRetryAttempts"], rules.max_retries);
    assert_eq!(mapping["MaximumRecordAgeInSeconds"], rules.max_record_age.as_secs());
    assert_eq!(mapping["BisectBatchOnFunctionError"], rules.bisect_on_error);
    assert_eq!(mapping["FunctionResponseTypes"], serde_json::json!(["ReportBatchItemFailures"]));
    assert_eq!(
        mapping["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"],
        serde_json::json!(["StreamDeadLetterQueue", "Arn"])
    );
    let pattern: Value =
        serde_json::from_str(mapping["FilterCriteria"]["Filters"][0]["Pattern"].as_str().unwrap()).unwrap();
    let code: Value = serde_json::from_str(rules.filter).unwrap();
    assert_eq!(pattern, code, "the template filters the stream as src/schema.rs says");
}

#[test]
fn the_tables_in_the_template_are_the_layouts_of_the_schema_module() {
    // Each table the function is given (`*_TABLE: !Ref …`) has exactly the layout `src/schema.rs` gives it, which
    // the adapters, the memory store and `ticketctl init` read: keys, their types, indexes, stream and TTL.
    use ticket_api::schema::{KeyAttribute, Table};
    let template = template();
    let variables = &function(&template)["Environment"]["Variables"];
    let attribute = |a: &KeyAttribute| (a.name.to_owned(), a.kind.as_str().to_owned());
    let key_of = |t: &Value| -> Vec<(String, String)> {
        t["KeySchema"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| (k["AttributeName"].as_str().unwrap().to_owned(), k["KeyType"].as_str().unwrap().to_owned()))
            .collect()
    };
    let key = |hash: &KeyAttribute, range: Option<&KeyAttribute>| -> Vec<(String, String)> {
        let mut key = vec![(hash.name.to_owned(), "HASH".to_owned())];
        key.extend(range.map(|r| (r.name.to_owned(), "RANGE".to_owned())));
        key
    };
    for table in Table::ALL {
        let logical = variables[Tables::variable(table)]["Ref"].as_str().expect("each table variable is a !Ref");
        let properties = &template["Resources"][logical]["Properties"];
        let layout = table.layout();
        assert_eq!(key_of(properties), key(&layout.hash, layout.range.as_ref()), "{logical}'s key");
        let defined: BTreeSet<(String, String)> = properties["AttributeDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["AttributeName"].as_str().unwrap().to_owned(), d["AttributeType"].as_str().unwrap().to_owned()))
            .collect();
        let wanted: BTreeSet<(String, String)> = table.key_attributes().iter().map(attribute).collect();
        assert_eq!(defined, wanted, "{logical}'s attribute definitions");
        let indexes: BTreeMap<String, (Vec<(String, String)>, Value)> = properties["GlobalSecondaryIndexes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| (i["IndexName"].as_str().unwrap().to_owned(), (key_of(i), i["Projection"].clone())))
            .collect();
        let wanted: BTreeMap<String, (Vec<(String, String)>, Value)> = layout
            .indexes
            .iter()
            .map(|i| (i.name.to_owned(), (key(&i.hash, Some(&i.range)), serde_json::json!({"ProjectionType": "ALL"}))))
            .collect();
        assert_eq!(indexes, wanted, "{logical}'s indexes");
        let stream = properties["StreamSpecification"]["StreamViewType"].as_str();
        assert_eq!(stream, layout.stream.then_some("NEW_IMAGE"), "{logical}'s stream");
        let ttl = &properties["TimeToLiveSpecification"];
        assert_eq!(ttl["AttributeName"].as_str(), layout.ttl, "{logical}'s TTL attribute");
        assert_eq!(ttl["Enabled"].as_bool(), layout.ttl.map(|_| true), "{logical}'s TTL is on");
        println!("{logical}: {:?}", key(&layout.hash, layout.range.as_ref()));
    }
}

/// Every metric of the function's own namespace that an alarm or the dashboard names, with the dimensions it
/// names it by. The dashboard's body is JSON once its `${…}` are substituted.
fn metrics_named(template: &Value) -> Vec<(String, String, Vec<String>)> {
    let mut named = Vec::new();
    for (name, resource) in template["Resources"].as_object().unwrap() {
        let properties = &resource["Properties"];
        match resource["Type"].as_str() {
            Some("AWS::CloudWatch::Alarm") => {
                let mut stats = vec![properties.clone()];
                for m in properties["Metrics"].as_array().into_iter().flatten() {
                    if let Some(metric) = m["MetricStat"]["Metric"].as_object() {
                        stats.push(Value::Object(metric.clone()));
                    }
                }
                for s in stats.iter().filter(|s| s["Namespace"] == ticket_api::telemetry::NAMESPACE) {
                    let dimensions =
                        s["Dimensions"].as_array().unwrap().iter().map(|d| d["Name"].as_str().unwrap().to_owned());
                    named.push((name.clone(), s["MetricName"].as_str().unwrap().to_owned(), dimensions.collect()));
                }
            }
            Some("AWS::CloudWatch::Dashboard") => {
                let body = properties["DashboardBody"]["Fn::Sub"][0].as_str().unwrap();
                let substituted = substitute_placeholders(body);
                let dashboard: Value = serde_json::from_str(&substituted)
                    .unwrap_or_else(|e| panic!("the dashboard body is not JSON: {e}\n{substituted}"));
                for widget in dashboard["widgets"].as_array().unwrap() {
                    for line in widget["properties"]["metrics"].as_array().into_iter().flatten() {
                        let parts = line.as_array().unwrap();
                        if let Some(expression) = parts[0]["expression"].as_str() {
                            for m in ticket_api::telemetry::ALL {
                                if expression.contains(&format!("MetricName=\"{m}\"")) {
                                    named.push((name.clone(), (*m).to_owned(), vec!["FunctionName".into()]));
                                }
                            }
                            assert!(expression.contains("MetricName=\""), "a search names its metric: {expression}");
                        } else if parts[0] == ticket_api::telemetry::NAMESPACE {
                            let dims = parts[2..].iter().step_by(2).filter_map(|d| d.as_str()).map(str::to_owned);
                            named.push((name.clone(), parts[1].as_str().unwrap().to_owned(), dims.collect()));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    named
}

/// `${…}` replaced by a placeholder, as CloudFormation would replace it by a name or an ARN.
fn substitute_placeholders(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("a closed ${…}") + start;
        out.push('x');
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn the_alarms_and_the_dashboard_name_only_metrics_the_code_emits_with_its_dimension() {
    let named = metrics_named(&template());
    let emitted: BTreeSet<&str> = ticket_api::telemetry::ALL.iter().copied().collect();
    assert!(named.len() >= 15, "the alarms and the dashboard use the function's metrics: {named:?}");
    for (resource, metric, dimensions) in &named {
        assert!(emitted.contains(metric.as_str()), "{resource} names {metric}, which src/telemetry.rs does not emit");
        assert_eq!(
            dimensions.first().map(String::as_str),
            Some(ticket_api::telemetry::FUNCTION_DIMENSION),
            "{resource}: {metric} is emitted with the FunctionName dimension"
        );
    }
    let on_dashboard: BTreeSet<&str> =
        named.iter().filter(|(r, _, _)| r == "Dashboard").map(|(_, m, _)| m.as_str()).collect();
    let missing: Vec<_> = emitted.difference(&on_dashboard).collect();
    assert!(missing.is_empty(), "the dashboard shows every metric the code emits; missing: {missing:?}");
}

#[test]
fn ses_events_come_back_from_the_configuration_set_to_the_function() {
    let template = template();
    let resources = &template["Resources"];
    let destination = &resources["EmailEventsToEventBridge"]["Properties"];
    assert_eq!(destination["ConfigurationSetName"]["Ref"], "EmailConfigurationSet");
    assert_eq!(
        destination["EventDestination"]["MatchingEventTypes"],
        serde_json::json!(["DELIVERY", "BOUNCE", "COMPLAINT"])
    );
    assert_eq!(
        resources["EmailConfigurationSet"]["Properties"]["SuppressionOptions"]["SuppressedReasons"],
        serde_json::json!(["BOUNCE", "COMPLAINT"]),
        "SES's own suppression list behind the function's"
    );
    // EventBridge → the queue (only that rule may write to it) → the function, through a mapping that reports
    // the records to hand over again; after 30 receives, a dead-letter queue.
    let rule = &resources["SesEventsRule"]["Properties"];
    assert_eq!(rule["Targets"][0]["Arn"]["Fn::GetAtt"], serde_json::json!(["SesEventsQueue", "Arn"]));
    let queue = &resources["SesEventsQueue"]["Properties"];
    assert_eq!(queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0], "SesEventsDeadLetterQueue");
    let timeout = template["Globals"]["Function"]["Timeout"].as_u64().unwrap();
    assert!(queue["VisibilityTimeout"].as_u64().unwrap() >= timeout, "a batch in hand is not handed out twice");
    let policy = &resources["SesEventsQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(policy["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::GetAtt"][0], "SesEventsRule");
    let mapping = &resources["SesEventsMapping"]["Properties"];
    assert_eq!(mapping["EventSourceArn"]["Fn::GetAtt"], serde_json::json!(["SesEventsQueue", "Arn"]));
    assert_eq!(mapping["FunctionResponseTypes"], serde_json::json!(["ReportBatchItemFailures"]));
    let pattern = &rule["EventPattern"];
    assert_eq!(pattern["source"], serde_json::json!(["aws.ses"]));
    assert_eq!(
        pattern["detail-type"],
        serde_json::json!(["Email Delivered", "Email Bounced", "Email Complaint Received"])
    );
    assert_eq!(
        function(&template)["Environment"]["Variables"]["SES_CONFIGURATION_SET"]["Ref"],
        "EmailConfigurationSet"
    );
    // The events the rule lets through are the ones the handler reads (events/ses.*.json).
    for name in ["ses.delivery.json", "ses.bounce.json", "ses.complaint.json"] {
        let event: Value = serde_json::from_str(&std::fs::read_to_string(events_dir().join(name)).unwrap()).unwrap();
        assert_eq!(event["source"], "aws.ses", "{name}");
        assert!(pattern["detail-type"].as_array().unwrap().contains(&event["detail-type"]), "{name}");
    }
    // Tracing on the function, JSON access logs on the stage without the query string (it carries ticket keys).
    assert_eq!(function(&template)["Tracing"], "Active");
    let format = resources["HttpApiStage"]["Properties"]["AccessLogSettings"]["Format"].as_str().unwrap();
    let line: Value = serde_json::from_str(format).expect("the access log format is one JSON object");
    assert!(line["path"] == "$context.path" && line["requestId"] == "$context.integration.requestId");
    assert!(!format.contains("querystring") && !format.contains("$context.requestOverride"), "{format}");
}
