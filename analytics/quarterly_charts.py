"""Static SVG charts for the quarterly report: no JavaScript, a few kilobytes each, identical on screen and in print.

A board report is read, not explored, so its charts are drawn once as inline SVG
(the HTML opens in milliseconds and prints to PDF as vectors; plotly.js would add
4.6 MB).  A value that small-cell suppression hid is drawn as a grey label saying
so, never left out or drawn as 0; a shown value with fewer than 11 patients (the
director's internal version) is a hollow marker labelled with its n.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

from .definitions import SMALL_CELL_MAX

__all__ = ["ChartPoint", "ChartRow", "forest_svg", "trend_svg", "funnel_svg", "HIDDEN_SMALL", "HIDDEN_RULE",
           "PALETTE"]

#: What a hidden value reads as in a chart (the suppression rule's own threshold).
HIDDEN_SMALL = f"hidden: fewer than {SMALL_CELL_MAX + 1} patients"
#: Any other hidden value (a complement, or events hidden with a shown n): the published label says no more.
HIDDEN_RULE = "hidden: small-cell rule"
#: Okabe-Ito, readable by colour-blind readers and in greyscale print.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9")
_GREY, _INK, _GRID = "#6b6b6b", "#222222", "#e3e3e3"
_FONT = "font-family=\"system-ui,-apple-system,'Segoe UI',Roboto,sans-serif\""


@dataclass(frozen=True)
class ChartPoint:
    """One estimate: ``rate`` None when there is none; ``hidden`` the label of a suppressed value."""

    rate: float | None
    low: float | None = None
    high: float | None = None
    n: int | None = None
    hidden: str = ""


@dataclass(frozen=True)
class ChartRow:
    """A row of a forest chart: the clinic's estimate and any published figures (rate, like for like, name)."""

    label: str
    point: ChartPoint
    published: tuple = ()
    group: str = ""


def _x(rate: float, left: float, width: float) -> float:
    return left + max(0.0, min(1.0, rate)) * width


def _text(x, y, text, *, size=12, anchor="start", color=_INK, weight="normal", italic=False) -> str:
    style = ' font-style="italic"' if italic else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{color}" '
            f'font-weight="{weight}"{style}>{escape(text)}</text>')


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
            f'aria-label="{escape(title)}" {_FONT} style="max-width:{width}px">'
            f"<title>{escape(title)}</title>" + "".join(body) + "</svg>")


def _axis(left, width, top, bottom, body, *, label="Share of patients") -> None:
    for tick in range(0, 101, 20):
        x = _x(tick / 100, left, width)
        body.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="{_GRID}"/>')
        body.append(_text(x, bottom + 15, f"{tick}%", size=11, anchor="middle", color=_GREY))
    body.append(_text(left + width / 2, bottom + 32, label, size=11, anchor="middle", color=_GREY))


def _wrap(text: str, limit: int) -> list[str]:
    words, lines = text.split(), [""]
    for w in words:
        if lines[-1] and len(lines[-1]) + 1 + len(w) > limit:
            lines.append(w)
        else:
            lines[-1] = f"{lines[-1]} {w}".strip()
    return lines[:3]


def _estimate(p: ChartPoint, x0: float, y: float, left: float, width: float, color: str, body: list[str]) -> None:
    """Dot and 95% interval, a hollow dot with its n for fewer than 11 patients, or the hidden label."""
    if p.hidden:
        body.append(f'<rect x="{left:.1f}" y="{y - 9:.1f}" width="{width:.1f}" height="18" fill="#f4f4f4" '
                    f'stroke="#c9c9c9" stroke-dasharray="3 3"/>')
        body.append(_text(left + 8, y + 4, p.hidden, size=11, color=_GREY, italic=True))
        return
    if p.rate is None:
        body.append(_text(left + 8, y + 4, "no data (no patient in the denominator)", size=11, color=_GREY,
                          italic=True))
        return
    if p.low is not None and p.high is not None:
        body.append(f'<line x1="{_x(p.low, left, width):.1f}" y1="{y:.1f}" x2="{_x(p.high, left, width):.1f}" '
                    f'y2="{y:.1f}" stroke="{color}" stroke-width="2.5"/>')
    small = p.n is not None and p.n <= SMALL_CELL_MAX
    fill = "white" if small else color
    body.append(f'<circle cx="{x0:.1f}" cy="{y:.1f}" r="6" fill="{fill}" stroke="{color}" stroke-width="2"/>')
    note = f"{p.rate:.1%}".replace(".0%", "%") if not small else f"{p.rate:.0%}, n = {p.n} (small)"
    body.append(_text(x0, y - 10, note, size=10.5, anchor="middle", color=_INK))


