"""Streaming authenticated encryption of backups (format: ENCRYPTION_FORMAT.md).

AES-256-GCM over fixed-size segments in the STREAM construction: every
segment's nonce carries the file's random prefix, the segment's counter and a
final-segment flag, and the whole header is the associated data of every
segment. So a changed bit, a reordered, dropped or repeated segment, a cut
and appended data are all caught, each reported by its own error class, while
memory stays at about two segments whatever the size of the stream. The byte
layout itself lives in :mod:`shared.crypto_format`; the names other code uses
are re-exported here.

Stages do not own their inner stream: ``close()`` leaves it open unless
``closefd=True`` (the name zstandard uses), because in a pipeline each stream
is closed by whoever opened it. Leaving a ``with`` block by an exception, or
dropping a writer unclosed, abandons the stream *without* its final segment,
so a half-written backup can never decrypt as a complete one.
"""

from __future__ import annotations

import io
import os
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.crypto_format import (
    DEFAULT_SEGMENT_SIZE,
    FRAME_SIZE,
    MAX_COUNTER,
    MAX_SEGMENT_SIZE,
    MIN_SEGMENT_SIZE,
    NONCE_PREFIX_SIZE,
    SALT_SIZE,
    TAG_SIZE,
    Header,
    Key,
    Readable,
    Writable,
    decode_frame,
    derive,
    encode_frame,
    encode_header,
    nonce,
    read_exactly,
    read_header,
    unlock,
)
from shared.errors import (
    ConfigError,
    IntegrityError,
    SegmentOrderError,
    TamperedDataError,
    TruncatedDataError,
)

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

__all__ = [
    "DEFAULT_SEGMENT_SIZE",
    "MAX_SEGMENT_SIZE",
    "MIN_SEGMENT_SIZE",
    "DecryptingReader",
    "EncryptingWriter",
    "Header",
    "Key",
    "Keyring",
    "Readable",
    "Writable",
    "decrypt_bytes",
    "encrypt_bytes",
    "read_header",
]


class Keyring(Protocol):
    """Where keys come from: the newest encrypts, any known one decrypts."""

    def current(self) -> Key: ...

    def get(self, key_id: str) -> Key:
        """The key with this id; raises KeyNotFoundError naming the id."""
        ...


class EncryptingWriter(io.RawIOBase):
    """A write-only file object encrypting into ``sink``; ``close()`` seals the stream.

    A segment is written once the byte after it arrives, so the final segment
    is known at close and is empty only for an empty stream. ``salt`` and
    ``nonce_prefix`` are random unless given (test vectors give them).
    """

    def __init__(
        self,
        sink: Writable,
        key: Key,
        *,
        segment_size: int = DEFAULT_SEGMENT_SIZE,
        nonce_prefix: bytes | None = None,
        salt: bytes | None = None,
        closefd: bool = False,
    ) -> None:
        super().__init__()
        salt = os.urandom(SALT_SIZE) if salt is None else salt
        prefix = os.urandom(NONCE_PREFIX_SIZE) if nonce_prefix is None else nonce_prefix
        self._header = encode_header(key, segment_size, salt, prefix)
        self._sink = sink
        self._closefd = closefd
        self._aead = AESGCM(derive(key, salt)[0])
        self._prefix = prefix
        self._buffer = bytearray(segment_size)
        self._filled = 0
        self._counter = 0
        self._abandoned = False
        self.plaintext_bytes = 0
        self.bytes_written = 0  # ciphertext bytes handed to the sink, header included
        self._emit(self._header)

    def writable(self) -> bool:
        return True

    def write(self, data: ReadableBuffer) -> int:
        if self.closed:
            raise ValueError("write to a closed EncryptingWriter")
        view = memoryview(data).cast("B")
        size = len(self._buffer)
        total = len(view)
        while view:
            if self._filled == size:
                self._seal(memoryview(self._buffer), final=False)
                self._filled = 0
            if self._filled == 0 and len(view) > size:  # whole segments skip the copy
                self._seal(view[:size], final=False)
                view = view[size:]
                continue
            take = min(size - self._filled, len(view))
            self._buffer[self._filled : self._filled + take] = view[:take]
            self._filled += take
            view = view[take:]
        self.plaintext_bytes += total
        return total

    def close(self) -> None:
        if self.closed:
            return
        try:
            if not self._abandoned:
                self._seal(memoryview(self._buffer)[: self._filled], final=True)
                if self._closefd:
                    self._sink.close()
        finally:
            super().close()

    def abandon(self) -> None:
        """Close without the final segment: the stream will read as truncated."""
        self._abandoned = True
        self.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abandon()
        else:
            self.close()

    def __del__(self) -> None:
        if not self.closed:
            self.abandon()

    def _seal(self, plaintext: memoryview, *, final: bool) -> None:
        if self._counter > MAX_COUNTER:
            raise ConfigError(
                f"stream exceeds 2^32 segments of {len(self._buffer)} bytes; "
                "use a larger segment size"
            )
        segment_nonce = nonce(self._prefix, self._counter, final)
        sealed = self._aead.encrypt(segment_nonce, plaintext, self._header)
        self._emit(encode_frame(self._counter, final, len(plaintext)))
        self._emit(sealed)
        self._counter += 1

    def _emit(self, data: bytes) -> None:
        self._sink.write(data)
        self.bytes_written += len(data)


