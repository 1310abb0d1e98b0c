"""Which backups a retention policy keeps: restic's ``forget`` policy, as a pure decision.

The rules are restic's ``ApplyPolicy`` (restic ``internal/data/snapshot_policy.go``),
which operators already know, and reproduce restic's own test table case for
case (``tests/test_retention.py``). Backups are walked newest first:

* ``last``/``hourly``/``daily``/``weekly``/``monthly``/``yearly`` N: a rule
  keeps a backup whose bucket (the backup itself for ``last``; its UTC hour,
  day, ISO week, month or year) differs from that of the last backup the rule
  kept, until it has kept N. Gaps cost nothing: with no backups for a week,
  ``daily=7`` still keeps seven, reaching further back. -1 never runs out.
* The oldest backup is also kept by every count rule that has count left
  (reason ``"oldest daily snapshot"``): while a count is not used up, the
  longest history is kept.
* ``within`` D keeps every backup strictly younger than D before the *newest
  backup* (not before the clock: when backups stop, retention stops eating
  the history they left).
* ``within_hourly``/``within_daily``/``within_weekly``/``within_monthly``/
  ``within_yearly`` D are the bucket rules without a count, applied to the
  backups inside that window (the oldest backup too, when it is inside).
* Durations are restic's: years, months, days and hours (``1y2m3d4h``),
  subtracted on the UTC calendar as Go's ``AddDate`` does, so one month
  before 31 March is 3 March (or 2 March in a leap year).

Rules are ORed: a backup is kept if any rule keeps it, and it carries every
reason, in restic's words and order (``"within 30d"``, ``"daily snapshot"``,
``"hourly within 1d"``), so a dry run can show why.

UTC everywhere. Backup times and ``now`` must be timezone-aware (a naive
datetime is ambiguous, and guessing its zone would shift day boundaries);
aware times in other zones are converted to UTC before bucketing. Week
buckets are ISO weeks, so 2024-12-30 falls in week 1 of 2025.

One departure, for inputs restic's table does not have: backups dated after
``now`` (clock skew between writer and pruner) are always kept with the
reason ``"newer than now"`` and take no part in the other rules, so a skewed
backup can neither be deleted nor use up a slot that belongs to a real one
(restic only leaves them out when it looks for the newest snapshot).

An empty policy keeps nothing here: this core reports what the rules say.
The guard rail "an empty policy deletes nothing" belongs to the caller, which
must check :meth:`Policy.is_empty` before acting on a :class:`Decision`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import ClassVar, Generic, Protocol, TypeVar

FUTURE_REASON = "newer than now"

_COUNT_FIELDS = ("last", "hourly", "daily", "weekly", "monthly", "yearly")
_WINDOW_FIELDS = ("hourly", "daily", "weekly", "monthly", "yearly")
_SPAN = re.compile(r"(\d+)([ymdh])")
_SPAN_FORM = re.compile(r"(?:\d{1,9}[ymdh]){1,4}")
_SPAN_MAX = 40  # checked before any pattern runs: a 10 MB value is refused at once
_EARLIEST = datetime.min.replace(tzinfo=UTC)

# A backup's bucket from its rank (0 = newest) and UTC time.
_BUCKETS: Mapping[str, Callable[[int, datetime], object]] = {
    "last": lambda rank, _t: rank,
    "hourly": lambda _rank, t: (t.year, t.month, t.day, t.hour),
    "daily": lambda _rank, t: (t.year, t.month, t.day),
    "weekly": lambda _rank, t: t.isocalendar()[:2],
    "monthly": lambda _rank, t: (t.year, t.month),
    "yearly": lambda _rank, t: t.year,
}


@dataclass(frozen=True)
class Span:
    """restic's duration: whole years, months, days and hours; all zero means "off"."""

    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0

    def __post_init__(self) -> None:
        if min(self.years, self.months, self.days, self.hours) < 0:
            raise ValueError(f"duration {self} has a negative part")

    @classmethod
    def parse(cls, text: str) -> Span:
        """``"1y2m3d4h"``-style (any of the parts, each once, in any order), as restic."""
        compact = text.strip()
        if len(compact) > _SPAN_MAX or not _SPAN_FORM.fullmatch(compact):
            raise ValueError(
                f"{text[:40]!r} is not a duration such as 30d, 36h or 1y6m (y, m=months, d, h)"
            )
        parts = _SPAN.findall(compact)
        units = [unit for _, unit in parts]
        if len(set(units)) != len(units):
            raise ValueError(f"{compact!r} gives a unit more than once")
        named = {"y": "years", "m": "months", "d": "days", "h": "hours"}
        return cls(**{named[unit]: int(number) for number, unit in parts})

    def __str__(self) -> str:
        parts = zip((self.years, self.months, self.days, self.hours), "ymdh", strict=True)
        return "".join(f"{n}{unit}" for n, unit in parts if n) or "0h"

    def is_zero(self) -> bool:
        return not (self.years or self.months or self.days or self.hours)

    def before(self, t: datetime) -> datetime:
        """``t`` minus this span on the calendar (Go's ``AddDate`` normalisation).

        Spans reaching before year 1 give the earliest representable time.
        """
        month_index = t.year * 12 + t.month - 1 - self.years * 12 - self.months
        year, month = divmod(month_index, 12)
        if year < 1:
            return _EARLIEST
        try:
            first = t.replace(year=year, month=month + 1, day=1)
            return first + timedelta(days=t.day - 1 - self.days, hours=-self.hours)
        except OverflowError:
            return _EARLIEST


