"""Batch work on a local Dask cluster equals the single-process run, on the
record path and on the columnar path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from distributed import Client, LocalCluster

from mlc_progress import InvalidInputError
from mlc_progress._synthetic import synthetic_histories, synthetic_structures
from mlc_progress.columnar import StepColumns, summarize_columns
from mlc_progress.dask import (
    partition_of,
    read_partition,
    summarize_column_partitions_locally,
    summarize_columns_with_dask,
    summarize_partitions_locally,
    summarize_with_dask,
    write_column_partitions,
    write_partitions,
)

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
STRUCTURES = synthetic_structures(assignments=4, steps=5, as_of=AS_OF)


@pytest.fixture(scope="module")
def partitions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ...]:
    histories = synthetic_histories(STRUCTURES, students=120, as_of=AS_OF)
    return write_partitions(histories, tmp_path_factory.mktemp("parts"), partitions=4)


@pytest.fixture(scope="module")
def columns() -> StepColumns:
    histories = synthetic_histories(STRUCTURES, students=120, as_of=AS_OF)
    return StepColumns.from_histories(histories)


@pytest.fixture(scope="module")
def column_partitions(
    columns: StepColumns, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, ...]:
    return write_column_partitions(
        columns, tmp_path_factory.mktemp("columns"), partitions=4
    )


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    # distributed ships no type hints for its constructors.
    with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as dask_client,  # type: ignore[no-untyped-call]
    ):
        yield dask_client


def test_every_student_lands_in_exactly_one_partition(
    partitions: tuple[Path, ...],
) -> None:
    """Each student is written once, to the partition its id hashes to."""
    seen: list[str] = []
    for index, path in enumerate(partitions):
        for history in read_partition(path):
            assert partition_of(history.student_id, len(partitions)) == index
            seen.append(history.student_id)
    assert sorted(seen) == [f"student-{n:06d}" for n in range(120)]


def test_dask_run_equals_the_single_process_run(
    partitions: tuple[Path, ...], client: Client
) -> None:
    """Two worker processes, each reading its own partitions, give exactly the
    rows of one process summarizing every partition in turn."""
    local = summarize_partitions_locally(partitions, as_of=AS_OF, run_id="r1")
    distributed = summarize_with_dask(
        partitions, client=client, as_of=AS_OF, run_id="r1"
    )
    assert len(local) == 120
    assert distributed == local
    assert len(client.scheduler_info()["workers"]) == 2


def test_columnar_dask_run_equals_the_single_process_run(
    columns: StepColumns, column_partitions: tuple[Path, ...], client: Client
) -> None:
    """Two worker processes, each reading its own column partitions, give
    exactly the figures of one process summarizing every partition in turn,
    which are the kernel's over the whole table."""
    local = summarize_column_partitions_locally(column_partitions, as_of=AS_OF)
    distributed = summarize_columns_with_dask(
        column_partitions, client=client, as_of=AS_OF
    )
    assert len(local) == 120
    assert distributed == local
    whole = summarize_columns(columns, as_of=AS_OF)
    for sid in columns.student_ids:
        assert distributed.summary(sid) == whole.summary(sid)
    assert len(client.scheduler_info()["workers"]) == 2


def test_a_bad_partition_fails_the_job_with_the_workers_error(
    column_partitions: tuple[Path, ...], client: Client, tmp_path: Path
) -> None:
    """A partition that breaks a rule fails on its worker, and the client
    gets the same ``InvalidInputError``: nothing is summarized unchecked."""
    with np.load(column_partitions[0], allow_pickle=False) as archive:
        fields = {name: archive[name] for name in archive.files}
    fields["attempt_count"] = np.full_like(fields["attempt_count"], -1)
    bad = tmp_path / "part-bad.npz"
    np.savez(bad, **fields)
    with pytest.raises(InvalidInputError) as error:
        summarize_columns_with_dask(
            [*column_partitions[1:], bad], client=client, as_of=AS_OF
        )
    assert error.value.field == "attempt_count[0]"


def test_the_runs_check_their_paths_and_client_before_any_work(
    column_partitions: tuple[Path, ...],
) -> None:
    """One path where a collection is due, an entry that is no path, or a
    client that is no ``distributed.Client``: an ``InvalidInputError`` naming
    the argument, raised at the client before a task is sent."""
    one = str(column_partitions[0])
    runs: dict[str, Callable[[Any, Any], object]] = {
        "record path, locally": lambda paths, client: summarize_partitions_locally(
            paths, as_of=AS_OF, run_id="r"
        ),
        "columns, locally": lambda paths, client: summarize_column_partitions_locally(
            paths, as_of=AS_OF
        ),
        "record path, dask": lambda paths, client: summarize_with_dask(
            paths, client=client, as_of=AS_OF, run_id="r"
        ),
        "columns, dask": lambda paths, client: summarize_columns_with_dask(
            paths, client=client, as_of=AS_OF
        ),
    }
    for name, run in runs.items():
        for paths in (one, Path(one), 5, [one, None]):
            with pytest.raises(InvalidInputError) as error:
                run(paths, None)
            assert error.value.field == "paths", name
    for run in (runs["record path, dask"], runs["columns, dask"]):
        with pytest.raises(InvalidInputError) as refused:
            run([one], None)
        assert refused.value.field == "client"
