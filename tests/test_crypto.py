"""The encrypted stream format: vectors, round trips and every way of damaging a stream."""

from __future__ import annotations

import gc
import hashlib
import io
import json
import re
import struct
import tarfile
import tracemalloc
import zlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.crypto import (
    DEFAULT_SEGMENT_SIZE,
    MAX_SEGMENT_SIZE,
    MIN_SEGMENT_SIZE,
    DecryptingReader,
    EncryptingWriter,
    Key,
    decrypt_bytes,
    encrypt_bytes,
    read_header,
)
from shared.errors import (
    ConfigError,
    KeyNotFoundError,
    SegmentOrderError,
    TamperedDataError,
    TruncatedDataError,
    UnknownFormatError,
    WrongKeyError,
)
from shared.keys import StaticKeyring

ROOT = Path(__file__).resolve().parent.parent
VECTORS = json.loads((ROOT / "tests/data/crypto_vectors/vectors.json").read_text())
KEY = Key("test-key", bytes(range(32)))
KEYRING = StaticKeyring([KEY])
FRAME = 9
TAG = 16


def _encrypt(data: bytes, segment_size: int = 16) -> bytes:
    return encrypt_bytes(data, KEY, segment_size=segment_size)


def _split(stream: bytes) -> tuple[bytes, list[bytes]]:
    """A stream's header and its segments (frame and sealed bytes each)."""
    header_size = read_header(io.BytesIO(stream)).size
    segments, offset = [], header_size
    while offset < len(stream):
        (length,) = struct.unpack(">I", stream[offset + 5 : offset + FRAME])
        end = offset + FRAME + length + TAG
        segments.append(stream[offset:end])
        offset = end
    return stream[:header_size], segments


# --- test vectors -------------------------------------------------------------


def _reference_stream(
    chunks: list[bytes], key_id: bytes = VECTORS["key_id"].encode(), size: int | None = None
) -> bytes:
    """A stream of these segments (the last final), written from ENCRYPTION_FORMAT.md alone.

    Shares no code with the product, so it can also build what the product's
    writer never makes (an empty final segment after full ones, odd key ids).
    """
    key = bytes.fromhex(VECTORS["key"])
    salt = bytes.fromhex(VECTORS["salt"])
    prefix = bytes.fromhex(VECTORS["nonce_prefix"])
    size = VECTORS["segment_size"] if size is None else size

    def hkdf(info: bytes) -> bytes:
        return HKDF(SHA256(), 32, salt, info).derive(key)

    fixed = b"EWDR\x01" + struct.pack(">I", size) + salt + prefix + hkdf(b"EWDR v1 key check")
    fixed += struct.pack(">H", len(key_id))
    fixed += struct.pack(">I", zlib.crc32(fixed))
    header = fixed + key_id
    header += struct.pack(">I", zlib.crc32(header))
    aead = AESGCM(hkdf(b"EWDR v1 segment key"))
    out: bytes = header
    for counter, chunk in enumerate(chunks):
        final = counter == len(chunks) - 1
        tail = struct.pack(">IB", counter, final)
        out += tail + struct.pack(">I", len(chunk)) + aead.encrypt(prefix + tail, chunk, header)
    return out


def _reference_encrypt(plaintext: bytes) -> bytes:
    size = VECTORS["segment_size"]
    chunks = [plaintext[i : i + size] for i in range(0, len(plaintext), size)] or [b""]
    return _reference_stream(chunks)


VECTOR_KEYRING = StaticKeyring([Key(VECTORS["key_id"], bytes.fromhex(VECTORS["key"]))])


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["name"])
def test_vectors_byte_for_byte(vector: dict[str, str]) -> None:
    key = Key(VECTORS["key_id"], bytes.fromhex(VECTORS["key"]))
    plaintext = bytes.fromhex(vector["plaintext"])
    expected = bytes.fromhex(vector["ciphertext"])
    produced = encrypt_bytes(
        plaintext,
        key,
        segment_size=VECTORS["segment_size"],
        nonce_prefix=bytes.fromhex(VECTORS["nonce_prefix"]),
        salt=bytes.fromhex(VECTORS["salt"]),
    )
    assert produced == expected
    assert _reference_encrypt(plaintext) == expected
    assert decrypt_bytes(expected, StaticKeyring([key])) == plaintext


