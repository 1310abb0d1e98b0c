"""Fuzzing ``dr-restore``: hypothesis-made bodies published to the live function.

Bodies are structure-aware (a valid request mutated field by field: dropped
fields, type swaps, boundary numbers, odd strings, duplicate keys, envelope
mix-ups) or raw bytes. None may carry a correct ``confirm`` or a fresh
destination name, so the only writes a body can cause are test-mode scratch
copies; every body must end in a terminal status record, and afterwards
nothing outside scratch has changed, nothing was dead-lettered, no lock is
left and the function still answers. ``nox -s fuzz`` runs thousands and
writes the figures the README quotes; the test suite runs a small sample.
"""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from shared.errors import RequestError
from shared.events import PubSubMessage, strict_json
from shared.restore.dispatch import request_id_of

# Destination field -> the only values a fuzzed body may give it: names that hold data
# (so a restore there needs a confirm no body carries) and reserved names.
Destinations = Mapping[str, tuple[str, ...]]
BOUNDARY_NUMBERS = (0, -1, 23, 24, 2**31, 2**63, -(2**63), 14.0, -0.0, 1e1, 1e308, 0.5)
ODD_TEXT = (
    "",
    " ",
    "\x00",
    "\ud800",
    "\udfff",
    "\u202e",
    "\uff41\uff44\uff4d\uff49\uff4e",
    "x" * 300,
    "../..",
    "*",
)


@dataclass(frozen=True)
class Body:
    data: bytes
    kind: str


def _render(fields: list[tuple[str, Any]]) -> bytes:
    """JSON text of ``fields`` in order, repeated keys kept (``json.dumps`` cannot)."""
    parts = [f"{json.dumps(key)}: {json.dumps(value, allow_nan=True)}" for key, value in fields]
    return ("{" + ", ".join(parts) + "}").encode("ascii")


def _scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(BOUNDARY_NUMBERS),
        st.sampled_from(ODD_TEXT),
        st.booleans(),
        st.none(),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
        st.lists(st.text(max_size=5), max_size=3),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    )


def bodies(valid: list[dict[str, Any]], destinations: Destinations) -> st.SearchStrategy[Body]:
    """Every kind of body; ``valid`` are requests that would run (no ``confirm``)."""

    @st.composite
    def mutated(draw: st.DrawFn) -> Body:
        fields = list(draw(st.sampled_from(valid)).items())
        for _ in range(draw(st.integers(1, 3))):
            action = draw(st.sampled_from(("drop", "swap", "add", "duplicate", "destination")))
            index = draw(st.integers(0, max(len(fields) - 1, 0)))
            if action == "drop" and fields:
                fields.pop(index)
            elif action == "swap" and fields:
                fields[index] = (fields[index][0], draw(_scalars()))
            elif action == "add":
                key = draw(st.sampled_from(("hour", "type", "date", "drop", "dry_run", "x", "")))
                fields.append((key, draw(_scalars())))
            elif action == "duplicate" and fields:
                fields.append((fields[index][0], draw(_scalars())))
            else:
                key = draw(st.sampled_from(sorted(destinations)))
                fields.append((key, draw(st.sampled_from(destinations[key]))))
        confirm = draw(st.one_of(st.none(), st.sampled_from(ODD_TEXT), st.text(max_size=10)))
        if confirm is not None:
            fields.append(("confirm", confirm))
        return Body(_render(fields), "mutated")

    @st.composite
    def envelope(draw: st.DrawFn) -> Body:
        inner = json.dumps(draw(st.sampled_from(valid)))
        wrapped = draw(
            st.sampled_from(
                (
                    json.dumps({"message": {"data": base64.b64encode(inner.encode()).decode()}}),
                    json.dumps(inner),
                    f"[{inner}]",
                    base64.b64encode(inner.encode()).decode(),
                    inner[: len(inner) // 2],
                    inner + inner,
                )
            )
        )
        return Body(wrapped.encode(), "envelope")

    raw = st.binary(min_size=1, max_size=200).map(lambda data: Body(data, "raw bytes"))
    return st.one_of(mutated(), mutated(), envelope(), raw)


def harmless(body: Body, destinations: Destinations, real_names: set[str]) -> bool:
    """Whether ``body`` can neither confirm a real name nor name a fresh destination."""
    try:
        parsed = strict_json(body.data, "body")
    except RequestError:
        return True
    if parsed.get("confirm") in real_names:
        return False
    return all(parsed[key] in names for key, names in destinations.items() if key in parsed)


@dataclass
class Figures:
    bodies: int = 0
    phases: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    writes_outside_scratch: int = 0
    dead_lettered: int = 0
    stuck: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "bodies": self.bodies,
            "phases": dict(self.phases),
            "error_classes": dict(self.errors),
            "kinds": dict(self.kinds),
            "writes_outside_scratch": self.writes_outside_scratch,
            "dead_lettered": self.dead_lettered,
            "stuck": self.stuck,
            "messages_per_second": round(self.bodies / self.seconds, 1) if self.seconds else 0,
        }


def expected_ids(data: bytes, message_id: str) -> tuple[str, ...]:
    """The record ids a body can end under: its own request id, else its message id."""
    message = PubSubMessage(data, message_id)
    try:
        body: dict[str, Any] | None = strict_json(data, "body")
    except RequestError:
        body = None
    return tuple(dict.fromkeys((request_id_of(body, message), f"msg-{message_id}")))


def run(
    sample: list[Body],
    publish: Callable[[bytes], str],
    status: Callable[[str], dict[str, Any] | None],
    timeout: float,
) -> tuple[Figures, list[str]]:
    """Publish ``sample``, wait for every record to end; returns figures and bodies left stuck."""
    figures = Figures(bodies=len(sample))
    started = time.monotonic()
    pending = {publish(body.data): body for body in sample}
    for body in sample:
        figures.kinds[body.kind] += 1
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for message_id, body in list(pending.items()):
            record = _ended(expected_ids(body.data, message_id), message_id, status)
            if record:
                figures.phases[record["phase"]] += 1
                figures.errors[record.get("error_class") or "none"] += 1
                del pending[message_id]
        time.sleep(0.5 if pending else 0)
    figures.seconds = time.monotonic() - started
    figures.stuck = len(pending)
    return figures, [repr(body.data[:120]) for body in pending.values()]


def _ended(
    ids: tuple[str, ...], message_id: str, status: Callable[[str], dict[str, Any] | None]
) -> dict[str, Any] | None:
    """The terminal record this message made, once it is terminal."""
    from shared.restore.status import FINAL_PHASES

    for request_id in ids:
        record = status(request_id)
        if record and record.get("message_id") == message_id:
            return record if record.get("phase") in FINAL_PHASES else None
    return None


def examples(strategy: st.SearchStrategy[Body], count: int, seed: int) -> Iterator[Body]:
    """``count`` examples of ``strategy``, the same ones for the same seed."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as fixed_seed

    found: list[Body] = []

    @fixed_seed(seed)
    @settings(
        max_examples=count,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(strategy)
    def collect(body: Body) -> None:
        found.append(body)

    collect()
    yield from found[:count]
