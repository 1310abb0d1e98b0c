"""Every error the product raises on purpose.

One base class, :class:`DRError`, so a function handler or the job's ``main``
can catch exactly "ours" and let programming errors surface as crashes.
Each class carries the process exit code the Cloud Run job returns for it
(the BSD ``sysexits`` values operators already know from shell tooling), so
an alert on an execution's exit code already says what kind of failure it
was. Messages name the offending thing (the key, the object, the date) and
never contain a secret.
"""

from __future__ import annotations


class DRError(Exception):
    """Base class: a failure with an operator-readable message and an exit code.

    ``retryable`` marks failures that may pass if the same work is tried again
    later (a server that was unreachable); everything else fails the same way
    on every attempt, so retrying only delays the report.
    """

    exit_code = 1
    retryable = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(DRError):
    """A configuration key is missing or has a value of the wrong form."""

    exit_code = 78  # EX_CONFIG


class RequestError(DRError):
    """A message, request or command line is malformed or asks for the impossible."""

    exit_code = 64  # EX_USAGE


class NotFound(DRError):
    """What was asked for does not exist: a backup, an object, a restore request, a drill, a key.

    The one "no such thing" of the product, whichever store was asked; the
    message names what was looked for and where, so "wrong date" and "wrong
    bucket" read differently.
    """

    exit_code = 66  # EX_NOINPUT


class BackupNotFound(NotFound):
    """No complete backup matches what was asked for."""


class IntegrityError(DRError):
    """Backup data is damaged, incomplete or does not match its manifest."""

    exit_code = 65  # EX_DATAERR


class UnknownFormatError(IntegrityError):
    """The bytes are not in a format (or format version) this product reads."""


class TamperedDataError(IntegrityError):
    """Authentication failed for a segment: bits were changed after encryption."""


class TruncatedDataError(IntegrityError):
    """The stream ends before its final segment: the file was cut short."""


class SegmentOrderError(IntegrityError):
    """Segments were reordered, dropped or appended after the final one."""


class WrongKeyError(IntegrityError):
    """The data was encrypted with a different key than the one supplied."""


class KeyNotFoundError(NotFound):
    """The key id recorded in a backup is not available from the key source."""


class SourceUnavailable(DRError):
    """A server or service could not be reached (network, DNS, timeout)."""

    exit_code = 69  # EX_UNAVAILABLE
    retryable = True


class PermissionDenied(DRError):
    """Authentication or authorisation failed against a server or API."""

    exit_code = 77  # EX_NOPERM


class ConflictError(DRError):
    """Another run holds the resource (a lock, an existing object): try later."""

    exit_code = 75  # EX_TEMPFAIL


class RefusedError(DRError):
    """A safety rule refused the operation (e.g. an unconfirmed production overwrite).

    ``confirm`` is the exact value that would let the operation run, when one
    can (a system database cannot be confirmed into).
    """

    exit_code = 73  # EX_CANTCREAT

    def __init__(self, message: str, confirm: str | None = None) -> None:
        super().__init__(message)
        self.confirm = confirm


class BackupFailed(DRError):
    """A backup run finished but did not meet its checks (e.g. a critical file differs)."""

    exit_code = 70  # EX_SOFTWARE
