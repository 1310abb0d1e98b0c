"""Which namespaces a restore writes, and under which names: mongorestore's ``--ns*`` rules.

* ``ns_include`` / ``ns_exclude``: patterns of ``db.collection`` where ``*``
  matches any run of characters (dots included: ``shop.*`` is every
  collection of ``shop``, ``*.logs`` every ``logs``), ``\\*`` is a literal
  asterisk and ``\\\\`` a backslash; ``$`` is not allowed. A namespace is
  restored if it matches an include pattern (or none is given) and no exclude
  pattern.
* ``ns_from`` / ``ns_to``: renames, lists of equal length. A pair either uses
  ``*`` wildcards (as many in ``to`` as in ``from``, filled in order:
  ``shop.*`` → ``shop_copy.*``) or ``$name$`` variables (``shop.$c$`` →
  ``archive.old_$c$``). A later pair wins over an earlier one; a namespace no
  pair matches keeps its name. Selection looks at the backed-up names.

A selection that restores whole databases under (possibly new) database names
can have the backup's oplog replayed onto it; one that leaves out or renames
single collections cannot (the oplog's commands name collections), so such a
restore is as of the dump, and says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from shared.errors import RequestError

_VARIABLE = re.compile(r"\$([^$]*)\$")


def _wildcards_to_variables(pattern: str) -> str:
    """``a*.b*`` → ``a$1$.$2$``, with ``\\*`` and ``\\\\`` unescaped to literals."""
    out, number, index = [], 0, 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            out.append(pattern[index + 1])
            index += 2
            continue
        if char == "*":
            number += 1
            out.append(f"${number}$")
        elif char != "\\":
            out.append(char)
        index += 1
    return "".join(out)


def _compile(source: str, what: str) -> tuple[re.Pattern[str], list[str]]:
    """The anchored regex of a ``$var$`` pattern, and its variable names in order."""
    regex, names, rest = [], [], source
    while rest:
        match = _VARIABLE.match(rest)
        if match:
            if match[1] in names:
                raise RequestError(f"{what}: variable ${match[1]}$ is used twice")
            names.append(match[1])
            regex.append("(.*?)")
            rest = rest[match.end() :]
        elif rest[0] == "$":
            raise RequestError(f"{what}: a '$' that does not open a $variable$")
        else:
            regex.append(re.escape(rest[0]))
            rest = rest[1:]
    return re.compile("^" + "".join(regex) + "$", re.DOTALL), names


def _matcher(pattern: str, field_name: str) -> re.Pattern[str]:
    if "$" in pattern:
        raise RequestError(f"{field_name} pattern {pattern!r}: '$' is not allowed")
    return _compile(_wildcards_to_variables(pattern), f"{field_name} {pattern!r}")[0]


@dataclass(frozen=True)
class _Rename:
    regex: re.Pattern[str]
    names: list[str]
    to: str

    @classmethod
    def parse(cls, source: str, to: str) -> _Rename:
        what = f"ns_from {source!r} / ns_to {to!r}"
        if "$" not in source:
            if _count_stars(source) != _count_stars(to):
                raise RequestError(f"{what}: different numbers of '*' wildcards")
            source, to = _wildcards_to_variables(source), _wildcards_to_variables(to)
        regex, names = _compile(source, what)
        for used in _VARIABLE.findall(to):
            if used not in names:
                raise RequestError(f"{what}: ns_to uses ${used}$, which ns_from does not define")
        if _VARIABLE.sub("", to).count("$"):
            raise RequestError(f"{what}: a '$' that does not open a $variable$")
        return cls(regex, names, to)

    def apply(self, namespace: str) -> str | None:
        match = self.regex.match(namespace)
        if match is None:
            return None
        values = dict(zip(self.names, match.groups(), strict=True))
        return _VARIABLE.sub(lambda m: values[m[1]], self.to)


def _count_stars(pattern: str) -> int:
    return len(re.findall(r"(?<!\\)\*", pattern.replace("\\\\", "")))


@dataclass(frozen=True)
class Rules:
    """A request's ``ns_*`` fields, checked and compiled (RequestError naming what is wrong)."""

    include: tuple[re.Pattern[str], ...] = ()
    exclude: tuple[re.Pattern[str], ...] = ()
    renames: tuple[_Rename, ...] = ()

    @classmethod
    def parse(
        cls,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        ns_from: Sequence[str] = (),
        ns_to: Sequence[str] = (),
    ) -> Rules:
        if len(ns_from) != len(ns_to):
            raise RequestError(
                f"ns_from has {len(ns_from)} entries and ns_to {len(ns_to)}; give one to per from"
            )
        return cls(
            tuple(_matcher(p, "ns_include") for p in include),
            tuple(_matcher(p, "ns_exclude") for p in exclude),
            tuple(_Rename.parse(s, t) for s, t in reversed(list(zip(ns_from, ns_to, strict=True)))),
        )

    def selected(self, namespace: str) -> bool:
        wanted = not self.include or any(p.match(namespace) for p in self.include)
        return wanted and not any(p.match(namespace) for p in self.exclude)

    def renamed(self, namespace: str) -> str:
        for rename in self.renames:
            target = rename.apply(namespace)
            if target is not None:
                return target
        return namespace


@dataclass(frozen=True)
class Selection:
    """Source namespace → target namespace for everything restored.

    ``databases`` maps each source database restored whole, collection names
    unchanged, to its target database; ``whole`` says every selected namespace
    is in such a database (then the oplog can be replayed).
    """

    namespaces: Mapping[str, str]
    databases: Mapping[str, str] = field(default_factory=dict)

    @property
    def whole(self) -> bool:
        return all(ns.partition(".")[0] in self.databases for ns in self.namespaces)

    @property
    def target_databases(self) -> list[str]:
        return sorted({target.partition(".")[0] for target in self.namespaces.values()})

    def target(self, namespace: str) -> tuple[str, str]:
        """The target database and collection name of a selected source namespace."""
        db, _, name = self.namespaces[namespace].partition(".")
        return db, name

    def describe(self) -> str:
        shown = self.databases if self.whole else self.namespaces
        return ", ".join(f"{source} -> {target}" for source, target in shown.items())


def select(all_namespaces: Iterable[str], rules: Rules, db_rename: Mapping[str, str]) -> Selection:
    """Apply ``rules``, then move each target into ``db_rename``'s database (if listed there)."""
    namespaces: dict[str, str] = {}
    every = sorted(all_namespaces)
    for namespace in every:
        if not rules.selected(namespace):
            continue
        db, _, name = rules.renamed(namespace).partition(".")
        if not name:
            raise RequestError(f"ns_to turns {namespace} into {db!r}, which has no collection")
        namespaces[namespace] = f"{db_rename.get(db, db)}.{name}"
    clashes = sorted({t for t in namespaces.values() if list(namespaces.values()).count(t) > 1})
    if clashes:
        raise RequestError(f"several backed-up collections would be restored as {clashes[0]}")
    databases: dict[str, str] = {}
    for db in sorted({ns.partition(".")[0] for ns in every}):
        members = [ns for ns in every if ns.partition(".")[0] == db]
        targets = {namespaces.get(ns, "").partition(".")[0] for ns in members}
        if len(targets) == 1 and all(
            ns in namespaces and namespaces[ns].partition(".")[2] == ns.partition(".")[2]
            for ns in members
        ):
            databases[db] = targets.pop()
    return Selection(namespaces, databases)
