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

import json
import zlib
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

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
    histories: Iterable[StudentHistory], directory: Path, *, partitions: int
) -> tuple[Path, ...]:
    """Write each history to its student's partition file; return the paths.

    Files are named ``part-00000.jsonl`` and so on; a partition with no
    student is an empty file, so every path exists.
    """
    directory.mkdir(parents=True, exist_ok=True)
    paths = tuple(directory / f"part-{k:05d}.jsonl" for k in range(partitions))
    handles = [path.open("w", encoding="utf-8") for path in paths]
    try:
        for history in histories:
            handle = handles[partition_of(history.student_id, partitions)]
            handle.write(to_json(history))
            handle.write("\n")
    finally:
        for handle in handles:
            handle.close()
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
