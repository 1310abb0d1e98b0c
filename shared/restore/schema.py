"""The ``dr-restore`` message schema, validated with JSON Schema.

One schema per target, each with ``additionalProperties: false``: a field that
means nothing for a target (``target_db`` on a bucket restore) is an error, not
something silently ignored. The guide's flags map one for one onto fields
(``--date`` → ``date``, ``--type`` → ``type``, ``--target-db`` → ``target_db``,
``--test-mode`` → ``test_mode`` ...). Error messages name the field and say
what was expected; they come from the schema's own ``description`` texts where
the generic validator message would be cryptic.
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from shared.dates import parse_version_date
from shared.errors import RequestError

TARGETS = ("mongodb", "firestore", "gcs")

_BUCKET = {
    "type": "string",
    "pattern": r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$",
    "description": "a Cloud Storage bucket name",
}
# Names a restore never writes into, whatever ``confirm`` says: MongoDB's system
# databases, names Cloud Storage reserves, and the scratch names test mode uses
# (a restore into one would be deleted by the next test restore's clean-up).
RESERVED: Mapping[str, tuple[str, ...]] = {
    "target_db": (r"(?i)^(admin|local|config)$", r"_drtest_"),
    "target_bucket": (r"^goog", r"google|g00gle", r"-drtest-"),
    "target_database": (r"^dr-test-",),
}
# A test restore writes into a scratch copy it creates and deletes: a destination
# of the operator's choosing would be silently ignored or, worse, used.
DESTINATIONS = ("target_db", "target_bucket", "target_project", "target_database")
REQUEST_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_COMMON: dict[str, Any] = {
    "target": {"enum": list(TARGETS)},
    "test_mode": {"type": "boolean"},
    "dry_run": {"type": "boolean"},
    "request_id": {
        "type": "string",
        "pattern": REQUEST_ID_PATTERN,
        "description": "1-128 letters, digits, '.', '_', '-'",
    },
    "confirm": {"type": "string", "minLength": 1, "maxLength": 255},
}
_DATE = {"type": "string", "format": "date", "description": "a date YYYY-MM-DD"}
_TYPE = {"enum": ["hourly", "daily", "weekly", "monthly", "manual"]}
_NAMESPACES = {
    "type": "array",
    "minItems": 1,
    "items": {"type": "string", "minLength": 1, "maxLength": 400},
    "description": "a non-empty list of namespace patterns such as shop.* or shop.orders",
}

SCHEMAS: Mapping[str, dict[str, Any]] = {
    "mongodb": {
        "type": "object",
        "additionalProperties": False,
        "required": ["target", "date"],
        "properties": {
            **_COMMON,
            "date": _DATE,
            "type": _TYPE,
            "hour": {"type": "integer", "minimum": 0, "maximum": 23},
            "target_db": {
                "type": "string",
                "pattern": r'^[^/\\. "$*<>:|?\x00]{1,63}$',
                "description": 'a MongoDB database name (1-63 characters, none of /\\. "$*<>:|?)',
            },
            "drop": {"type": "boolean"},
            **{name: _NAMESPACES for name in ("ns_include", "ns_exclude", "ns_from", "ns_to")},
        },
    },
    "firestore": {
        "type": "object",
        "additionalProperties": False,
        "required": ["target", "date"],
        "properties": {
            **_COMMON,
            "date": _DATE,
            "type": _TYPE,
            "target_project": {
                "type": "string",
                "pattern": r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$",
                "description": "a Google Cloud project id",
            },
            "target_database": {
                "type": "string",
                "pattern": r"^(\(default\)|[a-z][a-z0-9-]{2,61}[a-z0-9])$",
                "description": "a Firestore database id or (default)",
            },
            "collection_ids": {
                "type": "array",
                "minItems": 1,
                "uniqueItems": True,
                "items": {"type": "string", "pattern": r"^[^/\s]{1,1500}$"},
                "description": "a non-empty list of distinct collection ids",
            },
            "rewrite_references": {"type": "boolean"},
        },
    },
    "gcs": {
        "type": "object",
        "additionalProperties": False,
        "required": ["target", "source_bucket"],
        "properties": {
            **_COMMON,
            "source_bucket": _BUCKET,
            "target_bucket": _BUCKET,
            "version_date": {
                "type": "string",
                "minLength": 10,
                "description": "a date YYYY-MM-DD or a timestamp with a time zone",
            },
            "delete_extra": {"type": "boolean"},
        },
    },
}


@dataclass(frozen=True)
class RestoreRequest:
    """A validated request. ``fields`` keeps exactly what was sent (minus ``target``)."""

    target: str
    fields: Mapping[str, Any]

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)

    @property
    def test_mode(self) -> bool:
        return bool(self.fields.get("test_mode", False))

    @property
    def dry_run(self) -> bool:
        return bool(self.fields.get("dry_run", False))

    @property
    def day(self) -> date | None:
        value = self.fields.get("date")
        return date.fromisoformat(value) if value else None


def validate(body: Mapping[str, Any]) -> RestoreRequest:
    """Check ``body`` against its target's schema; a :class:`RequestError` names every problem."""
    import jsonschema

    target = body.get("target")
    if target not in TARGETS:
        shown = "missing" if target is None else repr(target)
        raise RequestError(f"target is {shown}; expected one of {', '.join(TARGETS)}")
    validator = _validator_class()(
        SCHEMAS[target], format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    problems = sorted(validator.iter_errors(body), key=lambda e: [str(p) for p in e.path])
    if problems:
        raise RequestError(
            f"invalid {target} restore request: " + "; ".join(map(_describe, problems))
        )
    request = RestoreRequest(target, {k: v for k, v in body.items() if k != "target"})
    _check_combinations(request)
    return request


def _validator_class() -> Any:
    """Draft 2020-12 where ``integer`` means a JSON integer, not any number of integral value.

    The standard accepts ``14.0`` (and ``1e1``, ``-0.0``) as integers; they
    would then reach code that needs an ``int``. ``true`` is not ``1`` either.
    """
    import jsonschema

    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool)
    )
    return jsonschema.validators.extend(base, type_checker=checker)  # type: ignore[no-untyped-call]


