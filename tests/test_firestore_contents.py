"""Canonical digests: the same document hashes alike from its export record and from Firestore.

The export side is decoded from the records the real Firestore emulator
writes; the database side is read back raw from the same emulator. Every
value type is covered by :mod:`tests.firestoredata` plus the edge values below.
"""

from __future__ import annotations

import math
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.firestore import canonical, documents, entity
from shared.firestore.canonical import GeoPoint, Reference, Timestamp
from tests import firestoredata
from tests.conftest import patched_environ
from tests.devstack import rest
from tests.devstack.standins import firestore_exportfiles as files
from tests.firestorestack import data_client

EDGES: dict[str, Any] = {
    "nan": math.nan,
    "negative_zero": -0.0,
    "zero": 0.0,
    "integer_one": 1,
    "double_one": 1.0,
    "min_int": -(2**63),
    "max_int": 2**63 - 1,
    "before_epoch": datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    "long_text": "é" * 1200,  # over the 1,500-byte index limit: an unindexed property
    "empty_array": [],
    "empty_map": {},
    "one_element": [None],
    "mixed": [1, 1.0, "1", b"1", True, None, {"deep": [{"deeper": {"x": []}}]}],
    "nested": {"a": {"b": {"c": -0.0, "with space.dot": "odd key", "ключ": math.inf}}},
}


def test_canonical_form_tells_apart_what_firestore_tells_apart() -> None:
    assert canonical.encode(math.nan) == canonical.encode(float.fromhex("-nan"))
    assert canonical.encode(-0.0) != canonical.encode(0.0)
    assert canonical.encode(1) != canonical.encode(1.0) != canonical.encode(True)
    assert canonical.encode(None) != canonical.encode([]) != canonical.encode({})
    assert canonical.encode("a") != canonical.encode(b"a")
    assert canonical.digest({"a": 1, "b": 2}) == canonical.digest({"b": 2, "a": 1})
    assert canonical.encode([1, 2]) != canonical.encode([2, 1])
    assert canonical.encode(["ab"]) != canonical.encode(["a", "b"])
    assert canonical.encode(GeoPoint(1.0, 2.0)) != canonical.encode(GeoPoint(2.0, 1.0))
    assert canonical.encode(Timestamp(-1)) == b"T" + b"\xff" * 8
    one = Reference("projects/p/databases/(default)/documents/a/b")
    other = Reference("projects/p/databases/copy/documents/a/b")
    assert canonical.encode(one) != canonical.encode(other)
    with pytest.raises(TypeError, match="not a Firestore value"):
        canonical.encode(object())


def test_every_value_type_hashes_alike_from_the_export_and_from_the_database(
    firestore_emulator: Any, devstack: Any
) -> None:
    with patched_environ(firestore_emulator.env()):
        firestore_emulator.clear()
        client = data_client(devstack.project)
        firestoredata.seed(client)
        client.document("edges/all").set(EDGES)
        with tempfile.TemporaryDirectory() as scratch:
            name = f"projects/{devstack.project}/databases/(default)"
            rest.call(
                "POST",
                f"{firestore_emulator.url}/emulator/v1/{name}:export",
                {"database": name, "export_directory": scratch, "export_name": "export"},
            )
            exported = dict(
                _decoded(record) for record in files.entity_records(Path(scratch) / "export")
            )
        stored = {
            path: canonical.digest(canonical.fields_from_api(document.fields))
            for path, document in documents.read(client, sorted(exported))
            if document is not None
        }
    assert len(exported) == sum(firestoredata.EXPECTED_COUNTS.values()) + 1
    assert stored == exported


def _decoded(record: bytes) -> tuple[str, str]:
    key, fields = entity.decode(record, "export record")
    return key.document_path, canonical.digest(fields)
