"""A small inline SVG chart of runs per day (bars) and their median duration (line), drawn on the server."""

from __future__ import annotations

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 560, 140, 24


def runs_chart(days: list[dict]) -> Markup:
    """Bars: runs started each day; dots joined by a line: the median run duration that day."""
    if not days:
        return Markup("")
    most = max(day["runs"] for day in days) or 1
    longest = max(day["median_seconds"] for day in days) or 1.0
    step = (WIDTH - 2 * PAD) / len(days)
    plot = HEIGHT - 2 * PAD
    parts, points = [], []
    for i, day in enumerate(days):
        x = PAD + i * step
        height = plot * day["runs"] / most
        label = f"{day['day']}: {day['runs']} runs, median {day['median_seconds']:.0f} s"
        parts.append(f'<rect x="{x + 2:.1f}" y="{PAD + plot - height:.1f}" width="{step - 4:.1f}" height="{height:.1f}" '
                     f'fill="#54aeff"><title>{escape(label)}</title></rect>')
        parts.append(f'<text x="{x + step / 2:.1f}" y="{HEIGHT - 6}" font-size="9" text-anchor="middle">{escape(day["day"])}</text>')
        if day["median_seconds"]:
            points.append(f"{x + step / 2:.1f},{PAD + plot - plot * day['median_seconds'] / longest:.1f}")
    if points:
        parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="#cf222e" stroke-width="2"/>')
    parts.append(f'<text x="{PAD}" y="14" font-size="11">runs per day (max {most}) · '
                 f'<tspan fill="#cf222e">median duration (max {longest:.0f} s)</tspan></text>')
    return Markup(f'<svg id="chart" role="img" aria-label="runs per day and their median duration" '
                  f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}">{"".join(parts)}</svg>')
