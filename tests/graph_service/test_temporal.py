"""Time-window primitives: the sign-up burst count on hand-built links."""

from __future__ import annotations

import numpy as np

from graph_service.temporal import signup_burst


def test_signup_burst_counts_others_within_the_window() -> None:
    """Four accounts on one device half a day apart, window 1 day: 2 or 3 others each."""
    row = np.array([0, 1, 2, 3, 4])
    device = np.array([9, 9, 9, 9, 8])
    day = 86_400_000_000
    first = np.array([0, day // 2, day, 3 * day // 2, 0])
    burst = signup_burst(row, device, first, 6, window_us=day)
    assert burst.tolist() == [2, 3, 3, 2, 0, 0]
