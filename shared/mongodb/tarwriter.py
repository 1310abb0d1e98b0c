"""Writing the tar stream of a dump from many threads, in bounded memory (``ARCHIVE_FORMAT.md``).

A tar header states its member's size, so a member must be complete before
it is written. :class:`PartWriter` therefore cuts each ``.bson`` file into
parts of at most ``part_size`` bytes on document boundaries, filling buffers
it takes from its :class:`TarWriter`, which writes members on a thread of its
own: dump threads go on reading while earlier parts are compressed, encrypted
and uploaded. The writer owns a fixed number of part buffers and takes each
back once its part is written, so the buffers are allocated once, reused, and
bound the dump's memory whatever its size: a dump thread that finds none free
waits for the writer to catch up.
"""

from __future__ import annotations

import bisect
import hashlib
import queue
import tarfile
import threading
from typing import cast

from shared.crypto import Writable
from shared.mongodb.archive import FileRecord, part_name

DEFAULT_PART_SIZE = 4 * 1024 * 1024
BLOCK = 512
Buffer = bytes | bytearray | memoryview
_Item = tuple[str, Buffer, bytearray | None]


class TarWriter:
    """Writes members to ``sink`` in the order they are added, from any thread.

    ``buffers`` part buffers of ``part_size`` bytes are lent out by
    :meth:`borrow`; it must exceed the number of threads filling parts at once
    (one more lets a thread fill a part while the writer writes the last). A
    failure of the sink is raised by the next :meth:`add`, :meth:`borrow` or
    :meth:`finish`; after one, queued members are dropped so no thread blocks.
    """

    def __init__(
        self, sink: Writable, mtime: int, part_size: int = DEFAULT_PART_SIZE, buffers: int = 2
    ) -> None:
        self.part_size = part_size
        self._sink = sink
        self._mtime = mtime
        self._free: queue.LifoQueue[bytearray] = queue.LifoQueue()
        self._unallocated = buffers
        self._lock = threading.Lock()
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._error: BaseException | None = None
        self._abandoned = False
        self._thread = threading.Thread(target=self._run, name="tar-writer", daemon=True)
        self._thread.start()

    def borrow(self) -> bytearray:
        """A part buffer, allocated on first need, else one the writer gave back."""
        self._raise_failure()
        with self._lock:
            if self._unallocated:
                self._unallocated -= 1
                return bytearray(self.part_size)
        return self._free.get()

    def give_back(self, buffer: bytearray) -> None:
        """Return a buffer that will not be written (its part was abandoned)."""
        self._free.put(buffer)

    def add(self, name: str, data: Buffer, buffer: bytearray | None = None) -> None:
        """Queue a member; ``buffer`` (holding ``data``) is taken back once it is written."""
        self._raise_failure()
        self._queue.put((name, data, buffer))

    def add_file(self, path: str, data: bytes) -> FileRecord:
        self.add(path, data)
        return FileRecord(path, len(data), hashlib.sha256(data).hexdigest())

    def finish(self) -> None:
        """Write everything queued, then the end-of-archive marker (two zero blocks)."""
        self._stop()
        self._raise_failure()
        self._sink.write(b"\0" * (2 * BLOCK))

    def close(self) -> None:
        """Stop without writing what is still queued: the stream is being abandoned."""
        self._abandoned = True
        self._stop()

    def _stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            name, data, buffer = item
            if self._error is None and not self._abandoned:
                try:
                    self._write(name, data)
                except BaseException as exc:  # handed to the threads that add or finish
                    self._error = exc
            if buffer is not None:
                self._free.put(buffer)

    def _write(self, name: str, data: Buffer) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = self._mtime
        info.mode = 0o644
        self._sink.write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
        self._sink.write(cast(bytes, data))  # every stage takes any buffer
        padding = -len(data) % BLOCK
        if padding:
            self._sink.write(b"\0" * padding)


class PartWriter:
    """One ``.bson`` file written as document-aligned parts (see ``ARCHIVE_FORMAT.md``).

    Holds one of the tar writer's buffers from the first document to
    :meth:`close` (or :meth:`discard`, which a failed dump must call).
    """

    def __init__(self, tar: TarWriter, path: str) -> None:
        self._tar = tar
        self._path = path
        self._buffer: bytearray | None = None
        self._filled = 0
        self._parts = 0
        self._size = 0
        self._sha256 = hashlib.sha256()

    def write(self, data: bytes | memoryview, offsets: list[int]) -> None:
        """Append the whole documents ``data[offsets[0]:offsets[-1]]``."""
        view = memoryview(data)
        index, last = 0, len(offsets) - 1
        while index < last:
            room = self._tar.part_size - self._filled
            fits = bisect.bisect_right(offsets, offsets[index] + room, index, last + 1) - 1
            if fits <= index:  # the next document does not fit in what is left
                if self._filled:
                    self._emit(part=True)
                    continue
                fits = index + 1  # a document larger than a part is a part of its own
            self._append(view[offsets[index] : offsets[fits]])
            index = fits

    def close(self) -> FileRecord:
        """Write what is buffered: the whole file when no part was emitted yet."""
        if not self._parts or self._filled:
            self._emit(part=bool(self._parts))
        return FileRecord(self._path, self._size, self._sha256.hexdigest(), self._parts)

    def discard(self) -> None:
        """Give the buffer back unwritten (the dump failed)."""
        if self._buffer is not None and len(self._buffer) == self._tar.part_size:
            self._tar.give_back(self._buffer)
        self._buffer = None

    def _append(self, chunk: memoryview) -> None:
        end = self._filled + len(chunk)
        if self._buffer is None:
            self._buffer = self._tar.borrow()
        if end > len(self._buffer):  # one document larger than a part: a buffer of its own
            self._tar.give_back(self._buffer)
            self._buffer = bytearray(len(chunk))
        self._buffer[self._filled : end] = chunk
        self._filled = end
        self._sha256.update(chunk)
        self._size += len(chunk)

    def _emit(self, *, part: bool) -> None:
        buffer = self._buffer
        data = memoryview(buffer)[: self._filled] if buffer is not None else b""
        name = part_name(self._path, self._parts + 1) if part else self._path
        self._parts += part
        pooled = buffer if buffer is not None and len(buffer) == self._tar.part_size else None
        self._tar.add(name, data, pooled)
        self._buffer = None
        self._filled = 0
