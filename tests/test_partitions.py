"""Record-path partitions (``write_partitions``): checked as their column
twin is, and a refused input changes no file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mlc_progress import InvalidInputError
from mlc_progress.batch import StudentHistory
from mlc_progress.dask import (
    read_partition,
    summarize_partitions_locally,
    write_partitions,
)

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)


def histories(*ids: str, organization: str = "o") -> list[StudentHistory]:
    return [StudentHistory(student_id=s, organization_id=organization) for s in ids]


@pytest.mark.parametrize("partitions", [0, -1, 1.0, True, "2"])
def test_a_partition_count_that_is_not_a_positive_integer_is_refused(
    tmp_path: Path, partitions: Any
) -> None:
    """InvalidInputError naming partitions, not ZeroDivisionError or IndexError."""
    with pytest.raises(InvalidInputError) as caught:
        write_partitions(histories("u1"), tmp_path / "parts", partitions=partitions)
    assert caught.value.field == "partitions"
    assert not (tmp_path / "parts").exists()


def test_a_folder_given_as_text_is_accepted_like_the_column_twin(
    tmp_path: Path,
) -> None:
    """A str folder works, as it does for write_column_partitions."""
    paths = write_partitions(
        histories("u1", "u2"), str(tmp_path / "parts"), partitions=2
    )
    assert [p.name for p in paths] == ["part-00000.jsonl", "part-00001.jsonl"]
    assert sorted(h.student_id for p in paths for h in read_partition(p)) == [
        "u1",
        "u2",
    ]


@pytest.mark.parametrize(
    ("given", "field"),
    [
        (histories("u1", "u2", "u1"), "student_id"),
        (histories("u1") + histories("u2", organization="other"), "organization_id"),
        (["u1"], "histories"),
        ("u1", "histories"),
    ],
)
def test_a_refused_input_leaves_every_partition_file_as_it_was(
    tmp_path: Path, given: Any, field: str
) -> None:
    """A student twice, two organizations (D19) or things that are not
    histories are refused, and the files of an earlier write stay whole."""
    folder = tmp_path / "parts"
    paths = write_partitions(histories("a", "b", "c"), folder, partitions=2)
    before = [p.read_bytes() for p in paths]
    with pytest.raises(InvalidInputError) as caught:
        write_partitions(given, folder, partitions=2)
    assert caught.value.field == field
    assert [p.read_bytes() for p in paths] == before
    assert sorted(p.name for p in folder.iterdir()) == [p.name for p in paths]


def test_a_student_in_two_partition_files_is_refused_not_counted_twice(
    tmp_path: Path,
) -> None:
    """Files written by other means may repeat a student: the run refuses
    them instead of returning two rows for one student."""
    first = write_partitions(histories("u1", "u2"), tmp_path / "one", partitions=1)
    second = write_partitions(histories("u1"), tmp_path / "two", partitions=1)
    with pytest.raises(InvalidInputError) as caught:
        summarize_partitions_locally([*first, *second], as_of=AS_OF, run_id="r1")
    assert caught.value.field == "student_id"
    assert caught.value.value == "u1"


def test_a_refused_write_makes_no_folder(tmp_path: Path) -> None:
    """Histories refused while writing leave no folder behind, however deep
    the path this call would have made."""
    folder = tmp_path / "new" / "parts"
    with pytest.raises(InvalidInputError):
        write_partitions(["not a history"], folder, partitions=2)  # type: ignore[list-item]
    assert not (tmp_path / "new").exists()