@dataclass(frozen=True)
class Policy:
    """restic's keep options: counts (0 = off, -1 = unlimited) and windows (zero = off)."""

    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    within: Span = Span()
    within_hourly: Span = Span()
    within_daily: Span = Span()
    within_weekly: Span = Span()
    within_monthly: Span = Span()
    within_yearly: Span = Span()

    UNLIMITED: ClassVar[int] = -1

    def __post_init__(self) -> None:
        for name in _COUNT_FIELDS:
            value = getattr(self, name)
            if value < self.UNLIMITED:
                raise ValueError(
                    f"retention {name}={value} is invalid: use a count >= 0, "
                    f"or {self.UNLIMITED} for unlimited"
                )

    def counts(self) -> tuple[tuple[str, int], ...]:
        """The count rules as ``(name, count)`` pairs, in rule order."""
        return tuple((name, getattr(self, name)) for name in _COUNT_FIELDS)

    def windows(self) -> tuple[tuple[str, Span], ...]:
        """The ``within_*`` rules as ``(bucket name, span)`` pairs, in rule order."""
        return tuple((name, getattr(self, f"within_{name}")) for name in _WINDOW_FIELDS)

    def is_empty(self) -> bool:
        """True when no rule is set: the caller must then delete nothing."""
        spans = (self.within, *(span for _, span in self.windows()))
        return not any(n for _, n in self.counts()) and all(span.is_zero() for span in spans)

    def describe(self) -> str:
        """One line for logs and dry runs, worded as restic words a policy."""
        counts = [
            f"{'all' if n == self.UNLIMITED else n} {'latest' if name == 'last' else name}"
            for name, n in self.counts()
            if n
        ]
        text = ", ".join(
            ([", ".join(counts) + " snapshots"] if counts else [])
            + [
                f"{name} snapshots within {span}"
                for name, span in self.windows()
                if not span.is_zero()
            ]
        )
        if not self.within.is_zero():
            text += (" and " if text else "") + f"all snapshots within {self.within} of the newest"
        return "keep " + text if text else "no retention rule (keep nothing)"


class Dated(Protocol):
    """What :func:`apply_policy` needs of a backup."""

    @property
    def backup_id(self) -> str: ...

    @property
    def time(self) -> datetime: ...


T = TypeVar("T", bound=Dated)


