#!/usr/bin/env python3
"""Writes events/: one API Gateway event per outcome of the contract, in each shape a deployment can send
(HTTP API payload 2.0, REST API v1 through a stage, Lambda function URL), the function's other events (batches
of the tickets table's stream, as the event source mapping sends them, and the sweep's scheduled event), and
events/expected.json with what each one must get (or, for an event of a source the function has no door for,
why it is refused). The fixture keys and collections are seeded by the tests
(tests/it/helpers) and by `make run`. Run again after changing an outcome: python3 scripts/make-events.py"""

import json
import pathlib
import zlib

def api_key(body_hex: str) -> str:
    body = "tkapi_" + body_hex
    return body + format(zlib.crc32(body.encode()), "08x")

KEY = api_key("5eed" * 8)            # granted demo-collection, disabled-collection, gone-collection
REVOKED_KEY = api_key("dead" * 8)    # granted demo-collection, revoked
UNKNOWN_KEY = api_key("0000" * 8)    # well-formed, never stored
MISTYPED_KEY = KEY[:-1] + ("0" if KEY[-1] != "0" else "1")  # checksum fails

GOOD = {"userEmail": "user@email.com", "title": "Enquiry about pricing",
        "message": "Please explain about the pricing plans"}
JSON = "application/json"

# name: (method, path, headers, body, status, code)
OUTCOMES = {
    "created": ("POST", "/ticket/demo-collection", {"x-api-key": KEY, "content-type": JSON}, json.dumps(GOOD, indent=4), 201, None),
    "created-with-tags": ("POST", "/ticket/demo-collection", {"x-api-key": KEY, "content-type": "application/json; charset=utf-8"},
                          json.dumps({**GOOD, "customTags": {"plan": "pro", "seats": 12, "trial": False}}), 201, None),
    "missing-key": ("POST", "/ticket/demo-collection", {"content-type": JSON}, json.dumps(GOOD), 401, "unauthorized"),
    "mistyped-key": ("POST", "/ticket/demo-collection", {"x-api-key": MISTYPED_KEY, "content-type": JSON}, json.dumps(GOOD), 401, "unauthorized"),
    "unknown-key": ("POST", "/ticket/demo-collection", {"x-api-key": UNKNOWN_KEY, "content-type": JSON}, json.dumps(GOOD), 401, "unauthorized"),
    "revoked-key": ("POST", "/ticket/demo-collection", {"x-api-key": REVOKED_KEY, "content-type": JSON}, json.dumps(GOOD), 401, "unauthorized"),
    "other-collection": ("POST", "/ticket/other-collection", {"x-api-key": KEY, "content-type": JSON}, json.dumps(GOOD), 403, "forbidden"),
    "collection-not-found": ("POST", "/ticket/gone-collection", {"x-api-key": KEY, "content-type": JSON}, json.dumps(GOOD), 404, "collection_not_found"),
    "ticketing-disabled": ("POST", "/ticket/disabled-collection", {"x-api-key": KEY, "content-type": JSON}, json.dumps(GOOD), 403, "ticketing_disabled"),
    "wrong-content-type": ("POST", "/ticket/demo-collection", {"x-api-key": KEY, "content-type": "text/plain"}, json.dumps(GOOD), 415, "unsupported_media_type"),
    "payload-too-large": ("POST", "/ticket/demo-collection", {"x-api-key": KEY, "content-type": JSON},
                          json.dumps({**GOOD, "message": "x" * (128 * 1024)}), 413, "payload_too_large"),
    "invalid-json": ("POST", "/ticket/demo-collection", {"x-api-key": KEY, "content-type": JSON}, '{"userEmail": "user@email.com",', 400, "invalid_json"),
    "validation-failed": ("POST", "/ticket/demo-collection", {"x-api-key": KEY, "content-type": JSON},
                          json.dumps({"userEmail": "not-an-address", "title": " ", "usermail": "typo@email.com"}), 422, "validation_failed"),
    "unknown-path": ("GET", "/tickets", {"x-api-key": KEY}, None, 404, "not_found"),
    "view-wrong-key": ("GET", "/ticket/demo-collection/1?key=" + "0" * 32, {"accept": "application/json"}, None, 404, "not_found"),
    "wrong-method": ("DELETE", "/ticket/demo-collection", {"x-api-key": KEY}, None, 405, "method_not_allowed"),
}