class DecryptingReader(io.RawIOBase):
    """A read-only file object yielding the plaintext of an encrypted stream.

    The header is read, the key looked up and checked on construction, so an
    unknown or wrong key fails before any segment is read. Each segment's
    plaintext is released only after it authenticates, and end of stream only
    after the final segment did and nothing follows it: a consumer that stops
    at the plaintext's last byte still sees a cut as TruncatedDataError.
    """

    def __init__(self, source: Readable, keyring: Keyring, *, closefd: bool = False) -> None:
        super().__init__()
        self._source = source
        self._closefd = closefd
        self._header = read_header(source)
        self._aead = AESGCM(unlock(self._header, keyring.get(self._header.key_id)))
        self._plain = memoryview(b"")
        self._position = 0
        self._counter = 0
        self._finished = False
        self._failure: IntegrityError | None = None

    @property
    def header(self) -> Header:
        return self._header

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        if self._failure is not None:
            raise self._failure  # a damaged stream stays damaged: no reading past it
        view = memoryview(buffer).cast("B")
        done = 0
        try:
            while done < len(view) and not (self._finished and self._position == len(self._plain)):
                if self._position == len(self._plain):
                    self._next_segment()
                    continue
                take = min(len(view) - done, len(self._plain) - self._position)
                view[done : done + take] = self._plain[self._position : self._position + take]
                done += take
                self._position += take
            if self._position == len(self._plain) and not self._finished:
                self._next_segment()  # a cut right after these bytes must fail this read
        except IntegrityError as failure:
            self._failure = failure
            raise
        return done

    def close(self) -> None:
        if not self.closed and self._closefd:
            self._source.close()
        super().close()

    def _next_segment(self) -> None:
        expected = self._counter
        frame = read_exactly(self._source, FRAME_SIZE)
        if len(frame) < FRAME_SIZE:
            where = "inside the frame of" if frame else "before"
            raise TruncatedDataError(
                f"encrypted stream ends {where} segment {expected}, without a final segment"
            )
        counter, final, length = decode_frame(frame)
        size = self._header.segment_size
        if final > 1 or length > size or (not final and length != size):
            raise TamperedDataError(f"segment {expected} has a damaged frame")
        body = read_exactly(self._source, length + TAG_SIZE)
        if len(body) < length + TAG_SIZE:
            if len(body) >= TAG_SIZE and self._open(counter, True, body) is not None:
                raise TamperedDataError(f"segment {expected} has a damaged length")
            raise TruncatedDataError(f"encrypted stream ends inside segment {expected}")
        plain = self._open(counter, bool(final), body)
        if plain is None:
            raise TamperedDataError(
                f"segment {expected} fails authentication: data changed after encryption"
            )
        if counter != expected:
            raise SegmentOrderError(
                f"found segment {counter} where segment {expected} belongs: segments "
                + ("repeated or reordered" if counter < expected else "dropped or reordered")
            )
        if final and self._source.read(1):
            raise SegmentOrderError(f"data follows the final segment ({expected})")
        self._plain, self._position = memoryview(plain), 0
        self._counter += 1
        self._finished = bool(final)

    def _open(self, counter: int, final: bool, body: bytes) -> bytes | None:
        try:
            segment_nonce = nonce(self._header.nonce_prefix, counter, final)
            return self._aead.decrypt(segment_nonce, body, self._header.raw)
        except InvalidTag:
            return None


def encrypt_bytes(
    data: bytes,
    key: Key,
    *,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
    nonce_prefix: bytes | None = None,
    salt: bytes | None = None,
) -> bytes:
    """Encrypt small data in memory (options as for EncryptingWriter)."""
    sink = io.BytesIO()
    with EncryptingWriter(
        sink, key, segment_size=segment_size, nonce_prefix=nonce_prefix, salt=salt
    ) as writer:
        writer.write(data)
    return sink.getvalue()


def decrypt_bytes(data: bytes, keyring: Keyring) -> bytes:
    """Decrypt small data in memory."""
    with DecryptingReader(io.BytesIO(data), keyring) as reader:
        return reader.read()
