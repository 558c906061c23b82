"""``python -m mlc_progress.demo``: one student's progress, computed by hand.

A scripted example of the calculators: four attempts on a three-step
assignment, each step record updated with the pure functions, then the
assignment figures rolled up and printed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs

from . import (
    AssignmentStructure,
    CompletionSource,
    Stage,
    StepDefinition,
    StepProgress,
    StepState,
    add_score,
    assignment_progress,
    completion_source_for,
    consistency_from_moments,
    mastery_level,
)


def _attempt(step: StepProgress, score: float, at: datetime) -> StepProgress:
    mean, m2 = add_score(step.attempt_count, step.score_mean, step.score_m2, score)
    count = step.attempt_count + 1
    best = max(step.best_score, score)
    consistency = consistency_from_moments(count, mean, m2)
    updated = attrs.evolve(
        step,
        state=StepState.IN_PROGRESS,
        started_at=step.started_at or at,
        last_activity_at=at,
        attempt_count=count,
        best_score=best,
        latest_score=score,
        passed=best >= step.target_score,
        score_mean=mean,
        score_m2=m2,
        consistency_score=consistency,
        first_attempt_at=step.first_attempt_at or at,
        first_score=score if step.first_score is None else step.first_score,
        latest_attempt_at=at,
        mastery_level=mastery_level(
            attempt_count=count,
            best_score=best,
            target_score=step.target_score,
            consistency_score=consistency,
        ),
    )
    source = completion_source_for(updated)
    if source is CompletionSource.FRESH_ATTEMPT:
        return attrs.evolve(
            updated, state=StepState.COMPLETE, completed_at=at, completion_source=source
        )
    return updated


def main() -> None:
    start = datetime(2026, 9, 1, tzinfo=UTC)
    structure = AssignmentStructure(
        assignment_id="fractions-1",
        created_at=start,
        due_at=start + timedelta(days=21),
        steps=(
            StepDefinition(
                step_id="learn", element_id="intro", stage=Stage.LEARN, target_score=60
            ),
            StepDefinition(
                step_id="play", element_id="pizza", stage=Stage.PLAY, target_score=80
            ),
            StepDefinition(
                step_id="quiz", element_id="check", stage=Stage.QUIZ, target_score=80
            ),
        ),
    )
    steps = {
        d.step_id: StepProgress(
            step_id=d.step_id,
            assignment_id=structure.assignment_id,
            student_id="ada",
            target_score=d.target_score,
            state=StepState.AVAILABLE if i == 0 else StepState.LOCKED,
        )
        for i, d in enumerate(structure.steps)
    }
    plays = [
        ("learn", 72.0, 1),
        ("play", 65.0, 3),
        ("play", 85.0, 4),
        ("quiz", 70.0, 6),
    ]
    for step_id, score, day in plays:
        step = steps[step_id]
        if step.state is StepState.LOCKED:
            step = attrs.evolve(step, state=StepState.AVAILABLE)
        steps[step_id] = _attempt(step, score, start + timedelta(days=day))

    as_of = start + timedelta(days=7)
    progress = assignment_progress(structure, steps, student_id="ada", as_of=as_of)
    print(f"Student ada, assignment {structure.assignment_id}, as of {as_of:%Y-%m-%d}")
    for d in structure.steps:
        s = steps[d.step_id]
        print(
            f"  {d.step_id:<6} {d.stage:<6} {s.state:<12} best {s.best_score:5.1f}"
            f" / {s.target_score:.0f}  attempts {s.attempt_count}  {s.mastery_level}"
        )
    print(
        f"  completion {progress.completion_percentage:.1f}%  "
        f"mastery {progress.mastery_score:.1f}  average {progress.average_score:.1f}  "
        f"pass rate {progress.pass_rate:.1f}%"
    )
    print(
        f"  status {progress.status}  pacing {progress.pacing_status}  "
        f"next {progress.next_step_id}  {progress.steps_per_week:.2f} steps/week"
    )


if __name__ == "__main__":
    main()
