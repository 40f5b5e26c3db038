"""Events of the hard profile as integer codes, before they are spelled out.

Every identifier is an ``int64`` code until a part is rendered: the kind of identifier
sits in the high bits (:data:`KIND_SHIFT`), the index within that kind below. ``-1``
means absent (``NaN`` for amounts).
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

__all__ = ["EventBatch", "code", "events"]

I32 = npt.NDArray[np.int32]
I8 = npt.NDArray[np.int8]

MINUTE: Final = 60_000_000
HOUR: Final = 60 * MINUTE
DAY: Final = 24 * HOUR
WEEK: Final = 7 * DAY

EVENT_CODE: Final = {t: i for i, t in enumerate(EventType)}
SIGNUP, LOGIN, PAYMENT, TRANSFER = (EVENT_CODE[t] for t in EventType)

KIND_SHIFT: Final = 44
INDEX_MASK: Final = (1 << KIND_SHIFT) - 1

# Device kinds. Personal devices index (person, slot, generation) as person * 16 +
# slot * 4 + generation % 4; slot 0 is the phone, 1 a second device, 2 an emulator.
DEV_PERSONAL, DEV_FAMILY, DEV_CALL_CENTRE, DEV_BRANCH, DEV_RING = range(1, 6)
# IP kinds. Home IPs index (household, lease epoch) as household * 16 + epoch % 16.
(
    IP_HOME,
    IP_NAT,
    IP_OFFICE,
    IP_CAMPUS,
    IP_WIFI,
    IP_HOTEL,
    IP_VPN,
    IP_BANK,
    IP_RING,
) = range(1, 10)
# Card kinds: personal (person * 4 + slot), household, ring.
CARD_PERSONAL, CARD_FAMILY, CARD_RING = range(1, 4)
# Phone codes: country index << 40 | national significant number.
PHONE_SHIFT: Final = 40
# Email codes: mailbox << 5 | domain.
EMAIL_SHIFT: Final = 5

# Operating systems (index into OS_NAMES).
OS_NAMES: Final = ("android", "ios", "windows", "macos", "ipados")
ANDROID, IOS, WINDOWS, MACOS, IPADOS = range(5)


def code(kind: int, index: npt.ArrayLike) -> I64:
    """Identifier codes of one kind."""
    return (np.int64(kind) << np.int64(KIND_SHIFT)) | np.asarray(index, np.int64)


def kind_of(codes: I64) -> I64:
    """The kind of each code."""
    return codes >> np.int64(KIND_SHIFT)


def index_of(codes: I64) -> I64:
    """The index of each code within its kind."""
    return codes & np.int64(INDEX_MASK)


_FIELDS: Final[dict[str, tuple[type, float]]] = {
    "account": (np.int64, -1),
    "ts": (np.int64, 0),
    "etype": (np.int8, 0),
    "device": (np.int64, -1),
    "ip": (np.int64, -1),
    "phone": (np.int64, -1),
    "email": (np.int64, -1),
    "card": (np.int64, -1),
    "address": (np.int64, -1),
    "merchant": (np.int64, -1),
    "counterparty": (np.int64, -1),
    "amount": (np.float64, math.nan),
}


@dataclass(slots=True)
class EventBatch:
    """Events as integer codes, one array per column."""

    account: I64
    ts: I64
    etype: I8
    device: I64
    ip: I64
    phone: I64
    email: I64
    card: I64
    address: I64
    merchant: I64
    counterparty: I64
    amount: F64

    def __len__(self) -> int:
        return int(self.ts.size)

    def take(self, index: npt.NDArray[np.integer] | slice) -> EventBatch:
        """The rows at ``index``."""
        return EventBatch(**{name: getattr(self, name)[index] for name in _FIELDS})

    def sorted(self) -> EventBatch:
        """The rows in time order (stable)."""
        return self.take(np.argsort(self.ts, kind="stable"))

    @staticmethod
    def concat(batches: Sequence[EventBatch]) -> EventBatch:
        """Rows of every batch, in order."""
        if not batches:
            return events(np.empty(0, np.int64), np.empty(0, np.int64), LOGIN)
        return EventBatch(
            **{name: np.concatenate([getattr(b, name) for b in batches]) for name in _FIELDS}
        )


def events(
    account: npt.ArrayLike, ts: npt.ArrayLike, etype: npt.ArrayLike, **columns: npt.ArrayLike
) -> EventBatch:
    """A batch from per-row arrays or scalars (broadcast); omitted columns are absent.

    Raises
    ------
    TypeError
        If a column name is unknown.
    """
    account = np.asarray(account, np.int64)
    n = account.size
    given = {"account": account, "ts": ts, "etype": etype, **columns}
    unknown = set(given) - set(_FIELDS)
    if unknown:
        raise TypeError(f"unknown event columns {sorted(unknown)}")
    values: dict[str, Any] = {}
    for name, (dtype, default) in _FIELDS.items():
        if name in given:
            values[name] = np.broadcast_to(np.asarray(given[name], dtype), (n,)).copy()
        else:
            values[name] = np.full(n, default, dtype)
    return EventBatch(**values)


def money(values: npt.NDArray[np.floating]) -> F64:
    """Amounts in dollars, rounded to cents, at least 1.00."""
    rounded: F64 = np.round(np.maximum(values, 1.0), 2).astype(np.float64)
    return rounded


def sorted_uniforms(rng: np.random.Generator, count: int) -> F64:
    """``count`` uniform draws in [0, 1), ascending, in O(count) (exponential spacings)."""
    sums = np.cumsum(rng.standard_exponential(count + 1))
    uniforms: F64 = sums[:-1] / sums[-1]
    return uniforms
