"""Enumerations whose values are the spec's exact strings."""

from __future__ import annotations

import enum

__all__ = [
    "AssignmentStatus",
    "CompletionSource",
    "MasteryLevel",
    "OriginalContext",
    "PacingStatus",
    "ScopeType",
    "SnapshotTrigger",
    "Stage",
    "StepState",
]


class StepState(enum.StrEnum):
    """``StepProgress.state``."""

    LOCKED = "locked"
    AVAILABLE = "available"
    IN_PROGRESS = "in_progress"
    COMPLETE = "complete"


class MasteryLevel(enum.StrEnum):
    """``StepProgress.mastery_level`` (D6)."""

    NOT_STARTED = "not_started"
    LEARNING = "learning"
    PROFICIENT = "proficient"
    MASTERED = "mastered"


class CompletionSource(enum.StrEnum):
    """``StepProgress.completion_source``: how a step came to be complete."""

    FRESH_ATTEMPT = "fresh_attempt"
    FREE_PLAY_RECONCILED = "free_play_reconciled"
    TEACHER_OVERRIDE = "teacher_override"
    SYSTEM_MIGRATION = "system_migration"


class OriginalContext(enum.StrEnum):
    """``reconciliation_metadata.original_context`` (D9)."""

    ALL_GAMES = "all_games"
    PREVIOUS_ASSIGNMENT = "previous_assignment"


class Stage(enum.StrEnum):
    """The stage of a step; it sets the step's mastery weight (D12)."""

    LEARN = "LEARN"
    PLAY = "PLAY"
    QUIZ = "QUIZ"
    CHALLENGE = "CHALLENGE"
    REVIEW = "REVIEW"


class AssignmentStatus(enum.StrEnum):
    """``AssignmentProgress.status`` (D14)."""

    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    COMPLETE = "complete"
    ARCHIVED = "archived"


class PacingStatus(enum.StrEnum):
    """``AssignmentProgress.pacing_status`` (D15)."""

    AHEAD = "ahead"
    ON_TRACK = "on_track"
    BEHIND = "behind"
    AT_RISK = "at_risk"


class ScopeType(enum.StrEnum):
    """``ProgressSnapshot.scope_type``."""

    STEP = "step"
    ASSIGNMENT = "assignment"
    SEQUENCE = "sequence"
    STUDENT = "student"


class SnapshotTrigger(enum.StrEnum):
    """``ProgressSnapshot.trigger``."""

    SCHEDULED = "scheduled"
    MANUAL = "manual"
    MILESTONE = "milestone"
    INTERVENTION = "intervention"
