"""Authorization (D19): the access matrix, deny by default, organization walls."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlc_progress import (
    AdjustTarget,
    ArchiveAssignment,
    Attempt,
    ExtendDueDate,
    InvalidInputError,
    OverrideComplete,
    ProgressError,
    RequestTeacherReview,
    StartStep,
    from_json,
    to_json,
)
from mlc_progress._permissions import (
    AccessLogEntry,
    Action,
    Actor,
    ChildLink,
    Decision,
    PermissionDeniedError,
    Resource,
    ResourceKind,
    Role,
    access_log_entry,
    authorize,
    command_action,
    require,
)
from tests.access_matrix import (
    HOME,
    KIND_OF,
    MATRIX,
    OTHER,
    RELATIONSHIPS,
    actor_for,
    cells,
    resource_for,
)

T0 = datetime(2026, 9, 1, tzinfo=UTC)

# Kinds each action applies to, restated from the spec's Permissions section.
APPLIES_TO: dict[Action, set[str]] = {
    Action.READ_OWN_PROGRESS: {"step", "assignment", "sequence", "summary"},
    Action.READ_SUMMARY: {ResourceKind.SUMMARY},
    Action.READ_HISTORY: {ResourceKind.SNAPSHOT},
    Action.READ_CLASS: {"step", "assignment", "sequence", "summary", "class"},
    Action.READ_ORGANIZATION: {
        "step",
        "assignment",
        "sequence",
        "summary",
        "class",
        "organization",
    },
    Action.OVERRIDE: {ResourceKind.STEP},
    Action.ADJUST_TARGET: {ResourceKind.STEP},
    Action.EXTEND_DEADLINE: {ResourceKind.ASSIGNMENT},
    Action.EXPORT_REPORTS: {
        "step",
        "assignment",
        "sequence",
        "summary",
        "class",
        "organization",
    },
    Action.EXPORT_BULK_DATA: {ResourceKind.CLASS, ResourceKind.ORGANIZATION},
    Action.CONFIGURE_POLICY: {ResourceKind.POLICY},
    Action.REPAIR: {"step", "assignment", "sequence", "summary"},
    Action.READ_RAW: {ResourceKind.RAW},
    Action.EXPORT_STUDENT_DATA: {ResourceKind.STUDENT},
    Action.DEACTIVATE_STUDENT: {ResourceKind.STUDENT},
}

CELLS = cells()


def test_the_matrix_names_every_role_and_action_once() -> None:
    """The data has one row per role and action, each with a mark per relationship."""
    assert set(MATRIX) == {(r, a) for r in Role for a in Action}
    assert all(len(marks) == len(RELATIONSHIPS) for marks in MATRIX.values())
    assert all(set(marks) <= {"Y", "."} for marks in MATRIX.values())
    assert len(CELLS) == len(Role) * len(Action) * len(RELATIONSHIPS) >= 400


@pytest.mark.parametrize(
    ("role", "action", "relationship", "allowed"),
    CELLS,
    ids=[f"{r.value}-{a.value}-{rel}" for r, a, rel, _ in CELLS],
)
def test_access_matrix_cell(
    role: Role, action: Action, relationship: str, allowed: bool
) -> None:
    """Each role, action and relationship gets the decision the matrix says, with a reason and a D19 rule."""
    decision = authorize(
        actor_for(role), action, resource_for(relationship, KIND_OF[action])
    )
    assert decision.allowed is allowed
    assert decision.reason
    assert decision.rule.startswith("D19")


@pytest.mark.parametrize(
    ("role", "action", "relationship", "allowed"),
    CELLS[::7],
    ids=[f"{r.value}-{a.value}-{rel}" for r, a, rel, _ in CELLS[::7]],
)
def test_plain_strings_decide_like_the_enums(
    role: Role, action: Action, relationship: str, allowed: bool
) -> None:
    """A role, action and kind given as their exact spec strings decide the same."""
    actor = attrs.evolve(actor_for(role), role=role.value)
    resource = resource_for(relationship, KIND_OF[action])
    resource = attrs.evolve(resource, kind=str(resource.kind))
    assert authorize(actor, action.value, resource) == authorize(
        actor_for(role), action, resource_for(relationship, KIND_OF[action])
    )
    assert authorize(actor, action.value, resource).allowed is allowed


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("kind", list(ResourceKind))
def test_an_action_applies_only_to_its_kinds(
    action: Action, kind: ResourceKind
) -> None:
    """Even the system admin is refused an action on a kind it does not apply to."""
    root = actor_for(Role.SYSTEM_ADMIN)
    decision = authorize(root, action, resource_for("own_class", kind))
    assert decision.allowed is (kind in APPLIES_TO[action])
    if not decision.allowed:
        assert "does not apply" in decision.reason


@pytest.mark.parametrize(
    "kind",
    [
        ResourceKind.STEP,
        ResourceKind.ASSIGNMENT,
        ResourceKind.SNAPSHOT,
        ResourceKind.RAW,
    ],
)
def test_a_consenting_childs_parent_sees_no_step_detail(kind: ResourceKind) -> None:
    """Parents read summaries only: step, assignment, snapshot and raw data stay closed."""
    parent = actor_for(Role.PARENT)
    for action in Action:
        resource = resource_for("own_child_with_consent", kind)
        assert not authorize(parent, action, resource).allowed


def test_parent_denials_say_why() -> None:
    """A parent is told whether the student is not their child or has not consented."""
    parent = actor_for(Role.PARENT)
    no_consent = authorize(
        parent,
        Action.READ_SUMMARY,
        resource_for("own_child_without_consent", ResourceKind.SUMMARY),
    )
    stranger = authorize(
        parent, Action.READ_SUMMARY, resource_for("own_class", ResourceKind.SUMMARY)
    )
    assert no_consent.reason == "the student has not consented"
    assert stranger.reason == "the student is not the actor's child"


@pytest.mark.parametrize(("class_id", "allowed"), [("c1", True), ("c2", False)])
def test_a_teacher_reads_only_the_classes_they_teach(
    class_id: str, allowed: bool
) -> None:
    """The class overview of a taught class is open to its teacher, another class is not."""
    teacher = actor_for(Role.TEACHER)
    resource = Resource.of_class(organization_id=HOME, class_id=class_id)
    assert authorize(teacher, Action.READ_CLASS, resource).allowed is allowed
    assert authorize(teacher, Action.EXPORT_REPORTS, resource).allowed is allowed


def test_a_student_in_several_classes_is_visible_to_each_teacher() -> None:
    """A teacher of any one of the student's classes may act on the student."""
    teacher = attrs.evolve(actor_for(Role.TEACHER), class_ids=("c9",))
    step = Resource.of_student(
        ResourceKind.STEP,
        organization_id=HOME,
        student_id="s-5",
        class_ids=("c1", "c9"),
    )
    assert authorize(teacher, Action.OVERRIDE, step).allowed


