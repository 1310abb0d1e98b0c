"""One object from many, by Cloud Storage ``compose``, and CRC32C arithmetic to check it.

``compose`` concatenates at most 32 source objects server side, reading no
bytes here; more sources are composed in a tree: groups of 32 into scratch
objects, those again, until one call makes the target. The scratch objects
carry a name unique to the caller, so two completion steps racing never compose
from each other's half-made levels, and are deleted once the target exists.

CRC32C is linear, so the CRC32C of a concatenation follows from the parts'
CRC32Cs and lengths (:func:`crc32c_combine`, logarithmic in the length): the
composed object is checked against what its parts say, and a listing that
read a file in segments checks the whole file, without reading it again.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

from shared import storage
from shared.errors import IntegrityError
from shared.gcs.context import GcsContext

if TYPE_CHECKING:
    from google.cloud.storage import Blob

MAX_SOURCES = 32  # Cloud Storage's limit per compose request
_POLYNOMIAL = 0x82F63B78  # CRC32C (Castagnoli), bit-reflected


def _apply(matrix: list[int], vector: int) -> int:
    """``matrix`` (32 columns over GF(2)) times ``vector``."""
    total, column = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[column]
        vector >>= 1
        column += 1
    return total


def _square(matrix: list[int]) -> list[int]:
    return [_apply(matrix, column) for column in matrix]


def crc32c_combine(first: int, second: int, second_length: int) -> int:
    """The CRC32C of ``A + B`` from ``crc(A)``, ``crc(B)`` and ``len(B)``.

    Appending ``n`` zero bytes to a message is a linear map of its CRC; the
    map for one zero bit is built from the polynomial, squared up to the
    powers of two that make ``n`` bytes, and applied to ``crc(A)``; the
    result XOR ``crc(B)`` is the CRC of the concatenation (the pre- and
    post-conditioning of CRC32C cancel out in that sum).
    """
    if second_length <= 0:
        return first
    one_bit = [_POLYNOMIAL] + [1 << n for n in range(31)]
    power = _square(_square(_square(one_bit)))  # 8 zero bits: one byte
    crc, length = first, second_length
    while length:
        if length & 1:
            crc = _apply(power, crc)
        length >>= 1
        if length:
            power = _square(power)
    return crc ^ second


def crc32c_int(encoded: str | None) -> int:
    """A CRC32C as Cloud Storage reports it (base64, big-endian) as a number."""
    if encoded is None:
        raise IntegrityError("an object has no CRC32C")
    return int.from_bytes(base64.b64decode(encoded), "big")


def crc32c_text(value: int) -> str:
    return base64.b64encode(value.to_bytes(4, "big")).decode("ascii")


def combined(parts: Iterable[tuple[int, str | None]]) -> tuple[int, str]:
    """``(size, crc32c)`` of the concatenation of parts given as ``(size, crc32c)``."""
    size, crc = 0, 0
    for part_size, part_crc in parts:
        crc = crc32c_combine(crc, crc32c_int(part_crc), part_size)
        size += part_size
    return size, crc32c_text(crc)


def compose(
    ctx: GcsContext, sources: list[str], target: str, content_type: str, scratch: str
) -> Blob:
    """Compose ``sources`` (in order) into ``target``, created only if it does not exist.

    Raises :class:`ConflictError` when ``target`` exists. Scratch objects go
    under ``scratch`` (a folder) and are deleted afterwards. Requests: one
    compose per 31 sources, about, and as many deletes.
    """
    if not sources:  # an empty bucket: an empty snapshot
        stored: list[storage.StoredObject] = []
        with storage.upload_stream(ctx.backup_bucket(), target, content_type, stored):
            pass
        return ctx.backup_bucket().get_blob(target, retry=storage.retry_policy())
    unique = f"{scratch}{uuid.uuid4().hex}/"
    level, made = 0, []
    while len(sources) > MAX_SOURCES:
        groups = [sources[n : n + MAX_SOURCES] for n in range(0, len(sources), MAX_SOURCES)]
        names = [f"{unique}{level:02d}-{n:06d}" for n in range(len(groups))]
        jobs = list(zip(groups, names, strict=True))
        list(ctx.parallel(lambda job: _compose(ctx, *job, content_type), jobs))
        made += names
        sources, level = names, level + 1
    try:
        return _compose(ctx, sources, target, content_type, if_generation_match=0)
    finally:
        list(ctx.parallel(lambda name: storage.delete(ctx.backup_bucket(), name), made))


def _compose(
    ctx: GcsContext,
    sources: list[str],
    target: str,
    content_type: str,
    if_generation_match: int | None = None,
) -> Blob:
    backup = ctx.backup_bucket()
    blob = backup.blob(target)
    blob.content_type = content_type
    with storage.translate_errors(f"composing gs://{backup.name}/{target}"):
        blob.compose(
            [backup.blob(name) for name in sources],
            if_generation_match=if_generation_match,
            retry=storage.retry_policy(),
        )
    return blob
