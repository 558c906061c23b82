"""A columnar batch kernel: every summary figure and at-risk flag of an
organization from step records held as numpy columns (the ``columnar``
extra: ``pip install 'mlc-progress[columnar]'``).

:func:`summarize_student` builds and validates each record and computes one
student at a time; for a whole organization already in columns,
:class:`StepColumns` validates the columns with the same rules, vectorized,
and :func:`summarize_columns` computes every ``AssignmentProgress`` figure,
every ``StudentProgressSummary`` figure and the D17 flags for all students
at once, equal to the record path figure for figure (floats bit for bit).
:meth:`ColumnSummaries.to_records` turns them back into records. See
``docs/howto-columnar-batch.md`` for when to use which.

>>> from datetime import datetime, UTC
>>> from mlc_progress.batch import StudentHistory
>>> table = StepColumns.from_histories(
...     [StudentHistory(student_id="u", organization_id="o")])
>>> result = summarize_columns(table, as_of=datetime(2026, 1, 1, tzinfo=UTC))
>>> result.to_records()[0].summary.at_risk
False
"""

from __future__ import annotations

from ._columnar_build import rule_bits
from ._columnar_columns import StepColumns
from ._columnar_kernel import (
    AssignmentFigures,
    ColumnSummaries,
    StudentFigures,
    StudentRecords,
    summarize_columns,
)
from ._columnar_np import NAT, code_of, from_us, member_of, to_us

__all__ = [
    "NAT",
    "AssignmentFigures",
    "ColumnSummaries",
    "StepColumns",
    "StudentFigures",
    "StudentRecords",
    "code_of",
    "from_us",
    "member_of",
    "rule_bits",
    "summarize_columns",
    "to_us",
]
