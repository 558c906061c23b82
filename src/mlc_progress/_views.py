"""View models per role: what each screen shows, as data (spec: UX requirements).

Each builder is pure: progress records (and an ``as_of``) in, a frozen view
out. Layout is the host's; the views decide the content. Every figure is a
:class:`Figure` with its value, its display text and a sentence for screen
readers; every status is a :class:`StatusBadge` with a colour *and* a label,
a symbol and a pattern, so colour is never the only signal. Records keep
their floats (D10); views round for display (Q24 in the docs).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from . import _validate as v
from ._commands import AuditEntry
from ._enums import (
    AssignmentStatus,
    CompletionSource,
    MasteryLevel,
    PacingStatus,
    Stage,
    StepState,
)
from ._errors import InvalidInputError
from ._events import StudentAtRiskDetected
from ._history import AssignmentRecords
from ._policy import DEFAULT_POLICY, Policy
from ._records import (
    AssignmentProgress,
    SequenceProgress,
    StudentProgressSummary,
)
from ._risk import _PACING_ORDER, RiskFactor, RiskRule, _least_favourable
from ._rollups import (
    AssignmentEffectiveness,
    ClassSummary,
    OrganizationDashboard,
    ProgressFigures,
    SequenceEffectiveness,
    TrendPeriod,
    TrendPoint,
)
from ._rounding import half_away, round_half_away
from ._serialization import register_enums, to_json
from ._structure import Attempt

__all__ = [
    "Activity",
    "AdminAggregates",
    "AssignmentDetail",
    "CellStatus",
    "ClassComparison",
    "ClassOverview",
    "Colour",
    "ContentEffectiveness",
    "Directory",
    "Engagement",
    "Figure",
    "GridCell",
    "GridColumn",
    "HeatmapCell",
    "InterventionEntry",
    "MasteryBadge",
    "NextStep",
    "OrganizationDashboardView",
    "ParentAssignmentLine",
    "ParentReport",
    "Pattern",
    "RiskPanel",
    "RosterRow",
    "ScorePoint",
    "ScoreSeries",
    "SortKey",
    "StatusBadge",
    "StepCard",
    "StepSegment",
    "StruggleIndicator",
    "StudentAssignmentRow",
    "StudentDashboard",
    "StudentDetail",
    "StudentReport",
    "TimeSummary",
    "TimelineEntry",
    "TrendSeries",
    "assignment_detail",
    "class_overview",
    "concept_mastery",
    "filter_rows",
    "organization_dashboard_view",
    "parent_report",
    "percent_display",
    "render_class_overview_text",
    "render_organization_text",
    "render_parent_report_text",
    "render_student_detail_text",
    "render_student_report_text",
    "risk_factor_text",
    "score_display",
    "sort_rows",
    "status_badge",
    "student_dashboard",
    "student_detail",
    "student_report",
    "view_to_json",
]

# -- display ---------------------------------------------------------------------------


def percent_display(value: float) -> int:
    """A percentage as a whole number for display (Q24).

    Rounded half away from zero, except that only 100 shows as 100 and only
    0 shows as 0, so "done" and "not begun" are never claimed by rounding.

    >>> percent_display(37.5), percent_display(99.6), percent_display(0.2)
    (38, 99, 1)
    """
    shown = round_half_away(value)
    if value < 100 and shown >= 100:
        return 99
    if value > 0 and shown <= 0:
        return 1
    return shown


def score_display(value: float) -> str:
    """A score with at most one decimal, rounded half away from zero.

    >>> score_display(85.0), score_display(79.25), score_display(66.666)
    ('85', '79.3', '66.7')
    """
    text = str(half_away(value + 0.0, 1))  # + 0.0 turns -0.0 into 0.0
    return text[:-2] if text.endswith(".0") else text


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else (plural or word + 's')}"


def _date_text(when: datetime) -> str:
    return f"{when.day} {when:%B %Y}"


def _datetime_text(when: datetime) -> str:
    return f"{_date_text(when)}, {when:%H:%M} UTC"


def _minutes(ms: int) -> int:
    return round_half_away(ms / 60000)


def _duration_text(ms: int) -> str:
    if ms == 0:
        return "no time"
    minutes = _minutes(ms)
    if minutes == 0:
        return "less than a minute"
    hours, rest = divmod(minutes, 60)
    parts = ([_plural(hours, "hour")] if hours else []) + (
        [_plural(rest, "minute")] if rest else []
    )
    return " ".join(parts)


def _duration_display(ms: int) -> str:
    if ms == 0:
        return "0 min"
    minutes = _minutes(ms)
    if minutes == 0:
        return "<1 min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if hours else f"{rest} min"


def _days_ago(when: datetime | None, as_of: datetime) -> str:
    if when is None:
        return "never"
    days = (as_of.date() - when.date()).days
    if days <= 0:
        return "today"
    if days == 1:
        return "yesterday"
    return f"{days} days ago"


def _sentence(_: Any, attribute: Any, value: Any) -> None:
    if not (isinstance(value, str) and value.strip()):
        raise InvalidInputError(
            attribute.name, value, "views: every figure has accessible text"
        )


def _number(_: Any, attribute: Any, value: Any) -> None:
    if not (isinstance(value, int | float) and not isinstance(value, bool)):
        raise InvalidInputError(attribute.name, value, "views: a number")
    if value != value or abs(value) == float("inf"):
        raise InvalidInputError(attribute.name, value, "views: a finite number")


# -- figures and badges ----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Figure:
    """One number on screen: its value, how it is shown, and how it is read.

    >>> f = Figure(value=37.5, display="38%",
    ...            accessible_text="3 of 8 steps complete, 38 percent")
    >>> f.display
    '38%'
    """

    value: float = attrs.field(validator=_number)
    display: str = attrs.field(validator=_sentence)
    accessible_text: str = attrs.field(validator=_sentence)


class Colour(enum.StrEnum):
    """The spec's colour coding, plus grey for what it does not colour."""

    GREEN = "green"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"
    GREY = "grey"


class Pattern(enum.StrEnum):
    """A fill pattern that repeats what the colour says (high contrast, print)."""

    SOLID = "solid"
    DOTS = "dots"
    STRIPES = "stripes"
    CROSSHATCH = "crosshatch"
    NONE = "none"


class CellStatus(enum.StrEnum):
    """What a roster cell says about one assignment (spec: Color coding)."""

    COMPLETE = "complete"
    AHEAD = "ahead"
    ON_TRACK = "on_track"
    BEHIND = "behind"
    AT_RISK = "at_risk"
    ARCHIVED = "archived"
    NOT_ASSIGNED = "not_assigned"


@attrs.frozen(kw_only=True)
class StatusBadge:
    """A status as colour, label, symbol and pattern: never colour alone."""

    status: CellStatus = attrs.field(validator=v.enum_of(CellStatus))
    colour: Colour = attrs.field(validator=v.enum_of(Colour))
    label: str = attrs.field(validator=_sentence)
    symbol: str = attrs.field(validator=_sentence)
    pattern: Pattern = attrs.field(validator=v.enum_of(Pattern))


#: Green ahead/complete, yellow on track, orange behind, red at risk (spec).
_BADGES: Mapping[CellStatus, tuple[Colour, str, str, Pattern]] = {
    CellStatus.COMPLETE: (Colour.GREEN, "Complete", "✓", Pattern.SOLID),
    CellStatus.AHEAD: (Colour.GREEN, "Ahead", "▲", Pattern.SOLID),
    CellStatus.ON_TRACK: (Colour.YELLOW, "On track", "●", Pattern.DOTS),
    CellStatus.BEHIND: (Colour.ORANGE, "Behind", "▼", Pattern.STRIPES),
    CellStatus.AT_RISK: (Colour.RED, "At risk", "!", Pattern.CROSSHATCH),
    CellStatus.ARCHIVED: (Colour.GREY, "Archived", "■", Pattern.NONE),
    CellStatus.NOT_ASSIGNED: (Colour.GREY, "Not assigned", "\N{EN DASH}", Pattern.NONE),
}


def status_badge(status: CellStatus) -> StatusBadge:
    """The badge of ``status`` (spec: Color coding; Q26).

    >>> b = status_badge(CellStatus.BEHIND)
    >>> b.colour, b.label, b.symbol, b.pattern
    (<Colour.ORANGE: 'orange'>, 'Behind', '▼', <Pattern.STRIPES: 'stripes'>)
    """
    colour, label, symbol, pattern = _BADGES[status]
    return StatusBadge(
        status=status, colour=colour, label=label, symbol=symbol, pattern=pattern
    )


def _cell_status(progress: AssignmentProgress | None) -> CellStatus:
    if progress is None:
        return CellStatus.NOT_ASSIGNED
    if progress.status is AssignmentStatus.ARCHIVED:
        return CellStatus.ARCHIVED
    if progress.status is AssignmentStatus.COMPLETE:
        return CellStatus.COMPLETE
    return CellStatus(progress.pacing_status.value)


_MASTERY_LABELS: Mapping[MasteryLevel, tuple[str, str]] = {
    MasteryLevel.NOT_STARTED: ("Not started", "○"),
    MasteryLevel.LEARNING: ("Learning", "◔"),
    MasteryLevel.PROFICIENT: ("Proficient", "◑"),
    MasteryLevel.MASTERED: ("Mastered", "●"),
}
_MASTERY_ORDER = tuple(MasteryLevel)

_STATE_LABELS: Mapping[StepState, tuple[str, str]] = {
    StepState.LOCKED: ("Locked", "🔒"),
    StepState.AVAILABLE: ("Ready to start", "○"),
    StepState.IN_PROGRESS: ("In progress", "◐"),
    StepState.COMPLETE: ("Complete", "✓"),
}

_SOURCE_TEXT: Mapping[CompletionSource, str] = {
    CompletionSource.FRESH_ATTEMPT: "completed by playing",
    CompletionSource.FREE_PLAY_RECONCILED: "completed by an earlier free-play score",
    CompletionSource.TEACHER_OVERRIDE: "marked complete by the teacher",
    CompletionSource.SYSTEM_MIGRATION: "completed when the assignment changed",
}


def _percent_figure(value: float, sentence: str, joiner: str = ", ") -> Figure:
    shown = percent_display(value)
    return Figure(
        value=value,
        display=f"{shown}%",
        accessible_text=f"{sentence}{joiner}{shown} percent",
    )


