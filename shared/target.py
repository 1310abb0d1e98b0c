"""What a backup target is: the two protocols every target implements, and what they exchange.

The lifecycle is written once and every target fits it:

* **backup**: plan (a dry run, writes nothing) → start → (the work; long
  work continues in a Cloud Run job, in shard messages or in a managed
  operation, and its *completion step* resumes it) → end, always through
  :func:`shared.backup_end.end_backup`: the manifest committed with a
  precondition, retention through the guard rails of :mod:`shared.prune`,
  one report.
* **restore**: the message parsed once into the target's typed request
  (:class:`RequestShape`) → resolve the backup → plan → the safety rule
  (:meth:`RestoreTarget.production_name`) → lock → start (synchronous, or
  continued by a completion step) → verify → a terminal phase, always through
  :mod:`shared.restore.lifecycle`.

A target package provides ``shared/<target>/target.py`` with its
:class:`BackupTarget` and :class:`RestoreTarget` and its :class:`RequestShape`;
:mod:`shared.registry` registers it. The restore core (:mod:`shared.restore`)
sees targets only through these protocols, so it imports no target package.
A restore reports its phase through a :class:`Progress` and returns a
:class:`RestoreOutcome`; each target enforces its safety rule in its library
as well, so calling the library directly is as safe as going through
``dr-restore``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from shared.backup_end import RunEnd
    from shared.manifest import Manifest, RunLocation

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


RequestT = TypeVar("RequestT")
RequestT_contra = TypeVar("RequestT_contra", contravariant=True)


@dataclass(frozen=True)
class RequestShape(Generic[RequestT]):
    """What a target's ``dr-restore`` message may hold, and its typed form.

    Static (no settings, no clients), so the console can validate a request
    before publishing it. ``properties`` are JSON Schema for the target's own
    fields (the common ones, ``test_mode``, ``dry_run``, ``confirm`` and
    ``request_id``, are the core's); ``destinations`` are the fields that name
    where a restore writes (refused in test mode, which writes to a scratch
    copy); ``reserved`` maps a field to patterns it may never match.
    ``parse`` turns schema-valid fields into the typed request the target's
    library takes, checking combinations the schema cannot express.
    """

    name: str
    properties: Mapping[str, Any]
    required: tuple[str, ...]
    parse: Callable[[Mapping[str, Any]], RequestT]
    destinations: tuple[str, ...] = ()
    reserved: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


class RestoreTarget(Protocol[RequestT_contra]):
    """What the restore dispatcher needs of a target; built at call time with its settings."""

    def resolve(self, request: RequestT_contra) -> str:
        """The backup to restore (its manifest's gs:// path); :class:`BackupNotFound` if none."""
        ...

    def production_name(self, request: RequestT_contra) -> str | None:
        """The destination holding data this request would overwrite (``confirm`` must name it).

        The target's one production rule: its library asks the same question.
        """
        ...

    def plan(self, request: RequestT_contra) -> RestoreOutcome:
        """A dry run: what would be written or overwritten, touching nothing."""
        ...

    def start(
        self, request: RequestT_contra, request_id: str, progress: Progress
    ) -> RestoreOutcome | None:
        """Run the restore; ``None`` when a completion step (a job, an operation) ends it."""
        ...


class BackupTarget(Protocol):
    """What a backup trigger needs of a target; built at call time with its settings."""

    name: str

    def plan(self, tier: str) -> list[str]:
        """A dry run: one line per thing a backup would copy; writes nothing."""
        ...

    def start(self, location: RunLocation) -> Manifest | None:
        """Run or start the backup into ``location``.

        Returns the ended run's manifest when the work ran here, ``None`` when
        it continues elsewhere (its completion step ends it through
        :func:`shared.backup_end.end_backup`). A failure ends the run as a
        failed manifest, never as a missing one, unless the process died.
        """
        ...

    def run_end(self) -> RunEnd:
        """Where this target's runs are committed, how they are kept, who hears of them."""
        ...


@dataclass(frozen=True)
class Registered:
    """A target as the registry holds it: its static request shape and how to build it."""

    shape: RequestShape[Any]
    restore: Callable[[], RestoreTarget[Any]]