def test_a_student_is_refused_a_classmate() -> None:
    """Enrolment in the same class gives a student nothing of a classmate's."""
    student = actor_for(Role.STUDENT)
    classmate = resource_for("own_class", ResourceKind.ASSIGNMENT)
    for action in Action:
        assert not authorize(student, action, classmate).allowed


# -- unknown roles, actions and kinds -------------------------------------------


@pytest.mark.parametrize(
    "role",
    ["guest", "Teacher", " teacher", "teacher ", "", "system-admin", "root", "STUDENT"],
)
def test_unknown_roles_are_denied_everything(role: str) -> None:
    """A role that is not exactly one of the spec's is denied every action, never raising."""
    actor = Actor(actor_id="u-1", role=role, organization_id=HOME, class_ids=("c1",))
    assert actor.role == role
    for action in Action:
        for relationship in RELATIONSHIPS:
            decision = authorize(
                actor, action, resource_for(relationship, KIND_OF[action])
            )
            assert not decision.allowed
            assert decision.reason == f"unknown role {role!r}"


@pytest.mark.parametrize(
    "action",
    ["delete", "READ_CLASS", "read class", "", "read_class ", 42, None, b"read_class"],
)
def test_unknown_actions_are_denied_never_raised(action: object) -> None:
    """An action that is not exactly one of the spec's is denied, even for the system admin."""
    root = actor_for(Role.SYSTEM_ADMIN)
    decision = authorize(root, action, resource_for("own_class", ResourceKind.STEP))  # type: ignore[arg-type]
    assert not decision.allowed
    assert decision.reason.startswith("unknown action")


@pytest.mark.parametrize("kind", ["everything", "Step", "", "students"])
def test_unknown_kinds_are_denied(kind: str) -> None:
    """A kind of resource that is not one of the known kinds is denied."""
    root = actor_for(Role.SYSTEM_ADMIN)
    resource = Resource(kind=kind, organization_id=HOME, student_id="s-1")
    decision = authorize(root, Action.READ_OWN_PROGRESS, resource)
    assert not decision.allowed
    assert decision.reason == f"unknown kind of resource {kind!r}"


