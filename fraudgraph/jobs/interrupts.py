"""Ctrl-C stops a pipeline run even when a native library swallowed it.

Python turns SIGINT into ``KeyboardInterrupt`` in the main thread, but a native call that
checks for signals itself (a query engine, a CSV reader) can take the interrupt and carry
on, and the run then finishes as if nobody had asked it to stop. :class:`InterruptLatch`
remembers that the signal came: the run checks it between steps and stops there, recorded
as interrupted and resumable, as it would have at once.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any, Self

__all__ = ["InterruptLatch"]


class InterruptLatch:
    """Remember a SIGINT for the duration of a ``with`` block.

    The latch installs its handler only in the main thread and only over Python's own
    default handler, so a host that handles SIGINT itself (a worker, a test runner with its
    own handler, a process that ignores it) keeps its handling. The handler records the
    signal, then behaves as the default one (raises ``KeyboardInterrupt``).

    Examples
    --------
    >>> with InterruptLatch() as latch:
    ...     latch.check()  # nothing happened: no error
    >>> latch.fired
    False
    """

    def __init__(self) -> None:
        self.fired = False
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> Self:
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.fired = True
        signal.default_int_handler(signum, frame)

    def check(self) -> None:
        """Raise ``KeyboardInterrupt`` when a SIGINT came since the block began.

        Raises
        ------
        KeyboardInterrupt
            If the signal came, whether or not its first ``KeyboardInterrupt`` got through.
        """
        if self.fired:
            raise KeyboardInterrupt("interrupted (Ctrl-C)")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False