def _score_figure(value: float, sentence: str) -> Figure:
    return Figure(value=value, display=score_display(value), accessible_text=sentence)


def _count_figure(count: int, word: str, prefix: str = "") -> Figure:
    text = _plural(count, word)
    return Figure(
        value=count, display=str(count), accessible_text=f"{prefix}{text}".strip()
    )


def _time_figure(ms: int, prefix: str) -> Figure:
    return Figure(
        value=ms,
        display=_duration_display(ms),
        accessible_text=f"{prefix} {_duration_text(ms)}",
    )


def _completion_figure(
    completed: int, required: int, percentage: float, *, what: str = "step"
) -> Figure:
    if required == 0:
        return _percent_figure(percentage, f"No required {what}s")
    return _percent_figure(
        percentage,
        f"{completed} of {_plural(required, what)} complete",
    )


def _required_completed(progress: AssignmentProgress) -> int:
    """Required steps complete, recovered from the percentage (D10)."""
    return round_half_away(
        progress.completion_percentage * progress.steps_required / 100
    )


# -- names -----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Directory:
    """Display names by id, from the host; an id without a name shows as itself.

    Names are data, never markup: the HTML renderer escapes every one. Step
    names are looked up as ``"assignment_id/step_id"`` first, then by step id.

    >>> Directory(students={"u1": "Ada"}).student("u1"), Directory().student("u2")
    ('Ada', 'u2')
    """

    students: Mapping[str, str] = attrs.field(factory=dict, hash=False)
    assignments: Mapping[str, str] = attrs.field(factory=dict, hash=False)
    steps: Mapping[str, str] = attrs.field(factory=dict, hash=False)
    concepts: Mapping[str, str] = attrs.field(factory=dict, hash=False)
    classes: Mapping[str, str] = attrs.field(factory=dict, hash=False)
    sequences: Mapping[str, str] = attrs.field(factory=dict, hash=False)

    def student(self, student_id: str) -> str:
        return self.students.get(student_id, student_id)

    def assignment(self, assignment_id: str) -> str:
        return self.assignments.get(assignment_id, assignment_id)

    def step(self, assignment_id: str, step_id: str) -> str:
        return self.steps.get(
            f"{assignment_id}/{step_id}", self.steps.get(step_id, step_id)
        )

    def concept(self, concept_id: str) -> str:
        return self.concepts.get(concept_id, concept_id)

    def class_(self, class_id: str) -> str:
        return self.classes.get(class_id, class_id)

    def sequence(self, sequence_id: str) -> str:
        return self.sequences.get(sequence_id, sequence_id)


def _student_of(
    student_id: str,
    assignments: Iterable[AssignmentRecords],
    *,
    as_of: datetime,
    policy: Policy,
) -> list[AssignmentRecords]:
    """The student's records, each with a progress record: an assignment
    without a stored one is computed as of the view's ``as_of``."""
    found = []
    for records in assignments:
        owner = records.student_id
        if owner is not None and owner != student_id:
            raise InvalidInputError(
                "assignments",
                owner,
                f"views of {student_id!r} take only that student's records",
            )
        found.append(
            records.with_progress(student_id=student_id, as_of=as_of, policy=policy)
        )
    return found


def _summary_of(
    student_id: str, summary: StudentProgressSummary | None
) -> StudentProgressSummary | None:
    """``summary`` when it is the student's; another student's is refused,
    as :func:`_student_of` refuses their assignments (D19)."""
    if summary is not None and summary.student_id != student_id:
        raise InvalidInputError(
            "summary.student_id",
            summary.student_id,
            f"views of {student_id!r} take only that student's records",
        )
    return summary


def _sequences_of(
    student_id: str, sequences: Iterable[SequenceProgress]
) -> list[SequenceProgress]:
    """The student's sequence records; another student's is refused (D19)."""
    found = list(sequences)
    for i, sequence in enumerate(found):
        if sequence.student_id != student_id:
            raise InvalidInputError(
                f"sequences[{i}].student_id",
                sequence.student_id,
                f"views of {student_id!r} take only that student's records",
            )
    return found


def _progress(records: AssignmentRecords) -> AssignmentProgress:
    """The progress record of records that ``_student_of`` completed."""
    progress = records.progress
    assert progress is not None, "views complete the records first"
    return progress


# -- concepts --------------------------------------------------------------------------


def concept_mastery(
    assignments: Iterable[AssignmentRecords],
) -> dict[str, tuple[MasteryLevel, int]]:
    """Each concept's level and how many steps practise it (Q28).

    A concept's level is the highest mastery level of the steps tagged with
    it, as ``SequenceProgress.concepts_mastered`` counts a concept mastered
    once any of its steps is; a step without a record is ``not_started``.

    >>> concept_mastery([])
    {}
    """
    levels: dict[str, tuple[MasteryLevel, int]] = {}
    for records in assignments:
        for definition in records.structure.steps:
            step = records.step(definition.step_id)
            level = step.mastery_level if step else MasteryLevel.NOT_STARTED
            for concept in definition.concepts:
                old, count = levels.get(concept, (MasteryLevel.NOT_STARTED, 0))
                best = max(old, level, key=_MASTERY_ORDER.index)
                levels[concept] = (best, count + 1)
    return levels


# -- student dashboard -----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class NextStep:
    """The step to continue with (spec: Next step highlight; Next up section)."""

    assignment_id: str = attrs.field(validator=v.identifier)
    assignment_title: str = attrs.field(validator=v.text)
    step_id: str = attrs.field(validator=v.identifier)
    step_title: str = attrs.field(validator=v.text)
    stage: Stage = attrs.field(validator=v.enum_of(Stage))
    target: Figure = attrs.field(validator=v.instance_of(Figure))
    due_at: datetime | None = attrs.field(
        default=None, converter=v.to_utc_optional, validator=v.optional_utc_time
    )
    action_label: str = attrs.field(default="Continue", validator=_sentence)
    accessible_text: str = attrs.field(validator=_sentence)


@attrs.frozen(kw_only=True)
class Activity:
    """One learning activity with its score (spec: Recent activity timeline)."""

    attempt_id: str = attrs.field(validator=v.identifier)
    at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    assignment_id: str = attrs.field(validator=v.identifier)
    assignment_title: str = attrs.field(validator=v.text)
    step_id: str = attrs.field(validator=v.identifier)
    step_title: str = attrs.field(validator=v.text)
    score: Figure = attrs.field(validator=v.instance_of(Figure))
    passed: bool = attrs.field(validator=v.boolean)
    accessible_text: str = attrs.field(validator=_sentence)


@attrs.frozen(kw_only=True)
class MasteryBadge:
    """A mastered concept (spec: Mastery level badges)."""

    concept_id: str = attrs.field(validator=v.identifier)
    concept_name: str = attrs.field(validator=v.text)
    symbol: str = attrs.field(validator=_sentence)
    accessible_text: str = attrs.field(validator=_sentence)


@attrs.frozen(kw_only=True)
class StudentDashboard:
    """The student's progress widget (spec: Progress Dashboard Widget).

    It shows neither at-risk flags nor predicted dates (Q30).
    """

    student_id: str = attrs.field(validator=v.identifier)
    student_name: str = attrs.field(validator=v.text)
    as_of: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    completion: Figure = attrs.field(validator=v.instance_of(Figure))
    active_assignments: int = attrs.field(validator=v.count)
    next_step: NextStep | None = attrs.field(validator=v.optional_instance_of(NextStep))
    recent_activity: tuple[Activity, ...] = attrs.field(validator=v.tuple_of(Activity))
    mastery_badges: tuple[MasteryBadge, ...] = attrs.field(
        validator=v.tuple_of(MasteryBadge)
    )
    streak: Figure = attrs.field(validator=v.instance_of(Figure))


def _next_step(records: AssignmentRecords, directory: Directory) -> NextStep | None:
    progress = _progress(records)
    if progress.next_step_id is None or progress.status in (
        AssignmentStatus.COMPLETE,
        AssignmentStatus.ARCHIVED,
    ):
        return None
    definition = records.structure.step(progress.next_step_id)
    step = records.step(definition.step_id)
    target = step.target_score if step else definition.target_score
    a_title = directory.assignment(progress.assignment_id)
    s_title = directory.step(progress.assignment_id, definition.step_id)
    due = progress.next_step_due_at
    due_text = f", due {_date_text(due)}" if due else ""
    return NextStep(
        assignment_id=progress.assignment_id,
        assignment_title=a_title,
        step_id=definition.step_id,
        step_title=s_title,
        stage=definition.stage,
        target=_score_figure(target, f"target score {score_display(target)}"),
        due_at=due,
        accessible_text=f"Continue with {s_title} in {a_title}: "
        f"{definition.stage.value.lower()} step, target score "
        f"{score_display(target)}{due_text}",
    )


def _activities(
    attempts: Iterable[Attempt],
    assignments: Sequence[AssignmentRecords],
    directory: Directory,
) -> list[Activity]:
    targets: dict[tuple[str, str], float] = {}
    for records in assignments:
        for definition in records.structure.steps:
            step = records.step(definition.step_id)
            targets[(records.structure.assignment_id, definition.step_id)] = (
                step.target_score if step else definition.target_score
            )
    found: list[Activity] = []
    for attempt in attempts:
        target = targets.get((attempt.assignment_id, attempt.step_id))
        a_title = directory.assignment(attempt.assignment_id)
        s_title = directory.step(attempt.assignment_id, attempt.step_id)
        passed = target is not None and attempt.score >= target
        verdict = (
            ""
            if target is None
            else f" (target {score_display(target)}, "
            f"{'passed' if passed else 'not passed yet'})"
        )
        found.append(
            Activity(
                attempt_id=attempt.attempt_id,
                at=attempt.attempted_at,
                assignment_id=attempt.assignment_id,
                assignment_title=a_title,
                step_id=attempt.step_id,
                step_title=s_title,
                score=_score_figure(
                    attempt.score, f"score {score_display(attempt.score)}"
                ),
                passed=passed,
                accessible_text=f"{_date_text(attempt.attempted_at)}: scored "
                f"{score_display(attempt.score)} on {s_title} in {a_title}{verdict}",
            )
        )
    found.sort(key=lambda a: (a.at, a.attempt_id))
    return found


