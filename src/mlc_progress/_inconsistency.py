"""Inconsistent stored progress: detect, report and repair it (spec: When
Errors Occur, D4, D18).

Records are valid by construction (D4), so a corrupt stored record cannot be
built. The functions here read the *raw* stored data, the JSON-ready dicts
that :func:`~mlc_progress.unstructure` produces and storage keeps, and never
raise on bad data: they list every invariant it breaks as a
:class:`Violation`. :func:`repair_assignment` recomputes what it can from
step data (and from the attempt log when the host keeps one), and returns
correction records with the data before and after; nothing is deleted or
overwritten in place (spec: error rule 5).
"""

from __future__ import annotations

import enum
import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import attrs

from . import _validate as v
from ._assignment import assignment_progress
from ._consistency import add_score, consistency_from_moments
from ._enums import AssignmentStatus, CompletionSource, MasteryLevel, StepState
from ._errors import InvalidInputError
from ._events import Event, ProgressReconciled, ProgressRepairFailed, ReconciliationType
from ._mastery import mastery_level
from ._pacing import utc_argument
from ._policy import DEFAULT_POLICY, Policy
from ._records import AssignmentProgress, ReconciliationMetadata, StepProgress
from ._serialization import structure, unstructure
from ._structure import AssignmentStructure, Attempt, StepDefinition
from ._tracking import CONSISTENCY_DIGITS, ProgressState

__all__ = [
    "CorrectionRecord",
    "RepairOutcome",
    "Violation",
    "Violations",
    "check_assignment",
    "check_step",
    "load_assignment",
    "load_progress",
    "load_step",
    "repair_assignment",
]

# Fields of an assignment record that follow from its step records and the
# structure alone, whatever the time (D10-D14); pacing, velocity and the
# projected date also depend on ``as_of`` and are refreshed, not checked.
AGGREGATE_FIELDS = (
    "status",
    "completion_percentage",
    "steps_total",
    "steps_required",
    "steps_completed",
    "steps_in_progress",
    "steps_locked",
    "started_at",
    "completed_at",
    "time_on_task_ms",
    "average_score",
    "mastery_score",
    "pass_rate",
    "next_step_id",
    "next_step_due_at",
)

# Fields of a step record that the attempt log determines (D2, D5, D13).
LOG_FIELDS = (
    "attempt_count",
    "best_score",
    "latest_score",
    "first_score",
    "first_attempt_at",
    "latest_attempt_at",
    "time_on_task_ms",
    "score_mean",
    "score_m2",
)

# Running moments differ in their last bits with the order of the attempts.
_REL_TOL = 1e-9
_ABS_TOL = 1e-8

_RULE_D18 = "D18: aggregates agree with the step records they are computed from"
_RULE_LOG = "D18: step figures agree with the attempt log"


def _json_ready(value: Any) -> Any:
    """A JSON-ready copy of stored data: diagnostics must serialize."""
    if value is None or isinstance(value, bool | int | str):
        return str(value) if isinstance(value, enum.Enum) else value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _json_ready(item) for k, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    return repr(value)


@attrs.frozen(kw_only=True)
class Violation:
    """One invariant a stored record breaks (D4, D18).

    ``code`` is stable, for machines (``completion_over_100``,
    ``negative_time``, ``aggregate_mismatch:steps_completed``...); ``record``
    names the record (``assignment`` or ``step:<step_id>``); ``value`` is the
    stored value and ``expected`` the recomputed one, when there is one.

    >>> print(Violation(code="negative_time", record="step:s1",
    ...                 field="time_on_task_ms", value=-5, rule="D2"))
    step:s1.time_on_task_ms=-5: negative_time (D2)
    """

    code: str = attrs.field(validator=v.identifier)
    record: str = attrs.field(validator=v.identifier)
    field: str = attrs.field(validator=v.identifier)
    value: Any = attrs.field(converter=_json_ready, hash=False)
    rule: str = attrs.field(validator=v.identifier)
    expected: Any = attrs.field(default=None, converter=_json_ready, hash=False)

    def __str__(self) -> str:
        return f"{self.record}.{self.field}={self.value!r}: {self.code} ({self.rule})"


@attrs.frozen(kw_only=True)
class Violations:
    """What a safe loader returns instead of a record it cannot trust (D18).

    The caller reports it and runs :func:`repair_assignment`; it never uses
    the data as if it were valid.
    """

    violations: tuple[Violation, ...]

    @property
    def codes(self) -> tuple[str, ...]:
        """The distinct codes, in the order found."""
        return tuple(dict.fromkeys(x.code for x in self.violations))


# Reading raw fields ------------------------------------------------------


class _Spec(NamedTuple):
    name: str
    kind: str
    optional: bool
    default: Any  # attrs.NOTHING when the field is required
    type: Any


_KIND_OF: Mapping[Any, tuple[str, bool]] = {
    v.identifier: ("id", False),
    v.optional_identifier: ("id", True),
    v.score: ("score", False),
    v.optional_score: ("score", True),
    v.target: ("target", False),
    v.percentage: ("percentage", False),
    v.count: ("count", False),
    v.duration_ms: ("duration", False),
    v.ratio: ("ratio", False),
    v.optional_ratio: ("ratio", True),
    v.utc_time: ("time", False),
    v.optional_utc_time: ("time", True),
    v.boolean: ("flag", False),
}


@functools.cache
def _specs(cls: type) -> tuple[_Spec, ...]:
    """How to read each field of ``cls``, from its attrs validators and types."""
    specs = []
    for field in attrs.fields(cls):
        default = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory()
        kind, optional = _KIND_OF.get(field.validator, ("", False))
        tp = field.type
        if not kind and isinstance(tp, type) and issubclass(tp, enum.Enum):
            kind = "enum"
        elif not kind and tp == ReconciliationMetadata | None:
            kind, optional, tp = "metadata", True, ReconciliationMetadata
        if not kind:  # pragma: no cover - a record grew a field of a new kind
            raise TypeError(f"no raw reader for {cls.__name__}.{field.name}")
        specs.append(_Spec(field.name, kind, optional, default, tp))
    return tuple(specs)


_BAD = object()


def _number(value: object) -> float | None:
    """``value`` as the converter reads a float (D1), or ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _integer(value: object) -> int | None:
    """``value`` as the converter reads an int (D4), or ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if parsed.utcoffset() is None:
        return None
    return parsed.astimezone(UTC)


