"""A test-only Cloud Function that records every Pub/Sub event it receives.

Each delivery is written as JSON to ``$ECHO_OUTPUT_DIR/<message id>.<n>.json``
(``n`` counts redeliveries), so a test can see what crossed the wire: the
CloudEvent's id, source and type, and the message's data, attributes and id.
Attributes steer it: ``echo_fail`` makes the delivery fail (HTTP 500, so Pub/Sub
redelivers and, with a policy, dead-letters it); ``echo_sleep`` (seconds) makes
it wait first, to show deliveries being handled concurrently.
"""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import Any

import functions_framework


@functions_framework.cloud_event
def echo(cloud_event: Any) -> None:
    started = time.time()
    message = cloud_event.data["message"]
    attributes = message.get("attributes") or {}
    time.sleep(float(attributes.get("echo_sleep", 0)))
    message_id = message.get("messageId") or message.get("message_id")
    record = {
        "id": cloud_event["id"],
        "source": cloud_event["source"],
        "type": cloud_event["type"],
        "message_id": message_id,
        "data": base64.b64decode(message.get("data", "")).decode(),
        "attributes": attributes,
        "subscription": cloud_event.data.get("subscription"),
        "started": started,
        "finished": time.time(),
    }
    out = Path(os.environ["ECHO_OUTPUT_DIR"])
    attempt = len(list(out.glob(f"{message_id}.*.json"))) + 1
    partial = out / f".{message_id}.{attempt}.{os.getpid()}.tmp"
    partial.write_text(json.dumps(record))
    partial.rename(out / f"{message_id}.{attempt}.json")  # appear whole, never half-written
    if "echo_fail" in attributes:
        raise RuntimeError(f"echo_fail set on message {message_id}")
