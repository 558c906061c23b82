"""Rounding half away from zero: the one rule for every number a person
reads (D17's factor strings, the views' display text; Q24).

Python's ``round`` rounds halves to even; these do not. They round the
decimal text of a float (its ``repr``), so ``79.25`` to one digit is
``79.3``; to whole numbers that is the same as rounding the float exactly.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

__all__ = ["half_away", "round_half_away"]


def half_away(value: float, digits: int = 0) -> Decimal:
    """``value`` rounded to ``digits`` decimals, halves away from zero.

    >>> half_away(79.25, 1), half_away(-2.5)
    (Decimal('79.3'), Decimal('-3'))
    """
    return Decimal(repr(value)).quantize(
        Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP
    )


def round_half_away(value: float) -> int:
    """Round to the nearest integer, halves away from zero (D17).

    >>> round_half_away(52.5), round_half_away(53.5), round_half_away(-2.5)
    (53, 54, -3)
    """
    return int(half_away(value))
