"""The deploy artifact: main.py, requirements.txt and shared/ at the root, byte-identical rebuilds."""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("package", REPO / "functions" / "package.py")
assert spec is not None
assert spec.loader is not None
package = importlib.util.module_from_spec(spec)
spec.loader.exec_module(package)


def test_the_archive_is_byte_identical_for_identical_sources(tmp_path: Path) -> None:
    first = package.build(tmp_path / "a.zip")
    (REPO / "shared" / "__pycache__").mkdir(exist_ok=True)  # build products never count
    second = package.build(tmp_path / "b.zip")
    assert first == second
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_the_archive_has_what_cloud_functions_needs_at_its_root(tmp_path: Path) -> None:
    package.build(tmp_path / "f.zip")
    names = zipfile.ZipFile(tmp_path / "f.zip").namelist()
    assert {"main.py", "requirements.txt", "shared/__init__.py", "shared/config.py"} <= set(names)
    assert not [name for name in names if "__pycache__" in name or name.startswith("tests/")]
    assert names == sorted(names)
