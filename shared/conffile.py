"""Reader for the shell-style ``KEY="value"`` configuration files of the old scripts.

The files operators already have (``mongodb_backup.conf`` and friends) were
``source``-d by bash, so they must load verbatim: ``#`` comments, blank
lines, an optional ``export``, double quotes (with ``$VAR``/``${VAR}``
expansion and backslash escapes), single quotes (literal), unquoted words,
and a trailing comment after the value. Anything else a shell would *run*
(command substitution, several assignments on one line, arrays) is refused
with the file and line number, because silently guessing what a line meant
is worse than stopping.

Expansion follows the shell: a reference resolves to a key defined earlier in
the same file, else to the process environment, else to the empty string. The
names of references that resolved to nothing are kept, so configuration can say
"MONGODB_URI is empty because ${X} is not set" instead of a bare "missing".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shared.errors import ConfigError

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REFERENCE = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)
_DOUBLE_QUOTE_ESCAPABLE = '$`"\\'
BOM = "\ufeff"
PREVIEW_LIMIT = 60


@dataclass(frozen=True)
class ConfValue:
    """One assignment: the expanded value, where it came from, and unset references."""

    value: str
    line: int
    unresolved: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class ConfFile:
    """The assignments of one file, in file order (a later duplicate wins, as in bash)."""

    path: str
    values: Mapping[str, ConfValue]


def load_conf(path: str | Path, environ: Mapping[str, str]) -> ConfFile:
    """Read and parse ``path``; ``environ`` resolves references not defined in the file.

    A UTF-8 byte order mark at the top (editors on Windows add one) is
    skipped, as it carries no content.
    """
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text ({exc.reason})") from exc
    return parse_conf(text, str(path), environ)


def parse_conf(text: str, source: str, environ: Mapping[str, str]) -> ConfFile:
    """Parse a file's text (a leading byte order mark is skipped); errors name file and line."""
    values: dict[str, ConfValue] = {}
    for number, raw_line in enumerate(text.removeprefix(BOM).splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{source}:{number}"
        if line.startswith("export ") or line.startswith("export\t"):
            line = line[len("export") :].lstrip()
        key_match = _KEY.match(line)
        if key_match is None or line[key_match.end() : key_match.end() + 1] != "=":
            bom = " (it starts with a UTF-8 byte order mark, BOM)" if line.startswith(BOM) else ""
            raise ConfigError(f'{where}: expected KEY="value", got {preview(raw_line)}{bom}')
        key = key_match.group(0)

        def lookup(name: str) -> str | None:
            earlier = values.get(name)
            return earlier.value if earlier is not None else environ.get(name)

        value, unresolved = _ValueScanner(line[key_match.end() + 1 :], where, key, lookup).scan()
        values[key] = ConfValue(value=value, line=number, unresolved=unresolved)
    return ConfFile(path=source, values=values)


_Resolver = Callable[[str], str | None]


class _ValueScanner:
    """Scans the value part of one assignment, shell-style, expanding references.

    Keeps the names of references that were set nowhere, so configuration can
    say why a value is empty.
    """

    def __init__(self, rest: str, where: str, key: str, lookup: _Resolver) -> None:
        self.rest = rest
        self.where = where
        self.key = key
        self._lookup = lookup
        self.parts: list[str] = []
        self.unresolved: list[str] = []

    def scan(self) -> tuple[str, tuple[str, ...]]:
        rest, index = self.rest, 0
        while index < len(rest) and not rest[index].isspace():
            char = rest[index]
            if char == "'":
                end = rest.find("'", index + 1)
                if end < 0:
                    raise self._error("has an unterminated single quote")
                self.parts.append(rest[index + 1 : end])
                index = end + 1
            elif char == '"':
                index = self._double_quoted(index + 1)
            else:
                index = self._unquoted(index)
        trailing = rest[index:].strip()
        if trailing and not trailing.startswith("#"):
            raise ConfigError(
                f"{self.where}: unexpected text after the value of {self.key}: "
                f"{preview(trailing)} (quote values that contain spaces)"
            )
        return "".join(self.parts), tuple(self.unresolved)

    def _error(self, problem: str) -> ConfigError:
        return ConfigError(f"{self.where}: {self.key} {problem}")

    def _reference(self, index: int) -> int | None:
        """Expand ``$NAME``/``${NAME}`` at ``index``; ``None`` if it is a plain dollar sign."""
        match = _REFERENCE.match(self.rest, index)
        if match is None:
            return None
        name = match.group("braced") or match.group("bare")
        found = self._lookup(name)
        if found is None:
            self.unresolved.append(name)
        self.parts.append(found or "")
        return match.end()

    def _unquoted(self, index: int) -> int:
        rest, char = self.rest, self.rest[index]
        if rest.startswith("$(", index) or char == "`":
            raise self._error("uses command substitution, which is not supported")
        if char in ";&|<>()":
            raise self._error(f"uses shell syntax {char!r} that is not supported; quote the value")
        if char == "\\" and index + 1 < len(rest):
            self.parts.append(rest[index + 1])
            return index + 2
        if char == "$":
            after = self._reference(index)
            if after is not None:
                return after
        self.parts.append(char)
        return index + 1

    def _double_quoted(self, index: int) -> int:
        """Append the expanded content of a double-quoted string; return the index after it."""
        rest = self.rest
        while index < len(rest):
            char = rest[index]
            if char == '"':
                return index + 1
            if char == "\\" and rest[index + 1 : index + 2] in tuple(_DOUBLE_QUOTE_ESCAPABLE):
                self.parts.append(rest[index + 1])
                index += 2
                continue
            if char == "`" or rest.startswith("$(", index):
                raise self._error("uses command substitution, which is not supported")
            if char == "$":
                after = self._reference(index)
                if after is not None:
                    index = after
                    continue
            self.parts.append(char)
            index += 1
        raise self._error("has an unterminated double quote")


def shorten(text: str, limit: int = PREVIEW_LIMIT) -> str:
    """``text`` if short, else its first characters, ``...`` and its length.

    A 10 MB value echoed whole would make one log line far over Cloud
    Logging's entry limit, and no operator reads past the first words anyway.
    """
    if len(text) <= limit:
        return text
    return f"{text[: limit - 3]}... ({len(text):,} characters)"


def preview(text: str, limit: int = PREVIEW_LIMIT) -> str:
    """A value as errors quote it: stripped, quoted, and shortened as :func:`shorten` does."""
    shown = text.strip()
    if len(shown) <= limit:
        return repr(shown)
    return f"{shown[: limit - 3]!r}... ({len(shown):,} characters)"
