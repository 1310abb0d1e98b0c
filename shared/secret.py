"""A value that must never be printed, logged or serialised by accident."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Secret:
    """Wraps a secret string; ``repr``/``str`` show ``***``, :meth:`reveal` gives the value.

    Configuration hands secrets around in this wrapper so that dumping a
    settings object into a log line or an exception cannot leak them.
    """

    _value: str = field(repr=False)

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return "***"

    def __repr__(self) -> str:
        return "Secret('***')"

    def __bool__(self) -> bool:
        return bool(self._value)
