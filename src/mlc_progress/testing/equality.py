"""Equality of records with floats compared bit for bit.

``==`` on records treats ``0.0`` and ``-0.0`` as equal and never equates
``nan``; a law such as "the columnar kernel equals the record path" needs
the stricter sense. No dependency beyond attrs.
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["bitwise_equal"]


def bitwise_equal(a: Any, b: Any) -> bool:
    """Equal, with floats equal bit for bit (``repr`` tells -0.0 from 0.0),
    through attrs records and tuples.

    >>> bitwise_equal((1.0, "x"), (1.0, "x")), bitwise_equal(0.0, -0.0)
    (True, False)
    """
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return repr(a) == repr(b)
    if attrs.has(type(a)):
        return all(
            bitwise_equal(getattr(a, f.name), getattr(b, f.name))
            for f in attrs.fields(type(a))
        )
    if isinstance(a, tuple):
        return len(a) == len(b) and all(
            bitwise_equal(x, y) for x, y in zip(a, b, strict=True)
        )
    return bool(a == b)
