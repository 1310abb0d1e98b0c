"""Library exceptions an operator can meet, as :mod:`shared.errors` classes with one clear line.

The product's own code raises :class:`~shared.errors.DRError` subclasses; the
client libraries raise theirs when a server is down, a project is wrong, a
permission is missing or a library is not installed. The console turns those
into the same classes (so the same exit codes) instead of a traceback.
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from shared.errors import ConfigError, DRError, NotFound, PermissionDenied, SourceUnavailable

RUNTIME_MODULES = ("google", "pymongo", "zstandard", "cryptography", "jsonschema", "bson")


def translate(exc: BaseException, where: str) -> DRError | None:
    """The :class:`DRError` for ``exc`` (``where`` says what ``dr`` points at), or ``None``."""
    if isinstance(exc, ModuleNotFoundError):
        missing = (exc.name or "").split(".")[0]
        if missing in RUNTIME_MODULES:
            return ConfigError(
                f"the Python package providing {exc.name!r} is not installed: "
                "install the console with `python3 -m pip install .` in the repository"
            )
        return None
    return _google(exc, where) or _network(exc, where)


def _google(exc: BaseException, where: str) -> DRError | None:
    from google.api_core import exceptions  # installed: the command imported them
    from google.auth import exceptions as auth

    if isinstance(exc, auth.DefaultCredentialsError | auth.RefreshError):
        return PermissionDenied(
            f"no usable Google Cloud credentials ({where}): run "
            "`gcloud auth application-default login`"
        )
    if isinstance(exc, exceptions.Forbidden | exceptions.Unauthorized):
        return PermissionDenied(f"permission denied ({where}): {exc.message}")
    if isinstance(exc, exceptions.NotFound):
        return NotFound(f"not found ({where}): {exc.message}; wrong project or environment?")
    if isinstance(exc, exceptions.RetryError) and exc.cause is not None:
        return _network(exc.cause, where) or SourceUnavailable(f"{where}: {exc}")
    if isinstance(exc, exceptions.GoogleAPICallError | exceptions.RetryError):
        return SourceUnavailable(f"Google Cloud call failed ({where}): {exc}")
    return None


def _network(exc: BaseException, where: str) -> DRError | None:
    import requests

    if isinstance(exc, requests.exceptions.ConnectionError | ConnectionError | TimeoutError):
        return SourceUnavailable(
            f"cannot reach the servers of {where}: is it up? ({type(exc).__name__})"
        )
    return None
