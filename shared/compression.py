"""Streaming compression of dumps: zstd for new backups, gzip still read for old ones.

The shell scripts this product replaces wrote gzip; new backups are zstd,
which on database dumps compresses smaller and an order of magnitude faster. Readers tell the two
apart by their magic bytes, so a restore needs no hint of which it is.

Like the encryption stages, these do not close their inner stream unless
``closefd=True``. Zstandard's own reader takes a stream cut inside a frame for
a normal end, so the reader here follows the frame structure alongside and
reports the cut as TruncatedDataError.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO, Protocol, cast

import zstandard

from shared.crypto import Readable, Writable
from shared.errors import ConfigError, IntegrityError, TruncatedDataError, UnknownFormatError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

ZSTD = "zstd"
GZIP = "gzip"
ALGORITHM = ZSTD  # what new backups use; manifests record it
DEFAULT_LEVEL = 3
MIN_LEVEL = 1
MAX_LEVEL = 19  # 20..22 need up to 128 MiB windows on both sides
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
_SKIPPABLE_MAGIC = 0x184D2A50  # low four bits are free


def compressing_writer(
    sink: Writable, level: int = DEFAULT_LEVEL, threads: int = 0, *, closefd: bool = False
) -> BinaryIO:
    """A writable zstd stream into ``sink``; closing it ends the frame.

    ``threads``: 0 compresses in the calling thread, N > 0 in N workers, -1
    in one per CPU. The frame carries a content checksum, so damage is
    caught even in a backup stored without encryption.
    """
    if isinstance(level, bool) or not isinstance(level, int) or not MIN_LEVEL <= level <= MAX_LEVEL:
        raise ConfigError(f"compression level {level!r} is outside {MIN_LEVEL}..{MAX_LEVEL}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < -1:
        raise ConfigError(f"compression threads {threads!r}: use -1 (all CPUs), 0 or more")
    compressor = zstandard.ZstdCompressor(level=level, threads=threads, write_checksum=True)
    return compressor.stream_writer(cast(BinaryIO, sink), write_return_read=True, closefd=closefd)


class _ZstdFrames:
    """Follows the frame and block headers of a zstd stream (RFC 8878) to see where it may end.

    Only headers are parsed and block contents skipped, so this costs a few
    operations per block (at most 128 KiB of output each).
    """

    def __init__(self) -> None:
        self._frames = 0
        self._checksum_size = 0
        self._expect(0, 4, self._magic)

    @property
    def complete(self) -> bool:
        """At a frame boundary, after at least one frame."""
        return (
            self._frames > 0 and self._parse == self._magic and not self._skip and not self._field
        )

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._skip:
                step = min(self._skip, len(view))
                self._skip -= step
            else:
                step = min(self._need - len(self._field), len(view))
                self._field += view[:step]
                if len(self._field) == self._need:
                    field = bytes(self._field)
                    self._field.clear()
                    self._parse(field)
            view = view[step:]

    def _expect(self, skip: int, need: int, parse: Callable[[bytes], None]) -> None:
        self._skip, self._need, self._parse = skip, need, parse
        self._field = bytearray()

    def _magic(self, field: bytes) -> None:
        if field == ZSTD_MAGIC:
            self._expect(0, 1, self._frame_header)
        elif int.from_bytes(field, "little") & ~0xF == _SKIPPABLE_MAGIC:
            self._expect(0, 4, self._skippable)
        else:
            raise IntegrityError(f"zstd stream is corrupt: no frame starts with {field.hex(' ')}")

    def _frame_header(self, field: bytes) -> None:
        descriptor = field[0]
        single_segment = descriptor >> 5 & 1
        size = (
            (0 if single_segment else 1)  # window descriptor
            + (0, 1, 2, 4)[descriptor & 3]  # dictionary id
            + (single_segment, 2, 4, 8)[descriptor >> 6]  # frame content size
        )
        self._checksum_size = 4 if descriptor >> 2 & 1 else 0
        self._expect(size, 3, self._block)

    def _block(self, field: bytes) -> None:
        header = int.from_bytes(field, "little")
        kind = header >> 1 & 3
        if kind == 3:
            raise IntegrityError("zstd stream is corrupt: reserved block type")
        size = 1 if kind == 1 else header >> 3  # an RLE block stores its byte once
        if header & 1:
            self._frames += 1
            self._expect(size + self._checksum_size, 4, self._magic)
        else:
            self._expect(size, 3, self._block)

    def _skippable(self, field: bytes) -> None:
        self._expect(int.from_bytes(field, "little"), 4, self._magic)


class _Tap(io.RawIOBase):
    """Gives back the sniffed magic, then the source, showing every byte to ``observe``."""

    def __init__(
        self, prefix: bytes, source: Readable, observe: Callable[[bytes], None] | None = None
    ) -> None:
        super().__init__()
        self._prefix = prefix
        self._source = source
        self._observe = observe

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._prefix:
            cut = len(self._prefix) if size < 0 else size
            data, self._prefix = self._prefix[:cut], self._prefix[cut:]
        else:
            data = self._source.read(size)
        if self._observe is not None:
            self._observe(data)
        return data


class _Readable(Protocol):
    def readinto(self, buffer: WriteableBuffer, /) -> int: ...

    def close(self) -> None: ...


class DecompressingReader(io.RawIOBase):
    """The decompressed bytes of a zstd or gzip stream; ``algorithm`` says which it was.

    Made by :func:`decompressing_reader`; translates the libraries' errors
    into ours and checks that a zstd stream ends at a frame boundary.
    """

    def __init__(
        self,
        inner: _Readable,
        algorithm: str,
        frames: _ZstdFrames | None,
        source: Readable,
        closefd: bool,
    ) -> None:
        super().__init__()
        self.algorithm = algorithm
        self._inner = inner
        self._frames = frames
        self._source = source
        self._closefd = closefd

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        try:
            count = self._inner.readinto(buffer)
        except zstandard.ZstdError as error:
            raise IntegrityError(f"zstd stream is corrupt: {error}") from None
        except EOFError:
            raise TruncatedDataError("gzip stream ends before its end-of-stream marker") from None
        except (gzip.BadGzipFile, zlib.error) as error:
            raise IntegrityError(f"gzip stream is corrupt: {error}") from None
        if count == 0 and self._frames is not None and not self._frames.complete:
            raise TruncatedDataError("zstd stream ends inside a frame")
        return count

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
            if self._closefd:
                self._source.close()
        super().close()


def decompressing_reader(source: Readable, *, closefd: bool = False) -> DecompressingReader:
    """Open a zstd or gzip stream for reading, told apart by its magic bytes (read now)."""
    prefix = b""
    while len(prefix) < 4 and (chunk := source.read(4 - len(prefix))):
        prefix += chunk
    if prefix.startswith(GZIP_MAGIC):
        inner = gzip.GzipFile(fileobj=_Tap(prefix, source), mode="rb")
        return DecompressingReader(inner, GZIP, None, source, closefd)
    if prefix == ZSTD_MAGIC:
        frames = _ZstdFrames()
        tap = cast(BinaryIO, _Tap(prefix, source, frames.feed))
        reader = zstandard.ZstdDecompressor().stream_reader(tap, read_across_frames=True)
        return DecompressingReader(reader, ZSTD, frames, source, closefd)
    if len(prefix) < 4 and (ZSTD_MAGIC.startswith(prefix) or GZIP_MAGIC.startswith(prefix)):
        raise TruncatedDataError("compressed stream ends inside its magic bytes")
    raise UnknownFormatError(
        f"not zstd or gzip data: starts with {prefix.hex(' ')}, expected "
        f"{ZSTD_MAGIC.hex(' ')} (zstd) or {GZIP_MAGIC.hex(' ')} (gzip)"
    )
