"""The old operator CLI, kept as an alias of ``dr`` so existing runbooks keep working.

``python -m shared.cli restore mongodb --date 2025-03-25 --type daily --test-mode --wait``
runs ``dr restore mongodb --date 2025-03-25 --type daily --test-mode`` (``dr``
follows by default; without ``--wait`` the alias adds ``--no-wait``).
``status``, ``backups`` and ``backup`` map one for one (``backup`` runs in the
``manual`` tier unless ``--type`` names a scheduled one). Everything else is
:mod:`shared.console`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from shared.console.main import main as dr_main


def translate(argv: Sequence[str]) -> list[str]:
    """The ``dr`` command line for an old ``shared.cli`` one."""
    args = list(argv)
    command = next((i for i, arg in enumerate(args) if arg in ("restore", "status", "backups",
                                                                "backup")), None)  # fmt: skip
    if command is None or args[command] != "restore":
        return args
    rest = args[command + 1 :]
    if "--wait" in rest:
        rest.remove("--wait")
    elif "--print" not in rest:
        rest.append("--no-wait")
    return [*args[: command + 1], *rest]


def main(argv: Sequence[str] | None = None) -> int:
    return dr_main(translate(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
