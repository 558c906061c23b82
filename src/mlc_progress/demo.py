"""``python -m mlc_progress.demo``: one student's progress, computed by hand.

A scripted example of the calculators: four attempts on a three-step
assignment, each step record updated with the pure functions (as the
tutorial's ``record_attempt`` does), then the assignment figures rolled up
and printed. The tests hold every figure equal to what ``apply_command``
computes for the same attempts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs

from . import (
    AssignmentProgress,
    AssignmentStructure,
    Attempt,
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


def _attempt(step: StepProgress, attempt: Attempt) -> StepProgress:
    """The step after one attempt, applied in time order (D5, D6, D7)."""
    at, score = attempt.attempted_at, attempt.score
    mean, m2 = add_score(step.attempt_count, step.score_mean, step.score_m2, score)
    count = step.attempt_count + 1
    best = max(step.best_score, score)
    consistency = consistency_from_moments(count, mean, m2)
    new_session = attempt.session_id != step.last_session_id
    updated = attrs.evolve(
        step,
        state=StepState.COMPLETE if step.is_complete else StepState.IN_PROGRESS,
        started_at=step.started_at or at,
        last_activity_at=at,
        attempt_count=count,
        best_score=best,
        latest_score=score,
        passed=best >= step.target_score,
        time_on_task_ms=step.time_on_task_ms + attempt.duration_ms,
        session_count=step.session_count + (1 if new_session else 0),
        last_session_id=attempt.session_id,
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
    if source is CompletionSource.FRESH_ATTEMPT and not updated.is_complete:
        return attrs.evolve(
            updated, state=StepState.COMPLETE, completed_at=at, completion_source=source
        )
    return updated


START = datetime(2026, 9, 1, tzinfo=UTC)

STRUCTURE = AssignmentStructure(
    assignment_id="fractions-1",
    created_at=START,
    due_at=START + timedelta(days=21),
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

#: The demo's attempts: (step, score, day of the term, session).
PLAYS = (
    ("learn", 72.0, 1, "monday"),
    ("play", 65.0, 3, "wednesday"),
    ("play", 85.0, 4, "thursday"),
    ("quiz", 70.0, 6, "saturday"),
)

AS_OF = START + timedelta(days=7)


def attempts() -> tuple[Attempt, ...]:
    """The demo's attempts as the library's inputs."""
    return tuple(
        Attempt(
            attempt_id=f"demo-{n}",
            student_id="ada",
            assignment_id=STRUCTURE.assignment_id,
            step_id=step_id,
            score=score,
            attempted_at=START + timedelta(days=day),
            duration_ms=300_000,
            session_id=session,
        )
        for n, (step_id, score, day, session) in enumerate(PLAYS)
    )


def computed() -> tuple[dict[str, StepProgress], AssignmentProgress]:
    """Every step record after the attempts, and the assignment as of
    :data:`AS_OF`, computed with the pure functions."""
    steps = {
        d.step_id: StepProgress(
            step_id=d.step_id,
            assignment_id=STRUCTURE.assignment_id,
            student_id="ada",
            target_score=d.target_score,
            state=StepState.AVAILABLE if i == 0 else StepState.LOCKED,
        )
        for i, d in enumerate(STRUCTURE.steps)
    }
    for attempt in attempts():
        step = steps[attempt.step_id]
        if step.state is StepState.LOCKED:
            step = attrs.evolve(step, state=StepState.AVAILABLE)
        steps[attempt.step_id] = _attempt(step, attempt)
    progress = assignment_progress(STRUCTURE, steps, student_id="ada", as_of=AS_OF)
    return steps, progress


def main() -> None:
    steps, progress = computed()
    structure, as_of = STRUCTURE, AS_OF
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