_DESCRIBED = {"pattern", "format", "minItems", "minLength", "uniqueItems", "type"}


def _describe(error: Any) -> str:
    where = ".".join(str(p) for p in error.path) or "request"
    if error.validator == "additionalProperties":
        allowed = ", ".join(sorted(error.schema["properties"]))
        extra = sorted(set(error.instance) - set(error.schema["properties"]))
        return f"unknown field(s) {', '.join(extra)} (allowed: {allowed})"
    description = error.schema.get("description")
    if description and error.validator in _DESCRIBED:
        return f"{where} is {reprlib.repr(error.instance)}; expected {description}"
    message = str(error.message)
    return f"{where}: {message if len(message) <= 200 else message[:200] + '...'}"


def _check_combinations(request: RestoreRequest) -> None:
    for name, patterns in RESERVED.items():
        value = request.get(name)
        if isinstance(value, str) and any(re.search(p, value) for p in patterns):
            raise RequestError(
                f"{name} {value!r} is a reserved name (a system database, a name the provider "
                "reserves, or a test-mode scratch name): a restore never writes there"
            )
    given = [name for name in DESTINATIONS if request.get(name) is not None]
    if request.test_mode and given:
        raise RequestError(
            f"test_mode restores into a scratch copy it creates and deletes; {', '.join(given)} "
            "cannot be combined with it (drop test_mode to restore there, or drop "
            f"{', '.join(given)} to test)"
        )
    if request.get("hour") is not None and request.get("type", "hourly") != "hourly":
        raise RequestError(f"hour is only valid with type 'hourly', not {request.get('type')!r}")
    if request.test_mode and request.get("confirm") is not None:
        raise RequestError(
            "confirm has no meaning in test mode (test mode never touches production)"
        )
    if request.target == "gcs" and request.get("version_date") is not None:
        parse_version_date(request.get("version_date"))
    if request.target == "gcs" and request.get("delete_extra") and request.test_mode:
        raise RequestError(
            "delete_extra has no meaning in test mode (the test bucket starts empty)"
        )
