"""Which backups a retention policy keeps: a pure decision, no I/O.

The rules follow restic's ``forget``, which operators already know:

* ``last`` N keeps the N newest backups.
* ``hourly``/``daily``/``weekly``/``monthly``/``yearly`` N keep the newest
  backup of each of the N most recent hours/days/weeks/months/years *that
  have a backup*. Gaps cost nothing: with daily backups missing for a week,
  ``daily=7`` still keeps seven backups, reaching further back.
* ``within`` keeps every backup strictly younger than ``within``, measured
  from ``now``. (restic measures from the newest snapshot; we measure from
  the clock so that ``FIRESTORE_RETENTION_DAYS=30`` and
  ``GCS_RETENTION_DAYS=90`` mean what they say: "keep backups younger than
  N days", and a stalled backup job cannot stretch the window.)
* A count of :attr:`Policy.UNLIMITED` (-1) means every bucket.

Rules are ORed: a backup is kept if any rule keeps it, and it records every
reason that kept it (``"daily 2025-03-25"``, ``"within 30d"``) so a dry run
can show why. Unlike restic we do not also keep the oldest backup when a
count is not used up: ``daily=N`` keeps exactly min(N, days with a backup).

UTC everywhere. Backup times and ``now`` must be timezone-aware (a naive
datetime is ambiguous, and guessing its zone would shift day boundaries);
aware times in other zones are converted to UTC before bucketing. Hour, day,
month and year buckets are the UTC calendar ones; week buckets are ISO weeks
from :meth:`datetime.isocalendar`, so 2024-12-30 falls in ``2025-W01``.

Backups dated after ``now`` (clock skew between writer and pruner) are always
kept with the reason ``"newer than now"`` and take no part in the other
rules, so a skewed backup can neither be deleted nor use up a slot that
belongs to a real one.

An empty policy keeps nothing here: this core reports what the rules say.
The guard rail "an empty policy deletes nothing" belongs to the caller, which
must check :meth:`Policy.is_empty` before acting on a :class:`Decision`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import ClassVar, Generic, Protocol, TypeVar

FUTURE_REASON = "newer than now"

_COUNT_FIELDS = ("last", "hourly", "daily", "weekly", "monthly", "yearly")


def _iso_week(t: datetime) -> str:
    year, week, _ = t.isocalendar()
    return f"{year}-W{week:02d}"


# Bucket label of a backup from its rank (0 = newest) and UTC time; a rule
# keeps the first backup it meets with each new label, newest first.
_BUCKETS: Mapping[str, Callable[[int, datetime], str]] = {
    "last": lambda rank, _t: f"#{rank + 1}",
    "hourly": lambda _rank, t: t.strftime("%Y-%m-%dT%H"),
    "daily": lambda _rank, t: t.strftime("%Y-%m-%d"),
    "weekly": lambda _rank, t: _iso_week(t),
    "monthly": lambda _rank, t: t.strftime("%Y-%m"),
    "yearly": lambda _rank, t: f"{t.year:04d}",
}


def _format_duration(d: timedelta) -> str:
    for unit, size in (
        ("d", timedelta(days=1)),
        ("h", timedelta(hours=1)),
        ("m", timedelta(minutes=1)),
    ):
        if d % size == timedelta(0):
            return f"{d // size}{unit}"
    return f"{d.total_seconds():g}s"


@dataclass(frozen=True)
class Policy:
    """Retention counts (0 = rule off, -1 = unlimited) and an optional age window."""

    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    within: timedelta | None = None

    UNLIMITED: ClassVar[int] = -1

    def __post_init__(self) -> None:
        for name in _COUNT_FIELDS:
            value = getattr(self, name)
            if value < self.UNLIMITED:
                raise ValueError(
                    f"retention {name}={value} is invalid: use a count >= 0, "
                    f"or {self.UNLIMITED} for unlimited"
                )
        if self.within is not None and self.within <= timedelta(0):
            raise ValueError(f"retention within={self.within} is invalid: it must be positive")

    def counts(self) -> tuple[tuple[str, int], ...]:
        """The count rules as ``(name, count)`` pairs, in rule order."""
        return tuple((name, getattr(self, name)) for name in _COUNT_FIELDS)

    def is_empty(self) -> bool:
        """True when no rule is set: the caller must then delete nothing."""
        return self.within is None and all(n == 0 for _, n in self.counts())

    def describe(self) -> str:
        """One line for logs and dry runs, e.g. ``keep 30 daily, 12 weekly, within 30d``."""
        parts = [
            f"{'all' if n == self.UNLIMITED else n} {name}" for name, n in self.counts() if n != 0
        ]
        if self.within is not None:
            parts.append(f"within {_format_duration(self.within)}")
        return "keep " + ", ".join(parts) if parts else "no retention rule (keep nothing)"


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


def _count_reasons(name: str, count: int, times: Sequence[datetime]) -> dict[int, str]:
    """Reasons a count rule gives, by index into ``times`` (UTC, newest first)."""
    kept: dict[int, str] = {}
    labels: set[str] = set()
    for rank, t in enumerate(times):
        label = _BUCKETS[name](rank, t)
        if label in labels:
            continue
        if len(labels) == count:
            break
        labels.add(label)
        kept[rank] = f"{name} {label}"
    return kept


def apply_policy(backups: Sequence[T], policy: Policy, now: datetime) -> Decision[T]:
    """Split ``backups`` into kept and removed under ``policy`` at time ``now``.

    Input order does not matter. Output is newest first; backups with equal
    times are ordered by ``backup_id`` ascending, and the first of them counts
    as the newer one, so the result is deterministic. ``backup_id`` values
    must be unique. Raises ValueError for a naive time or a duplicate id.
    """
    now = _require_aware(now, "now")
    utc = _utc_times(backups)
    by_id = sorted(backups, key=lambda b: b.backup_id)
    ordered = sorted(by_id, key=lambda b: utc[b.backup_id], reverse=True)
    why: dict[str, list[str]] = {b.backup_id: [] for b in ordered}
    past: list[T] = []
    for b in ordered:
        if utc[b.backup_id] > now:
            why[b.backup_id].append(FUTURE_REASON)
        else:
            past.append(b)

    past_times = [utc[b.backup_id] for b in past]
    for name, count in policy.counts():
        if count != 0:
            for i, reason in _count_reasons(name, count, past_times).items():
                why[past[i].backup_id].append(reason)
    if policy.within is not None:
        cutoff = now - policy.within
        reason = f"within {_format_duration(policy.within)}"
        for b, t in zip(past, past_times, strict=True):
            if t > cutoff:
                why[b.backup_id].append(reason)

    return Decision(
        keep=tuple(b for b in ordered if why[b.backup_id]),
        remove=tuple(b for b in ordered if not why[b.backup_id]),
        reasons=MappingProxyType({i: tuple(r) for i, r in why.items() if r}),
    )
