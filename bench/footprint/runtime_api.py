"""A minimal Lambda Runtime API (the 2018-06-01 interface a custom runtime polls) on loopback.

It plays the part of the Lambda service for the footprint measurements, in one of three modes:

- ``first-next``: every ``GET .../invocation/next`` is answered by closing the connection, so a
  function's runtime client fails and the process exits right after its first poll. Start-up is
  then the process's whole lifetime, which ``hyperfine`` measures; ``GET /footprint/polls`` says
  how many polls arrived, so the caller can check that every run got that far.
- ``ingress``: serves signed function-URL events built from ``events/payloads/`` (new deliveries,
  plus retries of earlier ones), then closes the connection on the next poll once all are served.
- ``consumer``: drains the SQS queue at ``QUEUE_URL`` (the one the ingress filled) in batches of
  ten, as the event source mapping does: each batch is one invocation, and every message the
  function does not report as failed is deleted.

It listens on a free port, writes ``127.0.0.1:PORT`` to ``--address-file`` once listening, and in
the feed modes exits after the last invocation, writing a JSON summary to ``--summary``.
Only the standard library is needed, except for ``consumer`` mode (boto3).
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import random
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PREFIX = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:{}"


def sqs_event(messages):
    """The SQS event the event source mapping delivers (the shape of `webhook_tools::sender::sqs_event`)."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "0",
                    "SenderId": "local",
                    "ApproximateFirstReceiveTimestamp": "0",
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:webhook-events",
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