def title_case(headers):
    # REST APIs pass header names as the client sent them.
    return {"-".join(p.capitalize() for p in k.split("-")): v for k, v in headers.items()}

def v2(method, url, headers, body, domain, request_id):
    path, _, query = url.partition("?")
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        **({"queryStringParameters": dict(p.split("=", 1) for p in query.split("&"))} if query else {}),
        "headers": {"host": domain, "user-agent": "curl/8.5.0", "accept": "*/*", **headers},
        "requestContext": {
            "accountId": "123456789012", "apiId": domain.split(".")[0], "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.10", "userAgent": "curl/8.5.0"},
            "requestId": request_id, "routeKey": "$default", "stage": "$default",
            "time": "25/Nov/2026:09:00:00 +0000", "timeEpoch": 1795597200000,
        },
        "body": body, "isBase64Encoded": False,
    }

def v1(method, url, headers, body, request_id):
    path, _, query = url.partition("?")
    params = dict(p.split("=", 1) for p in query.split("&")) if query else None
    host = "abc123defg.execute-api.us-east-1.amazonaws.com"
    all_headers = title_case({"host": host, "user-agent": "curl/8.5.0", "accept": "*/*", **headers})
    return {
        "resource": "/{proxy+}", "path": path, "httpMethod": method,
        "headers": all_headers, "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": params,
        "multiValueQueryStringParameters": {k: [v] for k, v in params.items()} if params else None,
        "pathParameters": {"proxy": path.lstrip("/")}, "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123defg", "httpMethod": method,
            "identity": {"sourceIp": "203.0.113.10", "userAgent": "curl/8.5.0"},
            "path": "/prod" + path, "protocol": "HTTP/1.1", "requestId": request_id,
            "requestTime": "25/Nov/2026:09:00:00 +0000", "requestTimeEpoch": 1795597200000,
            "resourceId": "a1b2c3", "resourcePath": "/{proxy+}", "stage": "prod",
        },
        "body": body, "isBase64Encoded": False,
    }

STREAM_ARN = ("arn:aws:dynamodb:us-east-1:123456789012:table/ticket-api-TicketsTable-1A2B3C4D5E6F/stream/"
              "2026-11-25T09:00:00.000")

def s(v): return {"S": v}
def n(v): return {"N": str(v)}

def mail_image(ticket, index, kind, audience, to, state="pending", attempts=0):
    """An e-mail of the outbox as the tickets table stores it (src/schema.rs and src/driven/dynamodb/items.rs)."""
    image = {
        "pk": s(f"demo-collection#{ticket}"), "sk": s(f"mail#000001#{index:03d}"),
        "collectionId": s("demo-collection"), "ticketNumber": n(ticket), "entry": n(1), "index": n(index),
        "kind": s(kind), "audience": s(audience), "to": s(to), "mailState": s(state), "attempts": n(attempts),
        "createdAt": s("2026-11-25T09:00:00.000Z"),
    }
    if state == "pending":
        image.update({"dueAtMs": n(1795597320000), "outbox": s("due"), "outboxAt": n(1795597320000)})
    if state == "sent":
        image.update({"messageId": s("0100019a-example"), "sentAt": s("2026-11-25T09:00:01.000Z")})
    return image

def stream_record(seq, name, image):
    keys = {"pk": image["pk"], "sk": image["sk"]}
    return {
        "eventID": f"{seq:032x}", "eventName": name, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1", "eventSourceARN": STREAM_ARN,
        "dynamodb": {"ApproximateCreationDateTime": 1795597200.0, "Keys": keys, "NewImage": image,
                     "SequenceNumber": f"{seq:021d}", "SizeBytes": 300, "StreamViewType": "NEW_IMAGE"},
    }

