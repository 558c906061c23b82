"""Column names of a ``StepColumns`` table, without numpy.

Kept apart so that writing and reading partitions can name the columns while
``mlc_progress.dask`` still imports without numpy.
"""

from __future__ import annotations

__all__ = ["STEP_FIELDS"]

#: The columns of a row that carry a ``StepProgress`` field (the reconciliation
#: metadata as its ``original_score``), beside the keys ``step_group`` and
#: ``step_index``.
STEP_FIELDS = (
    "state",
    "started_at",
    "completed_at",
    "last_activity_at",
    "attempt_count",
    "best_score",
    "latest_score",
    "target_score",
    "passed",
    "time_on_task_ms",
    "session_count",
    "mastery_level",
    "consistency_score",
    "completion_source",
    "reconciled_score",
    "score_mean",
    "score_m2",
    "first_attempt_at",
    "first_score",
    "latest_attempt_at",
)
