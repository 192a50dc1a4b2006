"""Charts as inline SVG, written by hand: no script, no fonts or files fetched.

Each function takes labels already worded and values already computed, and
returns one ``<svg>`` element. Every text is escaped; coordinates are rounded
to one decimal, so the same figures give the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

WIDTH = 640
_FONT = 'font-family="system-ui, sans-serif" font-size="12"'
_BAR = "#4a6fa5"
_BAD = "#cf222e"
_OK = "#1a7f37"
_GREY = "#8c959f"


def _n(x: float) -> str:
    text = f"{x:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _svg(height: float, title: str, body: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
            f'viewBox="0 0 {WIDTH} {_n(height)}" width="100%" {_FONT} direction="ltr">'
            f"<title>{escape(title)}</title>{body}</svg>")


def _text(x: float, y: float, text: str, anchor: str = "start", extra: str = "") -> str:
    return (f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}"{extra}>'
            f"{escape(text)}</text>")


def bars(title: str, items: Sequence[tuple[str, float, str]], *,
         label_width: float = 190, colour: str = _BAR) -> str:
    """Horizontal bars: ``(label, value, value as text)``, in the given order."""
    if not items:
        return ""
    row, top = 22.0, 6.0
    peak = max((v for _, v, _ in items), default=0) or 1
    span = WIDTH - label_width - 70
    parts = []
    for i, (label, value, shown) in enumerate(items):
        y = top + i * row
        w = max(span * value / peak, 1 if value else 0)
        parts.append(_text(label_width - 6, y + 14, _clip(label, 30), "end"))
        parts.append(f'<rect x="{_n(label_width)}" y="{_n(y + 3)}" width="{_n(w)}" '
                     f'height="{_n(row - 7)}" fill="{colour}"/>')
        parts.append(_text(label_width + w + 4, y + 14, shown))
    return _svg(top * 2 + row * len(items), title, "".join(parts))


def lines(title: str, xs: Sequence[str], series: Sequence[tuple[str, Sequence[float | None], str]],
          axis: Callable[[float], str]) -> str:
    """One line per series over the periods ``xs``; ``axis`` words a value."""
    values = [v for _, vs, _ in series for v in vs if v is not None]
    if not xs or not values:
        return ""
    left, right, top, bottom, height = 90.0, 20.0, 12.0, 48.0, 220.0
    lo, hi = min(0.0, *values), max(values) or 1.0
    plot_w, plot_h = WIDTH - left - right, height - top - bottom

    def px(i: int) -> float:
        return left + (plot_w * (i + 0.5) / len(xs))

    def py(v: float) -> float:
        return top + plot_h * (1 - (v - lo) / ((hi - lo) or 1))

    parts = []
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        parts.append(f'<line x1="{_n(left)}" x2="{_n(WIDTH - right)}" y1="{_n(py(v))}" '
                     f'y2="{_n(py(v))}" stroke="#d0d7de"/>')
        parts.append(_text(left - 6, py(v) + 4, axis(v), "end"))
    for i, x in enumerate(xs):
        parts.append(_text(px(i), height - bottom + 16, x, "middle"))
    for j, (name, vs, colour) in enumerate(series):
        points = [(px(i), py(v)) for i, v in enumerate(vs) if v is not None]
        dash = ' stroke-dasharray="5 4"' if j == 0 else ""
        if len(points) > 1:
            path = " ".join(f"{_n(x)},{_n(y)}" for x, y in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                         f'stroke-width="2"{dash}/>')
        parts.extend(f'<circle cx="{_n(x)}" cy="{_n(y)}" r="3.5" fill="{colour}"/>'
                     for x, y in points)
        lx = left + j * 200
        parts.append(f'<rect x="{_n(lx)}" y="{_n(height - 18)}" width="14" height="4" '
                     f'fill="{colour}"/>')
        parts.append(_text(lx + 20, height - 12, name))
    return _svg(height, title, "".join(parts))


def steps(title: str, xs: Sequence[str], stages: Sequence[int | None], top_stage: int,
          stage_label: Callable[[int], str]) -> str:
    """The ladder stage per period, as columns on a 0..``top_stage`` scale."""
    if not xs:
        return ""
    left, top, bottom, height = 90.0, 10.0, 30.0, 170.0
    top_stage = max(top_stage, *(s or 0 for s in stages), 1)
    plot_w, plot_h = WIDTH - left - 20, height - top - bottom
    parts = []
    for k in range(top_stage + 1):
        y = top + plot_h * (1 - k / top_stage)
        parts.append(f'<line x1="{_n(left)}" x2="{WIDTH - 20}" y1="{_n(y)}" y2="{_n(y)}" '
                     'stroke="#d0d7de"/>')
        parts.append(_text(left - 6, y + 4, stage_label(k), "end"))
    slot = plot_w / len(xs)
    for i, (x, s) in enumerate(zip(xs, stages, strict=True)):
        cx = left + slot * i
        if s:
            h = plot_h * s / top_stage
            parts.append(f'<rect x="{_n(cx + slot * 0.2)}" y="{_n(top + plot_h - h)}" '
                         f'width="{_n(slot * 0.6)}" height="{_n(h)}" fill="{_BAD}"/>')
        parts.append(_text(cx + slot / 2, height - 10, x, "middle"))
    return _svg(height, title, "".join(parts))


def histogram(title: str, labels: Sequence[str], counts: Sequence[int], within: int,
              threshold_label: str) -> str:
    """Columns per bucket; the first ``within`` buckets are inside the threshold."""
    if not counts or not sum(counts):
        return ""
    left, top, bottom, height = 50.0, 24.0, 44.0, 230.0
    peak = max(counts) or 1
    plot_w, plot_h = WIDTH - left - 20, height - top - bottom
    slot = plot_w / len(counts)
    parts = []
    for i, (label, c) in enumerate(zip(labels, counts, strict=True)):
        h = plot_h * c / peak
        x = left + slot * i
        parts.append(f'<rect x="{_n(x + 3)}" y="{_n(top + plot_h - h)}" width="{_n(slot - 6)}" '
                     f'height="{_n(h)}" fill="{_OK if i < within else _BAD}"/>')
        parts.append(_text(x + slot / 2, top + plot_h - h - 4, f"{c}", "middle"))
        parts.append(_text(x + slot / 2, height - bottom + 16, label, "middle",
                           ' font-size="10"'))
    tx = left + slot * within
    parts.append(f'<line x1="{_n(tx)}" x2="{_n(tx)}" y1="{_n(top - 14)}" '
                 f'y2="{_n(top + plot_h)}" stroke="#24292f" stroke-width="2" '
                 'stroke-dasharray="4 3"/>')
    parts.append(_text(tx + 4, top - 4, threshold_label))
    return _svg(height, title, "".join(parts))


def funnel(title: str, stages: Sequence[tuple[str, str, float]],
           rates: Sequence[tuple[str, bool | None]]) -> str:
    """Stages as centred bars (``label``, value as text, relative width 0..1) with the
    conversion rate between each pair (``text``, met?)."""
    if not stages:
        return ""
    row, gap, top = 30.0, 22.0, 6.0
    parts = []
    for i, (label, shown, share) in enumerate(stages):
        y = top + i * (row + gap)
        w = max(360 * share, 8)
        parts.append(f'<rect x="{_n(320 - w / 2)}" y="{_n(y)}" width="{_n(w)}" '
                     f'height="{_n(row)}" fill="{_BAR}"/>')
        parts.append(_text(110, y + 19, label, "end"))
        parts.append(_text(530, y + 19, shown))
        if i < len(rates):
            text, met = rates[i]
            colour = _GREY if met is None else (_OK if met else _BAD)
            parts.append(_text(320, y + row + 16, "↓ " + text, "middle",
                               f' fill="{colour}" font-weight="600"'))
    return _svg(top * 2 + len(stages) * (row + gap) - gap, title, "".join(parts))


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