@dataclass(frozen=True)
class Decision(Generic[T]):
    """Kept and removed backups, each newest first, and why each kept one stays.

    ``reasons`` maps the ``backup_id`` of every kept backup (and only those)
    to its reasons, in rule order.
    """

    keep: tuple[T, ...]
    remove: tuple[T, ...]
    reasons: Mapping[str, tuple[str, ...]]


class _BucketRule:
    """One bucket rule's walk: a count rule, or a ``within_*`` rule (unlimited, windowed)."""

    def __init__(self, name: str, count: int, reason: str, after: datetime | None) -> None:
        self.bucket = _BUCKETS[name]
        self.left = count
        self.reason = reason
        self.after = after  # only backups strictly after this time, when set
        self.last: object = None

    def offer(self, rank: int, t: datetime, oldest: bool) -> str | None:
        """The reason this rule keeps the backup at ``rank``, or None."""
        if self.left == 0 or (self.after is not None and t <= self.after):
            return None
        label = self.bucket(rank, t)
        if label == self.last and not oldest:
            return None
        reason = f"oldest {self.reason}" if label == self.last else self.reason
        self.last = label
        if self.left > 0:
            self.left -= 1
        return reason


def _bucket_rules(policy: Policy, newest: datetime) -> list[_BucketRule]:
    rules = [
        _BucketRule(name, count, f"{name} snapshot", None)
        for name, count in policy.counts()
        if count
    ]
    rules += [
        _BucketRule(name, Policy.UNLIMITED, f"{name} within {span}", span.before(newest))
        for name, span in policy.windows()
        if not span.is_zero()
    ]
    return rules


def _require_aware(t: datetime, what: str) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{what} {t.isoformat()} has no timezone: times must be aware (UTC)")
    return t.astimezone(UTC)


def _utc_times(backups: Sequence[Dated]) -> dict[str, datetime]:
    """Each backup's time in UTC, by id; rejects naive times and duplicate ids."""
    utc: dict[str, datetime] = {}
    for b in backups:
        if b.backup_id in utc:
            raise ValueError(f"backup id {b.backup_id!r} appears more than once")
        utc[b.backup_id] = _require_aware(b.time, f"backup {b.backup_id!r} time")
    return utc


def _reasons(policy: Policy, times: Sequence[datetime]) -> list[list[str]]:
    """Every rule's reasons for each of ``times`` (UTC, newest first, none after now)."""
    why: list[list[str]] = [[] for _ in times]
    if not times:
        return why
    cutoff = policy.within.before(times[0])
    rules = _bucket_rules(policy, times[0])
    for rank, t in enumerate(times):
        if not policy.within.is_zero() and t > cutoff:
            why[rank].append(f"within {policy.within}")
        oldest = rank == len(times) - 1
        why[rank] += [r for rule in rules if (r := rule.offer(rank, t, oldest)) is not None]
    return why


def apply_policy(backups: Sequence[T], policy: Policy, now: datetime) -> Decision[T]:
    """Split ``backups`` into kept and removed under ``policy`` at time ``now``.

    Input order does not matter. Output is newest first; backups with equal
    times are ordered by ``backup_id`` ascending, and the first of them counts
    as the newer one (restic keeps its input order there), so the result is
    deterministic. ``backup_id`` values must be unique. Raises ValueError for
    a naive time or a duplicate id.
    """
    now = _require_aware(now, "now")
    utc = _utc_times(backups)
    by_id = sorted(backups, key=lambda b: b.backup_id)
    ordered = sorted(by_id, key=lambda b: utc[b.backup_id], reverse=True)
    past = [b for b in ordered if utc[b.backup_id] <= now]
    why: dict[str, list[str]] = {b.backup_id: [FUTURE_REASON] for b in ordered}
    for b, reasons in zip(past, _reasons(policy, [utc[b.backup_id] for b in past]), strict=True):
        why[b.backup_id] = reasons
    return Decision(
        keep=tuple(b for b in ordered if why[b.backup_id]),
        remove=tuple(b for b in ordered if not why[b.backup_id]),
        reasons=MappingProxyType({i: tuple(r) for i, r in why.items() if r}),
    )
