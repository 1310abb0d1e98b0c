"""Builds the Cloud Functions source archive: byte-identical for identical sources.

Cloud Functions wants ``main.py`` and ``requirements.txt`` at the root of the
zip; ``shared/`` sits beside them so ``import shared`` works unchanged. Entries
are sorted, timestamps fixed and permissions normalised, so the archive's hash
changes only when a source file does, and Terraform redeploys only then.

Usage: ``python functions/package.py [OUTPUT]`` (default ``dist/functions-source.zip``).
"""

from __future__ import annotations

import hashlib
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
SKIPPED_PARTS = {"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}


def source_files(repo: Path = REPO) -> list[tuple[str, Path]]:
    """(name in the archive, path on disk) for every file that is deployed, sorted."""
    files = [
        ("main.py", repo / "functions" / "main.py"),
        ("requirements.txt", repo / "requirements.txt"),
    ]
    for path in sorted((repo / "shared").rglob("*")):
        relative = path.relative_to(repo)
        if (
            path.is_file()
            and not SKIPPED_PARTS.intersection(relative.parts)
            and path.suffix != ".pyc"
        ):
            files.append((relative.as_posix(), path))
    return sorted(files)


def build(output: Path, repo: Path = REPO) -> str:
    """Write the archive to ``output``; returns its SHA-256."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, path in source_files(repo):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    return hashlib.sha256(output.read_bytes()).hexdigest()


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "dist" / "functions-source.zip"
    digest = build(target)
    print(f"{target} sha256={digest}")
