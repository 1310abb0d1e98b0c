"""Charts for the status page, drawn by matplotlib as inline SVG (no external assets).

matplotlib is imported here, lazily, and only by the code that renders the
page: no function's cold start pays for it. Text stays text in the SVG
(``svg.fonttype = none``), so the page is searchable and small, and the SVG
carries no ``<script>`` and no external reference.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import datetime

SVG_METADATA = ("Creator", "Date", "Format", "Type")  # None: left out (no RDF block)
Series = Mapping[str, Sequence[tuple[datetime, float]]]


def history_svg(sizes: Series, durations: Series, title: str) -> str:
    """Two panels over time, one line per target: backup size (MiB) and duration (minutes)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    with matplotlib.rc_context({"svg.fonttype": "none", "font.size": 9}):
        figure, (top, bottom) = pyplot.subplots(2, 1, figsize=(9, 4.8), sharex=True)
        try:
            for axes, series, label in (
                (top, sizes, "size (MiB)"),
                (bottom, durations, "duration (min)"),
            ):
                for target, points in sorted(series.items()):
                    if points:
                        ordered = sorted(points)
                        axes.plot(
                            [p[0] for p in ordered],
                            [p[1] for p in ordered],
                            marker="o",
                            markersize=3,
                            label=target,
                        )
                axes.set_ylabel(label)
                axes.grid(True, alpha=0.3)
            locator = AutoDateLocator()
            bottom.xaxis.set_major_locator(locator)
            bottom.xaxis.set_major_formatter(ConciseDateFormatter(locator))
            if any(sizes.values()):
                top.legend(loc="upper left", fontsize=8)
            top.set_title(title)
            figure.tight_layout()
            out = io.StringIO()
            figure.savefig(out, format="svg", metadata=dict.fromkeys(SVG_METADATA))
        finally:
            pyplot.close(figure)
    svg = out.getvalue()
    return svg[svg.index("<svg") :]  # inline: no XML declaration or DOCTYPE
