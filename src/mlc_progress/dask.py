"""Batch work on a Dask cluster (the ``mlc_progress[dask]`` extra).

Each task receives the path of one partition and reads it on the worker;
the client ships paths, never rows (see ``docs/howto-distributed-batch.md``).
Two kinds of partition: JSON Lines of ``StudentHistory`` records
(:func:`write_partitions`, the record path, ``summarize_student`` per
student), and an organization's step columns (:func:`write_column_partitions`,
the columnar kernel; needs the ``columnar`` extra too). Results equal
:func:`summarize_partitions_locally` and
:func:`summarize_column_partitions_locally` exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from ._column_partitions import (
    PartitionFigures,
    check_paths,
    read_column_partition,
    summarize_column_partition,
    summarize_column_partitions_locally,
    write_column_partitions,
)
from ._errors import InvalidInputError
from ._partitions import (
    partition_of,
    read_partition,
    result_row,
    summarize_partition,
    write_partitions,
)
from ._policy import DEFAULT_POLICY, Policy

__all__ = [
    "PartitionFigures",
    "partition_of",
    "read_column_partition",
    "read_partition",
    "result_row",
    "summarize_column_partition",
    "summarize_column_partitions_locally",
    "summarize_columns_with_dask",
    "summarize_partition",
    "summarize_partitions_locally",
    "summarize_with_dask",
    "write_column_partitions",
    "write_partitions",
]


def summarize_partitions_locally(
    paths: Sequence[str | Path],
    *,
    as_of: datetime,
    run_id: str,
    policy: Policy = DEFAULT_POLICY,
) -> list[dict[str, Any]]:
    """The single-process run: every partition in turn, rows by student id."""
    return _by_student(
        row
        for path in check_paths(paths)
        for row in summarize_partition(path, as_of=as_of, run_id=run_id, policy=policy)
    )


def summarize_with_dask(
    paths: Sequence[str | Path],
    *,
    client: Any,
    as_of: datetime,
    run_id: str,
    policy: Policy = DEFAULT_POLICY,
) -> list[dict[str, Any]]:
    """Summarize every partition on the cluster behind ``client``.

    One task per partition; each worker opens its own file. ``client`` is a
    ``distributed.Client`` (a ``LocalCluster``'s, say).
    """
    names = [str(p) for p in check_paths(paths)]
    _check_client(client)
    futures = client.map(
        summarize_partition,
        names,
        as_of=as_of,
        run_id=run_id,
        policy=policy,
        pure=False,
    )
    return _by_student(row for part in client.gather(futures) for row in part)


def _by_student(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows by student id, refused when a student is in two partitions
    (files written by other means), which would count them twice."""
    ordered = sorted(rows, key=lambda row: str(row["student_id"]))
    for before, after in pairwise(ordered):
        if before["student_id"] == after["student_id"]:
            raise InvalidInputError(
                "student_id", after["student_id"], "each student in one partition"
            )
    return ordered


def summarize_columns_with_dask(
    paths: Sequence[str | Path],
    *,
    client: Any,
    as_of: datetime,
    policy: Policy = DEFAULT_POLICY,
) -> PartitionFigures:
    """Every column partition's figures, computed on the cluster behind
    ``client`` and combined by student.

    One task per partition; each worker opens its own file and sends back
    only the per-student figures. Equal to
    :func:`summarize_column_partitions_locally` over the same paths.
    """
    names = [str(p) for p in check_paths(paths)]
    _check_client(client)
    futures = client.map(
        summarize_column_partition,
        names,
        as_of=as_of,
        policy=policy,
        pure=False,
    )
    return PartitionFigures.combine(client.gather(futures))


def _check_client(client: Any) -> None:
    """A ``distributed.Client``, or anything with its ``map`` and ``gather``."""
    if not (
        callable(getattr(client, "map", None))
        and callable(getattr(client, "gather", None))
    ):
        raise InvalidInputError("client", client, "a distributed.Client")
