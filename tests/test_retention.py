"""Retention policy core: a table of worked cases, then invariants over random inputs."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.retention import FUTURE_REASON, Decision, Policy, apply_policy


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

# (case, backups, policy, now, expected kept id -> reasons); every other backup is removed.
CASES: list[tuple[str, list[Backup], Policy, str, dict[str, tuple[str, ...]]]] = [
    (
        "last alone",
        backups(a="2025-03-25T10:00", b="2025-03-25T11:00", c="2025-03-24T09:00"),
        Policy(last=2),
        NOW,
        {"b": ("last #1",), "a": ("last #2",)},
    ),
    (
        "hourly keeps the newest of each hour",
        backups(
            a="2025-03-25T10:05", b="2025-03-25T10:55", c="2025-03-25T11:10", d="2025-03-25T09:30"
        ),
        Policy(hourly=2),
        NOW,
        {"c": ("hourly 2025-03-25T11",), "b": ("hourly 2025-03-25T10",)},
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
        {"a": ("daily 2025-03-25",), "c": ("daily 2025-03-22",), "d": ("daily 2025-03-20",)},
    ),
    (
        "ISO week 1 of 2025 starts on 2024-12-30",
        backups(
            a="2025-01-02T00:00", b="2024-12-30T00:00", c="2024-12-29T23:59", d="2024-12-23T00:00"
        ),
        Policy(weekly=2),
        "2025-01-03T00:00",
        {"a": ("weekly 2025-W01",), "c": ("weekly 2024-W52",)},
    ),
    (
        "2021-01-03 is still ISO week 53 of 2020",
        backups(a="2021-01-03T12:00", b="2020-12-28T12:00", c="2021-01-04T00:00"),
        Policy(weekly=2),
        "2021-01-05T00:00",
        {"c": ("weekly 2021-W01",), "a": ("weekly 2020-W53",)},
    ),
    (
        "month boundary is the UTC one",
        backups(
            a="2025-02-01T00:00", b="2025-01-31T23:59", c="2025-01-15T00:00", d="2024-12-31T23:59"
        ),
        Policy(monthly=2),
        NOW,
        {"a": ("monthly 2025-02",), "b": ("monthly 2025-01",)},
    ),
    (
        "offset times are bucketed by their UTC instant",
        backups(a="2025-03-01T00:30+02:00", b="2025-02-27T10:00"),
        Policy(monthly=1, daily=1),
        NOW,
        {"a": ("daily 2025-02-28", "monthly 2025-02")},
    ),
    (
        "yearly across new year",
        backups(
            a="2025-01-01T00:00", b="2024-12-31T23:00", c="2024-01-01T00:00", d="2023-06-01T00:00"
        ),
        Policy(yearly=2),
        NOW,
        {"a": ("yearly 2025",), "b": ("yearly 2024",)},
    ),
    (
        "unlimited daily keeps one per day, all days",
        backups(
            a="2025-03-25T01:00", b="2025-03-25T00:30", c="2024-01-01T00:00", d="2019-07-04T00:00"
        ),
        Policy(daily=Policy.UNLIMITED),
        NOW,
        {"a": ("daily 2025-03-25",), "c": ("daily 2024-01-01",), "d": ("daily 2019-07-04",)},
    ),
    (
        "unlimited last keeps everything",
        backups(a="2025-03-25T01:00", b="2025-03-25T00:30", c="2001-01-01T00:00"),
        Policy(last=Policy.UNLIMITED),
        NOW,
        {"a": ("last #1",), "b": ("last #2",), "c": ("last #3",)},
    ),
    (
        "within is strict and measured from now",
        backups(a="2025-02-23T12:00", b="2025-02-23T12:01", c="2025-03-25T12:00"),
        Policy(within=timedelta(days=30)),
        NOW,
        {"c": ("within 30d",), "b": ("within 30d",)},
    ),
    (
        "rules are ORed and every reason is recorded",
        backups(
            a="2025-03-25T11:00",
            b="2025-03-25T09:00",
            c="2025-03-24T23:00",
            d="2025-03-23T23:00",
            e="2025-03-01T00:00",
            f="2025-02-15T00:00",
        ),
        Policy(last=1, daily=2, monthly=2, within=timedelta(hours=4)),
        NOW,
        {
            "a": ("last #1", "daily 2025-03-25", "monthly 2025-03", "within 4h"),
            "b": ("within 4h",),
            "c": ("daily 2025-03-24",),
            "f": ("monthly 2025-02",),
        },
    ),
    (
        "future backups are kept and take no slot",
        backups(a="2025-03-25T13:00", b="2025-03-25T11:00", c="2025-03-24T11:00"),
        Policy(daily=1, last=1),
        NOW,
        {"a": (FUTURE_REASON,), "b": ("last #1", "daily 2025-03-25")},
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
        {"a": ("last #1", "daily 2025-03-25")},
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
            Policy(daily=30, weekly=12, within=timedelta(days=30)),
            "keep 30 daily, 12 weekly, within 30d",
        ),
        (Policy(last=3, hourly=Policy.UNLIMITED, yearly=1), "keep 3 last, all hourly, 1 yearly"),
        (Policy(within=timedelta(hours=36)), "keep within 36h"),
        (Policy(within=timedelta(minutes=90)), "keep within 90m"),
        (Policy(within=timedelta(seconds=1.5)), "keep within 1.5s"),
        (Policy(), "no retention rule (keep nothing)"),
    ],
)
def test_describe(policy: Policy, text: str) -> None:
    assert policy.describe() == text


def test_is_empty() -> None:
    assert Policy().is_empty()
    assert not Policy(within=timedelta(days=1)).is_empty()
    assert not Policy(monthly=Policy.UNLIMITED).is_empty()


@pytest.mark.parametrize("field", ["last", "hourly", "daily", "weekly", "monthly", "yearly"])
def test_counts_below_unlimited_are_rejected_by_name(field: str) -> None:
    bad: dict[str, Any] = {field: -2}
    with pytest.raises(ValueError, match=rf"retention {field}=-2 is invalid"):
        Policy(**bad)


@pytest.mark.parametrize("within", [timedelta(0), timedelta(days=-1)])
def test_non_positive_within_is_rejected(within: timedelta) -> None:
    with pytest.raises(ValueError, match="retention within="):
        Policy(within=within)


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
policies = st.builds(
    Policy,
    last=counts,
    hourly=counts,
    daily=counts,
    weekly=counts,
    monthly=counts,
    yearly=counts,
    within=st.none() | st.integers(1, 400 * 24 * 60).map(lambda m: timedelta(minutes=m)),
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
    if not past:
        return
    newest = past[0]
    covered = policy.within is not None and newest.time > now - policy.within
    decision = apply_policy(found, policy, now)
    if covered or any(n != 0 for _, n in policy.counts()):
        assert newest.backup_id in decision.reasons


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
def test_daily_keeps_exactly_min_of_n_and_distinct_days(
    scenario: tuple[list[Backup], datetime],
    n: int,
) -> None:
    found, now = scenario
    decision = apply_policy(found, Policy(daily=n), now)
    past_kept = [b for b in decision.keep if b.time <= now]
    days = {b.time.astimezone(UTC).date() for b in found if b.time <= now}
    assert len(past_kept) == min(n, len(days))
    assert len({b.time.astimezone(UTC).date() for b in past_kept}) == len(past_kept)