def _read(spec: _Spec, value: object, record: str, field: str) -> Any:
    """The typed value of one raw field, or a :class:`Violation`."""

    def bad(code: str, rule: str) -> Violation:
        return Violation(code=code, record=record, field=field, value=value, rule=rule)

    if value is None and spec.optional:
        return None
    kind = spec.kind
    if kind == "id":
        if not isinstance(value, str):
            return bad("wrong_type", v.RULE_ID)
        return value if value.strip() else bad("invalid_id", v.RULE_ID)
    if kind in ("score", "target", "percentage", "ratio"):
        number = _number(value)
        if number is None:
            return bad("wrong_type", "D1: a number, not a boolean or text")
        finite = math.isfinite(number)
        if kind == "score" and not (finite and 0 <= number <= 100):
            return bad("score_out_of_range", v.RULE_SCORE)
        if kind == "target" and not (finite and 0 < number <= 100):
            return bad("target_out_of_range", v.RULE_TARGET)
        if kind == "percentage" and not (finite and 0 <= number <= 100):
            if field.endswith("completion_percentage") and number > 100:
                return bad("completion_over_100", v.RULE_PERCENT)
            return bad("percentage_out_of_range", v.RULE_PERCENT)
        if kind == "ratio" and not (finite and number >= 0):
            return bad("ratio_out_of_range", v.RULE_RATIO)
        return number
    if kind in ("count", "duration"):
        whole = _integer(value)
        rule = v.RULE_COUNT if kind == "count" else v.RULE_DURATION
        if whole is None:
            return bad("wrong_type", rule)
        if whole < 0:
            return bad("negative_count" if kind == "count" else "negative_time", rule)
        return whole
    if kind == "time":
        parsed = _time(value)
        return bad("invalid_time", v.RULE_TIME) if parsed is None else parsed
    if kind == "flag":
        return value if isinstance(value, bool) else bad("wrong_type", "a boolean")
    if kind == "enum":
        try:
            return spec.type(value)
        except ValueError:
            names = ", ".join(repr(m.value) for m in spec.type)
            return bad("unknown_value", f"one of {names}")
    # kind == "metadata": a nested record (D9)
    if not isinstance(value, Mapping):
        return bad("wrong_type", "D9: reconciliation metadata is a JSON object")
    fields, found = _parse(value, spec.type, record, f"{field}.")
    if found:
        return found[0]
    try:
        return spec.type(**fields)
    except InvalidInputError as error:  # pragma: no cover - no cross-field rules
        return bad("invalid_record", error.rule)


def _parse(
    raw: Mapping[Any, Any], cls: type, record: str, prefix: str = ""
) -> tuple[dict[str, Any], list[Violation]]:
    """Every field of ``raw`` that reads as ``cls`` wants, and what does not."""
    specs = _specs(cls)
    names = {s.name for s in specs}
    found: list[Violation] = []
    fields: dict[str, Any] = {}
    for key in raw:
        if key not in names:
            found.append(
                Violation(
                    code="unknown_field",
                    record=record,
                    field=f"{prefix}{key}",
                    value=raw[key],
                    rule=f"Q11: a field of {cls.__name__}",
                )
            )
    for spec in specs:
        field = f"{prefix}{spec.name}"
        if spec.name not in raw:
            if spec.default is attrs.NOTHING:
                found.append(
                    Violation(
                        code="missing_field",
                        record=record,
                        field=field,
                        value=None,
                        rule="a required field",
                    )
                )
            else:
                fields[spec.name] = spec.default
            continue
        result = _read(spec, raw[spec.name], record, field)
        if isinstance(result, Violation):
            found.append(result)
        else:
            fields[spec.name] = result
    return fields, found


# Cross-field invariants (D4), mirroring the records' constructors ---------


def _step_relations(p: Mapping[str, Any], record: str) -> list[Violation]:
    """The invariants of ``StepProgress.__attrs_post_init__``, each by code."""
    found: list[Violation] = []

    def has(*names: str) -> bool:
        return all(n in p for n in names)

    def add(code: str, field: str, rule: str) -> None:
        found.append(
            Violation(
                code=code, record=record, field=field, value=p.get(field), rule=rule
            )
        )

    def before(code: str, field: str, earlier: str, later: str, rule: str) -> None:
        if not has(earlier, later) or p[earlier] is None or p[later] is None:
            return
        if p[later] < p[earlier]:
            add(code, field, rule)

    if has("state", "completed_at") and (
        (p["state"] is StepState.COMPLETE) != (p["completed_at"] is not None)
    ):
        add(
            "completion_date_mismatch",
            "completed_at",
            "D4: completed_at is set exactly when the state is complete",
        )
    if p.get("completion_source") is CompletionSource.FRESH_ATTEMPT:
        before(
            "completed_before_started",
            "completed_at",
            "started_at",
            "completed_at",
            "D4: a student's own attempt cannot complete a step before it started",
        )
    before(
        "activity_before_started",
        "last_activity_at",
        "started_at",
        "last_activity_at",
        "D4: a step is not active before it started",
    )
    state = p.get("state")
    if state is StepState.IN_PROGRESS and has("started_at") and p["started_at"] is None:
        add("in_progress_not_started", "started_at", "D4: an in-progress step started")
    if (
        state is StepState.LOCKED
        and has("attempt_count", "started_at")
        and (p["attempt_count"] != 0 or p["started_at"] is not None)
    ):
        add(
            "locked_with_activity",
            "state",
            "D4: a locked step has no attempts and has not started",
        )
    count = p.get("attempt_count")
    if count == 0:
        empty = (
            ("best_score", 0),
            ("latest_score", 0),
            ("score_mean", 0),
            ("score_m2", 0),
            ("first_attempt_at", None),
            ("first_score", None),
            ("latest_attempt_at", None),
            ("consistency_score", None),
        )
        if any(
            name in p and (p[name] is not None if blank is None else p[name] != blank)
            for name, blank in empty
        ):
            add(
                "scores_without_attempts",
                "attempt_count",
                "D4: a step without attempts has no scores",
            )
        if p.get("mastery_level", MasteryLevel.NOT_STARTED) is not (
            MasteryLevel.NOT_STARTED
        ):
            add(
                "mastery_without_attempts",
                "mastery_level",
                "D6: a step without attempts is not_started",
            )
    elif count is not None:
        needed = (
            "first_attempt_at",
            "latest_attempt_at",
            "first_score",
            "started_at",
            "last_activity_at",
        )
        if any(name in p and p[name] is None for name in needed):
            add(
                "attempts_without_times",
                "attempt_count",
                "D4: a step with attempts has started and has first and latest"
                " attempts",
            )
        if has("best_score", "latest_score") and p["best_score"] < p["latest_score"]:
            add("best_below_latest", "latest_score", "D4: latest_score <= best_score")
        if (
            has("best_score", "first_score")
            and p["first_score"] is not None
            and p["first_score"] > p["best_score"]
        ):
            add("best_below_first", "first_score", "D4: first_score <= best_score")
        before(
            "attempts_out_of_order",
            "latest_attempt_at",
            "first_attempt_at",
            "latest_attempt_at",
            "D2: the latest attempt is not before the first",
        )
        before(
            "activity_before_latest_attempt",
            "last_activity_at",
            "latest_attempt_at",
            "last_activity_at",
            "D2: last_activity_at is never before the latest attempt",
        )
        before(
            "attempt_before_started",
            "first_attempt_at",
            "started_at",
            "first_attempt_at",
            "D4: started_at is the first interaction",
        )
    if has(
        "passed",
        "attempt_count",
        "best_score",
        "target_score",
        "reconciliation_metadata",
    ):
        met = _target_met(
            p["attempt_count"],
            p["best_score"],
            p["target_score"],
            p["reconciliation_metadata"],
        )
        if p["passed"] and not met:
            add(
                "passed_without_target",
                "passed",
                "D7: passed only when the best evidence meets the target",
            )
        elif met and not p["passed"]:
            add(
                "target_met_not_passed",
                "passed",
                "D7: passed whenever the best evidence meets the target",
            )
    return found


