"""Engine-neutral partitions of an organization's step columns, by student.

The columnar counterpart of :mod:`mlc_progress._partitions`: an
organization held as a :class:`~mlc_progress.columnar.StepColumns` table is
split by student (the stable hash of :func:`partition_of`) into one numpy
``.npz`` file per partition, every table of the columns cut to the
partition's students. :func:`summarize_column_partition` takes only a path:
it reads the file, builds the ``StepColumns`` (every rule validated again:
a worker trusts no file), runs ``summarize_columns`` and returns the small
per-student :class:`PartitionFigures`, so it runs in a loop, in a Dask task
or in Spark's ``mapInPandas`` alike. Students are independent (Q37), so the
figures equal those of the kernel over the whole table.

numpy (the ``columnar`` extra) is imported when a function runs, so
``mlc_progress.dask`` imports without it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
from cattrs.errors import BaseValidationError

from . import _validate as v
from ._columnar_fields import STEP_FIELDS
from ._errors import InvalidInputError, ProgressError
from ._partitions import partition_of
from ._policy import DEFAULT_POLICY, Policy
from ._records import StudentProgressSummary
from ._risk import RiskRule
from ._serialization import structure, unstructure
from ._structure import AssignmentStructure, SequenceStructure

if TYPE_CHECKING:
    from ._columnar_columns import StepColumns
    from ._columnar_kernel import StudentFigures
    from ._columnar_np import Array

__all__ = [
    "FORMAT",
    "PartitionFigures",
    "read_column_partition",
    "summarize_column_partition",
    "summarize_column_partitions_locally",
    "write_column_partitions",
]

#: The ``format`` of a column partition file; a reader refuses any other.
FORMAT = "mlc-progress/step-columns/1"

# Every array argument of StepColumns, by the table it has one value per.
_TABLES: dict[str, tuple[str, ...]] = {
    "students": ("previous_risk_rules", "previous_risk_dismissed"),
    "groups": ("group_student", "group_assignment", "archived", "due_at_override"),
    "rows": ("step_group", "step_index", *STEP_FIELDS),
    "attempts": (
        "attempt_student",
        "attempt_assignment",
        "attempted_at",
        "attempt_duration_ms",
        "attempt_key",
    ),
    "activity": ("activity_student", "activity_day"),
    "members": ("member_student", "member_sequence", "member_stored"),
    "kept": ("kept_member",),
}
# Index columns, renumbered into the partition's positions of the table they
# point into: column -> (its table, the table it points into).
_INDEXES = {
    "group_student": ("groups", "students"),
    "step_group": ("rows", "groups"),
    "attempt_student": ("attempts", "students"),
    "activity_student": ("activity", "students"),
    "member_student": ("members", "students"),
    "kept_member": ("kept", "members"),
}
# What is not an array: one JSON document in the file's ``meta`` entry.
_META = ("organization_id", "student_ids", "structures", "sequences", "kept_concept")
_ARRAYS = frozenset(name for names in _TABLES.values() for name in names)


def _np() -> Any:
    from ._columnar_np import np

    return np


def write_column_partitions(
    columns: StepColumns, directory: str | Path, *, partitions: int
) -> tuple[Path, ...]:
    """Write each student's columns to the partition its id hashes to.

    Files are ``part-00000.npz`` and so on, one per partition (a partition
    without students holds empty columns), every table cut to the
    partition's students in the table's order and its indexes renumbered.
    Ids, structures and sequences travel as JSON through the one converter;
    nothing is pickled. Each file is written whole, then renamed into place,
    so a reader never sees half a partition. Returns the paths in partition
    order.

    >>> import tempfile
    >>> from mlc_progress.batch import StudentHistory
    >>> from mlc_progress.columnar import StepColumns
    >>> columns = StepColumns.from_histories(
    ...     [StudentHistory(student_id=s, organization_id="o") for s in ("u1", "u2")])
    >>> folder = tempfile.TemporaryDirectory()
    >>> paths = write_column_partitions(columns, folder.name, partitions=2)
    >>> [p.name for p in paths]
    ['part-00000.npz', 'part-00001.npz']
    >>> folder.cleanup()
    """
    from ._columnar_columns import StepColumns

    np = _np()
    if not isinstance(columns, StepColumns):
        raise InvalidInputError("columns", columns, "a StepColumns table")
    if type(partitions) is not int or partitions < 1:
        raise InvalidInputError("partitions", partitions, "a positive integer")
    check_path("directory", directory)
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    part = np.fromiter(
        (partition_of(sid, partitions) for sid in columns.student_ids),
        dtype=np.int64,
        count=columns.students,
    )
    paths = []
    for k in range(partitions):
        path = folder / f"part-{k:05d}.npz"
        arrays, meta = _cut(columns, part == k)
        text = json.dumps(meta, sort_keys=True, separators=(",", ":"))
        partial = path.with_name(path.name + ".partial")
        with partial.open("wb") as handle:
            np.savez(
                handle,
                meta=np.frombuffer(text.encode("ascii"), dtype=np.uint8),
                **arrays,
            )
        os.replace(partial, path)
        paths.append(path)
    return tuple(paths)


def _cut(columns: StepColumns, keep_students: Array) -> tuple[dict[str, Array], Any]:
    """The arrays and the JSON meta of the students ``keep_students`` marks."""
    np = _np()
    keep: dict[str, Array] = {"students": keep_students}
    keep["groups"] = keep_students[columns.group_student]
    if columns.step_group is None:  # the full layout: kmax rows per group
        keep["rows"] = np.repeat(keep["groups"], columns.catalog.kmax)
    else:
        keep["rows"] = keep["groups"][columns.step_group]
    keep["attempts"] = keep_students[columns.attempt_student]
    keep["activity"] = keep_students[columns.activity_student]
    keep["members"] = keep_students[columns.member_student]
    keep["kept"] = keep["members"][columns.kept_member]
    arrays: dict[str, Array] = {}
    for table, names in _TABLES.items():
        for name in names:
            column = getattr(columns, name)
            if column is None:
                continue
            cut = column[keep[table]]
            if name in _INDEXES:
                target = keep[_INDEXES[name][1]]
                position = np.cumsum(target, dtype=np.int64) - 1
                cut = position[cut].astype(column.dtype)
            arrays[name] = cut
    kept = np.flatnonzero(keep["kept"]).tolist()
    meta = {
        "format": FORMAT,
        "organization_id": columns.organization_id,
        "student_ids": [
            columns.student_ids[i] for i in np.flatnonzero(keep_students).tolist()
        ],
        "structures": unstructure(list(columns.structures)),
        "sequences": unstructure(list(columns.sequences)),
        "kept_concept": [columns.kept_concept[i] for i in kept],
        # Whether the rows have keys: a file whose keys were both removed
        # could otherwise pass for the full layout.
        "keyed": columns.step_group is not None,
    }
    return arrays, meta


def read_column_partition(path: str | Path) -> StepColumns:
    """The ``StepColumns`` of one partition file, every rule checked.

    A missing or unreadable file raises the ``OSError`` of opening it; once
    open, a file that is not a column partition as the writer writes it
    (any other archive, a tampered or truncated one, a column missing)
    raises ``InvalidInputError`` naming the path.

    >>> import tempfile
    >>> from mlc_progress.batch import StudentHistory
    >>> from mlc_progress.columnar import StepColumns
    >>> columns = StepColumns.from_histories(
    ...     [StudentHistory(student_id=s, organization_id="o") for s in ("u1", "u2")])
    >>> folder = tempfile.TemporaryDirectory()
    >>> paths = write_column_partitions(columns, folder.name, partitions=2)
    >>> sorted(s for p in paths for s in read_column_partition(p).student_ids)
    ['u1', 'u2']
    >>> folder.cleanup()
    """
    from ._columnar_columns import StepColumns

    check_path("path", path)
    np = _np()
    with open(path, "rb") as handle:
        entries = _entries(np, handle, str(path))
    raw = entries.pop("meta", None)
    if raw is None:
        raise InvalidInputError(str(path), sorted(entries), _NOT_A_PARTITION)
    unknown = set(entries) - _ARRAYS
    if unknown:
        raise InvalidInputError(
            str(path), sorted(unknown), "only the arrays of StepColumns"
        )
    for name, value in entries.items():
        if not isinstance(value, np.ndarray):
            raise InvalidInputError(f"{path}: {name}", type(value).__name__, _NPY)
    meta = _meta(np, raw, str(path))
    missing = sorted(set(_META) - set(meta))
    if missing:
        raise InvalidInputError(f"{path}: meta", missing, "every entry of the meta")
    keyed = meta.get("keyed", bool(_PAIR & set(entries)))  # absent before Q144
    if not isinstance(keyed, bool):
        raise InvalidInputError(f"{path}: meta.keyed", keyed, "a flag is a boolean")
    missing = sorted((_REQUIRED | (_PAIR if keyed else frozenset())) - set(entries))
    if missing:
        raise InvalidInputError(str(path), missing, _EVERY_COLUMN)
    if not keyed and _PAIR & set(entries):
        raise InvalidInputError(
            str(path), sorted(_PAIR & set(entries)), "no row keys: the full layout"
        )
    try:
        structures = structure(meta["structures"], tuple[AssignmentStructure, ...])
        sequences = structure(meta["sequences"], tuple[SequenceStructure, ...])
    except (ProgressError, BaseValidationError) as exc:
        raise InvalidInputError(
            f"{path}: meta",
            repr(exc),
            "structures and sequences as the converter writes them",
        ) from None
    return StepColumns(
        copy=False,
        organization_id=meta["organization_id"],
        student_ids=_strings(f"{path}: meta.student_ids", meta["student_ids"]),
        structures=structures,
        sequences=sequences,
        kept_concept=_strings(f"{path}: meta.kept_concept", meta["kept_concept"]),
        **entries,
    )


def _entries(np: Any, handle: Any, name: str) -> dict[str, Any]:
    """Every entry of the archive open in ``handle``, read whole.

    Whatever numpy, ``zipfile`` or ``zlib`` raise on the bytes of an open
    file (a truncated or tampered archive: a bad header, an unsupported
    compression or encryption, a corrupt stream, a seek past the end, an
    object array) is the file's fault: an ``InvalidInputError`` naming it.
    """
    try:
        loaded = np.load(handle, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise InvalidInputError(name, type(loaded).__name__, _NOT_A_PARTITION)
        with loaded as archive:
            return {entry: archive[entry] for entry in archive.files}
    except InvalidInputError:
        raise
    except Exception as exc:  # any error reading the bytes (D8)
        raise InvalidInputError(name, repr(exc), _NOT_A_PARTITION) from exc


def _meta(np: Any, raw: Any, name: str) -> dict[str, Any]:
    """The JSON document of the ``meta`` entry, of this format."""
    if not (isinstance(raw, np.ndarray) and raw.dtype == np.uint8 and raw.ndim == 1):
        found = type(raw).__name__ if not isinstance(raw, np.ndarray) else raw.dtype
        raise InvalidInputError(
            f"{name}: meta", str(found), "ASCII JSON text as a uint8 array"
        )
    try:
        meta = json.loads(raw.tobytes().decode("ascii"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is one
        raise InvalidInputError(name, repr(exc), _NOT_A_PARTITION) from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else meta
        raise InvalidInputError(f"{name}: format", found, f"the format {FORMAT!r}")
    return meta


def check_path(field: str, value: object) -> str | Path:
    """``value`` as a path: text, or an ``os.PathLike`` of text."""
    if isinstance(value, str | Path):
        return value
    if isinstance(value, os.PathLike) and isinstance(os.fspath(value), str):
        return Path(value)
    raise InvalidInputError(field, value, _RULE_PATH)


def check_paths(paths: object) -> tuple[str | Path, ...]:
    """``paths`` as a tuple, each a path; one path alone is no list of them."""
    if isinstance(paths, str | bytes | os.PathLike) or not isinstance(paths, Iterable):
        raise InvalidInputError("paths", paths, f"a collection, each {_RULE_PATH}")
    return tuple(check_path("paths", path) for path in paths)


_RULE_PATH = "a file path (str or an os.PathLike of str)"


_NOT_A_PARTITION = "a column partition written by write_column_partitions"
_NPY = "every entry of a column partition is a .npy array"
# The writer writes every array; the keys of the rows come both or neither
# (without them the rows are the full layout).
_PAIR = frozenset({"step_group", "step_index"})
_REQUIRED = _ARRAYS - _PAIR
_EVERY_COLUMN = (
    "every column the writer writes (step_group and step_index both or neither)"
)


def _strings(field: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise InvalidInputError(field, value, "a list of identifiers")
    return tuple(value)


@attrs.frozen(kw_only=True, eq=False, repr=False)
class PartitionFigures:
    """Per-student figures of one partition, or of several combined: every
    ``StudentProgressSummary`` figure, the D17 assessment, the completion
    of Q43 and the least favourable pacing (the kernel's
    :class:`~mlc_progress.columnar.StudentFigures`), one entry per student
    of ``student_ids``. About 160 bytes a student, so shipping them back
    costs little; the per-assignment figures stay on the worker.

    Checked when built: the organization and each student id are ids
    (D3), each id once, and every figure is a numeric numpy array with one
    entry per id (``risk_amounts`` one per id and rule). Equal when the
    organization, the ids and every array are equal, dtypes and floats bit
    for bit.
    """

    organization_id: str = attrs.field(validator=v.identifier)
    student_ids: tuple[str, ...] = attrs.field()
    figures: StudentFigures = attrs.field()

    @student_ids.validator
    def _check_ids(
        self, attribute: attrs.Attribute[object], value: tuple[str, ...]
    ) -> None:
        v.identifiers(self, attribute, value)  # a tuple of ids
        seen: set[str] = set()
        for sid in value:
            if sid in seen:
                raise InvalidInputError("student_ids", sid, "one entry per student")
            seen.add(sid)

    @figures.validator
    def _check_figures(self, attribute: attrs.Attribute[object], value: object) -> None:
        """A ``StudentFigures`` with one entry per id in every array (and a
        risk amount per rule), so ``summary`` and ``combine`` index it."""
        from ._columnar_kernel import StudentFigures

        np = _np()
        if not isinstance(value, StudentFigures):
            raise InvalidInputError("figures", value, "a StudentFigures")
        n = len(self.student_ids)
        for f in attrs.fields(StudentFigures):
            array = getattr(value, f.name)
            shape = (n, len(RiskRule)) if f.name == "risk_amounts" else (n,)
            if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
                raise InvalidInputError(
                    f"figures.{f.name}", type(array).__name__, "a numeric numpy array"
                )
            if array.shape != shape:
                raise InvalidInputError(
                    f"figures.{f.name}",
                    array.shape,
                    f"one entry per student id {shape}",
                )

    def __repr__(self) -> str:
        return (
            f"PartitionFigures(organization_id={self.organization_id!r},"
            f" students={len(self.student_ids)})"
        )

    def __len__(self) -> int:
        return len(self.student_ids)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PartitionFigures):
            return NotImplemented
        if (self.organization_id, self.student_ids) != (
            other.organization_id,
            other.student_ids,
        ):
            return False
        return all(
            _same_array(a, b)
            for a, b in zip(_arrays(self.figures), _arrays(other.figures), strict=True)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable arrays inside

    @classmethod
    def combine(cls, parts: Iterable[PartitionFigures]) -> PartitionFigures:
        """The figures of every part, by student id: the same whatever the
        order of the parts, so every engine's run compares equal.

        Parts are of one organization (D19) and each student is in one part.
        """
        from ._columnar_kernel import StudentFigures

        np = _np()
        if not isinstance(parts, Iterable):
            raise InvalidInputError("parts", parts, "an iterable of PartitionFigures")
        parts = list(parts)
        if not parts:
            raise InvalidInputError("parts", parts, "at least one partition's figures")
        for part in parts:
            if not isinstance(part, PartitionFigures):
                raise InvalidInputError("parts", part, "a PartitionFigures")
        organization = parts[0].organization_id
        for part in parts:
            if part.organization_id != organization:
                raise InvalidInputError(
                    "organization_id",
                    part.organization_id,
                    f"D19: one organization per batch ({organization!r})",
                )
        ids = [sid for part in parts for sid in part.student_ids]
        order = sorted(range(len(ids)), key=ids.__getitem__)
        for a, b in pairwise(order):
            if ids[a] == ids[b]:
                raise InvalidInputError(
                    "student_ids", ids[a], "each student in one partition"
                )
        index = np.array(order, dtype=np.intp)
        figures = StudentFigures(
            **{
                f.name: np.concatenate([getattr(p.figures, f.name) for p in parts])[
                    index
                ]
                for f in attrs.fields(StudentFigures)
            }
        )
        return cls(
            organization_id=organization,
            student_ids=tuple(ids[i] for i in order),
            figures=figures,
        )

    def summary(self, student_id: str) -> StudentProgressSummary:
        """The ``StudentProgressSummary`` of one student, as
        ``summarize_student`` gives it."""
        from ._columnar_kernel import summary_of

        return summary_of(
            self.figures,
            self._index(student_id),
            student_id=student_id,
            organization_id=self.organization_id,
        )

    def _index(self, student_id: str) -> int:
        try:
            return self.student_ids.index(student_id)
        except ValueError:
            raise InvalidInputError(
                "student_id", student_id, "a student of the figures"
            ) from None

    def assessed_factors(self, student_id: str) -> tuple[str, ...]:
        """The D17 factor strings assessed for a student, in rule order
        (before a dismissal)."""
        from ._columnar_kernel import assessed_factor_codes

        return assessed_factor_codes(self.figures, self._index(student_id))

    def table(self) -> dict[str, Array]:
        """The figures as flat columns, one value per student, for a data
        frame (``pandas.DataFrame(figures.table())``) or an Arrow table:
        ``student_id``, then each figure, ``risk_amounts`` as one
        ``risk_amount_<rule>`` column per rule.

        >>> from datetime import datetime, UTC
        >>> from mlc_progress.batch import StudentHistory
        >>> from mlc_progress.columnar import StepColumns, summarize_columns
        >>> columns = StepColumns.from_histories(
        ...     [StudentHistory(student_id="u", organization_id="o")])
        >>> result = summarize_columns(columns, as_of=datetime(2026, 1, 1, tzinfo=UTC))
        >>> figures = PartitionFigures(
        ...     organization_id="o", student_ids=("u",), figures=result.students)
        >>> table = figures.table()
        >>> list(table)[:3], table["risk_amount_pacing"].tolist()
        (['student_id', 'active_assignments', 'completed_assignments'], [-1])
        """
        np = _np()
        out: dict[str, Array] = {"student_id": np.array(self.student_ids, dtype=object)}
        for f in attrs.fields(type(self.figures)):
            values = getattr(self.figures, f.name)
            if values.ndim == 1:
                out[f.name] = values
            else:
                for r, rule in enumerate(RiskRule):
                    out[f"risk_amount_{rule.value}"] = values[:, r]
        return out


def _arrays(figures: StudentFigures) -> list[Array]:
    return [getattr(figures, f.name) for f in attrs.fields(type(figures))]


def _same_array(a: Array, b: Array) -> bool:
    return bool(
        a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    )


def summarize_column_partition(
    path: str | Path, *, as_of: datetime, policy: Policy = DEFAULT_POLICY
) -> PartitionFigures:
    """Read one column partition and compute its students' figures.

    What each worker runs: it needs only the path (plus ``as_of`` and the
    policy), and returns the small per-student figures.

    >>> import tempfile
    >>> from mlc_progress.batch import StudentHistory
    >>> from mlc_progress.columnar import StepColumns
    >>> columns = StepColumns.from_histories(
    ...     [StudentHistory(student_id=s, organization_id="o") for s in ("u1", "u2")])
    >>> folder = tempfile.TemporaryDirectory()
    >>> paths = write_column_partitions(columns, folder.name, partitions=2)
    >>> from datetime import datetime, UTC
    >>> part = summarize_column_partition(
    ...     paths[0], as_of=datetime(2026, 1, 1, tzinfo=UTC))
    >>> len(part) == read_column_partition(paths[0]).students
    True
    >>> folder.cleanup()
    """
    from ._columnar_kernel import summarize_columns

    columns = read_column_partition(path)
    result = summarize_columns(columns, as_of=as_of, policy=policy)
    return PartitionFigures(
        organization_id=columns.organization_id,
        student_ids=columns.student_ids,
        figures=result.students,
    )


def summarize_column_partitions_locally(
    paths: Sequence[str | Path],
    *,
    as_of: datetime,
    policy: Policy = DEFAULT_POLICY,
) -> PartitionFigures:
    """The single-process run: every partition in turn, combined by student.

    >>> import tempfile
    >>> from mlc_progress.batch import StudentHistory
    >>> from mlc_progress.columnar import StepColumns
    >>> columns = StepColumns.from_histories(
    ...     [StudentHistory(student_id=s, organization_id="o") for s in ("u1", "u2")])
    >>> folder = tempfile.TemporaryDirectory()
    >>> paths = write_column_partitions(columns, folder.name, partitions=2)
    >>> from datetime import datetime, UTC
    >>> figures = summarize_column_partitions_locally(
    ...     paths, as_of=datetime(2026, 1, 1, tzinfo=UTC))
    >>> figures.student_ids, figures.summary("u2").at_risk
    (('u1', 'u2'), False)
    >>> folder.cleanup()
    """
    return PartitionFigures.combine(
        summarize_column_partition(path, as_of=as_of, policy=policy)
        for path in check_paths(paths)
    )
