"""Rounding half away from zero: the one rule for every number a person
reads (D17's factor strings, the views' display text; Q24).

Python's ``round`` rounds halves to even; these do not. They round the
decimal text of a float (its ``repr``), so ``79.25`` to one digit is
``79.3``; to whole numbers that is the same as rounding the float exactly
below 2**52, and from 2**52 on a float is a whole number already, which
:func:`round_half_away` returns exactly (its text may differ: ``1e300``).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation

__all__ = ["half_away", "round_half_away"]

# From 2**52 every float is a whole number (its unit in the last place >= 1).
_WHOLE = 2.0**52


def half_away(value: float, digits: int = 0) -> Decimal:
    """``value`` rounded to ``digits`` decimals, halves away from zero.

    >>> half_away(79.25, 1), half_away(-2.5)
    (Decimal('79.3'), Decimal('-3'))
    >>> half_away(1e30)
    Decimal('1000000000000000000000000000000')
    """
    text = Decimal(repr(value))
    unit = Decimal(1).scaleb(-digits)
    try:
        return text.quantize(unit, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        # More digits than the default context's 28: round with enough.
        wide = Context(prec=max(text.adjusted() + digits + 2, 28))
        return text.quantize(unit, rounding=ROUND_HALF_UP, context=wide)


def round_half_away(value: float) -> int:
    """Round to the nearest integer, halves away from zero (D17).

    >>> round_half_away(52.5), round_half_away(53.5), round_half_away(-2.5)
    (53, 54, -3)
    >>> round_half_away(1e30) == int(1e30) != 10**30
    True
    """
    if -_WHOLE < value < _WHOLE:
        return int(half_away(value))
    return int(value)