@pytest.mark.parametrize(
    ("actor", "resource"),
    [
        (None, resource_for("own_class", ResourceKind.STEP)),
        ("admin", resource_for("own_class", ResourceKind.STEP)),
        (actor_for(Role.SYSTEM_ADMIN), None),
        (actor_for(Role.SYSTEM_ADMIN), {"kind": "step", "organization_id": HOME}),
    ],
)
def test_things_that_are_not_actors_or_resources_are_denied(
    actor: object, resource: object
) -> None:
    """Untyped callers passing the wrong objects get a denial, not an exception."""
    decision = authorize(actor, Action.READ_CLASS, resource)  # type: ignore[arg-type]
    assert not decision.allowed


# -- organizations with colliding ids ---------------------------------------------


NON_ROOT = [r for r in Role if r is not Role.SYSTEM_ADMIN]


@pytest.mark.parametrize("role", NON_ROOT)
@pytest.mark.parametrize("relationship", RELATIONSHIPS[:-1])
def test_colliding_ids_in_another_organization_grant_nothing(
    role: Role, relationship: str
) -> None:
    """The same student, class and child ids in org-b are closed to every org-a actor but the system admin."""
    actor = actor_for(role)
    for action in Action:
        home = resource_for(relationship, KIND_OF[action])
        away = attrs.evolve(home, organization_id=OTHER)
        decision = authorize(actor, action, away)
        assert not decision.allowed
        if authorize(actor, action, home).allowed:
            assert decision.reason == "the resource belongs to another organization"


@pytest.mark.parametrize("relationship", RELATIONSHIPS[:-1])
def test_the_system_admin_crosses_organizations(relationship: str) -> None:
    """The system admin is allowed the same in org-b as in org-a."""
    root = actor_for(Role.SYSTEM_ADMIN)
    for action in Action:
        away = attrs.evolve(
            resource_for(relationship, KIND_OF[action]), organization_id=OTHER
        )
        assert authorize(root, action, away).allowed


def test_a_teacher_of_a_colliding_class_elsewhere_is_refused() -> None:
    """Teacher of org-b's c1 cannot touch org-a's c1, though the class ids are equal."""
    teacher_b = attrs.evolve(actor_for(Role.TEACHER), organization_id=OTHER)
    step_a = resource_for("own_class", ResourceKind.STEP)
    assert step_a.organization_id == HOME
    assert not authorize(teacher_b, Action.OVERRIDE, step_a).allowed
    assert authorize(
        teacher_b, Action.OVERRIDE, attrs.evolve(step_a, organization_id=OTHER)
    ).allowed


ids = st.sampled_from(["u-1", "s-1", "s-2", "kid", "c1", "c2", "org-a", "org-b"])


@st.composite
def actors(draw: st.DrawFn) -> Actor:
    kids = draw(st.lists(ids, unique=True, max_size=3))
    return Actor(
        actor_id=draw(ids),
        role=draw(st.sampled_from(list(Role))),
        organization_id=draw(ids),
        class_ids=tuple(draw(st.lists(ids, max_size=3))),
        children=tuple(
            ChildLink(student_id=k, consent=draw(st.booleans())) for k in kids
        ),
    )


@st.composite
def resources(draw: st.DrawFn) -> Resource:
    return Resource(
        kind=draw(st.sampled_from(list(ResourceKind))),
        organization_id=draw(ids),
        student_id=draw(st.none() | ids),
        class_ids=tuple(draw(st.lists(ids, max_size=3))),
    )


@given(actors(), st.sampled_from(list(Action)), resources())
def test_only_the_system_admin_ever_crosses_an_organization(
    actor: Actor, action: Action, resource: Resource
) -> None:
    """For any actor and resource in different organizations, only a system admin may be allowed."""
    decision = authorize(actor, action, resource)
    if decision.allowed and actor.role is not Role.SYSTEM_ADMIN:
        assert actor.organization_id == resource.organization_id


@given(actors(), st.sampled_from(list(Action)), resources())
def test_an_allowed_decision_is_granted_by_the_matrix_row(
    actor: Actor, action: Action, resource: Resource
) -> None:
    """Nothing is allowed to a role whose matrix row for the action is all denials."""
    if authorize(actor, action, resource).allowed:
        assert "Y" in MATRIX[(Role(actor.role), action)]


@given(
    st.text(max_size=12),
    st.one_of(st.text(max_size=12), st.integers(), st.none()),
    st.text(max_size=12),
)
def test_authorize_is_total_on_arbitrary_text(
    role: str, action: object, kind: str
) -> None:
    """Whatever text arrives as role, action or kind, authorize answers and never raises."""
    actor = Actor(actor_id="u-1", role=role, organization_id=HOME)
    resource = Resource(kind=kind, organization_id=HOME, student_id="u-1")
    decision = authorize(actor, action, resource)  # type: ignore[arg-type]
    assert isinstance(decision, Decision)
    if decision.allowed:
        assert role in set(Role)
        assert action in set(Action)
        assert kind in set(ResourceKind)


