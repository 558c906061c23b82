"""At-risk detection, its state over time, interventions and dismissals (D17).

:func:`detect_risk` applies the five rules of D17 to one student's records as
of a moment and returns a :class:`RiskAssessment` with the exact factor
strings and the recommended interventions, as data. :func:`risk_update` is
the pure transition from the stored :class:`RiskState`: it emits
``student_at_risk_detected`` only when the flag or the set of factor kinds
changes, and an intervention snapshot when the flag changes (spec: Automatic
Snapshot Triggers). Beyond the spec, a teacher can dismiss a flag as wrong
(:func:`dismiss_risk`); it stays dismissed until the factor kinds change, and
:class:`DismissalStats` counts raises and dismissals per rule.
"""

from __future__ import annotations

import enum
import heapq
import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from . import _validate as v
from ._assignment import checked_window_end
from ._enums import AssignmentStatus, PacingStatus, SnapshotTrigger, StepState
from ._errors import InvalidInputError
from ._events import Event, StudentAtRiskDetected
from ._pacing import expected_percentage, utc_argument
from ._policy import DEFAULT_POLICY, Policy
from ._records import (
    AssignmentProgress,
    ProgressSnapshot,
    StepProgress,
    StudentProgressSummary,
)
from ._retention import snapshot_created, student_snapshot
from ._rounding import round_half_away
from ._serialization import register_enums
from ._structure import AssignmentStructure

__all__ = [
    "RECOMMENDED_INTERVENTIONS",
    "AssignmentStanding",
    "DismissalStats",
    "Intervention",
    "InterventionKind",
    "RiskAssessment",
    "RiskDismissal",
    "RiskFactor",
    "RiskRule",
    "RiskState",
    "RiskUpdate",
    "RuleCounts",
    "StepRef",
    "detect_risk",
    "dismiss_risk",
    "is_active_assignment",
    "next_risk_state",
    "proposed_due_date",
    "risk_update",
    "round_half_away",
]

_DAY = timedelta(days=1)


def _rules(_: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, tuple) or not all(isinstance(r, RiskRule) for r in value):
        raise InvalidInputError(attribute.name, value, "D17: a tuple of rules")


class RiskRule(enum.StrEnum):
    """The five rules of D17, in the spec's order; a factor's *kind*."""

    PACING = "pacing"
    MASTERY = "mastery"
    ENGAGEMENT = "engagement"
    STRUGGLE = "struggle"
    CONSISTENCY = "consistency"


class InterventionKind(enum.StrEnum):
    """The spec's five intervention triggers, in its order."""

    TEACHER_NOTIFICATION = "teacher_notification"
    REMEDIATION = "remediation"
    PACING_ADJUSTMENT = "pacing_adjustment"
    SUPPORT_RESOURCES = "support_resources"
    PARENT_COMMUNICATION = "parent_communication"


#: Interventions each rule recommends (D17: "each factor maps to recommended
#: interventions, as data"). The teacher is always notified; the first kind
#: after the notification is the event's ``intervention_recommended``.
RECOMMENDED_INTERVENTIONS: Mapping[RiskRule, tuple[InterventionKind, ...]] = {
    RiskRule.PACING: (
        InterventionKind.TEACHER_NOTIFICATION,
        InterventionKind.PACING_ADJUSTMENT,
        InterventionKind.PARENT_COMMUNICATION,
    ),
    RiskRule.MASTERY: (
        InterventionKind.TEACHER_NOTIFICATION,
        InterventionKind.REMEDIATION,
        InterventionKind.SUPPORT_RESOURCES,
    ),
    RiskRule.ENGAGEMENT: (
        InterventionKind.TEACHER_NOTIFICATION,
        InterventionKind.PARENT_COMMUNICATION,
    ),
    RiskRule.STRUGGLE: (
        InterventionKind.TEACHER_NOTIFICATION,
        InterventionKind.REMEDIATION,
        InterventionKind.SUPPORT_RESOURCES,
    ),
    RiskRule.CONSISTENCY: (
        InterventionKind.TEACHER_NOTIFICATION,
        InterventionKind.REMEDIATION,
    ),
}

_PARENT_TEXT: Mapping[RiskRule, str] = {
    RiskRule.PACING: "is about {n}% behind where the class plan expects by now.",
    RiskRule.MASTERY: "has averaged {n}% on the most recently finished activities.",
    RiskRule.ENGAGEMENT: "has not practised for {n} days.",
    RiskRule.STRUGGLE: "has tried one activity {n} times without reaching its goal.",
    RiskRule.CONSISTENCY: "has scores that vary a lot from one try to the next.",
}

