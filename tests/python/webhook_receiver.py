#!/usr/bin/env python3
"""A webhook receiver for capstan's webhook tests, verifying with an independent
implementation of Standard Webhooks: the `standardwebhooks` package from PyPI.

    python3 webhook_receiver.py LOG_FILE

Listens on 127.0.0.1, port 0, and prints the port on the first line of stdout. Every POST
to a path other than /_control is verified with `standardwebhooks.Webhook(secret).verify`
against each secret configured for that path, answered with the status configured for
that path (200 unless told otherwise), and recorded as one JSON line in LOG_FILE:

    {"path", "webhook_id", "timestamp", "signatures", "content_type", "verified": [labels
     of the secrets that verify], "status": the status answered, "seq", "body": the raw
     body as text}

POST /_control with {"path": "/a", "secrets": {"label": "whsec_…"}, "status": 503}
configures a path (each key optional; given keys replace the old values).
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

LOCK = threading.Lock()
SECRETS = {}
STATUS = {}
LOG_FILE = sys.argv[1]


class Receiver(BaseHTTPRequestHandler):
    def log_message(self, format, *args):  # quiet
        pass

    def answer(self, status):
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        if self.path == "/_control":
            command = json.loads(body)
            with LOCK:
                if "secrets" in command:
                    SECRETS[command["path"]] = command["secrets"]
                if "status" in command:
                    STATUS[command["path"]] = command["status"]
            self.answer(204)
            return
        headers = {key.lower(): value for key, value in self.headers.items()}
        with LOCK:
            secrets = dict(SECRETS.get(self.path, {}))
            status = STATUS.get(self.path, 200)
        verified = []
        for label, secret in secrets.items():
            try:
                Webhook(secret).verify(body, headers)
                verified.append(label)
            except Exception:  # noqa: BLE001 - any failure means "does not verify"
                pass
        try:
            seq = json.loads(body).get("seq")
        except ValueError:
            seq = None
        record = {
            "path": self.path,
            "webhook_id": headers.get("webhook-id"),
            "timestamp": headers.get("webhook-timestamp"),
            "signatures": len(headers.get("webhook-signature", "").split()),
            "content_type": headers.get("content-type"),
            "verified": verified,
            "status": status,
            "seq": seq,
            "body": body.decode("utf-8", "replace"),
        }
        with LOCK:
            with open(LOG_FILE, "a", encoding="utf-8") as log:
                log.write(json.dumps(record) + "\n")
        self.answer(status)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
