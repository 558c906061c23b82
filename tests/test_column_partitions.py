"""Column partitions by student: the figures equal the whole table's.

The law: an organization's columns written to any number of partitions and
summarized partition by partition give exactly the per-student figures of
``summarize_columns`` over the whole table (floats bit for bit), whatever
the order the partitions are combined in. Examples pin the file format, the
checks a worker makes on a file and the combined figures' own rules. The
LocalCluster run is in ``tests/test_dask.py``.
"""

from __future__ import annotations

import inspect
import io
import struct
import subprocess
import sys
import tempfile
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlc_progress import (
    AssignmentStructure,
    InvalidInputError,
    Stage,
    StepDefinition,
    StepProgress,
    StepState,
)
from mlc_progress import _column_partitions as partitions_module
from mlc_progress.batch import AssignmentRecords, StudentHistory
from mlc_progress.columnar import StepColumns, StudentFigures, summarize_columns
from mlc_progress.dask import (
    PartitionFigures,
    partition_of,
    read_column_partition,
    summarize_column_partition,
    summarize_column_partitions_locally,
    write_column_partitions,
)

from .test_columnar_support import ORG, Organization, organizations, record_path

T0 = datetime(2026, 9, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=10)
UNIT = AssignmentStructure(
    assignment_id="fractions",
    created_at=T0,
    due_at=T0 + timedelta(days=14),
    steps=tuple(
        StepDefinition(
            step_id=f"s{i}", element_id=f"game-{i}", stage=stage, target_score=80
        )
        for i, stage in enumerate((Stage.LEARN, Stage.PLAY, Stage.QUIZ))
    ),
)


def whole(columns: StepColumns, as_of: datetime, **policy: Any) -> PartitionFigures:
    """The kernel over the whole table, as combined figures."""
    result = summarize_columns(columns, as_of=as_of, **policy)
    return PartitionFigures.combine(
        [
            PartitionFigures(
                organization_id=columns.organization_id,
                student_ids=columns.student_ids,
                figures=result.students,
            )
        ]
    )


def columns_of(org: Organization) -> StepColumns:
    return StepColumns.from_histories(
        org.histories, organization_id=ORG, previous_risk=org.previous
    )


def synthetic_columns(students: int = 30) -> StepColumns:
    from mlc_progress._synthetic import synthetic_histories, synthetic_structures

    structures = synthetic_structures(assignments=3, steps=4, as_of=NOW)
    histories = synthetic_histories(
        structures, students=students, as_of=NOW, organization_id=ORG
    )
    return StepColumns.from_histories(histories)


def dense_columns(student_ids: tuple[str, ...]) -> StepColumns:
    """Every step of every group, in order, without keys (the full layout);
    student ``i`` passed step ``k`` with ``60 + 3 i + k`` on day ``k + i``,
    so every row differs."""
    histories = []
    for i, sid in enumerate(student_ids):
        steps = tuple(
            passed_step(sid, d.step_id, 60.0 + 3 * i + k, T0 + timedelta(days=k + i))
            for k, d in enumerate(UNIT.steps)
        )
        histories.append(
            StudentHistory(
                student_id=sid,
                organization_id=ORG,
                assignments=(AssignmentRecords(structure=UNIT, steps=steps),),
            )
        )
    keyed = StepColumns.from_histories(histories)
    assert keyed.dense
    return StepColumns(
        organization_id=ORG,
        student_ids=keyed.student_ids,
        structures=keyed.structures,
        **{
            name: getattr(keyed, name)
            for name in partitions_module._ARRAYS - {"step_group", "step_index"}
        },
    )


