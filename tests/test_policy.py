"""Policy: the spec's defaults, overridable and loadable from plain data."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlc_progress import DEFAULT_POLICY, Policy, Stage, StageWeights
from mlc_progress._errors import InvalidInputError
from mlc_progress._policy import RollupPolicy, SchedulePolicy, ViewPolicy
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


# -- sections: rollups, schedule, views ---------------------------------------


@pytest.mark.parametrize(
    ("section", "field", "default"),
    [
        ("rollups", "engagement_recency_weight", 0.40),
        ("rollups", "engagement_frequency_weight", 0.35),
        ("rollups", "engagement_time_weight", 0.25),
        ("rollups", "engagement_recency_days", 14),
        ("rollups", "engagement_target_active_days", 5),
        ("rollups", "engagement_target_minutes", 120),
        ("rollups", "badge_mastery_min", 80.0),
        ("rollups", "active_user_days", 7),
        ("rollups", "streak_persistence_days", 3),
        ("rollups", "distribution_bucket_points", 10),
        (
            "rollups",
            "trend_metrics",
            ("completion_percentage", "mastery_score", "engagement_score"),
        ),
        ("schedule", "snapshot_hour_utc", 0),
        ("schedule", "weekly_rollup_weekday", 6),
        ("views", "recent_activities", 10),
        ("views", "struggle_low_score_min_attempts", 2),
    ],
)
def test_section_defaults_are_the_documented_numbers(
    section: str, field: str, default: object
) -> None:
    """Each section field defaults to the number of D21 or of docs/decisions.md."""
    assert getattr(getattr(DEFAULT_POLICY, section), field) == default


def test_from_toml_reads_the_rollups_schedule_and_views_tables(tmp_path: Path) -> None:
    """The batch, clock and view thresholds load from their own TOML tables."""
    text = (
        "class_summary_minutes = 30\n"
        "[rollups]\n"
        "badge_mastery_min = 90\n"
        "trend_metrics = ['mastery_score']\n"
        "[schedule]\n"
        "snapshot_hour_utc = 6\n"
        "weekly_rollup_weekday = 0\n"
        "[views]\n"
        "recent_activities = 5\n"
    )
    path = tmp_path / "policy.toml"
    path.write_text(text)
    expected = Policy(
        class_summary_minutes=30,
        rollups=RollupPolicy(badge_mastery_min=90.0, trend_metrics=("mastery_score",)),
        schedule=SchedulePolicy(snapshot_hour_utc=6, weekly_rollup_weekday=0),
        views=ViewPolicy(recent_activities=5),
    )
    assert Policy.from_toml(text) == expected
    assert Policy.from_toml(path) == expected


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"views": {"recent_activities": 11}}, "views.recent_activities"),
        ({"schedule": {"snapshot_hour_utc": 24}}, "schedule.snapshot_hour_utc"),
        (
            {"schedule": {"weekly_rollup_weekday": True}},
            "schedule.weekly_rollup_weekday",
        ),
        (
            {"rollups": {"engagement_time_weight": 0.5}},
            "rollups.engagement_recency_weight",
        ),
        (
            {"rollups": {"distribution_bucket_points": 7}},
            "rollups.distribution_bucket_points",
        ),
        ({"views": {"streak_persistence_days": 3}}, "views.streak_persistence_days"),
    ],
)
def test_a_bad_section_value_names_its_path(
    data: dict[str, object], field: str
) -> None:
    """A section's invalid or unknown value raises InvalidInputError naming the path."""
    with pytest.raises(InvalidInputError) as caught:
        Policy.from_dict(data)
    assert caught.value.field == field


def test_the_default_policy_round_trips_with_its_sections() -> None:
    """Policy().to_dict() holds the sections as tables and reads back equal."""
    data = Policy().to_dict()
    assert {"rollups", "schedule", "views"} <= set(data)
    assert Policy.from_dict(data) == Policy()
    assert Policy.from_json(json.dumps(data)) == Policy()


_engagement_weights = st.integers(min_value=0, max_value=20).flatmap(
    lambda a: st.integers(min_value=0, max_value=20 - a).map(
        lambda b: (a, b, 20 - a - b)
    )
)


