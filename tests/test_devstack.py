"""The local stack is real: every server is proven by reading back over its own wire.

A write through an official client is read back by plain HTTP (or the raw
MongoDB wire protocol), so no test here can pass against a mock. Pub/Sub is
proven end to end: a publish (client, REST, the real ``gcloud`` CLI) reaches
a function served by functions-framework through an emulator push
subscription, as an Eventarc trigger delivers it in Google Cloud.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.devstack import rest
from tests.devstack.emulators import FirestoreEmulator, PubSubEmulator
from tests.devstack.functions import FunctionGroup, FunctionSpec
from tests.devstack.mongo import MongoServer
from tests.devstack.process import REPO_ROOT, ComponentUnavailable, group_members
from tests.devstack.sdk import sdk_file
from tests.devstack.stack import DEFAULT_PROJECT, SERVICES, Stack
from tests.devstack.standin import SecretManagerStandIn
from tests.devstack.standins.httpbase import ApiError, OperationStore, Router, StandInServer
from tests.devstack.storage import FakeGcsServer
from tests.polling import wait_until

EVENTS = Path(__file__).parent / "data" / "events"
ECHO_SOURCE = "tests/data/functions/echo_main.py"
ECHO_TOPIC = "echo-in"
ECHO_DEAD_LETTERS = "echo-dead"


def _records(out: Path, message_id: str) -> list[dict[str, Any]]:
    """The echo function's record of each delivery of ``message_id``, in order."""
    files = sorted(out.glob(f"{message_id}.*.json"), key=lambda p: int(p.name.split(".")[1]))
    return [json.loads(p.read_text()) for p in files]


@pytest.fixture(scope="module")
def echo_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("echo")


@pytest.fixture(scope="module")
def echo(function_stack: Callable[..., FunctionGroup], echo_out: Path) -> FunctionGroup:
    spec = FunctionSpec(
        target="echo",
        topics=(ECHO_TOPIC,),
        source=ECHO_SOURCE,
        env={"ECHO_OUTPUT_DIR": str(echo_out)},
        dead_letter_topic=ECHO_DEAD_LETTERS,
    )
    return function_stack([spec])


# --- Firestore, Cloud Storage, MongoDB --------------------------------------------------------


def test_firestore_document_is_read_back_over_rest(
    firestore_client: Any, clean_firestore: FirestoreEmulator
) -> None:
    firestore_client.collection("frames").document("aviator").set({"lens": "polar", "stock": 12})

    document = rest.call("GET", clean_firestore.documents_url() + "/frames/aviator")

    assert document["fields"] == {"lens": {"stringValue": "polar"}, "stock": {"integerValue": "12"}}
    clean_firestore.clear()
    with pytest.raises(rest.RestError) as gone:
        rest.call("GET", clean_firestore.documents_url() + "/frames/aviator")
    assert gone.value.status == 404


def test_storage_object_is_read_back_over_json_and_xml_apis(
    storage_client: Any, gcs_server: FakeGcsServer, bucket_name: str
) -> None:
    payload = b'{"lens": "polar"}'
    blob = storage_client.create_bucket(bucket_name).blob("frames/aviator.json")
    blob.upload_from_string(payload, content_type="application/json")
    json_api = f"{gcs_server.url}/storage/v1/b/{bucket_name}/o/{quote(blob.name, safe='')}"
    # The XML API answers path-style requests addressed to Google's storage host.
    xml_api = urllib.request.Request(
        f"{gcs_server.url}/{bucket_name}/{blob.name}", headers={"Host": "storage.googleapis.com"}
    )

    metadata = rest.call("GET", json_api)
    with urllib.request.urlopen(json_api + "?alt=media") as media:
        assert media.read() == payload
    with urllib.request.urlopen(xml_api) as xml:
        assert xml.read() == payload
    assert metadata["size"] == str(len(payload))
    assert metadata["contentType"] == "application/json"