def _badges(
    assignments: Sequence[AssignmentRecords],
    sequences: Iterable[SequenceProgress],
    directory: Directory,
) -> tuple[MasteryBadge, ...]:
    mastered = {
        c
        for c, (level, _) in concept_mastery(assignments).items()
        if level is MasteryLevel.MASTERED
    }
    for sequence in sequences:
        mastered.update(sequence.concepts_mastered)
    names = sorted(mastered, key=lambda c: (directory.concept(c).casefold(), c))
    return tuple(
        MasteryBadge(
            concept_id=c,
            concept_name=directory.concept(c),
            symbol=_MASTERY_LABELS[MasteryLevel.MASTERED][1],
            accessible_text=f"Mastered: {directory.concept(c)}",
        )
        for c in names
    )


def _streak_figure(summary: StudentProgressSummary | None) -> Figure:
    days = summary.streak_days if summary is not None else 0
    if days == 0:
        return Figure(value=0, display="0", accessible_text="No learning streak yet")
    return Figure(
        value=days,
        display=str(days),
        accessible_text=f"Learning streak: {_plural(days, 'day')} in a row",
    )


def _overall_completion(assignments: Sequence[AssignmentRecords]) -> Figure:
    live = [_progress(a) for a in assignments if a.active]
    if not live:
        return Figure(
            value=0.0, display="\N{EN DASH}", accessible_text="No assignments yet"
        )
    required = sum(p.steps_required for p in live)
    done = sum(_required_completed(p) for p in live)
    percentage = 100.0 * done / required if required else 100.0
    figure = _completion_figure(done, required, percentage)
    return attrs.evolve(
        figure,
        accessible_text=f"Overall, {figure.accessible_text[0].lower()}"
        f"{figure.accessible_text[1:]}, across {_plural(len(live), 'assignment')}",
    )


def student_dashboard(
    student_id: str,
    assignments: Iterable[AssignmentRecords],
    *,
    as_of: datetime,
    attempts: Iterable[Attempt] = (),
    summary: StudentProgressSummary | None = None,
    sequences: Iterable[SequenceProgress] = (),
    directory: Directory | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> StudentDashboard:
    """The student's dashboard widget (spec: Progress Dashboard Widget).

    Completion is required steps complete over required steps across the
    assignments that are not archived (D10). The next step is the one due
    soonest, then the first given. Recent activity is the latest
    ``policy.views.recent_activities`` attempts, newest first. An assignment
    without a stored progress record shows as computed as of ``as_of``.
    Another student's assignments, summary or sequence records are refused
    with :class:`InvalidInputError` (D19).

    >>> from datetime import datetime, UTC
    >>> view = student_dashboard("u1", [], as_of=datetime(2026, 9, 1, tzinfo=UTC))
    >>> view.completion.accessible_text, view.next_step
    ('No assignments yet', None)
    """
    names = directory or Directory()
    summary = _summary_of(student_id, summary)
    sequences = _sequences_of(student_id, sequences)
    mine = _student_of(student_id, assignments, as_of=as_of, policy=policy)
    candidates = [n for n in (_next_step(a, names) for a in mine) if n is not None]
    # Soonest due first; undated ones after, in the order given (stable sort).
    ordered = sorted(candidates, key=lambda n: (n.due_at is None, n.due_at or as_of))
    activity = [
        a
        for a in _activities(
            (t for t in attempts if t.student_id == student_id), mine, names
        )
        if a.at <= as_of
    ]
    return StudentDashboard(
        student_id=student_id,
        student_name=names.student(student_id),
        as_of=as_of,
        completion=_overall_completion(mine),
        active_assignments=sum(
            1
            for a in mine
            if _progress(a).status
            in (AssignmentStatus.IN_PROGRESS, AssignmentStatus.NOT_STARTED)
        ),
        next_step=ordered[0] if ordered else None,
        recent_activity=tuple(reversed(activity[-policy.views.recent_activities :])),
        mastery_badges=_badges(mine, sequences, names),
        streak=_streak_figure(summary),
    )


# -- assignment detail -----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class StepSegment:
    """One segment of the linear progress bar (spec: Linear progress bar)."""

    step_id: str = attrs.field(validator=v.identifier)
    title: str = attrs.field(validator=v.text)
    state: StepState = attrs.field(validator=v.enum_of(StepState))
    label: str = attrs.field(validator=_sentence)
    symbol: str = attrs.field(validator=_sentence)
    optional: bool = attrs.field(validator=v.boolean)


@attrs.frozen(kw_only=True)
class StepCard:
    """One step's card: score, attempts, time and mastery (spec: Step cards)."""

    step_id: str = attrs.field(validator=v.identifier)
    title: str = attrs.field(validator=v.text)
    position: int = attrs.field(validator=v.count)
    stage: Stage = attrs.field(validator=v.enum_of(Stage))
    state: StepState = attrs.field(validator=v.enum_of(StepState))
    state_label: str = attrs.field(validator=_sentence)
    optional: bool = attrs.field(validator=v.boolean)
    best_score: Figure | None = attrs.field(validator=v.optional_instance_of(Figure))
    target: Figure = attrs.field(validator=v.instance_of(Figure))
    attempts: Figure = attrs.field(validator=v.instance_of(Figure))
    time_spent: Figure = attrs.field(validator=v.instance_of(Figure))
    mastery_level: MasteryLevel = attrs.field(validator=v.enum_of(MasteryLevel))
    mastery_label: str = attrs.field(validator=_sentence)
    mastery_symbol: str = attrs.field(validator=_sentence)
    completion_note: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(_sentence)
    )
    accessible_text: str = attrs.field(validator=_sentence)


@attrs.frozen(kw_only=True)
class ScorePoint:
    """One attempt on the performance graph."""

    attempt_id: str = attrs.field(validator=v.identifier)
    at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    score: float = attrs.field(validator=v.score)
    step_id: str = attrs.field(validator=v.identifier)
    step_title: str = attrs.field(validator=v.text)
    accessible_text: str = attrs.field(validator=_sentence)


@attrs.frozen(kw_only=True)
class ScoreSeries:
    """Scores over time, oldest first (spec: Performance graph)."""

    points: tuple[ScorePoint, ...] = attrs.field(validator=v.tuple_of(ScorePoint))
    accessible_text: str = attrs.field(validator=_sentence)


@attrs.frozen(kw_only=True)
class TimeSummary:
    """Total time and average time per step worked on (spec: Time summary)."""

    total: Figure = attrs.field(validator=v.instance_of(Figure))
    average_per_step: Figure = attrs.field(validator=v.instance_of(Figure))


@attrs.frozen(kw_only=True)
class AssignmentDetail:
    """One assignment for its student (spec: Assignment Progress Detail)."""

    assignment_id: str = attrs.field(validator=v.identifier)
    title: str = attrs.field(validator=v.text)
    student_id: str = attrs.field(validator=v.identifier)
    status: AssignmentStatus = attrs.field(validator=v.enum_of(AssignmentStatus))
    completion: Figure = attrs.field(validator=v.instance_of(Figure))
    progress_bar: tuple[StepSegment, ...] = attrs.field(
        validator=v.tuple_of(StepSegment)
    )
    step_cards: tuple[StepCard, ...] = attrs.field(validator=v.tuple_of(StepCard))
    score_series: ScoreSeries = attrs.field(validator=v.instance_of(ScoreSeries))
    time_summary: TimeSummary = attrs.field(validator=v.instance_of(TimeSummary))
    next_up: NextStep | None = attrs.field(validator=v.optional_instance_of(NextStep))
    due_at: datetime | None = attrs.field(
        default=None, converter=v.to_utc_optional, validator=v.optional_utc_time
    )


def _score_series(points: list[ScorePoint]) -> ScoreSeries:
    if not points:
        return ScoreSeries(points=(), accessible_text="No scores yet")
    first, last = points[0], points[-1]
    best = max(p.score for p in points)
    span = (
        f"on {_date_text(first.at)}"
        if first.at.date() == last.at.date()
        else f"from {_date_text(first.at)} to {_date_text(last.at)}"
    )
    return ScoreSeries(
        points=tuple(points),
        accessible_text=f"Scores over time: {_plural(len(points), 'attempt')} "
        f"{span}; first {score_display(first.score)}, latest "
        f"{score_display(last.score)}, best {score_display(best)}",
    )


