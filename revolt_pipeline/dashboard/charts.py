"""Charts as inline SVG, written from plain lists: no JavaScript, no CDN, so every page works offline.

Each function takes the rows a page read and returns the SVG markup of one chart (line, bars, stacked bars with
negative values below the axis, a heatmap). They are pure: the same numbers give the same markup, which the
tests read back (every mark carries its value in `data-value`, every chart its title in `aria-label`).
"""

import math
from collections.abc import Callable, Mapping, Sequence
from html import escape

# Colour-blind-safe (Okabe-Ito), in the order series are drawn.
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000")
WIDTH, HEIGHT = 720, 260
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 56, 16, 48, 44
DASHES = ("", "7 4", "2 3", "10 3 2 3")  # a line's dash by series: lines that coincide stay visible

Number = float | int


def number_text(value: Number | None, digits: int = 1) -> str:
    """A number as a chart or a table shows it: thousands separated, at most `digits` decimals, `–` for none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def nice_ticks(low: float, high: float, count: int = 5, integer: bool = False) -> list[float]:
    """Round tick values covering [low, high]: 0 included, steps of 1, 2 or 5 times a power of ten (whole steps
    when `integer`: counts of people have no tenths)."""
    low, high = min(low, 0.0), max(high, 0.0)
    if high == low:
        high = low + 1
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if integer:
        step = max(step, 1)
    ticks = [math.floor(low / step) * step]
    while ticks[-1] < high - step * 1e-9:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _svg(title: str, body: list[str], kind: str, height: int = HEIGHT, width: int = WIDTH) -> str:
    caption = f'<text class="chart-title" x="4" y="15" font-size="13" font-weight="600">{escape(title)}</text>'
    return (
        f'<svg class="chart chart-{kind}" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMinYMin meet">'
        f"<title>{escape(title)}</title>{caption}{''.join(body)}</svg>"
    )


def empty_chart(title: str, message: str = "No data for these filters.") -> str:
    """A chart's frame with a message where there is nothing to draw."""
    text = f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" class="chart-empty">{escape(message)}</text>'
    return _svg(title, [text], "empty")


class _Axis:
    """A vertical value axis: maps values to y pixels over the plot's height."""

    def __init__(self, values: Sequence[float], height: int, top: float = MARGIN_TOP) -> None:
        integer = all(float(value).is_integer() for value in values)
        self.ticks = nice_ticks(min(values, default=0.0), max(values, default=0.0), integer=integer)
        self.low, self.high = self.ticks[0], self.ticks[-1]
        self.top, self.bottom = top, height - MARGIN_BOTTOM

    def y(self, value: float) -> float:
        span = self.high - self.low or 1.0
        return round(self.bottom - (value - self.low) / span * (self.bottom - self.top), 2)

    def draw(self, format_tick: Callable[[float], str]) -> list[str]:
        marks = []
        for tick in self.ticks:
            y = self.y(tick)
            marks.append(
                f'<line class="grid" x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{y}" y2="{y}" '
                f'stroke="#e3e3e3"/><text class="tick" x="{MARGIN_LEFT - 6}" y="{y + 4}" text-anchor="end" '
                f'font-size="11">{escape(format_tick(tick))}</text>'
            )
        return marks


CHAR_WIDTH = 0.62  # a label's character, in font sizes: generous for the sans-serif digits and letters shown
LABEL_FONT = 11


def text_width(text: str, font_size: float = LABEL_FONT) -> float:
    """The width a label's text takes at most, in pixels: what keeps labels apart and inside the chart."""
    return len(text) * font_size * CHAR_WIDTH


