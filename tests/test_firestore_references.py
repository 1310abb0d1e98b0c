"""References across databases and verification by contents, end to end on the local stack.

The export, the import (the Admin API stand-in on the real emulator) and the
completion step run as in production. The import leaves references pointing
into the source database, as the managed import does; ``rewrite_references``
points them at the copy; verification compares every document's contents
with the export and fails on one changed field.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared import registry
from shared.console.restore import request_body
from shared.errors import ConfigError, RequestError
from shared.firestore import admin, documents, references, restore_record, verify
from shared.firestore.canonical import Reference
from shared.firestore.restore_record import PendingImport
from shared.restore import schema
from tests import firestoredata
from tests.devstack import rest
from tests.firestorestack import (
    Restorer,
    Webhook,
    data_client,
    export_now,
    settings_for,
    wait_done,
)

pytest_plugins = ["tests.firestore_fixtures"]

DOCUMENTS = sum(firestoredata.EXPECTED_COUNTS.values())
# users: favourite, history[0], history[1].viewed; orders: ship_to.by; items: product
REFERENCES = firestoredata.USERS * 3 + (
    firestoredata.USERS * firestoredata.ORDERS_PER_USER * (1 + firestoredata.ITEMS_PER_ORDER)
)
WITH_REFERENCES = firestoredata.USERS * (
    1 + firestoredata.ORDERS_PER_USER * (1 + firestoredata.ITEMS_PER_ORDER)
)


def _empty_database(restorer: Restorer, emulator: Any, project: str, database: str) -> str:
    """``projects/P/databases/D``, created unless it exists, with no documents."""
    name = admin.database_name(project, database)
    if database != "(default)" and admin.get_database(restorer.client, name) is None:
        wait_done(
            restorer.client, admin.create_database(restorer.client, project, database, "nam5")
        )
    rest.call("DELETE", f"{emulator.url}/emulator/v1/{name}/documents")
    return name


def _imported(restorer: Restorer, emulator: Any, database: str) -> tuple[str, PendingImport, str]:
    """A restore into the empty ``database`` whose import is done and not yet verified."""
    destination = _empty_database(restorer, emulator, restorer.settings.project_id, database)
    request_id, _ = restorer.start(target_database=database)
    found = restore_record.read(restorer.store.bucket, request_id)
    assert found is not None
    wait_done(restorer.client, found[0].operation)
    return request_id, found[0], destination


def _moved(snapshot: dict[str, Any], source: str, destination: str) -> dict[str, Any]:
    return {
        path: references.moved_values(fields, source, destination)
        for path, fields in snapshot.items()
    }


@pytest.fixture
def exported(restorer: Restorer) -> Restorer:
    export_now(restorer.settings, restorer.bucket, restorer.client)
    return restorer


@pytest.mark.parametrize(
    ("project", "database"),
    [("demo-eyewearml", "refs-copy"), ("demo-other-project", "(default)")],
    ids=["another-database", "another-project"],
)
@pytest.mark.parametrize("rewrite", [False, True], ids=["as-imported", "rewritten"])
def test_a_restore_elsewhere_equals_its_source_with_references_where_asked(
    exported: Restorer,
    seeded: Any,
    firestore_emulator: Any,
    devstack: Any,
    project: str,
    database: str,
    rewrite: bool,
) -> None:
    """Must show: round trips with references across databases, restored equals source."""
    project = devstack.project if project == "demo-eyewearml" else project
    destination = _empty_database(exported, firestore_emulator, project, database)
    fields: dict[str, Any] = {"target_database": database, "rewrite_references": rewrite}
    if project != devstack.project:
        fields["target_project"] = project

    request_id, _ = exported.start(**fields)
    status = exported.finish(request_id)

    assert status["phase"] == "Completed", status
    result = status["result"]
    assert result["verified"] is True
    checked = result["details"]["contents"]
    assert (checked["compared"], checked["documents"], checked["sample"]) == (
        DOCUMENTS,
        DOCUMENTS,
        False,
    )
    assert checked["matched"] == DOCUMENTS
    source = admin.database_name(devstack.project, "(default)")
    copy = firestoredata.snapshot(data_client(project, database))
    original = firestoredata.snapshot(seeded)
    favourite = copy["users/user-000"]["favourite"]
    if rewrite:
        assert copy == _moved(original, source, destination)
        assert favourite == Reference(f"{destination}/documents/products/p0")
        counted = result["details"]["references"]
        assert counted["done"] is True
        assert counted["documents_read"] == DOCUMENTS
        assert counted["documents_rewritten"] == WITH_REFERENCES
        assert counted["references_rewritten"] == REFERENCES
        assert any(f"{REFERENCES} references" in note for note in result["notes"])
    else:
        assert copy == original  # references still name the source project and database
        assert favourite == Reference(f"{source}/documents/products/p0")
        assert any("rewrite_references" in note for note in result["notes"])


def test_test_mode_compares_every_document_or_a_stated_sample_and_can_rewrite(
    exported: Restorer, devstack: Any
) -> None:
    request_id, _ = exported.start(test_mode=True)
    checked = exported.finish(request_id)["result"]["details"]["contents"]
    assert (checked["compared"], checked["sample"], checked["matched"]) == (
        DOCUMENTS,
        False,
        DOCUMENTS,
    )

    with pytest.raises(ConfigError, match="FIRESTORE_VERIFY_SAMPLE"):
        settings_for(devstack.project, exported.bucket.name, FIRESTORE_VERIFY_SAMPLE="0")
    exported.settings = settings_for(
        devstack.project, exported.bucket.name, FIRESTORE_VERIFY_SAMPLE="10"
    )
    request_id, _ = exported.start(test_mode=True)
    status = exported.finish(request_id)
    assert status["result"]["verified"] is True
    checked = status["result"]["details"]["contents"]
    assert (checked["documents"], checked["compared"], checked["sample"]) == (DOCUMENTS, 10, True)

    request_id, _ = exported.start(test_mode=True, rewrite_references=True)
    status = exported.finish(request_id)
    assert status["result"]["verified"] is True
    assert status["result"]["details"]["references"]["references_rewritten"] == REFERENCES


def test_one_changed_field_or_one_moved_reference_fails_verification(
    exported: Restorer, devstack: Any, webhook: Webhook, firestore_emulator: Any
) -> None:
    """Must show: a restored copy with one altered field is reported as not verified."""
    request_id, _, destination = _imported(exported, firestore_emulator, "refs-altered")
    copy = data_client(devstack.project, "refs-altered")
    copy.document("products/p1").update({"price": 100.25})  # one field of one document
    stored = dict(documents.read(copy, ["users/user-002"]))["users/user-002"]
    assert stored is not None
    source = admin.database_name(devstack.project, "(default)")
    assert references.move_stored(stored.fields, source, destination) == 3
    documents.replace(copy, [(stored, stored.fields)])  # what a rewriting import would leave

    status = exported.finish(request_id)

    assert status["phase"] == "Failed"
    result = status["result"]
    assert result["verified"] is False
    assert result["counts"] == firestoredata.EXPECTED_COUNTS  # the counts alone look fine
    checked = result["details"]["contents"]
    assert checked["differing"] == ["products/p1", "users/user-002"]
    assert checked["matched"] == DOCUMENTS - 2
    reports = [r for r in webhook.received() if r["operation"] == "restore"]
    assert [r["status"] for r in reports] == ["failed"]


def test_the_rewrite_pass_resumes_where_it_stopped_and_never_rewrites_twice(
    exported: Restorer, seeded: Any, devstack: Any, firestore_emulator: Any
) -> None:
    _, job, destination = _imported(exported, firestore_emulator, "refs-resume")
    copy = data_client(devstack.project, "refs-resume")
    work = verify.rewrite_pass(job, exported.store.bucket, copy)
    saved: list[references.RewriteState] = []

    state = references.RewriteState()
    calls = 0
    while not state.done:  # each call is a completion step that stops after 20 documents
        state = references.advance(work, state, saved.append, budget=20)
        calls += 1
    assert calls == 3
    assert (state.documents_read, state.documents_rewritten, state.references_rewritten) == (
        DOCUMENTS,
        WITH_REFERENCES,
        REFERENCES,
    )
    assert [s.documents_read for s in saved] == [20, 40, DOCUMENTS]

    again = references.advance(work, references.RewriteState(), saved.append)
    assert (again.documents_read, again.references_rewritten) == (DOCUMENTS, 0)
    source = admin.database_name(devstack.project, "(default)")
    original = firestoredata.snapshot(seeded)
    assert firestoredata.snapshot(copy) == _moved(original, source, destination)


def test_rewrite_references_is_refused_where_it_has_nothing_to_do(
    exported: Restorer, devstack: Any
) -> None:
    with pytest.raises(RequestError, match="rewrite_references has nothing to do"):
        exported.start(rewrite_references=True, confirm=devstack.project)
    assert schema.validate(
        {"target": "firestore", "date": "2025-03-25", "rewrite_references": True},
        registry.shapes(),
    ).typed.rewrite_references
    with pytest.raises(RequestError, match="rewrite_references"):
        schema.validate(
            {"target": "firestore", "date": "2025-03-25", "rewrite_references": "y"},
            registry.shapes(),
        )
    flags = {"date": "2025-03-25", "target_database": "copy"}
    body = request_body("firestore", {**flags, "rewrite_references": True})
    assert body["rewrite_references"] is True
    assert "rewrite_references" not in request_body(
        "firestore", {**flags, "rewrite_references": False}
    )
