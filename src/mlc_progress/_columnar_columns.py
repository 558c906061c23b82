"""The validated column table of step records (:class:`StepColumns`).

One table holds an organization's students, the assignment structures they
follow, one *group* per (student, assignment) and one *row* per stored step
record, plus the optional inputs a batch reads: recent attempts, extra
activity days, the stored at-risk states and the sequences the students
follow. Construction validates every column with the rules the records
enforce one at a time (D1-D4, D7, D9, Q74), vectorized; an error names the
column and the first bad row (``best_score[17]``), the value and the rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from . import _validate as v
from ._columnar_np import MAX_US, MIN_US, NAT, Array, day_number, from_us, np, to_us
from ._enums import CompletionSource, MasteryLevel, Stage, StepState
from ._errors import InvalidInputError
from ._records import _TIME_ORDER
from ._risk import RiskRule, RiskState
from ._rollups import StudentHistory
from ._structure import AssignmentStructure, SequenceStructure

__all__ = ["StepColumns"]

_STATE_NAMES = ", ".join(repr(m.value) for m in StepState)
_MASTERY_NAMES = ", ".join(repr(m.value) for m in MasteryLevel)
_SOURCE_NAMES = ", ".join(repr(m.value) for m in CompletionSource)
_STATES = tuple(StepState)
_LEVELS = tuple(MasteryLevel)
_LOCKED, _AVAILABLE, _IN_PROGRESS, _COMPLETE = range(4)
_FRESH, _FREE_PLAY = 0, 1
_RULE_BITS = (1 << len(RiskRule)) - 1
_MIN_DAY = day_number(date.min)
_MAX_DAY = day_number(date.max)
# Sums of a column must fit in int64 (Python's ints do not overflow).
_SUM_LIMIT = 2**62
INT64_MIN = int(np.iinfo(np.int64).min)
INT64_MAX = int(np.iinfo(np.int64).max)
RULE_INT64 = "columnar: an integer fits in 64 bits, signed (Q132)"
# Every integer up to this is a float64.
_FLOAT_EXACT = 2**53
# Rows checked at a time: a chunk's columns stay in a core's cache.
_CHUNK_ROWS = 1 << 16


class _Failures:
    """The first bad row over many vectorized checks: the row a loop
    building the records in order would fail on, and that row's first
    failing check."""

    def __init__(self, offset: int = 0) -> None:
        self.offset = offset
        self.found: list[tuple[int, int, str, Callable[[int], object], Any]] = []

    def check(
        self,
        bad: Array,
        field: str,
        value: Callable[[int], object],
        rule: str | Callable[[int], str],
    ) -> None:
        if bad.any():
            row = self.offset + int(bad.argmax())
            self.found.append((row, len(self.found), field, value, rule))

    def raise_first(self) -> None:
        if not self.found:
            return
        row, _, field, value, rule = min(self.found, key=lambda f: (f[0], f[1]))
        text = rule(row) if callable(rule) else rule
        raise InvalidInputError(f"{field}[{row}]", value(row), text)


def _readonly(array: Array) -> Array:
    view = array.view()
    view.flags.writeable = False
    return view


def _column(name: str, value: Any, n: int | None) -> Array:
    """``value`` as a one-dimensional array. Anything but an ndarray is
    copied (a buffer, a list): only an ndarray is handed over (Q134)."""
    try:
        array = np.asarray(value) if isinstance(value, np.ndarray) else np.array(value)
    except (ValueError, TypeError, OverflowError):
        raise InvalidInputError(
            name, type(value).__name__, "a column is a one-dimensional array"
        ) from None
    if array.ndim != 1:
        raise InvalidInputError(name, array.shape, "a column is one-dimensional")
    if n is not None and len(array) != n:
        raise InvalidInputError(name, len(array), f"one value per row ({n})")
    return array


def _check_int64(name: str, array: Array, rule: str = RULE_INT64) -> None:
    """uint64 values past the int64 maximum are refused: a limit of the
    table (Q132), which holds integers as int64."""
    if array.dtype.kind == "u" and array.dtype.itemsize == 8 and len(array):
        big = array > INT64_MAX
        if big.any():
            row = int(big.argmax())
            raise InvalidInputError(f"{name}[{row}]", int(array[row]), rule)


def _ints(
    name: str,
    value: Any,
    n: int | None,
    rule: str = v.RULE_COUNT,
    *,
    wide: bool = False,
) -> Array:
    """An integer column in a signed dtype: the caller's when it is signed
    (no copy), else the narrowest signed one that holds it (uint64 past
    2**63 - 1 refused, Q132); a ``wide`` column, which the kernel reads as
    int64, as int64."""
    array = _column(name, value, n)
    if array.dtype.kind not in "iu":
        raise InvalidInputError(name, array.dtype, rule)
    _check_int64(name, array)
    if wide or (array.dtype.kind == "u" and array.dtype.itemsize == 8):
        return _readonly(array.astype(np.int64, copy=False))
    if array.dtype.kind == "u":
        return _readonly(array.astype(np.promote_types(array.dtype, np.int8)))
    return _readonly(array)


def rule_exact_int(scale: int = 1) -> str:
    """The rule an integer breaks when float64 would round it, or ``scale``
    times it: the record path computes with Python's integers (Q132).

    >>> rule_exact_int(100)
    'columnar: an integer converts to float64 exactly, and so does 100 times it (Q132)'
    """
    return "columnar: an integer converts to float64 exactly" + (
        f", and so does {scale} times it (Q132)" if scale != 1 else " (Q132)"
    )


def _inexact_ints(ints: Array, scale: int) -> Array:
    """Where an int64 ``x`` or ``scale * x`` has no exact float64: a
    positive integer is exact when its odd part is below 2**53."""
    big = ints > _FLOAT_EXACT // scale
    if not big.any():
        return big
    m = np.where(big, ints, 1)
    odd = m // (m & -m)
    odd_scale = scale // (scale & -scale)
    inexact: Array = big & (odd > (_FLOAT_EXACT - 1) // odd_scale)
    return inexact


def _floats(name: str, value: Any, n: int, rule: str, *, scale: int = 1) -> Array:
    """A float64 column. Other dtypes are converted when exact: a wider
    float, an integer (and ``scale`` times it, the record path's integer
    arithmetic) that float64 would round is refused (Q132)."""
    array = _column(name, value, n)
    kind = array.dtype.kind
    if kind not in "iuf":
        raise InvalidInputError(name, array.dtype, rule)
    if kind == "f" and array.dtype.itemsize <= 8:
        return _readonly(array.astype(np.float64, copy=False))
    if kind == "f":
        with np.errstate(over="ignore"):
            converted = array.astype(np.float64)
        inexact = ~((converted == array) | np.isnan(array))
        limit = "columnar: a float converts to float64 exactly (Q132)"
    else:
        _check_int64(name, array)
        ints = array.astype(np.int64, copy=False)
        converted = ints.astype(np.float64)
        inexact = (
            _inexact_ints(ints, scale)
            if array.dtype.itemsize == 8
            else np.zeros(len(ints), dtype=bool)
        )
        limit = rule_exact_int(scale)
    if inexact.any():
        row = int(inexact.argmax())
        raise InvalidInputError(f"{name}[{row}]", array[row].item(), limit)
    return _readonly(converted)


def _bools(name: str, value: Any, n: int) -> Array:
    array = _column(name, value, n)
    if array.dtype != np.bool_:
        raise InvalidInputError(name, array.dtype, "a flag is a boolean")
    return _readonly(array)


def _times(name: str, value: Any, n: int) -> Array:
    """int64 microseconds since the epoch (UTC), or datetime64 converted
    exactly; :data:`NAT` is "none"."""
    array = _column(name, value, n)
    if array.dtype.kind == "M":
        converted = array.astype("datetime64[us]")
        if not np.array_equal(converted.astype(array.dtype), array, equal_nan=True):
            raise InvalidInputError(
                name, array.dtype, "D2: times have microsecond precision"
            )
        return _readonly(converted.view(np.int64))
    if array.dtype.kind not in "iu":
        raise InvalidInputError(
            name,
            array.dtype,
            "D2: times are int64 microseconds since 1970-01-01 UTC, or datetime64",
        )
    _check_int64(name, array, v.RULE_TIME)
    return _readonly(array.astype(np.int64, copy=False))


def _items(name: str, value: Any, what: str) -> tuple[Any, ...]:
    """A sequence argument as a tuple; a string is not one."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidInputError(name, value, f"a sequence of {what}")
    return tuple(value)


