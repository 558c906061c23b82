"""mlc_progress: learning-progress tracking as pure, typed calculators.

Records in, records and events out. See ``docs/`` for the tutorial, how-tos,
design and reference.
"""

from __future__ import annotations

from ._assignment import assignment_progress
from ._completion import (
    assignment_status,
    average_score,
    completion_percentage,
    completion_source_for,
    next_step,
    pass_rate,
)
from ._consistency import add_score, consistency_from_moments, consistency_score
from ._enums import (
    AssignmentStatus,
    CompletionSource,
    MasteryLevel,
    OriginalContext,
    PacingStatus,
    ScopeType,
    SnapshotTrigger,
    Stage,
    StepState,
)
from ._errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    ProgressError,
    StorageError,
)
from ._mastery import mastery_level, mastery_score
from ._pacing import (
    estimated_completion_date,
    expected_percentage,
    pacing_status,
    steps_per_week,
)
from ._policy import DEFAULT_POLICY, Policy, StageWeights
from ._records import (
    AssignmentProgress,
    ProgressSnapshot,
    ReconciliationMetadata,
    SequenceProgress,
    StepProgress,
    StudentProgressSummary,
)
from ._serialization import converter, from_json, structure, to_json, unstructure
from ._structure import (
    AssignmentStructure,
    Attempt,
    SequenceStructure,
    StepDefinition,
)

__all__ = [
    "DEFAULT_POLICY",
    "AssignmentProgress",
    "AssignmentStatus",
    "AssignmentStructure",
    "Attempt",
    "CompletionSource",
    "ConflictError",
    "InvalidInputError",
    "MasteryLevel",
    "NotFoundError",
    "OriginalContext",
    "PacingStatus",
    "Policy",
    "ProgressError",
    "ProgressSnapshot",
    "ReconciliationMetadata",
    "ScopeType",
    "SequenceProgress",
    "SequenceStructure",
    "SnapshotTrigger",
    "Stage",
    "StageWeights",
    "StepDefinition",
    "StepProgress",
    "StepState",
    "StorageError",
    "StudentProgressSummary",
    "add_score",
    "assignment_progress",
    "assignment_status",
    "average_score",
    "completion_percentage",
    "completion_source_for",
    "consistency_from_moments",
    "consistency_score",
    "converter",
    "estimated_completion_date",
    "expected_percentage",
    "from_json",
    "mastery_level",
    "mastery_score",
    "next_step",
    "pacing_status",
    "pass_rate",
    "steps_per_week",
    "structure",
    "to_json",
    "unstructure",
]
