"""The ``dr-restore`` message schema, validated with JSON Schema.

One schema per target: the common fields below plus the target's own, from
its :class:`~shared.target.RequestShape` (so a new target brings its fields
and this module does not change). Each has ``additionalProperties: false``: a field that
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
from typing import TYPE_CHECKING, Any

from shared.errors import RequestError
from shared.manifest import TIERS

if TYPE_CHECKING:
    from shared.target import RequestShape

BUCKET = {
    "type": "string",
    "pattern": r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$",
    "description": "a Cloud Storage bucket name",
}
DATE = {"type": "string", "format": "date", "description": "a date YYYY-MM-DD"}
TIER = {"enum": list(TIERS)}
REQUEST_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
COMMON: Mapping[str, Any] = {
    "test_mode": {"type": "boolean"},
    "dry_run": {"type": "boolean"},
    "request_id": {
        "type": "string",
        "pattern": REQUEST_ID_PATTERN,
        "description": "1-128 letters, digits, '.', '_', '-'",
    },
    "confirm": {"type": "string", "minLength": 1, "maxLength": 255},
}


@dataclass(frozen=True)
class RestoreRequest:
    """A validated request: the common fields, and the target's own as its typed request.

    ``fields`` keeps exactly what was sent (minus ``target``), for the status
    record and for redelivery checks; code acts on ``typed`` only.
    """

    target: str
    fields: Mapping[str, Any]
    typed: Any

    @property
    def test_mode(self) -> bool:
        return bool(self.fields.get("test_mode", False))

    @property
    def dry_run(self) -> bool:
        return bool(self.fields.get("dry_run", False))

    @property
    def confirm(self) -> str | None:
        value = self.fields.get("confirm")
        return value if isinstance(value, str) else None


def validate(body: Mapping[str, Any], shapes: Mapping[str, RequestShape[Any]]) -> RestoreRequest:
    """Check ``body`` against its target's shape; a :class:`RequestError` names every problem."""
    import jsonschema

    target = body.get("target")
    if not isinstance(target, str) or target not in shapes:
        shown = "missing" if target is None else repr(target)
        raise RequestError(f"target is {shown}; expected one of {', '.join(shapes)}")
    shape = shapes[target]
    document = {
        "type": "object",
        "additionalProperties": False,
        "required": ["target", *shape.required],
        "properties": {"target": {"const": target}, **COMMON, **shape.properties},
    }
    validator = _validator_class()(
        document, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    problems = sorted(validator.iter_errors(body), key=lambda e: [str(p) for p in e.path])
    if problems:
        raise RequestError(
            f"invalid {target} restore request: " + "; ".join(map(_describe, problems))
        )
    fields = {k: v for k, v in body.items() if k != "target"}
    _check_common(shape, fields)
    return RestoreRequest(target, fields, shape.parse(fields))


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


def _check_common(shape: RequestShape[Any], fields: Mapping[str, Any]) -> None:
    """The rules every target shares; a target's own combinations are its ``parse``'s."""
    for name, patterns in shape.reserved.items():
        value = fields.get(name)
        if isinstance(value, str) and any(re.search(p, value) for p in patterns):
            raise RequestError(
                f"{name} {value!r} is a reserved name (a system database, a name the provider "
                "reserves, or a test-mode scratch name): a restore never writes there"
            )
    test_mode = bool(fields.get("test_mode"))
    given = [name for name in shape.destinations if fields.get(name) is not None]
    if test_mode and given:
        raise RequestError(
            f"test_mode restores into a scratch copy it creates and deletes; {', '.join(given)} "
            "cannot be combined with it (drop test_mode to restore there, or drop "
            f"{', '.join(given)} to test)"
        )
    if test_mode and fields.get("confirm") is not None:
        raise RequestError(
            "confirm has no meaning in test mode (test mode never touches production)"
        )
