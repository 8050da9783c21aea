"""A webhook receiver for the tests: HTTP on 127.0.0.1, every delivery verified with the Standard Webhooks
reference library (`standardwebhooks`, PyPI: a verifier this project did not write) against the secrets it was
given, and recorded.

  python3 tools/webhook-receiver.py PORT
  POST /_secrets   {"secrets": ["whsec_...", ...]}  the secrets a delivery may verify with (any one)
  POST /_plan      {"plan": ["500", "timeout", "200", "redirect:http://10.0.0.1/"]}  answers for the next requests
  GET  /_received  every delivery so far: {"id", "timestamp", "type", "verified", "body", "path", "answered"}
  POST /anything   a delivery: verified, recorded, answered by the plan (200 when it is empty)
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

lock = threading.Lock()
secrets, plan, received = [], [], []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/_received":
            with lock:
                body = json.dumps(received).encode()
            return self.answer(200, body, [("Content-Type", "application/json")])
        self.answer(404)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        global secrets, plan
        if self.path == "/_secrets":
            with lock:
                secrets = json.loads(body)["secrets"]
            return self.answer(204)
        if self.path == "/_plan":
            with lock:
                plan = list(json.loads(body)["plan"])
            return self.answer(204)
        headers = {k.lower(): v for k, v in self.headers.items()}
        verified_with = []
        for i, secret in enumerate(list(secrets)):
            try:
                Webhook(secret).verify(body, headers)
                verified_with.append(i)
            except Exception:
                pass
        with lock:
            step = plan.pop(0) if plan else "200"
        try:
            event = json.loads(body)
        except ValueError:
            event = {}
        with lock:
            received.append({
                "id": headers.get("webhook-id"), "timestamp": headers.get("webhook-timestamp"),
                "signature": headers.get("webhook-signature"), "type": event.get("type"), "data": event.get("data"),
                "verifiedWith": verified_with, "path": self.path, "answered": step, "at": time.time(),
            })
        if step == "timeout":
            time.sleep(20)
            return self.answer(200)
        if step.startswith("redirect:"):
            return self.answer(307, b"", [("Location", step[len("redirect:"):])])
        self.answer(int(step), b'{"ok": true}' if step.startswith("2") else b"no")


def main():
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