@st.composite
def _sectioned_policies(draw: st.DrawFn) -> Policy:
    recency, frequency, time = draw(_engagement_weights)
    rollups = RollupPolicy(
        engagement_recency_weight=recency / 20,
        engagement_frequency_weight=frequency / 20,
        engagement_time_weight=time / 20,
        engagement_recency_days=draw(st.integers(1, 60)),
        engagement_target_active_days=draw(st.integers(1, 7)),
        engagement_target_minutes=draw(st.integers(1, 600)),
        badge_mastery_min=draw(st.floats(0, 100)),
        active_user_days=draw(st.integers(1, 366)),
        streak_persistence_days=draw(st.integers(1, 60)),
        distribution_bucket_points=draw(st.sampled_from([1, 2, 4, 5, 10, 20, 25, 50])),
        trend_metrics=tuple(
            draw(
                st.lists(st.sampled_from(["mastery_score", "streak_days"]), max_size=2)
            )
        ),
    )
    schedule = SchedulePolicy(
        snapshot_hour_utc=draw(st.integers(0, 23)),
        weekly_rollup_weekday=draw(st.integers(0, 6)),
    )
    views = ViewPolicy(
        recent_activities=draw(st.integers(5, 10)),
        struggle_low_score_min_attempts=draw(st.integers(1, 1000)),
    )
    base = draw(mst.policies())
    return attrs.evolve(base, rollups=rollups, schedule=schedule, views=views)


@given(_sectioned_policies())
def test_a_policy_with_varied_sections_round_trips(policy: Policy) -> None:
    """Sections survive to_dict, JSON text and from_dict unchanged."""
    assert Policy.from_dict(policy.to_dict()) == policy
    assert Policy.from_json(json.dumps(policy.to_dict())) == policy


@pytest.mark.parametrize("weight", [5e-324, 1e-7, 1e7, 0.0])
def test_stage_weights_outside_their_range_are_refused(weight: float) -> None:
    """A stage weight is a relative importance in [1e-6, 1e6]: a subnormal one
    made a weighted mean underflow outside its inputs (D12)."""
    with pytest.raises(InvalidInputError) as info:
        StageWeights(LEARN=weight)
    assert info.value.field == "LEARN"


_HUGE_INT = "9" * 5000


@pytest.mark.parametrize(
    "text",
    [
        '{"velocity_window_days":' + _HUGE_INT + "}",
        "[" * 100_000,
        '{"views":' * 100_000,
        b'{"learning_ratio": 0.6, "x": "caf\xe9"}',
        None,
        42,
    ],
    ids=["overlong-int", "deep-array", "deep-object", "bytes-not-utf8", "none", "int"],
)
def test_from_json_refuses_bad_input_with_a_typed_error(text: object) -> None:
    """Text past the digit limit, nested too deep, not UTF-8 or not text at
    all is an ``InvalidInputError`` naming the policy, never a bare error."""
    with pytest.raises(InvalidInputError) as error:
        Policy.from_json(text)  # type: ignore[arg-type]
    assert error.value.field == "policy"


def test_a_toml_file_that_is_not_utf8_is_a_typed_error(tmp_path: Path) -> None:
    """A policy file whose bytes are not UTF-8 is refused naming the policy,
    not left to a ``UnicodeDecodeError``."""
    path = tmp_path / "policy.toml"
    path.write_bytes(b"learning_ratio = 0.6\n# caf\xe9\n")
    with pytest.raises(InvalidInputError) as error:
        Policy.from_toml(path)
    assert error.value.field == "policy"


@pytest.mark.parametrize("source", [None, b"learning_ratio = 0.6", "a = " + _HUGE_INT])
def test_from_toml_refuses_what_is_not_toml_text(source: object) -> None:
    """TOML that is not text, or holds an integer past the digit limit, is
    an ``InvalidInputError``."""
    with pytest.raises(InvalidInputError):
        Policy.from_toml(source)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("key", "value", "window"),
    [
        ("max_clock_skew_seconds", 1e15, "max_clock_skew"),
        ("velocity_window_days", 10**10, "velocity_window"),
        ("free_play_window_days", 10**10, "free_play_window"),
        ("step_snapshot_retention_days", 10**10, None),
    ],
)
def test_a_duration_past_timedeltas_range_is_refused_naming_the_field(
    key: str, value: float, window: str | None
) -> None:
    """A duration field no ``timedelta`` can hold is refused at construction,
    so a policy that loads always has its duration properties."""
    with pytest.raises(InvalidInputError) as error:
        Policy.from_dict({key: value})
    assert error.value.field == key
    edge = 999_999_999 if key.endswith("_days") else 86_399_999_999_999.0
    policy = Policy.from_dict({key: edge})
    if window is not None:
        assert isinstance(getattr(policy, window), timedelta)