def forest_svg(rows: list[ChartRow], *, title: str, label_width: int = 290, width: int = 900) -> str:
    """Estimates with 95% intervals, one row each, published figures as diamonds (filled: like for like)."""
    left, right, top = label_width, 24, 34
    plot_w = width - left - right
    row_h = 44
    body = [_text(0, 16, title, size=13.5, weight="600")]
    legend = [("circle", PALETTE[0], "This clinic (95% CI)")]
    if any(r.published for r in rows):
        legend += [("diamond", PALETTE[1], "Published, like for like"),
                   ("open", PALETTE[4], "Published, not like for like")]
    lx = left
    for kind, color, text in legend:
        if kind == "circle":
            body.append(f'<circle cx="{lx + 5}" cy="27" r="5" fill="{color}"/>')
        else:
            fill = color if kind == "diamond" else "white"
            body.append(f'<path d="M{lx + 5} 21 L{lx + 11} 27 L{lx + 5} 33 L{lx - 1} 27 Z" fill="{fill}" '
                        f'stroke="{color}" stroke-width="2"/>')
        body.append(_text(lx + 15, 31, text, size=11, color=_GREY))
        lx += 30 + 6.2 * len(text)
    y = top + 10
    previous_group = None
    for r in rows:
        if r.group and r.group != previous_group:
            y += 8
            body.append(_text(0, y + 6, r.group, size=12, weight="600"))
            y += 18
        previous_group = r.group
        cy = y + row_h / 2
        lines = _wrap(r.label, int(label_width / 6.4))
        for i, line in enumerate(lines):  # centred on the row, 13 px apart
            body.append(_text(0, cy + 4 + 13 * (i - (len(lines) - 1) / 2), line, size=11.5))
        for rate, comparable, name in r.published:
            if rate is None or (isinstance(rate, float) and math.isnan(rate)):
                continue
            px = _x(rate, left, plot_w)
            color, fill = (PALETTE[1], PALETTE[1]) if comparable else (PALETTE[4], "white")
            body.append(f'<path d="M{px:.1f} {cy - 7:.1f} L{px + 6:.1f} {cy:.1f} L{px:.1f} {cy + 7:.1f} '
                        f'L{px - 6:.1f} {cy:.1f} Z" fill="{fill}" stroke="{color}" stroke-width="1.8">'
                        f"<title>{escape(name)}: {rate:.1%}</title></path>")
        p = r.point
        _estimate(p, _x(p.rate, left, plot_w) if p.rate is not None else left, cy, left, plot_w, PALETTE[0], body)
        y += row_h
    grid = []
    _axis(left, plot_w, top + 4, y + 4, grid)
    return _svg(width, int(y + 44), title, [body[0], *grid, *body[1:]])


def trend_svg(quarters: list[str], series: dict[str, list[ChartPoint]], *, title: str, width: int = 900) -> str:
    """One panel per outcome, quarters across: a line through shown quarters, a hidden quarter labelled in place."""
    left, right, panel_h, gap, top = 48, 16, 150, 46, 30
    plot_w = width - left - right
    step = plot_w / max(len(quarters), 1)
    body = [_text(0, 16, title, size=13.5, weight="600")]
    y0 = top
    for k, (name, points) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        body.append(_text(0, y0 + 12, name, size=12, weight="600", color=_INK))
        ptop, pbottom = y0 + 22, y0 + 22 + panel_h

        def ypos(rate):
            return pbottom - max(0.0, min(1.0, rate)) * panel_h

        for tick in (0, 25, 50, 75, 100):
            yy = ypos(tick / 100)
            body.append(f'<line x1="{left}" y1="{yy:.1f}" x2="{left + plot_w}" y2="{yy:.1f}" stroke="{_GRID}"/>')
            body.append(_text(left - 6, yy + 4, f"{tick}%", size=10, anchor="end", color=_GREY))
        run = []
        for i, (q, p) in enumerate(zip(quarters, points)):
            x = left + step * (i + 0.5)
            body.append(_text(x, pbottom + 15, q, size=10.5, anchor="middle", color=_GREY))
            if p.hidden or p.rate is None:
                if len(run) > 1:
                    body.append(_polyline(run, color))
                run = []
                label = p.hidden or "no data"
                lines = _wrap(label, max(8, int(step / 6.2)))
                for j, line in enumerate(lines):
                    body.append(_text(x, ptop + panel_h / 2 - 6 * len(lines) + 13 * j + 4, line, size=10,
                                      anchor="middle", color=_GREY, italic=True))
                continue
            if p.low is not None and p.high is not None:
                body.append(f'<line x1="{x:.1f}" y1="{ypos(p.low):.1f}" x2="{x:.1f}" y2="{ypos(p.high):.1f}" '
                            f'stroke="{color}" stroke-width="2" opacity="0.55"/>')
            run.append((x, ypos(p.rate)))
            small = p.n is not None and p.n <= SMALL_CELL_MAX
            body.append(f'<circle cx="{x:.1f}" cy="{ypos(p.rate):.1f}" r="4.5" fill="{"white" if small else color}" '
                        f'stroke="{color}" stroke-width="2"/>')
            note = f"{p.rate:.0%}" + (f" (n = {p.n})" if small else "")
            body.append(_text(x + 7, ypos(p.rate) - 6, note, size=10, color=_INK))
        if len(run) > 1:
            body.append(_polyline(run, color))
        y0 = pbottom + gap
    return _svg(width, int(y0), title, body)


def _polyline(points, color) -> str:
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"/>'


def funnel_svg(steps: list[tuple[str, ChartPoint, str]], *, title: str, width: int = 900) -> str:
    """Horizontal bars: each step's share of the quarter's new starts, with its count (or the hidden label)."""
    left, right, top, bar_h, gap = 300, 24, 30, 22, 14
    plot_w = width - left - right
    body = [_text(0, 16, title, size=13.5, weight="600")]
    y = top
    for label, p, count in steps:
        body.append(_text(0, y + bar_h / 2 + 4, label, size=11.5))
        if p.hidden or p.rate is None:
            body.append(f'<rect x="{left}" y="{y}" width="{plot_w}" height="{bar_h}" fill="#f4f4f4" '
                        f'stroke="#c9c9c9" stroke-dasharray="3 3"/>')
            body.append(_text(left + 8, y + bar_h / 2 + 4, p.hidden or "no data", size=11, color=_GREY, italic=True))
        else:
            w = max(1.0, p.rate * plot_w)
            body.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{PALETTE[0]}"/>')
            text = f"{count} ({p.rate:.0%})"
            inside = w > 90
            body.append(_text(left + (w - 6 if inside else w + 6), y + bar_h / 2 + 4, text, size=11,
                              anchor="end" if inside else "start", color="white" if inside else _INK))
        y += bar_h + gap
    return _svg(width, int(y + 4), title, body)
