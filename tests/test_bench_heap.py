"""The MongoDB benchmark's memory figures: the heap sampler, and the job's allocator settings."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.bench import mongodb_dump
from tests.devstack.process import REPO_ROOT


def test_the_heap_sampler_sees_memory_the_module_it_runs_holds(tmp_path: Path) -> None:
    out = tmp_path / "peaks.json"
    statement = "held = bytearray(64 << 20)"
    subprocess.run(
        [sys.executable, "-m", "tests.bench.heap", "timeit", "-n", "1", "-r", "1", statement],
        env={"BENCH_HEAP_OUT": str(out), "PYTHONPATH": str(REPO_ROOT)},
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
    )
    peaks = json.loads(out.read_text())
    assert peaks["in_use"] >= 64 << 20
    assert peaks["held"] >= peaks["in_use"]


def test_the_benchmark_runs_the_job_with_the_allocator_settings_of_its_image() -> None:
    dockerfile = (REPO_ROOT / "functions" / "mongodb_job" / "Dockerfile").read_text()
    image = dict(re.findall(r"\b(MALLOC_[A-Z_]+)=(\S+)", dockerfile))
    assert image == mongodb_dump.IMAGE_ALLOCATOR
