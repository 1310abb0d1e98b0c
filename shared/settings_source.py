"""Where a configuration value comes from, and how a raw string becomes a typed value.

Precedence is fixed: an explicit argument (a CLI flag, a restore request's
field) beats an environment variable, which beats the config file, which
beats the built-in default. Every parse error names the key, where the value
came from and the form that was expected, because at 3 a.m. "invalid literal
for int()" does not say which of forty settings is wrong.

Secret keys (URIs with passwords, webhook URLs, SMTP passwords) may hold a
Secret Manager reference, ``projects/P/secrets/NAME[/versions/V]``; it is
resolved when the settings are loaded, through an injected accessor, and the
value is wrapped in :class:`~shared.secret.Secret` so it never reaches a log.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Generic, Protocol, TypeVar

from shared.conffile import ConfFile, load_conf, preview, shorten
from shared.errors import ConfigError
from shared.secret import Secret

T = TypeVar("T")
log = logging.getLogger(__name__)

SECRET_REFERENCE = re.compile(r"^projects/[^/\s]+/secrets/[^/\s]+(/versions/[^/\s]+)?$")
CONFIG_FILE_VARIABLE = "DR_CONFIG_FILE"


class SecretAccess(Protocol):
    """Reads a secret version: ``access("projects/P/secrets/S/versions/latest")``.

    Returns the resolved version name (``.../versions/7``) and the payload.
    """

    def __call__(self, version_name: str, /) -> tuple[str, bytes]: ...


@dataclass(frozen=True)
class Key(Generic[T]):
    """A configuration key: its name, how to parse it, the form shown in errors, its default."""

    name: str
    parse: Callable[[str], T]
    form: str
    default: T | None = None
    secret: bool = False
    required: bool = False


def version_name(reference: str) -> str:
    """``projects/P/secrets/S`` means its latest version."""
    return reference if "/versions/" in reference else f"{reference}/versions/latest"


class Sources:
    """Explicit arguments, environment and config file, looked up in that order."""

    def __init__(
        self,
        *,
        overrides: Mapping[str, str | None] | None,
        environ: Mapping[str, str],
        config_file: str | None,
        secrets: SecretAccess | None,
        known_keys: frozenset[str],
    ) -> None:
        self._overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
        self._environ = environ
        self._secrets = secrets
        path = config_file or environ.get(CONFIG_FILE_VARIABLE) or None
        self._conf: ConfFile | None = load_conf(path, environ) if path else None
        if self._conf is not None:
            for name, value in self._conf.values.items():
                if name not in known_keys:
                    log.warning(
                        "unknown key %s in %s line %d is ignored", name, self._conf.path, value.line
                    )

    def raw(self, name: str) -> tuple[str, str] | None:
        """The raw value of ``name`` and a description of where it came from."""
        if name in self._overrides:
            return self._overrides[name], "argument"
        if name in self._environ:
            return self._environ[name], "environment variable"
        if self._conf is not None and name in self._conf.values:
            entry = self._conf.values[name]
            where = f"{self._conf.path} line {entry.line}"
            if entry.unresolved and not entry.value:
                unset = ", ".join("${" + shorten(ref) + "}" for ref in entry.unresolved)
                raise ConfigError(
                    f"{name} is empty in {where}: it refers to {unset}, which is not set"
                )
            return entry.value, where
        return None

    def get(self, key: Key[T]) -> T | None:
        found = self.raw(key.name)
        if found is None or found[0].strip() == "":
            if key.required:
                raise ConfigError(f"{key.name} is not set; expected {key.form}")
            return key.default
        raw, origin = found
        raw = raw.strip()
        if key.secret and SECRET_REFERENCE.match(raw):
            raw = self._resolve_secret(key.name, raw)
        try:
            return key.parse(raw)
        except (ValueError, ConfigError) as exc:
            # Only a short prefix of the value, and of a reason that may quote it.
            shown = "(secret value hidden)" if key.secret else preview(raw)
            reason = shorten(str(exc), 100)
            raise ConfigError(
                f"{key.name} from {origin} is {shown}; expected {key.form} ({reason})"
            ) from None

    def require(self, key: Key[T]) -> T:
        value = self.get(key)
        if value is None:
            raise ConfigError(f"{key.name} is not set; expected {key.form}")
        return value

    def _resolve_secret(self, name: str, reference: str) -> str:
        if self._secrets is None:
            raise ConfigError(
                f"{name} is a Secret Manager reference but no secret access is set up"
            )
        _, payload = self._secrets(version_name(reference))
        try:
            return payload.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise ConfigError(f"{name}: the secret {reference} is not UTF-8 text") from None


# Parsers: each raises ValueError with a short reason; Sources adds the key and origin.

BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+$")
HTTP_URL = re.compile(r"^https?://[^\s/]+")


def text(raw: str) -> str:
    return raw


def boolean(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in {"true", "yes", "1", "on"}:
        return True
    if lowered in {"false", "no", "0", "off"}:
        return False
    raise ValueError("not a boolean")


_DURATION = re.compile(r"^(\d{1,6})\s*(s|min|h|d)$")
_DURATION_UNITS = {"s": "seconds", "min": "minutes", "h": "hours", "d": "days"}


def duration(raw: str) -> timedelta:
    """``90min``, ``26h``, ``2d``: one whole number and one unit (s, min, h, d).

    Minutes are ``min``, never ``m``: in retention durations (restic's form)
    ``m`` means months, and one setting file must not read ``90m`` two ways.
    """
    found = _DURATION.match(raw.strip().lower())
    if found is None:
        raise ValueError("not a duration")
    return timedelta(**{_DURATION_UNITS[found[2]]: int(found[1])})


def integer(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        if len(raw) > 18:
            raise ValueError("too many digits")
        value = int(raw)
        if value < minimum or (maximum is not None and value > maximum):
            raise ValueError("out of range")
        return value

    return parse


def csv(item: Callable[[str], str] = text) -> Callable[[str], tuple[str, ...]]:
    def parse(raw: str) -> tuple[str, ...]:
        return tuple(item(part.strip()) for part in raw.split(",") if part.strip())

    return parse


def matching(pattern: re.Pattern[str], what: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if not pattern.match(raw):
            raise ValueError(f"not a valid {what}")
        return raw

    return parse


def secret_text(raw: str) -> Secret:
    return Secret(raw)


def secret_url(raw: str) -> Secret:
    if not HTTP_URL.match(raw):
        raise ValueError("not an http(s) URL")
    return Secret(raw)


def secret_urls(raw: str) -> tuple[Secret, ...]:
    return tuple(secret_url(part.strip()) for part in raw.split(",") if part.strip())
