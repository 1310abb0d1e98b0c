"""The architecture's rules, read from the source with ``ast``.

The restore core (``shared/restore/``) imports no target package: targets
reach it through :mod:`shared.registry` and the protocols of
:mod:`shared.target`, so a new target never changes it. (That only
``shared/config.py`` reads settings keys is ``tests/test_settings_reads.py``.)
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from shared.manifest import TARGETS

ROOT = Path(__file__).resolve().parent.parent


def _modules(folder: str) -> Iterator[tuple[str, ast.Module]]:
    for path in sorted((ROOT / folder).rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        yield name, ast.parse(path.read_text(), name)


def _imported(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The absolute names an import statement imports (relative ones resolved)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.removesuffix(".py").split("/")[: -node.level]
        base = ".".join([*package, base] if base else package)
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def test_the_restore_core_imports_no_target_package() -> None:
    packages = tuple(f"shared.{target}" for target in TARGETS)
    found = [
        f"{module}:{node.lineno} imports {name}"
        for module, tree in _modules("shared/restore")
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in _imported(module, node)
        if name in packages or name.startswith(tuple(p + "." for p in packages))
    ]
    assert not found, "shared/restore/ must reach targets through shared.registry:\n" + "\n".join(
        found
    )
