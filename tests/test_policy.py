"""Policy: the spec's defaults, overridable and loadable from plain data."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given

from mlc_progress import DEFAULT_POLICY, Policy, Stage, StageWeights
from mlc_progress.testing import strategies as mst


@pytest.mark.parametrize(
    ("field", "default"),
    [
        ("learning_ratio", 0.7),
        ("mastery_consistency_threshold", 0.15),
        ("pacing_ahead_points", 20.0),
        ("pacing_on_track_points", 10.0),
        ("pacing_behind_points", 30.0),
        ("velocity_window_days", 28),
        ("max_clock_skew_seconds", 300.0),
        ("free_play_window_days", 30),
        ("milestones", (25, 50, 75, 100)),
        ("risk_behind_pace_points", 30.0),
        ("risk_low_mastery_below", 60.0),
        ("risk_mastery_recent_steps", 5),
        ("risk_inactive_days", 7),
        ("risk_stuck_attempts_over", 5),
        ("risk_inconsistent_min_attempts", 3),
        ("risk_inconsistent_cv", 0.5),
        ("metrics_sample_rate", 0.1),
        ("student_summary_active_minutes", 5),
        ("student_summary_inactive_minutes", 60),
        ("student_active_window_hours", 24),
        ("class_summary_minutes", 15),
        ("organization_dashboard_minutes", 60),
        ("step_snapshot_retention_days", 90),
        ("assignment_snapshot_retention_years", 1),
        ("sequence_snapshot_retention_years", 3),
        ("student_snapshot_thinning_years", 1),
    ],
)
def test_defaults_are_the_spec_and_decision_numbers(
    field: str, default: object
) -> None:
    """Every policy default is the number written in the spec or the decisions."""
    assert getattr(DEFAULT_POLICY, field) == default


@pytest.mark.parametrize(
    ("stage", "weight"),
    [
        (Stage.LEARN, 0.5),
        (Stage.PLAY, 1.0),
        (Stage.QUIZ, 2.0),
        (Stage.CHALLENGE, 1.5),
        (Stage.REVIEW, 1.0),
    ],
)
def test_stage_weights_default_to_the_spec_table(stage: Stage, weight: float) -> None:
    """The default step_mastery_weight of each stage is the spec's (D12)."""
    assert StageWeights().weight(stage) == weight


def test_policy_windows_are_timedeltas() -> None:
    """The policy exposes its windows as durations built from its numbers."""
    assert DEFAULT_POLICY.velocity_window == timedelta(days=28)
    assert DEFAULT_POLICY.free_play_window == timedelta(days=30)
    assert DEFAULT_POLICY.max_clock_skew == timedelta(minutes=5)


def test_from_dict_keeps_defaults_for_missing_keys() -> None:
    """Keys left out of the data keep their default values."""
    policy = Policy.from_dict(
        {"learning_ratio": 0.6, "stage_weights": {"QUIZ": 3.0}, "milestones": [50, 100]}
    )
    assert policy.learning_ratio == 0.6
    assert policy.stage_weights == StageWeights(QUIZ=3.0)
    assert policy.milestones == (50, 100)
    assert policy.mastery_consistency_threshold == 0.15


def test_from_toml_reads_text_and_files(tmp_path: Path) -> None:
    """A policy loads from TOML text and from a path to a TOML file."""
    text = (
        "learning_ratio = 0.65\n"
        "velocity_window_days = 14\n"
        "[stage_weights]\n"
        "CHALLENGE = 2.5\n"
    )
    path = tmp_path / "policy.toml"
    path.write_text(text)
    expected = Policy(
        learning_ratio=0.65,
        velocity_window_days=14,
        stage_weights=StageWeights(CHALLENGE=2.5),
    )
    assert Policy.from_toml(text) == expected
    assert Policy.from_toml(path) == expected


def test_equal_on_track_and_behind_bands_are_allowed() -> None:
    """The behind band may coincide with the on-track band (an empty behind band)."""
    policy = Policy(pacing_on_track_points=20.0, pacing_behind_points=20.0)
    assert policy.pacing_behind_points == 20.0


@given(mst.policies())
def test_policy_round_trips_through_dict(policy: Policy) -> None:
    """Policy.from_dict(policy.to_dict()) gives back an equal policy."""
    assert Policy.from_dict(policy.to_dict()) == policy


@given(mst.policies())
def test_policy_round_trips_through_json_text(policy: Policy) -> None:
    """A policy's dict is JSON-ready and Policy.from_json reads it back equal."""
    assert Policy.from_json(json.dumps(policy.to_dict())) == policy
