"""The OULAD example: real data through the service and the batch runner.

``examples/oulad_at_risk.py`` runs on the smallest real presentation and on a
hand-made subset of the CSV tables whose every flag is known in advance. The
real data lives in ``../shared/data/oulad`` beside the checkout (CI has it
there too); without it these tests fail, saying where it was looked for.
"""

from __future__ import annotations

import csv
import importlib
import re
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "oulad"
PRESENTATION = "AAA-2014J"  # the smallest: 365 students
DAY = 60


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``examples/oulad_at_risk.py``, imported with ``examples/`` on the path."""
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    return importlib.import_module("oulad_at_risk")


def _data() -> Path:
    if not (DATA / "studentAssessment.csv").is_file():
        pytest.fail(
            f"the OULAD tables are not in {DATA}: put the CSV files of"
            " shared/data/oulad (see its README.md) there, beside the checkout",
            pytrace=False,
        )
    return DATA


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


_ROW = re.compile(
    r"^  (flagged at risk|not flagged|all followed)\s+"
    r"(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+) \((\d+\.\d)%\)$"
)


def _table(text: str) -> dict[str, list[int]]:
    """The outcome table: label to Pass, Distinction, Fail, Withdrawn, total,
    failed or withdrew."""
    found = {}
    for line in text.splitlines():
        match = _ROW.match(line)
        if match:
            found[match[1]] = [int(match[i]) for i in range(2, 8)]
    assert set(found) == {"flagged at risk", "not flagged", "all followed"}, text
    return found


def _header_counts(text: str) -> dict[str, int]:
    match = re.search(
        r"registered: (\d+); withdrew on or before day \d+: (\d+) \(left out\);"
        r" registered after day \d+: (\d+) \(left out\); followed: (\d+)",
        text,
    )
    assert match is not None, text
    keys = ("registered", "withdrawn", "later", "followed")
    return dict(zip(keys, (int(g) for g in match.groups()), strict=True))


def test_one_real_presentation_adds_up(
    example: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a real presentation: every registered student is followed or left
    out, the table's rows and columns add up, every flagged student is
    listed with D17 factors, and the counts match the CSV tables."""
    data = _data()
    assert (
        example.main(
            [
                "--presentation",
                PRESENTATION,
                "--day",
                str(DAY),
                "--limit",
                "0",
                "--data",
                str(data),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    module, presentation = PRESENTATION.split("-")
    info = [
        r
        for r in _rows(data / "studentInfo.csv")
        if (r["code_module"], r["code_presentation"]) == (module, presentation)
    ]
    gone = [
        r
        for r in _rows(data / "studentRegistration.csv")
        if (r["code_module"], r["code_presentation"]) == (module, presentation)
        and r["date_unregistration"] not in ("", "?")
        and int(r["date_unregistration"]) <= DAY
    ]
    header = _header_counts(text)
    assert header["registered"] == len(info)
    assert header["withdrawn"] == len(gone)
    assert header["registered"] == (
        header["withdrawn"] + header["later"] + header["followed"]
    )

    table = _table(text)
    flagged, calm, every = (
        table["flagged at risk"],
        table["not flagged"],
        table["all followed"],
    )
    assert [a + b for a, b in zip(flagged, calm, strict=True)] == every
    for row in table.values():
        assert sum(row[:4]) == row[4]
        assert row[2] + row[3] == row[5]
    assert every[4] == header["followed"]
    results = Counter(r["final_result"] for r in info)
    gone_ids = {r["id_student"] for r in gone}
    followed_results = Counter(
        r["final_result"] for r in info if r["id_student"] not in gone_ids
    )
    assert every[:4] == [
        followed_results[k] for k in ("Pass", "Distinction", "Fail", "Withdrawn")
    ]
    assert sum(results.values()) == len(info)

    listed = re.findall(
        r"^  (\d+)\s+(Pass|Distinction|Fail|Withdrawn)\s+(\S.*)$", text, re.MULTILINE
    )
    assert (
        len(listed)
        == flagged[4]
        == int(
            re.search(r"At risk on day \d+: (\d+) students", text)[1]  # type: ignore[index]
        )
    )
    factor = re.compile(
        r"^(behind_pace_\d+_percent|low_mastery_avg_\d+|inactive_\d+_days"
        r"|stuck_on_step_\d+_attempts|inconsistent_scores_cv_\d+)$"
    )
    for _, _, factors in listed:
        assert all(factor.match(f) for f in factors.split(", ")), factors
    assert "(precision)" in text
    assert "(recall)" in text


def test_the_limit_shortens_the_list_only(
    example: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--limit 3`` lists three flagged students and says how many more."""
    data = _data()
    example.main(["--presentation", PRESENTATION, "--limit", "3", "--data", str(data)])
    text = capsys.readouterr().out
    flagged = _table(text)["flagged at risk"][4]
    listed = re.findall(
        r"^  \d+\s+(?:Pass|Distinction|Fail|Withdrawn)\s", text, re.MULTILINE
    )
    assert len(listed) == 3
    assert f"... and {flagged - 3} more (--limit 0 lists all)" in text


def test_an_unknown_presentation_is_refused(
    example: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown presentation exits with 2 and names the known ones."""
    data = _data()
    assert example.main(["--presentation", "ZZZ-2099J", "--data", str(data)]) == 2
    assert PRESENTATION in capsys.readouterr().err


# -- a subset with known answers --------------------------------------------------------


def _write(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture
def subset(tmp_path: Path) -> Path:
    """A presentation ZZZ-2014J of 100 days: TMAs due on days 10 and 30
    (weight 40 each) and an exam; five students.

    - ``1`` scores 80 and 90 and passes;
    - ``2`` submits nothing and fails;
    - ``3`` scores 45 and 50 and withdraws later;
    - ``4`` withdraws on day 5; ``5`` registers on day 50.
    """
    _write(
        tmp_path / "courses.csv",
        ["code_module", "code_presentation", "module_presentation_length"],
        [["ZZZ", "2014J", 100]],
    )
    _write(
        tmp_path / "assessments.csv",
        [
            "code_module",
            "code_presentation",
            "id_assessment",
            "assessment_type",
            "date",
            "weight",
        ],
        [
            ["ZZZ", "2014J", 901, "TMA", 10, 40],
            ["ZZZ", "2014J", 902, "TMA", 30, 40],
            ["ZZZ", "2014J", 903, "Exam", "", 100],
        ],
    )
    _write(
        tmp_path / "studentAssessment.csv",
        ["id_student", "id_assessment", "date_submitted", "is_banked", "score"],
        [
            [1, 901, 9, 0, 80],
            [1, 902, 29, 0, 90],
            [3, 901, 10, 0, 45],
            [3, 902, 30, 0, 50],
            [4, 901, 3, 0, "?"],
            [1, 903, 95, 0, 70],
        ],
    )
    _write(
        tmp_path / "studentInfo.csv",
        ["code_module", "code_presentation", "id_student", "final_result"],
        [
            ["ZZZ", "2014J", i, r]
            for i, r in (
                (1, "Pass"),
                (2, "Fail"),
                (3, "Withdrawn"),
                (4, "Withdrawn"),
                (5, "Pass"),
            )
        ],
    )
    _write(
        tmp_path / "studentRegistration.csv",
        [
            "code_module",
            "code_presentation",
            "id_student",
            "date_registration",
            "date_unregistration",
        ],
        [
            ["ZZZ", "2014J", 1, -10, "?"],
            ["ZZZ", "2014J", 2, -5, "?"],
            ["ZZZ", "2014J", 3, -3, 70],
            ["ZZZ", "2014J", 4, -8, 5],
            ["ZZZ", "2014J", 5, 50, "?"],
        ],
    )
    return tmp_path


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_a_known_subset_gives_the_expected_flags(
    example: ModuleType, subset: Path, capsys: pytest.CaptureFixture[str], store: str
) -> None:
    """On day 40 with 14 days of inactivity allowed: the student with nothing
    submitted is behind pace by 41 points and inactive for 40 days, the one
    averaging 47.5 has low mastery, the one who passes is not flagged; the
    early leaver and the late registration are left out."""
    assert (
        example.main(
            [
                "--presentation",
                "ZZZ-2014J",
                "--day",
                "40",
                "--inactive-days",
                "14",
                "--data",
                str(subset),
                "--store",
                store,
                "--limit",
                "0",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert _header_counts(text) == {
        "registered": 5,
        "withdrawn": 1,
        "later": 1,
        "followed": 3,
    }
    assert "submissions applied: 4;" in text
    assert re.findall(r"^  (\d)\s+(\w+)\s+(\S.*)$", text, re.MULTILINE) == [
        ("2", "Fail", "behind_pace_41_percent, inactive_40_days"),
        ("3", "Withdrawn", "low_mastery_avg_48"),
    ]
    table = _table(text)
    assert table["flagged at risk"] == [0, 0, 1, 1, 2, 2]
    assert table["not flagged"] == [1, 0, 0, 0, 1, 0]
    assert "Of the flagged, 100.0% went on to fail or withdraw (precision)" in text
    kinds = re.findall(r"^  (\w+)\s+(\d+) flagged, (\S+) failed", text, re.MULTILINE)
    assert kinds == [
        ("engagement", "1", "100.0%"),
        ("mastery", "1", "100.0%"),
        ("pacing", "1", "100.0%"),
    ]


def test_the_inactivity_threshold_follows_the_assessment_calendar(
    example: ModuleType, subset: Path
) -> None:
    """Without ``--inactive-days``: 7 days beyond the longest interval between
    cut-offs begun by the day (here 30 to the exam at 100, from day 30)."""
    oulad = importlib.import_module("oulad")
    presentation = oulad.load(subset)["ZZZ-2014J"]
    assert example.inactive_days_for(presentation, 20) == 7 + 20
    assert example.inactive_days_for(presentation, 40) == 7 + 70