#: ``intervention_recommended`` of an event that clears the flag.
NO_INTERVENTION = "none"


def is_active_assignment(
    structure: AssignmentStructure, progress: AssignmentProgress, as_of: datetime
) -> bool:
    """An *active* assignment is assigned (created by ``as_of``), neither
    complete nor archived, and has something left to do (decisions: active
    assignments). D17's pacing and engagement rules and the summary's
    ``active_assignments`` use it.

    >>> from datetime import datetime, UTC
    >>> s = AssignmentStructure(assignment_id="a", steps=(),
    ...                         created_at=datetime(2026, 1, 1, tzinfo=UTC))
    >>> p = AssignmentProgress(assignment_id="a", student_id="u")
    >>> is_active_assignment(s, p, datetime(2026, 2, 1, tzinfo=UTC))
    True
    """
    return (
        structure.created_at <= as_of
        and progress.status
        in (AssignmentStatus.NOT_STARTED, AssignmentStatus.IN_PROGRESS)
        and progress.completion_percentage < 100.0
    )


@attrs.frozen(kw_only=True)
class StepRef:
    """A step of a student's assignment; step ids are unique per assignment."""

    assignment_id: str = attrs.field(validator=v.identifier)
    step_id: str = attrs.field(validator=v.identifier)


@attrs.frozen(kw_only=True)
class AssignmentStanding:
    """One assignment as risk detection sees it: its structure, its progress
    *as of the assessment* and its step records."""

    structure: AssignmentStructure
    progress: AssignmentProgress
    steps: tuple[StepProgress, ...] = ()

    def __attrs_post_init__(self) -> None:
        if self.progress.assignment_id != self.structure.assignment_id:
            raise InvalidInputError(
                "progress",
                self.progress.assignment_id,
                f"the progress of {self.structure.assignment_id!r}",
            )


@attrs.frozen(kw_only=True)
class RiskFactor:
    """One fired rule, with the number its factor string carries (D17).

    ``steps`` are the steps the factor is about (the stuck step, the most
    inconsistent step, the low-scoring recent steps); ``assignment_id`` is the
    assignment it points a teacher to.

    >>> RiskFactor(rule=RiskRule.STRUGGLE, amount=7).code
    'stuck_on_step_7_attempts'
    """

    rule: RiskRule = attrs.field(validator=v.enum_of(RiskRule))
    amount: int = attrs.field(validator=v.count)
    assignment_id: str | None = attrs.field(
        default=None, validator=v.optional_identifier
    )
    steps: tuple[StepRef, ...] = ()

    @property
    def code(self) -> str:
        """The factor string of D17, e.g. ``behind_pace_40_percent``."""
        prefix, suffix = _FACTOR_FORMS[self.rule]
        return f"{prefix}{self.amount}{suffix}"

    @classmethod
    def from_code(cls, code: str) -> RiskFactor | None:
        """The rule and number of a D17 factor string; ``None`` for any
        other text.

        >>> RiskFactor.from_code("inactive_9_days").rule
        <RiskRule.ENGAGEMENT: 'engagement'>
        >>> RiskFactor.from_code("teacher_concern") is None
        True
        """
        for rule, (prefix, suffix) in _FACTOR_FORMS.items():
            if code.startswith(prefix) and code.endswith(suffix):
                number = code[len(prefix) : len(code) - len(suffix)]
                if number.isascii() and number.isdigit():
                    return cls(rule=rule, amount=int(number))
        return None


#: The factor strings of D17: prefix and suffix around the number N.
_FACTOR_FORMS: Mapping[RiskRule, tuple[str, str]] = {
    RiskRule.PACING: ("behind_pace_", "_percent"),
    RiskRule.MASTERY: ("low_mastery_avg_", ""),
    RiskRule.ENGAGEMENT: ("inactive_", "_days"),
    RiskRule.STRUGGLE: ("stuck_on_step_", "_attempts"),
    RiskRule.CONSISTENCY: ("inconsistent_scores_cv_", ""),
}


