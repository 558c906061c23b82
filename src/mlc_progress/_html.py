"""Self-contained HTML for the role views: escaped, accessible, no script.

Every name, title and id passes through :func:`html.escape` before it
reaches the page, so a student called ``<script>`` is shown as text. Pages
carry their own stylesheet and inline SVG (the class grid, the progress
ring, the score-over-time chart), load nothing, and run nothing. Each SVG
has a ``<title>`` and ``<desc>`` and a ``<table>`` beside it with the same
figures. Status is colour *and* symbol, label and pattern; sizes are in
``rem`` so the page reflows at 200 % zoom; there is no animation, and
``forced-colors``, ``prefers-contrast`` and ``prefers-reduced-motion`` have
their own styles (spec: Accessibility Requirements).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import datetime

from ._views import (
    AssignmentDetail,
    CellStatus,
    ClassOverview,
    Colour,
    Figure,
    OrganizationDashboardView,
    ParentReport,
    Pattern,
    ScoreSeries,
    StatusBadge,
    StudentDetail,
    StudentReport,
    _aggregate_lines,
    _date_text,
    _datetime_text,
    _engagement_lines,
    score_display,
    status_badge,
)

__all__ = [
    "render_class_overview_html",
    "render_organization_html",
    "render_parent_report_html",
    "render_student_detail_html",
    "render_student_report_html",
]

#: Light tints with black text: every pair has a contrast ratio above 7:1.
_FILLS: dict[Colour, str] = {
    Colour.GREEN: "#a5d6a7",
    Colour.YELLOW: "#fff59d",
    Colour.ORANGE: "#ffcc80",
    Colour.RED: "#ef9a9a",
    Colour.GREY: "#e0e0e0",
}

#: The mastery heatmap: one hue, lighter to darker, with symbols and words.
_HEAT_FILLS = ("#f2f2f2", "#c6dbef", "#6baed6", "#2171b5")
_HEAT_TEXT = ("#111111", "#111111", "#111111", "#ffffff")

_CSS = """
:root { color-scheme: light; }
body { margin: 1rem; font-family: system-ui, -apple-system, "Segoe UI", sans-serif;
  font-size: 100%; line-height: 1.5; color: #111; background: #fff; }
main { max-width: 75rem; }
h1 { font-size: 1.75rem; } h2 { font-size: 1.375rem; } h3 { font-size: 1.125rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
caption { text-align: left; font-weight: bold; padding: 0.25rem 0; }
th, td { border: 0.0625rem solid #555; padding: 0.25rem 0.5rem; text-align: left;
  vertical-align: top; }
.table-wrap { overflow-x: auto; }
.badge { display: inline-block; padding: 0 0.375rem; border: 0.0625rem solid #333;
  border-radius: 0.25rem; white-space: nowrap; }
.badge-green { background: #a5d6a7; } .badge-yellow { background: #fff59d; }
.badge-orange { background: #ffcc80; } .badge-red { background: #ef9a9a; }
.badge-grey { background: #e0e0e0; }
/* A badge's pattern sits in a band at its left edge, never under the text. */
.pattern-stripes, .pattern-crosshatch, .pattern-dots { padding-left: 1rem;
  background-repeat: no-repeat; background-size: 0.6rem 100%; }
.pattern-stripes { background-image: repeating-linear-gradient(45deg,
  transparent 0 0.15rem, rgba(0,0,0,0.45) 0.15rem 0.3rem); }
.pattern-crosshatch { background-image:
  repeating-linear-gradient(45deg, transparent 0 0.15rem,
    rgba(0,0,0,0.45) 0.15rem 0.25rem),
  repeating-linear-gradient(-45deg, transparent 0 0.15rem,
    rgba(0,0,0,0.45) 0.15rem 0.25rem); }
.pattern-dots { background-image: radial-gradient(rgba(0,0,0,0.5) 0.1rem,
  transparent 0.12rem); background-size: 0.5rem 0.5rem;
  background-repeat: repeat-y; }
.figure { font-size: 1.25rem; font-weight: bold; }
.segments { display: flex; flex-wrap: wrap; gap: 0.25rem; list-style: none;
  padding: 0; }
.segments li { border: 0.0625rem solid #333; padding: 0 0.375rem; }
.segment-complete { background: #a5d6a7; }
.segment-in_progress { background: #fff59d; }
details { border: 0.0625rem solid #555; margin: 0.25rem 0; padding: 0.25rem 0.5rem; }
summary { cursor: pointer; }
summary:focus-visible, a:focus-visible { outline: 0.1875rem solid #1a4fd6;
  outline-offset: 0.125rem; }
svg { display: block; max-width: 100%; height: auto; }
svg text { fill: #111; font-family: inherit; }
.chart-line { fill: none; stroke: #1a4fd6; stroke-width: 2.5; }
.chart-point { fill: #1a4fd6; stroke: #fff; stroke-width: 1; }
.chart-target { stroke: #333; stroke-dasharray: 6 4; }
.axis { stroke: #555; stroke-width: 1; }
.ring-track { fill: none; stroke: #ddd; stroke-width: 10; }
.ring-value { fill: none; stroke: #2e7d32; stroke-width: 10; }
.mark { fill: #000; fill-opacity: 0.35; }
.mark-line { stroke: #000; stroke-opacity: 0.35; stroke-width: 1.5; }
.cell-border { fill: none; stroke: #333; stroke-width: 1; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden;
  clip: rect(0 0 0 0); clip-path: inset(50%); white-space: nowrap; }
@media (prefers-reduced-motion: reduce) {
  *, *::before, *::after { animation: none !important; transition: none !important;
    scroll-behavior: auto !important; }
}
@media (prefers-contrast: more) {
  body { color: #000; }
  th, td, .badge, details, .segments li { border-color: #000;
    border-width: 0.125rem; }
  .cell-border { stroke: #000; stroke-width: 2; }
  .mark { fill-opacity: 0.6; } .mark-line { stroke-opacity: 0.6; }
}
@media (forced-colors: active) {
  .badge, .segments li, details { border: 0.125rem solid CanvasText; }
  svg text { fill: CanvasText; }
  .cell-fill { fill: Canvas; }
  .cell-border, .axis, .chart-target { stroke: CanvasText; }
  .mark { fill: CanvasText; } .mark-line { stroke: CanvasText; }
  .chart-line { stroke: Highlight; } .chart-point { fill: Highlight; }
  .ring-track { stroke: GrayText; } .ring-value { stroke: Highlight; }
}
"""


def _e(text: object) -> str:
    """Escape any text for an element or a quoted attribute."""
    return html.escape(str(text), quote=True)


def _page(title: str, body: Iterable[str]) -> str:
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_e(title)}</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            "<main>",
            *body,
            "</main>",
            "</body>",
            "</html>",
            "",
        ]
    )


def _badge(badge: StatusBadge) -> str:
    return (
        f'<span class="badge badge-{_e(badge.colour.value)} '
        f'pattern-{_e(badge.pattern.value)}">'
        f'<span aria-hidden="true">{_e(badge.symbol)}</span> {_e(badge.label)}</span>'
    )


def _figure(figure: Figure | None, missing: str = "no data") -> str:
    if figure is None:
        return _e(missing)
    return (
        f'<span aria-hidden="true">{_e(figure.display)}</span>'
        f'<span class="visually-hidden">{_e(figure.accessible_text)}</span>'
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _defs() -> str:
    """Fill patterns that repeat the colour's meaning in black marks."""
    return (
        "<defs>"
        '<pattern id="p-dots" width="8" height="8" patternUnits="userSpaceOnUse">'
        '<circle class="mark" cx="4" cy="4" r="1.6"/></pattern>'
        '<pattern id="p-stripes" width="8" height="8" patternUnits="userSpaceOnUse"'
        ' patternTransform="rotate(45)">'
        '<line class="mark-line" x1="0" y1="0" x2="0" y2="8"/></pattern>'
        '<pattern id="p-crosshatch" width="8" height="8" patternUnits="userSpaceOnUse"'
        ' patternTransform="rotate(45)">'
        '<line class="mark-line" x1="0" y1="0" x2="0" y2="8"/>'
        '<line class="mark-line" x1="0" y1="4" x2="8" y2="4"/></pattern>'
        "</defs>"
    )


_PATTERN_IDS = {
    Pattern.DOTS: "p-dots",
    Pattern.STRIPES: "p-stripes",
    Pattern.CROSSHATCH: "p-crosshatch",
}


# -- class overview --------------------------------------------------------------------


def _grid_svg(view: ClassOverview) -> str:
    # Cells are wide enough for the longest label, "✓ 100% Complete".
    name_w, cell_w, cell_h, head_h = 200, 175, 40, 40
    width = name_w + cell_w * max(len(view.columns), 1)
    height = head_h + cell_h * max(len(view.rows), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}"'
        f' width="{width}" height="{height}" role="img" focusable="false"'
        ' aria-labelledby="grid-title grid-desc"'
        f' style="width: {width / 16:.2f}rem">',
        f'<title id="grid-title">Progress grid of {_e(view.class_name)}</title>',
        f'<desc id="grid-desc">{_e(view.accessible_text)}. Each cell shows the'
        " completion percentage, a symbol and a pattern for its status; the table"
        " below holds the same figures.</desc>",
        _defs(),
    ]
    for i, column in enumerate(view.columns):
        x = name_w + i * cell_w + 6
        parts.append(
            f'<text x="{x}" y="{head_h - 14}" font-size="13" font-weight="bold">'
            f"<title>{_e(column.title)}</title>{_e(_clip(column.title, 16))}</text>"
        )
    for r, row in enumerate(view.rows):
        y = head_h + r * cell_h
        parts.append(
            f'<text x="6" y="{y + 25}" font-size="14">'
            f"<title>{_e(row.student_name)}</title>"
            f"{_e(_clip(row.student_name, 24))}</text>"
        )
        for c, cell in enumerate(row.cells):
            x = name_w + c * cell_w
            badge = cell.badge
            parts.append("<g>")
            parts.append(f"<title>{_e(cell.accessible_text)}</title>")
            parts.append(
                f'<rect class="cell-fill" x="{x}" y="{y}" width="{cell_w}"'
                f' height="{cell_h}" fill="{_FILLS[badge.colour]}"/>'
            )
            pattern = _PATTERN_IDS.get(badge.pattern)
            if pattern is not None:
                # The pattern fills a band at the cell's left edge; the text
                # stays on a plain background.
                parts.append(
                    f'<rect x="{x}" y="{y}" width="24" height="{cell_h}"'
                    f' fill="url(#{pattern})"/>'
                )
            parts.append(
                f'<rect class="cell-border" x="{x}" y="{y}" width="{cell_w}"'
                f' height="{cell_h}"/>'
            )
            shown = f" {cell.completion.display}" if cell.completion else ""
            parts.append(
                f'<text x="{x + 30}" y="{y + 25}" font-size="14">'
                f"{_e(badge.symbol)}{_e(shown)} {_e(badge.label)}</text>"
            )
            parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)


def _grid_table(view: ClassOverview) -> str:
    head = "".join(f'<th scope="col">{_e(c.title)}</th>' for c in view.columns)
    lines = [
        '<div class="table-wrap">',
        "<table>",
        f"<caption>{_e(view.class_name)}: completion by student and"
        " assignment</caption>",
        "<thead>",
        f'<tr><th scope="col">Student</th>{head}<th scope="col">Completion</th>'
        '<th scope="col">Mastery</th><th scope="col">Last activity</th>'
        '<th scope="col">Pacing</th></tr>',
        "</thead>",
        "<tbody>",
    ]
    for row in view.rows:
        cells = "".join(
            f"<td>{_figure(cell.completion, 'not assigned')} {_badge(cell.badge)}</td>"
            for cell in row.cells
        )
        risk = " <strong>(flagged at risk)</strong>" if row.at_risk else ""
        lines.append(
            f'<tr><th scope="row">{_e(row.student_name)}{risk}</th>{cells}'
            f"<td>{_figure(row.completion)}</td><td>{_figure(row.mastery)}</td>"
            f"<td>{_e(row.last_activity)}</td><td>{_badge(row.badge)}</td></tr>"
        )
    lines += ["</tbody>", "</table>", "</div>"]
    return "\n".join(lines)


def render_class_overview_html(view: ClassOverview) -> str:
    """The class grid as a self-contained page: SVG grid and a table fallback.

    >>> from datetime import datetime, UTC
    >>> from mlc_progress._views import class_overview, Directory
    >>> page = render_class_overview_html(class_overview(
    ...     "7b", students=["u1"], assignment_ids=[], progress=[],
    ...     as_of=datetime(2026, 9, 1, tzinfo=UTC),
    ...     directory=Directory(students={"u1": "<script>alert(1)</script>"})))
    >>> "<script" in page, "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    (False, True)
    """
    order = ""
    if view.sorted_by is not None:
        direction = "descending" if view.descending else "ascending"
        order = (
            f"<p>Sorted by {_e(view.sorted_by.value.replace('_', ' '))},"
            f" {direction}.</p>"
        )
    legend = "".join(f"<li>{_badge(status_badge(s))}</li>" for s in CellStatus)
    body = [
        f"<h1>{_e(view.class_name)}</h1>",
        f"<p>{_e(view.accessible_text)}, as of {_e(_date_text(view.as_of))}.</p>",
        order,
        '<h2 id="legend">Legend</h2>',
        f'<ul aria-labelledby="legend">{legend}</ul>',
        "<h2>Progress grid</h2>",
        '<figure class="table-wrap">',
        _grid_svg(view),
        "</figure>",
        "<h2>Progress table</h2>",
        _grid_table(view),
    ]
    return _page(f"{view.class_name}: progress", body)


# -- charts ----------------------------------------------------------------------------


def _score_chart(series: ScoreSeries, chart_id: str, target: float | None) -> str:
    width, height, left, right, top, bottom = 640, 260, 44, 16, 16, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    points = series.points
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}"'
        f' width="{width}" height="{height}" role="img" focusable="false"'
        f' aria-labelledby="{chart_id}-title {chart_id}-desc"'
        f' style="width: {width / 16:.2f}rem">',
        f'<title id="{chart_id}-title">Score over time</title>',
        f'<desc id="{chart_id}-desc">{_e(series.accessible_text)}.</desc>',
    ]

    def y_of(score: float) -> float:
        return top + plot_h * (1 - score / 100)

    for tick in (0, 25, 50, 75, 100):
        y = y_of(tick)
        parts.append(
            f'<line class="axis" x1="{left}" y1="{y:.1f}" x2="{width - right}"'
            f' y2="{y:.1f}" stroke-opacity="0.3"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="12"'
            f' text-anchor="end">{tick}</text>'
        )
    if target is not None:
        y = y_of(target)
        parts.append(
            f'<line class="chart-target" x1="{left}" y1="{y:.1f}"'
            f' x2="{width - right}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text x="{width - right}" y="{y - 4:.1f}" font-size="12"'
            f' text-anchor="end">target {_e(score_display(target))}</text>'
        )
    if points:
        start = points[0].at
        span = (points[-1].at - start).total_seconds()
        coords = []
        for i, point in enumerate(points):
            if span > 0:
                share = (point.at - start).total_seconds() / span
            else:
                share = (i + 1) / (len(points) + 1)
            coords.append((left + plot_w * share, y_of(point.score)))
        if len(coords) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            parts.append(f'<polyline class="chart-line" points="{path}"/>')
        for (x, y), point in zip(coords, points, strict=True):
            parts.append(
                f'<circle class="chart-point" cx="{x:.1f}" cy="{y:.1f}" r="5">'
                f"<title>{_e(point.accessible_text)}</title></circle>"
            )
        parts.append(
            f'<text x="{left}" y="{height - 10}" font-size="12">'
            f"{_e(_date_text(points[0].at))}</text>"
        )
        parts.append(
            f'<text x="{width - right}" y="{height - 10}" font-size="12"'
            f' text-anchor="end">{_e(_date_text(points[-1].at))}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _table(
    caption: str,
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    row_headers: bool = True,
) -> str:
    """A captioned table of HTML cells; with ``row_headers`` each row's first
    cell heads its row, so a screen reader names the row it reads."""
    head = "".join(f'<th scope="col">{_e(h)}</th>' for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<th scope="row">{cell}</th>'
            if i == 0 and row_headers
            else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return (
        f'<div class="table-wrap"><table><caption>{_e(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _series_table(series: ScoreSeries, caption: str) -> str:
    if not series.points:
        return f"<p>{_e(series.accessible_text)}.</p>"
    return _table(
        caption,
        ("When", "Step", "Score"),
        (
            (_e(_datetime_text(p.at)), _e(p.step_title), _e(score_display(p.score)))
            for p in series.points
        ),
        row_headers=False,
    )


def _ring(figure: Figure) -> str:
    """The circular progress indicator of the dashboard, static."""
    radius = 40
    circumference = 2 * 3.141592653589793 * radius
    share = max(0.0, min(1.0, figure.value / 100))
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100" width="100"'
        ' height="100" role="img" focusable="false" aria-labelledby="ring-title"'
        ' style="width: 6.25rem">'
        f'<title id="ring-title">{_e(figure.accessible_text)}</title>'
        f'<circle class="ring-track" cx="50" cy="50" r="{radius}"/>'
        f'<circle class="ring-value" cx="50" cy="50" r="{radius}"'
        f' stroke-dasharray="{circumference * share:.1f} {circumference:.1f}"'
        ' transform="rotate(-90 50 50)"/>'
        f'<text x="50" y="56" font-size="18" text-anchor="middle"'
        f' font-weight="bold">{_e(figure.display)}</text>'
        "</svg>"
    )


# -- student report --------------------------------------------------------------------


def _assignment_section(detail: AssignmentDetail, index: int) -> list[str]:
    section = [
        f'<section aria-labelledby="assignment-{index}">',
        f'<h2 id="assignment-{index}">{_e(detail.title)}</h2>',
        f'<p class="figure">{_figure(detail.completion)}</p>',
    ]
    if detail.due_at is not None:
        section.append(f"<p>Due {_e(_date_text(detail.due_at))}.</p>")
    segments = "".join(
        f'<li class="segment-{_e(s.state.value)}">'
        f'<span aria-hidden="true">{_e(s.symbol)}</span> {_e(s.title)}: '
        f"{_e(s.label)}{' (optional)' if s.optional else ''}</li>"
        for s in detail.progress_bar
    )
    section.append(
        f'<ol class="segments" aria-label="Steps of {_e(detail.title)}">{segments}</ol>'
    )
    if detail.next_up is not None:
        section.append(
            f"<p><strong>Next up:</strong> {_e(detail.next_up.accessible_text)}.</p>"
        )
    section.append("<h3>Steps</h3>")
    for card in detail.step_cards:
        best = _figure(card.best_score, "no attempts yet")
        note = (
            f"<dt>Completed</dt><dd>{_e(card.completion_note)}</dd>"
            if card.completion_note
            else ""
        )
        section.append(
            "<details>"
            f"<summary>Step {card.position}: {_e(card.title)}, "
            f"{_e(card.state_label)}</summary>"
            f'<p class="visually-hidden">{_e(card.accessible_text)}</p>'
            '<dl aria-hidden="true">'
            f"<dt>Stage</dt><dd>{_e(card.stage.value)}"
            f"{' (optional)' if card.optional else ''}</dd>"
            f"<dt>Best score</dt><dd>{best}</dd>"
            f"<dt>Target</dt><dd>{_e(card.target.display)}</dd>"
            f"<dt>Attempts</dt><dd>{_e(card.attempts.display)}</dd>"
            f"<dt>Time spent</dt><dd>{_e(card.time_spent.display)}</dd>"
            f"<dt>Mastery</dt><dd>{_e(card.mastery_symbol)} "
            f"{_e(card.mastery_label)}</dd>{note}"
            "</dl></details>"
        )
    section.append("<h3>Score over time</h3>")
    targets = {c.target.value for c in detail.step_cards}
    target = targets.pop() if len(targets) == 1 else None
    section.append(_score_chart(detail.score_series, f"chart-{index}", target))
    section.append(_series_table(detail.score_series, f"Scores in {detail.title}"))
    section.append("<h3>Time</h3>")
    section.append(
        f"<p>{_e(detail.time_summary.total.accessible_text)}. "
        f"{_e(detail.time_summary.average_per_step.accessible_text)}.</p>"
    )
    section.append("</section>")
    return section


def render_student_report_html(view: StudentReport) -> str:
    """A student's report as a self-contained page, with score charts in SVG.

    >>> from datetime import datetime, UTC
    >>> from mlc_progress._views import student_report
    >>> page = render_student_report_html(
    ...     student_report("u1", [], as_of=datetime(2026, 9, 1, tzinfo=UTC)))
    >>> page.startswith("<!DOCTYPE html>"), "<script" in page
    (True, False)
    """
    d = view.dashboard
    body = [
        f"<h1>Progress of {_e(d.student_name)}</h1>",
        f"<p>As of {_e(_date_text(d.as_of))}.</p>",
        '<section aria-labelledby="overview">',
        '<h2 id="overview">Overview</h2>',
        _ring(d.completion),
        f"<p>{_e(d.completion.accessible_text)}.</p>",
        f"<p>{_e(d.streak.accessible_text)}.</p>",
    ]
    if d.next_step is not None:
        body.append(
            f"<p><strong>{_e(d.next_step.action_label)}:</strong> "
            f"{_e(d.next_step.accessible_text)}.</p>"
        )
    if d.mastery_badges:
        badges = "".join(
            f'<li><span aria-hidden="true">{_e(b.symbol)}</span> '
            f"{_e(b.accessible_text)}</li>"
            for b in d.mastery_badges
        )
        body.append(f"<h3>Mastered concepts</h3><ul>{badges}</ul>")
    if d.recent_activity:
        items = "".join(f"<li>{_e(a.accessible_text)}</li>" for a in d.recent_activity)
        body.append(f"<h3>Recent activity</h3><ol>{items}</ol>")
    body.append("</section>")
    for i, detail in enumerate(view.assignments, start=1):
        body.extend(_assignment_section(detail, i))
    return _page(f"Progress of {d.student_name}", body)


def _estimate(when: datetime | None) -> str:
    return "none" if when is None else _date_text(when)


# -- teacher: student detail -----------------------------------------------------------


def render_student_detail_html(view: StudentDetail) -> str:
    """The teacher's student detail as a self-contained page.

    >>> from datetime import datetime, UTC
    >>> from mlc_progress._views import student_detail
    >>> page = render_student_detail_html(
    ...     student_detail("u1", [], as_of=datetime(2026, 9, 1, tzinfo=UTC)))
    >>> "Not flagged at risk" in page
    True
    """
    rows = [
        (
            _e(r.title),
            _figure(r.completion),
            _figure(r.mastery),
            _badge(r.badge),
            _e(_estimate(r.estimated_completion_date)),
        )
        for r in view.assignments
    ]
    heat = "".join(
        f'<li class="badge" style="background: {_HEAT_FILLS[c.intensity]};'
        f' color: {_HEAT_TEXT[c.intensity]}">'
        f'<span aria-hidden="true">{_e(c.symbol)}</span> {_e(c.accessible_text)}</li>'
        for c in view.mastery_heatmap
    )
    struggles = "".join(f"<li>{_e(s.accessible_text)}</li>" for s in view.struggles)
    interventions = "".join(
        f"<li>{_e(_datetime_text(i.at))}: {_e(i.text)}</li>" for i in view.interventions
    )
    timeline = "".join(
        f"<li>{_e(_datetime_text(t.at))}: {_e(t.text)}</li>" for t in view.timeline
    )
    body = [
        f"<h1>{_e(view.student_name)}</h1>",
        f"<p>As of {_e(_date_text(view.as_of))}. {_e(view.risk.accessible_text)}.</p>",
        _table(
            "Assignments",
            ("Assignment", "Completion", "Mastery", "Status", "Estimated finish"),
            rows,
        ),
        "<h2>Mastery by concept</h2>",
        f'<ul class="segments">{heat}</ul>' if heat else "<p>No concepts yet.</p>",
        "<h2>Struggle indicators</h2>",
        f"<ul>{struggles}</ul>" if struggles else "<p>None.</p>",
        "<h2>Interventions</h2>",
        f"<ol>{interventions}</ol>" if interventions else "<p>None.</p>",
        "<h2>Score over time</h2>",
        _score_chart(view.score_series, "detail-chart", None),
        _series_table(view.score_series, f"Scores of {view.student_name}"),
        "<h2>Timeline</h2>",
        f"<ol>{timeline}</ol>" if timeline else "<p>No activity yet.</p>",
    ]
    return _page(f"{view.student_name}: progress detail", body)


# -- admin and parent ------------------------------------------------------------------


def _list(items: Sequence[str]) -> str:
    return "<ul>" + "".join(f"<li>{_e(i)}</li>" for i in items) + "</ul>"


def render_organization_html(view: OrganizationDashboardView) -> str:
    """The organization dashboard as a self-contained page.

    >>> from datetime import datetime, UTC
    >>> from mlc_progress._rollups import organization_dashboard
    >>> from mlc_progress._views import organization_dashboard_view
    >>> board = organization_dashboard([], organization_id="org",
    ...                                as_of=datetime(2026, 9, 1, tzinfo=UTC))
    >>> "0 students" in render_organization_html(organization_dashboard_view(board))
    True
    """
    classes = [
        (
            _e(c.class_name),
            _figure(c.students),
            _figure(c.completion_rate),
            _figure(c.average_mastery),
            _figure(c.at_risk),
        )
        for c in view.classes
    ]
    content = [
        (
            _e(c.title),
            _e(c.kind),
            str(c.students),
            _figure(c.completion_rate),
            _figure(c.average_completion),
        )
        for c in view.content
    ]
    body = [
        f"<h1>Organization {_e(view.organization_id)}</h1>",
        f"<p>As of {_e(_date_text(view.as_of))}.</p>",
        "<h2>Aggregate metrics</h2>",
        _list(_aggregate_lines(view)),
        "<h2>Trends</h2>",
        _list([t.accessible_text for t in view.trends]),
        "<h2>Class comparison</h2>",
        _table(
            "Classes side by side",
            ("Class", "Students", "Completion rate", "Average mastery", "At risk"),
            classes,
        ),
        "<h2>Content effectiveness</h2>",
        _table(
            "Highest completion first",
            ("Content", "Kind", "Students", "Completion rate", "Average completion"),
            content,
        ),
        "<h2>Engagement</h2>",
        _list(_engagement_lines(view)),
    ]
    return _page(f"Organization {view.organization_id}: progress", body)


def render_parent_report_html(view: ParentReport) -> str:
    """The parent report as a self-contained page, in plain words.

    >>> from datetime import datetime, UTC
    >>> from mlc_progress import StudentProgressSummary
    >>> from mlc_progress._views import parent_report
    >>> s = StudentProgressSummary(student_id="u1", organization_id="o")
    >>> page = render_parent_report_html(parent_report(
    ...     "u1", summary=s, assignments=[], as_of=datetime(2026, 9, 1, tzinfo=UTC)))
    >>> "Progress report for u1" in page
    True
    """
    body = [
        f"<h1>Progress report for {_e(view.student_name)}</h1>",
        f"<p>{_e(_date_text(view.as_of))}</p>",
        "".join(f"<p>{_e(line)}</p>" for line in view.headline),
    ]
    if view.assignments:
        body.append("<h2>Assignments</h2>")
        body.append(_list([line.text for line in view.assignments]))
    if view.suggestions:
        body.append("<h2>How you can help</h2>")
        body.append(_list(view.suggestions))
    return _page(f"Progress report for {view.student_name}", body)
