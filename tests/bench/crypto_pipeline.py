"""Benchmark: zstd + streaming AES-256-GCM against the old scripts' ``gzip | openssl enc``.

    python -m tests.bench.crypto_pipeline [--size 1GiB]

Every case reads the same BSON-like byte stream on its stdin, fed by this
process through a pipe, and ends in a sink that discards. Ours runs in a child
Python process, so the peak RSS it reports is the pipeline's own; the peer is
the shell tools piped together, ending in ``wc -c`` to learn the output size.
Timing starts once every process is up and ends when the last one exits. Our
pipeline's peak memory is measured at ``--size`` and at four times that.
"""

from __future__ import annotations

import argparse
import datetime
import fcntl
import itertools
import json
import random
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING, BinaryIO

from shared.compression import compressing_writer
from shared.crypto import EncryptingWriter, Key

if TYPE_CHECKING:
    import numpy as np

CHUNK = 1 << 20
REPLAY = 64 << 20
OPENSSL_ENC = ["openssl", "enc", "-aes-256-cbc", "-pbkdf2", "-pass", "pass:x"]
STAGES = ("discard", "ours-pipeline", "ours-encrypt")
F_SETPIPE_SZ = 1031  # Linux: a 1 MiB pipe buffer, for every case alike
VOCABULARY = """acetate titanium frame lens bridge temple hinge polarised anti-reflective blue
light filter round square cat-eye aviator oversized lightweight durable classic modern fit
face shape oval heart diamond comfortable prescription progressive single vision the a for
with and of in on is this pair our new collection style everyday premium"""
WORDS = VOCABULARY.split()


# --- data -------------------------------------------------------------------------------------


def _template(rng: random.Random) -> dict[str, object]:
    import bson

    sentence = " ".join(rng.choices(WORDS, k=rng.randint(8, 60)))
    return {  # the first four fields have fixed sizes: documents() patches them
        "_id": bson.ObjectId(),
        "updated": datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
        "stock": 0,
        "price": 0.0,
        "sku": f"EW-{rng.randint(0, 999_999):06d}",
        "name": f"{rng.choice(WORDS).title()} {rng.choice(WORDS).title()} {rng.randint(1, 99)}",
        "frame": {
            "material": rng.choice(["acetate", "titanium", "steel", "TR90"]),
            "colour": rng.choice(["black", "tortoise", "gold", "clear", "blue"]),
            "measurements": {"lens": rng.randint(44, 60), "bridge": rng.randint(14, 22)},
        },
        "tags": rng.sample(WORDS, rng.randint(1, 5)),
        "description": sentence,
        "reviews": [
            {"user": bson.ObjectId(), "rating": rng.randint(1, 5), "text": sentence[:80]}
            for _ in range(rng.randint(0, 3))
        ],
        "face_scores": [round(rng.random(), 3) for _ in range(6)],
        "embedding": [round(rng.gauss(0, 1), 4) for _ in range(16)],
    }


def documents(seed: int = 7) -> Iterator[bytearray]:
    """An endless stream of BSON documents in ~1 MiB chunks, generated lazily.

    A pool of 4096 encoded documents is remixed; every emitted document gets
    its own ObjectId, timestamp, stock and price (patched in place with
    numpy), so a compressor sees shared structure and text, as in a real
    collection, but no verbatim copies.
    """
    import bson
    import numpy as np

    rng = random.Random(seed)
    pool = [bson.encode(_template(rng)) for _ in range(4096)]
    sizes = np.array([len(document) for document in pool])
    offsets = {
        name: pool[0].index(name.encode() + b"\0") + len(name) + 1
        for name in ("_id", "updated", "stock", "price")
    }
    picks = np.random.default_rng(seed)
    count = CHUNK // int(sizes.mean()) + 1
    for serial in itertools.count(0, count):
        chosen = picks.integers(0, len(pool), count)
        chunk = bytearray(b"".join([pool[i] for i in chosen.tolist()]))
        starts = np.concatenate(([0], np.cumsum(sizes[chosen])[:-1]))
        view = np.frombuffer(chunk, np.uint8)
        numbers = serial + np.arange(count)
        _patch(view, starts + offsets["_id"] + 4, numbers.astype(">u8"))  # after the timestamp
        _patch(
            view, starts + offsets["updated"], (1_704_067_200_000 + 1000 * numbers).astype("<i8")
        )
        _patch(view, starts + offsets["stock"], picks.integers(0, 500, count).astype("<i4"))
        _patch(
            view, starts + offsets["price"], (picks.integers(40, 300, count) - 0.01).astype("<f8")
        )
        yield chunk


def _patch(view: np.ndarray, at: np.ndarray, values: np.ndarray) -> None:
    """Write ``values[i]`` (in its byte order) at byte offset ``at[i]`` of ``view``."""
    import numpy as np

    width = values.dtype.itemsize
    view[at[:, None] + np.arange(width)] = values.view(np.uint8).reshape(-1, width)


def feed(size: int) -> Iterator[memoryview]:
    """``size`` bytes: the first 64 MiB of :func:`documents`, replayed.

    Replaying keeps the feed faster than any case it feeds. The compressors
    cannot tell: zstd level 3 looks back 2 MiB and gzip 32 KiB, far less than
    the replay period.
    """
    replay = []
    for generated in documents():
        replay.append(memoryview(generated))
        if len(replay) * CHUNK >= min(size, REPLAY):
            break
    sent = 0
    for chunk in itertools.cycle(replay):
        if sent >= size:
            return
        piece = chunk[: size - sent]
        sent += len(piece)
        yield piece


