"""At-risk students of an OULAD module presentation on one day, and what
became of them.

    python examples/oulad_at_risk.py [--presentation BBB-2013J] [--day 60]
        [--limit 20] [--inactive-days N] [--store memory|sqlite] [--data DIR]

The presentation is loaded with ``oulad.load`` (a class and one assignment;
assessments are steps due at their cut-off days; the pass mark 40 is every
step's target; submissions are attempts at noon of their day). Its students
who are registered on the day and have not withdrawn by it are enrolled;
their submissions up to the day go through ``ProgressService.apply_many``
into a store; then ``run_batch`` computes every summary and at-risk flag
(D17) as of the end of the day. The script prints the flagged students with
their factors, and a table of flagged and not flagged students against
their final results: how many went on to fail or withdraw. Students who
withdrew on or before the day are left out and counted apart.

One threshold is adapted, and said so in the output: OULAD records no
activity but submissions (the click-stream tables are not included), and
submissions follow the assessment calendar, weeks apart. D17's 7 days
without activity is therefore counted from that calendar: a student is
inactive after 7 days beyond the longest interval between consecutive
cut-off days begun by the day, the one under way included (with D17's plain
7 days, every student between two assessments would be flagged;
``--inactive-days`` sets it). ``--presentation all`` runs every
presentation and prints one table row each and a total.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from oulad import ORGANIZATION_ID, Presentation, load

from mlc_progress import Policy
from mlc_progress._batch_runner import BatchReport, enroll, run_batch
from mlc_progress._ports import BatchStore, Enrollment
from mlc_progress._risk import RiskFactor
from mlc_progress._service import ProgressService
from mlc_progress.adapters import (
    FixedClock,
    InMemoryCatalog,
    InMemoryStore,
    SQLiteStore,
)

#: OULAD's final results, in the order of the table's columns.
RESULTS = ("Pass", "Distinction", "Fail", "Withdrawn")
#: The final results counted as a bad outcome.
BAD = frozenset({"Fail", "Withdrawn"})
#: D17's grace period: days without activity beyond the assessment rhythm.
GRACE_DAYS = 7


@dataclass(frozen=True)
class Student:
    """One student followed from the day: their flag and final result."""

    student_id: str
    final_result: str
    factors: tuple[str, ...]

    @property
    def at_risk(self) -> bool:
        return bool(self.factors)


@dataclass(frozen=True)
class Analysis:
    """A presentation as of a day: who was followed, who was flagged."""

    class_id: str
    day: int
    as_of: datetime
    registered: int
    withdrawn_before: int
    not_yet_registered: int
    attempts_applied: int
    inactive_days: int
    inactive_days_given: bool
    students: tuple[Student, ...]
    report: BatchReport

    @property
    def flagged(self) -> tuple[Student, ...]:
        return tuple(s for s in self.students if s.at_risk)


def inactive_days_for(presentation: Presentation, day: int) -> int:
    """D17's inactivity threshold on OULAD's calendar: 7 days beyond the
    longest interval between consecutive cut-off days (from day 0) that has
    begun by ``day``, the interval under way included."""
    start = presentation.start
    cut_offs = sorted(
        {(s.due_at - start).days for s in presentation.structure.steps if s.due_at}
    )
    gaps = [
        b - a
        for a, b in zip([0, *cut_offs], cut_offs, strict=False)
        if a <= day and b > a
    ]
    return GRACE_DAYS + max(gaps, default=0)


@contextmanager
def _store(kind: str) -> Iterator[tuple[BatchStore, InMemoryCatalog]]:
    catalog = InMemoryCatalog()
    if kind == "memory":
        yield InMemoryStore(), catalog
        return
    with (
        tempfile.TemporaryDirectory() as folder,
        SQLiteStore(Path(folder) / "oulad.db") as store,
    ):
        yield store, catalog


def analyse(
    presentation: Presentation,
    day: int,
    *,
    inactive_days: int | None = None,
    store_kind: str = "memory",
) -> Analysis:
    """Load the presentation as of the end of ``day`` and run the batch job."""
    p = presentation
    as_of = p.day(day) + timedelta(hours=23, minutes=59)
    registered = sorted(p.final_results, key=int)
    withdrawn = {s for s in registered if p.unregistered_day.get(s, day + 1) <= day}
    later = {
        s
        for s in registered
        if s not in withdrawn and p.registered_day.get(s, day) > day
    }
    followed = [s for s in registered if s not in withdrawn and s not in later]
    attempts = sorted(
        (a for s in followed for a in p.attempts.get(s, ()) if a.attempted_at <= as_of),
        key=lambda a: (a.attempted_at, a.attempt_id),
    )
    threshold = (
        inactive_days if inactive_days is not None else inactive_days_for(p, day)
    )
    policy = Policy(risk_inactive_days=threshold)
    with _store(store_kind) as (store, catalog):
        catalog.add_assignment(ORGANIZATION_ID, p.structure)
        service = ProgressService(
            store.unit_of_work, catalog, FixedClock(as_of), policy=policy
        )
        for i in range(0, len(attempts), 1000):
            service.apply_many(ORGANIZATION_ID, attempts[i : i + 1000])
        enroll(
            store,
            ORGANIZATION_ID,
            [
                Enrollment(
                    student_id=s, class_ids=(p.class_id,), assignment_ids=(p.class_id,)
                )
                for s in followed
            ],
        )
        report = run_batch(
            store,
            catalog,
            ORGANIZATION_ID,
            as_of=as_of,
            policy=policy,
            job_id=f"{p.class_id}-day-{day}",
        )
        with store.unit_of_work() as uow:
            students = []
            for s in followed:
                found = uow.summaries.get(ORGANIZATION_ID, s)
                assert found is not None, f"no summary for {s}"
                students.append(
                    Student(
                        student_id=s,
                        final_result=p.final_results[s],
                        factors=found.record.risk_factors,
                    )
                )
    return Analysis(
        class_id=p.class_id,
        day=day,
        as_of=as_of,
        registered=len(registered),
        withdrawn_before=len(withdrawn),
        not_yet_registered=len(later),
        attempts_applied=len(attempts),
        inactive_days=threshold,
        inactive_days_given=inactive_days is not None,
        students=tuple(students),
        report=report,
    )


# -- output ---------------------------------------------------------------------------


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _row(label: str, students: Sequence[Student]) -> str:
    counts = [sum(1 for s in students if s.final_result == r) for r in RESULTS]
    bad = sum(1 for s in students if s.final_result in BAD)
    cells = "".join(f"{c:>12}" for c in counts)
    return (
        f"  {label:<18}{cells}{len(students):>8}"
        f"{bad:>8} ({_percent(bad, len(students))})"
    )


def outcome_table(students: Sequence[Student], *, label: str) -> list[str]:
    """Flagged and not flagged students by final result, with the share that
    went on to fail or withdraw, and precision and recall."""
    flagged = [s for s in students if s.at_risk]
    calm = [s for s in students if not s.at_risk]
    bad = [s for s in students if s.final_result in BAD]
    caught = sum(1 for s in flagged if s.final_result in BAD)
    header = "".join(f"{r:>12}" for r in RESULTS)
    return [
        f"  {'':<18}{header}{'total':>8}  failed or withdrew",
        _row("flagged at risk", flagged),
        _row("not flagged", calm),
        _row("all followed", students),
        "",
        f"Of the flagged, {_percent(caught, len(flagged))} went on to fail or"
        f" withdraw (precision), against {_percent(len(bad), len(students))} of"
        " every followed student.",
        f"Of those who went on to fail or withdraw, {_percent(caught, len(bad))}"
        f" were flagged {label} (recall).",
    ]


def by_factor_kind(students: Sequence[Student]) -> list[str]:
    """For each rule of D17 that fired: how many it flagged, and their fate."""
    lines = []
    kinds: dict[str, list[Student]] = {}
    for s in students:
        for code in s.factors:
            factor = RiskFactor.from_code(code)
            kind = factor.rule.value if factor is not None else code
            kinds.setdefault(kind, []).append(s)
    for kind, group in sorted(kinds.items()):
        bad = sum(1 for s in group if s.final_result in BAD)
        lines.append(
            f"  {kind:<12}{len(group):>6} flagged,"
            f" {_percent(bad, len(group))} failed or withdrew"
        )
    return lines


def render(analysis: Analysis, *, limit: int = 20) -> str:
    """The report for one presentation."""
    a = analysis
    flagged = a.flagged
    why = (
        "--inactive-days"
        if a.inactive_days_given
        else f"{GRACE_DAYS} beyond the longest interval between cut-offs begun"
        " by the day"
    )
    lines = [
        f"OULAD {a.class_id}, day {a.day} (as of {a.as_of:%Y-%m-%d %H:%M} UTC)",
        f"registered: {a.registered}; withdrew on or before day {a.day}:"
        f" {a.withdrawn_before} (left out); registered after day {a.day}:"
        f" {a.not_yet_registered} (left out); followed: {len(a.students)}",
        f"submissions applied: {a.attempts_applied}; inactive after"
        f" {a.inactive_days} days ({why})",
        "",
        f"At risk on day {a.day}: {len(flagged)} students",
        f"  {'student':<10}{'final result':<14}factors",
    ]
    shown = flagged if limit <= 0 else flagged[:limit]
    lines += [
        f"  {s.student_id:<10}{s.final_result:<14}{', '.join(s.factors)}" for s in shown
    ]
    if len(shown) < len(flagged):
        lines.append(
            f"  ... and {len(flagged) - len(shown)} more (--limit 0 lists all)"
        )
    lines += ["", *outcome_table(a.students, label=f"on day {a.day}"), ""]
    lines += ["By factor kind:", *by_factor_kind(a.students)]
    return "\n".join(lines)


def render_all(analyses: Sequence[Analysis]) -> str:
    """One line per presentation, then the table over all of them."""
    lines = [
        f"  {'presentation':<12}{'followed':>9}{'flagged':>9}"
        f"{'precision':>11}{'recall':>9}{'base rate':>11}"
    ]
    everyone: list[Student] = []
    for a in analyses:
        flagged = a.flagged
        bad = [s for s in a.students if s.final_result in BAD]
        caught = sum(1 for s in flagged if s.final_result in BAD)
        lines.append(
            f"  {a.class_id:<12}{len(a.students):>9}{len(flagged):>9}"
            f"{_percent(caught, len(flagged)):>11}{_percent(caught, len(bad)):>9}"
            f"{_percent(len(bad), len(a.students)):>11}"
        )
        everyone.extend(a.students)
    day = analyses[0].day if analyses else 0
    return "\n".join(
        [
            f"OULAD, every presentation, day {day}",
            *lines,
            "",
            *outcome_table(everyone, label=f"on day {day}"),
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--presentation", default="BBB-2013J", help="e.g. BBB-2013J, or all"
    )
    parser.add_argument("--day", type=int, default=60, help="the cut-off day")
    parser.add_argument(
        "--limit", type=int, default=20, help="flagged students listed (0: all)"
    )
    parser.add_argument("--inactive-days", type=int, help="D17's days without activity")
    parser.add_argument("--store", choices=("memory", "sqlite"), default="memory")
    parser.add_argument("--data", type=Path, help="the OULAD CSV directory")
    args = parser.parse_args(argv)
    if args.day < 0:
        parser.error("--day is a day of the presentation, 0 or more")
    if args.inactive_days is not None and args.inactive_days < 1:
        parser.error("--inactive-days is 1 or more")
    presentations = load(args.data)
    if args.presentation == "all":
        analyses = [
            analyse(
                presentations[code],
                args.day,
                inactive_days=args.inactive_days,
                store_kind=args.store,
            )
            for code in sorted(presentations)
        ]
        print(render_all(analyses))
        return 0
    if args.presentation not in presentations:
        known = ", ".join(sorted(presentations))
        print(
            f"no presentation {args.presentation!r}; one of: {known}", file=sys.stderr
        )
        return 2
    analysis = analyse(
        presentations[args.presentation],
        args.day,
        inactive_days=args.inactive_days,
        store_kind=args.store,
    )
    print(render(analysis, limit=args.limit))
    return 0


if __name__ == "__main__":
    sys.exit(main())
