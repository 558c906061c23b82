"""The HTML report in a real browser: headless Chromium (Debian's ``chromium``)
loads it without errors, shows the grid, and runs no injected script."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner

from mlc_progress import unstructure
from mlc_progress._cli_support import Database
from mlc_progress.cli import cli

AS_OF = "2026-11-02T09:00:00+00:00"
SCRIPT = "<script>alert(1)</script>"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
)


def chromium() -> str:
    """The browser's path; the test fails (never skips) without it."""
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if found is None:
        pytest.fail("install Debian's chromium (apt-get install chromium)")
    return found


def browse(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Open ``page`` in headless Chromium with a throwaway profile."""
    return subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def console_lines(stderr: str) -> list[str]:
    """What the page logged or threw (Chromium prints it as CONSOLE lines)."""
    return [line for line in stderr.splitlines() if "CONSOLE" in line]


def png_size(path: Path) -> tuple[int, int]:
    width, height = struct.unpack(">II", path.read_bytes()[16:24])
    return width, height


def cli_ok(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HTML report of a demo class with a student named like a script."""
    folder = tmp_path_factory.mktemp("browser")
    db = str(folder / "demo.sqlite")
    cli_ok(
        "demo",
        "--db",
        db,
        "--classes",
        "1",
        "--students",
        "4",
        "--as-of",
        AS_OF,
        "--out",
        str(folder / "demo.html"),
    )
    with Database(db) as database:
        klass = database.classes("demo-org").class_("class-1")
    renamed = attrs.evolve(
        klass,
        students=(attrs.evolve(klass.students[0], name=SCRIPT), *klass.students[1:]),
    )
    lines = folder / "rename.jsonl"
    lines.write_text(json.dumps({"type": "class", **unstructure(renamed)}) + "\n")
    cli_ok("ingest", str(lines), "--db", db)
    page = folder / "class.html"
    cli_ok(
        "report",
        "class",
        "class-1",
        "--format",
        "html",
        "--out",
        str(page),
        "--db",
        db,
        "--as-of",
        AS_OF,
    )
    return page


def test_the_report_loads_shows_the_grid_and_runs_no_script(
    report: Path, tmp_path: Path
) -> None:
    """Chromium loads the page without console errors; the DOM holds the SVG
    grid (4 students x 3 assignments) and the table; the script-like name is
    text, and no script element exists."""
    done = browse(report, tmp_path / "profile", "--dump-dom")
    dom = done.stdout
    assert dom.startswith("<!DOCTYPE html>\n<html"), done.stderr[-2000:]
    assert console_lines(done.stderr) == []
    assert 'aria-labelledby="grid-title grid-desc"' in dom
    assert "Progress grid of Class 1" in dom
    assert len(re.findall(r'<rect class="cell-fill"', dom)) == 12
    assert len(re.findall(r'<th scope="row">', dom)) == 4
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert "<script" not in dom.lower()


def test_the_harness_sees_a_script_that_runs(tmp_path: Path) -> None:
    """Control: a page whose script runs leaves a script element and a
    console line, so the checks above can fail."""
    page = tmp_path / "control.html"
    page.write_text(
        "<!DOCTYPE html><html><body><script>console.error('injected')</script>"
        "</body></html>",
        encoding="utf-8",
    )
    done = browse(page, tmp_path / "profile", "--dump-dom")
    assert "<script" in done.stdout
    assert any("injected" in line for line in console_lines(done.stderr))


def test_the_report_renders_at_200_percent_in_forced_colors(
    report: Path, tmp_path: Path
) -> None:
    """At 200 % (a 640-pixel window at scale 2), in forced high contrast and
    with reduced motion, the page renders to a screenshot without errors."""
    shot = tmp_path / "zoomed.png"
    done = browse(
        report,
        tmp_path / "profile",
        "--window-size=640,1400",
        "--force-device-scale-factor=2",
        "--force-high-contrast",
        "--force-prefers-reduced-motion",
        f"--screenshot={shot}",
    )
    assert shot.exists(), done.stderr[-2000:]
    assert png_size(shot) == (1280, 2800)
    assert console_lines(done.stderr) == []