def test_vectors_match_the_format_document() -> None:
    text = (ROOT / "shared/ENCRYPTION_FORMAT.md").read_text()
    vectors_part = text[text.index("## Test vectors") :]
    blocks = {
        re.sub(r"\s", "", block) for block in re.findall(r"```\n(.*?)```", vectors_part, re.S)
    }
    assert f"segment_key={VECTORS['segment_key']}key_check={VECTORS['key_check']}" in blocks
    for vector in VECTORS["vectors"]:
        header, segments = _split(bytes.fromhex(vector["ciphertext"]))
        assert header.hex() in blocks
        assert b"".join(segments).hex() in blocks


# --- round trips ----------------------------------------------------------------


@given(
    data=st.binary(max_size=300),
    segment_size=st.sampled_from([16, 17, 31, 64]),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=6),
)
@settings(max_examples=200, deadline=None)
def test_round_trip_any_size_and_write_pattern(
    data: bytes, segment_size: int, cuts: list[int]
) -> None:
    sink = io.BytesIO()
    with EncryptingWriter(sink, KEY, segment_size=segment_size) as writer:
        start = 0
        for cut in sorted(c for c in cuts if c <= len(data)):
            writer.write(data[start:cut])
            start = cut
        writer.write(memoryview(data)[start:])
    assert writer.plaintext_bytes == len(data)
    assert writer.bytes_written == len(sink.getvalue())
    assert decrypt_bytes(sink.getvalue(), KEYRING) == data


class _Trickle(io.BytesIO):
    """A source that returns at most ``limit`` bytes per read, as sockets and pipes may."""

    def __init__(self, data: bytes, limit: int) -> None:
        super().__init__(data)
        self._limit = limit

    def read(self, size: int | None = -1) -> bytes:
        return super().read(self._limit if size is None or size < 0 else min(size, self._limit))