def passed_step(student: str, step_id: str, score: float, when: datetime) -> Any:
    """A step played once with ``score`` (passed at 80 or more)."""
    return StepProgress(
        step_id=step_id,
        assignment_id=UNIT.assignment_id,
        student_id=student,
        state=StepState.COMPLETE if score >= 80 else StepState.IN_PROGRESS,
        started_at=when,
        completed_at=when if score >= 80 else None,
        last_activity_at=when,
        attempt_count=1,
        best_score=score,
        latest_score=score,
        target_score=80,
        passed=score >= 80,
        time_on_task_ms=60_000,
        session_count=1,
        consistency_score=0.0,
        score_mean=score,
        first_attempt_at=when,
        first_score=score,
        latest_attempt_at=when,
    )


# -- the law ----------------------------------------------------------------------


@given(organizations(max_students=5), st.integers(1, 4), st.randoms())
def test_partitioned_figures_equal_the_whole_tables(
    org: Organization, count: int, shuffle: Any
) -> None:
    """For any organization and partition count, summarizing partition by
    partition and combining, in any order, gives the whole table's figures
    exactly; each student's summary is the record path's."""
    columns = columns_of(org)
    expected = whole(columns, org.as_of, policy=org.policy)
    with tempfile.TemporaryDirectory() as folder:
        paths = list(write_column_partitions(columns, folder, partitions=count))
        parts = [
            summarize_column_partition(p, as_of=org.as_of, policy=org.policy)
            for p in paths
        ]
    for index, part in enumerate(parts):
        assert all(partition_of(s, count) == index for s in part.student_ids)
    shuffle.shuffle(parts)
    combined = PartitionFigures.combine(parts)
    assert combined == expected
    for sid, result in record_path(org).items():
        assert combined.summary(sid) == result.summary
        assert combined.assessed_factors(sid) == result.risk.assessment.codes


@given(st.lists(st.text(min_size=1), max_size=5), st.integers(1, 50))
def test_a_students_partition_is_stable_and_in_range(
    ids: list[str], count: int
) -> None:
    """Any text id, even one no UTF-8 encoder takes, has a partition in
    range, the same each time."""
    for sid in ids:
        assert 0 <= partition_of(sid, count) < count
        assert partition_of(sid, count) == partition_of(sid, count)


# -- the file ---------------------------------------------------------------------


def test_every_step_columns_argument_travels_in_a_partition() -> None:
    """Each argument of ``StepColumns`` is an array of a table or part of the
    meta, so a new column cannot be left out of the files unnoticed."""
    arguments = set(inspect.signature(StepColumns.__init__).parameters)
    carried = set(partitions_module._ARRAYS) | set(partitions_module._META)
    assert arguments - {"self", "copy"} == carried


@given(organizations(max_students=4))
def test_one_partition_reads_back_as_the_same_table(org: Organization) -> None:
    """A single partition holds every column of the table, values and dtypes
    (sequences, kept concepts, attempts, activity and stored risk included)."""
    columns = columns_of(org)
    with tempfile.TemporaryDirectory() as folder:
        (path,) = write_column_partitions(columns, folder, partitions=1)
        back = read_column_partition(path)
    assert back.organization_id == columns.organization_id
    assert back.student_ids == columns.student_ids
    assert back.structures == columns.structures
    assert back.sequences == columns.sequences
    assert back.kept_concept == columns.kept_concept
    for name in partitions_module._ARRAYS:
        mine, theirs = getattr(back, name), getattr(columns, name)
        if theirs is None:
            assert mine is None, name
        else:
            assert mine.dtype == theirs.dtype, name
            assert np.array_equal(mine, theirs, equal_nan=True), name


def test_partitions_are_named_in_order_and_an_empty_one_has_no_students(
    tmp_path: Path,
) -> None:
    """Files are part-00000.npz onwards, one per partition and nothing else;
    a partition no student hashes to reads as an empty table with empty
    figures."""
    columns = synthetic_columns(students=3)
    paths = write_column_partitions(columns, tmp_path / "parts", partitions=8)
    assert [p.name for p in paths] == [f"part-{k:05d}.npz" for k in range(8)]
    # Written whole, then renamed: nothing partial is left beside them.
    assert sorted(p.name for p in (tmp_path / "parts").iterdir()) == [
        p.name for p in paths
    ]
    sizes = [read_column_partition(p).students for p in paths]
    assert sum(sizes) == 3
    empty = paths[sizes.index(0)]
    figures = summarize_column_partition(empty, as_of=NOW)
    assert len(figures) == 0
    assert figures.figures.risk_amounts.shape == (0, 5)
    everyone = summarize_column_partitions_locally(paths, as_of=NOW)
    assert everyone == whole(columns, NOW)


