"""The server-rendered accuracy chart."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from xml.etree import ElementTree

from ui.chart import Series, legend, line_chart

NS = "{http://www.w3.org/2000/svg}"


def _series() -> list[Series]:
    t0 = datetime(2026, 3, 1, 9, 0)
    return [Series("demo", [(t0, 0.5), (t0 + timedelta(days=2), 0.75), (t0 + timedelta(days=5), 1.0)]),
            Series("regression", [(t0 + timedelta(days=1), 0.25)])]


def test_one_polyline_per_series_with_points_scaled_to_the_plot():
    svg = line_chart(_series(), title="Accuracy over time", width=400, height=200)
    root = ElementTree.fromstring(svg)
    assert root.get("role") == "img" and root.get("aria-label") == "Accuracy over time"
    lines = root.findall(f"{NS}polyline")
    assert [p.get("data-series") for p in lines] == ["demo", "regression"]
    pts = [tuple(map(float, xy.split(","))) for xy in lines[0].get("points").split()]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    assert xs == sorted(xs) and xs[0] < xs[-1]
    assert ys[0] > ys[1] > ys[2]  # higher accuracy is drawn higher up
    assert ys[2] == 12.0  # 100 % sits on the top grid line (pad_t)
    assert len(root.findall(f"{NS}circle")) == 4
    assert "2026-03-01" in svg and "2026-03-06" in svg


def test_labels_are_escaped_and_an_empty_chart_still_renders():
    svg = line_chart([Series('<script>x</script>', [(datetime(2026, 1, 1), 0.4)])], title='a "b" <c>')
    ElementTree.fromstring(svg)
    assert "<script>" not in svg
    empty = line_chart([], title="none")
    assert not re.search(r"<polyline", empty)
    assert ElementTree.fromstring(empty).get("aria-label") == "none"


def test_legend_matches_the_line_colours():
    series = _series()
    svg = line_chart(series, title="t")
    for entry in legend(series):
        assert f'stroke="{entry["colour"]}"' in svg