def _target_met(
    count: int, best: float, target: float, meta: ReconciliationMetadata | None
) -> bool:
    if count > 0 and best >= target:
        return True
    return meta is not None and meta.original_score >= target


def _assignment_relations(p: Mapping[str, Any], record: str) -> list[Violation]:
    """The invariants of ``AssignmentProgress.__attrs_post_init__``, by code."""
    found: list[Violation] = []

    def add(code: str, field: str, rule: str) -> None:
        found.append(
            Violation(
                code=code, record=record, field=field, value=p.get(field), rule=rule
            )
        )

    counts = ("steps_completed", "steps_in_progress", "steps_locked", "steps_total")
    if all(c in p for c in counts) and (
        p["steps_completed"] + p["steps_in_progress"] + p["steps_locked"]
        > p["steps_total"]
    ):
        add(
            "counts_do_not_add_up",
            "steps_total",
            "D4: completed + in progress + locked steps are at most steps_total",
        )
    if (
        "steps_required" in p
        and "steps_total" in p
        and p["steps_required"] > p["steps_total"]
    ):
        add(
            "counts_do_not_add_up",
            "steps_required",
            "D4: required steps are at most steps_total",
        )
    started, completed = p.get("started_at"), p.get("completed_at")
    if started is not None and completed is not None and completed < started:
        add(
            "completed_before_started",
            "completed_at",
            "D4: an assignment is not completed before it started",
        )
    status = p.get("status")
    percent = p.get("completion_percentage")
    if (
        status is AssignmentStatus.COMPLETE
        and "completed_at" in p
        and percent is not None
        and (percent != 100 or completed is None)
    ):
        add(
            "status_mismatch",
            "status",
            "D14: a complete assignment is 100 percent and has completed_at",
        )
    if (
        status is AssignmentStatus.NOT_STARTED
        and "started_at" in p
        and (started is not None or p.get("steps_in_progress", 0) != 0)
    ):
        add(
            "status_mismatch",
            "status",
            "D14: a not_started assignment has no activity",
        )
    if (
        status is AssignmentStatus.IN_PROGRESS
        and percent is not None
        and percent >= 100
    ):
        add(
            "status_mismatch",
            "status",
            "D14: an assignment at 100 percent is complete, not in_progress",
        )
    return found


def _record_name(kind: str, raw: object) -> str:
    if kind == "step" and isinstance(raw, Mapping):
        step_id = raw.get("step_id")
        if isinstance(step_id, str) and step_id.strip():
            return f"step:{step_id}"
    return kind


_RecordT = StepProgress | AssignmentProgress


def _check(
    raw: object,
    cls: type[_RecordT],
    relations: Callable[[Mapping[str, Any], str], list[Violation]],
    kind: str,
) -> tuple[Any, tuple[Violation, ...]]:
    """``(record, ())`` when ``raw`` builds a valid record, else
    ``(None, violations)``; never raises on bad data."""
    name = _record_name(kind, raw)
    if not isinstance(raw, Mapping):
        return None, (
            Violation(
                code="not_an_object",
                record=name,
                field=kind,
                value=raw,
                rule="a stored record is a JSON object",
            ),
        )
    try:
        return structure(dict(raw), cls), ()
    except Exception as error:  # any failure of bad data is reported, not raised
        first = error
    fields, found = _parse(raw, cls, name)
    found.extend(relations(fields, name))
    if not found:
        # A rule the detailed checks do not name: report the record's own.
        found.append(
            Violation(
                code="invalid_record",
                record=name,
                field=str(getattr(first, "field", cls.__name__)),
                value=getattr(first, "value", None),
                rule=str(getattr(first, "rule", first)),
            )
        )
    return None, tuple(found)


def check_step(raw: object) -> tuple[Violation, ...]:
    """Every D4 invariant the stored step record ``raw`` breaks; ``()`` when
    it is valid (exactly when ``structure(raw, StepProgress)`` succeeds).

    >>> from mlc_progress import StepProgress, unstructure
    >>> raw = unstructure(StepProgress(step_id="s1", assignment_id="a",
    ...                                student_id="u", target_score=80))
    >>> check_step(raw)
    ()
    >>> raw.update(time_on_task_ms=-5, best_score=120)
    >>> [x.code for x in check_step(raw)]
    ['score_out_of_range', 'negative_time']
    """
    return _check(raw, StepProgress, _step_relations, "step")[1]


def load_step(raw: object) -> StepProgress | Violations:
    """The step record of ``raw``, or its :class:`Violations`; never raises
    on bad data, never returns a record it could not validate (D18).

    >>> load_step({"step_id": "s1"}).codes
    ('missing_field',)
    """
    record, found = _check(raw, StepProgress, _step_relations, "step")
    return Violations(violations=found) if found else record


def load_assignment(raw: object) -> AssignmentProgress | Violations:
    """The assignment record of ``raw``, or its :class:`Violations` (D18).

    >>> load_assignment({"assignment_id": "a", "student_id": "u",
    ...                  "completion_percentage": 110.0}).codes
    ('completion_over_100',)
    """
    record, found = _check(raw, AssignmentProgress, _assignment_relations, "assignment")
    return Violations(violations=found) if found else record


# Checking a student's records together -----------------------------------


def _raw_list(raw_steps: Iterable[object] | Mapping[str, object]) -> list[object]:
    if isinstance(raw_steps, Mapping):
        return list(raw_steps.values())
    return list(raw_steps)