def _wire_command(port: int, command: dict[str, Any]) -> dict[str, Any]:
    """One OP_MSG round trip on a bare socket: no driver between the test and the server."""
    import bson

    body = struct.pack("<IB", 0, 0) + bson.encode(command)  # flagBits, section kind 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(struct.pack("<iiii", 16 + len(body), 1, 0, 2013) + body)
        reply = b""
        while len(reply) < 4 or len(reply) < struct.unpack("<i", reply[:4])[0]:
            chunk = sock.recv(65536)
            assert chunk, "server closed the connection"
            reply += chunk
    return dict(bson.decode(reply[16 + 5 :]))  # header, flagBits, section kind


def test_mongo_document_is_seen_over_the_raw_wire_protocol(
    mongo_db: Any, mongo_server: MongoServer
) -> None:
    mongo_db.frames.insert_one({"_id": "aviator", "stock": 12})

    found = _wire_command(mongo_server.port, {"find": "frames", "$db": mongo_db.name})
    build = _wire_command(mongo_server.port, {"buildInfo": 1, "$db": "admin"})
    hello = _wire_command(mongo_server.port, {"hello": 1, "$db": "admin"})

    assert found["cursor"]["firstBatch"] == [{"_id": "aviator", "stock": 12}]
    assert "secantusVersion" in build  # SecantusDB, speaking as MongoDB build["version"]
    assert hello["isWritablePrimary"] is True


def test_mongo_with_auth_refuses_missing_and_wrong_credentials(
    mongo_auth_server: MongoServer,
) -> None:
    import pymongo
    from pymongo.errors import OperationFailure

    def connect(uri: str) -> pymongo.MongoClient[dict[str, Any]]:
        return pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)

    user = next(iter(mongo_auth_server.users))
    for uri, code in ((mongo_auth_server.uri(), 13), (mongo_auth_server.uri(user, "wrong"), 18)):
        with connect(uri) as client, pytest.raises(OperationFailure) as refused:
            client.dr.frames.find_one()
        assert refused.value.code == code  # 13 Unauthorized, 18 AuthenticationFailed

    with connect(mongo_auth_server.env()["MONGODB_URI"]) as client:
        client.dr.frames.insert_one({"_id": 1})
        assert client.dr.frames.count_documents({}) == 1


# --- Pub/Sub push to functions ----------------------------------------------------------------


def test_published_message_reaches_the_function_by_push(
    echo: FunctionGroup, publisher: Any, echo_out: Path
) -> None:
    topic = publisher.topic_path(DEFAULT_PROJECT, ECHO_TOPIC)
    message_id = publisher.publish(topic, b'{"request": "ping"}', origin="client").result(10)

    (record,) = wait_until(lambda: _records(echo_out, message_id), what="the push")

    assert record["data"] == '{"request": "ping"}'
    assert record["attributes"] == {"origin": "client"}
    assert record["id"] == message_id
    assert record["type"] == "google.cloud.pubsub.topic.v1.messagePublished"
    assert record["source"] == f"//pubsub.googleapis.com/{topic}"