@attrs.frozen(kw_only=True)
class Intervention:
    """A recommended intervention, as data (spec: Intervention Triggers).

    ``factors`` are the factor strings that recommend it. By kind:
    ``teacher_notification`` lists every factor; ``remediation`` names the
    ``steps``, their games (``element_ids``) and ``concepts`` to review;
    ``pacing_adjustment`` proposes ``proposed_due_at`` for ``assignment_id``;
    ``support_resources`` names the concepts and games to find help for;
    ``parent_communication`` carries a parent-friendly ``message``.
    """

    kind: InterventionKind = attrs.field(validator=v.enum_of(InterventionKind))
    factors: tuple[str, ...] = attrs.field(validator=v.identifiers)
    assignment_id: str | None = attrs.field(
        default=None, validator=v.optional_identifier
    )
    steps: tuple[StepRef, ...] = ()
    element_ids: tuple[str, ...] = attrs.field(default=(), validator=v.identifiers)
    concepts: tuple[str, ...] = attrs.field(default=(), validator=v.identifiers)
    proposed_due_at: datetime | None = attrs.field(
        default=None, converter=v.to_utc_optional, validator=v.optional_utc_time
    )
    message: str = ""


@attrs.frozen(kw_only=True)
class RiskAssessment:
    """What the five rules of D17 found for one student as of ``assessed_at``.

    ``factors`` are in rule order; the first is the *primary* one, whose
    assignment is ``assignment_id`` with its ``pacing_status`` and
    ``mastery_score`` (without a factor: the least favourable pacing and the
    mean mastery over active assignments). ``days_since_activity`` is whole
    days since the last activity (since the earliest active assignment's
    creation when there was none).
    """

    student_id: str = attrs.field(validator=v.identifier)
    assessed_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    factors: tuple[RiskFactor, ...] = ()
    assignment_id: str | None = attrs.field(
        default=None, validator=v.optional_identifier
    )
    pacing_status: PacingStatus = attrs.field(
        default=PacingStatus.ON_TRACK, validator=v.enum_of(PacingStatus)
    )
    mastery_score: float = attrs.field(default=0.0, validator=v.score)
    days_since_activity: int = attrs.field(default=0, validator=v.count)
    interventions: tuple[Intervention, ...] = ()

    def __attrs_post_init__(self) -> None:
        rules = [f.rule for f in self.factors]
        if rules != sorted(set(rules), key=_RULE_INDEX.__getitem__):
            raise InvalidInputError(
                "factors", self.codes, "D17: at most one factor per rule, in order"
            )

    @property
    def at_risk(self) -> bool:
        """A student is at risk when any rule fires (D17)."""
        return bool(self.factors)

    @property
    def rules(self) -> tuple[RiskRule, ...]:
        """The factor kinds, in rule order."""
        return tuple(f.rule for f in self.factors)

    @property
    def codes(self) -> tuple[str, ...]:
        """The factor strings, in rule order."""
        return tuple(f.code for f in self.factors)

    @property
    def intervention_recommended(self) -> str:
        """The primary factor's first intervention after notifying the
        teacher; ``"none"`` when not at risk."""
        if not self.factors:
            return NO_INTERVENTION
        return RECOMMENDED_INTERVENTIONS[self.factors[0].rule][1].value


_RULE_INDEX: Mapping[RiskRule, int] = {rule: i for i, rule in enumerate(RiskRule)}