def function_url_event(path, headers, body, request_id):
    """A function-URL event, payload format 2.0 (the shape of `webhook_tools::sender::function_url_event`)."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {k.lower(): v for k, v in headers},
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": "POST",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "Svix-Webhooks/1.0",
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "timeEpoch": int(time.time() * 1000),
        },
        "body": body.decode(),
        "isBase64Encoded": False,
    }


class Signer:
    """Signs bodies as the two senders do, with the secrets the function is configured with."""

    def __init__(self, env):
        whsec = env["SOURCE_LEGITMARK_SECRETS"].replace(",", " ").split()[0]
        self.legitmark_key = base64.b64decode(whsec.removeprefix("whsec_"))
        self.cr3dentials_key = env["SOURCE_CR3DENTIALS_SECRETS"].splitlines()[0].encode()
        name = env.get("SOURCE_CR3DENTIALS_AUTH_HEADER_NAME")
        value = env.get("SOURCE_CR3DENTIALS_AUTH_HEADER_VALUE")
        self.static_header = (name, value) if name and value else None

    def headers(self, source, message_id, body):
        if source == "legitmark":
            ts = str(int(time.time()))
            signed = f"{message_id}.{ts}.".encode() + body
            mac = hmac.new(self.legitmark_key, signed, hashlib.sha256).digest()
            return [
                ("content-type", "application/json"),
                ("svix-id", message_id),
                ("svix-timestamp", ts),
                ("svix-signature", "v1," + base64.b64encode(mac).decode()),
            ]
        headers = [
            ("content-type", "application/json"),
            ("x-webhook-signature", hmac.new(self.cr3dentials_key, body, hashlib.sha256).hexdigest()),
        ]
        if self.static_header:
            headers.append(self.static_header)
        return headers


class IngressFeed:
    """New deliveries made from the sample payloads, one of each sample per group, every group
    about an item and a Cr3dentials session of its own; after every `retry_every` new ones, a
    retry of a random earlier delivery."""

    def __init__(self, events_dir, count, retries, tag, env):
        self.samples = []
        for source in ("legitmark", "cr3dentials"):
            for path in sorted((Path(events_dir) / "payloads" / source).glob("*.json")):
                self.samples.append((source, json.loads(path.read_text())))
        self.count, self.tag, self.signer = count, tag, Signer(env)
        self.retry_every = max(1, count // retries) if retries else 0
        self.total = count + (count // self.retry_every if self.retry_every else 0)
        self.served, self.new, self.sent = 0, 0, []
        self.rng = random.Random(7)

    def delivery(self, n):
        source, payload = self.samples[n % len(self.samples)]
        group = n // len(self.samples)
        payload = json.loads(json.dumps(payload))
        if source == "legitmark":
            payload["sr_uuid"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.tag}/{group}"))
            if payload.get("reference_id") is not None:
                payload["reference_id"] = f"item-{self.tag}-{group}"
            message_id = f"msg_{self.tag}_{n}"
        else:
            payload["data"]["sessionId"] = 1_000_000 + group
            payload["data"]["verificationId"] = f"ver_{self.tag}_{n}"
            message_id = None
        return source, message_id, json.dumps(payload, indent=2).encode() + b"\n"

    def next(self):
        """The next event, or None when all were served."""
        if self.served >= self.total:
            return None
        retry = self.retry_every and self.sent and (self.served + 1) % (self.retry_every + 1) == 0
        if retry:
            source, message_id, body = self.rng.choice(self.sent)
        else:
            source, message_id, body = self.delivery(self.new)
            self.new += 1
            self.sent.append((source, message_id, body))
        self.served += 1
        headers = self.signer.headers(source, message_id, body)
        return function_url_event(f"/webhooks/{source}", headers, body, str(uuid.uuid4()))

    def outcome(self, response):
        try:
            return f"{response['statusCode']} {json.loads(response['body']).get('status', '')}".strip()
        except (KeyError, TypeError, ValueError):
            return "unreadable"


class ConsumerFeed:
    """Batches of up to ten messages received from the queue; ends when the queue stays empty."""

    def __init__(self, queue_url):
        import boto3  # only this mode needs it

        self.sqs, self.queue_url = boto3.client("sqs"), queue_url
        self.in_flight, self.total = {}, None

    def next(self):
        for _ in range(3):
            got = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            if got:
                self.in_flight = {m["MessageId"]: m["ReceiptHandle"] for m in got}
                return sqs_event(got)
        return None

    def outcome(self, response):
        failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        done = [
            {"Id": str(i), "ReceiptHandle": handle}
            for i, (mid, handle) in enumerate(self.in_flight.items())
            if mid not in failed
        ]
        if done:
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=done)
        self.counts["messages_processed"] = self.counts.get("messages_processed", 0) + len(done)
        self.counts["messages_failed"] = self.counts.get("messages_failed", 0) + len(failed)
        return "batch"


class Emulator(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, mode, feed, function):
        super().__init__(("127.0.0.1", 0), Handler)
        self.mode, self.feed, self.function = mode, feed, function
        self.lock = threading.Lock()
        self.counts, self.invocations, self.init_errors = {}, 0, []
        if feed is not None:
            feed.counts = self.counts
        self.started = self.finished = None
        self.done = threading.Event()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are separate writes: with Nagle's algorithm on, the body would wait for the
    # client's delayed ACK of the headers (40 ms on Linux) on every call.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self):
        server = self.server
        if self.path == "/footprint/polls":
            # Not part of the Runtime API: lets the caller check that every process got that far.
            self.reply(200, str(server.invocations).encode())
            return
        if self.path != f"{PREFIX}/invocation/next":
            self.reply(404)
            return
        if server.mode == "first-next":
            with server.lock:
                server.invocations += 1
            self.close_connection = True
            return
        with server.lock:
            if server.started is None:
                server.started = time.monotonic()
            event = server.feed.next()
        if event is None:
            server.finished = time.monotonic()
            self.close_connection = True
            server.done.set()
            return
        request_id = str(uuid.uuid4())
        deadline_ms = int(time.time() * 1000) + server.timeout_ms
        self.reply(
            200,
            json.dumps(event).encode(),
            [
                ("Content-Type", "application/json"),
                ("Lambda-Runtime-Aws-Request-Id", request_id),
                ("Lambda-Runtime-Deadline-Ms", str(deadline_ms)),
                ("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN.format(server.function)),
                ("Lambda-Runtime-Trace-Id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0"),
            ],
        )

    def do_POST(self):
        server = self.server
        body = self.read_body()
        parts = self.path.removeprefix(PREFIX).strip("/").split("/")
        if parts == ["init", "error"]:
            server.init_errors.append(body.decode(errors="replace"))
        elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            if parts[2] == "response":
                outcome = server.feed.outcome(json.loads(body))
            else:
                outcome = "invocation error"
            with server.lock:
                server.invocations += 1
                server.counts[outcome] = server.counts.get(outcome, 0) + 1
        else:
            self.reply(404)
            return
        self.reply(202, b'{"status":"OK"}', [("Content-Type", "application/json")])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["first-next", "ingress", "consumer"], required=True)
    parser.add_argument("--address-file", required=True)
    parser.add_argument("--summary", help="JSON summary of a feed run")
    parser.add_argument("--function", default="ingress")
    parser.add_argument("--events-dir", default="events")
    parser.add_argument("--events", type=int, default=10_000, help="new deliveries (ingress)")
    parser.add_argument("--retries", type=int, default=1_000, help="retries of earlier deliveries")
    parser.add_argument("--tag", default="fp", help="makes this run's ids distinct from others'")
    parser.add_argument("--timeout-s", type=int, default=10, help="the function's timeout")
    args = parser.parse_args()

    feed = None
    if args.mode == "ingress":
        feed = IngressFeed(args.events_dir, args.events, args.retries, args.tag, os.environ)
    elif args.mode == "consumer":
        feed = ConsumerFeed(os.environ["QUEUE_URL"])
    server = Emulator(args.mode, feed, args.function)
    server.timeout_ms = args.timeout_s * 1000
    tmp = args.address_file + ".tmp"
    with open(tmp, "w") as out:
        out.write(f"127.0.0.1:{server.server_address[1]}\n")
    os.replace(tmp, args.address_file)

    if args.mode == "first-next":
        server.serve_forever()
        return
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.done.wait()
    summary = {
        "invocations": server.invocations,
        "outcomes": dict(sorted(server.counts.items())),
        "init_errors": server.init_errors,
        "seconds": round((server.finished or time.monotonic()) - (server.started or time.monotonic()), 1),
    }
    if args.summary:
        Path(args.summary).write_text(json.dumps(summary, indent=2) + "\n")
    server.shutdown()
    print(json.dumps(summary), file=sys.stderr)


if __name__ == "__main__":
    main()
