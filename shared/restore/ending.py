"""How a restore ended, as a phase and as an exit code: one table for every path.

A request published to ``dr-restore``, the operator CLI following it, and the
MongoDB job's own ``restore`` command must say the same thing about the same
request. They all take the phase from :func:`phase_of_outcome` or
:func:`phase_of_error` and the exit code from :func:`exit_code_for_phase`
(:func:`exit_code_for` reads both from a status record), so a dry run can
never look like a restore and a refusal never like a failure or a success.

=================  ==========================================  =========
phase              meaning                                     exit code
=================  ==========================================  =========
Completed          data written and verified                   0
Planned            a dry run: what would be written, nothing   0
Refused            a safety rule; the record says the confirm  73
PartiallyFailed    written, but some items failed              65
Failed             an error; the record names its class        its code
(not ended)        Accepted, Validating, InProgress, Verifying 75
=================  ==========================================  =========
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.errors import ConflictError, DRError, IntegrityError, RefusedError
from shared.target import RestoreOutcome

EX_SOFTWARE = 70  # an error nobody planned for (a bug)
EXIT_CODES: Mapping[str, int] = {
    "Completed": 0,
    "Planned": 0,
    "Refused": RefusedError.exit_code,
    "PartiallyFailed": IntegrityError.exit_code,
}


def phase_of_outcome(outcome: RestoreOutcome) -> str:
    """Planned for a plan; Failed if verification failed; PartiallyFailed; else Completed."""
    if outcome.mode == "plan":
        return "Planned"
    if outcome.verified is False:
        return "Failed"
    if outcome.details.get("failures"):
        return "PartiallyFailed"
    return "Completed"


def phase_of_error(error: BaseException) -> str:
    return "Refused" if isinstance(error, RefusedError) else "Failed"


def error_exit_code(error: BaseException) -> int:
    return error.exit_code if isinstance(error, DRError) else EX_SOFTWARE


def outcome_exit_code(outcome: RestoreOutcome) -> int:
    """A restore that ran to its end: 0, or the data error code when it did not verify."""
    phase = phase_of_outcome(outcome)
    return IntegrityError.exit_code if phase == "Failed" else exit_code_for_phase(phase)


def exit_code_for_phase(phase: str, error_code: int | None = None) -> int:
    """The exit code of a request in ``phase``; a Failed one carries its error's code."""
    if phase == "Failed":
        return error_code or EX_SOFTWARE
    return EXIT_CODES.get(phase, ConflictError.exit_code)


def exit_code_for(record: Mapping[str, Any]) -> int:
    """The exit code for a status record's data (see the table above)."""
    code = record.get("exit_code")
    return exit_code_for_phase(
        str(record.get("phase", "")), code if isinstance(code, int) else None
    )