def detect_risk(
    assignments: Iterable[AssignmentStanding],
    *,
    student_id: str,
    as_of: datetime,
    policy: Policy = DEFAULT_POLICY,
    last_activity_at: datetime | None = None,
) -> RiskAssessment:
    """Apply the five rules of D17 to one student's assignments as of ``as_of``.

    - pacing: an active assignment with ``actual < expected -
      risk_behind_pace_points`` gives ``behind_pace_{N}_percent``,
      N = round(expected - actual) of the worst one;
    - mastery: the mean ``best_score`` of the last ``risk_mastery_recent_steps``
      completed steps with an attempt (by ``completed_at``, across all
      assignments) below ``risk_low_mastery_below`` gives ``low_mastery_avg_{N}``;
    - engagement: an active assignment and ``risk_inactive_days`` whole days
      or more without activity gives ``inactive_{N}_days``;
    - struggle: a step of an active assignment, neither passed nor complete,
      with more than ``risk_stuck_attempts_over`` attempts gives
      ``stuck_on_step_{N}_attempts`` (the largest count);
    - consistency: a step of an active assignment with at least
      ``risk_inconsistent_min_attempts`` attempts and a consistency score of
      at least ``risk_inconsistent_cv`` gives ``inconsistent_scores_cv_{N}``,
      N = round(100 * cv) (the largest).

    Rounding is half away from zero. ``last_activity_at`` adds activity the
    step records do not show (the latest of both counts). Ties go to the
    assignment, then step, that sorts first.

    >>> from datetime import datetime, UTC
    >>> detect_risk([], student_id="u",
    ...             as_of=datetime(2026, 1, 1, tzinfo=UTC)).at_risk
    False
    """
    as_of = utc_argument("as_of", as_of)
    standings = sorted(assignments, key=lambda a: a.structure.assignment_id)
    active = [
        a for a in standings if is_active_assignment(a.structure, a.progress, as_of)
    ]
    last = last_activity_at
    for a in standings:
        for step in a.steps:
            t = step.last_activity_at
            if t is not None and (last is None or t > last):
                last = t
    factors = [
        f
        for f in (
            _pacing(active, as_of, policy),
            _mastery(standings, policy),
            _engagement(active, last, as_of, policy),
            _struggle(active, policy),
            _consistency(active, policy),
        )
        if f is not None
    ]
    by_id = {a.structure.assignment_id: a for a in standings}
    primary = factors[0].assignment_id if factors else None
    if primary is not None and primary in by_id:
        pacing = by_id[primary].progress.pacing_status
        mastery = by_id[primary].progress.mastery_score
    else:
        pacing = _least_favourable(a.progress.pacing_status for a in active)
        mastery = (
            math.fsum(a.progress.mastery_score for a in active) / len(active)
            if active
            else 0.0
        )
    return RiskAssessment(
        student_id=student_id,
        assessed_at=as_of,
        factors=tuple(factors),
        assignment_id=primary,
        pacing_status=pacing,
        mastery_score=min(max(mastery, 0.0), 100.0),
        days_since_activity=_days_since(last, active, as_of),
        interventions=_interventions(factors, by_id, as_of),
    )


_PACING_ORDER = (
    PacingStatus.AT_RISK,
    PacingStatus.BEHIND,
    PacingStatus.ON_TRACK,
    PacingStatus.AHEAD,
)


def _least_favourable(statuses: Iterable[PacingStatus]) -> PacingStatus:
    found = set(statuses)
    for status in _PACING_ORDER:
        if status in found:
            return status
    return PacingStatus.ON_TRACK


def _reference_time(
    last: datetime | None, active: list[AssignmentStanding]
) -> datetime | None:
    if last is not None:
        return last
    if active:
        return min(a.structure.created_at for a in active)
    return None