# --- the child side: one measured stage reading stdin ------------------------------------------


class _NullSink:
    def __init__(self) -> None:
        self.count = 0

    def write(self, data: bytes | memoryview) -> int:
        self.count += len(data)
        return len(data)

    def close(self) -> None:
        pass


def _peak_rss_kib() -> int:
    with open("/proc/self/status") as status:
        match = re.search(r"VmHWM:\s+(\d+)", status.read())
    assert match is not None
    return int(match.group(1))


def run_stage(stage: str) -> None:
    """Read stdin through ``stage`` into a null sink; report output size and peak RSS."""
    sink = _NullSink()
    print("ready", flush=True)
    with ExitStack() as stack:
        source = stack.enter_context(open(sys.stdin.fileno(), "rb", buffering=0, closefd=False))
        writer: _NullSink | EncryptingWriter | BinaryIO = sink
        if stage != "discard":
            writer = stack.enter_context(EncryptingWriter(sink, Key("bench", bytes(32))))
        if stage == "ours-pipeline":
            writer = stack.enter_context(compressing_writer(writer))
        buffer = memoryview(bytearray(CHUNK))  # reused: no allocation per read
        while count := source.readinto(buffer):
            writer.write(buffer[:count])
    print(json.dumps({"out": sink.count, "peak_kib": _peak_rss_kib()}), flush=True)


# --- the parent side ---------------------------------------------------------------------------


def _run(commands: list[list[str]], size: int, *, handshake: bool = False) -> tuple[float, bytes]:
    """Feed ``size`` bytes into a pipeline of processes; time until all of them exit."""
    chunks = feed(size)
    first = next(chunks)  # the replay is built before the clock starts
    processes: list[subprocess.Popen[bytes]] = []
    for command in commands:
        upstream = processes[-1].stdout if processes else subprocess.PIPE
        processes.append(subprocess.Popen(command, stdin=upstream, stdout=subprocess.PIPE))
        if upstream is not subprocess.PIPE:
            upstream.close()  # type: ignore[union-attr]  # the new process holds it now
    head, tail = processes[0].stdin, processes[-1].stdout
    assert head is not None
    assert tail is not None
    fcntl.fcntl(head, F_SETPIPE_SZ, CHUNK)
    if handshake:
        assert tail.readline() == b"ready\n"
    start = time.perf_counter()
    for chunk in itertools.chain([first], chunks):
        head.write(chunk)
    head.close()
    output = tail.read()
    for process in processes:
        if process.wait():
            raise SystemExit(f"{process.args!r} failed with exit code {process.returncode}")
    return time.perf_counter() - start, output


def _ours(stage: str, size: int) -> dict[str, float]:
    command = [sys.executable, "-m", "tests.bench.crypto_pipeline", "--stage", stage]
    seconds, output = _run([command], size, handshake=True)
    report = json.loads(output)
    return {"rate": size / seconds / 1e6, "out": report["out"] / size, "peak": report["peak_kib"]}


def _peer(commands: list[list[str]], size: int) -> dict[str, float]:
    seconds, output = _run([*commands, ["wc", "-c"]], size)
    return {"rate": size / seconds / 1e6, "out": int(output.split()[0]) / size}


def _size(text: str) -> int:
    match = re.fullmatch(r"(\d+)\s*(?:([kmg])i?b?)?", text.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(f"size {text!r}: use e.g. 64MiB or 1GiB")
    number, unit = match.groups()
    return int(number) << {None: 0, "k": 10, "m": 20, "g": 30}[unit]


def _label(size: int) -> str:
    return f"{size / (1 << 30):g} GiB" if size >= 1 << 30 else f"{size / (1 << 20):g} MiB"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="zstd + AES-GCM vs gzip | openssl enc")
    parser.add_argument("--size", type=_size, default=1 << 30, help="stream size, e.g. 64MiB")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage:
        run_stage(args.stage)
        return
    size = args.size
    cases = {
        "feed only: pipe into a discarding child": _ours("discard", size),
        "ours: zstd-3 | AES-256-GCM stream": _ours("ours-pipeline", size),
        "peer: gzip | openssl enc aes-256-cbc": _peer([["gzip"], OPENSSL_ENC], size),
        "ours: AES-256-GCM stream alone": _ours("ours-encrypt", size),
        "peer: openssl enc aes-256-cbc alone": _peer([OPENSSL_ENC], size),
        f"ours: zstd-3 | AES-256-GCM, {_label(4 * size)}": _ours("ours-pipeline", 4 * size),
    }
    rows = list(cases.values())
    print(f"BSON-like stream of {_label(size)}; MB = 10^6 bytes; out/in = output size / input")
    print(f"{'case':46} {'MB/s':>7} {'out/in':>7} {'peak RSS':>10}")
    for name, row in cases.items():
        peak = f"{row['peak'] / 1024:.1f} MiB" if "peak" in row else "-"
        print(f"{name:46} {row['rate']:7.0f} {row['out']:7.3f} {peak:>10}")
    for name, ratio in [
        ("speed ratio, pipeline ours / peer (target 2)", rows[1]["rate"] / rows[2]["rate"]),
        ("speed ratio, encryption ours / peer", rows[3]["rate"] / rows[4]["rate"]),
        ("peak RSS ratio, 4x size / 1x size", rows[5]["peak"] / rows[1]["peak"]),
    ]:
        print(f"{name:46} {ratio:7.2f}")
    above = (rows[5]["peak"] - rows[0]["peak"]) / 1024
    print(f"{'pipeline peak RSS above the discarding child':46} {above:7.1f} MiB")


if __name__ == "__main__":
    main()