@given(data=st.binary(max_size=200), limit=st.integers(min_value=1, max_value=40))
@settings(max_examples=50, deadline=None)
def test_short_reads_from_the_source(data: bytes, limit: int) -> None:
    with DecryptingReader(_Trickle(_encrypt(data), limit), KEYRING) as reader:
        assert reader.read() == data


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 1025, 2048, 3 * 1024 + 5])
def test_round_trip_around_segment_boundaries(size: int) -> None:
    data = bytes(i % 251 for i in range(size))
    stream = _encrypt(data, segment_size=1024)
    _, segments = _split(stream)
    assert len(segments) == max(1, -(-size // 1024))  # the final segment is empty only if all is
    assert decrypt_bytes(stream, KEYRING) == data


def test_round_trip_default_segments_and_small_reads() -> None:
    data = hashlib.shake_256(b"seed").digest(2 * DEFAULT_SEGMENT_SIZE + 7)
    stream = encrypt_bytes(data, KEY)
    with DecryptingReader(io.BytesIO(stream), KEYRING) as reader:
        assert reader.header.segment_size == DEFAULT_SEGMENT_SIZE
        parts = [reader.read(1), reader.read(1000)]
        buffer = bytearray(DEFAULT_SEGMENT_SIZE)
        while count := reader.readinto(buffer):
            parts.append(bytes(buffer[:count]))
    assert b"".join(parts) == data


def test_writer_leaves_the_sink_open_unless_asked() -> None:
    sink = io.BytesIO()
    EncryptingWriter(sink, KEY).close()
    assert not sink.closed
    EncryptingWriter(sink, KEY, closefd=True).close()
    assert sink.closed


def test_leaving_with_by_exception_abandons_the_stream() -> None:
    sink = io.BytesIO()

    def failing_dump() -> None:
        with EncryptingWriter(sink, KEY, segment_size=16) as writer:
            writer.write(b"x" * 40)
            raise RuntimeError("dump failed")

    with pytest.raises(RuntimeError):
        failing_dump()
    with pytest.raises(TruncatedDataError):
        decrypt_bytes(sink.getvalue(), KEYRING)


def test_an_unclosed_writer_never_finalises_when_collected() -> None:
    sink = io.BytesIO()
    writer = EncryptingWriter(sink, KEY, segment_size=16)
    writer.write(b"x" * 40)
    del writer
    gc.collect()
    with pytest.raises(TruncatedDataError):
        decrypt_bytes(sink.getvalue(), KEYRING)


@pytest.mark.parametrize("size", [0, MIN_SEGMENT_SIZE - 1, MAX_SEGMENT_SIZE + 1])
def test_segment_size_is_bounded(size: int) -> None:
    with pytest.raises(ConfigError, match=str(size)):
        EncryptingWriter(io.BytesIO(), KEY, segment_size=size)


def test_format_names_stay_importable_from_crypto() -> None:
    from shared import crypto, crypto_format

    for name in crypto.__all__:
        assert hasattr(crypto, name)
    for name in ["Key", "Header", "Readable", "Writable", "read_header", "MIN_SEGMENT_SIZE"]:
        assert getattr(crypto, name) is getattr(crypto_format, name)


def test_key_hides_its_material_and_must_be_32_bytes() -> None:
    assert KEY.material.hex() not in repr(KEY)
    assert "test-key" in repr(KEY)
    with pytest.raises(ConfigError, match="16 bytes"):
        Key("short", bytes(16))


def test_tarfile_streams_straight_through() -> None:
    sink = io.BytesIO()
    content = hashlib.shake_256(b"members").digest(50_000)
    with (
        EncryptingWriter(sink, KEY, segment_size=4096) as encrypted,
        tarfile.open(fileobj=encrypted, mode="w|") as tar,
    ):
        info = tarfile.TarInfo("eyewear_ml/frames.bson")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    with (
        DecryptingReader(io.BytesIO(sink.getvalue()), KEYRING) as decrypted,
        tarfile.open(fileobj=decrypted, mode="r|") as tar,
    ):
        member = tar.next()
        assert member is not None
        extracted = tar.extractfile(member)
        assert extracted is not None
        assert (member.name, extracted.read()) == ("eyewear_ml/frames.bson", content)


# --- headers, keys, formats -------------------------------------------------------


def test_read_header_needs_no_key_and_reads_only_the_header() -> None:
    stream = io.BytesIO(_encrypt(b"payload"))
    header = read_header(stream)
    assert (header.version, header.key_id, header.segment_size) == (1, "test-key", 16)
    assert stream.tell() == header.size == 90 + len("test-key")


class _CountingSource(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.consumed = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.consumed += len(data)
        return data


def test_wrong_key_is_told_apart_before_any_segment_is_read() -> None:
    stream = _CountingSource(_encrypt(b"secret data" * 10))
    impostor = StaticKeyring([Key("test-key", bytes(32))])
    with pytest.raises(WrongKeyError, match="test-key"):
        DecryptingReader(stream, impostor)
    assert stream.consumed == read_header(io.BytesIO(stream.getvalue())).size


def test_missing_key_is_named() -> None:
    other = StaticKeyring([Key("other-key", bytes(32))])
    with pytest.raises(KeyNotFoundError, match="test-key"):
        decrypt_bytes(_encrypt(b"data"), other)


@pytest.mark.parametrize(
    ("stream", "message"),
    [
        (b"PK\x03\x04 not ours", "not an encrypted backup stream"),
        (b"\x1f\x8b\x08\x00 gzip", "not an encrypted backup stream"),
        (b"EWDR\x02" + bytes(200), "version 2"),
    ],
)
def test_unknown_formats(stream: bytes, message: str) -> None:
    with pytest.raises(UnknownFormatError, match=message):
        decrypt_bytes(stream, KEYRING)


# --- damage ---------------------------------------------------------------------------

THREE_SEGMENTS = _encrypt(b"The quick brown fox jumps over the lazy dog.")


@pytest.mark.parametrize("mask", [0x01, 0x80, 0xFF])
def test_every_changed_byte_fails_with_its_error(mask: int) -> None:
    for index in range(len(THREE_SEGMENTS)):
        damaged = bytearray(THREE_SEGMENTS)
        damaged[index] ^= mask
        expected = UnknownFormatError if index < 5 else TamperedDataError
        with pytest.raises(expected):
            decrypt_bytes(bytes(damaged), KEYRING)


@given(position=st.integers(min_value=5 * 8, max_value=len(THREE_SEGMENTS) * 8 - 1))
def test_any_flipped_bit_is_tampering(position: int) -> None:
    damaged = bytearray(THREE_SEGMENTS)
    damaged[position // 8] ^= 1 << (position % 8)
    with pytest.raises(TamperedDataError):
        decrypt_bytes(bytes(damaged), KEYRING)


@pytest.mark.parametrize("stream", [THREE_SEGMENTS, _encrypt(b"")], ids=["three", "empty"])
def test_every_truncation_is_reported_as_such(stream: bytes) -> None:
    for length in range(len(stream)):
        with pytest.raises(TruncatedDataError):
            decrypt_bytes(stream[:length], KEYRING)


def test_truncation_is_caught_even_when_reading_exactly_the_plaintext() -> None:
    data = b"a" * 32 + b"b" * 8
    header, segments = _split(_encrypt(data))
    cut = header + b"".join(segments[:2])
    with DecryptingReader(io.BytesIO(cut), KEYRING) as reader, pytest.raises(TruncatedDataError):
        reader.read(32)


def _reassemble(order: list[int]) -> bytes:
    header, segments = _split(THREE_SEGMENTS)
    return header + b"".join(segments[i] for i in order)


@pytest.mark.parametrize(
    ("order", "error", "message"),
    [
        ([1, 0, 2], SegmentOrderError, "found segment 1 where segment 0 belongs"),
        ([0, 2, 1], SegmentOrderError, "dropped or reordered"),
        ([0, 2], SegmentOrderError, "found segment 2 where segment 1 belongs"),
        ([0, 1, 1, 2], SegmentOrderError, "repeated or reordered"),
        ([0, 1, 2, 2], SegmentOrderError, "data follows the final segment"),
        ([0, 1], TruncatedDataError, "before segment 2"),
        ([], TruncatedDataError, "before segment 0"),
    ],
)
def test_segment_order(order: list[int], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        decrypt_bytes(_reassemble(order), KEYRING)


def test_appended_data_is_an_order_error() -> None:
    with pytest.raises(SegmentOrderError, match="follows the final segment"):
        decrypt_bytes(THREE_SEGMENTS + b"\x00", KEYRING)


def test_a_segment_from_another_stream_is_tampering() -> None:
    header, segments = _split(THREE_SEGMENTS)
    _, foreign = _split(_encrypt(b"The quick brown fox jumps over the lazy cat."))
    with pytest.raises(TamperedDataError, match="segment 1"):
        decrypt_bytes(header + segments[0] + foreign[1] + segments[2], KEYRING)


def test_a_damaged_stream_stays_failed() -> None:
    header, segments = _split(THREE_SEGMENTS)
    damaged = bytearray(segments[1])
    damaged[-1] ^= 1
    reader = DecryptingReader(io.BytesIO(header + segments[0] + damaged + segments[2]), KEYRING)
    with pytest.raises(TamperedDataError) as first:
        reader.read(16)
    with pytest.raises(TamperedDataError) as again:
        reader.read(16)
    assert again.value is first.value


# --- memory -----------------------------------------------------------------------------


class _EncryptedSource:
    """Reads as the encryption of ``count`` copies of ``chunk``, produced on demand."""

    def __init__(self, chunk: bytes, count: int) -> None:
        self._chunk, self._left = chunk, count
        self._pending = bytearray()
        self._writer: EncryptingWriter | None = EncryptingWriter(self, KEY)

    def write(self, data: bytes) -> int:
        self._pending += data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        while len(self._pending) < size and self._writer is not None:
            if self._left:
                self._writer.write(self._chunk)
                self._left -= 1
            else:
                self._writer.close()
                self._writer = None
        data = bytes(self._pending[:size])
        del self._pending[:size]
        return data

    def close(self) -> None:
        pass


def test_memory_stays_flat_for_a_256_mib_stream() -> None:
    chunk = hashlib.shake_256(b"chunk").digest(256 * 1024)
    count = 1024  # 256 MiB
    expected = hashlib.sha256()
    for _ in range(count):
        expected.update(chunk)
    received = hashlib.sha256()
    tracemalloc.start()
    try:
        reader = DecryptingReader(_EncryptedSource(chunk, count), KEYRING)
        buffer = bytearray(64 * 1024)
        while size := reader.readinto(buffer):
            received.update(memoryview(buffer)[:size])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received.digest() == expected.digest()
    assert peak < 8 * DEFAULT_SEGMENT_SIZE, f"peak {peak} bytes"


# --- edges the format document states ------------------------------------------------------


def test_an_empty_final_segment_after_full_ones_is_valid() -> None:
    stream = _reference_stream([b"a" * 16, b"b" * 16, b""])
    assert decrypt_bytes(stream, VECTOR_KEYRING) == b"a" * 16 + b"b" * 16
    assert _encrypt(b"a" * 32) != stream  # the writer itself never makes one
    assert len(_split(_encrypt(b"a" * 32))[1]) == 2


@pytest.mark.parametrize("size", [1025, 65535, 0])
def test_a_key_id_outside_1_to_1024_bytes_is_a_format_error(size: int) -> None:
    stream = _reference_stream([b"x"], key_id=b"k" * size)
    with pytest.raises(UnknownFormatError, match=f"key id of {size} bytes; the format allows 1"):
        decrypt_bytes(stream, VECTOR_KEYRING)
    with pytest.raises(UnknownFormatError):  # decided before the key id is read
        decrypt_bytes(stream[:90], VECTOR_KEYRING)


def test_a_key_id_of_1024_bytes_is_looked_up() -> None:
    stream = _reference_stream([b"x"], key_id=b"k" * 1024)
    with pytest.raises(KeyNotFoundError):
        decrypt_bytes(stream, VECTOR_KEYRING)
    assert read_header(io.BytesIO(stream)).key_id == "k" * 1024
    with pytest.raises(ConfigError, match="1 to 1024"):
        encrypt_bytes(b"x", Key("k" * 1025, bytes(32)))


def _with_fixed_crc(header: bytearray) -> bytes:
    header[82:86] = struct.pack(">I", zlib.crc32(bytes(header[:82])))
    return bytes(header)


def _changed(stream: bytes, offset: int, new: bytes) -> bytes:
    return stream[:offset] + new + stream[offset + len(new) :]


ONE = _reference_stream([b"x" * 16, b"y" * 4])
ONE_HEADER = read_header(io.BytesIO(ONE)).size
SEGMENT_1 = ONE_HEADER + FRAME + 16 + TAG  # offset of the second (final) segment


@pytest.mark.parametrize(
    ("stream", "error", "message"),
    [
        (b"PK", UnknownFormatError, "not an encrypted backup stream"),  # magic before a cut
        (b"EWDR\x02", UnknownFormatError, "version 2"),  # version before a cut
        (ONE[:60], TruncatedDataError, "inside the encryption header"),
        # damaged fixed part that also names a huge key id: the checksum speaks first
        (_changed(ONE, 80, b"\xff\xff"), TamperedDataError, "checksum mismatch"),
        # a well-formed fixed part with a bad segment size, in a stream cut right after it
        (
            _with_fixed_crc(bytearray(_changed(ONE, 5, b"\x00\x00\x00\x08")))[:86],
            UnknownFormatError,
            "segment size 8",
        ),
        # unknown key and a damaged segment: the key is looked up before any segment
        (
            _changed(_reference_stream([b"x"], key_id=b"other"), -1, b"\x00"),
            KeyNotFoundError,
            "other",
        ),
        # an impossible frame (n > S) in a cut stream: the frame is checked first
        (
            _changed(ONE, ONE_HEADER + 5, b"\x00\x00\x00\x11")[: SEGMENT_1 - 3],
            TamperedDataError,
            "damaged frame",
        ),
        # the final segment's length raised: its bytes open at their real length
        (_changed(ONE, SEGMENT_1 + 5, b"\x00\x00\x00\x08"), TamperedDataError, "damaged length"),
        # a cut inside the final segment's frame: it is a cut
        (ONE[: SEGMENT_1 + 4], TruncatedDataError, "inside the frame of segment 1"),
        # moved and changed: authentication comes before position
        (
            ONE[:ONE_HEADER] + _changed(ONE[SEGMENT_1:], -1, b"\x00") + ONE[ONE_HEADER:SEGMENT_1],
            TamperedDataError,
            "segment 0 fails authentication",
        ),
        # moved and followed by more data: position comes before trailing bytes
        (
            ONE[:ONE_HEADER] + ONE[SEGMENT_1:] + ONE[ONE_HEADER:SEGMENT_1],
            SegmentOrderError,
            "found segment 1 where segment 0 belongs",
        ),
    ],
)
def test_which_error_wins(stream: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        decrypt_bytes(stream, VECTOR_KEYRING)
