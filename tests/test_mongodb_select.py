"""Choosing what to restore: mongorestore's ``--ns*`` rules, and one database out of many."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shared.errors import RefusedError, RequestError
from shared.mongodb.namespaces import Rules, select
from shared.mongodb.request import MongoRestoreRequest
from tests import mongodata
from tests.mongodb_fixtures import NOW, backup, run_restore

BACKED_UP = ["shop.orders", "shop.items", "shop.a*b", "crm.people", "crm.orders", "logs.2025.jan"]


@pytest.mark.parametrize(
    ("include", "exclude", "selected"),
    [
        ([], [], BACKED_UP),
        (["shop.*"], [], ["shop.orders", "shop.items", "shop.a*b"]),
        (["*.orders"], [], ["shop.orders", "crm.orders"]),
        (["shop.orders", "crm.people"], [], ["shop.orders", "crm.people"]),
        (["logs.*"], [], ["logs.2025.jan"]),  # '*' matches dots too
        ([r"shop.a\*b"], [], ["shop.a*b"]),  # an escaped asterisk is literal
        (["shop.a*b"], [], ["shop.a*b"]),
        ([], ["crm.*", "logs.*"], ["shop.orders", "shop.items", "shop.a*b"]),
        (["shop.*"], ["shop.items"], ["shop.orders", "shop.a*b"]),
        (["sho"], [], []),  # patterns match whole namespaces
    ],
)
def test_include_and_exclude_follow_mongorestores_wildcards(
    include: list[str], exclude: list[str], selected: list[str]
) -> None:
    rules = Rules.parse(include, exclude)
    assert [ns for ns in BACKED_UP if rules.selected(ns)] == selected


@pytest.mark.parametrize(
    ("ns_from", "ns_to", "expected"),
    [
        (["shop.*"], ["shop_copy.*"], {"shop.orders": "shop_copy.orders"}),
        (["*.orders"], ["*.orders_2024"], {"crm.orders": "crm.orders_2024"}),
        (["shop.$c$"], ["archive.old_$c$"], {"shop.items": "archive.old_items"}),
        (["$db$.$c$"], ["$db$_r.$c$"], {"logs.2025.jan": "logs_r.2025.jan"}),
        (["shop.orders"], ["sales.orders"], {"shop.orders": "sales.orders", "crm.orders": None}),
        # a later pair wins over an earlier one
        (["shop.*", "shop.items"], ["a.*", "b.items"], {"shop.items": "b.items"}),
    ],
)
def test_renames_use_wildcards_or_variables(
    ns_from: list[str], ns_to: list[str], expected: dict[str, str | None]
) -> None:
    rules = Rules.parse(ns_from=ns_from, ns_to=ns_to)
    for source, target in expected.items():
        assert rules.renamed(source) == (target or source)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"include": ["shop.$x$"]}, "'$' is not allowed"),
        ({"ns_from": ["a.*"], "ns_to": []}, "ns_from has 1 entries and ns_to 0"),
        ({"ns_from": ["a.*"], "ns_to": ["b.c"]}, "different numbers of '*' wildcards"),
        ({"ns_from": ["a.$x$"], "ns_to": ["b.$y$"]}, "ns_to uses $y$"),
        ({"ns_from": ["$x$.$x$"], "ns_to": ["b.$x$"]}, "variable $x$ is used twice"),
        ({"ns_from": ["a.$x"], "ns_to": ["b.c"]}, "does not open a $variable$"),
    ],
)
def test_bad_rules_are_request_errors_naming_the_problem(
    fields: dict[str, list[str]], message: str
) -> None:
    with pytest.raises(RequestError, match=message.replace("$", r"\$").replace("*", r"\*")):
        Rules.parse(**fields)


def test_two_sources_renamed_onto_one_target_are_refused() -> None:
    rules = Rules.parse(ns_from=["shop.*", "crm.*"], ns_to=["all.*", "all.*"])
    with pytest.raises(RequestError, match=r"restored as all\.orders"):
        select(BACKED_UP, rules, {})


def test_a_selection_of_whole_databases_can_replay_the_oplog_and_one_of_collections_not() -> None:
    whole = select(BACKED_UP, Rules.parse(["crm.*"], ns_from=["crm.*"], ns_to=["crm2.*"]), {})
    assert (whole.databases, whole.whole) == ({"crm": "crm2"}, True)
    partial = select(BACKED_UP, Rules.parse(["shop.orders"]), {})
    assert (dict(partial.namespaces), partial.whole) == ({"shop.orders": "shop.orders"}, False)


def _restore(settings: Any, bucket: Any, key_file: str, **fields: Any) -> Any:
    """A restore of today's backup, its fields checked by the request schema first."""
    request = MongoRestoreRequest.from_message({"date": NOW.date().isoformat(), **fields})
    chosen = {name: getattr(request, name) for name in fields}
    return run_restore(settings, bucket, key_file, **chosen)


