"""A small server-rendered SVG line chart (accuracy over time) for the trainer dashboard.

Hand-written rather than a plotting library: the page needs one accessible inline <svg> of a few
polylines with no JavaScript and no image files, which is a few dozen lines of markup; matplotlib
would add a heavy dependency to render a raster or a much larger SVG."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

# Colours with at least 4.5:1 contrast on white, told apart by dash pattern too.
PALETTE = [("#0b5cad", ""), ("#b42318", "6 3"), ("#1d6b35", "2 3"), ("#6b21a8", "8 3 2 3"), ("#8a4b00", "4 4")]


@dataclass
class Series:
    name: str
    points: list[tuple[datetime, float]]  # (when, value in 0..1)


def line_chart(series: list[Series], *, title: str, width: int = 640, height: int = 240,
               y_label: str = "") -> str:
    """An <svg> with one polyline (and point markers) per series; x is time, y is 0–100 %."""
    pad_l, pad_r, pad_t, pad_b = 44, 12, 12, 28
    pts = [p for s in series for p in s.points]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>']
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b
    for frac in (0, 0.25, 0.5, 0.75, 1.0):
        y = pad_t + plot_h * (1 - frac)
        out.append(f'<line x1="{pad_l}" y1="{y:.1f}" x2="{width - pad_r}" y2="{y:.1f}" stroke="#cbd2d9" '
                   f'stroke-width="1"/>')
        out.append(f'<text x="{pad_l - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
                   f'fill="#4b5563">{int(frac * 100)}%</text>')
    if y_label:
        out.append(f'<text x="4" y="{pad_t + 10}" font-size="11" fill="#4b5563">{escape(y_label)}</text>')
    if pts:
        t0 = min(p[0] for p in pts).timestamp()
        t1 = max(p[0] for p in pts).timestamp()
        span = (t1 - t0) or 1.0

        def xy(when: datetime, value: float) -> tuple[float, float]:
            x = pad_l + (plot_w / 2 if t1 == t0 else plot_w * (when.timestamp() - t0) / span)
            v = min(max(value, 0.0), 1.0)
            return x, pad_t + plot_h * (1 - v)

        ends = [(min(p[0] for p in pts), "start"), (max(p[0] for p in pts), "end")]
        for label, when in ends if t1 > t0 else [(ends[0][0], "middle")]:  # one date: one label, centred
            x, _ = xy(label, 0)
            anchor = when
            out.append(f'<text x="{x:.1f}" y="{height - 8}" font-size="11" text-anchor="{anchor}" '
                       f'fill="#4b5563">{label:%Y-%m-%d}</text>')
        for i, s in enumerate(series):
            if not s.points:
                continue
            colour, dash = PALETTE[i % len(PALETTE)]
            coords = [xy(w, v) for w, v in sorted(s.points)]
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            out.append(f'<polyline class="series" data-series="{escape(s.name)}" fill="none" stroke="{colour}" '
                       f'stroke-width="2"{dash_attr} points="{path}"/>')
            for (x, y), (w, v) in zip(coords, sorted(s.points), strict=True):
                out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>'
                           f'{escape(s.name)} {w:%Y-%m-%d %H:%M} {v * 100:.1f}%</title></circle>')
    out.append("</svg>")
    return "".join(out)


def legend(series: list[Series]) -> list[dict[str, str]]:
    """Name, colour and dash of each series, for the legend under the chart."""
    return [{"name": s.name, "colour": PALETTE[i % len(PALETTE)][0], "dash": PALETTE[i % len(PALETTE)][1]}
            for i, s in enumerate(series)]
