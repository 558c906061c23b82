"""Columns from records: :meth:`StepColumns.from_histories`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ._columnar_columns import INT64_MAX, INT64_MIN, RULE_INT64, rule_exact_int
from ._columnar_fields import STEP_FIELDS
from ._columnar_np import NAT, code_of, day_number, np, to_us
from ._enums import AssignmentStatus
from ._errors import InvalidInputError
from ._risk import RiskRule, RiskState
from ._rollups import StudentHistory

__all__ = ["columns_from_histories", "rule_bits"]

_RULE_BIT = {rule: 1 << i for i, rule in enumerate(RiskRule)}


def rule_bits(rules: Iterable[RiskRule]) -> int:
    """The bits of a set of rules (1 = pacing .. 16 = consistency).

    >>> rule_bits([RiskRule.PACING, RiskRule.STRUGGLE])
    9
    """
    if not isinstance(rules, Iterable) or isinstance(rules, str):
        raise InvalidInputError("rules", rules, "a collection of RiskRule members")
    bits = 0
    for rule in rules:
        if not isinstance(rule, RiskRule):
            raise InvalidInputError("rules", rule, "a RiskRule")
        bits |= _RULE_BIT[rule]
    return bits


def _exact_ratio(value: int, scale: int) -> bool:
    """Whether ``float`` keeps the integer ``value`` and ``scale * value``
    exactly (:func:`rule_exact_int`); checked per value, as ``np.array``
    rounds a Python int silently."""
    try:
        return float(value) == value and float(scale * value) == scale * value
    except OverflowError:
        return False


class _Index:
    """Positions of equal structures, looked up by identity first."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._by_id: dict[int, int] = {}
        self._by_value: dict[Any, int] = {}

    def __call__(self, item: Any) -> int:
        found = self._by_id.get(id(item))
        if found is not None:
            return found
        found = self._by_value.get(item)
        if found is None:
            found = len(self.items)
            self.items.append(item)
            self._by_value[item] = found
        self._by_id[id(item)] = found
        return found