def _x_labels(labels: Sequence[str], centres: Sequence[float], height: int, width: int = WIDTH) -> list[str]:
    """Category labels under the plot, thinned so they never overlap, the last one always shown, and each kept
    inside the chart (the first and last are anchored to their edge when centring would cut them off)."""
    if not labels:
        return []
    slot = centres[1] - centres[0] if len(centres) > 1 else float(width)
    every = max(1, math.ceil((max(text_width(label) for label in labels) + 8) / slot))
    shown = list(range(0, len(labels), every))
    if shown[-1] != len(labels) - 1:
        shown.append(len(labels) - 1)
    placed = [_placed(labels[index], centres[index], width) for index in shown]
    while len(placed) > 2 and placed[-1][3] < placed[-2][4] + 4:  # the last overlaps the one before: drop that
        del placed[-2]
    return [
        f'<text class="x-label" x="{x}" y="{height - MARGIN_BOTTOM + 16}" text-anchor="{anchor}" '
        f'font-size="{LABEL_FONT}">{escape(label)}</text>'
        for label, x, anchor, _, _ in placed
    ]


def _placed(label: str, x: float, width: int) -> tuple[str, float, str, float, float]:
    """A label, its x and anchor, and its left and right extent: kept 2 px inside each edge of the chart."""
    size = text_width(label)
    if x + size / 2 > width - 2:
        return label, width - 2, "end", width - 2 - size, width - 2
    if x - size / 2 < 2:
        return label, 2, "start", 2, 2 + size
    return label, x, "middle", x - size / 2, x + size / 2


LEGEND_ROW = 16


def _legend(names: Sequence[str]) -> tuple[list[str], float]:
    """A swatch and name per series, wrapped onto more rows where they would pass the chart's right edge; the
    marks, and the top the plot needs below them (at least MARGIN_TOP)."""
    marks, x, y = [], float(MARGIN_LEFT), 24.0
    for index, name in enumerate(names):
        colour = PALETTE[index % len(PALETTE)]
        size = 24 + text_width(name)
        if x > MARGIN_LEFT and x + size > WIDTH - MARGIN_RIGHT:
            x, y = float(MARGIN_LEFT), y + LEGEND_ROW
        marks.append(
            f'<rect x="{x}" y="{y}" width="10" height="10" fill="{colour}"/>'
            f'<text class="legend" x="{x + 14}" y="{y + 9}" font-size="{LABEL_FONT}">{escape(name)}</text>'
        )
        x += size
    return marks, max(float(MARGIN_TOP), y + LEGEND_ROW + 8)


def _slots(count: int) -> tuple[list[float], float]:
    """The centre of each of `count` category slots across the plot, and a slot's width."""
    plot = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    slot = plot / max(count, 1)
    return [round(MARGIN_LEFT + slot * (index + 0.5), 2) for index in range(count)], slot


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[Number | None]],
    format_value: Callable[[float], str] = number_text,
) -> str:
    """One line per series over the category `labels` (days, weeks); a None value breaks the line."""
    values = [float(v) for points in series.values() for v in points if v is not None]
    if not labels or not values:
        return empty_chart(title)
    legend, top = _legend(list(series))
    height = HEIGHT + round(top - MARGIN_TOP)
    axis = _Axis(values, height, top)
    centres, _ = _slots(len(labels))
    body = axis.draw(format_value) + _x_labels(labels, centres, height) + legend
    for index, (name, points) in enumerate(series.items()):
        colour = PALETTE[index % len(PALETTE)]
        runs: list[list[str]] = [[]]
        for x, value in zip(centres, points, strict=True):
            if value is None:
                runs.append([])
                continue
            runs[-1].append(f"{x},{axis.y(float(value))}")
            body.append(
                f'<circle class="point" cx="{x}" cy="{axis.y(float(value))}" r="2.5" fill="{colour}" '
                f'data-series="{escape(name)}" data-label="{escape(labels[centres.index(x)])}" '
                f'data-value="{value}"><title>{escape(name)} {escape(labels[centres.index(x)])}: '
                f"{escape(format_value(float(value)))}</title></circle>"
            )
        body += [
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
            f'stroke-dasharray="{DASHES[index % len(DASHES)]}" '
            f'points="{" ".join(run)}"/>'
            for run in runs
            if len(run) > 1
        ]
    return _svg(title, body, "line", height=height)