def assignment_detail(
    records: AssignmentRecords,
    *,
    attempts: Iterable[Attempt] = (),
    directory: Directory | None = None,
    as_of: datetime | None = None,
    student_id: str | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> AssignmentDetail:
    """One assignment in detail (spec: Assignment Progress Detail).

    Step cards follow the structure's order; the performance graph is this
    assignment's attempts, oldest first; the average time is over steps with
    any time on task (Q29). Records without a stored progress record are
    shown as computed as of ``as_of``; that needs ``as_of``, and
    ``student_id`` when there is no step record either (Q92).

    >>> from datetime import datetime, UTC
    >>> from mlc_progress import AssignmentStructure, StepDefinition, Stage
    >>> s = AssignmentStructure(assignment_id="a", created_at=datetime(2026, 1, 1,
    ...     tzinfo=UTC), steps=(StepDefinition(step_id="s1", element_id="g",
    ...     stage=Stage.PLAY, target_score=80),))
    >>> view = assignment_detail(AssignmentRecords(structure=s), student_id="u",
    ...                          as_of=datetime(2026, 1, 2, tzinfo=UTC))
    >>> view.completion.accessible_text
    '0 of 1 step complete, 0 percent'
    """
    names = directory or Directory()
    if records.progress is None:
        owner = student_id or records.student_id
        if as_of is None or owner is None:
            raise InvalidInputError(
                "progress",
                None,
                "Q92: without a progress record, give as_of and the student "
                "to compute it",
            )
        records = records.with_progress(student_id=owner, as_of=as_of, policy=policy)
    structure, progress = records.structure, _progress(records)
    assignment_id = structure.assignment_id
    segments: list[StepSegment] = []
    cards: list[StepCard] = []
    for position, definition in enumerate(structure.steps, start=1):
        step = records.step(definition.step_id)
        title = names.step(assignment_id, definition.step_id)
        state = step.state if step else StepState.LOCKED
        state_label, state_symbol = _STATE_LABELS[state]
        segments.append(
            StepSegment(
                step_id=definition.step_id,
                title=title,
                state=state,
                label=state_label,
                symbol=state_symbol,
                optional=not definition.required,
            )
        )
        target = step.target_score if step else definition.target_score
        count = step.attempt_count if step else 0
        time_ms = step.time_on_task_ms if step else 0
        level = step.mastery_level if step else MasteryLevel.NOT_STARTED
        level_label, level_symbol = _MASTERY_LABELS[level]
        best = (
            _score_figure(
                step.best_score, f"best score {score_display(step.best_score)}"
            )
            if step and step.attempt_count
            else None
        )
        note = (
            _SOURCE_TEXT[step.completion_source]
            if step and step.state is StepState.COMPLETE
            else None
        )
        parts = [
            f"Step {position}, {title}",
            f"{definition.stage.value.lower()} step"
            + (", optional" if not definition.required else ""),
            state_label.lower() + (f", {note}" if note else ""),
            (
                f"best score {score_display(step.best_score)} of target "
                f"{score_display(target)}"
                if best is not None and step is not None
                else f"target score {score_display(target)}"
            ),
            _plural(count, "attempt"),
            _duration_text(time_ms),
            f"mastery: {level_label.lower()}",
        ]
        cards.append(
            StepCard(
                step_id=definition.step_id,
                title=title,
                position=position,
                stage=definition.stage,
                state=state,
                state_label=state_label,
                optional=not definition.required,
                best_score=best,
                target=_score_figure(target, f"target score {score_display(target)}"),
                attempts=_count_figure(count, "attempt"),
                time_spent=_time_figure(time_ms, "Time spent:"),
                mastery_level=level,
                mastery_label=level_label,
                mastery_symbol=level_symbol,
                completion_note=note,
                accessible_text="; ".join(parts),
            )
        )
    points = sorted(
        (
            ScorePoint(
                attempt_id=a.attempt_id,
                at=a.attempted_at,
                score=a.score,
                step_id=a.step_id,
                step_title=names.step(assignment_id, a.step_id),
                accessible_text=f"{_datetime_text(a.attempted_at)}: "
                f"{names.step(assignment_id, a.step_id)}, score "
                f"{score_display(a.score)}",
            )
            for a in attempts
            if a.assignment_id == assignment_id and a.student_id == progress.student_id
        ),
        key=lambda p: (p.at, p.attempt_id),
    )
    worked = [s.time_on_task_ms for s in records.steps if s.time_on_task_ms > 0]
    average = sum(worked) // len(worked) if worked else 0
    return AssignmentDetail(
        assignment_id=assignment_id,
        title=names.assignment(assignment_id),
        student_id=progress.student_id,
        status=progress.status,
        completion=_completion_figure(
            _required_completed(progress),
            progress.steps_required,
            progress.completion_percentage,
        ),
        progress_bar=tuple(segments),
        step_cards=tuple(cards),
        score_series=_score_series(points),
        time_summary=TimeSummary(
            total=_time_figure(progress.time_on_task_ms, "Total time on assignment:"),
            average_per_step=_time_figure(
                average,
                f"Average time per step worked on ({_plural(len(worked), 'step')}):",
            ),
        ),
        next_up=_next_step(records, names),
        due_at=progress.due_at_override or structure.due_at,
    )


@attrs.frozen(kw_only=True)
class StudentReport:
    """A student's whole report: the dashboard and each assignment's detail."""

    dashboard: StudentDashboard = attrs.field(validator=v.instance_of(StudentDashboard))
    assignments: tuple[AssignmentDetail, ...] = attrs.field(
        validator=v.tuple_of(AssignmentDetail)
    )


def student_report(
    student_id: str,
    assignments: Iterable[AssignmentRecords],
    *,
    as_of: datetime,
    attempts: Iterable[Attempt] = (),
    summary: StudentProgressSummary | None = None,
    sequences: Iterable[SequenceProgress] = (),
    directory: Directory | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> StudentReport:
    """The dashboard plus the detail of every assignment that is not archived.

    >>> from datetime import datetime, UTC
    >>> student_report("u1", [], as_of=datetime(2026, 9, 1, tzinfo=UTC)).assignments
    ()
    """
    summary = _summary_of(student_id, summary)
    sequences = _sequences_of(student_id, sequences)
    mine = _student_of(student_id, assignments, as_of=as_of, policy=policy)
    history = [a for a in attempts if a.student_id == student_id]
    return StudentReport(
        dashboard=student_dashboard(
            student_id,
            mine,
            as_of=as_of,
            attempts=history,
            summary=summary,
            sequences=sequences,
            directory=directory,
            policy=policy,
        ),
        assignments=tuple(
            assignment_detail(a, attempts=history, directory=directory)
            for a in mine
            if a.active
        ),
    )


# -- teacher: class overview -----------------------------------------------------------


@attrs.frozen(kw_only=True)
class GridColumn:
    """One assignment column of the roster grid."""

    assignment_id: str = attrs.field(validator=v.identifier)
    title: str = attrs.field(validator=v.text)


@attrs.frozen(kw_only=True)
class GridCell:
    """One student x assignment cell: completion and its status badge."""

    assignment_id: str = attrs.field(validator=v.identifier)
    completion: Figure | None = attrs.field(validator=v.optional_instance_of(Figure))
    badge: StatusBadge = attrs.field(validator=v.instance_of(StatusBadge))
    accessible_text: str = attrs.field(validator=_sentence)


@attrs.frozen(kw_only=True)
class RosterRow:
    """One student's row, with the figures the grid sorts and filters by.

    ``completion`` and ``mastery`` are means over the student's assignments
    that are not archived; ``pacing`` is the worst pacing among those not yet
    complete (``None`` when there are none) (Q27).
    """

    student_id: str = attrs.field(validator=v.identifier)
    student_name: str = attrs.field(validator=v.text)
    cells: tuple[GridCell, ...] = attrs.field(validator=v.tuple_of(GridCell))
    completion: Figure | None = attrs.field(validator=v.optional_instance_of(Figure))
    mastery: Figure | None = attrs.field(validator=v.optional_instance_of(Figure))
    last_activity_at: datetime | None = attrs.field(
        default=None, converter=v.to_utc_optional, validator=v.optional_utc_time
    )
    last_activity: str = attrs.field(validator=_sentence)
    pacing: PacingStatus | None = attrs.field(
        validator=attrs.validators.optional(v.enum_of(PacingStatus))
    )
    badge: StatusBadge = attrs.field(validator=v.instance_of(StatusBadge))
    at_risk: bool = attrs.field(validator=v.boolean)
    accessible_text: str = attrs.field(validator=_sentence)


class SortKey(enum.StrEnum):
    """What the roster sorts by (spec: Sort and filter)."""

    NAME = "name"
    COMPLETION = "completion"
    MASTERY = "mastery"
    LAST_ACTIVITY = "last_activity"
    PACING = "pacing"


@attrs.frozen(kw_only=True)
class ClassOverview:
    """A class's roster grid (spec: Class Progress Overview)."""

    class_id: str = attrs.field(validator=v.identifier)
    class_name: str = attrs.field(validator=v.text)
    as_of: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    columns: tuple[GridColumn, ...] = attrs.field(validator=v.tuple_of(GridColumn))
    rows: tuple[RosterRow, ...] = attrs.field(validator=v.tuple_of(RosterRow))
    sorted_by: SortKey | None = attrs.field(
        default=None, validator=attrs.validators.optional(v.enum_of(SortKey))
    )
    descending: bool = attrs.field(default=False, validator=v.boolean)
    accessible_text: str = attrs.field(validator=_sentence)


_PACING_WORDS: Mapping[PacingStatus, str] = {
    PacingStatus.AHEAD: "ahead",
    PacingStatus.ON_TRACK: "on track",
    PacingStatus.BEHIND: "behind",
    PacingStatus.AT_RISK: "at risk",
}


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _cell(
    student_name: str,
    assignment_id: str,
    progress: AssignmentProgress | None,
    directory: Directory,
) -> GridCell:
    badge = status_badge(_cell_status(progress))
    title = directory.assignment(assignment_id)
    if progress is None:
        return GridCell(
            assignment_id=assignment_id,
            completion=None,
            badge=badge,
            accessible_text=f"{student_name}, {title}: not assigned",
        )
    figure = _completion_figure(
        _required_completed(progress),
        progress.steps_required,
        progress.completion_percentage,
    )
    return GridCell(
        assignment_id=assignment_id,
        completion=figure,
        badge=badge,
        accessible_text=f"{student_name}, {title}: {figure.accessible_text}, "
        f"{badge.label.lower()}",
    )


def class_overview(
    class_id: str,
    *,
    students: Sequence[str],
    assignment_ids: Sequence[str],
    progress: Iterable[AssignmentProgress],
    as_of: datetime,
    summaries: Iterable[StudentProgressSummary] = (),
    directory: Directory | None = None,
) -> ClassOverview:
    """The roster grid of a class (spec: Class Progress Overview).

    Rows follow ``students``, columns ``assignment_ids``; a student without a
    record for an assignment gets a "not assigned" cell. Cells are coloured
    by the spec's coding (:func:`status_badge`); last activity and at-risk
    come from the students' summaries when given.

    >>> from datetime import datetime, UTC
    >>> view = class_overview("7b", students=["u1"], assignment_ids=["a1"],
    ...                       progress=[], as_of=datetime(2026, 9, 1, tzinfo=UTC))
    >>> view.rows[0].cells[0].accessible_text
    'u1, a1: not assigned'
    """
    names = directory or Directory()
    by_key = {(p.student_id, p.assignment_id): p for p in progress}
    by_student = {s.student_id: s for s in summaries}
    rows: list[RosterRow] = []
    for student_id in students:
        name = names.student(student_id)
        records = [by_key.get((student_id, a)) for a in assignment_ids]
        live = [
            p
            for p in records
            if p is not None and p.status is not AssignmentStatus.ARCHIVED
        ]
        open_ = [p for p in live if p.status is not AssignmentStatus.COMPLETE]
        pacing = _least_favourable(p.pacing_status for p in open_) if open_ else None
        completion = _mean([p.completion_percentage for p in live])
        mastery = _mean([p.mastery_score for p in live])
        summary = by_student.get(student_id)
        last = summary.last_activity_at if summary else None
        if pacing is not None:
            row_status = CellStatus(pacing.value)
        elif live:
            row_status = CellStatus.COMPLETE
        else:
            row_status = CellStatus.NOT_ASSIGNED
        badge = status_badge(row_status)
        completion_fig = (
            None
            if completion is None
            else _percent_figure(completion, "Average completion", " ")
        )
        mastery_fig = (
            None
            if mastery is None
            else _score_figure(
                mastery, f"Average mastery score {score_display(mastery)}"
            )
        )
        parts = [name, badge.label.lower()]
        if completion_fig is not None:
            parts.append(completion_fig.accessible_text.lower())
        if mastery_fig is not None:
            parts.append(mastery_fig.accessible_text.lower())
        parts.append(f"last activity {_days_ago(last, as_of)}")
        at_risk = bool(summary and summary.at_risk)
        if at_risk:
            parts.append("flagged at risk")
        rows.append(
            RosterRow(
                student_id=student_id,
                student_name=name,
                cells=tuple(
                    _cell(name, a, p, names)
                    for a, p in zip(assignment_ids, records, strict=True)
                ),
                completion=completion_fig,
                mastery=mastery_fig,
                last_activity_at=last,
                last_activity=_days_ago(last, as_of),
                pacing=pacing,
                badge=badge,
                at_risk=at_risk,
                accessible_text=", ".join(parts),
            )
        )
    flagged = sum(1 for r in rows if r.at_risk)
    class_name = names.class_(class_id)
    return ClassOverview(
        class_id=class_id,
        class_name=class_name,
        as_of=as_of,
        columns=tuple(
            GridColumn(assignment_id=a, title=names.assignment(a))
            for a in assignment_ids
        ),
        rows=tuple(rows),
        accessible_text=f"{class_name}: {_plural(len(rows), 'student')}, "
        f"{_plural(len(assignment_ids), 'assignment')}, "
        f"{flagged} flagged at risk",
    )


def _row_key(key: SortKey) -> Callable[[RosterRow], Any]:
    if key is SortKey.COMPLETION:
        return lambda r: None if r.completion is None else r.completion.value
    if key is SortKey.MASTERY:
        return lambda r: None if r.mastery is None else r.mastery.value
    if key is SortKey.LAST_ACTIVITY:
        return lambda r: r.last_activity_at
    if key is SortKey.PACING:
        return lambda r: None if r.pacing is None else _PACING_ORDER.index(r.pacing)
    return lambda r: r.student_name.casefold()


def sort_rows(
    view: ClassOverview, by: SortKey, *, descending: bool = False
) -> ClassOverview:
    """The grid with rows sorted by ``by`` (spec: Sort and filter; Q27).

    Ties keep name order; rows without the figure (no assignment, never
    active) come last in either direction. Pacing sorts worst first.

    >>> from datetime import datetime, UTC
    >>> view = class_overview("7b", students=["b", "a"], assignment_ids=[],
    ...                       progress=[], as_of=datetime(2026, 9, 1, tzinfo=UTC))
    >>> [r.student_id for r in sort_rows(view, SortKey.NAME).rows]
    ['a', 'b']
    """
    key = _row_key(SortKey(by))
    by_name = sorted(view.rows, key=lambda r: (r.student_name.casefold(), r.student_id))
    present = [r for r in by_name if key(r) is not None]
    missing = [r for r in by_name if key(r) is None]
    present.sort(key=key, reverse=descending)
    return attrs.evolve(
        view,
        rows=tuple(present + missing),
        sorted_by=SortKey(by),
        descending=descending,
    )


def filter_rows(
    view: ClassOverview,
    *,
    pacing: Collection[PacingStatus] | None = None,
    completion_at_least: float | None = None,
    completion_below: float | None = None,
    mastery_at_least: float | None = None,
    mastery_below: float | None = None,
    active_since: datetime | None = None,
    inactive_since: datetime | None = None,
    at_risk: bool | None = None,
) -> ClassOverview:
    """The grid with only the rows meeting every given condition.

    Bounds compare the records' values, not the rounded display. A row
    without the figure never meets a bound on it. ``inactive_since`` keeps
    rows with no activity at or after that time, never-active ones included.

    >>> from datetime import datetime, UTC
    >>> view = class_overview("7b", students=["a"], assignment_ids=[],
    ...                       progress=[], as_of=datetime(2026, 9, 1, tzinfo=UTC))
    >>> len(filter_rows(view, completion_at_least=50).rows)
    0
    """

    def keep(row: RosterRow) -> bool:
        c = None if row.completion is None else row.completion.value
        m = None if row.mastery is None else row.mastery.value
        last = row.last_activity_at
        checks = [
            pacing is None or (row.pacing is not None and row.pacing in pacing),
            completion_at_least is None or (c is not None and c >= completion_at_least),
            completion_below is None or (c is not None and c < completion_below),
            mastery_at_least is None or (m is not None and m >= mastery_at_least),
            mastery_below is None or (m is not None and m < mastery_below),
            active_since is None or (last is not None and last >= active_since),
            inactive_since is None or last is None or last < inactive_since,
            at_risk is None or row.at_risk is at_risk,
        ]
        return all(checks)

    return attrs.evolve(view, rows=tuple(r for r in view.rows if keep(r)))


# -- teacher: student detail -----------------------------------------------------------


class _Kind(enum.StrEnum):
    ATTEMPT = "attempt"
    STEP_COMPLETED = "step_completed"
    TEACHER_ACTION = "teacher_action"
    AT_RISK_DETECTED = "at_risk_detected"


@attrs.frozen(kw_only=True)
class TimelineEntry:
    """One event of the student's activity (spec: Progress timeline)."""

    at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    kind: str = attrs.field(validator=_sentence)
    assignment_id: str | None = attrs.field(validator=v.optional_identifier)
    step_id: str | None = attrs.field(validator=v.optional_identifier)
    text: str = attrs.field(validator=_sentence)


@attrs.frozen(kw_only=True)
class HeatmapCell:
    """A concept's mastery (spec: Mastery heatmap); the level is in words too."""

    concept_id: str = attrs.field(validator=v.identifier)
    concept_name: str = attrs.field(validator=v.text)
    level: MasteryLevel = attrs.field(validator=v.enum_of(MasteryLevel))
    label: str = attrs.field(validator=_sentence)
    symbol: str = attrs.field(validator=_sentence)
    intensity: int = attrs.field(validator=v.count)
    steps: int = attrs.field(validator=v.count)
    accessible_text: str = attrs.field(validator=_sentence)


@attrs.frozen(kw_only=True)
class StruggleIndicator:
    """A step the student struggles with, and why (spec: Struggle indicators)."""

    assignment_id: str = attrs.field(validator=v.identifier)
    assignment_title: str = attrs.field(validator=v.text)
    step_id: str = attrs.field(validator=v.identifier)
    step_title: str = attrs.field(validator=v.text)
    reasons: tuple[str, ...] = attrs.field(validator=v.identifiers)
    attempts: Figure = attrs.field(validator=v.instance_of(Figure))
    best_score: Figure = attrs.field(validator=v.instance_of(Figure))
    target: Figure = attrs.field(validator=v.instance_of(Figure))
    accessible_text: str = attrs.field(validator=_sentence)


@attrs.frozen(kw_only=True)
class InterventionEntry:
    """An intervention triggered or an action taken (spec: Intervention history)."""

    at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    kind: str = attrs.field(validator=v.identifier)
    actor_id: str | None = attrs.field(validator=v.optional_identifier)
    text: str = attrs.field(validator=_sentence)


@attrs.frozen(kw_only=True)
class RiskPanel:
    """The at-risk flag and its factors in words (D17), for teachers only."""

    at_risk: bool = attrs.field(validator=v.boolean)
    factors: tuple[str, ...] = attrs.field(validator=v.identifiers)
    descriptions: tuple[str, ...] = attrs.field(validator=v.identifiers)
    accessible_text: str = attrs.field(validator=_sentence)


@attrs.frozen(kw_only=True)
class StudentAssignmentRow:
    """One assignment in the teacher's student detail, with its estimate."""

    assignment_id: str = attrs.field(validator=v.identifier)
    title: str = attrs.field(validator=v.text)
    completion: Figure = attrs.field(validator=v.instance_of(Figure))
    mastery: Figure = attrs.field(validator=v.instance_of(Figure))
    badge: StatusBadge = attrs.field(validator=v.instance_of(StatusBadge))
    estimated_completion_date: datetime | None = attrs.field(
        default=None, converter=v.to_utc_optional, validator=v.optional_utc_time
    )
    accessible_text: str = attrs.field(validator=_sentence)


@attrs.frozen(kw_only=True)
class StudentDetail:
    """A student seen by their teacher (spec: Student Progress Detail)."""

    student_id: str = attrs.field(validator=v.identifier)
    student_name: str = attrs.field(validator=v.text)
    as_of: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    assignments: tuple[StudentAssignmentRow, ...] = attrs.field(
        validator=v.tuple_of(StudentAssignmentRow)
    )
    timeline: tuple[TimelineEntry, ...] = attrs.field(
        validator=v.tuple_of(TimelineEntry)
    )
    mastery_heatmap: tuple[HeatmapCell, ...] = attrs.field(
        validator=v.tuple_of(HeatmapCell)
    )
    struggles: tuple[StruggleIndicator, ...] = attrs.field(
        validator=v.tuple_of(StruggleIndicator)
    )
    interventions: tuple[InterventionEntry, ...] = attrs.field(
        validator=v.tuple_of(InterventionEntry)
    )
    risk: RiskPanel = attrs.field(validator=v.instance_of(RiskPanel))
    score_series: ScoreSeries = attrs.field(validator=v.instance_of(ScoreSeries))


_FACTOR_WORDS: Mapping[RiskRule, str] = {
    RiskRule.PACING: "{n} percentage points behind the expected pace",
    RiskRule.MASTERY: "a low recent mastery average of {n}",
    RiskRule.ENGAGEMENT: "no activity for {n} days",
    RiskRule.STRUGGLE: "{n} attempts on one step without passing",
    RiskRule.CONSISTENCY: "scores vary widely (variation {n} percent)",
}


def risk_factor_text(factor: str) -> str:
    """A D17 risk factor in words; an unknown factor is shown as it is.

    >>> risk_factor_text("inactive_9_days")
    'no activity for 9 days'
    >>> risk_factor_text("stuck_on_step_7_attempts")
    '7 attempts on one step without passing'
    """
    parsed = RiskFactor.from_code(factor)
    if parsed is None:
        return factor.replace("_", " ")
    return _FACTOR_WORDS[parsed.rule].format(n=parsed.amount)


#: Darker means more mastered; the symbol and label carry it too.
_HEAT: Mapping[MasteryLevel, int] = {
    MasteryLevel.NOT_STARTED: 0,
    MasteryLevel.LEARNING: 1,
    MasteryLevel.PROFICIENT: 2,
    MasteryLevel.MASTERED: 3,
}

_AUDIT_WORDS: Mapping[str, str] = {
    "override_complete": "marked a step complete",
    "adjust_target": "changed a target score",
    "extend_due_date": "extended the due date",
    "archive_assignment": "archived the assignment",
}


def _struggles(
    assignments: Sequence[AssignmentRecords],
    directory: Directory,
    policy: Policy,
) -> list[StruggleIndicator]:
    found: list[StruggleIndicator] = []
    for records in assignments:
        a_id = records.structure.assignment_id
        for definition in records.structure.steps:
            step = records.step(definition.step_id)
            if step is None or step.attempt_count == 0:
                continue
            reasons: list[str] = []
            if not step.passed and step.attempt_count > policy.risk_stuck_attempts_over:
                reasons.append("many_attempts")
            if (
                not step.passed
                and step.mastery_level is MasteryLevel.LEARNING
                and step.attempt_count >= policy.views.struggle_low_score_min_attempts
            ):
                reasons.append("low_score")
            if (
                step.attempt_count >= policy.risk_inconsistent_min_attempts
                and step.consistency_score is not None
                and step.consistency_score >= policy.risk_inconsistent_cv
            ):
                reasons.append("inconsistent_scores")
            if not reasons:
                continue
            title = directory.step(a_id, definition.step_id)
            a_title = directory.assignment(a_id)
            words = {
                "many_attempts": "many attempts without passing",
                "low_score": "low scores",
                "inconsistent_scores": "scores vary widely",
            }
            found.append(
                StruggleIndicator(
                    assignment_id=a_id,
                    assignment_title=a_title,
                    step_id=definition.step_id,
                    step_title=title,
                    reasons=tuple(reasons),
                    attempts=_count_figure(step.attempt_count, "attempt"),
                    best_score=_score_figure(
                        step.best_score, f"best score {score_display(step.best_score)}"
                    ),
                    target=_score_figure(
                        step.target_score,
                        f"target score {score_display(step.target_score)}",
                    ),
                    accessible_text=f"{title} in {a_title}: "
                    f"{', '.join(words[r] for r in reasons)}; "
                    f"{_plural(step.attempt_count, 'attempt')}, best score "
                    f"{score_display(step.best_score)} of target "
                    f"{score_display(step.target_score)}",
                )
            )
    return found


def student_detail(
    student_id: str,
    assignments: Iterable[AssignmentRecords],
    *,
    as_of: datetime,
    attempts: Iterable[Attempt] = (),
    audit: Iterable[AuditEntry] = (),
    risk_events: Iterable[StudentAtRiskDetected] = (),
    summary: StudentProgressSummary | None = None,
    directory: Directory | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> StudentDetail:
    """A student in detail for the teacher (spec: Student Progress Detail).

    The timeline merges attempts, step completions, teacher actions (audit
    entries) and at-risk detections, oldest first. Struggle indicators reuse
    D17's thresholds and D6's ``learning`` level (Q31). Another student's
    assignments or summary are refused with :class:`InvalidInputError` (D19).

    >>> from datetime import datetime, UTC
    >>> view = student_detail("u1", [], as_of=datetime(2026, 9, 1, tzinfo=UTC))
    >>> view.risk.accessible_text
    'Not flagged at risk'
    """
    names = directory or Directory()
    summary = _summary_of(student_id, summary)
    mine = _student_of(student_id, assignments, as_of=as_of, policy=policy)
    history = sorted(
        (a for a in attempts if a.student_id == student_id),
        key=lambda a: (a.attempted_at, a.attempt_id),
    )
    timeline: list[tuple[datetime, int, str, TimelineEntry]] = []
    for a in history:
        text = (
            f"Scored {score_display(a.score)} on "
            f"{names.step(a.assignment_id, a.step_id)} in "
            f"{names.assignment(a.assignment_id)}"
        )
        timeline.append(
            (
                a.attempted_at,
                0,
                a.attempt_id,
                TimelineEntry(
                    at=a.attempted_at,
                    kind=_Kind.ATTEMPT,
                    assignment_id=a.assignment_id,
                    step_id=a.step_id,
                    text=text,
                ),
            )
        )
    rows: list[StudentAssignmentRow] = []
    for records in mine:
        a_id = records.structure.assignment_id
        for step in records.steps:
            if step.completed_at is None:
                continue
            text = (
                f"Completed {names.step(a_id, step.step_id)} in "
                f"{names.assignment(a_id)} ({_SOURCE_TEXT[step.completion_source]})"
            )
            timeline.append(
                (
                    step.completed_at,
                    2,
                    step.step_id,
                    TimelineEntry(
                        at=step.completed_at,
                        kind=_Kind.STEP_COMPLETED,
                        assignment_id=a_id,
                        step_id=step.step_id,
                        text=text,
                    ),
                )
            )
        p = _progress(records)
        badge = status_badge(_cell_status(p))
        completion = _completion_figure(
            _required_completed(p), p.steps_required, p.completion_percentage
        )
        estimate = (
            p.estimated_completion_date
            if p.status is not AssignmentStatus.COMPLETE
            else None
        )
        estimate_text = (
            f", estimated to finish {_date_text(estimate)}" if estimate else ""
        )
        rows.append(
            StudentAssignmentRow(
                assignment_id=a_id,
                title=names.assignment(a_id),
                completion=completion,
                mastery=_score_figure(
                    p.mastery_score, f"mastery score {score_display(p.mastery_score)}"
                ),
                badge=badge,
                estimated_completion_date=estimate,
                accessible_text=f"{names.assignment(a_id)}: "
                f"{completion.accessible_text}, {badge.label.lower()}, mastery score "
                f"{score_display(p.mastery_score)}{estimate_text}",
            )
        )
    interventions: list[tuple[datetime, str, InterventionEntry]] = []
    for entry in audit:
        if entry.student_id != student_id:
            continue
        what = _AUDIT_WORDS.get(entry.action, entry.action.replace("_", " "))
        where = names.assignment(entry.assignment_id)
        if entry.step_id:
            where = f"{names.step(entry.assignment_id, entry.step_id)} in {where}"
        text = f"{entry.actor_id} {what}: {where}; reason: {entry.reason}"
        timeline.append(
            (
                entry.occurred_at,
                1,
                entry.audit_id,
                TimelineEntry(
                    at=entry.occurred_at,
                    kind=_Kind.TEACHER_ACTION,
                    assignment_id=entry.assignment_id,
                    step_id=entry.step_id,
                    text=text,
                ),
            )
        )
        interventions.append(
            (
                entry.occurred_at,
                entry.audit_id,
                InterventionEntry(
                    at=entry.occurred_at,
                    kind=entry.action,
                    actor_id=entry.actor_id,
                    text=text,
                ),
            )
        )
    for event in risk_events:
        if event.student_id != student_id:
            continue
        reasons = "; ".join(risk_factor_text(f) for f in event.risk_factors)
        text = (
            f"Flagged at risk: {reasons}; recommended: "
            f"{event.intervention_recommended.replace('_', ' ')}"
            if event.risk_factors
            else "No longer flagged at risk"
        )
        timeline.append(
            (
                event.occurred_at,
                3,
                event.event_id,
                TimelineEntry(
                    at=event.occurred_at,
                    kind=_Kind.AT_RISK_DETECTED,
                    assignment_id=event.assignment_id,
                    step_id=None,
                    text=text,
                ),
            )
        )
        interventions.append(
            (
                event.occurred_at,
                event.event_id,
                InterventionEntry(
                    at=event.occurred_at,
                    kind=_Kind.AT_RISK_DETECTED.value,
                    actor_id=None,
                    text=text,
                ),
            )
        )
    heat = concept_mastery(mine)
    cells = []
    for concept in sorted(heat, key=lambda c: (names.concept(c).casefold(), c)):
        level, steps = heat[concept]
        label, symbol = _MASTERY_LABELS[level]
        cells.append(
            HeatmapCell(
                concept_id=concept,
                concept_name=names.concept(concept),
                level=level,
                label=label,
                symbol=symbol,
                intensity=_HEAT[level],
                steps=steps,
                accessible_text=f"{names.concept(concept)}: {label.lower()}, "
                f"practised in {_plural(steps, 'step')}",
            )
        )
    factors = summary.risk_factors if summary else ()
    descriptions = tuple(risk_factor_text(f) for f in factors)
    risk = RiskPanel(
        at_risk=bool(summary and summary.at_risk),
        factors=factors,
        descriptions=descriptions,
        accessible_text="Flagged at risk: " + "; ".join(descriptions)
        if descriptions
        else "Not flagged at risk",
    )
    points = [
        ScorePoint(
            attempt_id=a.attempt_id,
            at=a.attempted_at,
            score=a.score,
            step_id=a.step_id,
            step_title=names.step(a.assignment_id, a.step_id),
            accessible_text=f"{_datetime_text(a.attempted_at)}: "
            f"{names.step(a.assignment_id, a.step_id)}, score {score_display(a.score)}",
        )
        for a in history
    ]
    timeline.sort(key=lambda t: (t[0], t[1], t[2]))
    interventions.sort(key=lambda t: (t[0], t[1]))
    return StudentDetail(
        student_id=student_id,
        student_name=names.student(student_id),
        as_of=as_of,
        assignments=tuple(rows),
        timeline=tuple(t[3] for t in timeline),
        mastery_heatmap=tuple(cells),
        struggles=tuple(_struggles(mine, names, policy)),
        interventions=tuple(i[2] for i in interventions),
        risk=risk,
        score_series=_score_series(points),
    )


# -- admin: organization dashboard -----------------------------------------------------


@attrs.frozen(kw_only=True)
class TrendSeries:
    """The batch's trend points of one granularity (week, month or quarter)
    up to ``as_of``, oldest first, every metric (spec: Trend graphs)."""

    period: TrendPeriod = attrs.field(validator=v.enum_of(TrendPeriod))
    points: tuple[TrendPoint, ...] = attrs.field(validator=v.tuple_of(TrendPoint))
    accessible_text: str = attrs.field(validator=_sentence)


@attrs.frozen(kw_only=True)
class AdminAggregates:
    """Total students, active assignments, completion rate, average mastery."""

    total_students: Figure = attrs.field(validator=v.instance_of(Figure))
    active_assignments: Figure = attrs.field(validator=v.instance_of(Figure))
    completion_rate: Figure | None = attrs.field(
        validator=v.optional_instance_of(Figure)
    )
    average_mastery: Figure | None = attrs.field(
        validator=v.optional_instance_of(Figure)
    )


@attrs.frozen(kw_only=True)
class ClassComparison:
    """One class side by side with the others (spec: Class comparison)."""

    class_id: str = attrs.field(validator=v.identifier)
    class_name: str = attrs.field(validator=v.text)
    students: Figure = attrs.field(validator=v.instance_of(Figure))
    completion_rate: Figure | None = attrs.field(
        validator=v.optional_instance_of(Figure)
    )
    average_mastery: Figure | None = attrs.field(
        validator=v.optional_instance_of(Figure)
    )
    at_risk: Figure = attrs.field(validator=v.instance_of(Figure))
    accessible_text: str = attrs.field(validator=_sentence)


@attrs.frozen(kw_only=True)
class ContentEffectiveness:
    """One assignment or sequence and how many of its students completed it."""

    kind: str = attrs.field(validator=v.identifier)
    content_id: str = attrs.field(validator=v.identifier)
    title: str = attrs.field(validator=v.text)
    students: int = attrs.field(validator=v.count)
    completion_rate: Figure = attrs.field(validator=v.instance_of(Figure))
    average_completion: Figure = attrs.field(validator=v.instance_of(Figure))
    accessible_text: str = attrs.field(validator=_sentence)


@attrs.frozen(kw_only=True)
class Engagement:
    """Active users, time on task and streak persistence (spec: Engagement)."""

    active_users: Figure = attrs.field(validator=v.instance_of(Figure))
    time_on_task_this_week: Figure = attrs.field(validator=v.instance_of(Figure))
    average_streak_days: Figure | None = attrs.field(
        validator=v.optional_instance_of(Figure)
    )
    streak_persistence: Figure | None = attrs.field(
        validator=v.optional_instance_of(Figure)
    )


@attrs.frozen(kw_only=True)
class OrganizationDashboardView:
    """An organization's batch dashboard for its admin, in display text and
    sentences (spec: Organization Dashboard)."""

    organization_id: str = attrs.field(validator=v.identifier)
    as_of: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    aggregates: AdminAggregates = attrs.field(validator=v.instance_of(AdminAggregates))
    trends: tuple[TrendSeries, ...] = attrs.field(validator=v.tuple_of(TrendSeries))
    classes: tuple[ClassComparison, ...] = attrs.field(
        validator=v.tuple_of(ClassComparison)
    )
    content: tuple[ContentEffectiveness, ...] = attrs.field(
        validator=v.tuple_of(ContentEffectiveness)
    )
    engagement: Engagement = attrs.field(validator=v.instance_of(Engagement))


def _rate(done: int, total: int, sentence: str) -> Figure | None:
    if total == 0:
        return None
    return _percent_figure(100.0 * done / total, sentence)


def _completion_rate(figures: ProgressFigures) -> Figure | None:
    done = figures.completed_assignments
    total = done + figures.active_assignments
    return _rate(done, total, f"{done} of {_plural(total, 'assignment')} completed")


def _average_mastery(figures: ProgressFigures) -> Figure | None:
    started = figures.started_students
    if started == 0:
        return None
    mean = figures.mean_mastery_started
    return _score_figure(
        mean,
        f"Average mastery score {score_display(mean)} over "
        f"{_plural(started, 'student')} who "
        f"{'has' if started == 1 else 'have'} started",
    )


_PERIOD_WORDS: Mapping[TrendPeriod, tuple[str, str]] = {
    TrendPeriod.WEEK: ("Weekly", "week"),
    TrendPeriod.MONTH: ("Monthly", "month"),
    TrendPeriod.QUARTER: ("Quarterly", "quarter"),
}

#: How a trend metric reads: its words and whether it is a percentage.
_METRIC_WORDS: Mapping[str, tuple[str, bool]] = {
    "completion_percentage": ("average completion", True),
    "mastery_score": ("average mastery score", False),
    "engagement_score": ("average engagement score", False),
}


def _trend_text(metric: str, first: float, last: float) -> str:
    words, percent = _METRIC_WORDS.get(metric, (metric.replace("_", " "), False))
    if percent:
        return (
            f"{words} from {percent_display(first)} to {percent_display(last)} percent"
        )
    return f"{words} from {score_display(first)} to {score_display(last)}"


def _trend_series(
    period: TrendPeriod, points: Sequence[TrendPoint], as_of: datetime
) -> TrendSeries:
    shown = sorted(
        (p for p in points if p.period is period and p.period_start <= as_of),
        key=lambda p: (p.period_start, p.metric),
    )
    adjective, noun = _PERIOD_WORDS[period]
    if not shown:
        return TrendSeries(
            period=period, points=(), accessible_text=f"{adjective} trend: no data"
        )
    by_metric: dict[str, list[TrendPoint]] = {}
    for point in shown:
        by_metric.setdefault(point.metric, []).append(point)
    parts = [
        _trend_text(metric, series[0].mean, series[-1].mean)
        for metric, series in by_metric.items()
    ]
    periods = len({p.period_start for p in shown})
    return TrendSeries(
        period=period,
        points=tuple(shown),
        accessible_text=f"{adjective} trend over {_plural(periods, noun)}: "
        + "; ".join(parts),
    )


def _class_row(summary: ClassSummary, directory: Directory) -> ClassComparison:
    figures = summary.figures
    rate = _completion_rate(figures)
    mastery = _average_mastery(figures)
    name = directory.class_(summary.class_id)
    parts = [f"{name}: {_plural(figures.students, 'student')}"]
    parts.append(
        f"completion rate {percent_display(rate.value)} percent"
        if rate
        else "no assignments yet"
    )
    if mastery is not None:
        parts.append(f"average mastery {score_display(mastery.value)}")
    parts.append(f"{figures.at_risk_students} flagged at risk")
    return ClassComparison(
        class_id=summary.class_id,
        class_name=name,
        students=_count_figure(figures.students, "student"),
        completion_rate=rate,
        average_mastery=mastery,
        at_risk=_count_figure(figures.at_risk_students, "student", "At risk: "),
        accessible_text=", ".join(parts),
    )


def _content_row(
    kind: str,
    content_id: str,
    effect: AssignmentEffectiveness | SequenceEffectiveness,
    title: str,
) -> ContentEffectiveness:
    n = effect.students
    rate = _percent_figure(
        effect.completion_rate,
        f"{effect.completed} of {_plural(n, 'student')} completed",
    )
    average = _percent_figure(effect.mean_completion, "Average completion", " ")
    return ContentEffectiveness(
        kind=kind,
        content_id=content_id,
        title=title,
        students=n,
        completion_rate=rate,
        average_completion=average,
        accessible_text=f"{title} ({kind}): {rate.accessible_text}; "
        f"{average.accessible_text.lower()}",
    )


def organization_dashboard_view(
    dashboard: OrganizationDashboard,
    *,
    directory: Directory | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> OrganizationDashboardView:
    """The admin's view of a batch :class:`OrganizationDashboard` (spec:
    Organization Dashboard; Q32): the batch's figures with display text and
    sentences, classes by name, content by completion. ``policy`` is the
    one the batch ran with; its ``rollups`` section names the windows.

    The completion rate is completed assignments over completed and active
    ones; average mastery is over students who have been active; content
    effectiveness ranks assignments and sequences (archived assignments
    aside) by the share of their students who completed them, highest first;
    trends show the batch's weekly, monthly and quarterly points up to the
    dashboard's ``as_of``. A figure without data is ``None``, never 0.

    >>> from datetime import datetime, UTC
    >>> from mlc_progress._rollups import organization_dashboard
    >>> board = organization_dashboard([], organization_id="org",
    ...                                as_of=datetime(2026, 9, 1, tzinfo=UTC))
    >>> view = organization_dashboard_view(board)
    >>> view.aggregates.total_students.accessible_text, view.aggregates.completion_rate
    ('0 students', None)
    """
    names = directory or Directory()
    figures = dashboard.figures
    as_of = dashboard.as_of
    aggregates = AdminAggregates(
        total_students=_count_figure(figures.students, "student"),
        active_assignments=_count_figure(
            figures.active_assignments, "active assignment"
        ),
        completion_rate=_completion_rate(figures),
        average_mastery=_average_mastery(figures),
    )
    classes = sorted(
        (_class_row(c, names) for c in dashboard.classes),
        key=lambda c: (c.class_name.casefold(), c.class_id),
    )
    content = [
        _content_row(
            "assignment", e.assignment_id, e, names.assignment(e.assignment_id)
        )
        for e in figures.assignments
    ] + [
        _content_row("sequence", e.sequence_id, e, names.sequence(e.sequence_id))
        for e in figures.sequences
    ]
    content.sort(
        key=lambda c: (-c.completion_rate.value, -c.average_completion.value, c.title)
    )
    rollups = policy.rollups
    n = figures.students
    engagement = Engagement(
        active_users=_count_figure(
            figures.active_students,
            "student",
            f"Active in the past {_plural(rollups.active_user_days, 'day')}: ",
        ),
        time_on_task_this_week=_time_figure(
            figures.time_on_task_this_week_ms, "Time on task this week:"
        ),
        average_streak_days=None
        if n == 0
        else Figure(
            value=figures.mean_streak_days,
            display=score_display(figures.mean_streak_days),
            accessible_text=f"Average streak {score_display(figures.mean_streak_days)}"
            " days",
        ),
        streak_persistence=_rate(
            figures.students_on_streak,
            n,
            f"{figures.students_on_streak} of {_plural(n, 'student')} on a streak of "
            f"{_plural(rollups.streak_persistence_days, 'day')} or more",
        ),
    )
    return OrganizationDashboardView(
        organization_id=dashboard.organization_id,
        as_of=as_of,
        aggregates=aggregates,
        trends=tuple(
            _trend_series(period, dashboard.trends, as_of) for period in TrendPeriod
        ),
        classes=tuple(classes),
        content=tuple(content),
        engagement=engagement,
    )


# -- parent report ---------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ParentAssignmentLine:
    """One assignment in plain words, without step detail."""

    title: str = attrs.field(validator=v.text)
    completion: Figure = attrs.field(validator=v.instance_of(Figure))
    text: str = attrs.field(validator=_sentence)


@attrs.frozen(kw_only=True)
class ParentReport:
    """A parent-friendly report (spec: Parent Access; intervention 5).

    Plain sentences, no step detail, no at-risk label: risk factors become
    suggestions for home (Q30).
    """

    student_id: str = attrs.field(validator=v.identifier)
    student_name: str = attrs.field(validator=v.text)
    as_of: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    headline: tuple[str, ...] = attrs.field(validator=v.identifiers)
    assignments: tuple[ParentAssignmentLine, ...] = attrs.field(
        validator=v.tuple_of(ParentAssignmentLine)
    )
    suggestions: tuple[str, ...] = attrs.field(validator=v.identifiers)


_SUGGESTIONS: Mapping[RiskRule, str] = {
    RiskRule.PACING: "{name} is behind the class schedule on some work. A regular"
    " time to learn each day can help.",
    RiskRule.MASTERY: "{name}'s recent scores are lower than usual. Trying"
    " activities again is a good way to learn.",
    RiskRule.ENGAGEMENT: "{name} has not practised for {n} days. A short session"
    " this week would help.",
    RiskRule.STRUGGLE: "{name} is finding one activity hard. The teacher can help;"
    " asking is a good step.",
    RiskRule.CONSISTENCY: "{name}'s scores go up and down. Steady, unhurried"
    " practice helps.",
}


def parent_report(
    student_id: str,
    *,
    summary: StudentProgressSummary,
    assignments: Iterable[AssignmentRecords],
    as_of: datetime,
    directory: Directory | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> ParentReport:
    """A simplified report for a parent, in plain words (D19: summaries only).

    >>> from datetime import datetime, UTC
    >>> from mlc_progress import StudentProgressSummary
    >>> s = StudentProgressSummary(student_id="u1", organization_id="o",
    ...                            streak_days=3)
    >>> parent_report("u1", summary=s, assignments=[],
    ...               as_of=datetime(2026, 9, 1, tzinfo=UTC)).headline[-1]
    'u1 has learned on 3 days in a row.'
    """
    names = directory or Directory()
    _summary_of(student_id, summary)
    mine = [
        a
        for a in _student_of(student_id, assignments, as_of=as_of, policy=policy)
        if a.active
    ]
    name = names.student(student_id)
    headline = [
        f"{name} has finished {_plural(summary.completed_assignments, 'assignment')}"
        f" and is working on {summary.active_assignments}.",
        f"This week {name} completed "
        f"{_plural(summary.steps_completed_this_week, 'activity', 'activities')} and"
        f" spent {_duration_text(summary.time_on_task_this_week_ms)} learning.",
        f"Average mastery score: {score_display(summary.overall_mastery_score)}"
        " out of 100.",
    ]
    if summary.streak_days:
        headline.append(
            f"{name} has learned on {_plural(summary.streak_days, 'day')} in a row."
        )
    lines = []
    for records in mine:
        p = _progress(records)
        title = names.assignment(p.assignment_id)
        due = p.due_at_override or records.structure.due_at
        figure = _percent_figure(p.completion_percentage, f"{title}:", " ")
        if p.status is AssignmentStatus.COMPLETE:
            words = "finished"
        elif p.status is AssignmentStatus.NOT_STARTED:
            words = "not started yet"
        elif p.completion_percentage == 0:
            words = "started, no activities finished yet"
        else:
            words = f"about {percent_display(p.completion_percentage)} percent done"
        if due is not None and p.status is not AssignmentStatus.COMPLETE:
            words += f", due {_date_text(due)}"
        lines.append(
            ParentAssignmentLine(
                title=title, completion=figure, text=f"{title}: {words}."
            )
        )
    suggestions = []
    for factor in summary.risk_factors:
        parsed = RiskFactor.from_code(factor)
        if parsed is not None:
            text = _SUGGESTIONS[parsed.rule]
            suggestions.append(text.format(name=name, n=parsed.amount))
    return ParentReport(
        student_id=student_id,
        student_name=name,
        as_of=as_of,
        headline=tuple(headline),
        assignments=tuple(lines),
        suggestions=tuple(dict.fromkeys(suggestions)),
    )


# -- text and JSON ---------------------------------------------------------------------


def view_to_json(view: Any) -> str:
    """Any view as JSON through the one converter (``from_json`` reads it back).

    >>> view_to_json(status_badge(CellStatus.AT_RISK))[:40]
    '{"colour":"red","label":"At risk","patte'
    """
    return to_json(view)


def _badge_text(badge: StatusBadge) -> str:
    return f"{badge.symbol} {badge.label}"


def render_class_overview_text(view: ClassOverview) -> str:
    """The roster grid as plain text: one line per student, figures in words.

    >>> from datetime import datetime, UTC
    >>> print(render_class_overview_text(class_overview("7b", students=[],
    ...     assignment_ids=[], progress=[], as_of=datetime(2026, 9, 1, tzinfo=UTC))))
    7b: 0 students, 0 assignments, 0 flagged at risk
    """
    lines = [view.accessible_text]
    if view.sorted_by is not None:
        order = "descending" if view.descending else "ascending"
        lines.append(f"Sorted by {view.sorted_by.value.replace('_', ' ')}, {order}")
    for row in view.rows:
        lines.append("")
        lines.append(f"{row.student_name} [{_badge_text(row.badge)}]")
        lines.append(f"  {row.accessible_text}")
        for column, cell in zip(view.columns, row.cells, strict=True):
            shown = cell.completion.display if cell.completion else "\N{EN DASH}"
            lines.append(f"  {column.title}: {shown} [{_badge_text(cell.badge)}]")
    return "\n".join(lines)


def render_student_report_text(view: StudentReport) -> str:
    """A student's report as plain text, every figure in words."""
    d = view.dashboard
    lines = [
        f"Progress of {d.student_name} on {_date_text(d.as_of)}",
        d.completion.accessible_text,
        d.streak.accessible_text,
    ]
    if d.next_step is not None:
        lines.append(d.next_step.accessible_text)
    if d.mastery_badges:
        lines.append("Mastered: " + ", ".join(b.concept_name for b in d.mastery_badges))
    if d.recent_activity:
        lines.append("Recent activity:")
        lines.extend(f"  {a.accessible_text}" for a in d.recent_activity)
    for detail in view.assignments:
        lines.append("")
        lines.append(f"{detail.title}: {detail.completion.accessible_text}")
        lines.extend(f"  {card.accessible_text}" for card in detail.step_cards)
        lines.append(f"  {detail.score_series.accessible_text}")
        lines.append(f"  {detail.time_summary.total.accessible_text}")
        lines.append(f"  {detail.time_summary.average_per_step.accessible_text}")
    return "\n".join(lines)


def render_student_detail_text(view: StudentDetail) -> str:
    """The teacher's student detail as plain text."""
    lines = [
        f"{view.student_name}, as of {_date_text(view.as_of)}",
        view.risk.accessible_text,
    ]
    lines.extend(f"  {row.accessible_text}" for row in view.assignments)
    if view.mastery_heatmap:
        lines.append("Mastery by concept:")
        lines.extend(f"  {c.symbol} {c.accessible_text}" for c in view.mastery_heatmap)
    if view.struggles:
        lines.append("Struggling with:")
        lines.extend(f"  {s.accessible_text}" for s in view.struggles)
    if view.interventions:
        lines.append("Interventions:")
        lines.extend(f"  {_datetime_text(i.at)}: {i.text}" for i in view.interventions)
    lines.append("Timeline:")
    lines.extend(f"  {_datetime_text(t.at)}: {t.text}" for t in view.timeline)
    return "\n".join(lines)


def _aggregate_lines(view: OrganizationDashboardView) -> list[str]:
    """The aggregate metrics in words, a missing figure said as such."""
    a = view.aggregates
    return [
        a.total_students.accessible_text,
        a.active_assignments.accessible_text,
        a.completion_rate.accessible_text
        if a.completion_rate
        else "Completion rate: no assignments yet",
        a.average_mastery.accessible_text
        if a.average_mastery
        else "Average mastery: no activity yet",
    ]


def _engagement_lines(view: OrganizationDashboardView) -> list[str]:
    """The engagement metrics in words; figures without data are left out."""
    e = view.engagement
    optional = (e.average_streak_days, e.streak_persistence)
    return [
        e.active_users.accessible_text,
        e.time_on_task_this_week.accessible_text,
        *(f.accessible_text for f in optional if f is not None),
    ]


def render_organization_text(view: OrganizationDashboardView) -> str:
    """The organization dashboard as plain text."""
    lines = [
        f"Organization {view.organization_id}, as of {_date_text(view.as_of)}",
        *_aggregate_lines(view),
    ]
    lines.extend(t.accessible_text for t in view.trends)
    if view.classes:
        lines.append("Classes:")
        lines.extend(f"  {c.accessible_text}" for c in view.classes)
    if view.content:
        lines.append("Content, highest completion first:")
        lines.extend(f"  {c.accessible_text}" for c in view.content)
    lines.extend(_engagement_lines(view))
    return "\n".join(lines)


def render_parent_report_text(view: ParentReport) -> str:
    """The parent report as plain text."""
    lines = [f"Progress report for {view.student_name}, {_date_text(view.as_of)}"]
    lines.extend(view.headline)
    lines.extend(line.text for line in view.assignments)
    lines.extend(view.suggestions)
    return "\n".join(lines)


register_enums(Colour, Pattern, CellStatus, SortKey)

for _cls in (
    Figure,
    StatusBadge,
    Directory,
    NextStep,
    Activity,
    MasteryBadge,
    StudentDashboard,
    StepSegment,
    StepCard,
    ScorePoint,
    ScoreSeries,
    TimeSummary,
    AssignmentDetail,
    StudentReport,
    GridColumn,
    GridCell,
    RosterRow,
    ClassOverview,
    TimelineEntry,
    HeatmapCell,
    StruggleIndicator,
    InterventionEntry,
    RiskPanel,
    StudentAssignmentRow,
    StudentDetail,
    TrendSeries,
    AdminAggregates,
    ClassComparison,
    ContentEffectiveness,
    Engagement,
    OrganizationDashboardView,
    ParentAssignmentLine,
    ParentReport,
):
    attrs.resolve_types(_cls)
