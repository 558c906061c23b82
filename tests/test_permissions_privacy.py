"""Privacy (the spec's open questions, decided): subject-access export and
deactivation by pseudonym, both authorized and audited, nothing deleted."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlc_progress import (
    AssignmentProgress,
    Attempt,
    AuditEntry,
    InvalidInputError,
    ProgressSnapshot,
    ScopeType,
    SnapshotTrigger,
    StepProgress,
    StudentProgressSummary,
    structure,
    unstructure,
)
from mlc_progress._permissions import (
    AccessLogEntry,
    Action,
    Actor,
    ChildLink,
    PermissionDeniedError,
    Resource,
    ResourceKind,
    Role,
    access_log_entry,
    authorize,
)
from mlc_progress._privacy import (
    EXPORT_FORMAT,
    Pseudonym,
    export_student_data,
    pseudonym_for,
    pseudonym_mapping,
    pseudonymize,
    pseudonymize_student,
)
from mlc_progress._retention import (
    fold_snapshots,
    is_step_aggregate,
    plan_retention,
    step_snapshot,
    student_snapshot,
)
from mlc_progress._views import class_overview, student_dashboard
from tests.test_views import AS_OF, DIRECTORY, WORLD

KEY = b"0123456789abcdef-secret"
ADMIN = Actor(actor_id="admin-a", role=Role.ADMIN, organization_id="org-a")
ROOT = Actor(actor_id="root", role=Role.SYSTEM_ADMIN, organization_id="platform")

REFUSED = [
    Actor(actor_id="admin-b", role=Role.ADMIN, organization_id="org-b"),
    Actor(
        actor_id="teacher-t",
        role=Role.TEACHER,
        organization_id="org-a",
        class_ids=("c1",),
    ),
    Actor(actor_id="bo", role=Role.STUDENT, organization_id="org-a", class_ids=("c1",)),
    Actor(
        actor_id="mum",
        role=Role.PARENT,
        organization_id="org-a",
        children=(ChildLink(student_id="bo", consent=True),),
    ),
    Actor(actor_id="guest", role="guest", organization_id="org-a"),
]


def bo_records() -> dict[str, Any]:
    steps = [s for r in WORLD.of("bo") for s in r.steps]
    assignments = [r.progress for r in WORLD.of("bo")]
    snapshot = ProgressSnapshot(
        snapshot_id="snap-bo",
        snapshot_date=AS_OF,
        student_id="bo",
        scope_type=ScopeType.ASSIGNMENT,
        scope_id="fractions-1",
        state_snapshot={"assignment": unstructure(assignments[0])},
        metrics_snapshot={
            "completion_percentage": 33.3,
            "mastery_score": 7.9,
            "time_on_task_ms": 0,
        },
        trigger=SnapshotTrigger.MANUAL,
    )
    return {
        "steps": steps,
        "assignments": assignments,
        "summaries": [WORLD.summaries["bo"]],
        "snapshots": [snapshot],
        "attempts": [a for a in WORLD.attempts if a.student_id == "bo"],
        "audit_entries": [e for e in WORLD.audit if e.student_id == "bo"],
    }


def everyone() -> dict[str, Any]:
    """Every student's records, as a careless caller might pass them."""
    other_org = StudentProgressSummary(
        student_id="bo", organization_id="org-b", streak_days=9
    )
    return {
        "steps": [s for rs in WORLD.records.values() for r in rs for s in r.steps],
        "assignments": WORLD.progress(),
        "summaries": [*WORLD.summaries.values(), other_org],
        "snapshots": bo_records()["snapshots"],
        "attempts": WORLD.attempts,
        "audit_entries": WORLD.audit,
    }


def export(actor: Actor, **records: Any) -> Any:
    return export_student_data(
        actor,
        student_id="bo",
        organization_id="org-a",
        class_ids=("c1",),
        purpose="subject access request 17",
        as_of=AS_OF,
        export_id="export-1",
        **records,
    )


