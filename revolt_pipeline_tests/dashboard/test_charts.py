"""The SVG charts: pure functions from lists to markup, read back here as a browser would parse them."""

import re
import xml.etree.ElementTree as ET

from revolt_pipeline.dashboard import charts

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    """The chart as XML: it must be well-formed to be inlined in a page."""
    return ET.fromstring(markup)


def marks(markup: str, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in parse(markup).iter(f"{SVG}{tag}") if e.get("class") == cls]


def test_a_bar_chart_has_one_bar_per_value_carrying_it_taller_for_more() -> None:
    markup = charts.bar_chart("Steps", ["1. Signup", "2. Verify", "3. Pay"], [40, 25, 10])
    bars = marks(markup, "rect", "bar")
    assert [(b.get("data-label"), float(b.get("data-value"))) for b in bars] == [
        ("1. Signup", 40),
        ("2. Verify", 25),
        ("3. Pay", 10),
    ]
    heights = [float(b.get("height")) for b in bars]
    assert heights[0] > heights[1] > heights[2] > 0
    assert parse(markup).get("aria-label") == "Steps"


def test_a_bar_can_say_more_than_its_value() -> None:
    markup = charts.bar_chart("Funnel", ["1. Home", "2. Pricing"], [40, 10], value_texts=["40 (100%)", "10 (25%)"])
    assert [t.text for t in marks(markup, "text", "bar-value")] == ["40 (100%)", "10 (25%)"]
    assert [t.text for t in marks(charts.bar_chart("Plain", ["a"], [1_500]), "text", "bar-value")] == ["1,500"]


def test_a_line_chart_breaks_where_a_day_has_no_value() -> None:
    markup = charts.line_chart("DAU", ["d1", "d2", "d3", "d4", "d5"], {"DAU": [3, 4, None, 5, 6]})
    lines = list(parse(markup).iter(f"{SVG}polyline"))
    assert len(lines) == 2  # d1-d2 and d4-d5, nothing drawn through the missing day
    points = marks(markup, "circle", "point")
    assert [p.get("data-label") for p in points] == ["d1", "d2", "d4", "d5"]


def test_stacked_bars_put_negative_values_below_the_axis() -> None:
    markup = charts.stacked_bar_chart(
        "Lifecycle", ["w1", "w2"], {"new": [5, 3], "returning": [2, 4], "dormant": [-3, -1]}
    )
    axis = next(e for e in parse(markup).iter(f"{SVG}line") if e.get("stroke") == "#333")
    zero = float(axis.get("y1"))
    for bar in marks(markup, "rect", "bar"):
        top, bottom = float(bar.get("y")), float(bar.get("y")) + float(bar.get("height"))
        if bar.get("data-series") == "dormant":
            assert top >= zero - 0.01, "dormant people hang below the axis"
        else:
            assert bottom <= zero + 0.01, "active people stand on the axis"
    w1 = {
        b.get("data-series"): float(b.get("height"))
        for b in marks(markup, "rect", "bar")
        if b.get("data-label") == "w1"
    }
    assert w1["new"] / w1["returning"] == 5 / 2


def test_a_heatmap_shades_cells_by_value_and_leaves_unreached_ones_blank() -> None:
    markup = charts.heatmap("Retention", ["c1", "c2"], ["d0", "d1"], [[100.0, 40.0], [100.0, None]])
    cells = marks(markup, "rect", "cell")
    assert [(c.get("data-row"), c.get("data-column"), c.get("data-value")) for c in cells] == [
        ("c1", "d0", "100.0"),
        ("c1", "d1", "40.0"),
        ("c2", "d0", "100.0"),
    ]
    fills = {c.get("data-value"): c.get("fill") for c in cells}
    assert fills["100.0"] == "#0072b2" and fills["40.0"] not in ("#ffffff", "#0072b2")


def test_text_from_the_data_is_escaped() -> None:
    """Event names come from apps: one holding markup must stay text."""
    markup = charts.bar_chart("Top <events>", ['<script>alert("x")</script>', "a & b"], [2, 1])
    assert "<script>" not in markup
    labels = [b.get("data-label") for b in marks(markup, "rect", "bar")]
    assert labels == ['<script>alert("x")</script>', "a & b"]  # parsed back to the original text


def test_nothing_to_draw_says_so() -> None:
    for markup in (
        charts.bar_chart("Empty", [], []),
        charts.line_chart("Empty", ["d1"], {"DAU": [None]}),
        charts.stacked_bar_chart("Empty", ["d1"], {"new": [0]}),
        charts.heatmap("Empty", [], [], []),
    ):
        assert "No data for these filters." in markup
        parse(markup)


def test_ticks_are_round_and_cover_the_values() -> None:
    assert charts.nice_ticks(0, 93) == [0, 20, 40, 60, 80, 100]
    ticks = charts.nice_ticks(-12, 30)
    assert ticks[0] <= -12 and ticks[-1] >= 30 and 0 in ticks
    assert all(re.fullmatch(r"-?\d+(\.0)?", str(t)) for t in ticks)


def test_numbers_are_written_for_people() -> None:
    assert charts.number_text(1234567) == "1,234,567"
    assert charts.number_text(12.345) == "12.3"
    assert charts.number_text(None) == "–"
    assert charts.number_text(3.0) == "3"


def test_horizontal_bars_are_as_long_as_their_values() -> None:
    long_name = "track: " + "Very Long Event Name " * 3
    markup = charts.horizontal_bar_chart("Top events", [long_name, "page: Home"], [30, 15])
    bars = marks(markup, "rect", "bar")
    assert [b.get("data-label") for b in bars] == [long_name, "page: Home"]  # the whole name, though shown cut
    assert float(bars[0].get("width")) == 2 * float(bars[1].get("width"))


def test_counts_get_whole_ticks() -> None:
    assert charts.nice_ticks(0, 2, integer=True) == [0, 1, 2]
    assert "0.2" not in charts.bar_chart("People", ["a", "b"], [1, 2])