def test_function_handles_concurrent_pushes_concurrently(
    echo: FunctionGroup, echo_out: Path
) -> None:
    """Google Cloud pushes many messages at once (its push window grows with success), so the
    function must serve them side by side. The emulator pushes at most two at a time per
    subscription, so the pushes here are sent directly, as the emulator would send them."""
    push = json.loads((EVENTS / "pubsub_push.json").read_text())
    url = echo.server("echo").url + f"/projects/{DEFAULT_PROJECT}/topics/{ECHO_TOPIC}"
    ids = [f"concurrent-{n}" for n in range(4)]

    def deliver(message_id: str) -> None:
        message = {**push["message"], "messageId": message_id, "attributes": {"echo_sleep": "1"}}
        body = json.dumps({**push, "message": message}).encode()
        request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request) as answer:
            assert answer.status == 200

    threads = [threading.Thread(target=deliver, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    records = [_records(echo_out, i)[0] for i in ids]
    # Every delivery started before any finished: they overlapped, none queued behind another.
    assert max(r["started"] for r in records) < min(r["finished"] for r in records)


def test_failing_function_is_redelivered_then_dead_lettered(
    echo: FunctionGroup, pubsub_emulator: PubSubEmulator, echo_out: Path
) -> None:
    """Stands for Pub/Sub's dead-letter policy: after ``maxDeliveryAttempts`` failed pushes
    (minimum 5, enforced by the emulator as by Google) the message moves to the dead-letter
    topic with the ``CloudPubSubDeadLetterSource*`` attributes. The emulator redelivers about
    once a second; Google's backoff is slower, so only counts are asserted, not timing."""
    message_id = pubsub_emulator.publish(ECHO_TOPIC, b"poison", {"echo_fail": "1"})
    spec = echo.server("echo").spec
    assert spec.dead_letter_subscription is not None

    (dead,) = pubsub_emulator.pull(spec.dead_letter_subscription, timeout=30)

    assert dead["data"] == b"poison"
    assert dead["attributes"]["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"
    assert dead["attributes"]["CloudPubSubDeadLetterSourceSubscription"] == "echo-echo-in"
    assert len(_records(echo_out, message_id)) == 5


def test_event_files_reach_the_function_through_the_test_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import functions_framework

    app = functions_framework.create_app(  # type: ignore[no-untyped-call]
        "echo", str(REPO_ROOT / ECHO_SOURCE), "cloudevent"
    )
    monkeypatch.setenv("ECHO_OUTPUT_DIR", str(tmp_path))
    push = json.loads((EVENTS / "pubsub_push.json").read_text())
    cloud_event = (EVENTS / "cloudevent_pubsub.json").read_text()

    client = app.test_client()
    pushed = client.post(f"/projects/{DEFAULT_PROJECT}/topics/{ECHO_TOPIC}", json=push)
    structured = client.post(
        "/", data=cloud_event, headers={"Content-Type": "application/cloudevents+json"}
    )

    assert (pushed.status_code, structured.status_code) == (200, 200)
    (from_push,) = _records(tmp_path, push["message"]["messageId"])
    (from_event,) = _records(tmp_path, json.loads(cloud_event)["id"])
    assert from_push["source"].endswith(f"/projects/{DEFAULT_PROJECT}/topics/{ECHO_TOPIC}")
    assert json.loads(from_push["data"]) == {"request": "echo", "from": "a file"}
    assert from_event["subscription"] == json.loads(cloud_event)["data"]["subscription"]


def test_cloudevent_file_reaches_the_running_function(echo: FunctionGroup, echo_out: Path) -> None:
    body = (EVENTS / "cloudevent_pubsub.json").read_bytes()
    request = urllib.request.Request(
        echo.server("echo").url + "/",
        data=body,
        headers={"Content-Type": "application/cloudevents+json"},
    )

    with urllib.request.urlopen(request) as answer:
        assert answer.status == 200
    (record,) = _records(echo_out, json.loads(body)["id"])
    assert record["attributes"] == {"origin": "tests/data/events"}


# --- gcloud against a stack from `python -m tests.devstack up` ----------------------------------

# What the real-gcloud test deploys and publishes. To point it at the product, serve
# "dr_restore:dr-restore" (functions/main.py) and publish a restore request instead.
GCLOUD_FUNCTION = f"echo:echo-gcloud:{ECHO_SOURCE}"
GCLOUD_MESSAGE = '{"target": "firestore", "request": "from gcloud"}'


def _descendant_groups(pid: int) -> set[int]:
    """Process groups of ``pid``'s direct children (each server leads its own group)."""
    groups = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            groups.add(int(fields[2]))
    return groups


def _alive(groups: set[int]) -> set[int]:
    return {pid for pgid in groups for pid in group_members(pgid)}


def test_gcloud_cli_in_an_up_shell_reaches_the_function_and_ctrl_c_cleans_up(
    tmp_path: Path, require_installed: Callable[..., None]
) -> None:
    require_installed("pubsub", "functions")  # the emulator ships with the gcloud CLI
    state, out = tmp_path / "state", tmp_path / "echo"
    out.mkdir()
    python3 = shutil.which("python3") or sys.executable
    env_command = f"{python3} -m tests.devstack env --state-dir {state}"
    with (tmp_path / "up.log").open("wb") as log:
        up = subprocess.Popen(
            [sys.executable, "-m", "tests.devstack", "up", "--state-dir", str(state),
             "--only", "pubsub", "--function", GCLOUD_FUNCTION, "--set", f"ECHO_OUTPUT_DIR={out}"],
            cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_until(lambda: (state / "env.sh").exists() or up.poll() is not None, 90, "env.sh")
        assert up.poll() is None, (tmp_path / "up.log").read_text()
        groups = _descendant_groups(up.pid)
        exports = subprocess.run(
            env_command.split(), cwd=REPO_ROOT, capture_output=True, text=True, check=True
        )
        published = subprocess.run(
            ["bash", "-c", f'eval "$({env_command})" && gcloud pubsub topics publish echo-gcloud'
             f" --message '{GCLOUD_MESSAGE}' --attribute origin=gcloud --format=json"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert published.returncode == 0, published.stderr
        (message_id,) = json.loads(published.stdout)["messageIds"]
        (record,) = wait_until(lambda: _records(out, message_id), what="the gcloud message")
    finally:
        up.send_signal(signal.SIGINT)
        code = up.wait(60)

    assert "export CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB=http://127.0.0.1:" in exports.stdout
    assert "export PUBSUB_EMULATOR_HOST=127.0.0.1:" in exports.stdout
    assert record["data"] == GCLOUD_MESSAGE
    assert record["attributes"] == {"origin": "gcloud"}
    assert code == 0
    assert len(groups) == 2  # the emulator and the function
    assert not _alive(groups)
    gone = subprocess.run(
        env_command.split(), cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert gone.returncode == 1
    assert "No local stack is up" in gone.stderr


# --- Secret Manager stand-in with the official client ------------------------------------------


def _crc32c(data: bytes) -> int:
    import google_crc32c

    return int(google_crc32c.value(data))


def test_secret_manager_versions_latest_and_errors(secret_manager_client: Any) -> None:
    from google.api_core import exceptions

    client = secret_manager_client
    parent = f"projects/{DEFAULT_PROJECT}"
    secret = client.create_secret(
        request={"parent": parent, "secret_id": "mongodb-uri", "secret": {"replication": {}}}
    )
    one = client.add_secret_version(
        request={"parent": secret.name, "payload": {"data": b"one", "data_crc32c": _crc32c(b"one")}}
    )
    two = client.add_secret_version(request={"parent": secret.name, "payload": {"data": b"two"}})

    latest = client.access_secret_version(name=f"{secret.name}/versions/latest")
    assert (latest.name, latest.payload.data) == (two.name, b"two")
    assert latest.payload.data_crc32c == _crc32c(b"two")
    assert client.access_secret_version(name=one.name).payload.data == b"one"
    listed = client.list_secret_versions(parent=secret.name)
    assert [v.name for v in listed] == [two.name, one.name]

    # Real Secret Manager: "latest" is the newest version even when disabled; access fails.
    client.disable_secret_version(name=two.name)
    with pytest.raises(exceptions.BadRequest, match="DISABLED state"):
        client.access_secret_version(name=f"{secret.name}/versions/latest")
    client.destroy_secret_version(name=one.name)
    assert client.get_secret_version(name=one.name).state.name == "DESTROYED"
    with pytest.raises(exceptions.NotFound):
        client.access_secret_version(name=f"{parent}/secrets/absent/versions/latest")
    with pytest.raises(exceptions.Conflict):
        client.create_secret(request={"parent": parent, "secret_id": "mongodb-uri"})
    with pytest.raises(exceptions.BadRequest, match="checksum"):
        client.add_secret_version(
            request={"parent": secret.name, "payload": {"data": b"x", "data_crc32c": 1}}
        )


def test_secret_manager_seed_file(tmp_path: Path) -> None:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import secretmanager

    seed = tmp_path / "secrets.json"
    seed.write_text(json.dumps({"smtp-password": ["old", {"data": "new", "state": "ENABLED"}]}))
    with SecretManagerStandIn(tmp_path, DEFAULT_PROJECT, seed) as stand_in:
        client = secretmanager.SecretManagerServiceClient(
            credentials=AnonymousCredentials(),
            transport="rest",
            client_options=ClientOptions(api_endpoint=stand_in.env()["DR_SECRET_MANAGER_ENDPOINT"]),
        )
        name = f"projects/{DEFAULT_PROJECT}/secrets/smtp-password/versions/latest"
        answer = client.access_secret_version(name=name)

    assert (answer.name.rsplit("/", 1)[1], answer.payload.data) == ("2", b"new")


# --- the stand-ins' shared HTTP base -------------------------------------------------------------


def test_operation_store_serves_long_running_operations() -> None:
    store, release = OperationStore(), threading.Event()
    router = Router()
    store.add_routes(router)

    def slow(_request: Any) -> tuple[int, Any]:
        def work() -> dict[str, Any]:
            release.wait(10)
            return {"@type": "type.googleapis.com/demo.Result", "rows": 3}

        return 200, store.run("projects/p/databases/d", {"@type": "demo.Meta"}, work)

    def broken(_request: Any) -> tuple[int, Any]:
        raise ApiError(409, "busy", "ABORTED")

    router.add("POST", r"/v1/projects/p/databases/d:slow", slow)
    router.add("POST", r"/v1/broken", broken)
    server = StandInServer(("127.0.0.1", 0), router)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        first = rest.call("POST", base + "/v1/projects/p/databases/d:slow")
        second = rest.call("POST", base + "/v1/projects/p/databases/d:slow")
        assert rest.call("GET", f"{base}/v1/{first['name']}")["done"] is False
        rest.call("POST", f"{base}/v1/{second['name']}:cancel")
        release.set()
        done = wait_until(lambda: rest.call("GET", f"{base}/v1/{first['name']}")["done"])
        listed = rest.call("GET", f"{base}/v1/projects/p/databases/d/operations")
        with pytest.raises(rest.RestError) as conflict:
            rest.call("POST", base + "/v1/broken")
        with pytest.raises(rest.RestError) as unknown:
            rest.call("GET", base + "/v1/nothing/here")
    finally:
        server.shutdown()
        server.server_close()

    assert done is True
    operations = {op["name"]: op for op in listed["operations"]}
    assert operations[first["name"]]["response"]["rows"] == 3
    assert operations[second["name"]]["error"] == {"code": 1, "message": "Operation was cancelled."}
    assert conflict.value.body == {"error": {"code": 409, "message": "busy", "status": "ABORTED"}}
    assert (unknown.value.status, unknown.value.body["error"]["status"]) == (404, "NOT_FOUND")


# --- lifecycle --------------------------------------------------------------------------------


def test_stop_leaves_no_process_behind(
    tmp_path: Path, require_installed: Callable[..., None]
) -> None:
    """Every server, and every child it started (gunicorn's worker), is gone after ``stop``."""
    require_installed(*SERVICES, "functions")
    spec = FunctionSpec("echo", ("echo-stop",), ECHO_SOURCE, env={"ECHO_OUTPUT_DIR": str(tmp_path)})
    with Stack(workdir=tmp_path / "stack") as stack:
        stack.start()
        stack.deploy([spec])
        groups = set(stack.process_groups())
        members = _alive(groups)
        timings = stack.timings()

    assert len(groups) == len(SERVICES) + 1  # each service and the function: own process group
    assert len(members) > len(groups)  # gunicorn's worker lives in its arbiter's group
    assert not _alive(groups), f"left running: {_alive(groups)}"
    assert set(timings) == {*SERVICES, "function-echo"}


def test_missing_component_names_what_to_install() -> None:
    with pytest.raises(ComponentUnavailable, match=r"^firestore: .* install") as missing:
        sdk_file("firestore", "platform/no-such-emulator/*.jar")
    assert missing.value.component == "firestore"
