"""Firestore fits the one target shape: its modules, read as source, and its targets' types.

The package may use the restore core's lifecycle, status and schema, but not
the dispatcher or the registry (those drive the targets, not the reverse),
and it reads no settings key itself (only :mod:`shared.config` does).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from shared.firestore.target import FirestoreBackupTarget, FirestoreRestoreTarget
    from shared.target import BackupTarget, RestoreTarget

PACKAGE = Path(__file__).parents[1] / "shared" / "firestore"
MODULES = sorted(PACKAGE.glob("*.py"))


def _imports(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("module", MODULES, ids=lambda path: path.stem)
def test_no_module_imports_the_dispatcher_or_the_registry(module: Path) -> None:
    imported = _imports(ast.parse(module.read_text()))
    assert not {
        name for name in imported if name.startswith(("shared.restore.dispatch", "shared.registry"))
    }


@pytest.mark.parametrize("module", MODULES, ids=lambda path: path.stem)
def test_no_module_reads_a_settings_key_itself(module: Path) -> None:
    source = module.read_text()
    assert "os.environ" not in source
    assert ".raw(" not in source


def test_the_targets_are_the_protocols() -> None:
    """Checked by the type checker: each assignment type-checks only if the class conforms."""

    def conform(backup: FirestoreBackupTarget, restore: FirestoreRestoreTarget) -> Any:
        as_backup: BackupTarget = backup
        as_restore: RestoreTarget[Any] = restore
        return as_backup, as_restore

    assert callable(conform)