def _days_since(
    last: datetime | None, active: list[AssignmentStanding], as_of: datetime
) -> int:
    reference = _reference_time(last, active)
    if reference is None or reference >= as_of:
        return 0
    return int((as_of - reference) // _DAY)


def _pacing(
    active: list[AssignmentStanding], as_of: datetime, policy: Policy
) -> RiskFactor | None:
    worst: tuple[float, str] | None = None
    for a in active:
        expected = expected_percentage(
            created_at=a.structure.created_at,
            window_end=checked_window_end(a.structure, a.progress.due_at_override),
            as_of=as_of,
        )
        if expected is None:
            continue
        actual = a.progress.completion_percentage
        if actual < expected - policy.risk_behind_pace_points:
            gap = expected - actual
            if worst is None or gap > worst[0]:
                worst = (gap, a.structure.assignment_id)
    if worst is None:
        return None
    return RiskFactor(
        rule=RiskRule.PACING, amount=round_half_away(worst[0]), assignment_id=worst[1]
    )


def _mastery(standings: list[AssignmentStanding], policy: Policy) -> RiskFactor | None:
    candidates = (
        (step.completed_at, a.structure.assignment_id, step.step_id, step.best_score)
        for a in standings
        for step in a.steps
        if step.state is StepState.COMPLETE
        and step.attempt_count > 0
        and step.completed_at is not None
    )
    recent = heapq.nlargest(policy.risk_mastery_recent_steps, candidates)
    if not recent:
        return None
    mean = math.fsum(r[3] for r in recent) / len(recent)
    if not mean < policy.risk_low_mastery_below:
        return None
    low = sorted(
        (r for r in recent if r[3] < policy.risk_low_mastery_below),
        key=lambda r: (r[3], r[0]),
    )
    return RiskFactor(
        rule=RiskRule.MASTERY,
        amount=round_half_away(mean),
        assignment_id=low[0][1],
        steps=tuple(StepRef(assignment_id=r[1], step_id=r[2]) for r in low),
    )


def _engagement(
    active: list[AssignmentStanding],
    last: datetime | None,
    as_of: datetime,
    policy: Policy,
) -> RiskFactor | None:
    if not active:
        return None
    days = _days_since(last, active, as_of)
    if days < policy.risk_inactive_days:
        return None
    oldest = min(
        active, key=lambda a: (a.structure.created_at, a.structure.assignment_id)
    )
    return RiskFactor(
        rule=RiskRule.ENGAGEMENT,
        amount=days,
        assignment_id=oldest.structure.assignment_id,
    )


def _struggle(active: list[AssignmentStanding], policy: Policy) -> RiskFactor | None:
    worst: tuple[int, str, str] | None = None
    for a in active:
        for step in a.steps:
            if (
                not step.passed
                and step.state is not StepState.COMPLETE
                and step.attempt_count > policy.risk_stuck_attempts_over
                and (worst is None or step.attempt_count > worst[0])
            ):
                worst = (step.attempt_count, a.structure.assignment_id, step.step_id)
    if worst is None:
        return None
    return RiskFactor(
        rule=RiskRule.STRUGGLE,
        amount=worst[0],
        assignment_id=worst[1],
        steps=(StepRef(assignment_id=worst[1], step_id=worst[2]),),
    )


def _consistency(active: list[AssignmentStanding], policy: Policy) -> RiskFactor | None:
    worst: tuple[float, str, str] | None = None
    for a in active:
        for step in a.steps:
            cv = step.consistency_score
            if (
                cv is not None
                and step.attempt_count >= policy.risk_inconsistent_min_attempts
                and cv >= policy.risk_inconsistent_cv
                and (worst is None or cv > worst[0])
            ):
                worst = (cv, a.structure.assignment_id, step.step_id)
    if worst is None:
        return None
    return RiskFactor(
        rule=RiskRule.CONSISTENCY,
        amount=round_half_away(100 * worst[0]),
        assignment_id=worst[1],
        steps=(StepRef(assignment_id=worst[1], step_id=worst[2]),),
    )


# -- interventions --------------------------------------------------------------


def proposed_due_date(
    structure: AssignmentStructure,
    progress: AssignmentProgress,
    *,
    gap_points: float,
    as_of: datetime,
) -> datetime | None:
    """A new due date for a student ``gap_points`` behind (decisions: pacing
    adjustment): the later of the current due date and ``as_of``, plus the
    behind share of the pacing window, rounded up to whole days (at least
    one). ``None`` without a window, or when that date would fall after
    9999-12-31; a window itself ending after 9999-12-31 is an
    :class:`InvalidInputError` (D15), as in :func:`assignment_progress`.

    >>> from datetime import datetime, UTC
    >>> s = AssignmentStructure(assignment_id="a", steps=(),
    ...     created_at=datetime(2026, 1, 1, tzinfo=UTC),
    ...     due_at=datetime(2026, 1, 21, tzinfo=UTC))
    >>> p = AssignmentProgress(assignment_id="a", student_id="u")
    >>> proposed_due_date(s, p, gap_points=40.0,
    ...                   as_of=datetime(2026, 1, 15, tzinfo=UTC)).day
    29
    """
    end = checked_window_end(structure, progress.due_at_override)
    if end is None:
        return None
    window_days = (end - structure.created_at) / _DAY
    extension = max(1, math.ceil(window_days * max(gap_points, 0.0) / 100.0))
    try:
        return max(end, as_of) + timedelta(days=extension)
    except OverflowError:
        return None  # past the last date there is: nothing to propose


def _interventions(
    factors: list[RiskFactor],
    by_id: Mapping[str, AssignmentStanding],
    as_of: datetime,
) -> tuple[Intervention, ...]:
    if not factors:
        return ()
    result: list[Intervention] = []
    for kind in InterventionKind:
        chosen = [f for f in factors if kind in RECOMMENDED_INTERVENTIONS[f.rule]]
        if not chosen:
            continue
        codes = tuple(f.code for f in chosen)
        primary = chosen[0].assignment_id
        if kind is InterventionKind.TEACHER_NOTIFICATION:
            result.append(
                Intervention(
                    kind=kind,
                    factors=codes,
                    assignment_id=primary,
                    message="At risk: " + ", ".join(codes),
                )
            )
        elif kind in (InterventionKind.REMEDIATION, InterventionKind.SUPPORT_RESOURCES):
            steps = _unique(s for f in chosen for s in f.steps)
            elements, concepts = _content(steps, by_id)
            result.append(
                Intervention(
                    kind=kind,
                    factors=codes,
                    assignment_id=primary,
                    steps=steps,
                    element_ids=elements,
                    concepts=concepts,
                )
            )
        elif kind is InterventionKind.PACING_ADJUSTMENT:
            factor = chosen[0]
            standing = by_id.get(factor.assignment_id or "")
            due = None
            if standing is not None:
                due = proposed_due_date(
                    standing.structure,
                    standing.progress,
                    gap_points=float(factor.amount),
                    as_of=as_of,
                )
            result.append(
                Intervention(
                    kind=kind,
                    factors=codes,
                    assignment_id=factor.assignment_id,
                    proposed_due_at=due,
                )
            )
        else:
            text = " ".join(
                "Your child " + _PARENT_TEXT[f.rule].format(n=f.amount) for f in factors
            )
            result.append(
                Intervention(
                    kind=kind, factors=codes, assignment_id=primary, message=text
                )
            )
    return tuple(result)


def _unique(refs: Iterable[StepRef]) -> tuple[StepRef, ...]:
    return tuple(dict.fromkeys(refs))


def _content(
    steps: tuple[StepRef, ...], by_id: Mapping[str, AssignmentStanding]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    elements: dict[str, None] = {}
    concepts: set[str] = set()
    for ref in steps:
        standing = by_id.get(ref.assignment_id)
        if standing is None:
            continue
        for definition in standing.structure.steps:
            if definition.step_id == ref.step_id:
                elements[definition.element_id] = None
                concepts.update(definition.concepts)
    return tuple(elements), tuple(sorted(concepts))


# -- state over time --------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RiskDismissal:
    """A teacher's dismissal of an at-risk flag as wrong; an audit record:
    who, when, why and what (D19). Nothing is deleted: a later change of
    factors ends its effect, not its record."""

    dismissal_id: str = attrs.field(validator=v.identifier)
    student_id: str = attrs.field(validator=v.identifier)
    actor_id: str = attrs.field(validator=v.identifier)
    reason: str = attrs.field(validator=v.identifier)
    dismissed_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    rules: tuple[RiskRule, ...] = attrs.field(default=(), validator=_rules)
    factors: tuple[str, ...] = attrs.field(default=(), validator=v.identifiers)


@attrs.frozen(kw_only=True)
class RiskState:
    """A student's stored at-risk state: the assessed flag, its factor kinds
    and strings, and a standing dismissal.

    ``effective_at_risk`` is what summaries and dashboards show: at risk and
    not dismissed.

    >>> RiskState(student_id="u").effective_at_risk
    False
    """

    student_id: str = attrs.field(validator=v.identifier)
    at_risk: bool = attrs.field(default=False, validator=v.boolean)
    rules: tuple[RiskRule, ...] = attrs.field(default=(), validator=_rules)
    factors: tuple[str, ...] = attrs.field(default=(), validator=v.identifiers)
    assessed_at: datetime | None = attrs.field(
        default=None, converter=v.to_utc_optional, validator=v.optional_utc_time
    )
    dismissal: RiskDismissal | None = None

    def __attrs_post_init__(self) -> None:
        if self.at_risk != bool(self.rules) or len(self.rules) != len(self.factors):
            raise InvalidInputError(
                "at_risk", self.at_risk, "D17: at risk exactly when a factor holds"
            )
        if self.dismissal is not None and (
            not self.at_risk or set(self.dismissal.rules) != set(self.rules)
        ):
            raise InvalidInputError(
                "dismissal",
                self.dismissal.dismissal_id,
                "a dismissal stands only while the factor kinds it dismissed hold",
            )

    @property
    def effective_at_risk(self) -> bool:
        return self.at_risk and self.dismissal is None

    @property
    def effective_factors(self) -> tuple[str, ...]:
        return self.factors if self.effective_at_risk else ()


@attrs.frozen(kw_only=True)
class RiskUpdate:
    """The outcome of one assessment against the stored state.

    ``events`` holds ``student_at_risk_detected`` when the flag or the factor
    kinds changed, and ``progress_snapshot_created`` for the intervention
    snapshot in ``snapshots`` when the flag changed. ``raised`` are the rules
    that newly fired (for :class:`DismissalStats`).
    """

    state: RiskState
    assessment: RiskAssessment
    events: tuple[Event, ...] = ()
    snapshots: tuple[ProgressSnapshot, ...] = ()
    raised: tuple[RiskRule, ...] = ()


def next_risk_state(
    previous: RiskState | None, assessment: RiskAssessment
) -> RiskState:
    """The new stored state; a dismissal stands while the factor kinds are
    those it dismissed.

    >>> from datetime import datetime, UTC
    >>> a = RiskAssessment(student_id="u", assessed_at=datetime(2026, 1, 1, tzinfo=UTC),
    ...     factors=(RiskFactor(rule=RiskRule.ENGAGEMENT, amount=9),))
    >>> next_risk_state(None, a).factors
    ('inactive_9_days',)
    """
    dismissal = None
    if (
        previous is not None
        and previous.dismissal is not None
        and assessment.at_risk
        and set(previous.rules) == set(assessment.rules)
    ):
        dismissal = previous.dismissal
    return RiskState(
        student_id=assessment.student_id,
        at_risk=assessment.at_risk,
        rules=assessment.rules,
        factors=assessment.codes,
        assessed_at=assessment.assessed_at,
        dismissal=dismissal,
    )


def risk_update(
    previous: RiskState | None,
    assessment: RiskAssessment,
    *,
    summary: StudentProgressSummary,
    id_prefix: str,
) -> RiskUpdate:
    """Compare an assessment with the stored state (D17; spec: Intervention
    triggered).

    ``student_at_risk_detected`` is emitted only when the flag or the set of
    factor kinds changes (a cleared flag gives one with no factors and
    ``intervention_recommended="none"``); a student-scope snapshot with
    trigger ``intervention`` is made from ``summary`` when the flag changes.
    Ids start with ``id_prefix``, so re-running gives the same ids.

    >>> from datetime import datetime, UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> a = RiskAssessment(student_id="u", assessed_at=t,
    ...     factors=(RiskFactor(rule=RiskRule.ENGAGEMENT, amount=9),))
    >>> s = StudentProgressSummary(student_id="u", organization_id="o",
    ...     at_risk=True, risk_factors=("inactive_9_days",))
    >>> [e.name for e in risk_update(None, a, summary=s, id_prefix="r").events]
    ['student_at_risk_detected', 'progress_snapshot_created']
    """
    if summary.student_id != assessment.student_id:
        raise InvalidInputError(
            "summary", summary.student_id, f"the summary of {assessment.student_id!r}"
        )
    if previous is not None and previous.student_id != assessment.student_id:
        raise InvalidInputError(
            "previous", previous.student_id, f"the state of {assessment.student_id!r}"
        )
    state = next_risk_state(previous, assessment)
    was_at_risk = previous.at_risk if previous is not None else False
    old_rules = set(previous.rules) if previous is not None else set()
    events: list[Event] = []
    snapshots: list[ProgressSnapshot] = []
    if was_at_risk != state.at_risk or old_rules != set(state.rules):
        events.append(
            StudentAtRiskDetected(
                event_id=f"{id_prefix}/student_at_risk_detected",
                occurred_at=assessment.assessed_at,
                student_id=assessment.student_id,
                assignment_id=assessment.assignment_id,
                risk_factors=assessment.codes,
                pacing_status=assessment.pacing_status,
                mastery_score=assessment.mastery_score,
                days_since_activity=assessment.days_since_activity,
                intervention_recommended=assessment.intervention_recommended,
            )
        )
    if was_at_risk != state.at_risk:
        snapshot = student_snapshot(
            summary,
            snapshot_id=f"{id_prefix}/intervention_snapshot",
            snapshot_date=assessment.assessed_at,
            trigger=SnapshotTrigger.INTERVENTION,
            notes="at_risk" if state.at_risk else "at_risk_cleared",
        )
        snapshots.append(snapshot)
        events.append(snapshot_created(snapshot))
    return RiskUpdate(
        state=state,
        assessment=assessment,
        events=tuple(events),
        snapshots=tuple(snapshots),
        raised=tuple(r for r in state.rules if r not in old_rules),
    )


def dismiss_risk(
    state: RiskState,
    *,
    dismissal_id: str,
    actor_id: str,
    reason: str,
    dismissed_at: datetime,
) -> tuple[RiskState, RiskDismissal]:
    """A teacher dismisses the current flag as wrong, with a reason.

    Returns the new state and the dismissal (the audit record). The flag
    stays dismissed until the factor kinds change. Permission to act on the
    student is the caller's to check (D19). Raises
    :class:`InvalidInputError` when there is no flag or it is already
    dismissed.

    >>> from datetime import datetime, UTC
    >>> s = RiskState(student_id="u", at_risk=True, rules=(RiskRule.ENGAGEMENT,),
    ...               factors=("inactive_9_days",))
    >>> new, d = dismiss_risk(s, dismissal_id="d1", actor_id="t1",
    ...     reason="on a school trip", dismissed_at=datetime(2026, 1, 2, tzinfo=UTC))
    >>> new.effective_at_risk, d.rules
    (False, (<RiskRule.ENGAGEMENT: 'engagement'>,))
    """
    if not state.at_risk:
        raise InvalidInputError("at_risk", False, "only an at-risk flag is dismissed")
    if state.dismissal is not None:
        raise InvalidInputError(
            "dismissal", state.dismissal.dismissal_id, "the flag is already dismissed"
        )
    dismissal = RiskDismissal(
        dismissal_id=dismissal_id,
        student_id=state.student_id,
        actor_id=actor_id,
        reason=reason,
        dismissed_at=dismissed_at,
        rules=state.rules,
        factors=state.factors,
    )
    return attrs.evolve(state, dismissal=dismissal), dismissal


# -- counting ------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RuleCounts:
    """A count per rule of D17.

    >>> RuleCounts().plus((RiskRule.PACING, RiskRule.PACING)).of(RiskRule.PACING)
    2
    """

    pacing: int = attrs.field(default=0, validator=v.count)
    mastery: int = attrs.field(default=0, validator=v.count)
    engagement: int = attrs.field(default=0, validator=v.count)
    struggle: int = attrs.field(default=0, validator=v.count)
    consistency: int = attrs.field(default=0, validator=v.count)

    def of(self, rule: RiskRule) -> int:
        count: int = getattr(self, rule.value)
        return count

    def plus(self, rules: Iterable[RiskRule]) -> RuleCounts:
        changes: dict[str, int] = {}
        for rule in rules:
            changes[rule.value] = changes.get(rule.value, self.of(rule)) + 1
        return attrs.evolve(self, **changes) if changes else self

    def total(self) -> int:
        return sum(self.of(rule) for rule in RiskRule)


@attrs.frozen(kw_only=True)
class DismissalStats:
    """How often each rule raised a flag and how often teachers dismissed
    it, so an organization can see which rules are noisy. Fold every
    :class:`RiskUpdate` and :class:`RiskDismissal` into it.

    >>> from datetime import datetime, UTC
    >>> d = RiskDismissal(dismissal_id="d", student_id="u", actor_id="t",
    ...     reason="trip", dismissed_at=datetime(2026, 1, 1, tzinfo=UTC),
    ...     rules=(RiskRule.ENGAGEMENT,), factors=("inactive_9_days",))
    >>> DismissalStats().add_dismissal(d).dismissed.engagement
    1
    """

    raised: RuleCounts = attrs.field(factory=RuleCounts)
    dismissed: RuleCounts = attrs.field(factory=RuleCounts)

    def add_update(self, update: RiskUpdate) -> DismissalStats:
        return attrs.evolve(self, raised=self.raised.plus(update.raised))

    def add_dismissal(self, dismissal: RiskDismissal) -> DismissalStats:
        return attrs.evolve(self, dismissed=self.dismissed.plus(dismissal.rules))

    def dismissal_rate(self, rule: RiskRule) -> float | None:
        """Percent of raises of ``rule`` that were dismissed; ``None`` before
        any raise."""
        raised = self.raised.of(rule)
        if raised == 0:
            return None
        return min(100.0 * self.dismissed.of(rule) / raised, 100.0)


register_enums(RiskRule, InterventionKind)

for _cls in (
    StepRef,
    AssignmentStanding,
    RiskFactor,
    Intervention,
    RiskAssessment,
    RiskDismissal,
    RiskState,
    RiskUpdate,
    RuleCounts,
    DismissalStats,
):
    attrs.resolve_types(_cls)
