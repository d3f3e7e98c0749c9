"""The ingress function written the way a Python team would, for the start-up and memory comparison.

Same configuration variables, same work on the ack path as the Rust ingress: verify the signature
over the raw body (Standard Webhooks or hex HMAC plus a static header, constant-time compares),
parse, derive the idempotency key, claim it with a conditional PutItem that returns the old item on
failure, send the envelope to SQS, mark the claim ENQUEUED, and log one JSON line plus one EMF
metric line. The boto3 clients are created at init, as AWS recommends. Waiting for a live holder,
takeovers, quarantine and conflict records are left out: they are off the measured paths.

Run under the runtime interface client: ``python -m awslambdaric handler.handler``.
"""

import base64
import hashlib
import hmac
import json
import os
import time
import uuid

import boto3

TOLERANCE_S = 300
EVENTS_TABLE = os.environ["EVENTS_TABLE"]
QUEUE_URL = os.environ["QUEUE_URL"]
MAX_BODY_BYTES = int(os.environ.get("MAX_BODY_BYTES") or 262144)
RETENTION_S = int(os.environ.get("RETENTION_DAYS") or 7) * 86400


def _sources():
    sources = {}
    for name in os.environ["WEBHOOK_SOURCES"].replace(",", " ").split():
        prefix = "SOURCE_" + name.upper().replace("-", "_") + "_"
        secrets = os.environ.get(prefix + "SECRETS", "")
        scheme = os.environ.get(prefix + "SCHEME") or {
            "legitmark": "standard-webhooks",
            "cr3dentials": "hex-hmac",
        }[name]
        if scheme == "standard-webhooks":
            keys = [base64.b64decode(s.removeprefix("whsec_")) for s in secrets.replace(",", " ").split()]
            header = None
        else:
            keys = [line.encode() for line in secrets.splitlines() if line.strip()]
            header_name = os.environ.get(prefix + "AUTH_HEADER_NAME")
            header = (header_name.lower(), os.environ[prefix + "AUTH_HEADER_VALUE"]) if header_name else None
        if not keys and header is None:
            raise RuntimeError(f"{prefix}SECRETS is not set")
        sources[name] = (scheme, keys, header)
    return sources


SOURCES = _sources()
dynamodb = boto3.client("dynamodb")
sqs = boto3.client("sqs")


def _answer(status, body, headers=None):
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", **(headers or {})},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def _verify_standard(keys, headers, body, now_s):
    """The svix-id when authentic, else a failure class."""
    msg_id = headers.get("svix-id") or headers.get("webhook-id")
    ts = headers.get("svix-timestamp") or headers.get("webhook-timestamp")
    sigs = headers.get("svix-signature") or headers.get("webhook-signature")
    if not (msg_id and ts and sigs):
        return None, "missing_header"
    if not ts.isdigit() or abs(now_s - int(ts)) > TOLERANCE_S:
        return None, "stale_timestamp"
    signed = f"{msg_id}.{ts}.".encode() + body
    expected = [hmac.new(k, signed, hashlib.sha256).digest() for k in keys]
    for entry in sigs.split():
        version, _, sig = entry.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(sig, validate=True)
        except ValueError:
            continue
        if any(hmac.compare_digest(given, e) for e in expected):
            return msg_id, None
    return None, "bad_signature"


def _verify_hex(keys, header, headers, body):
    if header is not None and not hmac.compare_digest(
        headers.get(header[0], "").encode(), header[1].encode()
    ):
        return "bad_credential"
    if keys:
        given = headers.get("x-webhook-signature", "").lower().removeprefix("sha256=")
        if not any(
            hmac.compare_digest(given.encode(), hmac.new(k, body, hashlib.sha256).hexdigest().encode())
            for k in keys
        ):
            return "bad_signature"
    return None


def _key(source, message_id, event):
    if message_id:
        return "id:" + message_id
    if source == "legitmark":
        state = event.get("state") or {}
        parts = ["legitmark", event["event_type"], event["sr_uuid"], state.get("primary") or "",
                 state.get("supplement") or "", event["timestamp"]]
    else:
        data = event["data"]
        parts = ["cr3dentials", event["type"], data["verificationId"], data["status"]]
    return "sha256:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _metric(name, now_ms):
    print(json.dumps({
        "_aws": {"Timestamp": now_ms, "CloudWatchMetrics": [{
            "Namespace": "WebhookReceiver", "Dimensions": [["Function"]],
            "Metrics": [{"Name": name, "Unit": "Count"}]}]},
        "Function": "ingress", name: 1,
    }))


