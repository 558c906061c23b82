"""Issue 5 in the shell: scheduled snapshots taken by the batch runner (D21),
and dismissing an at-risk flag through the ports (Q51), on both adapters."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mlc_progress import InvalidInputError, ScopeType, SnapshotTrigger
from mlc_progress._batch_runner import run_batch, scheduled_snapshot_kinds
from mlc_progress._dismissals import DISMISS_ACTION, dismiss_risk_flag
from mlc_progress._permissions import Actor, PermissionDeniedError, Role
from mlc_progress._ports import BatchStore
from mlc_progress._risk import RiskRule
from mlc_progress._schedule import JobKind
from mlc_progress.adapters import InMemoryCatalog, InMemoryStore, SQLiteStore
from tests.test_batch_runner import (
    AS_OF,
    ORG,
    ORGANIZATION,
    STUDENTS,
    Killed,
    Killing,
    copy_database,
    populate,
)

DAILY = (AS_OF + timedelta(days=1)).replace(hour=0)  # 2026-10-02, a Friday
WEEKLY = DAILY + timedelta(days=2)  # Sunday 2026-10-04 00:00 UTC
TEACHER_OF = {
    s.student_id: k.class_id for k in ORGANIZATION.classes for s in k.students
}


@pytest.fixture(scope="module")
def shell_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("shell") / "template.db"
    with SQLiteStore(path) as store:
        populate(store, store.catalog)
    return path


@pytest.fixture(params=("memory", "sqlite"))
def env(
    request: pytest.FixtureRequest, tmp_path: Path, shell_template: Path
) -> Iterator[tuple[Any, Any]]:
    if request.param == "memory":
        store, catalog = InMemoryStore(), InMemoryCatalog()
        populate(store, catalog)
        yield store, catalog
        return
    copy_database(shell_template, tmp_path / "p.db")
    with SQLiteStore(tmp_path / "p.db") as sqlite:
        yield sqlite, sqlite.catalog


def scheduled(store: BatchStore) -> dict[str, list[str]]:
    """Each student's scheduled snapshot ids, in the order appended."""
    with store.unit_of_work() as uow:
        return {
            sid: [
                s.snapshot_id
                for s in uow.snapshots.for_student(ORG, sid)
                if s.trigger is SnapshotTrigger.SCHEDULED
            ]
            for sid in STUDENTS
        }


# -- scheduled snapshots ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("as_of", "kinds"),
    [
        (DAILY, (JobKind.DAILY_SNAPSHOT,)),
        (WEEKLY, (JobKind.DAILY_SNAPSHOT, JobKind.WEEKLY_ROLLUP)),
        (DAILY + timedelta(hours=9), ()),
        (DAILY + timedelta(seconds=1), ()),
    ],
)
def test_snapshots_are_taken_exactly_at_the_slots(
    as_of: Any, kinds: tuple[JobKind, ...]
) -> None:
    """A job takes the daily snapshot at 00:00 UTC, and the weekly rollup too
    on Sunday 00:00 UTC; at any other moment none (D21)."""
    assert scheduled_snapshot_kinds(as_of) == kinds


def test_a_run_at_the_daily_slot_stores_each_students_snapshots_once(
    env: tuple[Any, Any],
) -> None:
    """Every student gets their daily snapshots, a student-scope one among
    them, dated at the slot; running the job again, or a new job at the same
    slot, appends nothing."""
    store, catalog = env
    report = run_batch(store, catalog, ORG, as_of=DAILY, chunk_size=7)
    assert report.scheduled_snapshots == (JobKind.DAILY_SNAPSHOT,)
    first = scheduled(store)
    for sid, ids in first.items():
        assert f"scheduled/daily/2026-10-02T00:00Z/{sid}/student/{sid}" in ids
        assert len(ids) == len(set(ids)) > 1
    run_batch(store, catalog, ORG, as_of=DAILY, chunk_size=7)
    run_batch(store, catalog, ORG, as_of=DAILY, job_id="second")
    assert scheduled(store) == first


def test_a_run_at_the_weekly_slot_adds_the_weekly_rollup(env: tuple[Any, Any]) -> None:
    """On Sunday 00:00 UTC each student also gets one weekly rollup."""
    store, catalog = env
    run_batch(store, catalog, ORG, as_of=WEEKLY)
    with store.unit_of_work() as uow:
        for sid in STUDENTS:
            rollups = [
                s
                for s in uow.snapshots.for_student(
                    ORG, sid, scope_type=ScopeType.STUDENT
                )
                if s.notes == "weekly_rollup"
            ]
            assert [s.snapshot_date for s in rollups] == [WEEKLY]


def test_a_run_off_the_slots_or_without_snapshots_stores_none(
    env: tuple[Any, Any],
) -> None:
    """At 09:00, or at the slot with ``scheduled_snapshots=False``, no
    scheduled snapshot is stored."""
    store, catalog = env
    off = run_batch(store, catalog, ORG, as_of=DAILY + timedelta(hours=9))
    run_batch(store, catalog, ORG, as_of=DAILY, scheduled_snapshots=False)
    assert off.scheduled_snapshots == ()
    assert all(ids == [] for ids in scheduled(store).values())


