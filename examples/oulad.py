"""Load the Open University Learning Analytics Dataset into mlc_progress.

The mapping (also in docs/decisions.md): a module presentation is a class
and one assignment; each assessment is a step (TMA -> PLAY, CMA -> QUIZ,
Exam -> CHALLENGE), ordered by cut-off day, due at that day; a weight-0
assessment is optional (formative); the pass mark 40 is every step's target;
each scored submission is an attempt at noon of its day; a missing score is
skipped and counted; a banked result (carried over from an earlier
presentation) is an attempt like any other. Day 0 is the 1st of the
presentation's start month (``B`` = February, ``J`` = October). A student's
registration and unregistration days (``registered_day``,
``unregistered_day``) are kept where the dataset gives them, so a run as of
a day can leave out those not yet registered or already withdrawn.

Data: Kuzilek J., Hlosta M., Zdrahal Z. "Open University Learning Analytics
dataset", Scientific Data 4, 170171 (2017), CC BY 4.0.
"""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mlc_progress import AssignmentStructure, Attempt, Stage, StepDefinition

ORGANIZATION_ID = "open-university"
PASS_MARK = 40.0
_STAGES = {"TMA": Stage.PLAY, "CMA": Stage.QUIZ, "Exam": Stage.CHALLENGE}
_START_MONTH = {"B": 2, "J": 10}


def default_data_dir() -> Path:
    """``$MLC_OULAD_DIR``, else ``../shared/data/oulad`` beside the checkout."""
    env = os.environ.get("MLC_OULAD_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "oulad"


def presentation_start(code_presentation: str) -> datetime:
    """Day 0 of a presentation: ``2013J`` is 2013-10-01, ``2014B`` 2014-02-01."""
    return datetime(
        int(code_presentation[:4]), _START_MONTH[code_presentation[4]], 1, tzinfo=UTC
    )


@dataclass
class Presentation:
    """One module presentation: a class, its assignment and its students."""

    class_id: str
    structure: AssignmentStructure
    start: datetime
    final_results: dict[str, str] = field(default_factory=dict)
    registered_day: dict[str, int] = field(default_factory=dict)
    unregistered_day: dict[str, int] = field(default_factory=dict)
    attempts: dict[str, list[Attempt]] = field(
        default_factory=lambda: defaultdict(list)
    )
    skipped_missing_scores: int = 0

    def day(self, n: int) -> datetime:
        return self.start + timedelta(days=n)


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(newline="") as handle:
        yield from csv.DictReader(handle)


def load(data_dir: Path | None = None) -> dict[str, Presentation]:
    """Every presentation of the dataset, keyed by class id (``AAA-2013J``)."""
    base = data_dir or default_data_dir()
    lengths = {
        f"{r['code_module']}-{r['code_presentation']}": int(
            r["module_presentation_length"]
        )
        for r in _rows(base / "courses.csv")
    }
    by_class: dict[str, list[dict[str, str]]] = defaultdict(list)
    assessment_class: dict[str, str] = {}
    for r in _rows(base / "assessments.csv"):
        class_id = f"{r['code_module']}-{r['code_presentation']}"
        by_class[class_id].append(r)
        assessment_class[r["id_assessment"]] = class_id

    presentations: dict[str, Presentation] = {}
    for class_id, rows in by_class.items():
        start = presentation_start(class_id.split("-")[1])
        length = lengths[class_id]

        def cut_off(r: dict[str, str], length: int = length) -> int:
            return int(r["date"]) if r["date"] not in ("", "?") else length

        ordered = sorted(rows, key=lambda r: (cut_off(r), int(r["id_assessment"])))
        steps = tuple(
            StepDefinition(
                step_id=f"a{r['id_assessment']}",
                element_id=f"assessment-{r['id_assessment']}",
                stage=_STAGES[r["assessment_type"]],
                target_score=PASS_MARK,
                optional=float(r["weight"]) == 0.0,
                due_at=start + timedelta(days=cut_off(r), hours=23, minutes=59),
            )
            for r in ordered
        )
        structure = AssignmentStructure(
            assignment_id=class_id,
            steps=steps,
            created_at=start,
            due_at=start + timedelta(days=length),
        )
        presentations[class_id] = Presentation(
            class_id=class_id, structure=structure, start=start
        )

    for r in _rows(base / "studentInfo.csv"):
        class_id = f"{r['code_module']}-{r['code_presentation']}"
        presentations[class_id].final_results[r["id_student"]] = r["final_result"]
    for r in _rows(base / "studentRegistration.csv"):
        class_id = f"{r['code_module']}-{r['code_presentation']}"
        if r["date_registration"] not in ("", "?"):
            presentations[class_id].registered_day[r["id_student"]] = int(
                r["date_registration"]
            )
        if r["date_unregistration"] not in ("", "?"):
            presentations[class_id].unregistered_day[r["id_student"]] = int(
                r["date_unregistration"]
            )
    for r in _rows(base / "studentAssessment.csv"):
        p = presentations[assessment_class[r["id_assessment"]]]
        if r["score"] in ("", "?"):
            p.skipped_missing_scores += 1
            continue
        day = int(r["date_submitted"])
        p.attempts[r["id_student"]].append(
            Attempt(
                attempt_id=f"{r['id_student']}:{r['id_assessment']}",
                student_id=r["id_student"],
                assignment_id=p.class_id,
                step_id=f"a{r['id_assessment']}",
                score=float(r["score"]),
                attempted_at=p.day(day) + timedelta(hours=12),
                duration_ms=0,
                session_id=f"day-{day}",
            )
        )
    return presentations


if __name__ == "__main__":
    loaded = load()
    total = sum(len(a) for p in loaded.values() for a in p.attempts.values())
    print(f"{len(loaded)} presentations, {total} attempts")
