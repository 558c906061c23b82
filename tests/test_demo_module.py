"""``python -m mlc_progress.demo``: it runs, and its hand-computed figures
are the core's."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mlc_progress import ProgressState, apply_command, assignment_progress, demo


def test_the_demo_module_prints_one_students_progress(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """main() prints every step and the assignment's figures."""
    demo.main()
    out = capsys.readouterr().out
    assert "Student ada, assignment fractions-1, as of 2026-09-08" in out
    assert "completion 66.7%" in out
    assert all(step_id in out for step_id in ("learn", "play", "quiz"))


def test_python_dash_m_mlc_progress_demo_exits_zero() -> None:
    """The documented command runs to the end."""
    run = subprocess.run(
        [sys.executable, "-m", "mlc_progress.demo"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "completion 66.7%" in run.stdout


def test_the_demos_figures_are_what_apply_command_computes() -> None:
    """Every step figure the demo computes by hand equals the core's for the
    same attempts (the core rounds consistency, Q77), and so does the
    assignment's roll-up."""
    steps, progress = demo.computed()
    state = ProgressState(student_id="ada", structure=demo.STRUCTURE)
    for attempt in demo.attempts():
        state = state.after(apply_command(attempt, state, as_of=attempt.attempted_at))
    for step_id, mine in steps.items():
        core = state.steps[step_id]
        assert (
            mine.state,
            mine.attempt_count,
            mine.best_score,
            mine.latest_score,
            mine.passed,
            mine.time_on_task_ms,
            mine.session_count,
            mine.mastery_level,
            mine.completed_at,
            mine.first_score,
        ) == (
            core.state,
            core.attempt_count,
            core.best_score,
            core.latest_score,
            core.passed,
            core.time_on_task_ms,
            core.session_count,
            core.mastery_level,
            core.completed_at,
            core.first_score,
        ), step_id
        if mine.consistency_score is None:
            assert core.consistency_score is None
        else:
            assert core.consistency_score == pytest.approx(mine.consistency_score)
    core_progress = assignment_progress(
        demo.STRUCTURE, dict(state.steps), student_id="ada", as_of=demo.AS_OF
    )
    assert progress.completion_percentage == core_progress.completion_percentage
    assert progress.mastery_score == core_progress.mastery_score
    assert progress.next_step_id == core_progress.next_step_id
