"""Synthetic organizations for trying the library at scale, reproducible
from a seed (no extra needed).

``synthetic_structures`` builds assignments; ``synthetic_histories`` yields
each student's batch input (a :class:`~mlc_progress.batch.StudentHistory`)
with valid step records folded from generated scores, fast enough for a
million step records. The same arguments give the same organization.

>>> from datetime import datetime, UTC
>>> as_of = datetime(2026, 11, 2, tzinfo=UTC)
>>> structures = synthetic_structures(assignments=2, steps=3, as_of=as_of)
>>> histories = list(synthetic_histories(structures, students=4, as_of=as_of))
>>> [h.student_id for h in histories]
['student-000000', 'student-000001', 'student-000002', 'student-000003']
>>> histories == list(synthetic_histories(structures, students=4, as_of=as_of))
True
"""

from __future__ import annotations

from .._synthetic import synthetic_histories, synthetic_structures

__all__ = ["synthetic_histories", "synthetic_structures"]