def test_the_full_layout_stays_full_in_its_partitions(tmp_path: Path) -> None:
    """Rows without keys are cut group by group and stay without keys."""
    columns = dense_columns(tuple(f"st{i}" for i in range(7)))
    assert columns.step_group is None
    paths = write_column_partitions(columns, tmp_path, partitions=3)
    parts = [read_column_partition(p) for p in paths]
    assert all(p.step_group is None and p.dense for p in parts)
    assert sum(p.rows for p in parts) == columns.rows
    for part in parts:
        for i, sid in enumerate(part.student_ids):
            j = columns.student_ids.index(sid)
            rows = slice(3 * j, 3 * j + 3)
            assert part.best_score[3 * i : 3 * i + 3].tolist() == (
                columns.best_score[rows].tolist()
            )
    local = summarize_column_partitions_locally(paths, as_of=NOW)
    assert local == whole(columns, NOW)


def test_ids_with_any_characters_survive_the_file(tmp_path: Path) -> None:
    """Ids travel as JSON, so accents, a trailing NUL and characters beyond
    the basic plane come back as they went (a numpy string array would drop
    the NUL; ids never hold a lone surrogate, Q141)."""
    ids = ("zoë", "a\x00", "\U0001f600", "学生")
    columns = dense_columns(ids)
    paths = write_column_partitions(columns, tmp_path, partitions=2)
    back = sorted(s for p in paths for s in read_column_partition(p).student_ids)
    assert back == sorted(ids)


def test_the_writer_takes_a_table_and_a_positive_count(tmp_path: Path) -> None:
    """The count is a positive integer and the columns a ``StepColumns``."""
    columns = synthetic_columns(students=2)
    for bad in (0, -1, True, 2.0):
        with pytest.raises(InvalidInputError) as error:
            write_column_partitions(columns, tmp_path, partitions=bad)  # type: ignore[arg-type]
        assert error.value.field == "partitions"
    with pytest.raises(InvalidInputError) as refused:
        write_column_partitions({"state": []}, tmp_path, partitions=1)  # type: ignore[arg-type]
    assert refused.value.field == "columns"


# -- what a worker refuses ---------------------------------------------------------


def _fields(path: Path) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def test_a_tampered_partition_is_refused_with_column_row_and_rule(
    tmp_path: Path,
) -> None:
    """The worker validates the file as the records would: a best score of
    101 written into a partition is refused naming the row and D1."""
    (path,) = write_column_partitions(synthetic_columns(), tmp_path, partitions=1)
    fields = _fields(path)
    fields["best_score"] = fields["best_score"].copy()
    fields["best_score"][5] = 101.0
    np.savez(path, **fields)
    with pytest.raises(InvalidInputError) as error:
        summarize_column_partition(path, as_of=NOW)
    assert error.value.field == "best_score[5]"
    assert error.value.rule.startswith("D1")


def test_a_file_that_is_not_a_partition_is_refused(tmp_path: Path) -> None:
    """Text, an archive without the meta, another format, an unknown array or
    a pickled object array: each is an ``InvalidInputError`` naming the file."""
    (good,) = write_column_partitions(synthetic_columns(), tmp_path, partitions=1)
    fields = _fields(good)
    text = tmp_path / "notes.npz"
    text.write_text("not an archive", encoding="utf-8")
    no_meta = tmp_path / "no-meta.npz"
    np.savez(no_meta, **{k: v for k, v in fields.items() if k != "meta"})
    other = tmp_path / "other.npz"
    meta = fields["meta"].tobytes().replace(b"step-columns/1", b"step-columns/9")
    np.savez(other, **{**fields, "meta": np.frombuffer(meta, dtype=np.uint8)})
    extra = tmp_path / "extra.npz"
    np.savez(extra, **fields, secret=np.zeros(1))
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, **{**fields, "state": np.array([{"x": 1}], dtype=object)})
    for path in (text, no_meta, other, extra, pickled):
        with pytest.raises(InvalidInputError) as error:
            read_column_partition(path)
        assert str(path) in error.value.field
    with pytest.raises(FileNotFoundError):
        read_column_partition(tmp_path / "missing.npz")


