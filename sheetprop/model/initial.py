"""Initial weights and biases for those a spec leaves out: Xavier, He or uniform draws.

Seeded (same spec, same workbook) and rounded to a few decimals, so a student can read and type
them. Xavier draws from ±√(6/(fan_in+fan_out)), He from ±√(6/fan_in), uniform from [low, high].
"""

from __future__ import annotations

import math
import random
from typing import Callable


def drawer(init: dict) -> Callable[[int, int], float]:
    """A function (fan_in, fan_out) → the next weight, drawn as `init` says: a checked `init`
    mapping (method, seed, low, high, decimals), every key optional."""
    method, decimals = init.get("method", "xavier"), init.get("decimals", 4)
    low, high = init.get("low", -0.5), init.get("high", 0.5)
    rng = random.Random(init.get("seed", 0))

    def draw(fan_in: int, fan_out: int) -> float:
        if method == "xavier":
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            value = rng.uniform(-limit, limit)
        elif method == "he":
            limit = math.sqrt(6.0 / fan_in)
            value = rng.uniform(-limit, limit)
        else:
            value = rng.uniform(low, high)
        return round(value, decimals)

    return draw
