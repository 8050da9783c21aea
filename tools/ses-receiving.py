"""SES receiving on this machine: an SMTP server on 127.0.0.1 that does what SES's receipt rule does on AWS.

For every message to an address at INBOUND_DOMAIN: the raw message into the S3 stand-in (INBOUND_BUCKET, key
INBOUND_PREFIX + a message id of SES's form), then the S3 action's notification, in SES's shape, to the queue of
replies the function reads (the local Invoke API's /queues/replies beside INVOKE_URL), as the rule's S3 action
publishes it to its topic, whose queue the function reads on AWS. Recipients at other domains are refused, as SES
refuses mail for domains it has no rule for.

SES judges each message (spam, virus, SPF, DKIM, DMARC); this stand-in checks nothing and says PASS to all,
unless the message carries X-Local-Verdicts: e.g. "spam=FAIL dmarc=FAIL dmarcPolicy=reject", to play a verdict
and the sender domain's DMARC policy.

Environment: SMTP_PORT (2525), INBOUND_DOMAIN, INBOUND_BUCKET, INBOUND_PREFIX (inbound/), INVOKE_URL,
AWS_ENDPOINT_URL_S3 and the stand-ins' credentials. It creates the bucket if it is missing.
"""

import asyncio
import datetime
import email
import email.policy
import json
import os
import secrets
import signal
import string
import sys
import time
import urllib.parse
import urllib.request

import boto3
from aiosmtpd.controller import Controller

VERDICTS = ("spam", "virus", "spf", "dkim", "dmarc")
SES_LIMIT = 40 * 1024 * 1024  # SES receiving refuses larger messages (its limit with the S3 action).


def message_id():
    """An id of SES's form: 40 lower-case letters and digits."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(40))


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SesReceiving:
    def __init__(self, domain, bucket, prefix, invoke_url):
        self.domain = domain.lower()
        self.bucket = bucket
        self.prefix = prefix
        # The queue of replies sits beside the Invoke API.
        self.queue_url = urllib.parse.urljoin(invoke_url, "/queues/replies")
        self.s3 = boto3.client("s3", config=boto3.session.Config(s3={"addressing_style": "path"}))
        try:
            self.s3.head_bucket(Bucket=bucket)
        except Exception:
            self.s3.create_bucket(Bucket=bucket)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if not address.lower().endswith("@" + self.domain):
            return "550 5.1.1 Mailbox unavailable: this server receives for @%s only" % self.domain
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        if len(raw) > SES_LIMIT:
            return "552 5.3.4 Message too big"
        started = time.monotonic()
        mail_id = message_id()
        try:
            await asyncio.to_thread(self.deliver, mail_id, envelope, raw, started)
        except Exception as e:  # SES would retry its actions; tell the client to try again.
            print("ses-receiving: %s not handed over: %s" % (mail_id, e), file=sys.stderr, flush=True)
            return "451 4.3.0 Could not store the message, try again"
        print("ses-receiving: %s stored and handed to the function (%d bytes, %d recipients)"
              % (mail_id, len(raw), len(envelope.rcpt_tos)), flush=True)
        return "250 Ok " + mail_id

    def deliver(self, mail_id, envelope, raw, started):
        self.s3.put_object(Bucket=self.bucket, Key=self.prefix + mail_id, Body=raw)
        notification = self.notification(mail_id, envelope, raw, started)
        request = urllib.request.Request(
            self.queue_url,
            data=json.dumps(notification).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            if answer.status != 200:
                raise RuntimeError("the queue answered %d" % answer.status)

    def notification(self, mail_id, envelope, raw, started):
        """The S3 action's notification (SES's "Received" notification content), as its topic delivers it raw."""
        parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
        headers = [{"name": k, "value": str(v)} for k, v in parsed.items()]
        played = dict(
            part.split("=", 1) for part in str(parsed.get("X-Local-Verdicts", "")).split() if "=" in part
        )
        verdicts = {v + "Verdict": {"status": played.get(v, "PASS").upper()} for v in VERDICTS}
        common = {
            "returnPath": envelope.mail_from or "",
            "from": [str(parsed.get("From", ""))],
            "to": [str(parsed.get("To", ""))],
            "date": str(parsed.get("Date", "")),
            "messageId": str(parsed.get("Message-ID", "")),
            "subject": str(parsed.get("Subject", "")),
        }
        return {
            "notificationType": "Received",
            "mail": {
                "timestamp": now(),
                "source": envelope.mail_from or "",
                "messageId": mail_id,
                "destination": list(envelope.rcpt_tos),
                "headersTruncated": False,
                "headers": headers,
                "commonHeaders": common,
            },
            "receipt": {
                "timestamp": now(),
                "processingTimeMillis": int((time.monotonic() - started) * 1000),
                "recipients": list(envelope.rcpt_tos),
                **verdicts,
                "dmarcPolicy": played.get("dmarcPolicy", "none"),
                "action": {
                    "type": "S3",
                    "topicArn": "arn:aws:sns:us-east-1:000000000000:ticket-api-local-RepliesTopic",
                    "bucketName": self.bucket,
                    "objectKeyPrefix": self.prefix,
                    "objectKey": self.prefix + mail_id,
                },
            },
        }


def main():
    port = int(os.environ.get("SMTP_PORT", "2525"))
    handler = SesReceiving(
        os.environ["INBOUND_DOMAIN"],
        os.environ["INBOUND_BUCKET"],
        os.environ.get("INBOUND_PREFIX", "inbound/"),
        os.environ["INVOKE_URL"],
    )
    # Blocked before the server's thread starts (it inherits the mask), so that sigwait below receives them.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    controller = Controller(handler, hostname="127.0.0.1", port=port, data_size_limit=SES_LIMIT + 1024 * 1024)
    controller.start()
    print("ses-receiving: SMTP on 127.0.0.1:%d for @%s" % (port, handler.domain), flush=True)
    signal.sigwait({signal.SIGINT, signal.SIGTERM})
    controller.stop()


if __name__ == "__main__":
    main()