class _Fold(NamedTuple):
    """A step's figures folded from its attempts in timestamp order."""

    fields: dict[str, Any]
    sessions: int
    last_session_id: str | None
    qualifying: Callable[[float], datetime | None]


def _fold(attempts: Sequence[Attempt]) -> _Fold:
    """What the attempt log says about one step (D2, D5, D13).

    The same rules as the real-time fold: the first and latest attempts are
    the earliest and latest by timestamp, the higher score on a tie.
    """
    ordered = sorted(attempts, key=lambda a: (a.attempted_at, a.attempt_id))
    count = 0
    mean = m2 = best = 0.0
    first_at: datetime | None = None
    first_score: float | None = None
    latest_at: datetime | None = None
    latest = 0.0
    sessions = 0
    session: str | None = None
    time_on_task = 0
    for attempt in ordered:
        when, score = attempt.attempted_at, attempt.score
        mean, m2 = add_score(count, mean, m2, score)
        best = score if count == 0 else max(best, score)
        count += 1
        if first_at is None or first_score is None:
            first_at, first_score = when, score
        elif when == first_at:
            first_score = max(first_score, score)
        if latest_at is None or when > latest_at:
            latest_at, latest = when, score
        else:
            latest = max(latest, score)
        if attempt.session_id != session:
            sessions += 1
            session = attempt.session_id
        time_on_task += attempt.duration_ms
    consistency = consistency_from_moments(count, mean, m2)
    fields: dict[str, Any] = {
        "attempt_count": count,
        "best_score": best,
        "latest_score": latest,
        "first_score": first_score,
        "first_attempt_at": first_at,
        "latest_attempt_at": latest_at,
        "time_on_task_ms": time_on_task,
        "score_mean": mean,
        "score_m2": m2,
        "consistency_score": None
        if consistency is None
        else round(consistency, CONSISTENCY_DIGITS),
    }

    def qualifying(target: float) -> datetime | None:
        return next((a.attempted_at for a in ordered if a.score >= target), None)

    return _Fold(fields, sessions, session, qualifying)


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=_REL_TOL, abs_tol=_ABS_TOL)
    return bool(a == b)


def _attempts_by_step(
    attempts: Iterable[Attempt] | None, student_id: str, assignment_id: str
) -> dict[str, list[Attempt]] | None:
    """The log's attempts of this student and assignment, once per id (D3)."""
    if attempts is None:
        return None
    seen: set[str] = set()
    by_step: dict[str, list[Attempt]] = {}
    for attempt in attempts:
        if (attempt.student_id, attempt.assignment_id) != (student_id, assignment_id):
            continue
        if attempt.attempt_id in seen:
            continue
        seen.add(attempt.attempt_id)
        by_step.setdefault(attempt.step_id, []).append(attempt)
    return by_step


class _Checked(NamedTuple):
    """The records that are valid, and everything that is wrong."""

    assignment: AssignmentProgress | None
    steps: dict[str, StepProgress]
    raw_steps: dict[str, Mapping[str, Any]]
    given: list[object]
    violations: tuple[Violation, ...]


def _check_all(
    raw_assignment: object | None,
    structure: AssignmentStructure,
    raw_steps: Iterable[object] | Mapping[str, object],
    *,
    student_id: str,
    attempts: Iterable[Attempt] | None,
    policy: Policy,
) -> _Checked:
    assignment_id = structure.assignment_id
    found: list[Violation] = []
    assignment: AssignmentProgress | None = None
    if raw_assignment is not None:
        assignment, problems = _check(
            raw_assignment, AssignmentProgress, _assignment_relations, "assignment"
        )
        found.extend(problems)
        if assignment is not None:
            found.extend(_foreign(assignment, "assignment", student_id, assignment_id))
            if found:
                assignment = None
    steps: dict[str, StepProgress] = {}
    raws: dict[str, Mapping[str, Any]] = {}
    steps_ok = True
    given = _raw_list(raw_steps)
    for raw in given:
        record, problems = _check(raw, StepProgress, _step_relations, "step")
        found.extend(problems)
        if record is None:
            steps_ok = False
            if isinstance(raw, Mapping):
                key = raw.get("step_id")
                if isinstance(key, str) and key.strip():
                    if key in raws:
                        found.append(_duplicate(key, raw))
                    raws[key] = raw
            continue
        assert isinstance(record, StepProgress)
        assert isinstance(raw, Mapping)
        foreign = _foreign(record, f"step:{record.step_id}", student_id, assignment_id)
        if foreign:
            found.extend(foreign)
            steps_ok = False
            continue
        if record.step_id in raws:
            found.append(_duplicate(record.step_id, raw))
            steps_ok = False
            continue
        steps[record.step_id] = record
        raws[record.step_id] = raw
        found.extend(_derived_mismatches(record, policy))
    log = _attempts_by_step(attempts, student_id, assignment_id)
    if log is not None:
        found.extend(_log_mismatches(log, structure, steps, raws))
    if assignment is not None and steps_ok:
        found.extend(_aggregate_mismatches(assignment, structure, steps, policy))
    return _Checked(assignment, steps, raws, given, tuple(found))


def _derived_mismatches(record: StepProgress, policy: Policy) -> list[Violation]:
    """A step's mastery (D6) and consistency (D5) against its own figures."""
    moments = consistency_from_moments(
        record.attempt_count, record.score_mean, record.score_m2
    )
    consistency = record.consistency_score
    expected: dict[str, Any] = {
        "consistency_score": moments,
        "mastery_level": mastery_level(
            attempt_count=record.attempt_count,
            best_score=record.best_score,
            target_score=record.target_score,
            consistency_score=consistency,
            policy=policy,
        ),
    }
    found = []
    for field, value in expected.items():
        stored = getattr(record, field)
        same = (
            stored is None and value is None
            if stored is None or value is None
            else _close(stored, value)
        )
        if not same:
            found.append(
                Violation(
                    code=f"derived_mismatch:{field}",
                    record=f"step:{record.step_id}",
                    field=field,
                    value=stored,
                    expected=value,
                    rule="D5, D6: a step's consistency and mastery follow from its"
                    " scores, under the organization's policy",
                )
            )
    return found


def _foreign(
    record: StepProgress | AssignmentProgress,
    name: str,
    student_id: str,
    assignment_id: str,
) -> list[Violation]:
    found = []
    for field, expected in (
        ("student_id", student_id),
        ("assignment_id", assignment_id),
    ):
        value = getattr(record, field)
        if value != expected:
            found.append(
                Violation(
                    code="foreign_record",
                    record=name,
                    field=field,
                    value=value,
                    expected=expected,
                    rule="D19: a record is read only where it belongs",
                )
            )
    return found


