"""The columnar kernel on real learner data (OULAD, CC BY 4.0).

The smallest real presentation is stored through the service, each
student's history is read back as a batch run reads it, and the kernel's
figures are held to ``summarize_student``'s, figure for figure, on data
nobody here made: real timings, real gaps, real late submissions.
"""

from __future__ import annotations

import importlib
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import pytest

from mlc_progress import Policy
from mlc_progress._batch_runner import enroll, read_student_history
from mlc_progress._ports import Enrollment
from mlc_progress._rollups import summarize_student
from mlc_progress._service import ProgressService
from mlc_progress.adapters import FixedClock, InMemoryCatalog, InMemoryStore
from mlc_progress.columnar import StepColumns, summarize_columns

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "oulad"
PRESENTATION = "AAA-2014J"  # the smallest: 365 students


@pytest.fixture(scope="module")
def oulad() -> ModuleType:
    if not (DATA / "studentAssessment.csv").is_file():
        pytest.fail(
            f"the OULAD tables are not in {DATA}: put the CSV files of"
            " shared/data/oulad (see its README.md) there, beside the checkout",
            pytrace=False,
        )
    import sys

    sys.path.insert(0, str(ROOT / "examples"))
    try:
        return importlib.import_module("oulad")
    finally:
        sys.path.remove(str(ROOT / "examples"))


@pytest.mark.parametrize("day", [30, 120, 240])
def test_the_kernel_gives_the_record_paths_figures_on_real_students(
    oulad: ModuleType, day: int
) -> None:
    """Every summary figure, assignment figure and at-risk flag of every
    followed student of a real presentation equals the record path's."""
    presentation = oulad.load(DATA)[PRESENTATION]
    organization = oulad.ORGANIZATION_ID
    as_of = presentation.day(day) + timedelta(hours=23, minutes=59)
    students = sorted(presentation.final_results, key=int)
    attempts = sorted(
        (
            a
            for s in students
            for a in presentation.attempts.get(s, ())
            if a.attempted_at <= as_of
        ),
        key=lambda a: (a.attempted_at, a.attempt_id),
    )
    policy = Policy(risk_inactive_days=21)
    catalog = InMemoryCatalog()
    catalog.add_assignment(organization, presentation.structure)
    store = InMemoryStore()
    service = ProgressService(
        store.unit_of_work, catalog, FixedClock(as_of), policy=policy
    )
    for i in range(0, len(attempts), 1000):
        service.apply_many(organization, attempts[i : i + 1000])
    enroll(
        store,
        organization,
        [
            Enrollment(
                student_id=s,
                class_ids=(presentation.class_id,),
                assignment_ids=(presentation.class_id,),
            )
            for s in students
        ],
    )
    with store.unit_of_work() as uow:
        histories = [
            read_student_history(uow, catalog, organization, s, as_of=as_of)
            for s in students
        ]
    assert sum(1 for h in histories for a in h.assignments if a.steps) > 100

    kernel = summarize_columns(
        StepColumns.from_histories(histories), as_of=as_of, policy=policy
    ).to_records()
    assert len(kernel) == len(histories)
    flagged = 0
    for history, got in zip(histories, kernel, strict=True):
        want = summarize_student(history, as_of=as_of, run_id="r", policy=policy)
        assert got.student_id == history.student_id
        assert got.summary == want.summary
        assert got.assignments == want.assignments
        assert got.completion_percentage == want.completion_percentage
        assert got.worst_pacing == want.worst_pacing
        flagged += want.summary.at_risk
    assert 0 < flagged < len(histories)