def test_an_all_database_backup_restores_one_database_at_a_time_exactly(
    mongo_server: Any,
    mongo_client: Any,
    bucket: Any,
    key_file: str,
    dbs: Callable[[str], Any],
) -> None:
    first, second = dbs("one"), dbs("two")
    mongodata.seed(first, people_count=120)
    second.orders.insert_many([{"_id": n, "total": n * 1.5} for n in range(1000)])
    second.orders.create_index("total", name="by_total")
    second.notes.insert_many([{"n": n} for n in range(3)])
    expected = {first.name: mongodata.snapshot(first), second.name: mongodata.snapshot(second)}
    settings = mongodata.mongo_settings(mongo_server.uri(), bucket.name, None, key_file)
    backup(settings, bucket, key_file)
    for source in (first, second):
        target = dbs("copy")
        outcome = _restore(
            settings, bucket, key_file, ns_include=[f"{source.name}.*"], target_db=target.name
        )
        assert outcome.verified is True
        assert outcome.details["databases"] == {source.name: target.name}
        assert mongodata.snapshot(target) == expected[source.name]
        assert set(mongo_client.list_database_names()) >= {first.name, second.name}
    # chosen collections, into a renamed database, with a plan that says what it would do
    mongo_client[first.name].drop_collection("types")
    fields: dict[str, Any] = {
        "ns_include": [f"{second.name}.orders", f"{first.name}.types"],
        "ns_from": [f"{second.name}.orders"],
        "ns_to": [f"{first.name}.orders_from_two"],
    }
    with pytest.raises(RefusedError, match=f'"confirm": "{first.name}"'):
        _restore(settings, bucket, key_file, **fields)
    plan = _restore(settings, bucket, key_file, dry_run=True, **fields)
    types = len(mongodata.every_type())
    assert plan.plan == (  # in the order of the backed-up names
        f"would write {first.name}.types ({types} documents)",
        f"would write {first.name}.orders_from_two (1,000 documents) from {second.name}.orders",
        f"would write 2 collections, {1000 + types:,} documents",
    )
    outcome = _restore(settings, bucket, key_file, confirm=first.name, **fields)
    assert outcome.verified is True
    assert any("oplog is not replayed" in note for note in outcome.notes)
    copied = mongodata.snapshot(mongo_client[first.name])
    assert copied["orders_from_two"]["documents"] == expected[second.name]["orders"]["documents"]
    assert copied["types"] == expected[first.name]["types"]
    # restoring both databases under their own names needs both names confirmed
    mongo_client.drop_database(second.name)
    both = {"ns_include": [f"{first.name}.*", f"{second.name}.*"], "drop": True}
    joined = ",".join(sorted([first.name, second.name]))
    with pytest.raises(RefusedError, match=joined):
        _restore(settings, bucket, key_file, **both)
    plan = _restore(settings, bucket, key_file, dry_run=True, **both)
    assert any(line.startswith("would overwrite ") and "collections" in line for line in plan.plan)
    assert _restore(settings, bucket, key_file, confirm=joined, **both).verified is True
    assert mongodata.snapshot(second) == expected[second.name]
