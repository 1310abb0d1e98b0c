"""What every target's restore takes and returns, so one dispatcher can drive all three.

A target restore is a library function. It reports its phase through a
:class:`Progress` (the dispatcher's status record, or a log for CLI use) and
returns a :class:`RestoreOutcome`. Each target enforces the safety rules itself
as well (refusing an unconfirmed overwrite of production), so calling the
library directly is as safe as going through ``dr-restore``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

MODES = ("restore", "test", "plan")


class Progress(Protocol):
    """Where a restore reports how far it is (phases: see :mod:`shared.restore.status`)."""

    def phase(self, name: str, **details: Any) -> None: ...

    def update(self, **details: Any) -> None: ...


class LogProgress:
    """A :class:`Progress` that only logs: for the CLI and for library use."""

    def phase(self, name: str, **details: Any) -> None:
        log.info("restore phase %s", name, extra={"fields": {"phase": name, **details}})

    def update(self, **details: Any) -> None:
        log.info("restore progress", extra={"fields": {"progress": details}})


@dataclass(frozen=True)
class RestoreOutcome:
    """The result of a restore, a test restore (verify then clean up) or a plan (dry run).

    ``verified`` is ``True`` when the restored data was checked against the
    manifest and matched, ``None`` when nothing was checked (a plan). ``plan``
    lists, for a dry run, what would be written or overwritten; ``notes`` are
    facts an operator must know (e.g. "import leaves documents not in the
    export untouched").
    """

    target: str
    mode: str
    backup: str
    destination: str
    verified: bool | None
    counts: Mapping[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    plan: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "mode": self.mode,
            "backup": self.backup,
            "destination": self.destination,
            "verified": self.verified,
            "counts": dict(self.counts),
            "notes": list(self.notes),
            "plan": list(self.plan),
            "details": dict(self.details),
        }