def bar_chart(
    title: str,
    labels: Sequence[str],
    values: Sequence[Number | None],
    format_value: Callable[[float], str] = number_text,
    value_labels: bool = True,
    value_texts: Sequence[str] | None = None,
) -> str:
    """A bar per label (funnel steps, histogram buckets, days), its value written above it (or its text of
    `value_texts`: a funnel step's people and conversion)."""
    numbers = [float(v) for v in values if v is not None]
    if not labels or not numbers:
        return empty_chart(title)
    axis = _Axis(numbers, HEIGHT)
    centres, slot = _slots(len(labels))
    body = axis.draw(format_value) + _x_labels(labels, centres, HEIGHT)
    width = round(min(slot * 0.7, 80), 2)
    texts = value_texts or [format_value(float(v)) if v is not None else "" for v in values]
    for label, x, value, text in zip(labels, centres, values, texts, strict=True):
        if value is None:
            continue
        top, base = axis.y(max(float(value), 0.0)), axis.y(min(float(value), 0.0))
        body.append(
            f'<rect class="bar" x="{round(x - width / 2, 2)}" y="{top}" width="{width}" '
            f'height="{round(base - top, 2)}" fill="{PALETTE[0]}" data-label="{escape(label)}" '
            f'data-value="{value}"><title>{escape(label)}: {escape(format_value(float(value)))}</title></rect>'
        )
        if value_labels and len(labels) <= 16:
            body.append(
                f'<text class="bar-value" x="{x}" y="{top - 4}" text-anchor="middle" font-size="11">'
                f"{escape(text)}</text>"
            )
    return _svg(title, body, "bar")


