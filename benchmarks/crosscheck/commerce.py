"""Merchants and card payments: the catalogue, who pays where, and how much.

Local categories (grocery, restaurants, fuel...) have national chains and independent
shops in every metro; online categories have national merchants only. Popularity within a
pool follows a power law, so a few merchants take most payments, as in a real book.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import ArrayLike

from benchmarks.crosscheck.geo import MERCHANT_CATEGORIES, METROS
from benchmarks.crosscheck.world import I64, NONE, World

CATEGORY: Final = {c.name: i for i, c in enumerate(MERCHANT_CATEGORIES)}
_MEDIAN_CENTS: Final = np.array([c.median_usd * 100 for c in MERCHANT_CATEGORIES])
_SIGMA: Final = np.array([c.sigma for c in MERCHANT_CATEGORIES])
_SPEND: Final = np.array([c.spend_weight for c in MERCHANT_CATEGORIES])
_LOCAL: Final = np.array([c.local for c in MERCHANT_CATEGORIES])
#: Power applied to uniform draws within a pool: the larger, the more concentrated.
_POPULARITY: Final = 2.4


@dataclass(frozen=True)
class Catalogue:
    """Merchant rows sorted into pools keyed by (category, metro); metro -1 is national."""

    rows: I64
    keys: I64
    starts: I64
    lengths: I64

    def pool_key(self, category: ArrayLike, metro: ArrayLike) -> I64:
        """The pool key of (category, metro); ``metro`` -1 for national merchants."""
        return np.asarray(category, dtype=np.int64) * 64 + np.asarray(metro, dtype=np.int64) + 1

    def draw(self, rng: np.random.Generator, key: ArrayLike, power: float = _POPULARITY) -> I64:
        """One merchant per element of ``key``, popular ones more often."""
        keys = np.asarray(key, dtype=np.int64).ravel()
        slot = np.minimum(np.searchsorted(self.keys, keys), self.keys.size - 1)
        if not np.array_equal(self.keys[slot], keys):
            raise ValueError("no merchant in some of the requested (category, metro) pools")
        start = self.starts[slot]
        length = self.lengths[slot]
        offset = np.floor(length * rng.random(keys.size) ** power).astype(np.int64)
        return self.rows[start + np.minimum(offset, length - 1)]


def build_catalogue(world: World) -> Catalogue:
    """Create the merchants of the book: about one per 25 accounts, at least 400."""
    rng = world.rng("merchants")
    total = max(400, world.customers.n // 25)
    shares = np.array([c.share for c in MERCHANT_CATEGORIES])
    counts = np.maximum(4, np.round(total * shares / shares.sum()).astype(np.int64))
    categories: list[np.ndarray] = []
    metros: list[np.ndarray] = []
    for i, count in enumerate(counts):
        if _LOCAL[i]:
            chains = max(2, int(count * 0.15))
            local = int(count) - chains
            categories.append(np.full(chains + local, i))
            per_metro = np.concatenate([np.full(chains, -1), rng.integers(0, len(METROS), local)])
            # Every metro needs at least one shop of each local category.
            per_metro[chains : chains + len(METROS)] = np.arange(len(METROS))[: max(0, local)]
            metros.append(per_metro)
        else:
            categories.append(np.full(int(count), i))
            metros.append(np.full(int(count), -1))
    category = np.concatenate(categories)
    metro = np.concatenate(metros)
    order = rng.permutation(category.size)
    rows = world.entities.merchants.add(category.size, category=category[order], metro=metro[order])
    return catalogue_of(world, rows)


def catalogue_of(world: World, rows: I64) -> Catalogue:
    """Pool the given merchant rows by (category, metro)."""
    reg = world.entities.merchants
    category = reg.col("category")[rows].astype(np.int64)
    metro = reg.col("metro")[rows].astype(np.int64)
    keys = category * 64 + metro + 1
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    unique, starts, lengths = np.unique(sorted_keys, return_index=True, return_counts=True)
    return Catalogue(rows[order], unique, starts, lengths)


def everyday_merchants(
    world: World, rng: np.random.Generator, catalogue: Catalogue, metro: ArrayLike
) -> tuple[I64, np.ndarray]:
    """Everyday purchases of customers living in ``metro``: (merchant rows, is online).

    The category follows the share of spend; local categories go to a shop in the metro
    three times in five, otherwise to a national chain; other categories are online.
    """
    metros = np.asarray(metro, dtype=np.int64).ravel()
    n = metros.size
    category = rng.choice(_SPEND.size, size=n, p=_SPEND / _SPEND.sum())
    local = _LOCAL[category] & (rng.random(n) < 0.6)
    key = catalogue.pool_key(category, np.where(local, metros, -1))
    merchant = catalogue.draw(rng, key)
    online = ~_LOCAL[category] & (rng.random(n) < 0.85)
    online |= _LOCAL[category] & (rng.random(n) < 0.05)
    return merchant, online


def merchants_of(
    rng: np.random.Generator, catalogue: Catalogue, category: str, n: int, metro: int = NONE
) -> I64:
    """``n`` merchants of ``category`` (national pool unless ``metro`` is given)."""
    key = catalogue.pool_key(np.full(n, CATEGORY[category]), np.full(n, metro))
    return catalogue.draw(rng, key, power=1.5)


def ticket_cents(
    world: World, rng: np.random.Generator, merchant: ArrayLike, scale: float = 1.0
) -> I64:
    """Log-normal purchase amounts in cents for the merchants' categories."""
    rows = np.asarray(merchant, dtype=np.int64).ravel()
    category = world.entities.merchants.col("category")[rows].astype(np.int64)
    amount = _MEDIAN_CENTS[category] * scale * np.exp(rng.normal(0.0, _SIGMA[category]))
    return np.maximum(100, np.round(amount)).astype(np.int64)
