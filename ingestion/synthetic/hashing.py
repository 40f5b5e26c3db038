"""Stateless randomness for synthetic scenarios: salted SplitMix64 draws and scrambles.

A draw is a pure function of an item number and a salt, so per-item traits need no
stored state and do not depend on the order in which items are generated.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from graph_service.typing import F64, I64

__all__ = [
    "Scramble",
    "derive_salt",
    "hashed_below",
    "hashed_fraction",
    "hashed_unit",
    "splitmix",
]

_U64 = npt.NDArray[np.uint64]

_GOLDEN: Final = np.uint64(0x9E3779B97F4A7C15)
_MIX1: Final = np.uint64(0xBF58476D1CE4E5B9)
_MIX2: Final = np.uint64(0x94D049BB133111EB)
_MASK64: Final = (1 << 64) - 1


def derive_salt(seed: int, purpose: str) -> int:
    """A 64-bit salt for one purpose, derived from the seed."""
    digest = hashlib.blake2b(f"{seed}/{purpose}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def splitmix(values: npt.NDArray[np.integer], salt: int) -> _U64:
    """SplitMix64 of ``values`` xor-ed with a salt: a stateless per-item random draw."""
    z = values.astype(np.uint64) * _GOLDEN + np.uint64(salt & _MASK64)
    z ^= z >> np.uint64(30)
    z *= _MIX1
    z ^= z >> np.uint64(27)
    z *= _MIX2
    z ^= z >> np.uint64(31)
    return z


def hashed_unit(values: npt.NDArray[np.integer], salt: int) -> F64:
    """Stateless uniform draws in [0, 1), one per value."""
    return (splitmix(values, salt) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def hashed_fraction(hashed: _U64, lowest_bit: int) -> F64:
    """A uniform draw in [0, 1) from 16 bits of a hash (one hash feeds four draws)."""
    bits = (hashed >> np.uint64(lowest_bit)) & np.uint64(0xFFFF)
    return bits.astype(np.float64) * (1.0 / 65_536)


def hashed_below(values: npt.NDArray[np.integer], salt: int, bound: int) -> I64:
    """Stateless uniform integers in [0, bound), one per value."""
    return (splitmix(values, salt) % np.uint64(bound)).astype(np.int64)


@dataclass(frozen=True, slots=True)
class Scramble:
    """A bijection of ``[0, modulus)``, ``x -> (factor * x + offset) % modulus``.

    Makes sequential internal numbers look random while keeping them distinct.
    """

    modulus: int
    factor: int
    offset: int

    @classmethod
    def build(cls, modulus: int, salt: int) -> Scramble:
        # factor * x must stay below 2**63 for every x < modulus.
        upper = max(3, min(modulus, (2**63 - 1) // modulus - 1))
        factor = upper // 3 + salt % (upper - upper // 3)
        while math.gcd(factor, modulus) != 1:
            factor = factor + 1 if factor + 1 < upper else 2
        return cls(modulus, factor, (salt >> 17) % modulus)

    def __call__(self, values: npt.NDArray[np.integer]) -> I64:
        x = values.astype(np.int64) % self.modulus
        return (x * self.factor + self.offset) % self.modulus