def _duplicate(step_id: str, raw: object) -> Violation:
    return Violation(
        code="duplicate_record",
        record=f"step:{step_id}",
        field="step_id",
        value=step_id,
        rule="D3: one record per student, assignment and step",
    )


def _log_mismatches(
    log: Mapping[str, list[Attempt]],
    structure: AssignmentStructure,
    steps: Mapping[str, StepProgress],
    raws: Mapping[str, object],
) -> list[Violation]:
    found = []
    in_structure = {d.step_id for d in structure.steps}
    for step_id in sorted(set(log) | set(steps)):
        played = log.get(step_id, [])
        record = steps.get(step_id)
        if record is None:
            if played and step_id in in_structure and step_id not in raws:
                found.append(
                    Violation(
                        code="attempt_log_mismatch:attempt_count",
                        record=f"step:{step_id}",
                        field="attempt_count",
                        value=None,
                        expected=len(played),
                        rule=_RULE_LOG + " (the step has no record)",
                    )
                )
            continue
        folded = _fold(played).fields
        for field in LOG_FIELDS:
            stored, expected = getattr(record, field), folded[field]
            if not _close(stored, expected):
                found.append(
                    Violation(
                        code=f"attempt_log_mismatch:{field}",
                        record=f"step:{step_id}",
                        field=field,
                        value=stored,
                        expected=expected,
                        rule=_RULE_LOG,
                    )
                )
    return found


def _recompute(
    structure: AssignmentStructure,
    steps: Mapping[str, StepProgress],
    *,
    student_id: str,
    as_of: datetime,
    archived: bool,
    due_at_override: datetime | None,
    policy: Policy,
) -> AssignmentProgress:
    return assignment_progress(
        structure,
        steps,
        student_id=student_id,
        as_of=as_of,
        policy=policy,
        archived=archived,
        due_at_override=due_at_override,
    )


def _aggregate_mismatches(
    stored: AssignmentProgress,
    structure: AssignmentStructure,
    steps: Mapping[str, StepProgress],
    policy: Policy,
) -> list[Violation]:
    expected = _recompute(
        structure,
        steps,
        student_id=stored.student_id,
        as_of=structure.created_at,
        archived=stored.status is AssignmentStatus.ARCHIVED,
        due_at_override=stored.due_at_override,
        policy=policy,
    )
    return [
        Violation(
            code=f"aggregate_mismatch:{field}",
            record="assignment",
            field=field,
            value=getattr(stored, field),
            expected=getattr(expected, field),
            rule=_RULE_D18,
        )
        for field in AGGREGATE_FIELDS
        if not _close(getattr(stored, field), getattr(expected, field))
    ]


