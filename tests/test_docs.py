"""Every ```python block of the README and of docs/*.md runs, and the reference is whole.

Each Markdown file is one test: its blocks run in order in one shared namespace,
so a later block uses names an earlier one defined. A block whose info string is
``python no-run`` is skipped on purpose (see docs/reference.md); blocks in other
languages (sh, toml, json, text) are never run. Claims in the docs are ``assert``
statements inside the blocks, so a wrong number fails here.
"""

from __future__ import annotations

import importlib
import re
import traceback
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
MARKDOWN_FILES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
REFERENCE = DOCS / "reference.md"

# CommonMark fences: three or more backticks or tildes; the info string follows.
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_CODE_SPAN = re.compile(r"`+([^`]+?)`+")
_LEADING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class CodeBlock(NamedTuple):
    """One fenced block: where it starts and what it holds."""

    path: Path
    line: int  # 1-based line number of the opening fence
    language: str
    flags: tuple[str, ...]
    source: str

    @property
    def runs(self) -> bool:
        return self.language == "python" and "no-run" not in self.flags


def code_blocks(path: Path) -> list[CodeBlock]:
    """The fenced code blocks of a Markdown file, in order.

    Content lines lose the opening fence's indentation, so blocks nested in
    list items run too. An unclosed fence runs to the end of the file, as in
    CommonMark.
    """
    blocks: list[CodeBlock] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        fence = opening["fence"]
        info = opening["info"].strip()
        if fence[0] == "`" and "`" in info:
            # Not a fence: a backtick info string cannot hold a backtick.
            i += 1
            continue
        indent = len(opening["indent"])
        words = info.split()
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines):
            stripped = lines[i].strip()
            if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(
                fence[0]
            ):
                break
            body.append(_dedent(lines[i], indent))
            i += 1
        i += 1  # past the closing fence
        blocks.append(
            CodeBlock(
                path=path,
                line=start + 1,
                language=words[0].lower() if words else "",
                flags=tuple(words[1:]),
                source="\n".join(body) + "\n",
            )
        )
    return blocks


def _dedent(line: str, indent: int) -> str:
    removable = len(line) - len(line.lstrip(" "))
    return line[min(indent, removable) :]


def run_blocks(path: Path) -> int:
    """Run the runnable blocks of ``path`` in one namespace; return how many ran.

    A failing block fails the test with the file, the block's line and the
    traceback. Code is compiled under the Markdown file's name with its own
    line numbers, so the traceback points at the Markdown line that failed.
    """
    try:
        shown = path.relative_to(ROOT)
    except ValueError:
        shown = path
    namespace: dict[str, object] = {"__name__": f"docs.{path.stem}"}
    ran = 0
    for block in code_blocks(path):
        if not block.runs:
            continue
        # Pad with blank lines so line numbers in the traceback are the file's.
        padded = "\n" * block.line + block.source
        failure: str | None = None
        try:
            code = compile(padded, str(path), "exec")
            exec(code, namespace)
        except Exception as exc:
            # Drop this runner's own frame: the traceback starts in the block.
            tb = exc.__traceback__.tb_next if exc.__traceback__ else None
            failure = "".join(traceback.format_exception(type(exc), exc, tb))
        if failure is not None:
            pytest.fail(
                f"{shown}: the python block at line {block.line} failed:\n{failure}",
                pytrace=False,
            )
        ran += 1
    return ran


@pytest.mark.parametrize("path", MARKDOWN_FILES, ids=[p.name for p in MARKDOWN_FILES])
def test_markdown_code_blocks_run(path: Path) -> None:
    """Every python block of the file runs, in order, without error."""
    run_blocks(path)


@pytest.mark.parametrize(
    "module",
    [
        "mlc_progress",
        "mlc_progress.views",
        "mlc_progress.batch",
        "mlc_progress.columnar",
        "mlc_progress.dask",
        "mlc_progress.adapters",
        "mlc_progress.testing.contract",
        "mlc_progress.testing.synthetic",
        "mlc_progress.cli",
    ],
)
def test_reference_names_every_public_name(module: str) -> None:
    """Every name in a public module's ``__all__`` is in docs/reference.md in
    backticks."""
    text = REFERENCE.read_text(encoding="utf-8")
    documented: set[str] = set()
    for span in _CODE_SPAN.findall(text):
        name = _LEADING_NAME.match(span.strip())
        if name is not None:
            documented.add(name.group())
    public = importlib.import_module(module).__all__
    missing = sorted(set(public) - documented)
    assert missing == [], f"docs/reference.md does not mention {missing}"


def test_failing_block_reports_file_and_line(tmp_path: Path) -> None:
    """A failing block names its file and the line of its opening fence."""
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n"
        "\n"
        "```python\n"
        "x = 1\n"
        "```\n"
        "\n"
        "```python no-run\n"
        "raise RuntimeError('not run')\n"
        "```\n"
        "\n"
        "```sh\n"
        "exit 1\n"
        "```\n"
        "\n"
        "```python\n"
        "assert x == 2, 'x is 1'\n"
        "```\n",
        encoding="utf-8",
    )
    with pytest.raises(pytest.fail.Exception) as failure:
        run_blocks(page)
    message = str(failure.value)
    assert f"{page}: the python block at line 15 failed" in message
    assert f'File "{page}", line 16' in message
    assert "AssertionError: x is 1" in message


def test_blocks_share_a_namespace_and_skip_no_run(tmp_path: Path) -> None:
    """Later blocks see earlier names; ``no-run`` and other languages do not run."""
    page = tmp_path / "page.md"
    page.write_text(
        "- a list item\n"
        "\n"
        "  ```python\n"
        "  total = 40\n"
        "  ```\n"
        "\n"
        "~~~~python no-run\n"
        "total = None\n"
        "~~~~\n"
        "\n"
        "```text\n"
        "total = 'text'\n"
        "```\n"
        "\n"
        "```python\n"
        "total += 2\n"
        "assert total == 42\n"
        "```\n",
        encoding="utf-8",
    )
    blocks = code_blocks(page)
    assert [(b.line, b.language, b.flags) for b in blocks] == [
        (3, "python", ()),
        (7, "python", ("no-run",)),
        (11, "text", ()),
        (15, "python", ()),
    ]
    assert run_blocks(page) == 2