def ses_event(detail_type, event_type, tag, to, extra):
    """An SES event record as the configuration set's EventBridge destination publishes it (AWS's examples in
    "Contents of event data that Amazon SES publishes"), about one e-mail sent with the message tag `mail`."""
    detail = {
        "eventType": event_type,
        "mail": {
            "timestamp": "2026-11-25T09:00:01.000Z", "source": "\"Demo Support\" <support@example.com>",
            "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/support@example.com",
            "sendingAccountId": "123456789012", "messageId": "0100019a-example", "destination": [to],
            "headersTruncated": False,
            "headers": [{"name": "From", "value": "\"Demo Support\" <support@example.com>"},
                        {"name": "To", "value": to},
                        {"name": "Subject", "value": "[Demo Support] Ticket #1: Enquiry about pricing"}],
            "commonHeaders": {"from": ["\"Demo Support\" <support@example.com>"], "to": [to],
                              "messageId": "0100019a-example", "subject": "[Demo Support] Ticket #1: Enquiry about pricing"},
            "tags": {"ses:configuration-set": ["ticket-api-email"], "ses:source-ip": ["192.0.2.0"],
                     "ses:from-domain": ["example.com"], "ses:caller-identity": ["ticket-api-TicketFunctionRole"],
                     "mail": [tag]},
        },
    }
    detail.update(extra)
    return {"version": "0", "id": "7c3a1e2b-0000-4000-8000-" + {"Email Delivered": "000000000001", "Email Bounced": "000000000002", "Email Complaint Received": "000000000003"}[detail_type],
            "detail-type": detail_type, "source": "aws.ses", "account": "123456789012",
            "time": "2026-11-25T09:00:05Z", "region": "us-east-1",
            "resources": ["arn:aws:ses:us-east-1:123456789012:configuration-set/ticket-api-email"], "detail": detail}