def check_assignment(
    raw_assignment: object | None,
    structure: AssignmentStructure,
    raw_steps: Iterable[object] | Mapping[str, object],
    *,
    student_id: str,
    attempts: Iterable[Attempt] | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> tuple[Violation, ...]:
    """Every invariant a student's stored records for one assignment break.

    ``raw_assignment`` is the stored assignment record (``None`` when there
    is none) and ``raw_steps`` the stored step records, as JSON-ready dicts.
    Checked (D4, D18): each record's own invariants (:func:`check_step`);
    records of another student or assignment, or twice the same step; the
    aggregates that follow from the step records (D10-D14) when every record
    is valid; and, given the host's ``attempts`` log, the step figures it
    determines. Steps without a record count as untouched (Q17); records of
    steps the structure no longer has are checked on their own.

    >>> from datetime import datetime, UTC
    >>> from mlc_progress import (AssignmentStructure, StepDefinition, Stage,
    ...     assignment_progress, unstructure)
    >>> s = AssignmentStructure(
    ...     assignment_id="a", created_at=datetime(2026, 1, 1, tzinfo=UTC),
    ...     steps=(StepDefinition(step_id="s1", element_id="g",
    ...                           stage=Stage.PLAY, target_score=80),))
    >>> stored = unstructure(assignment_progress(
    ...     s, [], student_id="u", as_of=datetime(2026, 1, 2, tzinfo=UTC)))
    >>> check_assignment(stored, s, [], student_id="u")
    ()
    >>> stored["steps_required"] = 2
    >>> [x.code for x in check_assignment(stored, s, [], student_id="u")]
    ['counts_do_not_add_up']
    """
    return _check_all(
        raw_assignment,
        structure,
        raw_steps,
        student_id=student_id,
        attempts=attempts,
        policy=policy,
    ).violations


def load_progress(
    structure: AssignmentStructure,
    raw_assignment: object | None,
    raw_steps: Iterable[object] | Mapping[str, object],
    *,
    student_id: str,
    attempts: Iterable[Attempt] | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> ProgressState | Violations:
    """A student's state for one assignment, read safely from storage (D18).

    A :class:`~mlc_progress.ProgressState` when :func:`check_assignment`
    finds nothing, else the :class:`Violations` to report and repair.

    >>> from datetime import datetime, UTC
    >>> from mlc_progress import AssignmentStructure, StepDefinition, Stage
    >>> s = AssignmentStructure(
    ...     assignment_id="a", created_at=datetime(2026, 1, 1, tzinfo=UTC),
    ...     steps=(StepDefinition(step_id="s1", element_id="g",
    ...                           stage=Stage.PLAY, target_score=80),))
    >>> load_progress(s, None, [], student_id="u").student_id
    'u'
    >>> load_progress(s, None, [{"step_id": "s1", "time_on_task_ms": -1}],
    ...               student_id="u").codes
    ('missing_field', 'negative_time')
    """
    checked = _check_all(
        raw_assignment,
        structure,
        raw_steps,
        student_id=student_id,
        attempts=attempts,
        policy=policy,
    )
    if checked.violations:
        return Violations(violations=checked.violations)
    return ProgressState(
        student_id=student_id,
        structure=structure,
        assignment=checked.assignment,
        steps=checked.steps,
    )


# Repair ------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class CorrectionRecord:
    """An appended correction: a stored record before and after a repair (D18).

    ``before`` is the record exactly as it was stored (``None`` when the
    repair created it from the attempt log), ``after`` the corrected record,
    both JSON-ready; ``step_id`` is ``None`` for the assignment record.
    Nothing is deleted: the correction is the audit trail (spec: error rule 5).
    """

    correction_id: str = attrs.field(validator=v.identifier)
    repair_id: str = attrs.field(validator=v.identifier)
    student_id: str = attrs.field(validator=v.identifier)
    assignment_id: str = attrs.field(validator=v.identifier)
    step_id: str | None = attrs.field(validator=v.optional_identifier)
    before: Mapping[str, Any] | None = attrs.field(converter=_json_ready, hash=False)
    after: Mapping[str, Any] = attrs.field(converter=_json_ready, hash=False)
    reason: str = attrs.field(validator=v.identifier)
    violations: tuple[Violation, ...] = attrs.field()
    from_attempt_log: bool = attrs.field(validator=v.boolean)
    actor_id: str = attrs.field(validator=v.identifier)
    corrected_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)


@attrs.frozen(kw_only=True)
class RepairOutcome:
    """What :func:`repair_assignment` found and did.

    ``violations`` are those found. When the repair restores every invariant,
    ``steps`` and ``assignment`` are the corrected records to store,
    ``corrections`` the records to append and ``events`` hold one
    ``progress_reconciled`` (``error_repair``). When it cannot,
    ``remaining`` lists what it could not repair, nothing is to be stored,
    and ``events`` hold one ``progress_repair_failed`` alert for support.
    Consistent records give an outcome with nothing in it.
    """

    repair_id: str
    violations: tuple[Violation, ...] = ()
    remaining: tuple[Violation, ...] = ()
    steps: tuple[StepProgress, ...] = ()
    assignment: AssignmentProgress | None = None
    corrections: tuple[CorrectionRecord, ...] = ()
    events: tuple[Event, ...] = ()
    consumed_ids: tuple[str, ...] = ()

    @property
    def repaired(self) -> bool:
        """Whether the repair corrected something."""
        return bool(self.corrections)

    @property
    def failed(self) -> bool:
        """Whether invariants remain broken: support has been alerted."""
        return bool(self.remaining)


# Fields a repair recomputes whatever was stored (D6, D7, Q1).
_DERIVED = frozenset(
    ("state", "passed", "mastery_level", "consistency_score", "completion_source")
)
# Fields the attempt log determines (D2, D5, D13) and a repair re-folds.
_FROM_LOG = frozenset(
    (
        *LOG_FIELDS,
        "session_count",
        "started_at",
        "last_activity_at",
        "last_session_id",
    )
)


class _Context(NamedTuple):
    structure: AssignmentStructure
    student_id: str
    as_of: datetime
    policy: Policy
    log: Mapping[str, list[Attempt]] | None


def _latest(*times: datetime | None) -> datetime | None:
    known = [t for t in times if t is not None]
    return max(known) if known else None


def _earliest(*times: datetime | None) -> datetime | None:
    known = [t for t in times if t is not None]
    return min(known) if known else None


def _repair_step(
    raw: Mapping[str, Any] | None,
    step_id: str,
    definition: StepDefinition | None,
    ctx: _Context,
) -> StepProgress | list[Violation]:
    """A valid step record rebuilt from ``raw``, or what cannot be repaired.

    Completion is kept, with its date and source (D7); derived figures are
    recomputed; figures the log determines come from it when there is one.
    Nothing is guessed: a value that no rule recovers stays a violation.
    """
    name = f"step:{step_id}"
    fields, problems = _parse(raw, StepProgress, name) if raw is not None else ({}, [])
    played = None if ctx.log is None else ctx.log.get(step_id, [])
    fixable = set(_DERIVED) | {"assignment_id", "student_id", "last_session_id"}
    if definition is not None:
        fixable.add("target_score")
    if played is not None:
        fixable |= _FROM_LOG
    blocking = [
        p for p in problems if p.field not in fixable or p.code == "unknown_field"
    ]
    for field, expected in (
        ("student_id", ctx.student_id),
        ("assignment_id", ctx.structure.assignment_id),
    ):
        if field in fields and fields[field] != expected:
            blocking.append(
                Violation(
                    code="foreign_record",
                    record=name,
                    field=field,
                    value=fields[field],
                    expected=expected,
                    rule="D19: a record is repaired only where it belongs",
                )
            )
    if blocking:
        return blocking
    source = fields.get("completion_source")
    target = fields.get("target_score")
    if target is None:
        assert definition is not None
        target = definition.target_score
    meta: ReconciliationMetadata | None = fields.get("reconciliation_metadata")
    started = fields.get("started_at")
    last = fields.get("last_activity_at")
    session_count = fields.get("session_count")
    last_session = fields.get("last_session_id")
    qualifying_at: datetime | None = None
    if played is not None:
        folded = _fold(played)
        numbers = dict(folded.fields)
        started = _earliest(started, numbers["first_attempt_at"])
        last = _latest(last, numbers["latest_attempt_at"])
        if session_count is None or session_count < folded.sessions:
            session_count = folded.sessions
        last_session = last_session or folded.last_session_id
        qualifying_at = folded.qualifying(target)
    else:
        numbers = {f: fields[f] for f in LOG_FIELDS}
        unrepairable = _check_moments(numbers, name)
        if unrepairable:
            return unrepairable
        if numbers["attempt_count"]:
            numbers["best_score"] = max(
                numbers["best_score"], numbers["latest_score"], numbers["first_score"]
            )
            started = _earliest(started, numbers["first_attempt_at"])
            last = _latest(last, numbers["latest_attempt_at"])
        moments = consistency_from_moments(
            numbers["attempt_count"], numbers["score_mean"], numbers["score_m2"]
        )
        numbers["consistency_score"] = (
            None if moments is None else round(moments, CONSISTENCY_DIGITS)
        )
    count = numbers["attempt_count"]
    if started is not None and last is not None and last < started:
        started = last
    completed = fields.get("completed_at")
    state = fields.get("state")
    complete = state is StepState.COMPLETE or completed is not None
    if not complete and qualifying_at is not None:
        complete, completed, source = (
            True,
            qualifying_at,
            CompletionSource.FRESH_ATTEMPT,
        )
    if complete:
        if completed is None:
            completed = qualifying_at or _latest(
                started, last, numbers["latest_attempt_at"], fields.get("available_at")
            )
            completed = completed or ctx.as_of
        if source is None:
            if _target_met(count, numbers["best_score"], target, None):
                source = CompletionSource.FRESH_ATTEMPT
            elif _target_met(0, 0.0, target, meta):
                source = CompletionSource.FREE_PLAY_RECONCILED
            else:
                return [
                    Violation(
                        code="unknown_completion_source",
                        record=name,
                        field="completion_source",
                        value=None if raw is None else raw.get("completion_source"),
                        rule="D7: how a complete step completed is not guessed",
                    )
                ]
        if source is CompletionSource.FRESH_ATTEMPT:
            started = _earliest(started, completed)
        state = StepState.COMPLETE
    else:
        completed = None
        if state is StepState.IN_PROGRESS and started is None:
            started = last  # the only interaction known
        if count > 0 or (started is not None and state in (StepState.LOCKED, None)):
            state = StepState.IN_PROGRESS
        elif state is StepState.IN_PROGRESS and started is None:
            state = StepState.AVAILABLE  # no evidence it ever started
        elif state is None:
            available = fields.get("available_at") is not None
            state = StepState.AVAILABLE if available else StepState.LOCKED
        source = source or CompletionSource.FRESH_ATTEMPT
    consistency = numbers["consistency_score"]
    try:
        return StepProgress(
            step_id=step_id,
            assignment_id=ctx.structure.assignment_id,
            student_id=ctx.student_id,
            state=state,
            started_at=started,
            completed_at=completed,
            last_activity_at=last,
            attempt_count=count,
            best_score=numbers["best_score"],
            latest_score=numbers["latest_score"],
            target_score=target,
            passed=_target_met(count, numbers["best_score"], target, meta),
            time_on_task_ms=numbers["time_on_task_ms"],
            session_count=session_count or 0,
            mastery_level=mastery_level(
                attempt_count=count,
                best_score=numbers["best_score"],
                target_score=target,
                consistency_score=consistency,
                policy=ctx.policy,
            ),
            consistency_score=consistency,
            completion_source=source,
            reconciliation_metadata=meta,
            score_mean=numbers["score_mean"],
            score_m2=numbers["score_m2"],
            first_attempt_at=numbers["first_attempt_at"],
            first_score=numbers["first_score"],
            latest_attempt_at=numbers["latest_attempt_at"],
            last_session_id=last_session,
            available_at=fields.get("available_at"),
        )
    except InvalidInputError as error:
        return [
            Violation(
                code="unrepairable",
                record=name,
                field=error.field,
                value=error.value,
                rule=error.rule,
            )
        ]


def _check_moments(numbers: Mapping[str, Any], name: str) -> list[Violation]:
    """Without a log, attempt figures that contradict each other stay broken."""
    firsts = ("first_attempt_at", "latest_attempt_at", "first_score")
    if numbers["attempt_count"] == 0:
        scores = ("best_score", "latest_score", "score_mean", "score_m2")
        if all(numbers[f] == 0 for f in scores) and all(
            numbers[f] is None for f in firsts
        ):
            return []
        code = "scores_without_attempts"
    elif any(numbers[f] is None for f in firsts):
        code = "attempts_without_times"
    elif numbers["latest_attempt_at"] < numbers["first_attempt_at"]:
        code = "attempts_out_of_order"
    else:
        return []
    return [
        Violation(
            code=code,
            record=name,
            field="attempt_count",
            value=numbers["attempt_count"],
            rule="D18: only the attempt log can tell which attempt figure is right",
        )
    ]


def repair_assignment(
    structure: AssignmentStructure,
    raw_assignment: object | None,
    raw_steps: Iterable[object] | Mapping[str, object],
    *,
    student_id: str,
    as_of: datetime,
    repair_id: str,
    attempts: Iterable[Attempt] | None = None,
    actor_id: str = "system",
    policy: Policy = DEFAULT_POLICY,
) -> RepairOutcome:
    """Repair a student's stored records for one assignment (D18).

    Step records are rebuilt from their own data: derived figures (state,
    ``passed``, mastery, consistency) recomputed, contradictory times
    ordered, completion kept with its date and source (D7); given the
    host's ``attempts`` log, the attempt figures are re-folded from it, and
    a qualifying attempt completes its step when it happened. The aggregates
    are then recomputed with ``assignment_progress`` as of ``as_of``. Every
    changed record gets a :class:`CorrectionRecord`, and the outcome one
    ``progress_reconciled`` event (``error_repair``). A record that no rule
    recovers (an unknown field, a score out of range with no log to
    recompute it...) makes the whole repair fail: nothing is to be stored
    and a ``progress_repair_failed`` alert carries the diagnostics.
    Idempotent: repairing repaired records finds nothing.

    ``repair_id`` names this run (the service's command id); every id in the
    outcome derives from it, the student and the assignment.

    >>> from datetime import datetime, UTC
    >>> from mlc_progress import (AssignmentStructure, StepDefinition, Stage,
    ...     StepProgress, StepState, unstructure)
    >>> s = AssignmentStructure(
    ...     assignment_id="a", created_at=datetime(2026, 1, 1, tzinfo=UTC),
    ...     steps=(StepDefinition(step_id="s1", element_id="g",
    ...                           stage=Stage.PLAY, target_score=80),))
    >>> step = unstructure(StepProgress(step_id="s1", assignment_id="a",
    ...     student_id="u", target_score=80, state=StepState.AVAILABLE))
    >>> step["passed"] = True  # no evidence meets the target
    >>> out = repair_assignment(s, None, [step], student_id="u",
    ...     as_of=datetime(2026, 1, 2, tzinfo=UTC), repair_id="r1")
    >>> out.repaired, out.steps[0].passed, out.events[0].reconciliation_type
    (True, False, <ReconciliationType.ERROR_REPAIR: 'error_repair'>)
    """
    as_of = utc_argument("as_of", as_of)
    assignment_id = structure.assignment_id
    prefix = f"{repair_id}:{student_id}:{assignment_id}"
    attempt_list = None if attempts is None else list(attempts)
    checked = _check_all(
        raw_assignment,
        structure,
        raw_steps,
        student_id=student_id,
        attempts=attempt_list,
        policy=policy,
    )
    found = checked.violations
    if not found:
        return RepairOutcome(repair_id=repair_id)
    ctx = _Context(
        structure=structure,
        student_id=student_id,
        as_of=as_of,
        policy=policy,
        log=_attempts_by_step(attempt_list, student_id, assignment_id),
    )
    blocking = [
        x
        for x in found
        if x.code in ("foreign_record", "duplicate_record", "not_an_object")
        or x.record == "step"
    ]
    by_record: dict[str, list[Violation]] = {}
    for x in found:
        by_record.setdefault(x.record, []).append(x)
    definitions = {d.step_id: d for d in structure.steps}
    raws = checked.raw_steps
    after: dict[str, StepProgress] = dict(checked.steps)
    changed: list[tuple[str, StepProgress]] = []
    if not blocking:
        for record in by_record:
            if not record.startswith("step:"):
                continue
            step_id = record.removeprefix("step:")
            result = _repair_step(
                raws.get(step_id), step_id, definitions.get(step_id), ctx
            )
            if isinstance(result, list):
                blocking.extend(result)
                continue
            after[step_id] = result
            changed.append((step_id, result))
    new_assignment: AssignmentProgress | None = None
    stored = checked.assignment
    if (
        not blocking
        and raw_assignment is not None
        and (stored is None or _aggregate_mismatches(stored, structure, after, policy))
    ):
        rebuilt = _repair_assignment_record(raw_assignment, after, ctx)
        if isinstance(rebuilt, list):
            blocking.extend(rebuilt)
        else:
            new_assignment = rebuilt
    if not blocking:
        # The safety net: what the repair writes must pass every check.
        changed_ids = {k for k, _ in changed}
        final_steps = [
            unstructure(after[k]) if k in changed_ids else raws[k]
            for k in {**raws, **dict.fromkeys(changed_ids)}
        ]
        final_assignment = (
            unstructure(new_assignment)
            if new_assignment is not None
            else raw_assignment
        )
        blocking.extend(
            _check_all(
                final_assignment,
                structure,
                final_steps,
                student_id=student_id,
                attempts=attempt_list,
                policy=policy,
            ).violations
        )
    if blocking:
        return _failed(
            repair_id,
            prefix,
            found,
            blocking,
            raw_assignment,
            checked.given,
            ctx,
            attempt_list,
        )
    from_log = ctx.log is not None
    corrections = [
        _correction(
            f"{prefix}/correction/{n}",
            repair_id,
            ctx,
            step_id,
            raws.get(step_id),
            unstructure(record),
            by_record.get(f"step:{step_id}", []),
            from_log,
            actor_id,
        )
        for n, (step_id, record) in enumerate(changed, start=1)
    ]
    if new_assignment is not None:
        assert isinstance(raw_assignment, Mapping)
        corrections.append(
            _correction(
                f"{prefix}/correction/{len(corrections) + 1}",
                repair_id,
                ctx,
                None,
                raw_assignment,
                unstructure(new_assignment),
                by_record.get("assignment", []),
                from_log,
                actor_id,
            )
        )
    previous = _stored_percentage(raw_assignment)
    new = new_assignment or checked.assignment
    new_percentage = (
        new.completion_percentage
        if new is not None
        else _recompute(
            structure,
            after,
            student_id=student_id,
            as_of=as_of,
            archived=False,
            due_at_override=None,
            policy=policy,
        ).completion_percentage
    )
    event = ProgressReconciled(
        event_id=f"{prefix}/event/1",
        occurred_at=as_of,
        assignment_id=assignment_id,
        student_id=student_id,
        reconciliation_type=ReconciliationType.ERROR_REPAIR,
        steps_affected=len(changed),
        previous_completion_percentage=new_percentage if previous is None else previous,
        new_completion_percentage=new_percentage,
    )
    return RepairOutcome(
        repair_id=repair_id,
        violations=found,
        steps=tuple(record for _, record in changed),
        assignment=new_assignment,
        corrections=tuple(corrections),
        events=(event,),
        consumed_ids=(prefix,),
    )


def _repair_assignment_record(
    raw: object, steps: Mapping[str, StepProgress], ctx: _Context
) -> AssignmentProgress | list[Violation]:
    """The aggregates recomputed from the (repaired) steps (D18); the fields
    no step determines, the archive and a teacher's due date, are kept."""
    if not isinstance(raw, Mapping):
        return []  # reported already as not_an_object
    fields, problems = _parse(raw, AssignmentProgress, "assignment")
    # A teacher's extended due date (D8) is no aggregate: it is not guessed.
    blocking = [
        p
        for p in problems
        if p.field == "due_at_override" or p.code in ("unknown_field", "foreign_record")
    ]
    for field, expected in (
        ("student_id", ctx.student_id),
        ("assignment_id", ctx.structure.assignment_id),
    ):
        if field in fields and fields[field] != expected:
            blocking.append(
                Violation(
                    code="foreign_record",
                    record="assignment",
                    field=field,
                    value=fields[field],
                    expected=expected,
                    rule="D19: a record is repaired only where it belongs",
                )
            )
    if blocking:
        return blocking
    return _recompute(
        ctx.structure,
        steps,
        student_id=ctx.student_id,
        as_of=ctx.as_of,
        archived=fields.get("status") is AssignmentStatus.ARCHIVED,
        due_at_override=fields.get("due_at_override"),
        policy=ctx.policy,
    )


def _stored_percentage(raw: object) -> float | None:
    """The stored completion, clamped to [0, 100] for the event (the exact
    value is in the correction record)."""
    if not isinstance(raw, Mapping):
        return None
    number = _number(raw.get("completion_percentage"))
    if number is None or math.isnan(number):
        return None
    return min(max(number, 0.0), 100.0)


def _correction(
    correction_id: str,
    repair_id: str,
    ctx: _Context,
    step_id: str | None,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any],
    violations: Sequence[Violation],
    from_log: bool,
    actor_id: str,
) -> CorrectionRecord:
    codes = (
        ", ".join(dict.fromkeys(x.code for x in violations))
        or "aggregates of corrected steps"
    )
    source = "the attempt log and step data" if from_log else "step data"
    return CorrectionRecord(
        correction_id=correction_id,
        repair_id=repair_id,
        student_id=ctx.student_id,
        assignment_id=ctx.structure.assignment_id,
        step_id=step_id,
        before=before,
        after=after,
        reason=f"D18 repair from {source}: {codes}",
        violations=tuple(violations),
        from_attempt_log=from_log,
        actor_id=actor_id,
        corrected_at=ctx.as_of,
    )


