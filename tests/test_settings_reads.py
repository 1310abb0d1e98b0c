"""Settings keys are read in one module: ``shared/config.py``.

Everything else receives frozen settings objects (or calls a loader of
``config``), so every key is parsed once, with an error that names the key,
where its value came from and the form expected. The check reads the source:
a settings key's name as a literal looked up in a mapping (``environ.get``,
``os.getenv``, ``environ[...]``), or a key object of ``config`` handed to a
source lookup (``src.get(config.X)``), anywhere but in ``config`` itself.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared import config
from shared.settings_source import Key

REPO = Path(__file__).resolve().parent.parent
KEY_NAMES = config.KNOWN_KEYS | config.ENVIRONMENT_ONLY
LOOKUPS = frozenset({"get", "require", "raw", "getenv", "pop", "setdefault"})


def modules() -> list[Path]:
    """Every module of the product but ``shared/config.py``."""
    paths = [*(REPO / "shared").rglob("*.py"), *(REPO / "functions").rglob("*.py")]
    return sorted(path for path in paths if path.relative_to(REPO) != Path("shared/config.py"))


def raw_reads(path: Path) -> Iterator[str]:
    """``line: code`` of each place ``path`` reads a settings key itself."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and _is_environ(node.value) and _is_key_name(node.slice):
            yield f"{node.lineno}: {ast.unparse(node)}"
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args):
            continue
        name, first = node.func.attr, node.args[0]
        by_name = name in ("getenv", "raw") or _is_environ(node.func.value)
        from_environ = by_name and _is_key_name(first)
        if name in LOOKUPS and (from_environ or _is_config_key(first)):
            yield f"{node.lineno}: {ast.unparse(node)}"


def _is_environ(node: ast.AST) -> bool:
    """``os.environ``, ``environ``, ``env``: the process environment or a copy of it."""
    return re.search(r"(^|\.)(environ|env)$", ast.unparse(node)) is not None


def _is_key_name(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value in KEY_NAMES


def _is_config_key(node: ast.AST) -> bool:
    """``config.X`` or ``config.X.name`` where ``X`` is one of config's keys."""
    if isinstance(node, ast.Attribute) and node.attr == "name":
        node = node.value
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "config"
        and isinstance(getattr(config, node.attr, None), Key)
    )


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_module_reads_a_settings_key_outside_config(path: Path) -> None:
    assert list(raw_reads(path)) == []


def test_the_check_finds_each_form_of_a_raw_read(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\n"
        "a = os.environ.get('GOOGLE_CLOUD_PROJECT')\n"
        "b = os.environ['DR_STATE_BUCKET']\n"
        "c = os.getenv('DR_LOG_FORMAT')\n"
        "d = src.require(config.MONGODB_GCS_BUCKET)\n"
        "e = src.raw(config.DR_STATE_BUCKET.name)\n"
        "f = os.environ.get('COLUMNS')\n"  # a terminal's convention, not a setting
        "g = config.project(config.process_environment())\n"
        "h = values['DR_STATE_BUCKET']\n"  # settings being written, not read
        "i = env['DR_STATE_BUCKET']\n"
        "j = src.raw('DR_STATE_BUCKET')\n"
    )
    assert [line.split(":")[0] for line in raw_reads(sample)] == [
        "2",
        "3",
        "4",
        "5",
        "6",
        "10",
        "11",
    ]
