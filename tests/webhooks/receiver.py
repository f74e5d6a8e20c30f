"""A webhook receiver for the tests: checks each request's signature with the
Standard Webhooks project's own library (the standardwebhooks package),
answers 500 to the first requests it is told to fail, then 204, and writes
one JSON line per request to the file named on the command line.

    python3 tests/webhooks/receiver.py <port> <requests.jsonl> <fail first N> <secret> [<secret>…]

Each line holds the request's webhook-id, its parsed body, what it was
answered, and for each secret given whether the signature verified with it.
With RECEIVER_REDIRECT=1 in the environment it answers every request with a
307 to /elsewhere instead (which a webhook sender must not follow).
"""
import http.server
import json
import os
import sys
import threading

from standardwebhooks.webhooks import Webhook

PORT, OUT, FAIL_FIRST = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
SECRETS = sys.argv[4:]
LOCK = threading.Lock()
SEEN = [0]


def verified(secret, body, headers):
    try:
        Webhook(secret).verify(body, headers)
        return True
    except Exception:  # any refusal of the library: a wrong signature, an old timestamp
        return False


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        headers = {k.lower(): v for k, v in self.headers.items()}
        with LOCK:
            SEEN[0] += 1
            n = SEEN[0]
        status = 500 if n <= FAIL_FIRST else 204
        if os.environ.get("RECEIVER_REDIRECT") == "1":
            status = 307
        line = {
            "n": n,
            "path": self.path,
            "id": headers.get("webhook-id"),
            "signature": headers.get("webhook-signature"),
            "content_type": headers.get("content-type"),
            "verified": [verified(s, body, headers) for s in SECRETS],
            "status": status,
            "body": json.loads(body or b"null"),
        }
        with LOCK, open(OUT, "a") as out:
            out.write(json.dumps(line) + "\n")
        self.send_response(status)
        if status == 307:
            self.send_header("Location", "/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Receiver).serve_forever()