@pytest.mark.parametrize("kill_at", [3, 40, 95])
def test_a_killed_and_resumed_run_stores_each_snapshot_exactly_once(
    kill_at: int,
) -> None:
    """Killed mid-chunk and resumed, the job stores the same scheduled
    snapshots, each once, and reports the same as an uninterrupted run."""
    killed, catalog = InMemoryStore(), InMemoryCatalog()
    populate(killed, catalog)
    reference, ref_catalog = InMemoryStore(), InMemoryCatalog()
    populate(reference, ref_catalog)
    with pytest.raises(Killed):
        run_batch(Killing(killed, at=kill_at), catalog, ORG, as_of=WEEKLY, chunk_size=5)
    resumed = run_batch(killed, catalog, ORG, as_of=WEEKLY, chunk_size=5)
    whole = run_batch(reference, ref_catalog, ORG, as_of=WEEKLY, chunk_size=5)
    assert resumed.students_done_before + resumed.students_processed == len(STUDENTS)
    assert scheduled(killed) == scheduled(reference)
    assert resumed.dashboard == whole.dashboard
    assert resumed.summaries_changed == whole.summaries_changed


def test_a_job_resumes_only_with_the_snapshots_it_began_with() -> None:
    """A job begun at a slot without its snapshots refuses to resume with
    them (and the reverse), naming ``scheduled_snapshots``."""
    store, catalog = InMemoryStore(), InMemoryCatalog()
    populate(store, catalog)
    with pytest.raises(Killed):
        run_batch(
            Killing(store, at=60),
            catalog,
            ORG,
            as_of=DAILY,
            chunk_size=5,
            scheduled_snapshots=False,
        )
    with pytest.raises(InvalidInputError) as refused:
        run_batch(store, catalog, ORG, as_of=DAILY, chunk_size=5)
    assert refused.value.field == "scheduled_snapshots"
    assert all(ids == [] for ids in scheduled(store).values())


# -- dismissing a flag through the shell ------------------------------------------------


def teacher(class_id: str) -> Actor:
    return Actor(
        actor_id="t-1", role=Role.TEACHER, organization_id=ORG, class_ids=(class_id,)
    )


def flagged(store: BatchStore) -> list[str]:
    with store.unit_of_work() as uow:
        return [
            sid
            for sid in STUDENTS
            if (found := uow.risk.get(ORG, sid)) is not None and found.record.at_risk
        ]


def test_a_teacher_of_the_class_dismisses_and_the_audit_line_is_logged(
    env: tuple[Any, Any],
) -> None:
    """The state is stored dismissed, the statistics count the dismissed
    rules, and the access log holds an allowed line with the reason."""
    store, catalog = env
    run_batch(store, catalog, ORG, as_of=AS_OF)
    sid = flagged(store)[0]
    dismissal = dismiss_risk_flag(
        store,
        ORG,
        sid,
        actor=teacher(TEACHER_OF[sid]),
        reason="family_holiday",
        as_of=AS_OF,
        dismissal_id="d-1",
    )
    with store.unit_of_work() as uow:
        state = uow.risk.get(ORG, sid)
        stats = uow.risk.dismissal_stats(ORG)
        log = uow.access_log.entries(ORG, student_id=sid)
    assert state is not None
    assert state.record.dismissal == dismissal
    assert stats is not None
    for rule in RiskRule:
        assert stats.record.dismissed.of(rule) == (rule in dismissal.rules)
    assert [(e.entry_id, e.allowed, e.purpose, e.action) for e in log] == [
        ("d-1", True, "family_holiday", str(DISMISS_ACTION))
    ]


@pytest.mark.parametrize(
    "actor",
    [
        Actor(actor_id="t-9", role=Role.TEACHER, organization_id=ORG, class_ids=("x",)),
        Actor(actor_id="a-1", role=Role.ADMIN, organization_id=ORG),
        Actor(actor_id="p-1", role=Role.PARENT, organization_id=ORG),
        Actor(
            actor_id="t-2",
            role=Role.TEACHER,
            organization_id="other-org",
            class_ids=tuple(k.class_id for k in ORGANIZATION.classes),
        ),
    ],
    ids=["other-teacher", "org-admin", "parent", "other-org-teacher"],
)
def test_a_denied_dismissal_stores_nothing_and_is_logged(
    env: tuple[Any, Any], actor: Actor
) -> None:
    """Anyone but a teacher of the student's class or a system admin is
    refused: the state and statistics are unchanged, a denial is logged."""
    store, catalog = env
    run_batch(store, catalog, ORG, as_of=AS_OF)
    sid = flagged(store)[0]
    with store.unit_of_work() as uow:
        before = (uow.risk.get(ORG, sid), uow.risk.dismissal_stats(ORG))
    with pytest.raises(PermissionDeniedError):
        dismiss_risk_flag(store, ORG, sid, actor=actor, reason="r", as_of=AS_OF)
    with store.unit_of_work() as uow:
        assert (uow.risk.get(ORG, sid), uow.risk.dismissal_stats(ORG)) == before
        log = uow.access_log.entries(ORG, student_id=sid)
    assert [(e.actor_id, e.allowed) for e in log] == [(actor.actor_id, False)]