# -- subject access export --------------------------------------------------------------


def test_an_export_holds_every_record_of_the_student() -> None:
    """The organization admin's export has Bo's steps, assignments, summary, snapshot, attempts and audit."""
    mine = bo_records()
    result = export(ADMIN, **mine)
    document = result.document
    assert document["format"] == EXPORT_FORMAT
    assert (document["student_id"], document["organization_id"]) == ("bo", "org-a")
    assert document["exported_at"] == "2026-09-11T00:00:00Z"
    assert document["counts"] == {
        "steps": len(mine["steps"]),
        "assignments": 2,
        "sequences": 0,
        "summaries": 1,
        "snapshots": 1,
        "attempts": 8,
        "audit_entries": 2,
        "access_log": 0,
        "pseudonyms": 0,
    }
    assert json.loads(result.to_json()) == document


def test_an_export_reads_back_into_equal_records() -> None:
    """Each exported record structures back to the record that was passed in."""
    mine = bo_records()
    records = export(ADMIN, **mine).document["records"]
    kinds = {
        "steps": StepProgress,
        "assignments": AssignmentProgress,
        "summaries": StudentProgressSummary,
        "snapshots": ProgressSnapshot,
        "attempts": Attempt,
        "audit_entries": AuditEntry,
    }
    for name, cls in kinds.items():
        back: list[Any] = [structure(item, cls) for item in records[name]]
        assert len(back) == len(mine[name]), name
        assert all(record in mine[name] for record in back), name


def test_an_export_leaves_out_everyone_else() -> None:
    """Given the whole class's records, the export holds Bo's only, and only org-a's summary."""
    document = export(ADMIN, **everyone()).document
    assert document["counts"] == export(ADMIN, **bo_records()).document["counts"]
    flat = json.dumps(document["records"])
    for other in ("ada", "eve", "org-b"):
        assert f'"{other}"' not in flat


def test_an_export_is_audited() -> None:
    """The export comes with an access-log line: who, when, what, on whom, and the purpose."""
    result = export(ADMIN, **bo_records())
    audit = result.audit
    assert (audit.actor_id, audit.action, audit.student_id, audit.allowed) == (
        "admin-a",
        "export_student_data",
        "bo",
        True,
    )
    assert audit.purpose == "subject access request 17"
    assert audit.occurred_at == AS_OF


def test_a_previous_exports_log_line_is_in_the_next_export() -> None:
    """Access-log lines about the student are part of their data."""
    first = export(ADMIN, **bo_records())
    second = export(ADMIN, **bo_records(), access_log=[first.audit])
    assert second.document["counts"]["access_log"] == 1
    assert (
        structure(second.document["records"]["access_log"][0], AccessLogEntry)
        == first.audit
    )


def test_the_system_admin_may_export_across_organizations() -> None:
    """A system admin from the platform organization may answer the request."""
    assert export(ROOT, **bo_records()).audit.allowed


@pytest.mark.parametrize(
    "actor", REFUSED, ids=lambda a: f"{a.role}-{a.organization_id}"
)
def test_others_may_not_export(actor: Actor) -> None:
    """Another organization's admin, teachers, the student, parents and unknown roles are refused."""
    with pytest.raises(PermissionDeniedError) as caught:
        export(actor, **bo_records())
    assert not caught.value.decision.allowed


def test_a_refused_export_can_be_logged() -> None:
    """A refusal raises with its decision; the service logs it with access_log_entry."""
    teacher = REFUSED[1]
    resource = Resource.of_student(
        ResourceKind.STUDENT,
        organization_id="org-a",
        student_id="bo",
        class_ids=("c1",),
    )
    with pytest.raises(PermissionDeniedError) as caught:
        export(teacher, **bo_records())
    entry = access_log_entry(
        teacher,
        Action.EXPORT_STUDENT_DATA,
        resource,
        caught.value.decision,
        entry_id="log-9",
        occurred_at=AS_OF,
        purpose="curious",
    )
    assert not entry.allowed
    assert (
        entry.reason == authorize(teacher, Action.EXPORT_STUDENT_DATA, resource).reason
    )


