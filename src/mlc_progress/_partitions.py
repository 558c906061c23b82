"""Engine-neutral partitions of batch work, by student.

A batch over many students is split into partitions that a worker reads
itself: each partition is a JSON Lines file of ``StudentHistory`` records
written through the one converter. :func:`summarize_partition` takes only the
path of a partition and returns plain, picklable rows, so the same function
runs in a loop, on a Dask cluster (:mod:`mlc_progress.dask`) or in Spark's
``mapPartitions`` (``docs/howto-distributed-batch.md``). No records travel
from the client to the workers.
"""

from __future__ import annotations

import contextlib
import json
import os
import zlib
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from ._errors import InvalidInputError
from ._policy import DEFAULT_POLICY, Policy
from ._rollups import StudentHistory, StudentResult, summarize_student
from ._serialization import structure, to_json, unstructure

__all__ = [
    "partition_of",
    "read_partition",
    "result_row",
    "summarize_partition",
    "write_partitions",
]


def partition_of(student_id: str, partitions: int) -> int:
    """The partition of a student: a stable hash (CRC-32 of the UTF-8 id), the
    same in every process; ids a strict encoder refuses (a lone surrogate)
    hash too.

    >>> partition_of("student-000001", 4) == partition_of("student-000001", 4)
    True
    """
    return zlib.crc32(student_id.encode("utf-8", "surrogatepass")) % partitions


def write_partitions(
    histories: Iterable[StudentHistory], directory: str | Path, *, partitions: int
) -> tuple[Path, ...]:
    """Write each history to its student's partition file; return the paths.

    Files are named ``part-00000.jsonl`` and so on; a partition with no
    student is an empty file, so every path exists. Checked as
    ``write_column_partitions`` checks its input: a positive ``partitions``,
    a path, histories of one organization (D19) with each student once;
    a refused input leaves every partition file as it was (and no folder
    this call made). Files are replaced one by one once every history is
    written: a crash then leaves each file whole, old or new.
    """
    from ._column_partitions import check_path

    if type(partitions) is not int or partitions < 1:
        raise InvalidInputError("partitions", partitions, "a positive integer")
    folder = Path(check_path("directory", directory))
    given: object = histories
    if isinstance(given, str | bytes) or not isinstance(given, Iterable):
        raise InvalidInputError("histories", histories, "StudentHistory records")
    made = [d for d in (folder, *folder.parents) if not d.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    paths = tuple(folder / f"part-{k:05d}.jsonl" for k in range(partitions))
    partials = [path.with_name(path.name + ".partial") for path in paths]
    seen: set[str] = set()
    organization: str | None = None
    written = False
    try:
        handles = [partial.open("w", encoding="utf-8") for partial in partials]
        try:
            for history in histories:
                if not isinstance(history, StudentHistory):
                    raise InvalidInputError(
                        "histories", history, "StudentHistory records"
                    )
                if organization is None:
                    organization = history.organization_id
                elif history.organization_id != organization:
                    raise InvalidInputError(
                        "organization_id",
                        history.organization_id,
                        f"D19: one organization per batch ({organization!r})",
                    )
                if history.student_id in seen:
                    raise InvalidInputError(
                        "student_id", history.student_id, "each student once"
                    )
                seen.add(history.student_id)
                handle = handles[partition_of(history.student_id, partitions)]
                handle.write(to_json(history))
                handle.write("\n")
        finally:
            for handle in handles:
                handle.close()
        for partial, path in zip(partials, paths, strict=True):
            os.replace(partial, path)
        written = True
    finally:
        if not written:
            for partial in partials:
                partial.unlink(missing_ok=True)
            for made_dir in made:  # the folders this call made, deepest first
                with contextlib.suppress(OSError):
                    made_dir.rmdir()
    return paths


def read_partition(path: str | Path) -> Iterator[StudentHistory]:
    """The histories of one partition file, one at a time."""
    with Path(path).open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield structure(json.loads(line), StudentHistory)


def result_row(result: StudentResult) -> dict[str, Any]:
    """A student's batch result as a plain JSON-ready row."""
    return {
        "student_id": result.student_id,
        "organization_id": result.organization_id,
        "class_ids": list(result.class_ids),
        "completion_percentage": result.completion_percentage,
        "summary": unstructure(result.summary),
        "events": len(result.events),
    }


def summarize_partition(
    path: str | Path,
    *,
    as_of: datetime,
    run_id: str,
    policy: Policy = DEFAULT_POLICY,
) -> list[dict[str, Any]]:
    """Read one partition and summarize each of its students.

    Memory is bounded by one student's records plus the rows returned; the
    rows are sorted by student id so results compare equal across engines.
    """
    rows = [
        result_row(summarize_student(h, as_of=as_of, run_id=run_id, policy=policy))
        for h in read_partition(path)
    ]
    rows.sort(key=lambda row: str(row["student_id"]))
    return rows