def _with_meta(fields: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    import json

    text = json.dumps(meta).encode("ascii")
    return {**fields, "meta": np.frombuffer(text, dtype=np.uint8)}


def test_a_broken_partition_of_any_kind_is_a_typed_error(tmp_path: Path) -> None:
    """A missing column, a single array instead of an archive, structures
    the converter cannot read, or meta nested past any sense: each is an
    ``InvalidInputError`` naming the file, never a bare built-in error."""
    import json

    (good,) = write_column_partitions(synthetic_columns(), tmp_path, partitions=1)
    fields = _fields(good)
    meta = json.loads(fields["meta"].tobytes().decode("ascii"))
    broken: dict[str, Any] = {
        "no-state.npz": {k: v for k, v in fields.items() if k != "state"},
        "bad-structures.npz": _with_meta(fields, {**meta, "structures": [{"x": 1}]}),
        "text-structures.npz": _with_meta(fields, {**meta, "structures": "abc"}),
    }
    for name, arrays in broken.items():
        with (tmp_path / name).open("wb") as handle:
            np.savez(handle, **arrays)
    deep = tmp_path / "deep.npz"
    nested = ("[" * 100_000 + "]" * 100_000).encode("ascii")
    with deep.open("wb") as handle:
        np.savez(handle, **{**fields, "meta": np.frombuffer(nested, dtype=np.uint8)})
    single = tmp_path / "single.npz"
    with single.open("wb") as handle:
        np.save(handle, np.zeros(3))
    for path in (*(tmp_path / name for name in broken), deep, single):
        with pytest.raises(InvalidInputError) as error:
            read_column_partition(path)
        assert str(path) in error.value.field


def test_a_partition_without_a_meta_entry_names_what_is_missing(
    tmp_path: Path,
) -> None:
    """A meta without the student ids is refused, naming the entry."""
    (path,) = write_column_partitions(synthetic_columns(), tmp_path, partitions=1)
    fields = _fields(path)
    meta = fields["meta"].tobytes().replace(b'"student_ids"', b'"students"')
    np.savez(path, **{**fields, "meta": np.frombuffer(meta, dtype=np.uint8)})
    with pytest.raises(InvalidInputError) as error:
        read_column_partition(path)
    assert error.value.value == ["student_ids"]


def test_a_partition_keeps_a_duration_past_float_seconds_exactly(
    tmp_path: Path,
) -> None:
    """An estimated duration of 100,000 days and 1 us (no exact float
    seconds) travels exactly, so the moved due date of the next step (D8)
    is the whole table's and the record path's."""
    from mlc_progress import AssignmentProgress
    from mlc_progress.batch import summarize_student

    unit = attrs.evolve(
        UNIT,
        due_at=None,
        estimated_duration=timedelta(days=100_000, microseconds=1),
        steps=(attrs.evolve(UNIT.steps[0], due_at=T0 + timedelta(days=5)),),
    )
    history = StudentHistory(
        student_id="u",
        organization_id=ORG,
        assignments=(
            AssignmentRecords(
                structure=unit,
                progress=AssignmentProgress(
                    assignment_id=unit.assignment_id,
                    student_id="u",
                    due_at_override=T0 + timedelta(days=100_010),
                ),
            ),
        ),
    )
    columns = StepColumns.from_histories([history])
    (path,) = write_column_partitions(columns, tmp_path, partitions=1)
    back = read_column_partition(path)
    assert back.structures == columns.structures
    as_of = T0 + timedelta(days=3)
    expected = summarize_student(history, as_of=as_of, run_id="r").assignments[0]
    part = summarize_columns(back, as_of=as_of).records("u").assignments[0]
    assert part.next_step_due_at == expected.next_step_due_at


@pytest.mark.parametrize("removed", sorted(partitions_module._ARRAYS))
def test_a_partition_without_any_one_of_its_columns_is_refused(
    tmp_path: Path, removed: str
) -> None:
    """The writer writes every column, so the reader requires every one
    (a column left out would silently take its default, an archived
    assignment turning active): the refusal names the file and the column.
    ``step_group`` and ``step_index`` come both or neither."""
    (path,) = write_column_partitions(synthetic_columns(3), tmp_path, partitions=1)
    fields = _fields(path)
    assert set(fields) == partitions_module._ARRAYS | {"meta"}
    del fields[removed]
    np.savez(path, **fields)
    with pytest.raises(InvalidInputError) as error:
        read_column_partition(path)
    assert error.value.field == str(path)
    assert error.value.value == [removed]


def test_a_partition_without_both_row_keys_is_the_full_layout(
    tmp_path: Path,
) -> None:
    """Without ``step_group`` and ``step_index`` the rows are the full
    layout, as the writer writes a table without keys."""
    columns = dense_columns(("a", "b"))
    (path,) = write_column_partitions(columns, tmp_path, partitions=1)
    assert set(_fields(path)) == partitions_module._REQUIRED | {"meta"}
    assert read_column_partition(path).step_group is None


def test_a_keyed_partition_with_both_row_keys_removed_is_refused(
    tmp_path: Path,
) -> None:
    """The meta says whether the rows have keys, so a keyed file whose two
    keys were both removed cannot pass for the full layout."""
    (path,) = write_column_partitions(synthetic_columns(3), tmp_path, partitions=1)
    fields = _fields(path)
    del fields["step_group"], fields["step_index"]
    np.savez(path, **fields)
    with pytest.raises(InvalidInputError) as error:
        read_column_partition(path)
    assert error.value.field == str(path)
    assert error.value.value == ["step_group", "step_index"]


def test_a_full_layout_partition_with_row_keys_added_is_refused(
    tmp_path: Path,
) -> None:
    """A file whose meta says the rows are the full layout refuses row keys."""
    (path,) = write_column_partitions(dense_columns(("a", "b")), tmp_path, partitions=1)
    fields = _fields(path)
    rows = len(fields["state"])
    fields["step_group"] = np.zeros(rows, dtype=np.int64)
    fields["step_index"] = np.arange(rows, dtype=np.int64)
    np.savez(path, **fields)
    with pytest.raises(InvalidInputError) as error:
        read_column_partition(path)
    assert error.value.value == ["step_group", "step_index"]


def _recompressed(path: Path) -> bytearray:
    """The archive's bytes, every entry deflated."""
    np.savez_compressed(path, **_fields(path))
    return bytearray(path.read_bytes())


def _central_entries(data: bytearray, offset: int, value: int) -> bytes:
    """Set a 16-bit field of every central directory entry."""
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        struct.pack_into("<H", data, at + offset, value)
        at = data.find(b"PK\x01\x02", at + 4)
    return bytes(data)


def _corrupt_stream(path: Path) -> bytes:
    """The first entry's deflate stream starting with block type 3."""
    data = _recompressed(path)
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        first = archive.infolist()[0]
    name, extra = struct.unpack_from("<HH", data, first.header_offset + 26)
    data[first.header_offset + 30 + name + extra] = 0xFF
    return bytes(data)


def _raw_entry(path: Path, raw: str) -> bytes:
    """The archive with entry ``raw`` stored as bytes, not as a .npy array."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, value in _fields(path).items():
            if name == raw:
                archive.writestr(name, value.tobytes())
            else:
                array = io.BytesIO()
                np.save(array, value)
                archive.writestr(name + ".npy", array.getvalue())
    return buffer.getvalue()


def _meta_as(path: Path, dtype: Any) -> bytes:
    fields = _fields(path)
    np.savez(path, **{**fields, "meta": fields["meta"].astype(dtype)})
    return path.read_bytes()


TAMPERED: dict[str, Any] = {
    "compression-method-99": lambda p: _central_entries(
        bytearray(p.read_bytes()), 10, 99
    ),
    "encrypted-flag": lambda p: _central_entries(bytearray(p.read_bytes()), 8, 1),
    "corrupt-deflate": _corrupt_stream,
    "meta-raw-bytes": lambda p: _raw_entry(p, "meta"),
    "column-raw-bytes": lambda p: _raw_entry(p, "state"),
    "meta-int64": lambda p: _meta_as(p, np.int64),
    "truncated": lambda p: p.read_bytes()[: len(p.read_bytes()) // 2],
    "empty": lambda p: b"",
}


@pytest.mark.parametrize("tamper", list(TAMPERED.values()), ids=list(TAMPERED))
def test_a_tampered_archive_is_refused_naming_the_file(
    tmp_path: Path, tamper: Any
) -> None:
    """An unsupported compression, the encryption flag, a corrupt stream,
    an entry that is not a .npy array, a meta of another dtype or a cut
    file: each is an ``InvalidInputError`` naming the file, never a bare
    error of numpy, zipfile or zlib."""
    (path,) = write_column_partitions(synthetic_columns(3), tmp_path, partitions=1)
    path.write_bytes(tamper(path))
    with pytest.raises(InvalidInputError) as error:
        read_column_partition(path)
    assert str(path) in error.value.field


@given(st.lists(st.tuples(st.integers(0), st.integers(0, 255)), min_size=1))
def test_an_archive_with_any_bytes_changed_reads_or_is_refused(
    changes: list[tuple[int, int]],
) -> None:
    """Any bytes of a plain or compressed partition changed: the file reads
    (a byte the archive does not check) or is an ``InvalidInputError``
    naming the file (or a column and row), nothing else."""
    for data in (_PLAIN_BYTES, _COMPRESSED_BYTES):
        changed = bytearray(data)
        for at, value in changes:
            changed[at % len(changed)] = value
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "part-00000.npz"
            path.write_bytes(bytes(changed))
            try:
                read_column_partition(path)
            except InvalidInputError as error:
                refused: str | None = error.field
            else:
                refused = None
        assert refused is None or str(path) in refused or "[" in refused


def _partition_bytes(compressed: bool) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        (path,) = write_column_partitions(
            dense_columns(("a", "b")), folder, partitions=1
        )
        if compressed:
            return bytes(_recompressed(path))
        return path.read_bytes()


_PLAIN_BYTES = _partition_bytes(compressed=False)
_COMPRESSED_BYTES = _partition_bytes(compressed=True)


# -- the combined figures -----------------------------------------------------------


def _figures(ids: tuple[str, ...], organization: str = ORG) -> PartitionFigures:
    columns = dense_columns(ids)
    result = summarize_columns(columns, as_of=NOW)
    return PartitionFigures(
        organization_id=organization, student_ids=ids, figures=result.students
    )


def test_combining_refuses_nothing_mixed_organizations_and_a_student_twice() -> None:
    """Parts are of one organization (D19), each student in one part, and
    there is at least one part."""
    with pytest.raises(InvalidInputError):
        PartitionFigures.combine([])
    with pytest.raises(InvalidInputError) as mixed:
        PartitionFigures.combine([_figures(("a",)), _figures(("b",), "org-other")])
    assert mixed.value.field == "organization_id"
    with pytest.raises(InvalidInputError) as twice:
        PartitionFigures.combine([_figures(("a", "b")), _figures(("b",))])
    assert twice.value.value == "b"
    with pytest.raises(InvalidInputError):
        PartitionFigures.combine([_figures(("a",)), "b"])  # type: ignore[list-item]


def test_figures_compare_equal_only_bit_for_bit() -> None:
    """One float's sign, one dtype or one id makes figures differ; figures
    are never equal to other things and cannot be hashed."""
    one = _figures(("a", "b"))
    assert one == _figures(("a", "b"))

    def with_score(value: float) -> PartitionFigures:
        scores = one.figures.engagement_score.copy()
        scores[0] = value
        return attrs.evolve(
            one, figures=attrs.evolve(one.figures, engagement_score=scores)
        )

    # 0.0 and -0.0 are equal as numbers, not as bits.
    assert with_score(0.0) == with_score(0.0)
    assert with_score(0.0) != with_score(-0.0)
    widened = attrs.evolve(
        one,
        figures=attrs.evolve(
            one.figures, worst_pacing=one.figures.worst_pacing.astype(np.int64)
        ),
    )
    assert widened != one
    assert _figures(("a", "c")) != one
    assert one != "figures"
    with pytest.raises(TypeError):
        hash(one)
    assert repr(one) == "PartitionFigures(organization_id='org-c', students=2)"


def test_a_summary_is_of_a_student_of_the_figures() -> None:
    """Asking for a student the figures do not hold names the id."""
    figures = _figures(("a",))
    for ask in (figures.summary, figures.assessed_factors):
        with pytest.raises(InvalidInputError) as error:
            ask("zed")
        assert error.value.value == "zed"


def _refused_figures() -> dict[str, tuple[dict[str, Any], str]]:
    """Arguments a ``PartitionFigures`` refuses, and the field it names."""
    two = _figures(("a", "b")).figures
    return {
        "three-ids": ({"student_ids": ("a", "b", "c")}, "figures.active_assignments"),
        "organization-5": ({"organization_id": 5}, "organization_id"),
        "not-figures": ({"figures": {"at_risk": [True]}}, "figures"),
        "one-streak": (
            {"figures": attrs.evolve(two, streak_days=two.streak_days[:1])},
            "figures.streak_days",
        ),
        "two-rules": (
            {"figures": attrs.evolve(two, risk_amounts=two.risk_amounts[:, :2])},
            "figures.risk_amounts",
        ),
        "object-flags": (
            {"figures": attrs.evolve(two, at_risk=two.at_risk.astype(object))},
            "figures.at_risk",
        ),
        "list-flags": (
            {"figures": attrs.evolve(two, at_risk=[True, False])},  # type: ignore[arg-type]
            "figures.at_risk",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "three-ids",
        "organization-5",
        "not-figures",
        "one-streak",
        "two-rules",
        "object-flags",
        "list-flags",
    ],
)
def test_figures_that_do_not_match_their_ids_are_refused(case: str) -> None:
    """The organization is an id and every figure array is a numeric numpy
    array with one entry per student id (a risk amount per rule), checked
    when the figures are built, so ``summary`` and ``combine`` never index
    past them."""
    changes, field = _refused_figures()[case]
    arguments: dict[str, Any] = {
        "organization_id": ORG,
        "student_ids": ("a", "b"),
        "figures": _figures(("a", "b")).figures,
        **changes,
    }
    with pytest.raises(InvalidInputError) as error:
        PartitionFigures(**arguments)
    assert error.value.field == field


def test_figures_hold_each_student_id_once_in_a_tuple() -> None:
    """Ids are a tuple of ids, each once."""
    figures = _figures(("a", "b")).figures
    for ids in (["a", "b"], ("a", "a"), ("a", " ")):
        with pytest.raises(InvalidInputError) as error:
            PartitionFigures(organization_id=ORG, student_ids=ids, figures=figures)  # type: ignore[arg-type]
        assert error.value.field == "student_ids"


def test_the_partition_functions_check_their_arguments(tmp_path: Path) -> None:
    """A path that is no path, parts that are no collection, or one path
    where a collection of them is due: an ``InvalidInputError`` naming the
    argument, before any file is touched."""
    calls: dict[str, Any] = {
        "path": lambda: read_column_partition(None),  # type: ignore[arg-type]
        "parts": lambda: PartitionFigures.combine(5),  # type: ignore[arg-type]
        "directory": lambda: write_column_partitions(
            synthetic_columns(2),
            None,  # type: ignore[arg-type]
            partitions=1,
        ),
        "paths": lambda: summarize_column_partitions_locally(
            str(tmp_path / "part-00000.npz"), as_of=NOW
        ),
    }
    for field, call in calls.items():
        with pytest.raises(InvalidInputError) as error:
            call()
        assert error.value.field == field
    with pytest.raises(InvalidInputError) as inner:
        summarize_column_partitions_locally([tmp_path, 7], as_of=NOW)  # type: ignore[list-item]
    assert (inner.value.field, inner.value.value) == ("paths", 7)
    with pytest.raises(InvalidInputError) as byte_path:
        read_column_partition(b"part-00000.npz")  # type: ignore[arg-type]
    assert byte_path.value.field == "path"


def test_the_table_is_one_flat_column_per_figure() -> None:
    """``table()`` gives the ids, each figure, and one risk amount column per
    rule, every column one value per student, ready for a data frame."""
    figures = _figures(("a", "b", "c"))
    table = figures.table()
    names = [f.name for f in attrs.fields(StudentFigures) if f.name != "risk_amounts"]
    rules = ["pacing", "mastery", "engagement", "struggle", "consistency"]
    assert list(table) == [
        "student_id",
        *names[: names.index("risk_rules") + 1],
        *[f"risk_amount_{r}" for r in rules],
        *names[names.index("risk_rules") + 1 :],
    ]
    assert all(len(column) == 3 for column in table.values())
    assert table["student_id"].tolist() == ["a", "b", "c"]
    assert table["risk_amount_engagement"].tolist() == (
        figures.figures.risk_amounts[:, 2].tolist()
    )


# -- without numpy ------------------------------------------------------------------


def test_the_dask_module_imports_without_numpy(tmp_path: Path) -> None:
    """``mlc_progress.dask`` needs numpy only for the columnar partitions: the
    record path runs without it, and a columnar call names the extra."""
    code = (
        "import sys\n"
        "sys.modules['numpy'] = None\n"
        "from datetime import datetime, UTC\n"
        "from pathlib import Path\n"
        "from mlc_progress.batch import AssignmentRecords, StudentHistory\n"
        "from mlc_progress.dask import (summarize_column_partition,\n"
        "    summarize_partition, write_partitions)\n"
        "h = StudentHistory(student_id='u', organization_id='o')\n"
        f"(p,) = write_partitions([h], Path({str(tmp_path)!r}), partitions=1)\n"
        "as_of = datetime(2026, 1, 1, tzinfo=UTC)\n"
        "assert len(summarize_partition(p, as_of=as_of, run_id='r')) == 1\n"
        "try:\n"
        "    summarize_column_partition(p, as_of=as_of)\n"
        "except ImportError as err:\n"
        "    print(err)\n"
        "else:\n"
        "    raise SystemExit('ran without numpy')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'mlc-progress[columnar]'" in done.stdout


def test_histories_of_the_record_path_partition_alike(tmp_path: Path) -> None:
    """A student lands in the same partition on both paths: the column files
    and the JSON Lines files split an organization the same way."""
    from mlc_progress.dask import read_partition, write_partitions

    histories = [
        StudentHistory(student_id=f"student-{n:03d}", organization_id=ORG)
        for n in range(20)
    ]
    lines = write_partitions(histories, tmp_path / "jsonl", partitions=3)
    columns = write_column_partitions(
        StepColumns.from_histories(histories), tmp_path / "npz", partitions=3
    )
    for jsonl, npz in zip(lines, columns, strict=True):
        assert [h.student_id for h in read_partition(jsonl)] == list(
            read_column_partition(npz).student_ids
        )
