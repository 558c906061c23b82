"""One state machine drives both adapters with the same operations.

Attempts (late ones included), re-deliveries, batches, starts, overrides,
clock moves, relays and reopening the SQLite file. After every step the two
stores hold the same records, logs and outbox, and the invariants hold:
completion in [0, 100], attempt_count equals the distinct attempt ids
applied to the step, best_score is the max of their scores, and append-only
logs only ever grow (what was there stays, in order).
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from mlc_progress import Attempt, Outcome, ProgressError
from mlc_progress.adapters import InMemoryEventSink

from .test_service_support import (
    NOW,
    ORG,
    OVERRIDER,
    Adapter,
    attempt,
    dump,
    override,
    start,
)

STUDENTS = ("u1", "u2")
TARGETS = (("a1", "s1"), ("a1", "s2"), ("a1", "s3"), ("a2", "s1"), ("a2", "s2"))
APPEND_ONLY = ("attempts", "snapshots", "audit", "outbox")


def _run(adapter: Adapter, work: Any) -> Any:
    """The outcome of ``work(service)``, or the type of the error it raised."""
    try:
        return work(adapter.service())
    except ProgressError as exc:
        return type(exc)


class AdapterAgreement(RuleBasedStateMachine):
    """The in-memory and the SQLite adapter, side by side."""

    @initialize()
    def open_stores(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="mlc-stateful-"))
        self.memory = Adapter("memory", self.folder)
        self.sqlite = Adapter("sqlite", self.folder)
        self.now = NOW
        self.serial = 0
        self.sent: list[Attempt] = []
        self.delivered: list[Attempt] = []
        # Scores of the attempts applied, by (student, assignment, step).
        self.applied: dict[tuple[str, str, str], dict[str, float]] = {}
        self.logs: dict[str, tuple[Any, ...]] = {}
        self.sinks = (InMemoryEventSink(), InMemoryEventSink())

    def teardown(self) -> None:
        if hasattr(self, "sqlite"):
            self.sqlite.close()
            shutil.rmtree(self.folder, ignore_errors=True)

    # -- helpers ------------------------------------------------------------------

    def both(self, work: Any) -> Any:
        """Run ``work`` on both adapters; they must answer alike."""
        on_memory = _run(self.memory, work)
        on_sqlite = _run(self.sqlite, work)
        assert on_memory == on_sqlite
        return on_memory

    def note_applied(self, attempts: list[Attempt], outcomes: Any) -> None:
        if not isinstance(outcomes, tuple):
            return
        for sent, outcome in zip(attempts, outcomes, strict=True):
            if isinstance(outcome, Outcome) and outcome.applied:
                key = (sent.student_id, sent.assignment_id, sent.step_id)
                self.applied.setdefault(key, {})[sent.attempt_id] = sent.score
                self.delivered.append(sent)

    def new_attempt(
        self, student: str, where: tuple[str, str], score: int, minutes_back: int
    ) -> Attempt:
        self.serial += 1
        made = attempt(
            f"t{self.serial}",
            student_id=student,
            assignment_id=where[0],
            step_id=where[1],
            score=float(score),
            at=self.now - timedelta(minutes=minutes_back),
            session_id=f"x{minutes_back // 60}",
        )
        self.sent.append(made)
        return made

    # -- rules ------------------------------------------------------------------------

    @rule(
        student=st.sampled_from(STUDENTS),
        where=st.sampled_from(TARGETS),
        score=st.integers(min_value=0, max_value=100),
        minutes_back=st.integers(min_value=0, max_value=600),
    )
    def attempt(
        self, student: str, where: tuple[str, str], score: int, minutes_back: int
    ) -> None:
        """A new attempt, possibly stamped before earlier ones (late delivery)."""
        made = self.new_attempt(student, where, score, minutes_back)
        outcome = self.both(lambda s: s.apply(ORG, made))
        self.note_applied([made], (outcome,))

    @precondition(lambda self: bool(self.delivered))
    @rule(data=st.data())
    def redeliver(self, data: st.DataObject) -> None:
        """An applied attempt delivered again changes nothing (D3)."""
        again = data.draw(st.sampled_from(self.delivered))
        before = dump(self.sqlite.store)
        outcome = self.both(lambda s: s.apply(ORG, again))
        assert isinstance(outcome, Outcome)
        assert not outcome.applied
        assert dump(self.sqlite.store) == before

    @rule(
        student=st.sampled_from(STUDENTS),
        where=st.sampled_from(TARGETS),
        scores=st.lists(st.integers(min_value=0, max_value=100), max_size=4),
        repeat=st.booleans(),
    )
    def batch(
        self, student: str, where: tuple[str, str], scores: list[int], repeat: bool
    ) -> None:
        """A batch of attempts in one transaction, maybe with a re-delivery."""
        made = [self.new_attempt(student, where, s, i) for i, s in enumerate(scores)]
        if repeat and self.delivered:
            made.append(self.delivered[0])
        outcomes = self.both(lambda s: s.apply_many(ORG, made))
        self.note_applied(made, outcomes)

    @rule(student=st.sampled_from(STUDENTS), step=st.sampled_from(("s1", "s2", "s3")))
    def start_step(self, student: str, step: str) -> None:
        self.serial += 1
        command = start(
            f"c{self.serial}", student_id=student, step_id=step, at=self.now
        )
        self.both(lambda s: s.apply(ORG, command))

    @rule(student=st.sampled_from(STUDENTS), step=st.sampled_from(("s1", "s2", "s4")))
    def teacher_override(self, student: str, step: str) -> None:
        self.serial += 1
        command = override(
            f"c{self.serial}", student_id=student, step_id=step, at=self.now
        )
        self.both(lambda s: s.apply(ORG, command, actor=OVERRIDER))

    @rule(minutes=st.integers(min_value=1, max_value=3 * 24 * 60))
    def time_passes(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)
        self.memory.clock.set(self.now)
        self.sqlite.clock.set(self.now)

    @rule()
    def reopen_sqlite(self) -> None:
        """Closing and reopening the database file loses nothing."""
        self.sqlite.reopen()

    @rule(limit=st.integers(min_value=1, max_value=20))
    def relay(self, limit: int) -> None:
        """Both relays publish the same envelopes to the same destinations."""
        on_memory = self.memory.service().relay_events(ORG, self.sinks[0], limit=limit)
        on_sqlite = self.sqlite.service().relay_events(ORG, self.sinks[1], limit=limit)
        assert on_memory == on_sqlite
        assert self.sinks[0].published == self.sinks[1].published

    # -- invariants -------------------------------------------------------------------

    @invariant()
    def adapters_agree_and_invariants_hold(self) -> None:
        if not hasattr(self, "sqlite"):
            return
        on_memory = dump(self.memory.store)
        on_sqlite = dump(self.sqlite.store)
        assert on_memory == on_sqlite
        for key, value in on_sqlite.items():
            kind, _, who = key.partition(" ")
            if kind == "assignment" and value is not None:
                assert 0 <= value[0].completion_percentage <= 100
            if kind == "steps":
                student, assignment_id = who.split("/")
                logged = on_sqlite[f"attempts {who}"]
                for step_id, (record, _) in value.items():
                    scores = self.applied.get((student, assignment_id, step_id), {})
                    ids = {a.attempt_id for a in logged if a.step_id == step_id}
                    assert record.attempt_count == len(scores) == len(ids)
                    if scores:
                        assert record.best_score == max(scores.values())
            if kind in APPEND_ONLY or key == "outbox":
                before = self.logs.get(key, ())
                assert value[: len(before)] == before, f"{key} lost entries"
                self.logs[key] = value


AdapterAgreement.TestCase.settings = settings(
    max_examples=25, stateful_step_count=30, deadline=None
)
TestAdapterAgreement = AdapterAgreement.TestCase