def columns_from_histories(
    histories: Iterable[StudentHistory],
    *,
    organization_id: str | None = None,
    previous_risk: Mapping[str, RiskState] | None = None,
) -> dict[str, Any]:
    """The keyword arguments of ``StepColumns`` for ``histories`` (see
    :meth:`StepColumns.from_histories`)."""
    given: object = histories
    if not isinstance(given, Iterable) or isinstance(given, str):
        raise InvalidInputError(
            "histories", given, "a collection of StudentHistory records"
        )
    if previous_risk is not None and not isinstance(previous_risk, Mapping):
        raise InvalidInputError(
            "previous_risk", previous_risk, "a mapping of student id to RiskState"
        )
    items = tuple(histories)
    for h in items:
        if not isinstance(h, StudentHistory):
            raise InvalidInputError("histories", h, "a StudentHistory")
    if organization_id is None:
        if not items:
            raise InvalidInputError(
                "organization_id", None, "D19: the organization of the table"
            )
        organization_id = items[0].organization_id
    previous = dict(previous_risk or {})
    known = {h.student_id for h in items}
    for sid, state in previous.items():
        if not isinstance(state, RiskState) or state.student_id != sid:
            raise InvalidInputError(
                "previous_risk", sid, "the stored RiskState of that student"
            )
        if sid not in known:
            raise InvalidInputError(
                "previous_risk", sid, "a state of a student of the table"
            )

    structures = _Index()
    sequences = _Index()
    positions: dict[int, dict[str, int]] = {}
    out: dict[str, list[Any]] = {
        name: []
        for name in (
            "group_student",
            "group_assignment",
            "archived",
            "due_at_override",
            "step_group",
            "step_index",
            *STEP_FIELDS,
            "attempt_student",
            "attempt_assignment",
            "attempted_at",
            "attempt_duration_ms",
            "attempt_key",
            "activity_student",
            "activity_day",
            "previous_risk_rules",
            "previous_risk_dismissed",
            "member_student",
            "member_sequence",
            "member_stored",
            "kept_member",
            "kept_concept",
        )
    }
    keys: dict[tuple[int, str], int] = {}
    for s, h in enumerate(items):
        if h.organization_id != organization_id:
            raise InvalidInputError(
                "organization_id",
                h.organization_id,
                f"D19: a student of organization {organization_id!r}",
            )
        if h.snapshots:
            raise InvalidInputError(
                "snapshots",
                len(h.snapshots),
                "columnar: trends are not computed; pass histories without"
                " snapshots and compute trends with trend_samples",
            )
        by_assignment: dict[str, int] = {}
        for records in h.assignments:
            a = structures(records.structure)
            by_assignment[records.structure.assignment_id] = a
            g = len(out["group_student"])
            out["group_student"].append(s)
            out["group_assignment"].append(a)
            stored = records.progress
            out["archived"].append(
                stored is not None and stored.status is AssignmentStatus.ARCHIVED
            )
            out["due_at_override"].append(
                to_us(stored.due_at_override) if stored is not None else NAT
            )
            where = positions.get(a)
            if where is None:
                where = {d.step_id: j for j, d in enumerate(records.structure.steps)}
                positions[a] = where
            for step in records.steps:
                out["step_group"].append(g)
                out["step_index"].append(where[step.step_id])
                _append_step(out, step, len(out["state"]))
        for attempt in h.attempts:
            out["attempt_student"].append(s)
            out["attempt_assignment"].append(by_assignment[attempt.assignment_id])
            out["attempted_at"].append(to_us(attempt.attempted_at))
            out["attempt_duration_ms"].append(attempt.duration_ms)
            out["attempt_key"].append(
                keys.setdefault((s, attempt.attempt_id), len(keys))
            )
        for day in h.activity_days:
            out["activity_student"].append(s)
            out["activity_day"].append(day_number(day))
        for seq in h.sequences:
            m = len(out["member_student"])
            out["member_student"].append(s)
            out["member_sequence"].append(sequences(seq.structure))
            out["member_stored"].append(seq.progress is not None)
            if seq.progress is not None:
                for concept in seq.progress.concepts_mastered:
                    out["kept_member"].append(m)
                    out["kept_concept"].append(concept)
        risk = previous.get(h.student_id)
        out["previous_risk_rules"].append(0 if risk is None else rule_bits(risk.rules))
        out["previous_risk_dismissed"].append(
            risk is not None and risk.dismissal is not None
        )

    dtypes: dict[str, Any] = {
        "state": np.int8,
        "mastery_level": np.int8,
        "completion_source": np.int8,
        "passed": bool,
        "archived": bool,
        "previous_risk_dismissed": bool,
        "member_stored": bool,
        "best_score": np.float64,
        "latest_score": np.float64,
        "target_score": np.float64,
        "consistency_score": np.float64,
        "reconciled_score": np.float64,
        "score_mean": np.float64,
        "score_m2": np.float64,
        "first_score": np.float64,
        "previous_risk_rules": np.int8,
    }
    arguments: dict[str, Any] = {
        "organization_id": organization_id,
        "student_ids": tuple(h.student_id for h in items),
        "structures": tuple(structures.items),
        "sequences": tuple(sequences.items),
        "kept_concept": tuple(out.pop("kept_concept")),
    }
    for name, values in out.items():
        try:
            arguments[name] = np.array(values, dtype=dtypes.get(name, np.int64))
        except OverflowError:
            row = next(
                (i for i, x in enumerate(values) if not INT64_MIN <= x <= INT64_MAX),
                0,
            )
            raise InvalidInputError(f"{name}[{row}]", values[row], RULE_INT64) from None
    return arguments


def _append_step(out: dict[str, list[Any]], step: Any, row: int) -> None:
    meta = step.reconciliation_metadata
    # A ratio may be an int (D5); float64 must hold it as the record path
    # computes with it (D17's N is round(100 * cv)).
    cv, m2 = step.consistency_score, step.score_m2
    if isinstance(cv, int) and not _exact_ratio(cv, 100):
        raise InvalidInputError(f"consistency_score[{row}]", cv, rule_exact_int(100))
    if isinstance(m2, int) and not _exact_ratio(m2, 1):
        raise InvalidInputError(f"score_m2[{row}]", m2, rule_exact_int())
    out["state"].append(code_of(step.state))
    out["started_at"].append(to_us(step.started_at))
    out["completed_at"].append(to_us(step.completed_at))
    out["last_activity_at"].append(to_us(step.last_activity_at))
    out["attempt_count"].append(step.attempt_count)
    out["best_score"].append(step.best_score)
    out["latest_score"].append(step.latest_score)
    out["target_score"].append(step.target_score)
    out["passed"].append(step.passed)
    out["time_on_task_ms"].append(step.time_on_task_ms)
    out["session_count"].append(step.session_count)
    out["mastery_level"].append(code_of(step.mastery_level))
    out["consistency_score"].append(
        float("nan") if step.consistency_score is None else step.consistency_score
    )
    out["completion_source"].append(code_of(step.completion_source))
    out["reconciled_score"].append(
        float("nan") if meta is None else meta.original_score
    )
    out["score_mean"].append(step.score_mean)
    out["score_m2"].append(step.score_m2)
    out["first_attempt_at"].append(to_us(step.first_attempt_at))
    out["first_score"].append(
        float("nan") if step.first_score is None else step.first_score
    )
    out["latest_attempt_at"].append(to_us(step.latest_attempt_at))