def _default(value: Any, n: int, fill: Any, dtype: Any) -> Any:
    return np.full(n, fill, dtype=dtype) if value is None else value


def _time_value(column: Array) -> Callable[[int], object]:
    def value(row: int) -> object:
        raw = int(column[row])
        return from_us(raw) if MIN_US <= raw <= MAX_US or raw == NAT else raw

    return value


def _plain(column: Array) -> Callable[[int], object]:
    return lambda row: column[row].item()


def _optional_float(column: Array) -> Callable[[int], object]:
    def value(row: int) -> object:
        x = float(column[row])
        return None if math.isnan(x) else x

    return value


def _bad_time(column: Array, *, optional: bool = True) -> Array:
    inside = (column >= MIN_US) & (column <= MAX_US)
    bad: Array = ~(inside | (column == NAT)) if optional else ~inside
    return bad


class _Catalog:
    """The assignment structures as arrays ``[assignment, step]``."""

    def __init__(self, structures: tuple[AssignmentStructure, ...]) -> None:
        self.structures = structures
        a = len(structures)
        k = max((len(s.steps) for s in structures), default=0)
        self.kmax = k
        self.n_steps = np.array([len(s.steps) for s in structures], dtype=np.int64)
        self.exists = np.arange(k)[None, :] < self.n_steps[:, None]
        self.required = np.zeros((a, k), dtype=bool)
        self.stage = np.zeros((a, k), dtype=np.int8)
        self.step_due = np.full((a, k), NAT, dtype=np.int64)
        self.step_rank = np.zeros((a, k), dtype=np.int64)
        self.created = np.array(
            [to_us(s.created_at) for s in structures], dtype=np.int64
        )
        self.due = np.array([to_us(s.due_at) for s in structures], dtype=np.int64)
        ids = sorted({s.assignment_id for s in structures})
        rank = {aid: i for i, aid in enumerate(ids)}
        self.assignment_ids = tuple(ids)
        self.id_code = np.array(
            [rank[s.assignment_id] for s in structures], dtype=np.int64
        )
        stages = list(Stage)
        concepts: dict[str, int] = {}
        window: list[int] = []
        self.window_overflow = np.zeros(a, dtype=bool)
        for i, s in enumerate(structures):
            order = sorted(range(len(s.steps)), key=lambda j: s.steps[j].step_id)
            for r, j in enumerate(order):
                self.step_rank[i, j] = r
            for j, d in enumerate(s.steps):
                self.required[i, j] = d.required
                self.stage[i, j] = stages.index(d.stage)
                self.step_due[i, j] = to_us(d.due_at)
                for c in d.concepts:
                    concepts.setdefault(c, len(concepts))
            try:
                window.append(to_us(s.window_end()))
            except OverflowError:
                window.append(NAT)
                self.window_overflow[i] = True
        self.window_end = np.array(window, dtype=np.int64)
        self.concepts = concepts
        # Each step's concepts as bits of 64-bit words: [assignment, step, word].
        words = (len(concepts) + 63) // 64
        self.concept_words = np.zeros((a, k, words), dtype=np.uint64)
        for i, s in enumerate(structures):
            for j, d in enumerate(s.steps):
                for c in d.concepts:
                    word, bit = divmod(concepts[c], 64)
                    self.concept_words[i, j, word] |= np.uint64(1) << np.uint64(bit)
        # Each step's concepts: [assignment, step, slot], -1 past the last.
        slots = max((len(d.concepts) for s in structures for d in s.steps), default=0)
        self.concept_table = np.full((a, k, slots), -1, dtype=np.int64)
        for i, s in enumerate(structures):
            for j, d in enumerate(s.steps):
                for slot, c in enumerate(d.concepts):
                    self.concept_table[i, j, slot] = concepts[c]
        self.n_required = self.required.sum(axis=1)

    def weights(self, table: Sequence[float]) -> tuple[Array, Array, Array]:
        """Per step the stage weight; per structure the running sum of the
        required weights in step order (D12, as ``assignment_progress`` sums
        them) and their ``math.fsum`` (as the overall mastery sums them)."""
        stage_weight = np.asarray(table, dtype=np.float64)[self.stage]
        total = np.zeros(len(self.structures))
        exact = np.zeros(len(self.structures))
        for i, s in enumerate(self.structures):
            running = 0.0
            for d in s.steps:
                if d.required:
                    running += table[list(Stage).index(d.stage)]
            total[i] = running
            exact[i] = math.fsum(
                table[list(Stage).index(d.stage)] for d in s.steps if d.required
            )
        return stage_weight, total, exact


