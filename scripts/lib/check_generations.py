#!/usr/bin/env python3
"""Sends each sample of the senders' newer payload generations to the running local stack and
waits for the record change the README documents for it; prints how long each change took.

Usage: check_generations.py WEBHOOKCTL (with the local stack's environment exported)."""

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CTL = sys.argv[1]
PAYLOADS = Path("events/payloads")
ITEM = "item-generations-smoke"
BOUND_S = 60


def send(path):
    subprocess.run([CTL, "send", str(path)], check=True, stdout=subprocess.DEVNULL)


def show(*args):
    done = subprocess.run([CTL, "show", *args], capture_output=True, text=True)
    return json.loads(done.stdout) if done.returncode == 0 else None


def wait_for(description, args, holds):
    started = time.monotonic()
    while time.monotonic() - started < BOUND_S:
        shown = show(*args)
        if shown is not None and holds(shown["record"], [n["kind"] for n in shown["notifications"]]):
            print(f"smoke: {description}: changed after {(time.monotonic() - started) * 1000:.0f} ms")
            return
        time.sleep(0.1)
    sys.exit(f"smoke: {description}: no documented change within {BOUND_S} s; last: {show(*args)}")


with tempfile.TemporaryDirectory(dir="target/dev") as tmp:
    # Legitmark: media_rejected and invalidate_sr without `state`, on an item of their own.
    for name, holds in [
        (
            "media_rejected_v2",
            lambda r, k: r["state"] == {"primary": "QC", "supplement": "REJECTED"}
            and [s["side"] for s in r["reupload_requests"]] == ["Front", "Serial Tag"]
            and r["reupload_requests"][0]["message"]
            and r["reupload_requests"][1].get("message") is None
            and k == ["reupload_requested"],
        ),
        (
            "invalidate_sr_v2",
            lambda r, k: r["verdict"] == "CANCELLED"
            and r["state"]["primary"] == "CANCELLED"
            and r["invalidation_reason"]["code"] == "CANCELLED"
            and r["invalidation_reason"]["message"]
            and k[-1] == "request_cancelled",
        ),
    ]:
        body = json.loads((PAYLOADS / "legitmark" / f"{name}.json").read_text())
        body["reference_id"] = ITEM
        # webhookctl send takes the source from the sample's folder name.
        path = Path(tmp) / "legitmark" / f"{name}.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(body, indent=2))
        send(path)
        wait_for(f"legitmark {name}", [ITEM], holds)

    # Cr3dentials: the session-level webhook, each terminal status and the null variants.
    kinds = {
        "COMPLETED": "session_completed",
        "PARTIAL_COMPLETE": "session_partially_completed",
        "ERROR": "session_error",
        "CANCELLED": "session_cancelled",
        "TERMINATED": "session_terminated",
    }
    for path in sorted((PAYLOADS / "cr3dentials").glob("session_*.json")):
        body = json.loads(path.read_text())
        send(path)

        def holds(record, notified, body=body):
            session = record.get("session") or {}
            return (
                session.get("status") == body["status"]
                and session.get("external_reference_id") == body["externalReferenceId"]
                and session.get("extracted_data") == body["extractedData"]
                and session.get("proof_hash") == body["proofHash"]
                and notified == [kinds[body["status"]]]
            )

        wait_for(f"cr3dentials {path.stem}", ["--verification", body["sessionId"]], holds)