def _process(event, context):
    path = event.get("rawPath") or ""
    name = path.removeprefix("/webhooks/").rstrip("/")
    if not path.startswith("/webhooks/") or name not in SOURCES:
        return "not_found", None, _answer(404, {"error": "no such webhook source"})
    if event["requestContext"]["http"]["method"].upper() != "POST":
        return "method_not_allowed", None, _answer(405, {"error": "only POST is accepted"}, {"allow": "POST"})
    raw = event.get("body") or ""
    body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode()
    if len(body) > MAX_BODY_BYTES:
        return "too_large", None, _answer(413, {"error": "body too large"})
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}

    now_ms = int(time.time() * 1000)
    scheme, keys, header = SOURCES[name]
    if scheme == "standard-webhooks":
        message_id, failure = _verify_standard(keys, headers, body, now_ms // 1000)
    else:
        message_id, failure = None, _verify_hex(keys, header, headers, body)
    if failure:
        return "rejected_" + failure, None, _answer(401, {"error": "unauthorized", "reason": failure})

    parsed = json.loads(body)
    key = _key(name, message_id, parsed)
    body_sha256 = hashlib.sha256(body).hexdigest()
    token = str(uuid.uuid4())
    pk = f"{name}#{key}"
    subject = parsed.get("reference_id") or parsed.get("sr_uuid") or str(parsed.get("data", {}).get("sessionId", ""))
    event_type = parsed.get("event_type") or parsed.get("type") or ""
    deadline_ms = context.get_remaining_time_in_millis() + now_ms
    item = {
        "pk": {"S": pk}, "source": {"S": name}, "idempotency_key": {"S": key},
        "status": {"S": "RECEIVED"}, "body": {"B": body}, "body_sha256": {"S": body_sha256},
        "headers": {"M": {k: {"S": v} for k, v in headers.items()
                          if k.startswith(("svix-", "webhook-", "x-webhook-signature"))}},
        "received_at": {"N": str(now_ms)}, "expires_at": {"N": str(now_ms // 1000 + RETENTION_S)},
        "lease_until": {"N": str(deadline_ms)}, "claim_token": {"S": token},
        "event_type": {"S": event_type}, "subject": {"S": subject},
    }
    if message_id:
        item["message_id"] = {"S": message_id}
    try:
        dynamodb.put_item(
            TableName=EVENTS_TABLE, Item=item,
            ConditionExpression="attribute_not_exists(#pk)", ExpressionAttributeNames={"#pk": "pk"},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except dynamodb.exceptions.ConditionalCheckFailedException as err:
        old = err.response.get("Item", {})
        if old.get("body_sha256", {}).get("S") != body_sha256:
            return "conflict", key, _answer(200, {"status": "conflict"})
        if old.get("status", {}).get("S") in ("ENQUEUED", "PROCESSED"):
            return "duplicate", key, _answer(200, {"status": "duplicate"})
        return "busy", key, _answer(409, {"error": "event is being processed; retry later"}, {"retry-after": "1"})

    meta = {"v": 1, "source": name, "key": key, "payload_kind": name, "event_type": event_type,
            "subject": subject, "received_at_ms": now_ms}
    if message_id:
        meta["message_id"] = message_id
    envelope = '{"meta":' + json.dumps(meta, separators=(",", ":")) + ',"payload":' + body.decode() + "}"
    attribute = lambda value: {"DataType": "String", "StringValue": value or "-"}  # noqa: E731
    sqs.send_message(
        QueueUrl=QUEUE_URL, MessageBody=envelope,
        MessageAttributes={"source": attribute(name), "event_type": attribute(event_type),
                           "payload_kind": attribute(name)},
    )
    dynamodb.update_item(
        TableName=EVENTS_TABLE, Key={"pk": {"S": pk}},
        UpdateExpression="SET #status = :enqueued",
        ConditionExpression="#status = :received AND #token = :token",
        ExpressionAttributeNames={"#status": "status", "#token": "claim_token"},
        ExpressionAttributeValues={":enqueued": {"S": "ENQUEUED"}, ":received": {"S": "RECEIVED"},
                                   ":token": {"S": token}},
    )
    return "accepted", key, _answer(200, {"status": "accepted"})


def handler(event, context):
    started = time.perf_counter()
    outcome, key, response = _process(event, context)
    print(json.dumps({"level": "INFO", "message": "webhook handled", "outcome": outcome,
                      "status": response["statusCode"], "key": key or "-",
                      "latency_ms": (time.perf_counter() - started) * 1000}))
    _metric(outcome, int(time.time() * 1000))
    return response
