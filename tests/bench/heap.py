"""Run a module as ``__main__`` while sampling the C heap; write its peaks as JSON at exit.

    BENCH_HEAP_OUT=peaks.json python -m tests.bench.heap shared.mongodb.job restore ...

A process's peak RSS mixes two things: the memory its code holds, and the
memory the allocator keeps after it was freed (glibc's per-thread arenas keep
freed chunks for reuse; a long-lived chunk at an arena's top pins the free
space under it). glibc's ``mallinfo2`` tells them apart: ``uordblks +
hblkhd`` is the memory allocated and not yet freed (Python objects, buffers,
the C libraries' own), ``arena + hblkhd`` what the allocator holds from the
system. A peak of the first that stays flat while RSS grows with the data is
the allocator's doing, not a structure of ours that grows. Sampled every
``INTERVAL`` seconds, so a spike shorter than that may be missed.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import runpy
import sys
import threading
import time

INTERVAL = 0.02
_FIELDS = (
    *("arena", "ordblks", "smblks", "hblks", "hblkhd"),
    *("usmblks", "fsmblks", "uordblks", "fordblks", "keepcost"),
)


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in _FIELDS]


def main() -> None:
    module, out = sys.argv[1], os.environ["BENCH_HEAP_OUT"]
    mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
    mallinfo2.restype = _MallInfo2
    peaks = {"in_use": 0, "held": 0}

    def sample() -> None:
        info = mallinfo2()
        peaks["in_use"] = max(peaks["in_use"], info.uordblks + info.hblkhd)
        peaks["held"] = max(peaks["held"], info.arena + info.hblkhd)

    def watch() -> None:
        while True:
            sample()
            time.sleep(INTERVAL)

    def write() -> None:
        sample()
        with open(out, "w") as sink:
            json.dump(peaks, sink)

    atexit.register(write)
    threading.Thread(target=watch, name="heap-sampler", daemon=True).start()
    sys.argv = [module, *sys.argv[2:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