# -- require, commands, records -----------------------------------------------------


def test_require_returns_the_decision_when_allowed() -> None:
    """An allowed action returns its decision."""
    decision = require(
        actor_for(Role.STUDENT),
        Action.READ_OWN_PROGRESS,
        resource_for("self", ResourceKind.STEP),
    )
    assert decision.allowed


def test_require_raises_a_typed_error_when_denied() -> None:
    """A denial raises PermissionDeniedError, a ProgressError and a PermissionError, carrying the decision."""
    with pytest.raises(PermissionDeniedError) as caught:
        require(
            actor_for(Role.STUDENT),
            Action.OVERRIDE,
            resource_for("self", ResourceKind.STEP),
        )
    error = caught.value
    assert isinstance(error, ProgressError)
    assert isinstance(error, PermissionError)
    assert not error.decision.allowed
    assert error.actor_id == "u-1"
    assert error.action == "override"
    assert "u-1 may not override" in str(error)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.decision, str(copy)) == (error.decision, str(error))


COMMAND_KW = {
    "command_id": "c-1",
    "student_id": "s-1",
    "assignment_id": "a-1",
}
PERSON_KW = {**COMMAND_KW, "actor_id": "t-1", "reason": "absent"}


@pytest.mark.parametrize(
    ("command", "action"),
    [
        (OverrideComplete(**PERSON_KW, step_id="x", issued_at=T0), Action.OVERRIDE),
        (
            AdjustTarget(**PERSON_KW, step_id="x", target_score=70, issued_at=T0),
            Action.ADJUST_TARGET,
        ),
        (ExtendDueDate(**PERSON_KW, due_at=T0, issued_at=T0), Action.EXTEND_DEADLINE),
        (
            RequestTeacherReview(**COMMAND_KW, actor_id="t-1", issued_at=T0),
            Action.READ_CLASS,
        ),
        (ArchiveAssignment(**PERSON_KW, issued_at=T0), None),
        (StartStep(**COMMAND_KW, step_id="x", started_at=T0, session_id="z"), None),
        (
            Attempt(
                attempt_id="a",
                student_id="s-1",
                assignment_id="a-1",
                step_id="x",
                score=50,
                attempted_at=T0,
                duration_ms=1,
                session_id="z",
            ),
            None,
        ),
    ],
)
def test_each_persons_command_maps_to_its_action(
    command: object, action: Action | None
) -> None:
    """Teacher commands need override, adjust_target, extend_deadline or read_class; system ones none."""
    assert command_action(command) == action


def test_an_access_log_entry_records_a_denial_and_round_trips() -> None:
    """A denied write is logged with who, when, what, on what and why, and survives JSON."""
    actor = actor_for(Role.PARENT)
    resource = resource_for("own_child_with_consent", ResourceKind.STEP)
    decision = authorize(actor, Action.OVERRIDE, resource)
    entry = access_log_entry(
        actor, Action.OVERRIDE, resource, decision, entry_id="log-1", occurred_at=T0
    )
    assert (entry.allowed, entry.action, entry.role, entry.student_id) == (
        False,
        "override",
        "parent",
        "kid-consented",
    )
    assert entry.reason == decision.reason
    assert entry.rule == decision.rule
    assert from_json(to_json(entry), AccessLogEntry) == entry


def test_known_role_text_becomes_the_role() -> None:
    """An actor built with the text 'teacher' holds Role.TEACHER; unknown text is kept."""
    assert Actor(actor_id="t", role="teacher", organization_id="o").role is Role.TEACHER
    assert Actor(actor_id="t", role="coach", organization_id="o").role == "coach"
    assert Resource(kind="step", organization_id="o").kind is ResourceKind.STEP


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"actor_id": ""}, "actor_id"),
        ({"organization_id": " "}, "organization_id"),
        ({"role": None}, "role"),
        ({"class_ids": ["c1"]}, "class_ids"),
        (
            {
                "children": (
                    ChildLink(student_id="k", consent=True),
                    ChildLink(student_id="k", consent=False),
                )
            },
            "children",
        ),
    ],
)
def test_malformed_actors_are_rejected_naming_the_field(
    changes: dict[str, Any], field: str
) -> None:
    """An actor with a blank id, a non-text role, a list or a child listed twice is refused."""
    with pytest.raises(InvalidInputError) as caught:
        attrs.evolve(actor_for(Role.PARENT), **changes)
    assert caught.value.field == field
