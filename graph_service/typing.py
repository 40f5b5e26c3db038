"""Type aliases shared by every package: the array shapes the graph is computed in.

Store ids are int64, scores and weights float64, type codes uint8; one alias each, so a
signature says which it takes.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = ["F64", "I64", "U8", "BoolArray"]

#: Store ids, counts, timestamps (µs since the epoch).
I64: TypeAlias = npt.NDArray[np.int64]
#: Scores, weights, amounts.
F64: TypeAlias = npt.NDArray[np.float64]
#: ``NODE_TYPE_CODE`` / ``LINK_TYPE_CODE`` values.
U8: TypeAlias = npt.NDArray[np.uint8]
#: Masks.
BoolArray: TypeAlias = npt.NDArray[np.bool_]
