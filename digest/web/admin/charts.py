"""Bar charts as geometry for inline SVG: drawn by the server, so they read without JavaScript and pass
the pages' CSP (colours come from classes in admin.css, not inline styles)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

HEIGHT = 160.0  # the bars' area, in SVG units; labels go below it
LABEL_SPACE = 34.0
LEFT = 40.0  # room for the scale's numbers


@dataclass(frozen=True, slots=True)
class Segment:
    x: float
    y: float
    width: float
    height: float
    series: str
    value: int
    label: str  # the column's label, for the tooltip


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    text: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: float
    height: float
    top: int  # the value at the top of the scale
    segments: tuple[Segment, ...]
    ticks: tuple[Tick, ...]
    series: tuple[str, ...]
    columns: tuple[tuple[str, Mapping[str, int]], ...]  # the numbers, for the table under the chart


def _nice_top(largest: int) -> int:
    """A round scale maximum at or above `largest` (1, 2, 5 times a power of ten)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= largest:
                return max(1, step * factor)
        step *= 10


def stacked_bars(
    columns: Sequence[tuple[str, Mapping[str, int]]],
    series: Sequence[str],
    *,
    bar_width: float = 18.0,
    gap: float = 4.0,
    label_every: int = 1,
) -> Chart:
    """One bar per column, its series stacked bottom up in the order given."""
    top = _nice_top(max((sum(values.get(s, 0) for s in series) for _, values in columns), default=0))
    segments: list[Segment] = []
    ticks: list[Tick] = []
    for index, (label, values) in enumerate(columns):
        x = LEFT + index * (bar_width + gap)
        base = HEIGHT
        for name in series:
            value = values.get(name, 0)
            if value <= 0:
                continue
            height = max(1.0, HEIGHT * value / top)  # a single failure stays visible among thousands
            base -= height
            segments.append(Segment(x, round(base, 2), bar_width, round(height, 2), name, value, label))
        if index % label_every == 0:
            ticks.append(Tick(x + bar_width / 2, label))
    width = LEFT + len(columns) * (bar_width + gap)
    return Chart(
        width, HEIGHT + LABEL_SPACE, top, tuple(segments), tuple(ticks), tuple(series), tuple(columns)
    )
