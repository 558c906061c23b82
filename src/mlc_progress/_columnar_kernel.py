"""The columnar kernel: every assignment figure, student summary and D17 flag
of :func:`~mlc_progress.summarize_student`, as array operations.

Exactness: counts, states and times are integers. Floats that the record
path sums in step order are summed column by column over a ``[group, step]``
layout (never with numpy's pairwise ``sum``), overall mastery over a
``[student, assignment]`` layout in the history's order; divisions of
integers are correctly rounded as Python's are; ``math.fsum`` is an exact
sum, correctly rounded; rounding is half away from zero (D17, Q24). A
property test holds every figure equal to the record path's.

Speed: students are processed in spans of about 65,000 cells, so that a
span's working arrays stay in a core's cache; the element-wise work runs
about twice as fast as over whole columns. Per-student reductions run over
``[student, cell]`` rows when every student has the same number of
assignments, and a student's days with activity are 64-bit masks.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import attrs

from ._columnar_columns import StepColumns
from ._columnar_np import MAX_US, MIN_US, NAT, Array, from_us, member_of, np, to_us
from ._enums import AssignmentStatus, PacingStatus, Stage
from ._errors import InvalidInputError
from ._pacing import utc_argument
from ._policy import DEFAULT_POLICY, Policy
from ._records import AssignmentProgress, StudentProgressSummary
from ._risk import RiskFactor, RiskRule

__all__ = [
    "AssignmentFigures",
    "ColumnSummaries",
    "StudentFigures",
    "StudentRecords",
    "summarize_columns",
]

_DAY = 86_400_000_000
_WEEK = 7 * _DAY
_WEEK_US = 604_800_000_000
_MAX = int(np.iinfo(np.int64).max)
_EXACT = 2**53
# as_of + this many weeks is past year 9999 for any as_of: the projection
# overflows, and the record path gives None.
_MAX_WEEKS = 530_000.0
_RULES = tuple(RiskRule)
_NOT_STARTED, _IN_PROGRESS, _COMPLETE_STATUS, _ARCHIVED = range(4)
_AHEAD, _ON_TRACK, _BEHIND, _AT_RISK = range(4)


@attrs.frozen(kw_only=True, eq=False, repr=False)
class AssignmentFigures:
    """Every figure of ``AssignmentProgress`` per group (D10-D15), aligned
    with the table's groups. ``assigned`` groups (created by ``as_of``) are
    those the record path computes; the others hold no figures.
    ``status`` and ``pacing_status`` are codes; times are microseconds,
    ``NAT`` for none; ``next_step`` is a step index, -1 for none."""

    assigned: Array
    status: Array
    completion_percentage: Array
    steps_total: Array
    steps_required: Array
    steps_completed: Array
    steps_in_progress: Array
    steps_locked: Array
    started_at: Array
    completed_at: Array
    estimated_completion_date: Array
    time_on_task_ms: Array
    average_score: Array
    mastery_score: Array
    pass_rate: Array
    next_step: Array
    next_step_due_at: Array
    steps_per_week: Array
    pacing_status: Array
    due_at_override: Array


@attrs.frozen(kw_only=True, eq=False, repr=False)
class StudentFigures:
    """Every figure of ``StudentProgressSummary`` per student, the D17
    assessment and the student-level completion (Q43).

    ``risk_rules`` is the assessed set of rules (a bit per
    :class:`RiskRule`), ``risk_amounts`` the N of each factor string
    (``[student, rule]``, -1 where the rule did not fire);
    ``dismissal_stands`` is whether the stored dismissal still holds, so
    ``at_risk`` (the effective flag the summary shows) is assessed and not
    dismissed; ``risk_changed`` is whether the flag or its kinds changed
    from the stored state (``summarize_student`` then emits
    ``student_at_risk_detected``). ``worst_pacing`` is a code, -1 without an
    active assignment."""

    active_assignments: Array
    completed_assignments: Array
    total_time_on_task_ms: Array
    steps_completed_this_week: Array
    time_on_task_this_week_ms: Array
    games_played_this_week: Array
    overall_mastery_score: Array
    concepts_mastered_count: Array
    badges_earned: Array
    last_activity_at: Array
    streak_days: Array
    engagement_score: Array
    at_risk: Array
    risk_rules: Array
    risk_amounts: Array
    dismissal_stands: Array
    risk_changed: Array
    completion_percentage: Array
    worst_pacing: Array


@attrs.frozen(kw_only=True)
class StudentRecords:
    """One student's kernel figures as records: the summary, the progress of
    each assigned assignment (in the history's order), the student-level
    completion, the least favourable pacing of active assignments, the
    assessed factor strings (before a dismissal) and whether the flag
    changed."""

    student_id: str
    summary: StudentProgressSummary
    assignments: tuple[AssignmentProgress, ...]
    completion_percentage: float
    worst_pacing: PacingStatus | None
    assessed_factors: tuple[str, ...]
    dismissal_stands: bool
    risk_changed: bool


@attrs.frozen(kw_only=True, eq=False, repr=False)
class ColumnSummaries:
    """The kernel's results: :class:`AssignmentFigures` per group and
    :class:`StudentFigures` per student, and a way back to records."""

    columns: StepColumns
    as_of: datetime
    policy: Policy
    assignments: AssignmentFigures
    students: StudentFigures

    def __repr__(self) -> str:
        return (
            f"ColumnSummaries(as_of={self.as_of.isoformat()},"
            f" students={self.columns.students}, groups={self.columns.groups})"
        )

    def student_index(self, student: int | np.integer[Any] | str) -> int:
        """The position of a student, by position (an int from 0) or id."""
        if isinstance(student, str):
            try:
                return self.columns.student_ids.index(student)
            except ValueError:
                raise InvalidInputError(
                    "student_id", student, "a student of the table"
                ) from None
        return _position("student", student, self.columns.students, "student")

    def assignment_progress(self, group: int | np.integer[Any]) -> AssignmentProgress:
        """The ``AssignmentProgress`` of one assigned group (an int from 0)."""
        group = _position("group", group, self.columns.groups, "group")
        a = self.assignments
        if not bool(a.assigned[group]):
            raise InvalidInputError(
                "group", group, "an assignment created by as_of (assigned)"
            )
        c = self.columns
        structure = c.structures[int(c.group_assignment[group])]
        nxt = int(a.next_step[group])
        return AssignmentProgress(
            assignment_id=structure.assignment_id,
            student_id=c.student_ids[int(c.group_student[group])],
            status=member_of(AssignmentStatus, a.status[group]),
            completion_percentage=float(a.completion_percentage[group]),
            steps_total=int(a.steps_total[group]),
            steps_required=int(a.steps_required[group]),
            steps_completed=int(a.steps_completed[group]),
            steps_in_progress=int(a.steps_in_progress[group]),
            steps_locked=int(a.steps_locked[group]),
            started_at=from_us(int(a.started_at[group])),
            completed_at=from_us(int(a.completed_at[group])),
            estimated_completion_date=from_us(int(a.estimated_completion_date[group])),
            time_on_task_ms=int(a.time_on_task_ms[group]),
            average_score=float(a.average_score[group]),
            mastery_score=float(a.mastery_score[group]),
            pass_rate=float(a.pass_rate[group]),
            next_step_id=None if nxt < 0 else structure.steps[nxt].step_id,
            next_step_due_at=from_us(int(a.next_step_due_at[group])),
            steps_per_week=float(a.steps_per_week[group]),
            pacing_status=member_of(PacingStatus, a.pacing_status[group]),
            due_at_override=from_us(int(a.due_at_override[group])),
        )

    def assessed_factors(self, student: int | np.integer[Any] | str) -> tuple[str, ...]:
        """The D17 factor strings assessed for a student, in rule order."""
        return assessed_factor_codes(self.students, self.student_index(student))

    def summary(self, student: int | np.integer[Any] | str) -> StudentProgressSummary:
        """The ``StudentProgressSummary`` of one student."""
        i = self.student_index(student)
        return summary_of(
            self.students,
            i,
            student_id=self.columns.student_ids[i],
            organization_id=self.columns.organization_id,
        )

    def records(self, student: int | np.integer[Any] | str) -> StudentRecords:
        """One student's figures as records."""
        i = self.student_index(student)
        c = self.columns
        start, count = int(c.group_start[i]), int(c.group_count[i])
        pace = int(self.students.worst_pacing[i])
        return StudentRecords(
            student_id=c.student_ids[i],
            summary=self.summary(i),
            assignments=tuple(
                self.assignment_progress(g)
                for g in range(start, start + count)
                if self.assignments.assigned[g]
            ),
            completion_percentage=float(self.students.completion_percentage[i]),
            worst_pacing=None if pace < 0 else member_of(PacingStatus, pace),
            assessed_factors=self.assessed_factors(i),
            dismissal_stands=bool(self.students.dismissal_stands[i]),
            risk_changed=bool(self.students.risk_changed[i]),
        )

    def to_records(self, student_id: str | None = None) -> tuple[StudentRecords, ...]:
        """Every student's figures as records, or one student's."""
        if student_id is not None:
            return (self.records(student_id),)
        return tuple(self.records(i) for i in range(self.columns.students))


def _position(field: str, value: object, size: int, what: str) -> int:
    """``value`` as a position in ``range(size)``: an int (numpy's too), not
    a boolean; a negative one is refused, not counted from the end."""
    if not isinstance(value, int | np.integer) or isinstance(value, bool | np.bool_):
        raise InvalidInputError(field, value, f"a {what}'s position, an integer")
    position = int(value)
    if not 0 <= position < size:
        raise InvalidInputError(
            field, value, f"a {what} of the table: a position from 0 to {size - 1}"
        )
    return position


def assessed_factor_codes(figures: StudentFigures, i: int) -> tuple[str, ...]:
    """The D17 factor strings of student ``i`` of ``figures``, in rule order
    (before a dismissal)."""
    amounts = figures.risk_amounts[i]
    return tuple(
        RiskFactor(rule=rule, amount=int(amounts[r])).code
        for r, rule in enumerate(_RULES)
        if amounts[r] >= 0
    )


def summary_of(
    figures: StudentFigures, i: int, *, student_id: str, organization_id: str
) -> StudentProgressSummary:
    """Student ``i`` of ``figures`` as the ``StudentProgressSummary`` that
    ``summarize_student`` gives."""
    at_risk = bool(figures.at_risk[i])
    return StudentProgressSummary(
        student_id=student_id,
        organization_id=organization_id,
        active_assignments=int(figures.active_assignments[i]),
        completed_assignments=int(figures.completed_assignments[i]),
        total_time_on_task_ms=int(figures.total_time_on_task_ms[i]),
        steps_completed_this_week=int(figures.steps_completed_this_week[i]),
        time_on_task_this_week_ms=int(figures.time_on_task_this_week_ms[i]),
        games_played_this_week=int(figures.games_played_this_week[i]),
        overall_mastery_score=float(figures.overall_mastery_score[i]),
        concepts_mastered_count=int(figures.concepts_mastered_count[i]),
        badges_earned=int(figures.badges_earned[i]),
        last_activity_at=from_us(int(figures.last_activity_at[i])),
        streak_days=int(figures.streak_days[i]),
        engagement_score=float(figures.engagement_score[i]),
        at_risk=at_risk,
        risk_factors=assessed_factor_codes(figures, i) if at_risk else (),
    )


# -- exact arithmetic helpers -----------------------------------------------------


def _true_divide(numerator: Array, denominator: int) -> Array:
    """``numerator / denominator`` for int64 values, correctly rounded as
    Python's ``int / int`` (exact float conversion below 2**53)."""
    out: Array = numerator.astype(np.float64) / float(denominator)
    big = (numerator > _EXACT) | (numerator < -_EXACT)
    if big.any():
        for i in np.flatnonzero(big):
            out[i] = int(numerator[i]) / denominator
    return out


def _round_half_away(values: Array) -> Array:
    """Round non-negative floats to integers, halves up (D17, Q24): the
    fraction ``x - floor(x)`` is exact, so this is the exact rounding."""
    whole = np.floor(values)
    return whole + ((values - whole) >= 0.5)


def _weeks_after(as_of: int, weeks: Array) -> Array:
    """``as_of + timedelta(weeks=w)`` in microseconds, as CPython's
    ``timedelta`` converts a float (its integer part exactly, the fraction
    times the microseconds of a week, the leftover rounded half to even);
    :data:`NAT` where the date would overflow (the record path's ``None``)."""
    fits = weeks < _MAX_WEEKS
    w = np.where(fits, weeks, 0.0)
    frac, whole = np.modf(w)
    x = whole.astype(np.int64) * _WEEK_US
    frac2, whole2 = np.modf(float(_WEEK_US) * frac)
    x += whole2.astype(np.int64)
    up = frac2 >= 0.5
    half = frac2 == 0.5
    x += np.where(half, (x & 1) == 1, up).astype(np.int64)
    result = as_of + x
    return np.where(fits & (result <= MAX_US), result, NAT)


def _keep(times: Array, mask: Array) -> Array:
    """``times`` where ``mask``, :data:`NAT` elsewhere: two's complement
    arithmetic wraps and unwraps exactly, and costs less than ``np.where``."""
    kept: Array = NAT + (times - NAT) * mask
    return kept


def _count(mask: Array) -> Array:
    """True cells per row of a 2-D mask."""
    rows, width = mask.shape
    if width == 0:
        return np.zeros(rows, dtype=np.int64)
    if width < 128:
        small = np.ascontiguousarray(mask).view(np.int8)
        summed: Array = np.einsum("ij->i", small).astype(np.int64)
        return summed
    counted: Array = mask.sum(axis=1, dtype=np.int64)
    return counted


def _counts(index: Array, size: int) -> Array:
    return np.bincount(index, minlength=size).astype(np.int64)


def _trailing_ones(bits: Array) -> Array:
    ones: Array = np.bitwise_count(bits & ~(bits + np.uint64(1))).astype(np.int64)
    return ones


# -- spans of students --------------------------------------------------------------

# Cells per chunk: the chunk's working arrays stay in a core's cache, which
# roughly halves the cost of the element-wise work over memory-bound passes.
_CHUNK_CELLS = 1 << 16
# Concept sets as bits while they take at most this many 64-bit words.
_CONCEPT_WORDS = 4


class _Span:
    """A run of whole students ``[s0, s1)`` and their groups ``[g0, g1)``,
    with reductions per student of group values or of ``[group, step]``
    cells: one reduction over ``[student, cell]`` rows when every student
    has the same number of groups, else per group and over each student's
    groups."""

    def __init__(self, columns: StepColumns, s0: int, s1: int) -> None:
        self.columns = columns
        self.s0, self.s1 = s0, s1
        n_students, n_groups = columns.students, columns.groups
        self.g0 = int(columns.group_start[s0]) if s0 < n_students else n_groups
        self.g1 = int(columns.group_start[s1]) if s1 < n_students else n_groups
        self.n = s1 - s0
        self.gmax = columns.gmax
        self.kmax = columns.catalog.kmax
        self.width = self.gmax * self.kmax
        self.dense = columns.student_dense

    def group(self, ufunc: Any, values: Array, empty: Any) -> Array:
        if self.dense:
            shaped = values.reshape(self.n, self.gmax)
            reduced: Array = ufunc.reduce(shaped, axis=1, initial=empty)
            return reduced
        c = self.columns
        out = np.full(self.n, empty, dtype=values.dtype)
        some = c.group_count[self.s0 : self.s1] > 0
        if some.any():
            local = c.group_start[self.s0 : self.s1] - self.g0
            out[some] = ufunc.reduceat(values, local[some])
        return out

    def cells(self, values: Array, fill: Any) -> Array:
        """The span's ``[group, step]`` cells as ``[student, cell]``."""
        if self.dense:
            return values.reshape(self.n, self.width)
        c = self.columns
        out = np.full((self.n, self.gmax, self.kmax), fill, dtype=values.dtype)
        rows = c.group_student[self.g0 : self.g1] - self.s0
        out[rows, c.group_rank[self.g0 : self.g1]] = values
        return out.reshape(self.n, self.width)

    def cell_count(self, mask: Array) -> Array:
        if self.dense:
            return _count(mask.reshape(self.n, self.width))
        return self.group(np.add, _count(mask), 0)

    def cell_reduce(self, ufunc: Any, values: Array, empty: Any) -> Array:
        if self.dense:
            shaped = values.reshape(self.n, self.width)
            reduced: Array = ufunc.reduce(shaped, axis=1, initial=empty)
            return reduced
        return self.group(ufunc, ufunc.reduce(values, axis=1, initial=empty), empty)


def _spans(columns: StepColumns) -> list[_Span]:
    per = max(1, _CHUNK_CELLS // max(columns.gmax * columns.catalog.kmax, 1))
    n = columns.students
    return [_Span(columns, s, min(s + per, n)) for s in range(0, n, per)]


class _Grids:
    """The row columns the kernel reads, as ``[group, step]`` (views of the
    rows in the dense layout)."""

    def __init__(self, columns: StepColumns) -> None:
        grid = columns.grid
        self.state = grid(columns.state, -1)
        self.attempts = grid(columns.attempt_count, 0)
        self.best = grid(columns.best_score, 0.0)
        self.target = grid(columns.target_score, 1.0)
        self.first = grid(columns.first_score, np.nan)
        self.started = grid(columns.started_at, NAT)
        self.completed = grid(columns.completed_at, NAT)
        self.last = grid(columns.last_activity_at, NAT)
        self.time = grid(columns.time_on_task_ms, 0)
        self.level = grid(columns.mastery_level, 0)
        self.passed = grid(columns.passed, False)
        self.cv = grid(columns.consistency_score, np.nan)
        self.migrated = bool(
            len(columns.completion_source) and columns.completion_source.max() >= 3
        )
        self.source = grid(columns.completion_source, 0) if self.migrated else None
        self.present = (
            None if columns.dense else grid(np.ones(columns.rows, dtype=bool), False)
        )


class _Out:
    """What the chunks write: every group figure, and per student what only
    the cells tell."""

    def __init__(self, columns: StepColumns) -> None:
        g, s = columns.groups, columns.students
        nat = np.full(g, NAT, dtype=np.int64)
        self.groups: dict[str, Array] = {
            "assigned": np.zeros(g, dtype=bool),
            "status": np.zeros(g, dtype=np.int8),
            "completion_percentage": np.zeros(g),
            "steps_required": np.zeros(g, dtype=np.int64),
            "steps_completed": np.zeros(g, dtype=np.int64),
            "steps_in_progress": np.zeros(g, dtype=np.int64),
            "steps_locked": np.zeros(g, dtype=np.int64),
            "started_at": nat.copy(),
            "completed_at": nat.copy(),
            "estimated_completion_date": nat.copy(),
            "time_on_task_ms": np.zeros(g, dtype=np.int64),
            "average_score": np.zeros(g),
            "mastery_score": np.zeros(g),
            "pass_rate": np.zeros(g),
            "next_step": np.full(g, -1, dtype=np.int64),
            "next_step_due_at": nat,
            "steps_per_week": np.zeros(g),
            "pacing_status": np.zeros(g, dtype=np.int8),
        }
        self.any_activity = np.zeros(g, dtype=bool)
        self.expected = np.zeros(g)
        self.has_window = np.zeros(g, dtype=bool)
        self.steps_week = np.zeros(s, dtype=np.int64)
        self.last_activity = np.full(s, NAT, dtype=np.int64)
        self.last_any = np.full(s, NAT, dtype=np.int64)
        self.days = np.zeros(s, dtype=np.uint64)
        self.amounts = np.full((s, len(_RULES)), -1, dtype=np.int64)
        self.concepts: list[Array] = []
        words = columns.catalog.concept_words.shape[2]
        few = columns.concept_count <= 64 * _CONCEPT_WORDS
        self.concept_bits = (
            np.zeros((s, words), dtype=np.uint64) if few and words else None
        )


# -- the kernel ------------------------------------------------------------------


def summarize_columns(
    columns: StepColumns, *, as_of: datetime, policy: Policy = DEFAULT_POLICY
) -> ColumnSummaries:
    """Every assignment's progress, every student's summary and D17 flags
    as of ``as_of``, as ``summarize_student`` computes them, from columns.

    Events, intervention snapshots, sequence records and trends are not
    computed (``risk_changed`` says which students' flag changed); see
    ``docs/howto-columnar-batch.md``.

    >>> from datetime import datetime, UTC
    >>> from mlc_progress.batch import StudentHistory
    >>> columns = StepColumns.from_histories(
    ...     [StudentHistory(student_id="u", organization_id="o")])
    >>> result = summarize_columns(columns, as_of=datetime(2026, 1, 1, tzinfo=UTC))
    >>> result.summary("u").engagement_score
    0.0
    """
    as_of = utc_argument("as_of", as_of)
    if not isinstance(columns, StepColumns):
        raise InvalidInputError("columns", columns, "a StepColumns table")
    if not isinstance(policy, Policy):
        raise InvalidInputError("policy", policy, "a Policy")
    t = to_us(as_of)
    _check_windows(columns, t, policy)
    grids = _Grids(columns)
    out = _Out(columns)
    weights = columns.catalog.weights([policy.stage_weights.weight(s) for s in Stage])
    for span in _spans(columns):
        _chunk(columns, grids, span, t, policy, weights, out)
    cat = columns.catalog
    ga = columns.group_assignment.astype(np.intp, copy=False)
    figures = AssignmentFigures(
        steps_total=cat.n_steps[ga],
        due_at_override=columns.due_at_override,
        **out.groups,
    )
    students = _students(columns, grids, t, policy, weights[2], figures, out)
    return ColumnSummaries(
        columns=columns,
        as_of=as_of,
        policy=policy,
        assignments=figures,
        students=students,
    )


def _check_windows(columns: StepColumns, t: int, policy: Policy) -> None:
    """The windows before ``as_of`` start after year 1, where the record
    path can subtract them (it cannot otherwise: refuse, do not guess)."""
    if columns.students and t - _WEEK < MIN_US:
        raise InvalidInputError(
            "as_of", from_us(t), "Q37: the week before as_of starts after year 1"
        )
    created = columns.catalog.created[columns.group_assignment]
    if bool((created <= t).any()):
        days = policy.velocity_window_days
        if days > 999_999_999 or t - days * _DAY < MIN_US:
            raise InvalidInputError(
                "velocity_window_days",
                days,
                "D15: the velocity window before as_of starts after year 1",
            )


def _chunk(
    columns: StepColumns,
    grids: _Grids,
    span: _Span,
    t: int,
    policy: Policy,
    weights: tuple[Array, Array, Array],
    out: _Out,
) -> None:
    """One span of students: ``assignment_progress`` for each of its groups
    (D10-D15), then what the summary and D17 read from the cells. Rows are
    valid records (D4): an attempt implies ``started_at`` and
    ``first_score``, ``completed_at`` is set exactly on complete steps."""
    cat = columns.catalog
    kmax = cat.kmax
    rows = slice(span.g0, span.g1)
    n_groups = span.g1 - span.g0
    ga = columns.group_assignment[rows].astype(np.intp, copy=False)
    state = grids.state[rows]
    attempts = grids.attempts[rows]
    best = grids.best[rows]
    started = grids.started[rows]
    completed = grids.completed[rows]

    assigned = cat.created[ga] <= t
    every = bool(assigned.all())

    def only_assigned(mask: Array) -> Array:
        return mask if every else mask & assigned[:, None]

    required_cell = np.take(cat.required, ga, axis=0)
    complete = state == 3
    tried = attempts > 0
    in_progress = state == 2
    required_done = complete & required_cell
    required_complete = _count(required_done)
    required = cat.n_required[ga]
    upcoming = in_progress | (state == 1)
    locked = _count(state == 0)
    if grids.present is not None:
        # Steps without a record: locked, the first one available (Q17).
        missing = np.take(cat.exists, ga, axis=0) & ~grids.present[rows]
        if kmax:
            locked += _count(missing[:, 1:])
            upcoming[:, 0] |= missing[:, 0]

    # D12 and D11: the two float sums, in step order.
    # A cell that does not count adds 0.0, which leaves a sum unchanged.
    stage_weight, total_weight, _ = weights
    weigh = required_cell & tried
    scored_cell = complete & tried
    products = np.take(stage_weight, ga, axis=0) * best * weigh
    scores = best * scored_cell
    weighted = np.zeros(n_groups)
    scored_sum = np.zeros(n_groups)
    for k in range(kmax):
        weighted += products[:, k]
        scored_sum += scores[:, k]
    total = total_weight[ga]
    mastery = np.zeros(n_groups)
    np.divide(weighted, total, out=mastery, where=total != 0)
    mastery = np.minimum(mastery, 100.0)
    scored = _count(scored_cell)
    average = np.zeros(n_groups)
    np.divide(scored_sum, scored, out=average, where=scored > 0)
    average = np.minimum(average, 100.0)

    # D13: first attempts against the current target; a step without
    # attempts has no first score (NaN), which never passes.
    attempted = _count(tried)
    first_passes = _count(grids.first[rows] >= grids.target[rows])
    pass_rate = np.zeros(n_groups)
    np.divide(100.0 * first_passes, attempted, out=pass_rate, where=attempted > 0)

    any_activity = _count(complete | (started != NAT)) > 0
    # The earliest start or completion: NAT - 1 wraps to the largest value.
    first_touch = np.minimum(started - 1, completed - 1).min(axis=1, initial=_MAX) + 1

    ratio = np.zeros(n_groups)
    np.divide(100.0 * required_complete, required, out=ratio, where=required > 0)
    completion = np.where(
        required > 0, np.minimum(np.maximum(ratio, 0.0), 100.0), 100.0
    )
    full = completion >= 100.0
    status = np.where(
        columns.archived[rows],
        _ARCHIVED,
        np.where(
            ~any_activity, _NOT_STARTED, np.where(full, _COMPLETE_STATUS, _IN_PROGRESS)
        ),
    )
    last_required = _keep(completed, required_cell).max(axis=1, initial=NAT)
    completed_at = np.where(
        full & any_activity,
        np.where(last_required != NAT, last_required, first_touch),
        NAT,
    )

    # D15: velocity, expectation, pacing, projection.
    window_start = t - policy.velocity_window_days * _DAY
    recent = required_done & (completed > window_start) & (completed <= t)
    velocity = _count(recent) / (policy.velocity_window_days / 7)
    override = columns.due_at_override[rows]
    created = cat.created[ga]
    end = np.where(override != NAT, override, cat.window_end[ga])
    has_window = end != NAT
    window = _true_divide(np.where(has_window, end, created) - created, 1_000_000)
    elapsed = _true_divide(t - created, 1_000_000)
    share = np.zeros(n_groups)
    np.divide(100.0 * elapsed, window, out=share, where=window > 0)
    expected = np.where(window <= 0, 100.0, np.minimum(np.maximum(share, 0.0), 100.0))
    pacing = np.select(
        [
            completion >= expected + policy.pacing_ahead_points,
            completion >= expected - policy.pacing_on_track_points,
            completion >= expected - policy.pacing_behind_points,
        ],
        [_AHEAD, _ON_TRACK, _BEHIND],
        _AT_RISK,
    )
    pacing = np.where(has_window, pacing, _ON_TRACK)

    remaining = required - required_complete
    moving = (remaining > 0) & (velocity > 0)
    weeks = np.ones(n_groups)
    np.divide(remaining, velocity, out=weeks, where=moving)
    projected = np.where(moving, _weeks_after(t, weeks), NAT)
    projected = np.where(
        remaining <= 0, np.where(completed_at != NAT, completed_at, t), projected
    )

    # D14: the next step and its due date (D8 moves it with an extension).
    if kmax:
        has_next = (_count(upcoming) > 0) & ~full
        next_step = np.where(has_next, upcoming.argmax(axis=1), -1)
        own_due = cat.step_due[ga, np.where(has_next, next_step, 0)]
    else:
        has_next = np.zeros(n_groups, dtype=bool)
        next_step = np.full(n_groups, -1)
        own_due = np.full(n_groups, NAT, dtype=np.int64)
    base_due = np.where(own_due != NAT, own_due, cat.due[ga])
    original_end = cat.window_end[ga]
    plain = (own_due == NAT) | (original_end == NAT)
    shift = np.where(
        plain, override, own_due + (override - np.where(plain, 0, original_end))
    )
    # Where the record path needs a date past year 9999, refuse (Q132): the
    # window's end (D15; without an override, or to move the next step's
    # due date) and the moved due date (D8), of assigned groups only.
    moved = has_next & (override != NAT) & assigned
    far = assigned & cat.window_overflow[ga] & ((override == NAT) | has_next)
    outside = moved & ((shift < MIN_US) | (shift > MAX_US))
    if far.any() or outside.any():
        g = span.g0 + int((far | outside).argmax())
        if far[g - span.g0]:
            raise InvalidInputError(
                f"group_assignment[{g}]",
                columns.structures[int(columns.group_assignment[g])].estimated_duration,
                "D15: the pacing window ends before year 10000",
            )
        raise InvalidInputError(
            f"due_at_override[{g}]",
            from_us(int(columns.due_at_override[g])),
            "D8: the step's moved due date lies before year 10000",
        )

    o = out.groups
    o["assigned"][rows] = assigned
    o["status"][rows] = status
    o["completion_percentage"][rows] = completion
    o["steps_required"][rows] = required
    o["steps_completed"][rows] = _count(complete)
    o["steps_in_progress"][rows] = _count(in_progress)
    o["steps_locked"][rows] = locked
    o["started_at"][rows] = np.where(any_activity, first_touch, NAT)
    o["completed_at"][rows] = completed_at
    o["estimated_completion_date"][rows] = np.where(any_activity, projected, NAT)
    o["time_on_task_ms"][rows] = grids.time[rows].sum(axis=1, dtype=np.int64)
    o["average_score"][rows] = average
    o["mastery_score"][rows] = mastery
    o["pass_rate"][rows] = pass_rate
    o["next_step"][rows] = next_step
    o["next_step_due_at"][rows] = np.where(
        has_next, np.where(override != NAT, shift, base_due), NAT
    )
    o["steps_per_week"][rows] = velocity
    o["pacing_status"][rows] = pacing
    out.any_activity[rows] = any_activity
    out.expected[rows] = expected
    out.has_window[rows] = has_window

    # What the summary and D17 read from the cells of the span's students.
    students = slice(span.s0, span.s1)
    last = grids.last[rows]
    # Usually every moment is before as_of and every assignment assigned:
    # then no cell needs masking.
    past = every and (
        started.size == 0
        or max(int(started.max()), int(last.max()), int(completed.max())) <= t
    )
    week = completed > t - _WEEK
    if not past:
        week &= completed <= t
    if grids.source is not None:
        week &= grids.source[rows] != 3  # Q38: not a migration
    out.steps_week[students] = span.cell_count(only_assigned(week))
    if past:
        out.last_activity[students] = np.maximum(
            span.cell_reduce(np.maximum, started, NAT),
            span.cell_reduce(np.maximum, last, NAT),
        )
        out.last_any[students] = out.last_activity[students]
        out.days[students] = _cell_days(span, t, 0, (started, None), (last, None))
    else:
        began = only_assigned(started <= t)
        touched = only_assigned(last <= t)
        moments = np.maximum(_keep(started, began), _keep(last, touched))
        out.last_activity[students] = span.cell_reduce(np.maximum, moments, NAT)
        out.last_any[students] = span.cell_reduce(
            np.maximum, last if every else _keep(last, assigned[:, None]), NAT
        )
        out.days[students] = _cell_days(span, t, 0, (started, began), (last, touched))
    mastered = only_assigned(tried & (grids.level[rows] == 3))
    _mastered_concepts(columns, span, mastered, out)
    # completed_at is set exactly on complete steps (D4); most have attempts.
    if every and not bool((complete & ~tried).any()):
        counted = completed
    else:
        counted = _keep(completed, only_assigned(tried))
    _mastery_rule(columns, span, policy, counted, best, out)
    active = assigned & (status <= _IN_PROGRESS) & ~full
    _step_rules(span, policy, grids, rows, complete, active, out)


def _cell_days(
    span: _Span, t: int, base: int, *cells: tuple[Array, Array | None]
) -> Array:
    """Per student of the span, the days with a moment in ``cells`` (times,
    and which count; ``None``: all) as bits of a 64-day window: bit ``i`` is
    the day ``base + i`` days before ``as_of``'s."""
    first_day = t // _DAY - base
    mask = np.zeros(span.n, dtype=np.uint64)
    for times, moment in cells:
        mask |= span.cell_reduce(
            np.bitwise_or, _day_bits(first_day - times // _DAY, moment), 0
        )
    return mask


_ONE = np.uint64(1)


def _day_bits(offset: Array, moment: Array | None) -> Array:
    """``1 << offset`` where ``moment``: numpy shifts by 64 or more (and
    negative offsets, seen as unsigned) to 0, so days outside the window and
    NaT drop out by themselves."""
    shift = offset.view(np.uint64)
    if moment is None:
        bits: Array = np.left_shift(_ONE, shift)
    else:
        bits = np.left_shift(moment.astype(np.uint64), shift)
    return bits


def _mastered_concepts(
    columns: StepColumns, span: _Span, mastered: Array, out: _Out
) -> None:
    """The concepts of the span's mastered steps (Q46): as bits per student
    when there are few concepts, else as (student, concept) pairs."""
    cat = columns.catalog
    rows = slice(span.g0, span.g1)
    ga = columns.group_assignment[rows].astype(np.intp, copy=False)
    if out.concept_bits is not None:
        for w in range(out.concept_bits.shape[1]):
            cells = np.take(cat.concept_words[:, :, w], ga, axis=0) * mastered
            out.concept_bits[span.s0 : span.s1, w] = span.cell_reduce(
                np.bitwise_or, cells, 0
            )
        return
    table = cat.concept_table
    gi, ki = np.nonzero(mastered)
    if not len(gi) or not table.shape[2]:
        return
    a = ga[gi]
    student = columns.group_student[gi + span.g0].astype(np.int64)
    for slot in range(table.shape[2]):
        concept = table[a, ki, slot]
        has = concept >= 0
        out.concepts.append(np.stack([student[has], concept[has]], axis=1))


def _mastery_rule(
    columns: StepColumns,
    span: _Span,
    policy: Policy,
    counted: Array,
    best: Array,
    out: _Out,
) -> None:
    """D17 mastery: the mean best score of the last completed steps with an
    attempt, by (completed_at, assignment_id, step_id) as ``heapq.nlargest``
    orders them; the mean is ``math.fsum`` over their count."""
    take = policy.risk_mastery_recent_steps
    width = span.width
    times = span.cells(counted, NAT)
    chosen = times != NAT
    counts = _count(chosen)
    many = counts > take
    if many.any():
        everyone = bool(many.all())
        sub = times if everyone else times[many]
        threshold = np.partition(sub, width - take, axis=1)[:, width - take]
        above = sub > threshold[:, None]
        tied = sub == threshold[:, None]
        need = take - _count(above)
        n_tied = _count(tied)
        pick = above | (tied & (n_tied <= need)[:, None])
        where = np.flatnonzero(many)
        for row in np.flatnonzero(n_tied > need):
            pick[row] = above[row] | _latest_of_ties(
                columns, span.s0 + int(where[row]), tied[row], int(need[row])
            )
        if everyone:
            chosen = pick
        else:
            chosen[many] = pick
        counts = np.minimum(counts, take)
    some = counts > 0
    if not some.any():
        return
    cells = span.cells(best, 0.0)
    size = min(take, width)
    if bool((counts == size).all()):
        values = cells[chosen].reshape(span.n, size)
    else:
        rows, slots = np.nonzero(chosen)
        values = np.zeros((span.n, size))
        starts = np.cumsum(counts) - counts
        values[rows, np.arange(len(rows)) - starts[rows]] = cells[rows, slots]
    means = np.zeros(span.n)
    means[some] = _exact_sums(values[some]) / counts[some]
    fired = some & (means < policy.risk_low_mastery_below)
    out.amounts[span.s0 + np.flatnonzero(fired), 1] = _round_half_away(
        means[fired]
    ).astype(np.int64)


def _exact_sums(values: Array) -> Array:
    """``math.fsum`` of each row of non-negative floats: the exact sum,
    correctly rounded. Exactly in int64 when a row's binary exponents are
    close (its values as integers of one scale); else ``math.fsum``."""
    rows, size = values.shape
    if not rows or not size:
        return np.zeros(rows)
    fraction, exponent = np.frexp(values)
    whole = np.ldexp(fraction, 53).astype(np.int64)  # exact: 53 bits
    exponent = exponent - 53
    nonzero = values != 0
    low = np.where(nonzero, exponent, 1 << 20).min(axis=1)
    high = np.where(nonzero, exponent, -(1 << 20)).max(axis=1)
    # Room for the shifts: the sum of the row stays below 2**62.
    room = 62 - 53 - math.ceil(math.log2(size)) if size > 1 else 9
    any_value = nonzero.any(axis=1)
    low = np.where(any_value, low, 0)
    fits = ~any_value | (high - low <= room)
    shift = np.where(nonzero & fits[:, None], exponent - low[:, None], 0)
    total = (whole * nonzero << shift).sum(axis=1)
    # int64 to float rounds to nearest, ties to even, as fsum; ldexp is exact
    # for a normal result.
    sums: Array = np.ldexp(total.astype(np.float64), low)
    exact = fits & ((sums == 0) | (sums >= np.finfo(np.float64).tiny))
    for i in np.flatnonzero(~exact):
        sums[i] = math.fsum(values[i].tolist())
    return sums


def _latest_of_ties(
    columns: StepColumns, student: int, tied: Array, need: int
) -> Array:
    """Of a student's cells tied at the threshold time, the ``need`` that
    sort last by (assignment_id, step_id)."""
    cat = columns.catalog
    kmax = cat.kmax
    slots = np.flatnonzero(tied)
    a = columns.group_assignment[columns.group_start[student] + slots // kmax]
    position = cat.id_code[a] * kmax + cat.step_rank[a, slots % kmax]
    keep = np.zeros(len(tied), dtype=bool)
    keep[slots[np.argsort(position)[len(slots) - need :]]] = True
    return keep


def _step_rules(
    span: _Span,
    policy: Policy,
    grids: _Grids,
    rows: slice,
    complete: Array,
    active: Array,
    out: _Out,
) -> None:
    """D17 struggle and consistency, over step records of active
    assignments (Q47); cells without a record have no attempts."""
    in_active = active[:, None]
    attempts = grids.attempts[rows]
    stuck = (
        in_active
        & ~grids.passed[rows]
        & ~complete
        & (attempts > policy.risk_stuck_attempts_over)
    )
    most = span.cell_reduce(
        np.maximum, attempts.astype(np.int64, copy=False) * stuck, 0
    )
    fired = most > 0
    out.amounts[span.s0 + np.flatnonzero(fired), 3] = most[fired]
    cv = grids.cv[rows]
    varied = (
        in_active
        & (attempts >= policy.risk_inconsistent_min_attempts)
        & (cv >= policy.risk_inconsistent_cv)
    )
    has = span.cell_count(varied) > 0
    if not has.any():
        return
    # NaN * False is NaN, which fmax skips; the rest are 0 or a varied cv.
    worst = span.cell_reduce(np.fmax, cv * varied, -np.inf)
    amount = _round_half_away(100 * worst[has])
    if float(amount.max()) >= 2.0**62:
        raise InvalidInputError(
            "consistency_score",
            float(worst[has][int(amount.argmax())]),
            "columnar: a factor's N fits in 62 bits",
        )
    out.amounts[span.s0 + np.flatnonzero(has), 4] = amount.astype(np.int64)


def _students(
    columns: StepColumns,
    grids: _Grids,
    t: int,
    policy: Policy,
    exact_weight: Array,
    f: AssignmentFigures,
    out: _Out,
) -> StudentFigures:
    """``summarize_student``'s summary and D17 assessment for every student,
    from the group figures and what the chunks read from the cells."""
    cat = columns.catalog
    n_students = columns.students
    ga = columns.group_assignment.astype(np.intp, copy=False)
    per = _Span(columns, 0, n_students)
    assigned = f.assigned

    active = assigned & (f.status <= _IN_PROGRESS) & (f.completion_percentage < 100.0)
    done = assigned & (f.completed_at != NAT)
    active_n = per.group(np.add, active.astype(np.int64), 0)
    completed_n = per.group(np.add, done.astype(np.int64), 0)
    total_time = per.group(np.add, f.time_on_task_ms * assigned, 0)

    # Q37, Q38: this week's attempts; time capped at the total.
    games, week_time = _week_attempts(columns, t, t - _WEEK)
    week_time = np.minimum(week_time, total_time)

    # Q39: activity up to as_of; the streak (D20) and engagement (Q40).
    last_activity = out.last_activity
    at = columns.attempted_at
    past = at <= t
    if past.any():
        np.maximum.at(last_activity, columns.attempt_student[past], at[past])
    streak, active_days = _streaks(columns, grids, t, out.days)
    engagement = _engagement(last_activity, active_days, week_time, t, policy)

    # Q42: overall mastery, started assignments weighted by required weight,
    # summed in the history's order.
    began_group = assigned & out.any_activity
    weight = columns.by_student(exact_weight[ga] * began_group, 0.0)
    score = columns.by_student(f.mastery_score, 0.0)
    counted = columns.by_student(began_group, False)
    weighted = np.zeros(n_students)
    total = np.zeros(n_students)
    for r in range(columns.gmax):
        weighted += np.where(counted[:, r], weight[:, r] * score[:, r], 0.0)
        total += np.where(counted[:, r], weight[:, r], 0.0)
    overall = np.zeros(n_students)
    np.divide(weighted, total, out=overall, where=total != 0)
    overall = np.where(total != 0, np.minimum(np.maximum(overall, 0.0), 100.0), 0.0)

    # Q41 and Q46: badges and concepts, sequences included.
    badge = done & (f.mastery_score >= policy.rollups.badge_mastery_min)
    badges = per.group(np.add, badge.astype(np.int64), 0)
    sequence_badges, kept = _sequences(columns, f, out.any_activity)
    badges += sequence_badges
    concepts = _concepts(columns, kept, out)

    # D17; the last activity includes step activity after as_of.
    risk_last = np.maximum(last_activity, out.last_any)
    amounts = out.amounts
    _pacing_rule(per, policy, f, out, active, amounts)
    _engagement_rule(per, policy, t, cat.created[ga], active, risk_last, amounts)
    fired = amounts >= 0
    rules = (fired * (1 << np.arange(len(_RULES)))).sum(axis=1).astype(np.int64)
    previous = columns.previous_risk_rules.astype(np.int64)
    assessed = rules != 0
    stands = columns.previous_risk_dismissed & assessed & (previous == rules)

    denominator = active_n + completed_n
    completion = np.zeros(n_students)
    np.divide(100.0 * completed_n, denominator, out=completion, where=denominator > 0)
    worst = per.group(
        np.maximum, np.where(active, f.pacing_status, -1).astype(np.int8), -1
    )
    return StudentFigures(
        active_assignments=active_n,
        completed_assignments=completed_n,
        total_time_on_task_ms=total_time,
        steps_completed_this_week=out.steps_week,
        time_on_task_this_week_ms=week_time,
        games_played_this_week=games,
        overall_mastery_score=overall,
        concepts_mastered_count=concepts,
        badges_earned=badges,
        last_activity_at=last_activity,
        streak_days=streak,
        engagement_score=engagement,
        at_risk=assessed & ~stands,
        risk_rules=rules,
        risk_amounts=amounts,
        dismissal_stands=stands,
        risk_changed=previous != rules,
        completion_percentage=completion,
        worst_pacing=worst,
    )


def _week_attempts(
    columns: StepColumns, t: int, week_start: int
) -> tuple[Array, Array]:
    """Games and time this week: attempts of assigned assignments in the
    window, each attempt id once, the last one given winning (Q38, D3)."""
    n_students = columns.students
    at = columns.attempted_at
    assigned = columns.catalog.created[columns.attempt_assignment] <= t
    pick = np.flatnonzero(assigned & (at > week_start) & (at <= t))
    student = columns.attempt_student[pick].astype(np.intp)
    duration = columns.attempt_duration_ms[pick].astype(np.int64)
    if not columns.attempt_keys_unique:
        key = columns.attempt_key[pick]
        order = np.lexsort((key, student))
        student, key, duration = student[order], key[order], duration[order]
        last = np.ones(len(student), dtype=bool)
        last[:-1] = (student[1:] != student[:-1]) | (key[1:] != key[:-1])
        student, duration = student[last], duration[last]
    time = np.zeros(n_students, dtype=np.int64)
    np.add.at(time, student, duration)
    return _counts(student, n_students), time


def _streaks(
    columns: StepColumns, grids: _Grids, t: int, cell_days: Array
) -> tuple[Array, Array]:
    """Consecutive UTC days with activity ending today or yesterday (D20),
    and the days with activity in the last seven (Q40). Each student's days
    are a 64-bit mask per 64-day window, today the lowest bit; a streak that
    fills a window reads the next one."""
    today = t // _DAY
    at = columns.attempted_at
    past = at <= t
    attempt_student = columns.attempt_student[past].astype(np.intp)
    attempt_day = at[past] // _DAY
    day = columns.activity_day
    counted = day <= today
    extra_student = columns.activity_student[counted].astype(np.intp)
    extra_day = day[counted]

    def window(base: int, cells: Array | None) -> Array:
        if cells is None:
            cells = np.zeros(columns.students, dtype=np.uint64)
            for span in _spans(columns):
                rows = slice(span.g0, span.g1)
                ga = columns.group_assignment[rows].astype(np.intp, copy=False)
                assigned = (columns.catalog.created[ga] <= t)[:, None]
                started, last = grids.started[rows], grids.last[rows]
                cells[span.s0 : span.s1] = _cell_days(
                    span,
                    t,
                    base,
                    (started, assigned & (started <= t)),
                    (last, assigned & (last <= t)),
                )
        mask = cells.copy()
        for student, days in (
            (attempt_student, attempt_day),
            (extra_student, extra_day),
        ):
            everywhere = np.ones(len(days), dtype=bool)
            np.bitwise_or.at(mask, student, _day_bits(today - base - days, everywhere))
        return mask

    mask = window(0, cell_days)
    active_days = np.bitwise_count(mask & np.uint64(0x7F)).astype(np.int64)
    today_on = (mask & np.uint64(1)) != 0
    yesterday_on = (mask & np.uint64(2)) != 0
    run = np.where(
        today_on,
        _trailing_ones(mask),
        np.where(yesterday_on, _trailing_ones(mask >> np.uint64(1)), 0),
    )
    open_ended = np.where(today_on, run == 64, yesterday_on & (run == 63))
    base = 64
    while open_ended.any():
        more = _trailing_ones(window(base, None))
        run = np.where(open_ended, run + more, run)
        open_ended &= more == 64
        base += 64
    return run, active_days


def _engagement(
    last_activity: Array, active_days: Array, week_time: Array, t: int, policy: Policy
) -> Array:
    """Q40, with the record path's operations in its order."""
    p = policy.rollups
    known = last_activity != NAT
    days = np.maximum(
        _true_divide(np.where(known, t - np.where(known, last_activity, t), 0), _DAY),
        0.0,
    )
    recency = np.where(
        known, np.maximum(0.0, 1.0 - days / p.engagement_recency_days), 0.0
    )
    frequency = np.minimum(active_days / p.engagement_target_active_days, 1.0)
    minutes = _true_divide(week_time, 60_000)
    time = np.minimum(minutes / p.engagement_target_minutes, 1.0)
    score = 100.0 * (
        p.engagement_recency_weight * recency
        + p.engagement_frequency_weight * frequency
        + p.engagement_time_weight * time
    )
    result: Array = np.minimum(np.maximum(score, 0.0), 100.0)
    return result


def _sequences(
    columns: StepColumns, f: AssignmentFigures, any_activity: Array
) -> tuple[Array, Array]:
    """Completed sequences per student (Q41) and the (student, concept)
    pairs that stored sequence progress keeps mastered (Q46). A sequence
    counts once it has assignments and the student began one of them or has
    its stored progress (``sequence_progress`` is not ``None``)."""
    n_students = columns.students
    badges = np.zeros(n_students, dtype=np.int64)
    ms = columns.member_student.astype(np.intp, copy=False)
    mq = columns.member_sequence.astype(np.intp, copy=False)
    if not len(ms):
        return badges, np.zeros((0, 2), dtype=np.int64)
    cat = columns.catalog
    code = {aid: i for i, aid in enumerate(cat.assignment_ids)}
    lengths = np.array([len(q.assignment_ids) for q in columns.sequences], np.int64)
    flat = np.array(
        [code.get(aid, -1) for q in columns.sequences for aid in q.assignment_ids],
        dtype=np.int64,
    )
    offsets = np.zeros(len(lengths), dtype=np.int64)
    offsets[1:] = np.cumsum(lengths)[:-1]
    size = lengths[mq]
    member = np.repeat(np.arange(len(ms)), size)
    within = np.arange(len(member)) - np.repeat(np.cumsum(size) - size, size)
    wanted = flat[offsets[mq][member] + within]
    width = max(len(cat.assignment_ids), 1)
    group_key = (
        columns.group_student.astype(np.int64, copy=False) * width
        + cat.id_code[columns.group_assignment]
    )
    began = np.zeros(len(member), dtype=bool)
    finished = np.zeros(len(member), dtype=bool)
    if len(group_key):
        order = np.argsort(group_key)
        lookup = ms[member].astype(np.int64) * width + wanted
        where = np.minimum(np.searchsorted(group_key[order], lookup), len(order) - 1)
        found = (wanted >= 0) & (group_key[order][where] == lookup)
        g = order[where]
        began = found & f.assigned[g] & any_activity[g]
        finished = began & (f.completion_percentage[g] >= 100.0)
    completed = np.bincount(member[finished], minlength=len(ms))
    begun = np.bincount(member[began], minlength=len(ms)) > 0
    computed = (lengths[mq] > 0) & (begun | columns.member_stored)
    complete = computed & (completed == lengths[mq])
    badges += _counts(ms[complete], n_students)
    km = columns.kept_member.astype(np.intp, copy=False)
    keep = lengths[mq[km]] > 0
    kept = np.stack([ms[km][keep], columns.kept_concept_id[keep]], axis=1)
    return badges, kept


def _concepts(columns: StepColumns, kept: Array, out: _Out) -> Array:
    """Distinct concepts per student: the mastered steps' and those stored
    sequence progress keeps (Q46)."""
    n_students = columns.students
    bits = out.concept_bits
    if bits is not None:
        if len(kept):
            word, bit = kept[:, 1] // 64, (kept[:, 1] % 64).astype(np.uint64)
            words = bits.shape[1]
            extra = np.zeros((n_students, max(words, 1)), dtype=np.uint64)
            inside = word < words
            np.bitwise_or.at(
                extra, (kept[inside, 0], word[inside]), np.left_shift(_ONE, bit[inside])
            )
            bits = bits | extra[:, :words]
        counted: Array = np.bitwise_count(bits).sum(axis=1, dtype=np.int64)
        outside = kept[:, 1] >= 64 * bits.shape[1]
        if outside.any():
            # Kept concepts that no step has: counted apart, once each.
            unique = np.unique(kept[outside], axis=0)
            counted += _counts(unique[:, 0], n_students)
        return counted
    both = np.concatenate([kept, *out.concepts])
    n_concepts = columns.concept_count
    if not len(both) or not n_concepts:
        return np.zeros(n_students, dtype=np.int64)
    unique = np.unique(both[:, 0] * n_concepts + both[:, 1])
    return _counts(unique // n_concepts, n_students)


def _pacing_rule(
    per: _Span,
    policy: Policy,
    f: AssignmentFigures,
    out: _Out,
    active: Array,
    amounts: Array,
) -> None:
    """D17 pacing: the worst gap of an active assignment behind its plan."""
    expected = out.expected
    behind = (
        active
        & out.has_window
        & (f.completion_percentage < expected - policy.risk_behind_pace_points)
    )
    gap = np.where(behind, expected - f.completion_percentage, -np.inf)
    worst = per.group(np.maximum, gap, -np.inf)
    fired = worst > -np.inf
    amounts[fired, 0] = _round_half_away(worst[fired]).astype(np.int64)


def _engagement_rule(
    per: _Span,
    policy: Policy,
    t: int,
    created: Array,
    active: Array,
    last: Array,
    amounts: Array,
) -> None:
    """D17 engagement: whole days without activity, since the earliest
    active assignment's creation when there was none."""
    has_active = per.group(np.add, active.astype(np.int64), 0) > 0
    earliest = per.group(np.minimum, np.where(active, created, _MAX), _MAX)
    reference = np.where(last != NAT, last, earliest)
    ahead = reference >= t
    days = np.where(ahead, 0, (t - np.where(ahead, t, reference)) // _DAY)
    fired = has_active & (days >= policy.risk_inactive_days)
    amounts[fired, 2] = days[fired]
