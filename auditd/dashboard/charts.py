"""Charts as inline SVG rendered on the server: no JavaScript, no external library, CSP-safe."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup


def bar_chart(
    points: Sequence[tuple[str, float]],
    *,
    width: int = 720,
    height: int = 180,
    label_every: int = 1,
    title: str = "",
    language: str = "ja",
) -> Markup:
    """A vertical bar chart; each bar has a <title> so hovering shows the exact value. The axis reads
    as numbers are written in ``language`` (:func:`axis_label`)."""
    if not points:
        return Markup("")
    top = max(value for _, value in points) or 1.0
    pad_left, pad_bottom, pad_top = 44, 22, 8
    plot_w, plot_h = width - pad_left - 4, height - pad_bottom - pad_top
    step = plot_w / len(points)
    bar_w = max(1.0, step * 0.8)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg">'
    ]
    for fraction in (0.0, 0.5, 1.0):
        y = pad_top + plot_h * (1 - fraction)
        parts.append(f'<line class="grid" x1="{pad_left}" y1="{y:.1f}" x2="{width - 4}" y2="{y:.1f}"/>')
        tick = axis_label(top * fraction, language)
        parts.append(f'<text class="axis" x="{pad_left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
    for i, (label, value) in enumerate(points):
        h = plot_h * (value / top)
        x = pad_left + i * step + (step - bar_w) / 2
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{pad_top + plot_h - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}">'
            f"<title>{escape(label)}: {value:,.0f}</title></rect>"
        )
        if i % label_every == 0:
            x_label = x + bar_w / 2
            parts.append(
                f'<text class="axis" x="{x_label:.1f}" y="{height - 6}" text-anchor="middle">{escape(label)}</text>'
            )
    parts.append("</svg>")
    # Safe: every text that came from data went through html.escape above; numbers are formatted.
    return Markup("".join(parts))  # noqa: S704


#: Large numbers as each language groups them: Japanese counts in 万 (10^4) and 億 (10^8), English in
#: thousands and millions. Below ten thousand the number is written in full (1,000 reads better than 1k).
_UNITS = {"ja": ((100_000_000, "億"), (10_000, "万")), "en": ((1_000_000, "M"), (10_000, "k"))}


def axis_label(value: float, language: str = "ja") -> str:
    """An axis value: ``1,000``, ``2.5万``, ``1億`` in Japanese; ``1,000``, ``25k``, ``1.2M`` in English."""
    for size, unit in _UNITS.get(language, _UNITS["en"]):
        if value >= size:
            scale = 1_000 if unit == "k" else size  # 10,000 reads "10k", not "1k"
            text = f"{value / scale:,.1f}".removesuffix(".0")
            return f"{text}{unit}"
    if value < 10 and value != int(value):
        return f"{value:.1f}"  # the middle line of a chart whose top is 3: 1.5, not 2
    return f"{value:,.0f}"


def heatmap(
    rows: Sequence[str],
    columns: Sequence[str],
    values: Sequence[Sequence[float]],
    *,
    cell: int = 22,
    title: str = "",
) -> Markup:
    """A grid of counts shaded from white to the bar colour; each cell's <title> gives the exact value."""
    if not rows or not columns:
        return Markup("")
    top = max((max(line) for line in values if line), default=0.0) or 1.0
    pad_left, pad_top = 44, 18
    width, height = pad_left + cell * len(columns) + 4, pad_top + cell * len(rows) + 4
    parts = [
        f'<svg class="chart heatmap" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg">'
    ]
    for j, column in enumerate(columns):
        x = pad_left + j * cell + cell / 2
        parts.append(f'<text class="axis" x="{x:.1f}" y="{pad_top - 5}" text-anchor="middle">{escape(column)}</text>')
    for i, row in enumerate(rows):
        y = pad_top + i * cell
        parts.append(
            f'<text class="axis" x="{pad_left - 6}" y="{y + cell / 2 + 4:.1f}" text-anchor="end">{escape(row)}</text>'
        )
        for j, value in enumerate(values[i]):
            opacity = 0.06 + 0.94 * (value / top) if value else 0.0
            parts.append(
                f'<rect class="cell" x="{pad_left + j * cell}" y="{y}" width="{cell - 1}" height="{cell - 1}" '
                f'fill-opacity="{opacity:.2f}"><title>{escape(row)} {escape(columns[j])}: {value:,.0f}</title></rect>'
            )
    parts.append("</svg>")
    # Safe: labels went through html.escape; values are formatted numbers.
    return Markup("".join(parts))  # noqa: S704
