"""A webhook receiver for the tests: verifies each delivery with the
`standardwebhooks` package (not the service's code) and the secret in
`--secret-file`, records it as a JSON line, and answers 500 to the first
`--fail` deliveries; the first `--hang` deliveries are recorded and never
answered.

Prints its port on the first line of standard output.
"""

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

parser = argparse.ArgumentParser()
parser.add_argument("--secret-file", required=True)
parser.add_argument("--record", required=True)
parser.add_argument("--fail", type=int, default=0)
parser.add_argument("--hang", type=int, default=0, help="deliveries recorded, never answered")
args = parser.parse_args()

lock = threading.Lock()
failures_left = [args.fail]
hangs_left = [args.hang]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        with lock:
            if failures_left[0] > 0:
                failures_left[0] -= 1
                self.send_response(500)
                self.end_headers()
                return
            try:
                # The subscription's secret, written once the test subscribed.
                with open(args.secret_file) as secret:
                    Webhook(secret.read().strip()).verify(body.decode(), headers)
                verified = True
            except Exception as error:  # recorded, and refused
                verified = str(error) or type(error).__name__
            with open(args.record, "a") as record:
                record.write(
                    json.dumps(
                        {
                            "webhook_id": headers.get("webhook-id"),
                            "content_type": headers.get("content-type"),
                            "verified": verified,
                            "event": json.loads(body),
                        }
                    )
                    + "\n"
                )
            hang = hangs_left[0] > 0
            if hang:
                hangs_left[0] -= 1
        if hang:
            # The sender is killed while it waits for the answer.
            threading.Event().wait(600)
            return
        self.send_response(204 if verified is True else 400)
        self.end_headers()

    def log_message(self, *_):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