def _failed(
    repair_id: str,
    prefix: str,
    found: tuple[Violation, ...],
    remaining: Sequence[Violation],
    raw_assignment: object | None,
    given: Sequence[object],
    ctx: _Context,
    attempts: Sequence[Attempt] | None,
) -> RepairOutcome:
    remaining = tuple(dict.fromkeys(remaining))
    alert = ProgressRepairFailed(
        event_id=f"{prefix}/event/1",
        occurred_at=ctx.as_of,
        assignment_id=ctx.structure.assignment_id,
        student_id=ctx.student_id,
        violations=tuple(dict.fromkeys(x.code for x in remaining)),
        diagnostics={
            "repair_id": repair_id,
            "structure_version": ctx.structure.version,
            "found": [unstructure(x) for x in found],
            "unrepaired": [unstructure(x) for x in remaining],
            "assignment": _json_ready(raw_assignment),
            "steps": _json_ready(given),
            "attempts_in_log": None if attempts is None else len(attempts),
        },
    )
    return RepairOutcome(
        repair_id=repair_id,
        violations=found,
        remaining=remaining,
        events=(alert,),
        consumed_ids=(prefix,),
    )


for _cls in (Violation, Violations, CorrectionRecord, RepairOutcome):
    attrs.resolve_types(_cls)