class StepColumns:
    """An organization's step records as validated columns, for
    :func:`~mlc_progress.columnar.summarize_columns`.

    Tables (every index is a position in the table it names):

    - students: ``student_ids``, with ``previous_risk_rules`` (a bit per
      :class:`RiskRule` in its order, 1 = pacing .. 16 = consistency) and
      ``previous_risk_dismissed`` (the stored state's dismissal stands, D17);
    - groups, one per (student, assignment), the groups of a student
      together and in the order of the student's history:
      ``group_student``, ``group_assignment`` (into ``structures``),
      ``archived`` and ``due_at_override`` (the stored progress record's,
      D8, D14);
    - rows, one per stored step record: ``step_group``, ``step_index`` (the
      step's position in its structure) and the ``StepProgress`` fields;
      ``reconciled_score`` is the reconciliation metadata's
      ``original_score`` (D9). Steps without a record have no row (Q17).
      Without the two keys the rows are the full layout: every step of
      every group, in order;
    - attempts (``attempt_*``): the attempt log a batch reads (at least the
      last week; Q99), ``attempt_key`` telling attempt ids apart (D3);
    - ``activity_student`` and ``activity_day`` (days since 1970-01-01):
      further days with activity (Q39);
    - sequences: ``member_student``, ``member_sequence`` (into
      ``sequences``), ``member_stored`` (a stored ``SequenceProgress``
      exists) and the concepts it keeps mastered, ``kept_member`` and
      ``kept_concept`` (Q46).

    Times are int64 microseconds since 1970-01-01 UTC (or ``datetime64``),
    :data:`~mlc_progress.columnar.NAT` for none; enumerations are codes, the
    member's position in its enum; ``NaN`` is none for ``consistency_score``,
    ``first_score`` and ``reconciled_score``. Integer columns may be of any
    dtype (signed ones are used as given, unsigned ones held in a signed
    dtype, Q133); what int64 or float64
    cannot hold exactly (uint64 past 2**63 - 1, an integer or long double
    float64 would round) is refused, a limit of the table (Q132). Columns
    are checked, then copied (``copy=True``) into read-only arrays;
    ``copy=False`` hands ndarrays over without a copy (about 30 ms and half
    the memory saved for a million rows): they are made read-only in place,
    and other arrays over the same memory must be left alone. Anything else
    (a list, a buffer) is always copied.

    >>> import numpy as np
    >>> from datetime import datetime, UTC
    >>> from mlc_progress import AssignmentStructure, Stage, StepDefinition
    >>> s = AssignmentStructure(assignment_id="a", created_at=datetime(2026, 1, 1,
    ...     tzinfo=UTC), steps=(StepDefinition(step_id="s1", element_id="g",
    ...     stage=Stage.PLAY, target_score=80),))
    >>> columns = StepColumns(organization_id="o", student_ids=("u",),
    ...     structures=(s,), group_student=[0], group_assignment=[0],
    ...     step_group=[0], step_index=[0], state=np.array([1], dtype=np.int8),
    ...     target_score=[80.0])
    >>> columns.rows, columns.groups, columns.students
    (1, 1, 1)
    >>> from mlc_progress import InvalidInputError
    >>> try:
    ...     StepColumns(organization_id="o", student_ids=("u",), structures=(s,),
    ...         group_student=[0], group_assignment=[0], step_group=[0],
    ...         step_index=[0], state=np.array([1], dtype=np.int8),
    ...         target_score=[180.0])
    ... except InvalidInputError as err:
    ...     print(err.field, err.value, err.rule[:2])
    target_score[0] 180.0 D1
    """

    organization_id: str
    student_ids: tuple[str, ...]
    structures: tuple[AssignmentStructure, ...]
    sequences: tuple[SequenceStructure, ...]
    kept_concept: tuple[str, ...]

    def __init__(
        self,
        *,
        organization_id: str,
        student_ids: Sequence[str],
        structures: Sequence[AssignmentStructure],
        group_student: Any,
        group_assignment: Any,
        state: Any,
        target_score: Any,
        step_group: Any = None,
        step_index: Any = None,
        started_at: Any = None,
        completed_at: Any = None,
        last_activity_at: Any = None,
        attempt_count: Any = None,
        best_score: Any = None,
        latest_score: Any = None,
        passed: Any = None,
        time_on_task_ms: Any = None,
        session_count: Any = None,
        mastery_level: Any = None,
        consistency_score: Any = None,
        completion_source: Any = None,
        reconciled_score: Any = None,
        score_mean: Any = None,
        score_m2: Any = None,
        first_attempt_at: Any = None,
        first_score: Any = None,
        latest_attempt_at: Any = None,
        archived: Any = None,
        due_at_override: Any = None,
        attempt_student: Any = None,
        attempt_assignment: Any = None,
        attempted_at: Any = None,
        attempt_duration_ms: Any = None,
        attempt_key: Any = None,
        activity_student: Any = None,
        activity_day: Any = None,
        previous_risk_rules: Any = None,
        previous_risk_dismissed: Any = None,
        sequences: Sequence[SequenceStructure] = (),
        member_student: Any = None,
        member_sequence: Any = None,
        member_stored: Any = None,
        kept_member: Any = None,
        kept_concept: Sequence[str] = (),
        copy: bool = True,
    ) -> None:
        if not isinstance(copy, bool):
            raise InvalidInputError("copy", copy, "a flag is a boolean")
        # Handed over (copy=False): the caller's arrays become read-only once
        # the checks pass, so a later write through them raises.
        handed = (
            []
            if copy
            else [value for value in locals().values() if isinstance(value, np.ndarray)]
        )
        v.check_id_value("organization_id", organization_id)
        self.organization_id = organization_id
        self.student_ids = _items("student_ids", student_ids, "ids")
        for sid in self.student_ids:
            v.check_id_value("student_ids", sid)
        seen: set[str] = set()
        for sid in self.student_ids:
            if sid in seen:
                raise InvalidInputError("student_ids", sid, "one entry per student")
            seen.add(sid)
        self.structures = _items(
            "structures", structures, "AssignmentStructure records"
        )
        for s in self.structures:
            if not isinstance(s, AssignmentStructure):
                raise InvalidInputError("structures", s, "an AssignmentStructure")
        self.sequences = _items("sequences", sequences, "SequenceStructure records")
        for q in self.sequences:
            if not isinstance(q, SequenceStructure):
                raise InvalidInputError("sequences", q, "a SequenceStructure")
        n_students = len(self.student_ids)

        self.group_student = _ints("group_student", group_student, None)
        n_groups = len(self.group_student)
        self.group_assignment = _ints("group_assignment", group_assignment, n_groups)
        self.archived = _bools(
            "archived", _default(archived, n_groups, False, bool), n_groups
        )
        self.due_at_override = _times(
            "due_at_override",
            _default(due_at_override, n_groups, NAT, np.int64),
            n_groups,
        )

        self.state = _ints("state", state, None, f"one of {_STATE_NAMES}")
        n = len(self.state)
        self.step_group = (
            None if step_group is None else _ints("step_group", step_group, n)
        )
        self.step_index = (
            None if step_index is None else _ints("step_index", step_index, n)
        )
        self.target_score = _floats("target_score", target_score, n, v.RULE_TARGET)
        self.started_at = _times(
            "started_at", _default(started_at, n, NAT, np.int64), n
        )
        self.completed_at = _times(
            "completed_at", _default(completed_at, n, NAT, np.int64), n
        )
        self.last_activity_at = _times(
            "last_activity_at", _default(last_activity_at, n, NAT, np.int64), n
        )
        self.attempt_count = _ints(
            "attempt_count", _default(attempt_count, n, 0, np.int64), n
        )
        self.best_score = _floats(
            "best_score", _default(best_score, n, 0.0, np.float64), n, v.RULE_SCORE
        )
        self.latest_score = _floats(
            "latest_score", _default(latest_score, n, 0.0, np.float64), n, v.RULE_SCORE
        )
        self.passed = _bools("passed", _default(passed, n, False, bool), n)
        self.time_on_task_ms = _ints(
            "time_on_task_ms",
            _default(time_on_task_ms, n, 0, np.int64),
            n,
            v.RULE_DURATION,
        )
        self.session_count = _ints(
            "session_count", _default(session_count, n, 0, np.int64), n
        )
        self.mastery_level = _ints(
            "mastery_level",
            _default(mastery_level, n, 0, np.int8),
            n,
            f"one of {_MASTERY_NAMES}",
        )
        self.consistency_score = _floats(
            "consistency_score",
            _default(consistency_score, n, np.nan, np.float64),
            n,
            v.RULE_RATIO,
            scale=100,
        )
        self.completion_source = _ints(
            "completion_source",
            _default(completion_source, n, 0, np.int8),
            n,
            f"one of {_SOURCE_NAMES}",
        )
        self.reconciled_score = _floats(
            "reconciled_score",
            _default(reconciled_score, n, np.nan, np.float64),
            n,
            v.RULE_SCORE,
        )
        self.score_mean = _floats(
            "score_mean", _default(score_mean, n, 0.0, np.float64), n, v.RULE_SCORE
        )
        self.score_m2 = _floats(
            "score_m2", _default(score_m2, n, 0.0, np.float64), n, v.RULE_RATIO
        )
        self.first_attempt_at = _times(
            "first_attempt_at", _default(first_attempt_at, n, NAT, np.int64), n
        )
        self.first_score = _floats(
            "first_score", _default(first_score, n, np.nan, np.float64), n, v.RULE_SCORE
        )
        self.latest_attempt_at = _times(
            "latest_attempt_at", _default(latest_attempt_at, n, NAT, np.int64), n
        )

        self.attempt_student = _ints(
            "attempt_student", _default(attempt_student, 0, 0, np.int64), None
        )
        n_att = len(self.attempt_student)
        self.attempt_assignment = _ints(
            "attempt_assignment", _default(attempt_assignment, 0, 0, np.int64), n_att
        )
        self.attempted_at = _times(
            "attempted_at", _default(attempted_at, 0, 0, np.int64), n_att
        )
        self.attempt_duration_ms = _ints(
            "attempt_duration_ms",
            _default(attempt_duration_ms, 0, 0, np.int64),
            n_att,
            v.RULE_DURATION,
        )
        self.attempt_key = _ints(
            "attempt_key",
            np.arange(n_att) if attempt_key is None else attempt_key,
            n_att,
            "D3: an attempt key is an integer",
        )
        self.activity_student = _ints(
            "activity_student", _default(activity_student, 0, 0, np.int64), None
        )
        self.activity_day = _ints(
            "activity_day",
            _default(activity_day, 0, 0, np.int64),
            len(self.activity_student),
            "Q39: a day is an integer, days since 1970-01-01",
            wide=True,
        )
        self.previous_risk_rules = _ints(
            "previous_risk_rules",
            _default(previous_risk_rules, n_students, 0, np.int8),
            n_students,
        )
        self.previous_risk_dismissed = _bools(
            "previous_risk_dismissed",
            _default(previous_risk_dismissed, n_students, False, bool),
            n_students,
        )
        self.member_student = _ints(
            "member_student", _default(member_student, 0, 0, np.int64), None
        )
        n_members = len(self.member_student)
        self.member_sequence = _ints(
            "member_sequence", _default(member_sequence, 0, 0, np.int64), n_members
        )
        self.member_stored = _bools(
            "member_stored",
            _default(member_stored, n_members, False, bool),
            n_members,
        )
        self.kept_member = _ints(
            "kept_member", _default(kept_member, 0, 0, np.int64), None
        )
        self.kept_concept = _items("kept_concept", kept_concept, "concept ids")
        if len(self.kept_concept) != len(self.kept_member):
            raise InvalidInputError(
                "kept_concept",
                len(self.kept_concept),
                f"one value per row ({len(self.kept_member)})",
            )
        for c in self.kept_concept:
            v.check_id_value("kept_concept", c)

        self.catalog = _Catalog(self.structures)
        vocabulary = dict(self.catalog.concepts)
        self.kept_concept_id = np.array(
            [vocabulary.setdefault(c, len(vocabulary)) for c in self.kept_concept],
            dtype=np.int64,
        )
        self.concept_count = len(vocabulary)
        self._check_records()
        self._check_groups()
        self._check_keys()
        self._check_attempts()
        self._check_students()
        self._check_sequences()
        self._layout_student()
        for given in handed:
            given.flags.writeable = False
        if copy:
            # Checked, then copied: the caller's arrays stay theirs to change.
            for name, value in list(vars(self).items()):
                if isinstance(value, np.ndarray) and not value.flags.owndata:
                    object.__setattr__(self, name, _readonly(value.copy()))
        self._frozen = True

    @classmethod
    def from_histories(
        cls,
        histories: Iterable[StudentHistory],
        *,
        organization_id: str | None = None,
        previous_risk: Mapping[str, RiskState] | None = None,
    ) -> StepColumns:
        """The table of ``StudentHistory`` records of one organization (D19),
        with each student's stored ``RiskState`` (by student id).

        Everything ``summarize_student`` reads for the summary and flags is
        kept: structures, stored progress (archived, ``due_at_override``),
        step records, attempts, activity days, sequences with their stored
        progress. ``class_ids`` are not (no figure reads them); histories
        with ``snapshots`` are refused (the kernel computes no trends).

        >>> from mlc_progress.batch import StudentHistory
        >>> StepColumns.from_histories(
        ...     [StudentHistory(student_id="u", organization_id="o")]).students
        1
        """
        from ._columnar_build import columns_from_histories

        return cls(
            **columns_from_histories(
                histories, organization_id=organization_id, previous_risk=previous_risk
            )
        )

    def __setattr__(self, name: str, value: Any) -> None:
        if getattr(self, "_frozen", False):
            raise AttributeError(f"StepColumns is immutable: cannot set {name!r}")
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        return (
            f"StepColumns(organization_id={self.organization_id!r},"
            f" students={self.students}, groups={self.groups}, rows={self.rows},"
            f" attempts={len(self.attempt_student)})"
        )

    @property
    def rows(self) -> int:
        """The number of step records."""
        return len(self.state)

    @property
    def groups(self) -> int:
        """The number of (student, assignment) groups."""
        return len(self.group_student)

    @property
    def students(self) -> int:
        """The number of students."""
        return len(self.student_ids)

    # -- validation ---------------------------------------------------------

    def _check_records(self) -> None:
        """Every rule of ``StepProgress``, in its order (D1-D7, D9, Q74), over
        chunks of rows small enough to stay in cache. The error names the
        first bad row and its first broken rule: where a loop building the
        records in order would fail."""
        source = self.completion_source
        free_play = bool(len(source)) and bool((source == _FREE_PLAY).any())
        reconciled = not bool(np.isnan(self.reconciled_score).all())
        n = self.rows
        for lo in range(0, n, _CHUNK_ROWS):
            rows = slice(lo, min(lo + _CHUNK_ROWS, n))
            f = _Failures(lo)
            if not self._fields_valid(rows):
                self._check_fields(f, rows)
            self._check_rules(f, rows, free_play, reconciled)
            f.raise_first()
        time = self.time_on_task_ms
        if len(time) and int(time.max()) * len(time) >= _SUM_LIMIT:
            raise InvalidInputError(
                "time_on_task_ms",
                int(time.max()),
                "columnar: the total time of the table fits in 62 bits",
            )

    def _fields_valid(self, rows: slice) -> bool:
        """Whether every field of the rows is in its range, from minima and
        maxima (``NaN`` fails every comparison)."""

        def within(x: Array, low: float, high: float, *, above: bool = False) -> bool:
            x = x[rows]
            if not len(x):
                return True
            least, most = x.min(), x.max()
            return bool((least > low if above else least >= low) and most <= high)

        def optional(x: Array, low: float, high: float) -> bool:
            x = x[rows]
            if not len(x):
                return True
            least, most = np.fmin.reduce(x), np.fmax.reduce(x)
            return bool(np.isnan(least) or (least >= low and most <= high))

        def times(x: Array) -> bool:
            x = x[rows]
            if not len(x):
                return True
            # NAT - 1 wraps to the largest value: the least time that is set.
            least = int((x - 1).min()) + 1
            return least >= MIN_US and int(x.max()) <= MAX_US

        return (
            within(self.state, 0, 3)
            and times(self.started_at)
            and times(self.completed_at)
            and times(self.last_activity_at)
            and within(self.attempt_count, 0, np.inf)
            and within(self.best_score, 0.0, 100.0)
            and within(self.latest_score, 0.0, 100.0)
            and within(self.target_score, 0.0, 100.0, above=True)
            and within(self.time_on_task_ms, 0, np.inf)
            and within(self.session_count, 0, np.inf)
            and within(self.mastery_level, 0, 3)
            and optional(self.consistency_score, 0.0, np.finfo(np.float64).max)
            and within(self.completion_source, 0, 3)
            and optional(self.reconciled_score, 0.0, 100.0)
            and within(self.score_mean, 0.0, 100.0)
            and within(self.score_m2, 0.0, np.finfo(np.float64).max)
            and times(self.first_attempt_at)
            and optional(self.first_score, 0.0, 100.0)
            and times(self.latest_attempt_at)
        )

    def _check_fields(self, f: _Failures, rows: slice) -> None:
        """The field validators of ``StepProgress``, in field order."""

        def score_bad(x: Array) -> Array:
            return ~((x >= 0.0) & (x <= 100.0))

        def time(name: str) -> None:
            column = getattr(self, name)
            f.check(_bad_time(column[rows]), name, _time_value(column), v.RULE_TIME)

        def optional(name: str, bad: Callable[[Array], Array], rule: str) -> None:
            column = getattr(self, name)
            x = column[rows]
            f.check(~(np.isnan(x) | ~bad(x)), name, _plain(column), rule)

        def plain(name: str, bad: Callable[[Array], Array], rule: str) -> None:
            column = getattr(self, name)
            f.check(bad(column[rows]), name, _plain(column), rule)

        def code(x: Array) -> Array:
            return (x < 0) | (x > 3)

        def negative(x: Array) -> Array:
            return x < 0

        def ratio_bad(x: Array) -> Array:
            return ~((x >= 0.0) & (x < np.inf))

        plain("state", code, f"one of {_STATE_NAMES}")
        time("started_at")
        time("completed_at")
        time("last_activity_at")
        plain("attempt_count", negative, v.RULE_COUNT)
        plain("best_score", score_bad, v.RULE_SCORE)
        plain("latest_score", score_bad, v.RULE_SCORE)
        plain("target_score", lambda x: ~((x > 0.0) & (x <= 100.0)), v.RULE_TARGET)
        plain("time_on_task_ms", negative, v.RULE_DURATION)
        plain("session_count", negative, v.RULE_COUNT)
        plain("mastery_level", code, f"one of {_MASTERY_NAMES}")
        optional("consistency_score", ratio_bad, v.RULE_RATIO)
        plain("completion_source", code, f"one of {_SOURCE_NAMES}")
        optional("reconciled_score", score_bad, v.RULE_SCORE)
        plain("score_mean", score_bad, v.RULE_SCORE)
        plain("score_m2", ratio_bad, v.RULE_RATIO)
        time("first_attempt_at")
        optional("first_score", score_bad, v.RULE_SCORE)
        time("latest_attempt_at")

    def _check_rules(
        self, f: _Failures, rows: slice, free_play: bool, reconciled: bool
    ) -> None:
        """The record's own rules (``StepProgress.__attrs_post_init__``), in
        order. A condition an earlier rule already implies for the same row
        is left out: that row fails the earlier rule first."""
        state = self.state[rows]
        attempts = self.attempt_count[rows]
        started = self.started_at[rows]
        completed = self.completed_at[rows]
        last = self.last_activity_at[rows]
        first_at = self.first_attempt_at[rows]
        latest_at = self.latest_attempt_at[rows]
        best = self.best_score[rows]
        latest = self.latest_score[rows]
        first = self.first_score[rows]
        source = self.completion_source[rows]

        def enum_value(
            column: Array, members: tuple[Any, ...]
        ) -> Callable[[int], object]:
            def value(row: int) -> object:
                code = int(column[row])
                return members[code] if 0 <= code < len(members) else code

            return value

        complete = state == _COMPLETE
        has_started = started != NAT
        has_completed = completed != NAT
        has_last = last != NAT
        none = attempts == 0
        some = ~none
        touched = some | has_started
        no_first = np.isnan(first)
        f.check(
            complete != has_completed,
            "completed_at",
            _time_value(self.completed_at),
            "D4: completed_at is set exactly when the state is complete",
        )
        f.check(
            (source == _FRESH) & has_completed & (completed < started),
            "completed_at",
            _time_value(self.completed_at),
            _TIME_ORDER,
        )
        f.check(
            has_last & (last < started),
            "last_activity_at",
            _time_value(self.last_activity_at),
            _TIME_ORDER,
        )
        f.check(
            (state == _IN_PROGRESS) & ~has_started,
            "started_at",
            lambda row: None,
            "D4: an in-progress step has started_at",
        )
        f.check(
            (state == _AVAILABLE) & touched,
            "state",
            enum_value(self.state, _STATES),
            "Q74: a step with an attempt or a start is in progress or complete,"
            " not available",
        )
        if free_play:
            f.check(
                complete
                & (source == _FREE_PLAY)
                & np.isnan(self.reconciled_score[rows]),
                "reconciled_score",
                lambda row: None,
                "D9: a step completed by free play keeps where the score came from",
            )
        f.check(
            (state == _LOCKED) & touched,
            "state",
            enum_value(self.state, _STATES),
            "D4: a locked step has no attempts and has not started",
        )
        f.check(
            none
            & (
                (best != 0)
                | (latest != 0)
                | (self.score_mean[rows] != 0)
                | (self.score_m2[rows] != 0)
                | (first_at != NAT)
                | ~no_first
                | (latest_at != NAT)
                | ~np.isnan(self.consistency_score[rows])
            ),
            "attempt_count",
            lambda row: 0,
            "D4: a step without attempts has no scores",
        )
        f.check(
            none & (self.mastery_level[rows] != 0),
            "mastery_level",
            enum_value(self.mastery_level, _LEVELS),
            "D6: a step without attempts is not_started",
        )
        f.check(
            some
            & (
                (first_at == NAT)
                | (latest_at == NAT)
                | no_first
                | ~has_started
                | ~has_last
            ),
            "attempt_count",
            _plain(self.attempt_count),
            "D4: a step with attempts has started and has first and latest attempts",
        )
        f.check(
            some & (self.session_count[rows] < 1),
            "session_count",
            _plain(self.session_count),
            "D4: an attempt is played in a session",
        )
        best_text = self.best_score
        f.check(
            best < latest,
            "latest_score",
            _plain(self.latest_score),
            lambda row: (
                f"D4: latest_score is at most best_score={float(best_text[row])!r}"
            ),
        )
        f.check(
            some & ~(first <= best),
            "first_score",
            _optional_float(self.first_score),
            lambda row: (
                f"D4: first_score is at most best_score={float(best_text[row])!r}"
            ),
        )
        f.check(
            latest_at < first_at,
            "latest_attempt_at",
            _time_value(self.latest_attempt_at),
            "D2: the latest attempt is not before the first",
        )
        f.check(
            last < latest_at,
            "last_activity_at",
            _time_value(self.last_activity_at),
            "D2: last_activity_at is never before the latest attempt",
        )
        f.check(
            some & (first_at < started),
            "first_attempt_at",
            _time_value(self.first_attempt_at),
            "D4: started_at is the first interaction",
        )
        target = self.target_score[rows]
        met = some & (best >= target)
        if reconciled:
            met |= self.reconciled_score[rows] >= target
        f.check(
            self.passed[rows] != met,
            "passed",
            _plain(self.passed),
            "D7: passed is whether the best evidence meets the current target",
        )

    def _check_groups(self) -> None:
        f = _Failures()
        gs, ga = self.group_student, self.group_assignment
        f.check(
            (gs < 0) | (gs >= self.students),
            "group_student",
            _plain(gs),
            "an index into student_ids",
        )
        f.check(
            (ga < 0) | (ga >= len(self.structures)),
            "group_assignment",
            _plain(ga),
            "an index into structures",
        )
        f.raise_first()
        if len(gs) > 1:
            back = np.zeros(len(gs), dtype=bool)
            back[1:] = gs[1:] < gs[:-1]
            f.check(back, "group_student", _plain(gs), "groups are in student order")
        f.check(
            _bad_time(self.due_at_override),
            "due_at_override",
            _time_value(self.due_at_override),
            v.RULE_TIME,
        )
        f.raise_first()
        key = (
            gs.astype(np.int64, copy=False) * max(len(self.catalog.assignment_ids), 1)
            + (self.catalog.id_code[ga])
        )
        dup = _duplicates(key)
        ids = self.catalog.assignment_ids
        code = self.catalog.id_code
        f.check(
            dup,
            "group_assignment",
            lambda row: ids[int(code[int(ga[row])])],
            "one entry per assignment",
        )
        f.raise_first()

    def _check_keys(self) -> None:
        """Rows are of a group and a step of its structure, once (Q17).
        Without keys the rows are every step of every group, in order."""
        kmax = self.catalog.kmax
        ga = self.group_assignment
        n = len(self.state)
        if self.step_group is None or self.step_index is None:
            if self.step_group is not None or self.step_index is not None:
                raise InvalidInputError(
                    "step_index", None, "step_group and step_index come together"
                )
            full = bool((self.catalog.n_steps[ga] == kmax).all())
            if n != self.groups * kmax or not full:
                raise InvalidInputError(
                    "step_group",
                    None,
                    "rows without step_group and step_index are every step of"
                    f" every group, in order ({self.groups} x {kmax} rows, every"
                    " structure as long as the longest)",
                )
            self.dense = True
            self.flat = None
            return
        f = _Failures()
        g, k = self.step_group, self.step_index
        if n and not (int(g.min()) >= 0 and int(g.max()) < self.groups):
            f.check(
                (g < 0) | (g >= self.groups),
                "step_group",
                _plain(g),
                "an index of a group",
            )
            f.raise_first()
        structures = self.structures
        shortest = int(self.catalog.n_steps[ga].min()) if self.groups else 0
        if n and not (int(k.min()) >= 0 and int(k.max()) < shortest):
            a = ga[g]
            f.check(
                (k < 0) | (k >= self.catalog.n_steps[a]),
                "step_index",
                _plain(k),
                lambda row: f"a step of {structures[int(a[row])].assignment_id!r}",
            )
            f.raise_first()
        flat = g.astype(np.int64, copy=False) * kmax + k
        increasing = n < 2 or bool((flat[1:] > flat[:-1]).all())
        self.dense = increasing and n == self.groups * kmax
        if not increasing:
            a = ga[g]
            f.check(
                _duplicates(flat),
                "step_index",
                lambda row: structures[int(a[row])].steps[int(k[row])].step_id,
                "one record per step",
            )
            f.raise_first()
        self.flat = None if self.dense else flat

    def _check_attempts(self) -> None:
        f = _Failures()
        self.attempt_keys_unique = True
        s, a = self.attempt_student, self.attempt_assignment
        f.check(
            (s < 0) | (s >= self.students),
            "attempt_student",
            _plain(s),
            "an index into student_ids",
        )
        f.check(
            (a < 0) | (a >= len(self.structures)),
            "attempt_assignment",
            _plain(a),
            "an index into structures",
        )
        f.raise_first()
        f.check(
            _bad_time(self.attempted_at, optional=False),
            "attempted_at",
            _time_value(self.attempted_at),
            v.RULE_TIME,
        )
        f.check(
            self.attempt_duration_ms < 0,
            "attempt_duration_ms",
            _plain(self.attempt_duration_ms),
            v.RULE_DURATION,
        )
        f.raise_first()
        if len(s):
            width = len(self.structures)
            groups = self.group_student * width + self.group_assignment
            wanted = s * width + a
            f.check(
                ~np.isin(wanted, groups),
                "attempt_assignment",
                lambda row: self.structures[int(a[row])].assignment_id,
                "an attempt of a listed assignment",
            )
            f.raise_first()
            key = self.attempt_key
            self.attempt_keys_unique = len(key) < 2 or bool((key[1:] > key[:-1]).all())
            if not self.attempt_keys_unique:
                order = np.lexsort((key, s))
                ks, ss = key[order], s[order]
                self.attempt_keys_unique = not bool(
                    ((ks[1:] == ks[:-1]) & (ss[1:] == ss[:-1])).any()
                )
            durations = self.attempt_duration_ms
            if int(durations.max()) * len(durations) >= _SUM_LIMIT:
                raise InvalidInputError(
                    "attempt_duration_ms",
                    int(durations.max()),
                    "columnar: the total time of the table fits in 62 bits",
                )
        d = self.activity_day
        f.check(
            (self.activity_student < 0) | (self.activity_student >= self.students),
            "activity_student",
            _plain(self.activity_student),
            "an index into student_ids",
        )
        f.check(
            (d < _MIN_DAY) | (d > _MAX_DAY),
            "activity_day",
            _plain(d),
            "Q39: a day between 0001-01-01 and 9999-12-31",
        )
        f.raise_first()

    def _check_students(self) -> None:
        f = _Failures()
        rules, dismissed = self.previous_risk_rules, self.previous_risk_dismissed
        f.check(
            (rules < 0) | (rules > _RULE_BITS),
            "previous_risk_rules",
            _plain(rules),
            f"D17: a set of rules, one bit each, at most {_RULE_BITS}",
        )
        f.check(
            dismissed & (rules == 0),
            "previous_risk_dismissed",
            _plain(dismissed),
            "a dismissal stands only while the factor kinds it dismissed hold",
        )
        f.raise_first()

    def _check_sequences(self) -> None:
        f = _Failures()
        s, q = self.member_student, self.member_sequence
        f.check(
            (s < 0) | (s >= self.students),
            "member_student",
            _plain(s),
            "an index into student_ids",
        )
        f.check(
            (q < 0) | (q >= len(self.sequences)),
            "member_sequence",
            _plain(q),
            "an index into sequences",
        )
        f.raise_first()
        ids = sorted({x.sequence_id for x in self.sequences})
        code = np.array(
            [ids.index(x.sequence_id) for x in self.sequences], dtype=np.int64
        )
        self.sequence_code = code
        if len(s):
            key = s.astype(np.int64, copy=False) * max(len(ids), 1) + code[q]
            f.check(
                _duplicates(key),
                "member_sequence",
                lambda row: self.sequences[int(q[row])].sequence_id,
                "one entry per sequence",
            )
        km = self.kept_member
        inside = (km >= 0) & (km < len(s))
        f.check(~inside, "kept_member", _plain(km), "an index of a sequence entry")
        f.raise_first()
        f.check(
            ~self.member_stored[km],
            "kept_member",
            _plain(km),
            "Q46: a concept kept by a stored sequence progress",
        )
        f.raise_first()

    # -- layout -------------------------------------------------------------

    def _layout_student(self) -> None:
        """Where each student's groups are: start, count and rank."""
        gs = self.group_student.astype(np.int64, copy=False)
        counts = np.bincount(gs, minlength=self.students)
        starts = np.zeros(self.students, dtype=np.int64)
        if self.students:
            starts[1:] = np.cumsum(counts)[:-1]
        self.group_count = counts
        self.group_start = starts
        self.group_rank = np.arange(self.groups, dtype=np.int64) - starts[gs]
        self.gmax = int(counts.max()) if self.students else 0
        self.student_dense = bool(self.students == 0 or (counts == self.gmax).all())

    def grid(self, column: Array, fill: Any) -> Array:
        """A row column as ``[group, step]``, ``fill`` where no record is."""
        kmax = self.catalog.kmax
        if self.dense:
            return column.reshape(self.groups, kmax)
        out = np.full(self.groups * kmax, fill, dtype=column.dtype)
        out[self.flat] = column
        return out.reshape(self.groups, kmax)

    def by_student(self, values: Array, fill: Any) -> Array:
        """A group column as ``[student, rank]``, ``fill`` past a student's
        groups."""
        if self.student_dense:
            return values.reshape(self.students, self.gmax, *values.shape[1:])
        out = np.full(
            (self.students, self.gmax, *values.shape[1:]), fill, dtype=values.dtype
        )
        out[self.group_student, self.group_rank] = values
        return out


def _duplicates(key: Array) -> Array:
    """True on each row whose key an earlier row has."""
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    repeat = np.zeros(len(key), dtype=bool)
    if len(key) > 1:
        repeat[order[1:]] = ordered[1:] == ordered[:-1]
    return repeat
