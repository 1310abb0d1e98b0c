"""How ``dr`` prints: rich tables for people, JSON for scripts, sizes and ages readably.

Tables go to standard output; errors and progress to standard error. When
standard output is not a terminal, tables are laid out for 120 columns (or
``COLUMNS``), so captured output reads the same in a log or a README.
Non-ASCII text is printed as text, in tables and in JSON alike.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import click
from rich.console import Console
from rich.table import Table

CAPTURED_WIDTH = 120
WHOLE = frozenset({"backup", "newest backup"})  # ids are never folded


def _width(stream: Any) -> int | None:
    if os.environ.get("COLUMNS", "").isdigit():
        return int(os.environ["COLUMNS"])
    return None if stream.isatty() else CAPTURED_WIDTH


def console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, width=_width(stream), highlight=False, soft_wrap=False)


def show(renderable: Any) -> None:
    """Print a table to standard output; a line too long wraps rather than losing text."""
    console().print(renderable, crop=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    grid = Table(
        title=title,
        title_justify="left",
        header_style="bold",
        box=None,
        pad_edge=False,
        show_header=any(columns),
    )
    for number, column in enumerate(columns):  # the first column is an id or a label
        grid.add_column(column, overflow="fold", no_wrap=number == 0 or column in WHOLE)
    for row in rows:
        grid.add_row(*("-" if cell is None else str(cell) for cell in row))
    return grid


def size(n: int | None) -> str:
    """``3.2 MiB``; ``-`` when unknown."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def age(then: datetime, now: datetime) -> str:
    """``3h 12m``, ``2d 4h``, ``45s``: how long ago, to two units."""
    return duration(now - then)


def duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return "in the future"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {seconds}s"
    return f"{seconds}s"


def counts(values: dict[str, Any]) -> str:
    """Every count, never cut off (tables fold long cells instead)."""
    return ", ".join(f"{key}={value:,}" if isinstance(value, int) else f"{key}={value}"
                     for key, value in values.items())  # fmt: skip


json_flag = click.option("--json", "as_json", is_flag=True, help="print JSON, for scripts")


def duration_seconds(seconds: float) -> str:
    return duration(timedelta(seconds=seconds))
