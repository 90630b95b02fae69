"""Budget amounts are whole nano-dollars (1e-9 USD) in every counter.

Integers add up exactly in SQLite and in Redis, where floats would drift over millions
of reservations and settlements. Redis Lua compares them as doubles, exact up to 2^53
nano-dollars: about 9 million USD per counter.
"""

from __future__ import annotations

import math

NANOS_PER_USD = 1_000_000_000


def to_nanos(usd: float) -> int:
    """``usd`` in nano-dollars, rounded up, so a counter never holds less than was
    spent (rounded to a thousandth first, so float noise does not add one)."""
    return max(0, math.ceil(round(usd * NANOS_PER_USD, 3)))


def to_limit_nanos(usd: float) -> int:
    """A limit in nano-dollars, rounded down, so a counter at it is not past it."""
    return max(0, math.floor(round(usd * NANOS_PER_USD, 3)))


def to_usd(nanos: int) -> float:
    return nanos / NANOS_PER_USD