def test_a_student_who_is_not_flagged_or_already_dismissed_is_refused(
    env: tuple[Any, Any],
) -> None:
    """No flag: InvalidInputError on ``at_risk``; a second dismissal:
    InvalidInputError on ``dismissal``; neither stores anything."""
    store, catalog = env
    run_batch(store, catalog, ORG, as_of=AS_OF)
    calm = next(s for s in STUDENTS if s not in flagged(store))
    system = Actor(actor_id="ops", role=Role.SYSTEM_ADMIN, organization_id=ORG)
    with pytest.raises(InvalidInputError) as none:
        dismiss_risk_flag(store, ORG, calm, actor=system, reason="r", as_of=AS_OF)
    assert none.value.field == "at_risk"
    sid = flagged(store)[0]
    first = dismiss_risk_flag(store, ORG, sid, actor=system, reason="r", as_of=AS_OF)
    with pytest.raises(InvalidInputError) as twice:
        dismiss_risk_flag(store, ORG, sid, actor=system, reason="r", as_of=AS_OF)
    assert twice.value.field == "dismissal"
    with store.unit_of_work() as uow:
        stats = uow.risk.dismissal_stats(ORG)
        assert len(uow.access_log.entries(ORG)) == 1
    assert stats is not None
    assert stats.record.dismissed.total() == len(first.rules)


def test_later_runs_keep_a_dismissal_while_the_factor_kinds_hold(
    env: tuple[Any, Any],
) -> None:
    """Every flag dismissed, a later batch keeps each dismissal exactly when
    the student is still flagged with the same factor kinds (Q51), and the
    statistics count each dismissed rule once per dismissal."""
    store, catalog = env
    run_batch(store, catalog, ORG, as_of=AS_OF)
    system = Actor(actor_id="ops", role=Role.SYSTEM_ADMIN, organization_id=ORG)
    rules: dict[str, set[RiskRule]] = {}
    for sid in flagged(store):
        d = dismiss_risk_flag(store, ORG, sid, actor=system, reason="r", as_of=AS_OF)
        rules[sid] = set(d.rules)
    with store.unit_of_work() as uow:
        stats = uow.risk.dismissal_stats(ORG)
    assert stats is not None
    for rule in RiskRule:
        assert stats.record.dismissed.of(rule) == sum(rule in r for r in rules.values())
    later = AS_OF + timedelta(days=12)
    report = run_batch(store, catalog, ORG, as_of=later)
    kept = changed = 0
    with store.unit_of_work() as uow:
        for sid, dismissed in rules.items():
            found = uow.risk.get(ORG, sid)
            assert found is not None
            same = found.record.at_risk and set(found.record.rules) == dismissed
            assert (found.record.dismissal is not None) == same
            kept += same
            changed += not same
    assert kept > 0
    assert changed > 0
    assert report.at_risk_count == len(flagged(store)) - kept


def test_the_same_dismissal_delivered_again_changes_nothing(
    env: tuple[Any, Any],
) -> None:
    """Retrying a dismissal with its id returns the stored dismissal and
    writes nothing more (D3)."""
    store, catalog = env
    run_batch(store, catalog, ORG, as_of=AS_OF)
    sid = flagged(store)[0]

    def dismiss() -> Any:
        return dismiss_risk_flag(
            store,
            ORG,
            sid,
            actor=teacher(TEACHER_OF[sid]),
            reason="family_holiday",
            as_of=AS_OF,
            dismissal_id="d-1",
        )

    first = dismiss()
    with store.unit_of_work() as uow:
        stored = (uow.risk.get(ORG, sid), uow.risk.dismissal_stats(ORG))
        log = uow.access_log.entries(ORG, student_id=sid)
    assert dismiss() == first
    with store.unit_of_work() as uow:
        assert (uow.risk.get(ORG, sid), uow.risk.dismissal_stats(ORG)) == stored
        assert uow.access_log.entries(ORG, student_id=sid) == log


def test_a_later_run_with_nothing_new_rewrites_no_risk_state(
    env: tuple[Any, Any],
) -> None:
    """A state whose only difference is the moment of assessment is not
    written again, and the report counts no change (Q97)."""
    store, catalog = env
    run_batch(store, catalog, ORG, as_of=AS_OF)
    students = flagged(store)
    with store.unit_of_work() as uow:
        before = {sid: uow.risk.get(ORG, sid) for sid in students}
    later = run_batch(store, catalog, ORG, as_of=AS_OF + timedelta(minutes=5))
    with store.unit_of_work() as uow:
        after = {sid: uow.risk.get(ORG, sid) for sid in before}
    assert after == before
    assert later.risk_states_changed == 0
