"""Batch work over an organization: rollups, at-risk detection and
interventions, schedules, scheduled snapshots and retention (spec: Batch
Updates, Student Progress Summary, At-Risk Student Detection, Intervention
Triggers, Snapshot Retention Policy; D17, D20-D22).

Everything here is pure and works one student at a time, so memory stays
bounded by one student's records. See ``docs/explanation-batch.md``.
"""

from __future__ import annotations

from ._retention import *  # noqa: F403
from ._retention import __all__ as _retention_all
from ._risk import *  # noqa: F403
from ._risk import __all__ as _risk_all
from ._rollups import *  # noqa: F403
from ._rollups import __all__ as _rollups_all
from ._schedule import *  # noqa: F403
from ._schedule import __all__ as _schedule_all

__all__ = sorted({*_rollups_all, *_risk_all, *_schedule_all, *_retention_all})
