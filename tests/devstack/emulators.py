"""The official Firestore and Pub/Sub emulators from the Google Cloud CLI, run on bare Java."""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.devstack import rest
from tests.devstack.component import Component
from tests.devstack.process import LOCALHOST, http_answers
from tests.devstack.sdk import java, sdk_file

# Serial GC and the C1 compiler only: on two cores the emulators start about 0.5 s sooner,
# and test-sized workloads (thousands of documents) ran faster too, measured, not guessed.
_JVM_FLAGS = ["-Duser.language=en", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]


class _JavaEmulator(Component):
    jar_pattern: str

    def __init__(self, workdir: Path, project: str) -> None:
        super().__init__(workdir)
        self.project = project
        self._java = ""
        self._jar = Path()

    def check_installed(self) -> None:
        self._java = java(self.name)
        self._jar = sdk_file(self.name, self.jar_pattern)

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, the form the ``*_EMULATOR_HOST`` variables take."""
        return f"{LOCALHOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def healthy(self) -> bool:
        return http_answers(self.url + "/")


class FirestoreEmulator(_JavaEmulator):
    """Firestore in Native mode; ``url`` also serves the REST API and ``/emulator/v1``."""

    name = "firestore"
    jar_pattern = "platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"

    def command(self) -> list[str]:
        return [
            self._java,
            *_JVM_FLAGS,
            "-cp",
            str(self._jar),
            "com.google.cloud.datastore.emulator.firestore.CloudFirestore",
            "start",
            f"--host={LOCALHOST}",
            f"--port={self.port}",
        ]

    def env(self) -> dict[str, str]:
        return {"FIRESTORE_EMULATOR_HOST": self.host}

    def documents_url(self, database: str = "(default)") -> str:
        """The REST documents API root, for reads that bypass the client library."""
        return f"{self.url}/v1/projects/{self.project}/databases/{database}/documents"

    def clear(self, database: str = "(default)") -> None:
        """Delete every document in ``database`` (the emulator's own reset endpoint)."""
        rest.call(
            "DELETE",
            f"{self.url}/emulator/v1/projects/{self.project}/databases/{database}/documents",
        )


class PubSubEmulator(_JavaEmulator):
    """Pub/Sub, with helpers that speak its REST API (the same one ``gcloud`` uses)."""

    name = "pubsub"
    jar_pattern = "platform/pubsub-emulator/lib/cloud-pubsub-emulator-*.jar"

    def command(self) -> list[str]:
        return [
            self._java,
            *_JVM_FLAGS,
            "-jar",
            str(self._jar),
            f"--host={LOCALHOST}",
            f"--port={self.port}",
        ]

    def env(self) -> dict[str, str]:
        return {"PUBSUB_EMULATOR_HOST": self.host}

    def topic_path(self, topic: str) -> str:
        return f"projects/{self.project}/topics/{topic}"

    def subscription_path(self, subscription: str) -> str:
        return f"projects/{self.project}/subscriptions/{subscription}"

    def _api(self, method: str, path: str, body: Any = None) -> Any:
        return rest.call(method, f"{self.url}/v1/{path}", body)

    def create_topic(self, topic: str) -> None:
        """Create ``topic`` unless it exists."""
        try:
            self._api("PUT", self.topic_path(topic), {})
        except rest.RestError as error:
            if error.status != 409:
                raise

    def create_subscription(
        self,
        subscription: str,
        topic: str,
        *,
        push_endpoint: str | None = None,
        dead_letter_topic: str | None = None,
        max_delivery_attempts: int = 5,
    ) -> dict[str, Any]:
        """(Re)create ``subscription`` on ``topic``: pull, or push to ``push_endpoint``.

        An existing subscription of that name is replaced, so redeploying a
        function on a new port does not leave pushes going to the old one.
        """
        body: dict[str, Any] = {"topic": self.topic_path(topic)}
        if push_endpoint is not None:
            body["pushConfig"] = {"pushEndpoint": push_endpoint}
        if dead_letter_topic is not None:
            body["deadLetterPolicy"] = {
                "deadLetterTopic": self.topic_path(dead_letter_topic),
                "maxDeliveryAttempts": max_delivery_attempts,
            }
        self.delete_subscription(subscription)
        created: dict[str, Any] = self._api("PUT", self.subscription_path(subscription), body)
        return created

    def delete_subscription(self, subscription: str) -> None:
        try:
            self._api("DELETE", self.subscription_path(subscription))
        except rest.RestError as error:
            if error.status != 404:
                raise

    def publish(self, topic: str, data: bytes, attributes: Mapping[str, str] | None = None) -> str:
        """Publish one message; returns its message id."""
        message: dict[str, Any] = {"data": base64.b64encode(data).decode()}
        if attributes:
            message["attributes"] = dict(attributes)
        answer = self._api("POST", self.topic_path(topic) + ":publish", {"messages": [message]})
        message_id: str = answer["messageIds"][0]
        return message_id

    def pull(
        self, subscription: str, *, expect: int = 1, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Pull and acknowledge until ``expect`` messages arrived or ``timeout`` passed.

        Each message is the REST ``PubsubMessage`` with ``data`` decoded to bytes.
        """
        path = self.subscription_path(subscription)
        received: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(received) < expect and time.monotonic() < deadline:
            answer = self._api(
                "POST", path + ":pull", {"maxMessages": expect, "returnImmediately": True}
            )
            batch = answer.get("receivedMessages", [])
            if not batch:
                time.sleep(0.1)
                continue
            self._api("POST", path + ":acknowledge", {"ackIds": [m["ackId"] for m in batch]})
            for item in batch:
                message = dict(item["message"])
                message["data"] = base64.b64decode(message.get("data", ""))
                received.append(message)
        return received
