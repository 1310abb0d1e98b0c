"""A readable stream made of chunks a stage produces one at a time.

Each legacy layer (decryption, gzip, the archive conversion) naturally yields
pieces of varying size; :class:`ChunkSource` serves them through
``readinto`` so that ``io.BufferedReader`` gives every consumer ordinary
``read(n)`` semantics without copying a large buffer on each small read.
"""

from __future__ import annotations

import io
from typing import Any


class ChunkSource(io.RawIOBase):
    """Subclasses implement :meth:`next_chunk`: the next bytes; ``b""`` once, at the end."""

    def __init__(self) -> None:
        super().__init__()
        self._pending = memoryview(b"")
        self._ended = False

    def next_chunk(self) -> bytes:
        raise NotImplementedError

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending and not self._ended:
            chunk = self.next_chunk()
            self._ended = not chunk
            self._pending = memoryview(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def buffered(source: ChunkSource, size: int = 1024 * 1024) -> io.BufferedReader:
    """``source`` with ``read(n)`` returning ``n`` bytes unless the stream ends."""
    return io.BufferedReader(source, size)
