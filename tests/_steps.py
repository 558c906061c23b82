"""Hand-written step records for example tests: attempts in, a valid record out."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import datetime

from mlc_progress import (
    CompletionSource,
    ReconciliationMetadata,
    StepProgress,
    StepState,
    consistency_score,
    mastery_level,
)


def step_record(
    step_id: str,
    *,
    state: StepState = StepState.AVAILABLE,
    target: float = 80.0,
    attempts: Sequence[tuple[datetime, float]] = (),
    started_at: datetime | None = None,
    completed_at: datetime | None = None,
    source: CompletionSource = CompletionSource.FRESH_ATTEMPT,
    meta: ReconciliationMetadata | None = None,
    time_on_task_ms: int = 0,
    assignment_id: str = "a",
    student_id: str = "u",
) -> StepProgress:
    """A step whose figures follow from ``attempts``, given in arrival order.

    The first and latest attempts are the earliest and latest by timestamp (D2,
    D13); ``started_at`` defaults to the earliest attempt.
    """
    if not attempts:
        return StepProgress(
            step_id=step_id,
            assignment_id=assignment_id,
            student_id=student_id,
            target_score=target,
            state=state,
            started_at=started_at,
            completed_at=completed_at,
            completion_source=source,
            reconciliation_metadata=meta,
            passed=meta is not None and meta.original_score >= target,
            time_on_task_ms=time_on_task_ms,
        )
    scores = [score for _, score in attempts]
    first = min(attempts, key=lambda a: a[0])
    latest = max(attempts, key=lambda a: a[0])
    best = max(scores)
    mean = statistics.fmean(scores)
    consistency = consistency_score(scores)
    passed = best >= target or (meta is not None and meta.original_score >= target)
    return StepProgress(
        step_id=step_id,
        assignment_id=assignment_id,
        student_id=student_id,
        target_score=target,
        state=state,
        started_at=started_at or first[0],
        completed_at=completed_at,
        last_activity_at=latest[0],
        attempt_count=len(attempts),
        best_score=best,
        latest_score=latest[1],
        passed=passed,
        time_on_task_ms=time_on_task_ms,
        session_count=1,
        mastery_level=mastery_level(
            attempt_count=len(attempts),
            best_score=best,
            target_score=target,
            consistency_score=consistency,
        ),
        consistency_score=consistency,
        completion_source=source,
        reconciliation_metadata=meta,
        score_mean=mean,
        score_m2=sum((s - mean) ** 2 for s in scores),
        first_attempt_at=first[0],
        first_score=first[1],
        latest_attempt_at=latest[0],
    )
