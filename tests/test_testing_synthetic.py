"""The public synthetic organization: reproducible, valid, its arguments checked."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from mlc_progress import InvalidInputError, StepProgress
from mlc_progress.testing.synthetic import synthetic_histories, synthetic_structures

AS_OF = datetime(2026, 11, 2, tzinfo=UTC)


def test_the_same_arguments_give_the_same_organization() -> None:
    """A seed reproduces every record; another seed gives others."""
    structures = synthetic_structures(assignments=3, steps=4, as_of=AS_OF)
    first = list(synthetic_histories(structures, students=5, as_of=AS_OF))
    again = list(synthetic_histories(structures, students=5, as_of=AS_OF))
    other = list(synthetic_histories(structures, students=5, as_of=AS_OF, seed=8))
    assert first == again
    assert first != other
    assert all(
        isinstance(step, StepProgress)
        for history in first
        for records in history.assignments
        for step in records.steps
    )


def test_first_student_continues_the_numbering_of_an_earlier_call() -> None:
    """Slices of an organization concatenate to the whole."""
    structures = synthetic_structures(assignments=2, steps=3, as_of=AS_OF)
    whole = list(synthetic_histories(structures, students=6, as_of=AS_OF))
    parts = [
        *synthetic_histories(structures, students=2, as_of=AS_OF),
        *synthetic_histories(structures, students=4, as_of=AS_OF, first_student=2),
    ]
    assert parts == whole


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"assignments": -1}, "assignments"),
        ({"steps": 2.5}, "steps"),
        ({"as_of": datetime(2026, 11, 2)}, "as_of"),
        ({"seed": "7"}, "seed"),
        ({"as_of": datetime(1, 1, 2, tzinfo=UTC)}, "as_of"),
    ],
)
def test_synthetic_structures_refuses_bad_arguments(
    arguments: dict[str, Any], field: str
) -> None:
    """A typed error naming the argument, not a bare error later."""
    given: dict[str, Any] = {"assignments": 2, "steps": 3, "as_of": AS_OF, **arguments}
    with pytest.raises(InvalidInputError) as caught:
        synthetic_structures(**given)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"students": -3}, "students"),
        ({"first_student": True}, "first_student"),
        ({"as_of": "2026-11-02"}, "as_of"),
        ({"organization_id": " "}, "organization_id"),
        ({"structures": ("a1",)}, "structures"),
        ({"structures": 5}, "structures"),
        ({"structures": None}, "structures"),
    ],
)
def test_synthetic_histories_refuses_bad_arguments_when_called(
    arguments: dict[str, Any], field: str
) -> None:
    """Refused at the call, before any student is drawn."""
    given: dict[str, Any] = {
        "structures": synthetic_structures(assignments=1, steps=2, as_of=AS_OF),
        "students": 2,
        "as_of": AS_OF,
        **arguments,
    }
    structures = given.pop("structures")
    with pytest.raises(InvalidInputError) as caught:
        synthetic_histories(structures, **given)
    assert caught.value.field == field
