"""Retention policy core: a table of worked cases, then invariants over random inputs."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.retention import FUTURE_REASON, Decision, Policy, Span, apply_policy


@dataclass(frozen=True)
class Backup:
    backup_id: str
    time: datetime


def at(iso: str) -> datetime:
    """An ISO time; UTC unless it carries its own offset."""
    t = datetime.fromisoformat(iso)
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def backups(**times: str) -> list[Backup]:
    return [Backup(backup_id, at(iso)) for backup_id, iso in times.items()]


def kept_reasons(decision: Decision[Backup]) -> dict[str, tuple[str, ...]]:
    return {b.backup_id: decision.reasons[b.backup_id] for b in decision.keep}


NOW = "2025-03-25T12:00"
DAY = Span(days=1)

# (case, backups, policy, now, expected kept id -> reasons); every other backup is removed.
CASES: list[tuple[str, list[Backup], Policy, str, dict[str, tuple[str, ...]]]] = [
    (
        "last alone",
        backups(a="2025-03-25T10:00", b="2025-03-25T11:00", c="2025-03-24T09:00"),
        Policy(last=2),
        NOW,
        {"b": ("last snapshot",), "a": ("last snapshot",)},
    ),
    (
        "hourly keeps the newest of each hour",
        backups(
            a="2025-03-25T10:05", b="2025-03-25T10:55", c="2025-03-25T11:10", d="2025-03-24T09:30"
        ),
        Policy(hourly=2),
        NOW,
        {"c": ("hourly snapshot",), "b": ("hourly snapshot",)},
    ),
    (
        "daily counts days that have backups, not calendar days",
        backups(
            a="2025-03-25T01:00",
            b="2025-03-22T08:00",
            c="2025-03-22T20:00",
            d="2025-03-20T03:00",
            e="2025-03-10T03:00",
        ),
        Policy(daily=3),
        NOW,
        {"a": ("daily snapshot",), "c": ("daily snapshot",), "d": ("daily snapshot",)},
    ),
    (
        "a count not used up also keeps the oldest backup",
        backups(a="2025-03-25T01:00", b="2025-03-24T08:00", c="2025-03-24T07:00"),
        Policy(daily=5),
        NOW,
        {"a": ("daily snapshot",), "b": ("daily snapshot",), "c": ("oldest daily snapshot",)},
    ),
    (
        "ISO week 1 of 2025 starts on 2024-12-30",
        backups(
            a="2025-01-02T00:00", b="2024-12-30T00:00", c="2024-12-29T23:59", d="2024-12-23T00:00"
        ),
        Policy(weekly=2),
        "2025-01-03T00:00",
        {"a": ("weekly snapshot",), "c": ("weekly snapshot",)},
    ),
    (
        "2021-01-03 is still ISO week 53 of 2020",
        backups(a="2021-01-03T12:00", b="2020-12-28T12:00", c="2021-01-04T00:00"),
        Policy(weekly=2),
        "2021-01-05T00:00",
        {"c": ("weekly snapshot",), "a": ("weekly snapshot",)},
    ),
    (
        "month boundary is the UTC one",
        backups(
            a="2025-02-01T00:00", b="2025-01-31T23:59", c="2025-01-15T00:00", d="2024-12-31T23:59"
        ),
        Policy(monthly=2),
        NOW,
        {"a": ("monthly snapshot",), "b": ("monthly snapshot",)},
    ),
    (
        "offset times are bucketed by their UTC instant",
        backups(a="2025-03-01T00:30+02:00", b="2025-02-27T10:00", c="2025-02-20T10:00"),
        Policy(monthly=1, daily=1),
        NOW,
        {"a": ("daily snapshot", "monthly snapshot")},
    ),
    (
        "unlimited daily keeps one per day, all days",
        backups(
            a="2025-03-25T01:00", b="2025-03-25T00:30", c="2024-01-01T00:00", d="2019-07-04T00:00"
        ),
        Policy(daily=Policy.UNLIMITED),
        NOW,
        {"a": ("daily snapshot",), "c": ("daily snapshot",), "d": ("daily snapshot",)},
    ),
    (
        "within is strict and measured from the newest backup, not from now",
        backups(a="2025-01-23T12:00", b="2025-01-23T12:01", c="2025-02-22T12:00"),
        Policy(within=Span(days=30)),
        NOW,
        {"c": ("within 30d",), "b": ("within 30d",)},
    ),
    (
        "one month before 31 March is 3 March, as Go's AddDate says",
        backups(a="2025-03-31T00:00", b="2025-03-03T00:01", c="2025-03-03T00:00"),
        Policy(within=Span(months=1)),
        "2025-04-01T00:00",
        {"a": ("within 1m",), "b": ("within 1m",)},
    ),
    (
        "within_daily keeps the newest of each day inside the window",
        backups(
            a="2025-03-25T11:00", b="2025-03-25T09:00", c="2025-03-23T23:00", d="2025-03-20T00:00"
        ),
        Policy(within_daily=Span(days=3)),
        NOW,
        {"a": ("daily within 3d",), "c": ("daily within 3d",)},
    ),
    (
        "rules are ORed and every reason is recorded in restic's order",
        backups(
            a="2025-03-25T11:00",
            b="2025-03-25T09:00",
            c="2025-03-24T23:00",
            d="2025-03-23T23:00",
            e="2025-03-01T00:00",
            f="2025-02-15T00:00",
            g="2025-02-14T00:00",
        ),
        Policy(last=1, daily=2, monthly=2, within=Span(hours=4), within_weekly=DAY),
        NOW,
        {
            "a": (
                "within 4h",
                "last snapshot",
                "daily snapshot",
                "monthly snapshot",
                "weekly within 1d",
            ),
            "b": ("within 4h",),
            "c": ("daily snapshot",),
            "f": ("monthly snapshot",),
        },
    ),
    (
        "future backups are kept and take no slot",
        backups(a="2025-03-25T13:00", b="2025-03-25T11:00", c="2025-03-24T11:00"),
        Policy(daily=1, last=1),
        NOW,
        {"a": (FUTURE_REASON,), "b": ("last snapshot", "daily snapshot")},
    ),
    (
        "an empty policy keeps only future backups",
        backups(a="2025-03-26T00:00", b="2025-03-25T11:00"),
        Policy(),
        NOW,
        {"a": (FUTURE_REASON,)},
    ),
    (
        "equal times: the lower id counts as newer",
        backups(b="2025-03-25T11:00", a="2025-03-25T11:00", c="2025-03-25T10:00"),
        Policy(last=1, daily=1),
        NOW,
        {"a": ("last snapshot", "daily snapshot")},
    ),
    ("no backups, nothing to decide", [], Policy(daily=7), NOW, {}),
]


@pytest.mark.parametrize(
    ("given_backups", "policy", "now", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_policy_table(
    given_backups: list[Backup],
    policy: Policy,
    now: str,
    expected: dict[str, tuple[str, ...]],
) -> None:
    decision = apply_policy(given_backups, policy, at(now))
    assert kept_reasons(decision) == expected
    assert dict(decision.reasons) == expected
    assert {b.backup_id for b in decision.remove} == (
        {b.backup_id for b in given_backups} - expected.keys()
    )


# restic's own ApplyPolicy table (TestApplyPolicy in restic's
# internal/data/snapshot_policy_test.go with its golden files
# internal/data/testdata/policy_keep_snapshots_*), re-expressed in
# tests/data/retention/restic_policy_table.txt.
RESTIC_TABLE = Path(__file__).parent / "data" / "retention" / "restic_policy_table.txt"


def _indices(ranges: str) -> list[int]:
    found: list[int] = []
    for part in ranges.split(","):
        first, _, last = part.partition("-")
        found += range(int(first), int(last or first) + 1)
    return found


def _restic_policy(text: str) -> Policy:
    options: dict[str, Any] = {}
    for option in text.split() if text != "-" else []:
        name, _, value = option.partition("=")
        options[name] = Span.parse(value) if name.startswith("within") else int(value)
    return Policy(**options)


def restic_table() -> tuple[list[Backup], list[Any]]:
    """restic's snapshots (ids in restic's order) and its cases: (number, policy, expected)."""
    snapshots: list[Backup] = []
    cases: list[Any] = []
    for line in RESTIC_TABLE.read_text().splitlines():
        if line.startswith("snapshot "):
            _, number, iso = line.split()
            snapshots.append(Backup(f"s{int(number):03d}", at(iso)))
        elif line.startswith("case "):
            _, number, policy = line.split(" ", 2)
            cases.append(pytest.param(_restic_policy(policy), {}, id=f"restic {number}: {policy}"))
        elif line.startswith("  "):
            ranges, _, reasons = line.strip().partition(" = ")
            expected = cases[-1].values[1]
            for index in _indices(ranges):
                expected[f"s{index:03d}"] = tuple(reasons.split(" + "))
    return snapshots, cases


RESTIC_SNAPSHOTS, RESTIC_CASES = restic_table()


def test_the_restic_table_is_complete() -> None:
    assert len(RESTIC_SNAPSHOTS) == 103
    assert len(RESTIC_CASES) == 37  # restic's 40 policies less the three keep-by-tag ones


@pytest.mark.parametrize(("policy", "expected"), RESTIC_CASES)
def test_restic_policy_table(policy: Policy, expected: dict[str, tuple[str, ...]]) -> None:
    decision = apply_policy(RESTIC_SNAPSHOTS, policy, at("2026-01-01T00:00"))
    assert kept_reasons(decision) == expected
    assert len(decision.keep) + len(decision.remove) == len(RESTIC_SNAPSHOTS)


def test_output_is_newest_first_with_ties_by_id() -> None:
    given_backups = backups(
        c="2025-03-20T00:00",
        b="2025-03-25T00:00",
        a="2025-03-25T00:00",
        d="2025-03-26T00:00",
        e="2025-01-01T00:00",
    )
    decision = apply_policy(given_backups, Policy(last=3), at(NOW))
    assert [b.backup_id for b in decision.keep] == ["d", "a", "b", "c"]
    assert [b.backup_id for b in decision.remove] == ["e"]


@pytest.mark.parametrize(
    ("policy", "text"),
    [
        (
            Policy(daily=30, weekly=12, within=Span(days=30)),
            "keep 30 daily, 12 weekly snapshots and all snapshots within 30d of the newest",
        ),
        (
            Policy(last=3, hourly=Policy.UNLIMITED, yearly=1),
            "keep 3 latest, all hourly, 1 yearly snapshots",
        ),
        (
            Policy(monthly=6, within_daily=Span(days=7), within_weekly=Span(months=1)),
            "keep 6 monthly snapshots, daily snapshots within 7d, weekly snapshots within 1m",
        ),
        (Policy(within=Span(days=1, hours=12)), "keep all snapshots within 1d12h of the newest"),
        (Policy(), "no retention rule (keep nothing)"),
    ],
)
def test_describe(policy: Policy, text: str) -> None:
    assert policy.describe() == text


def test_is_empty() -> None:
    assert Policy().is_empty()
    assert Policy(within=Span(days=0)).is_empty()
    assert not Policy(within=DAY).is_empty()
    assert not Policy(within_yearly=DAY).is_empty()
    assert not Policy(monthly=Policy.UNLIMITED).is_empty()


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("30d", Span(days=30)),
        ("1y2m3d4h", Span(1, 2, 3, 4)),
        ("1y1d1m", Span(years=1, months=1, days=1)),
        (" 36h ", Span(hours=36)),
        ("0d", Span()),
    ],
)
def test_span_parses_restic_durations(text: str, span: Span) -> None:
    assert Span.parse(text) == span


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "is not a duration"),
        ("30", "is not a duration"),
        ("30s", "is not a duration"),
        ("-1d", "is not a duration"),
        ("1d 2h", "is not a duration"),
        ("1d2d", "gives a unit more than once"),
        ("9" * 10_000 + "x", "is not a duration"),
    ],
)
def test_span_rejects_other_forms_briefly(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as caught:
        Span.parse(text)
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize(
    ("span", "t", "before"),
    [
        (Span(months=1), "2016-03-31T10:00", "2016-03-02T10:00"),
        (Span(years=1), "2024-02-29T00:00", "2023-03-01T00:00"),
        (Span(days=1, hours=25), "2025-01-03T00:00", "2024-12-31T23:00"),
        (Span(years=9999), "2016-01-18T12:02:03", "0001-01-01T00:00"),
    ],
)
def test_span_subtracts_on_the_calendar(span: Span, t: str, before: str) -> None:
    assert span.before(at(t)) == at(before)


@pytest.mark.parametrize("field", ["last", "hourly", "daily", "weekly", "monthly", "yearly"])
def test_counts_below_unlimited_are_rejected_by_name(field: str) -> None:
    bad: dict[str, Any] = {field: -2}
    with pytest.raises(ValueError, match=rf"retention {field}=-2 is invalid"):
        Policy(**bad)


def test_negative_spans_are_rejected() -> None:
    with pytest.raises(ValueError, match="negative part"):
        Span(days=-1)


def test_naive_times_are_rejected() -> None:
    naive = datetime(2025, 3, 25, 12, 0)  # naive on purpose
    with pytest.raises(ValueError, match=r"now .* has no timezone"):
        apply_policy([], Policy(last=1), naive)
    with pytest.raises(ValueError, match=r"backup 'x' time .* has no timezone"):
        apply_policy([Backup("x", naive)], Policy(last=1), at(NOW))


def test_duplicate_ids_are_rejected() -> None:
    with pytest.raises(ValueError, match="backup id 'x' appears more than once"):
        apply_policy(backups(x=NOW) + backups(x="2025-01-01T00:00"), Policy(last=1), at(NOW))


# --- invariants over random backup sets and policies ---------------------------------------

BASE = datetime(2024, 12, 20, tzinfo=UTC)
COUNT_FIELDS = ("last", "hourly", "daily", "weekly", "monthly", "yearly")
counts = st.one_of(st.just(0), st.just(Policy.UNLIMITED), st.integers(1, 6))
spans = st.just(Span()) | st.builds(
    Span, st.integers(0, 1), st.integers(0, 3), st.integers(0, 40), st.integers(0, 72)
)
WINDOW_FIELDS = ("within", *(f"within_{name}" for name in COUNT_FIELDS[1:]))
policies = st.builds(
    Policy,
    **{name: counts for name in COUNT_FIELDS},
    **{name: spans for name in WINDOW_FIELDS},
)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Backup], datetime]:
    """Backups spread over a few hours up to a few years, and a `now` that may precede some."""
    span = draw(st.sampled_from([3 * 60, 10 * 24 * 60, 90 * 24 * 60, 3 * 365 * 24 * 60]))
    minutes = draw(st.lists(st.integers(0, span), max_size=30))
    tz = draw(st.sampled_from([UTC, timezone(timedelta(hours=-7)), timezone(timedelta(hours=9))]))
    found = [
        Backup(f"b{i:02d}", (BASE + timedelta(minutes=m)).astimezone(tz))
        for i, m in enumerate(minutes)
    ]
    now = BASE + timedelta(minutes=draw(st.integers(0, span + 60)))
    return found, now


def ids(items: tuple[Backup, ...]) -> list[str]:
    return [b.backup_id for b in items]


@given(scenarios(), policies)
def test_partition_reasons_and_order(
    scenario: tuple[list[Backup], datetime], policy: Policy
) -> None:
    found, now = scenario
    decision = apply_policy(found, policy, now)
    kept, removed = set(ids(decision.keep)), set(ids(decision.remove))
    assert kept | removed == set(ids(tuple(found)))
    assert not kept & removed
    assert len(decision.keep) + len(decision.remove) == len(found)
    assert set(decision.reasons) == kept
    assert all(decision.reasons[i] for i in kept)
    for part in (decision.keep, decision.remove):
        assert [b.time for b in part] == sorted((b.time for b in part), reverse=True)
    assert {b.backup_id for b in found if b.time > now} <= kept


@given(scenarios(), policies, st.sampled_from(COUNT_FIELDS), st.integers(1, 5) | st.just(-1))
def test_raising_a_count_never_drops_a_kept_backup(
    scenario: tuple[list[Backup], datetime],
    policy: Policy,
    field: str,
    extra: int,
) -> None:
    found, now = scenario
    current = getattr(policy, field)
    raised = Policy.UNLIMITED if extra == -1 or current == -1 else current + extra
    before = set(ids(apply_policy(found, policy, now).keep))
    change: dict[str, Any] = {field: raised}
    after = set(ids(apply_policy(found, dataclasses.replace(policy, **change), now).keep))
    assert before <= after


@given(scenarios(), policies)
def test_newest_backup_is_kept_when_any_rule_applies(
    scenario: tuple[list[Backup], datetime],
    policy: Policy,
) -> None:
    found, now = scenario
    past = sorted(
        (b for b in found if b.time <= now), key=lambda b: (-b.time.timestamp(), b.backup_id)
    )
    if past and not policy.is_empty():
        assert past[0].backup_id in apply_policy(found, policy, now).reasons


@given(scenarios(), policies, st.randoms(use_true_random=False))
def test_input_order_does_not_matter(
    scenario: tuple[list[Backup], datetime],
    policy: Policy,
    rnd: random.Random,
) -> None:
    found, now = scenario
    shuffled = list(found)
    rnd.shuffle(shuffled)
    first, second = apply_policy(found, policy, now), apply_policy(shuffled, policy, now)
    assert first.keep == second.keep
    assert first.remove == second.remove
    assert dict(first.reasons) == dict(second.reasons)


@given(scenarios(), st.integers(1, 8))
def test_daily_keeps_the_newest_of_n_days_and_the_oldest_while_count_is_left(
    scenario: tuple[list[Backup], datetime],
    n: int,
) -> None:
    found, now = scenario
    past = sorted(
        (b for b in found if b.time <= now), key=lambda b: (-b.time.timestamp(), b.backup_id)
    )
    newest_of_day: dict[Any, str] = {}
    for b in past:
        newest_of_day.setdefault(b.time.astimezone(UTC).date(), b.backup_id)
    expected = set(list(newest_of_day.values())[:n])
    if past and len(newest_of_day) < n:
        expected.add(past[-1].backup_id)
    decision = apply_policy(found, Policy(daily=n), now)
    assert {b.backup_id for b in decision.keep if b.time <= now} == expected
