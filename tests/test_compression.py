"""Compression stages: zstd round trips, old gzip dumps, damage, and the dump pipeline."""

from __future__ import annotations

import gzip
import hashlib
import io
import subprocess
import tarfile
from pathlib import Path

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.compression import (
    ALGORITHM,
    GZIP,
    MAX_LEVEL,
    ZSTD,
    compressing_writer,
    decompressing_reader,
)
from shared.crypto import DecryptingReader, EncryptingWriter, Key
from shared.errors import (
    ConfigError,
    IntegrityError,
    TamperedDataError,
    TruncatedDataError,
    UnknownFormatError,
)
from shared.keys import StaticKeyring

TEXT = b"".join(
    b'{"frame": "round", "sku": %d, "tags": ["acetate", "blue"]}\n' % i for i in range(3000)
)
MIXED = TEXT + hashlib.shake_256(b"noise").digest(200_000) + bytes(300_000) + TEXT


def _compress(data: bytes, level: int = 3, threads: int = 0) -> bytes:
    sink = io.BytesIO()
    with compressing_writer(sink, level, threads) as writer:
        writer.write(data)
    assert not sink.closed
    return sink.getvalue()


def _decompress(data: bytes) -> bytes:
    with decompressing_reader(io.BytesIO(data)) as reader:
        return reader.read()


@pytest.mark.parametrize("options", [{}, {"level": 1}, {"level": MAX_LEVEL}, {"threads": 2}])
def test_zstd_round_trip(options: dict[str, int]) -> None:
    compressed = _compress(MIXED, **options)
    assert compressed[:4] == b"\x28\xb5\x2f\xfd"
    assert len(compressed) < len(MIXED) // 3
    with decompressing_reader(io.BytesIO(compressed)) as reader:
        assert reader.algorithm == ZSTD == ALGORITHM
        assert reader.read() == MIXED


@given(st.binary(max_size=2000), st.lists(st.binary(max_size=50), max_size=3))
@settings(max_examples=50, deadline=None)
def test_zstd_round_trip_of_any_data_and_concatenated_frames(
    first: bytes, more: list[bytes]
) -> None:
    frames = _compress(first) + b"".join(zstandard.ZstdCompressor().compress(m) for m in more)
    assert _decompress(frames) == first + b"".join(more)


@pytest.mark.parametrize("size", [0, 100, 1000, 70_000, len(MIXED)])
def test_one_shot_frames_with_content_sizes(size: int) -> None:
    """One-shot frames record their size in 1, 2, 4 or 8 bytes: the frame walker must agree."""
    frame = zstandard.ZstdCompressor(write_checksum=True).compress(MIXED[:size])
    assert _decompress(frame) == MIXED[:size]
    with pytest.raises(TruncatedDataError):
        _decompress(frame[:-1])


def test_skippable_frames_are_skipped() -> None:
    skippable = (0x184D2A5A).to_bytes(4, "little") + (3).to_bytes(4, "little") + b"abc"
    assert _decompress(_compress(b"one") + skippable + _compress(b"two")) == b"onetwo"


@pytest.mark.parametrize("level", [0, MAX_LEVEL + 1, -5, True, "3"])
def test_levels_are_validated(level: object) -> None:
    with pytest.raises(ConfigError, match=f"compression level {level!r} is outside 1..19"):
        compressing_writer(io.BytesIO(), level=level)  # type: ignore[arg-type]


def test_threads_are_validated() -> None:
    with pytest.raises(ConfigError, match="threads -2"):
        compressing_writer(io.BytesIO(), threads=-2)


def test_closefd_closes_the_sink_only_when_asked() -> None:
    sink = io.BytesIO()
    compressing_writer(sink, closefd=True).close()
    assert sink.closed


def test_gzip_from_the_old_scripts_decompresses(tmp_path: Path) -> None:
    dump = tmp_path / "eyewear_ml.archive"
    dump.write_bytes(MIXED)
    old_backup = subprocess.run(["gzip", "-c", str(dump)], capture_output=True, check=True).stdout
    with decompressing_reader(io.BytesIO(old_backup)) as reader:
        assert reader.algorithm == GZIP
        assert reader.read() == MIXED


@pytest.mark.parametrize("compress", [_compress, gzip.compress], ids=["zstd", "gzip"])
def test_every_truncation_is_reported(compress: object) -> None:
    stream = compress(TEXT[:5000])  # type: ignore[operator]
    for length in range(len(stream)):
        with pytest.raises(TruncatedDataError):
            _decompress(stream[:length])


def test_truncation_of_a_large_zstd_stream() -> None:
    stream = _compress(MIXED)
    for length in (len(stream) - 1, len(stream) - 4, len(stream) // 2, 100):
        with pytest.raises(TruncatedDataError, match="zstd stream ends inside a frame"):
            _decompress(stream[:length])


@pytest.mark.parametrize("compress", [_compress, gzip.compress], ids=["zstd", "gzip"])
def test_corruption_is_an_integrity_error(compress: object) -> None:
    stream = bytearray(compress(MIXED))  # type: ignore[operator]
    stream[len(stream) // 2] ^= 0x10
    with pytest.raises(IntegrityError, match="stream is corrupt"):
        _decompress(bytes(stream))


def test_data_after_the_last_frame_is_corruption() -> None:
    with pytest.raises(IntegrityError, match="no frame starts with"):
        _decompress(_compress(TEXT) + b"junk")


@pytest.mark.parametrize("stream", [b"BSON", b"\x28\xb5\x2f\x00", b"EWDR\x01..."])
def test_unknown_formats(stream: bytes) -> None:
    with pytest.raises(UnknownFormatError, match="not zstd or gzip data"):
        _decompress(stream)


# --- the MongoDB dump pipeline: tar -> zstd -> encrypt, and back -----------------------

KEY = Key("pipeline-key", bytes(range(32)))
FILES = {
    f"eyewear_ml/collection{i}.bson": hashlib.shake_256(b"%d" % i).digest(1000) * 60
    for i in range(4)
}


def _dump(segment_size: int = 4096) -> bytes:
    sink = io.BytesIO()
    with (
        EncryptingWriter(sink, KEY, segment_size=segment_size) as encrypted,
        compressing_writer(encrypted) as compressed,
        tarfile.open(fileobj=compressed, mode="w|") as tar,
    ):
        for name, content in FILES.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return sink.getvalue()


def _restore(stream: bytes) -> dict[str, bytes]:
    restored = {}
    with (
        DecryptingReader(io.BytesIO(stream), StaticKeyring([KEY])) as decrypted,
        decompressing_reader(decrypted) as decompressed,
        tarfile.open(fileobj=decompressed, mode="r|") as tar,
    ):
        for member in tar:
            extracted = tar.extractfile(member)
            assert extracted is not None
            restored[member.name] = extracted.read()
    return restored


def test_tar_streams_through_compression_and_encryption() -> None:
    assert _restore(_dump()) == FILES


def test_pipeline_reports_the_encryption_layers_errors() -> None:
    stream = _dump()
    with pytest.raises(TruncatedDataError, match="encrypted stream ends"):
        _restore(stream[: len(stream) - 100])
    damaged = bytearray(stream)
    damaged[len(stream) // 2] ^= 1
    with pytest.raises(TamperedDataError):
        _restore(bytes(damaged))