# -- deactivation by pseudonym -------------------------------------------------------------


def deactivate(
    actor: Actor = ADMIN, student_id: str = "bo", organization_id: str = "org-a"
) -> Any:
    return pseudonymize_student(
        actor,
        student_id=student_id,
        organization_id=organization_id,
        key=KEY,
        reason="account closed at parent's request",
        as_of=AS_OF,
        entry_id="log-2",
    )


def test_deactivation_appends_a_pseudonym_and_an_audit_line() -> None:
    """Deactivating Bo gives a keyed pseudonym record and an access-log line; nothing is removed."""
    done = deactivate()
    assert done.pseudonym == Pseudonym(
        student_id="bo",
        organization_id="org-a",
        pseudonym=pseudonym_for("bo", organization_id="org-a", key=KEY),
        deactivated_at=AS_OF,
        actor_id="admin-a",
        reason="account closed at parent's request",
    )
    assert done.pseudonym.pseudonym.startswith("anon-")
    assert (done.audit.action, done.audit.allowed, done.audit.purpose) == (
        "deactivate_student",
        True,
        "account closed at parent's request",
    )


def test_pseudonyms_are_deterministic_per_key_and_organization() -> None:
    """The same key gives the same pseudonym; another key or organization gives another."""
    one = pseudonym_for("bo", organization_id="org-a", key=KEY)
    assert one == deactivate().pseudonym.pseudonym
    assert one != pseudonym_for("bo", organization_id="org-b", key=KEY)
    assert one != pseudonym_for("bo", organization_id="org-a", key=KEY + b"!")
    assert "bo" not in one.removeprefix("anon-")


@pytest.mark.parametrize("key", [b"", b"short", "a text key of 20 chars"])
def test_weak_keys_are_refused(key: Any) -> None:
    """A key under 16 bytes, or text, is refused without echoing it."""
    with pytest.raises(InvalidInputError) as caught:
        pseudonym_for("bo", organization_id="org-a", key=key)
    assert caught.value.field == "key"
    assert caught.value.value == "<hidden>"


@pytest.mark.parametrize(
    "actor", REFUSED, ids=lambda a: f"{a.role}-{a.organization_id}"
)
def test_others_may_not_deactivate(actor: Actor) -> None:
    """Only the organization admin and the system admin deactivate a student."""
    with pytest.raises(PermissionDeniedError):
        deactivate(actor)
    assert deactivate(ROOT).audit.allowed


def test_reads_after_deactivation_show_the_pseudonym() -> None:
    """Records, nested snapshot state and audit entries read back under the pseudonym."""
    mapping = pseudonym_mapping([deactivate().pseudonym], organization_id="org-a")
    pseudonym = mapping["bo"]
    mine = bo_records()
    for record in [
        *mine["steps"],
        *mine["assignments"],
        *mine["attempts"],
        *mine["audit_entries"],
    ]:
        shown = pseudonymize(record, mapping)
        assert shown.student_id == pseudonym
        assert '"bo"' not in json.dumps(unstructure(shown))
        assert record.student_id == "bo"  # the stored record is untouched
    snapshot = pseudonymize(mine["snapshots"][0], mapping)
    assert snapshot.state_snapshot["assignment"]["student_id"] == pseudonym


def test_a_pseudonym_applies_only_in_its_organization() -> None:
    """Org-b's mapping does not rename org-a's Bo, whose id collides."""
    done = deactivate(ROOT, organization_id="org-b")
    assert pseudonym_mapping([done.pseudonym], organization_id="org-a") == {}


