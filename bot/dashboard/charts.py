"""Charts drawn on the server as SVG: no script, no CDN (the federation's network may be closed).

A chart is a few dozen rectangles and labels; the SVG scales to the phone's width through its
viewBox, and every bar carries a <title> so its figure can be read by tapping it.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from bot.core.texts import fmt_number

INK = "#1f2d3d"
BAR = "#c8102e"  # the federation's red
MUTED = "#8a94a3"


def _nice_max(value: int) -> int:
    """A round top for the axis (1, 2, 5 × 10^k) at or above the largest value."""
    if value <= 0:
        return 1
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= value:
                return m * step
        step *= 10


def bar_chart(
    bars: Sequence[tuple[str, int]], *, title: str, label_every: int = 6, height: int = 260
) -> Markup:
    """Vertical bars with a labelled axis; ``bars`` are (label, value), oldest first."""
    width = 640
    left, right, top, bottom = 64, 8, 20, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = _nice_max(max((v for _, v in bars), default=0))
    slot = plot_w / max(1, len(bars))
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for fraction in (0, 1):
        y = top + plot_h * (1 - fraction)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="#dde2e8" stroke-width="1"/>')  # fmt: skip
        parts.append(f'<text x="{left - 8}" y="{y + 7:.1f}" text-anchor="end" font-size="22" '
                     f'fill="{MUTED}">{fmt_number(int(top_value * fraction))}</text>')  # fmt: skip
    for i, (label, value) in enumerate(bars):
        h = plot_h * value / top_value
        x = left + i * slot + slot * 0.15
        y = top + plot_h - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
            f'fill="{BAR}"><title>{escape(label)}: {fmt_number(value)}</title></rect>'
        )
        last = len(bars) - 1
        if (i % label_every == 0 and last - i >= label_every) or i == last:
            parts.append(
                f'<text x="{x + slot * 0.35:.1f}" y="{height - 10}" text-anchor="middle" '
                f'font-size="22" fill="{INK}">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def funnel_chart(stages: Sequence[tuple[str, int]], *, title: str) -> Markup:
    """One bar per stage, its label above it and its figure beside it (readable on a phone)."""
    width, row = 640, 76
    height = row * len(stages) + 8
    top_value = max((v for _, v in stages), default=0) or 1
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, value) in enumerate(stages):
        y = 4 + i * row
        w = max(2.0, (width - 140) * value / top_value)
        parts.append(
            f'<text x="0" y="{y + 26}" font-size="26" fill="{INK}">{escape(label)}</text>'
            f'<rect x="0" y="{y + 36}" width="{w:.1f}" height="30" fill="{BAR}" '
            f'opacity="{1 - i * 0.12:.2f}">'
            f"<title>{escape(label)}: {fmt_number(value)}</title></rect>"
            f'<text x="{w + 10:.1f}" y="{y + 60}" font-size="26" font-weight="bold" '
            f'fill="{INK}">{fmt_number(value)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
