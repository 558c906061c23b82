"""HTML of the role views: escaped, well formed, self-contained, accessible."""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlc_progress._html import (
    render_class_overview_html,
    render_organization_html,
    render_parent_report_html,
    render_student_detail_html,
    render_student_report_html,
)
from mlc_progress._views import Directory, SortKey, class_overview, sort_rows
from tests.test_views import AS_OF, SCRIPT, WORLD, every_view, overview

VOID = {
    "meta",
    "link",
    "br",
    "hr",
    "img",
    "input",
    "col",
    "area",
    "base",
    "wbr",
    "source",
}


class StrictParser(HTMLParser):
    """Collects the problems a browser would silently repair."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.doctype = False
        self.text: list[str] = []

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl.lower() == "doctype html"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            self.problems.append(f"end tag for void element {tag}")
        elif not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> StrictParser:
    parser = StrictParser()
    parser.feed(page)
    parser.close()
    return parser


RENDERERS: list[tuple[str, Callable[[Any], str]]] = [
    ("StudentReport", render_student_report_html),
    ("ClassOverview", render_class_overview_html),
    ("StudentDetail", render_student_detail_html),
    ("OrganizationDashboardView", render_organization_html),
    ("ParentReport", render_parent_report_html),
]


def pages() -> list[tuple[str, str]]:
    views = {type(v).__name__: v for v in every_view()}
    return [(name, render(views[name])) for name, render in RENDERERS]


PAGES = pages()


@pytest.mark.parametrize(("name", "page"), PAGES, ids=[n for n, _ in PAGES])
def test_pages_are_well_formed(name: str, page: str) -> None:
    """Every element is closed in order, with a doctype, one html element and a language."""
    parser = parse(page)
    assert parser.doctype
    assert parser.problems == []
    assert parser.stack == []
    assert [t for t, _ in parser.tags].count("html") == 1
    assert parser.tags[0] == ("html", {"lang": "en"})


@pytest.mark.parametrize(("name", "page"), PAGES, ids=[n for n, _ in PAGES])
def test_ids_are_unique_and_every_reference_resolves(name: str, page: str) -> None:
    """Element ids are unique, and aria-labelledby and url(#...) point at real ids."""
    parser = parse(page)
    ids = [a["id"] for _, a in parser.tags if a.get("id")]
    assert len(ids) == len(set(ids))
    for _, attributes in parser.tags:
        for ref in (attributes.get("aria-labelledby") or "").split():
            assert ref in ids
    assert set(re.findall(r"url\(#([^)]+)\)", page)) <= set(ids)


@pytest.mark.parametrize(("name", "page"), PAGES, ids=[n for n, _ in PAGES])
def test_pages_run_nothing_and_load_nothing(name: str, page: str) -> None:
    """No script, no event handler, no external resource: the file stands alone."""
    assert "<script" not in page.lower()
    parser = parse(page)
    for tag, attributes in parser.tags:
        assert tag not in {"script", "link", "iframe", "img", "object", "embed"}
        assert not any(a.startswith("on") for a in attributes), (tag, attributes)
        assert "src" not in attributes
        assert not (attributes.get("href") or "#").startswith(
            ("http", "//", "javascript")
        )
    urls = set(re.findall(r"https?://[^\s\"')]+", page))
    assert urls <= {"http://www.w3.org/2000/svg"}


@pytest.mark.parametrize(("name", "page"), PAGES, ids=[n for n, _ in PAGES])
def test_pages_honour_contrast_zoom_and_motion_settings(name: str, page: str) -> None:
    """Styles for forced colours, more contrast and reduced motion; no animation; text in rem."""
    assert "@media (forced-colors: active)" in page
    assert "@media (prefers-contrast: more)" in page
    assert "@media (prefers-reduced-motion: reduce)" in page
    assert "@keyframes" not in page
    assert "<animate" not in page
    assert "transition:" not in page.replace("transition: none", "")
    sizes = re.findall(r"font-size:\s*([0-9.]+)([a-z%]*)", page)
    assert sizes
    assert {unit for _, unit in sizes} <= {"rem", "%"}
    assert 'name="viewport"' in page


def test_a_student_called_script_renders_as_text() -> None:
    """Eve's name, <script>alert(1)</script>, appears escaped and as visible text."""
    page = render_class_overview_html(overview())
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert SCRIPT in "".join(parse(page).text)


def test_titles_with_quotes_and_ampersands_are_escaped() -> None:
    """A title with quotes, an ampersand and angle brackets cannot break an attribute."""
    page = render_class_overview_html(overview())
    assert "Fractions &amp; &quot;friends&quot; &lt;1&gt;" in page
    assert '"friends"' not in page
    assert "Class 5 &lt;b&gt;" in page


markup = (
    st.lists(
        st.sampled_from(
            [*"<>&\"'/= a", "script", "onload", "</", "-->", "<!--", "&amp;"]
        ),
        min_size=1,
        max_size=12,
    )
    .map("".join)
    .filter(lambda s: s.strip() != "")
)


@given(markup, markup, markup)
def test_any_name_stays_text(student: str, title: str, class_name: str) -> None:
    """Whatever characters names hold, the page stays well formed and shows them as text."""
    view = class_overview(
        "c1",
        students=["ada"],
        assignment_ids=["fractions-1"],
        progress=[p for p in WORLD.progress() if p.student_id == "ada"],
        as_of=AS_OF,
        directory=Directory(
            students={"ada": student},
            assignments={"fractions-1": title},
            classes={"c1": class_name},
        ),
    )
    page = render_class_overview_html(view)
    parser = parse(page)
    assert parser.problems == []
    assert parser.stack == []
    assert {t for t, _ in parser.tags} <= ALLOWED_TAGS
    text = "".join(parser.text)
    assert student in text
    assert title in text


ALLOWED_TAGS = {
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "main",
    "h1",
    "h2",
    "h3",
    "p",
    "ul",
    "ol",
    "li",
    "figure",
    "svg",
    "desc",
    "defs",
    "pattern",
    "circle",
    "line",
    "text",
    "g",
    "rect",
    "div",
    "table",
    "caption",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "span",
    "strong",
    "details",
    "summary",
    "dl",
    "dt",
    "dd",
    "section",
    "polyline",
}


def test_the_class_grid_is_an_svg_with_a_table_beside_it() -> None:
    """The grid SVG is an image with a title and a description; the table has scoped headers."""
    view = sort_rows(overview(), SortKey.COMPLETION, descending=True)
    parser = parse(render_class_overview_html(view))
    svgs = [a for t, a in parser.tags if t == "svg"]
    assert svgs[0]["role"] == "img"
    assert svgs[0]["aria-labelledby"] == "grid-title grid-desc"
    ids = {a.get("id") for _, a in parser.tags}
    assert {"grid-title", "grid-desc"} <= ids
    cols = [a for t, a in parser.tags if t == "th" and a.get("scope") == "col"]
    rows = [a for t, a in parser.tags if t == "th" and a.get("scope") == "row"]
    assert len(cols) == len(view.columns) + 5
    assert len(rows) == len(view.rows)
    cells = [a for t, a in parser.tags if t == "rect" and a.get("class") == "cell-fill"]
    assert len(cells) == len(view.rows) * len(view.columns)


def test_grid_status_is_written_not_only_coloured() -> None:
    """Each cell's status label and symbol appear as text in the SVG and in the table."""
    view = overview()
    page = render_class_overview_html(view)
    text = "".join(parse(page).text)
    for row in view.rows:
        for cell in row.cells:
            assert cell.accessible_text in text  # the cell's <title>
            assert text.count(cell.badge.label) >= 2


def test_the_student_report_has_a_score_chart_per_assignment() -> None:
    """One point per attempt, each with a title; a table of the same scores; a progress ring."""
    report = every_view()[0]
    parser = parse(render_student_report_html(report))
    points = [
        a for t, a in parser.tags if t == "circle" and a.get("class") == "chart-point"
    ]
    assert len(points) == sum(len(d.score_series.points) for d in report.assignments)
    charts = [
        a
        for t, a in parser.tags
        if t == "svg" and (a.get("aria-labelledby") or "").startswith("chart-")
    ]
    assert len(charts) == len(report.assignments)
    assert any(a.get("class") == "ring-value" for _, a in parser.tags)
    summaries = [t for t, _ in parser.tags if t == "summary"]
    assert len(summaries) == sum(len(d.step_cards) for d in report.assignments)
    text = "".join(parser.text)
    assert report.dashboard.completion.accessible_text in text