def test_views_built_after_deactivation_do_not_name_the_student() -> None:
    """The class grid and the dashboard show the pseudonym, never Bo's id or name."""
    mapping = pseudonym_mapping([deactivate().pseudonym], organization_id="org-a")
    pseudonym = mapping["bo"]
    progress = [pseudonymize(p, mapping) for p in WORLD.progress()]
    grid = class_overview(
        "c1",
        students=[mapping.get(s, s) for s in ("ada", "bo")],
        assignment_ids=["fractions-1"],
        progress=progress,
        as_of=AS_OF,
        directory=DIRECTORY,
    )
    assert [r.student_name for r in grid.rows] == ["Ada", pseudonym]
    dashboard = student_dashboard(
        pseudonym,
        [pseudonymize(r, mapping) for r in WORLD.of("bo")],
        as_of=AS_OF,
        directory=DIRECTORY,
    )
    assert "Bo" not in json.dumps(unstructure(dashboard))


@given(st.sampled_from([r for rs in WORLD.records.values() for r in rs]))
def test_an_empty_mapping_changes_nothing(records: Any) -> None:
    """With no deactivations, pseudonymize returns the very same records."""
    assert pseudonymize(records, {}) is records
    assert (
        pseudonymize(records.progress, {"someone-else": "anon-x"}) is records.progress
    )


def test_pseudonymize_keeps_records_valid() -> None:
    """A renamed record is still a valid record of its class (validators run)."""
    mapping = {"bo": "anon-123"}
    step = pseudonymize(bo_records()["steps"][0], mapping)
    assert attrs.evolve(step) == step


def test_a_student_snapshot_reads_back_with_no_real_id() -> None:
    """Q34: a student snapshot's scope_id (the student's id) shows the pseudonym too."""
    mapping = pseudonym_mapping([deactivate().pseudonym], organization_id="org-a")
    snap = student_snapshot(
        StudentProgressSummary(student_id="bo", organization_id="org-a"),
        snapshot_id="snap-bo",
        snapshot_date=AS_OF,
        trigger=SnapshotTrigger.SCHEDULED,
    )
    shown = pseudonymize(snap, mapping)
    assert (shown.student_id, shown.scope_id) == (mapping["bo"], mapping["bo"])
    assert shown.state_snapshot["student_id"] == mapping["bo"]
    assert '"bo"' not in json.dumps(unstructure(shown))
    assert shown.snapshot_id == "snap-bo"  # a host's id is left as written
    # The same holds for the snapshot as data (an audit entry's before/after).
    assert pseudonymize(unstructure(snap), mapping) == unstructure(shown)


def test_a_step_aggregate_reads_back_with_no_real_id() -> None:
    """Q34, D22: the library-built step_aggregate/<student>/ id shows the pseudonym."""
    mapping = pseudonym_mapping([deactivate().pseudonym], organization_id="org-a")
    old = step_snapshot(
        StepProgress(
            step_id="s1", assignment_id="a1", student_id="bo", target_score=80
        ),
        snapshot_id="snap-old",
        snapshot_date=AS_OF - timedelta(days=120),
        trigger=SnapshotTrigger.SCHEDULED,
    )
    (group,) = plan_retention([old], now=AS_OF).fold
    aggregate = fold_snapshots(group, [old])
    shown = pseudonymize(aggregate, mapping)
    rest = aggregate.snapshot_id.removeprefix("step_aggregate/bo/")
    assert shown.snapshot_id == f"step_aggregate/{mapping['bo']}/{rest}"
    assert pseudonymize(group, mapping).aggregate_id == shown.snapshot_id
    assert is_step_aggregate(shown)
    assert '"bo"' not in json.dumps(unstructure(shown))
    assert "/bo/" not in json.dumps(unstructure(shown))
    assert aggregate.snapshot_id.startswith("step_aggregate/bo/")  # stored as built
    assert pseudonymize(aggregate, {"ada": "anon-1"}) is aggregate
    assert pseudonymize(unstructure(aggregate), mapping) == unstructure(shown)
