"""What checking a backup in place reports, the same shape for every target.

A check reads a backup where it lies (nothing is restored) and compares it
with its manifest. It reports what it checked, in words an operator can
repeat, and every problem it found; it never stops at the first problem, so
one run says everything that is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CheckResult:
    target: str
    backup: str
    checked: tuple[str, ...]
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "backup": self.backup,
            "ok": self.ok,
            "checked": list(self.checked),
            "problems": list(self.problems),
        }
