"""Events of the default profile as integer codes, before they are spelled out.

Internally every identifier is an integer; it becomes text only when a part is
written. IP codes carry their kind in the high bits. ``-1`` means absent (``NaN`` for
amounts).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from graph_service.typing import F64, I64
from ingestion.schema import EventType

I32 = npt.NDArray[np.int32]
I8 = npt.NDArray[np.int8]
U64 = npt.NDArray[np.uint64]

HOUR: Final = 3_600_000_000
DAY: Final = 24 * HOUR

_EVENT_CODE: Final = {t: i for i, t in enumerate(EventType)}
SIGNUP, LOGIN, PAYMENT, TRANSFER = (_EVENT_CODE[t] for t in EventType)

IP_HOME, IP_HOME6, IP_NAT, IP_OFFICE, IP_WIFI, IP_VPN, IP_RING = range(1, 8)
IP_SHIFT: Final = 40
IP_INDEX_MASK: Final = (1 << IP_SHIFT) - 1
HOME_SPACE: Final = 1 << 24  # 4 ISPs x a /10 each


def ip_code(kind: int, index: npt.NDArray[np.integer] | int) -> I64:
    """The IP code of each ``index`` of IP kind ``kind`` (``IP_HOME`` ... ``IP_RING``)."""
    return (np.int64(kind) << np.int64(IP_SHIFT)) | np.asarray(index, np.int64)


_BATCH_FIELDS: Final[dict[str, tuple[type, float]]] = {
    "account": (np.int64, -1),
    "ts": (np.int64, 0),
    "etype": (np.int8, 0),
    "device": (np.int64, -1),
    "ip": (np.int64, -1),
    "phone": (np.int64, -1),
    "phone_fmt": (np.int8, 0),
    "email": (np.int64, -1),
    "email_var": (np.int8, 0),
    "card": (np.int64, -1),
    "address": (np.int64, -1),
    "address_var": (np.int8, 0),
    "merchant": (np.int64, -1),
    "counterparty": (np.int64, -1),
    "amount": (np.float64, math.nan),
}


@dataclass(slots=True)
class EventBatch:
    """Events as integer codes, one array per column; -1 (NaN for amounts) means absent."""

    account: I64
    ts: I64
    etype: I8
    device: I64
    ip: I64
    phone: I64
    phone_fmt: I8
    email: I64
    email_var: I8
    card: I64
    address: I64
    address_var: I8
    merchant: I64
    counterparty: I64
    amount: F64

    def __len__(self) -> int:
        return int(self.ts.size)

    def take(self, index: npt.NDArray[np.integer] | slice) -> EventBatch:
        """The rows at ``index``."""
        return EventBatch(**{name: getattr(self, name)[index] for name in _BATCH_FIELDS})

    @staticmethod
    def concat(batches: Sequence[EventBatch]) -> EventBatch:
        """Rows of every batch, in order."""
        if not batches:
            return events(np.empty(0, np.int64), np.empty(0, np.int64), LOGIN)
        return EventBatch(
            **{name: np.concatenate([getattr(b, name) for b in batches]) for name in _BATCH_FIELDS}
        )


def events(
    account: npt.ArrayLike, ts: npt.ArrayLike, etype: npt.ArrayLike, **columns: npt.ArrayLike
) -> EventBatch:
    """A batch from per-row arrays or scalars (broadcast); omitted columns are absent."""
    account = np.asarray(account, np.int64)
    n = account.size
    values: dict[str, Any] = {}
    given = {"account": account, "ts": ts, "etype": etype, **columns}
    unknown = set(given) - set(_BATCH_FIELDS)
    if unknown:
        raise TypeError(f"unknown event columns {sorted(unknown)}")
    for name, (dtype, default) in _BATCH_FIELDS.items():
        if name in given:
            values[name] = np.broadcast_to(np.asarray(given[name], dtype), (n,)).copy()
        else:
            values[name] = np.full(n, default, dtype)
    return EventBatch(**values)


def sorted_uniforms(rng: np.random.Generator, count: int) -> F64:
    """``count`` uniform draws in [0, 1), in ascending order, in O(count).

    Normalised partial sums of exponential spacings are distributed as the order
    statistics of uniforms, so no sort is needed.
    """
    sums = np.cumsum(rng.standard_exponential(count + 1))
    uniforms: F64 = sums[:-1] / sums[-1]
    return uniforms


def money(values: npt.NDArray[np.floating]) -> F64:
    """Amounts in currency units, rounded to cents, at least 0.50."""
    rounded: F64 = np.round(np.maximum(values, 0.5), 2).astype(np.float64)
    return rounded


def uniform_ts(rng: np.random.Generator, low: I64 | int, high: I64 | int, n: int) -> I64:
    """Uniform timestamps in ``[low, high)`` (one each when bounds are arrays)."""
    span = np.maximum(np.asarray(high, np.int64) - np.asarray(low, np.int64), 1)
    return np.asarray(low, np.int64) + (rng.random(n) * span).astype(np.int64)