def stacked_bar_chart(
    title: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[Number]],
    format_value: Callable[[float], str] = number_text,
) -> str:
    """Bars of several series stacked per label: positive values up from the axis, negative ones down
    (lifecycle: new, returning and resurrecting above, dormant below)."""
    if not labels or not series:
        return empty_chart(title)
    ups = [sum(max(float(points[i]), 0.0) for points in series.values()) for i in range(len(labels))]
    downs = [sum(min(float(points[i]), 0.0) for points in series.values()) for i in range(len(labels))]
    if not any(ups) and not any(downs):
        return empty_chart(title)
    legend, top = _legend(list(series))
    height = HEIGHT + round(top - MARGIN_TOP)
    axis = _Axis(ups + downs, height, top)
    centres, slot = _slots(len(labels))
    body = axis.draw(format_value) + _x_labels(labels, centres, height) + legend
    width = round(min(slot * 0.7, 60), 2)
    above, below = [0.0] * len(labels), [0.0] * len(labels)
    for index, (name, points) in enumerate(series.items()):
        colour = PALETTE[index % len(PALETTE)]
        for i, (label, x, value) in enumerate(zip(labels, centres, points, strict=True)):
            value = float(value)
            if value == 0:
                continue
            stack = above if value > 0 else below
            start, end = stack[i], stack[i] + value
            stack[i] = end
            top, bottom = axis.y(max(start, end)), axis.y(min(start, end))
            body.append(
                f'<rect class="bar" x="{round(x - width / 2, 2)}" y="{top}" width="{width}" '
                f'height="{round(bottom - top, 2)}" fill="{colour}" data-series="{escape(name)}" '
                f'data-label="{escape(label)}" data-value="{number_text(value)}">'
                f"<title>{escape(name)} {escape(label)}: {escape(format_value(value))}</title></rect>"
            )
    zero = axis.y(0.0)
    body.append(f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{zero}" y2="{zero}" stroke="#333"/>')
    return _svg(title, body, "stacked", height=height)


def _shade(fraction: float) -> str:
    """White to the palette's blue as `fraction` goes from 0 to 1."""
    fraction = min(max(fraction, 0.0), 1.0)
    start, end = (255, 255, 255), (0, 114, 178)
    red, green, blue = (round(a + (b - a) * fraction) for a, b in zip(start, end, strict=True))
    return f"#{red:02x}{green:02x}{blue:02x}"


def heatmap(
    title: str,
    rows: Sequence[str],
    columns: Sequence[str],
    cells: Sequence[Sequence[Number | None]],
    format_value: Callable[[float], str] = lambda value: f"{value:.0f}%",
    maximum: float = 100.0,
) -> str:
    """A grid of cells shaded by value (retention: cohorts down, periods across, percent retained); None is a
    cell not reached yet, left blank."""
    if not rows or not columns:
        return empty_chart(title)
    label_width, cell_width, cell_height, header = 110, max(26.0, min(56.0, 600 / len(columns))), 22, 44
    width = max(round(label_width + cell_width * len(columns) + 8), 7 * len(title) + 8)
    height = header + cell_height * len(rows) + 8
    body = [
        f'<text class="x-label" x="{round(label_width + cell_width * (j + 0.5), 2)}" y="38" text-anchor="middle" '
        f'font-size="11">{escape(column)}</text>'
        for j, column in enumerate(columns)
    ]
    for i, (row, values) in enumerate(zip(rows, cells, strict=True)):
        y = header + cell_height * i
        body.append(f'<text class="y-label" x="4" y="{y + 15}" font-size="11">{escape(row)}</text>')
        for j, value in enumerate(values):
            if value is None:
                continue
            fraction = float(value) / maximum if maximum else 0.0
            x = round(label_width + cell_width * j, 2)
            ink = "#fff" if fraction > 0.55 else "#222"
            body.append(
                f'<rect class="cell" x="{x}" y="{y}" width="{round(cell_width - 1, 2)}" height="{cell_height - 1}" '
                f'fill="{_shade(fraction)}" data-row="{escape(row)}" data-column="{escape(columns[j])}" '
                f'data-value="{value}"><title>{escape(row)}, {escape(columns[j])}: '
                f"{escape(format_value(float(value)))}</title></rect>"
                f'<text x="{round(x + cell_width / 2, 2)}" y="{y + 15}" text-anchor="middle" font-size="10" '
                f'fill="{ink}">{escape(format_value(float(value)))}</text>'
            )
    return _svg(title, body, "heatmap", height=height, width=width)


def horizontal_bar_chart(
    title: str,
    labels: Sequence[str],
    values: Sequence[Number],
    format_value: Callable[[float], str] = number_text,
    labels_above: bool = False,
    width: int = WIDTH,
) -> str:
    """A bar per label, one under the other, longest first as given: for names too long to stand under a bar
    (events, app versions, countries). With `labels_above`, each label is written across the chart above its bar,
    for names of a sentence (segments' descriptions). A narrower `width` keeps its text readable in half a page."""
    if not labels or not any(values):
        return empty_chart(title)
    label_width, row, top = (4, 34, 28) if labels_above else (200, 20, 30)
    plot = width - label_width - MARGIN_RIGHT - 48
    chars = int((width - 8) / text_width("x")) if labels_above else 30
    height = top + row * len(labels) + 8
    largest = max(float(v) for v in values) or 1.0
    body = []
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = top + row * index
        shown = label if len(label) <= chars else label[: chars - 1] + "…"
        length = round(plot * float(value) / largest, 2)
        bar_y = y + 17 if labels_above else y + 3
        body.append(
            (
                f'<text class="y-label" x="{label_width}" y="{y + 12}" font-size="11">{escape(shown)}</text>'
                if labels_above
                else f'<text class="y-label" x="{label_width - 6}" y="{y + 14}" text-anchor="end" font-size="11">'
                f"{escape(shown)}</text>"
            )
            + f'<rect class="bar" x="{label_width}" y="{bar_y}" width="{length}" height="14" fill="{PALETTE[0]}" '
            f'data-label="{escape(label)}" data-value="{value}"><title>{escape(label)}: '
            f"{escape(format_value(float(value)))}</title></rect>"
            f'<text class="bar-value" x="{label_width + length + 4}" y="{bar_y + 11}" font-size="11">'
            f"{escape(format_value(float(value)))}</text>"
        )
    return _svg(title, body, "hbar", height=height, width=width)
