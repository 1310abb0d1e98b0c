"""Applying an oplog update entry's change to a document, in Python.

Servers log updates in several shapes, and a restore must replay each exactly:

* MongoDB 5.0+ ``{"$v": 2, "diff": {...}}``: ``d`` (fields deleted), ``u``
  (fields updated in place), ``i`` (fields inserted at the end), ``s<field>``
  (a nested diff; with ``a: true`` it is an array diff: ``l`` the new length,
  ``u<n>``/``s<n>`` the element at index ``n``).
* SecantusDB's ``{"$v": 2, "diff": {"updatedFields", "removedFields",
  "truncatedArrays"}}``, dotted paths as in a change stream.
* Update operators (``$set``/``$unset``, older servers' ``$v: 1``) and
  whole-document replacements, which the server applies itself.

The diffs are applied to the current document here and the result written
back, because no update operator expresses every diff (an array truncated and
extended in one change) and the server has no ``applyOps`` to do it for us.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from shared.errors import IntegrityError

Document = MutableMapping[str, Any]


def kind(change: Mapping[str, Any]) -> str:
    """``diff`` (applied here), ``operators`` (sent as an update) or ``replacement``."""
    if "diff" in change and change.get("$v") == 2:
        return "diff"
    if any(key.startswith("$") for key in change):
        return "operators"
    return "replacement"


def operators(change: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in change.items() if key != "$v"}


def apply_diff(document: Document, diff: Mapping[str, Any]) -> None:
    """Apply a ``$v: 2`` diff (either shape) to ``document`` in place."""
    if {"updatedFields", "removedFields", "truncatedArrays"} & set(diff):
        _apply_description(document, diff)
    else:
        _apply_object(document, diff)


def _apply_object(target: Document, diff: Mapping[str, Any]) -> None:
    for key, value in diff.items():
        if key == "d":
            for field in value:
                target.pop(field, None)
        elif key in ("u", "i"):
            for field, new in value.items():
                if key == "i":
                    target.pop(field, None)  # an inserted field goes to the end
                target[field] = new
        elif key.startswith("s"):
            _apply_nested(target, key[1:], value)
        else:
            raise IntegrityError(f"oplog update diff has an unknown section {key!r}")


def _apply_nested(target: Document, field: str, diff: Mapping[str, Any]) -> None:
    current = target.get(field)
    if diff.get("a") is True:
        if not isinstance(current, list):
            raise IntegrityError(f"oplog array diff for {field!r}, which is not an array")
        _apply_array(current, diff)
    else:
        if not isinstance(current, MutableMapping):
            raise IntegrityError(f"oplog object diff for {field!r}, which is not an object")
        _apply_object(current, diff)


def _apply_array(target: list[Any], diff: Mapping[str, Any]) -> None:
    if "l" in diff:
        del target[int(diff["l"]) :]
    for key, value in diff.items():
        if key in ("a", "l"):
            continue
        index = int(key[1:])
        if key.startswith("u"):
            _pad(target, index)
            target[index] = value
        elif key.startswith("s"):
            element = target[index] if index < len(target) else None
            if isinstance(element, list) and value.get("a") is True:
                _apply_array(element, value)
            elif isinstance(element, MutableMapping):
                _apply_object(element, value)
            else:
                raise IntegrityError(
                    f"oplog diff for array element {index}, which is not a container"
                )
        else:
            raise IntegrityError(f"oplog array diff has an unknown entry {key!r}")


def _pad(target: list[Any], index: int) -> None:
    if index >= len(target):
        target.extend([None] * (index + 1 - len(target)))


def _apply_description(document: Document, diff: Mapping[str, Any]) -> None:
    for truncated in diff.get("truncatedArrays") or []:
        array = _resolve(document, str(truncated["field"]), create=False)
        if isinstance(array, list):
            del array[int(truncated["newSize"]) :]
    for path, value in (diff.get("updatedFields") or {}).items():
        parent, last = _parent(document, path, create=True)
        _set(parent, last, value)
    for path in diff.get("removedFields") or []:
        parent, last = _parent(document, str(path), create=False)
        if isinstance(parent, MutableMapping):
            parent.pop(last, None)
        elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
            parent[int(last)] = None  # $unset of an array element leaves null


def _parent(document: Document, path: str, *, create: bool) -> tuple[Any, str]:
    head, _, last = path.rpartition(".")
    return (_resolve(document, head, create=create) if head else document), last


def _resolve(document: Document, path: str, *, create: bool) -> Any:
    current: Any = document
    for part in path.split("."):
        if isinstance(current, list) and part.isdigit():
            index = int(part)
            if index >= len(current):
                if not create:
                    return None
                _pad(current, index)
            if current[index] is None and create:
                current[index] = {}
            current = current[index]
        elif isinstance(current, MutableMapping):
            if part not in current:
                if not create:
                    return None
                current[part] = {}
            current = current[part]
        else:
            raise IntegrityError(f"oplog update path {path!r} crosses a non-container value")
    return current


def _set(parent: Any, key: str, value: Any) -> None:
    if isinstance(parent, list) and key.isdigit():
        _pad(parent, int(key))
        parent[int(key)] = value
    elif isinstance(parent, MutableMapping):
        parent[key] = value
    else:
        raise IntegrityError(f"oplog update sets {key!r} inside a non-container value")