# The function's other events: name -> (event, what the function must answer, what it must do).
WORK = {
    # The two e-mails the first create of demo-collection owes, as its transaction writes them.
    "dynamodb-stream.new-ticket-emails.json": (
        {"Records": [stream_record(100, "INSERT", mail_image(1, 0, "received", "requester", "user@email.com")),
                     stream_record(101, "INSERT", mail_image(1, 1, "new_ticket", "team", "team@example.com"))]},
        {"batchItemFailures": []}, "delivers ticket 1's two e-mails; again, nothing: they are sent"),
    # Records without work, as a filter that let them through would hand them over: a header, an e-mail sent.
    "dynamodb-stream.no-work.json": (
        {"Records": [stream_record(200, "INSERT", {"pk": s("demo-collection#1"), "sk": s("ticket"),
                                                   "collectionId": s("demo-collection"), "ticketNumber": n(1),
                                                   "status": s("open")}),
                     stream_record(201, "MODIFY", mail_image(1, 0, "received", "requester", "user@email.com", "sent", 1))]},
        {"batchItemFailures": []}, "ignored"),
    # The sweep's schedule (template.yaml: rate(1 minute)).
    "eventbridge.sweep.json": (
        {"version": "0", "id": "5b3d0e6a-0000-4000-8000-000000000003", "detail-type": "Scheduled Event",
         "source": "aws.events", "account": "123456789012", "time": "2026-11-25T09:01:00Z", "region": "us-east-1",
         "resources": ["arn:aws:events:us-east-1:123456789012:rule/ticket-api-TicketFunctionSweep-1A2B3C4D"],
         "detail": {}},
        None, "delivers every e-mail due"),
    # What SES heard of ticket 1's e-mails: the team's delivered, then marked as spam; the requester's bounced.
    "ses.delivery.json": (
        ses_event("Email Delivered", "Delivery", "demo-collection_1_1_1", "team@example.com", {"delivery": {
            "timestamp": "2026-11-25T09:00:03.000Z", "processingTimeMillis": 1800, "recipients": ["team@example.com"],
            "smtpResponse": "250 2.6.0 Message received", "reportingMTA": "a8-70.smtp-out.amazonses.com"}}),
        {"recorded": True}, "the team's e-mail of ticket 1: delivered"),
    "ses.bounce.json": (
        ses_event("Email Bounced", "Bounce", "demo-collection_1_1_0", "user@email.com", {"bounce": {
            "bounceType": "Permanent", "bounceSubType": "General", "timestamp": "2026-11-25T09:00:04.000Z",
            "feedbackId": "0100019a-bounce-feedback", "reportingMTA": "dsn; e226-55.smtp-out.amazonses.com",
            "bouncedRecipients": [{"emailAddress": "user@email.com", "action": "failed", "status": "5.1.1",
                                   "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]}}),
        {"recorded": True}, "the requester's e-mail of ticket 1: bounced for good; the address is suppressed"),
    "ses.complaint.json": (
        ses_event("Email Complaint Received", "Complaint", "demo-collection_1_1_1", "team@example.com", {"complaint": {
            "feedbackId": "0100019a-complaint-feedback", "complaintSubType": None,
            "complainedRecipients": [{"emailAddress": "team@example.com"}], "timestamp": "2026-11-25T09:00:06.000Z",
            "userAgent": "Mozilla/5.0", "complaintFeedbackType": "abuse", "arrivalDate": "2026-11-25T09:00:06.000Z"}}),
        {"recorded": True}, "the team's e-mail of ticket 1: a complaint; the address is suppressed"),
}

def sqs_batch(events):
    """SES's events as the SES events queue hands them to the function: one SQS record each, its body the
    EventBridge event as the rule's target wrote it."""
    return {"Records": [{
        "messageId": f"5f1b0c2e-0000-4000-8000-00000000000{i}", "receiptHandle": f"AQEBexample{i}",
        "body": json.dumps(event), "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795597206000",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO", "ApproximateFirstReceiveTimestamp": "1795597206010"},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ticket-api-SesEventsQueue-1A2B3C4D5E6F",
        "awsRegion": "us-east-1"} for i, event in enumerate(events)]}

# The same three events, as the queue hands them over: none left to hand over again.
WORK["sqs.ses-events.json"] = (
    sqs_batch([WORK[name][0] for name in ["ses.delivery.json", "ses.bounce.json", "ses.complaint.json"]]),
    {"batchItemFailures": []}, "the three SES events of ses.*.json, from their queue: each recorded")

INBOUND = "reply.support.example.com"   # INBOUND_DOMAIN of the tests
# demo-collection's ticket 1, the requester's reply address, with a tag that no pepper and nonce give.
FORGED_ADDRESS = f"demo-collection.1.r.{'0' * 20}@{INBOUND}"

def ses_receipt(message_id, to, source, verdicts=None):
    """SES receiving's Lambda action's event (AWS's example in "Invoking Lambda functions": the receipt after the
    rule's S3 action stored the message as inbound/<messageId>), for a message from `source` to `to`."""
    statuses = {"spam": "PASS", "virus": "PASS", "spf": "PASS", "dkim": "PASS", "dmarc": "PASS", **(verdicts or {})}
    headers = [{"name": "Return-Path", "value": f"<{source}>"},
               {"name": "Received", "value": "from mail-wr1-f41.google.com (mail-wr1-f41.google.com [209.85.221.41]) by inbound-smtp.us-east-1.amazonaws.com with SMTP id " + message_id + f" for {to}; Sat, 05 Dec 2026 10:12:03 +0000 (UTC)"},
               {"name": "From", "value": f"Jane Doe <{source}>"}, {"name": "To", "value": to},
               {"name": "Subject", "value": "Re: [Demo Support] Ticket #1: Enquiry about pricing"},
               {"name": "Message-ID", "value": "<CAF7x9@mail.gmail.com>"},
               {"name": "Content-Type", "value": "text/plain; charset=\"UTF-8\""}]
    return {"Records": [{"eventSource": "aws:ses", "eventVersion": "1.0", "ses": {
        "mail": {"timestamp": "2026-12-05T10:12:03.000Z", "source": source, "messageId": message_id,
                 "destination": [to], "headersTruncated": False, "headers": headers,
                 "commonHeaders": {"returnPath": source, "from": [f"Jane Doe <{source}>"], "to": [to],
                                   "date": "Sat, 5 Dec 2026 10:12:00 +0000", "messageId": "<CAF7x9@mail.gmail.com>",
                                   "subject": "Re: [Demo Support] Ticket #1: Enquiry about pricing"}},
        "receipt": {"timestamp": "2026-12-05T10:12:03.000Z", "processingTimeMillis": 412, "recipients": [to],
                    **{f"{v}Verdict": {"status": st} for v, st in statuses.items()}, "dmarcPolicy": "none",
                    "action": {"type": "Lambda", "invocationType": "Event",
                               "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:ticket-api-TicketFunction-1A2B3C4D"}}}}]}

# Receipts the function refuses before it reads the message (each needs no object in the bucket); a receipt it
# records is shown over SMTP end to end (tests/it/inbound_smtp.rs), its reply address being made per ticket.
WORK.update({
    "ses-receipt.not-a-reply-address.json": (
        ses_receipt("o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g1", f"support@{INBOUND}", "jane@example.org"),
        {"received": ["not_a_reply_address"]}, "a message to an address of the domain that names no ticket: not read"),
    "ses-receipt.forged-tag.json": (
        ses_receipt("7a0c2bd9f1e84c6a93b5d0e2f4a6c8e0b2d4f6a8", FORGED_ADDRESS, "jane@example.org"),
        {"received": ["not_verified"]}, "a reply address whose tag does not verify: not read, nothing recorded"),
    "ses-receipt.spam.json": (
        ses_receipt("b1d3f5a7c9e0a2c4e6a8c0e2a4c6e8a0c2e4a6c8", f"demo-collection.1.r.{'1' * 20}@{INBOUND}",
                    "offers@example.net", {"spam": "FAIL", "spf": "GRAY", "dkim": "GRAY", "dmarc": "GRAY"}),
        {"received": ["spam"]}, "SES's spam verdict FAIL: refused before anything is read"),
})

def receipts_queue(notifications):
    """SES receiving's notifications as the replies' queue hands them to the function: the S3 action published
    each to the replies' topic, whose subscription delivers it raw to the queue."""
    batch = sqs_batch(notifications)
    for record in batch["Records"]:
        record["eventSourceARN"] = "arn:aws:sqs:us-east-1:123456789012:ticket-api-RepliesQueue-1A2B3C4D5E6F"
        record["attributes"]["SenderId"] = "AIDAIT2UOQQY3AUEKVGXU"
    return batch

def s3_action_notification(receipt_event):
    """The notification of the receipt rule's S3 action: the same `mail` and `receipt`, the action S3's."""
    ses = json.loads(json.dumps(receipt_event["Records"][0]["ses"]))
    receipt = dict(ses["receipt"], action={"type": "S3",
        "topicArn": "arn:aws:sns:us-east-1:123456789012:ticket-api-RepliesTopic-1A2B3C4D5E6F",
        "bucketName": "ticket-api-inboundmailbucket-1a2b3c4d5e6f", "objectKeyPrefix": "inbound/",
        "objectKey": "inbound/" + ses["mail"]["messageId"]})
    return {"notificationType": "Received", "mail": ses["mail"], "receipt": receipt}

# From the replies' queue: one refused before reading, one malformed (no commonHeaders, as a hand-made or truncated
# notification would be): both answered, nothing handed over again, nothing read.
_not_a_reply = s3_action_notification(WORK["ses-receipt.not-a-reply-address.json"][0])
_malformed = s3_action_notification(WORK["ses-receipt.forged-tag.json"][0])
del _malformed["mail"]["commonHeaders"]
WORK["sqs.ses-receipts.json"] = (
    receipts_queue([_not_a_reply, _malformed]),
    {"batchItemFailures": []},
    "two receipts from the replies' queue: one to no reply address, one malformed; neither read, neither retried")

# Events of sources the function has no door for: each is refused (an error and the metric EventsRefused), never
# handed to the Router. Shapes as AWS documents them for SNS, an Application Load Balancer target and S3.
REFUSED = {
    "refused.sns-notification.json": ({"Records": [{
        "EventVersion": "1.0", "EventSource": "aws:sns",
        "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:topic:6b8e6c8a-0000-4000-8000-000000000001",
        "Sns": {"Type": "Notification", "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:topic", "Subject": "example",
            "Message": "{\"userEmail\": \"user@email.com\"}", "Timestamp": "2026-11-25T09:00:00.000Z",
            "SignatureVersion": "1", "Signature": "EXAMPLE", "SigningCertUrl": "EXAMPLE", "UnsubscribeUrl": "EXAMPLE",
            "MessageAttributes": {}}}]},
        "an SNS notification: no topic feeds this function"),
    "refused.alb-request.json": ({
        "requestContext": {"elb": {"targetGroupArn":
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lambda-279XGJDqGZ5rsrHC2Fjr/49e9d65c45c6791a"}},
        "httpMethod": "POST", "path": "/ticket/demo-collection", "queryStringParameters": {},
        "headers": {"content-type": "application/json", "host": "lambda-alb-123578498.us-east-1.elb.amazonaws.com",
            "x-api-key": KEY},
        "body": json.dumps({"userEmail": "user@email.com", "title": "Enquiry about pricing", "message": "m"}),
        "isBase64Encoded": False},
        "an Application Load Balancer request: the API is API Gateway's, and an ALB would bypass its throttling"),
    "refused.s3-put.json": ({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": "2026-11-25T09:00:00.000Z",
        "eventName": "ObjectCreated:Put", "userIdentity": {"principalId": "EXAMPLE"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "EXAMPLE123456789", "x-amz-id-2": "EXAMPLE123/5678abcdefghijklambdaisawesome"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "testConfigRule",
            "bucket": {"name": "example-bucket", "ownerIdentity": {"principalId": "EXAMPLE"},
                "arn": "arn:aws:s3:::example-bucket"},
            "object": {"key": "test/key", "size": 1024, "eTag": "0123456789abcdef0123456789abcdef",
                "sequencer": "0A1B2C3D4E5F678901"}}}]},
        "an S3 notification: no bucket notifies this function"),
}

def main():
    out = pathlib.Path(__file__).resolve().parent.parent / "events"
    out.mkdir(exist_ok=True)
    for old in out.glob("*.json"):
        old.unlink()
    expected = {}
    for n, (name, (method, path, headers, body, status, code)) in enumerate(OUTCOMES.items()):
        shapes = {
            "http-api": v2(method, path, headers, body, "abc123defg.execute-api.us-east-1.amazonaws.com", f"Vt{n:04d}aaaaEMA="),
            "rest-api": v1(method, path, headers, body, f"0b5e{n:04d}-0000-4000-8000-000000000001"),
            "function-url": v2(method, path, headers, body, "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws", f"0f0e{n:04d}-0000-4000-8000-000000000002"),
        }
        for shape, event in shapes.items():
            file = f"{shape}.{name}.json"
            (out / file).write_text(json.dumps(event, indent=2) + "\n")
            expected[file] = {"status": status, "code": code}
    work = {}
    for file, (event, answer, does) in WORK.items():
        (out / file).write_text(json.dumps(event, indent=2) + "\n")
        work[file] = {"answer": answer, "does": does}
    refused = {}
    for file, (event, why) in REFUSED.items():
        (out / file).write_text(json.dumps(event, indent=2) + "\n")
        refused[file] = why
    (out / "expected.json").write_text(json.dumps({
        "keys": {"granted": KEY, "revoked": REVOKED_KEY},
        "events": expected,
        "work": work,
        "refused": refused,
    }, indent=2) + "\n")

if __name__ == "__main__":
    main()
