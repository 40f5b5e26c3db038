"""A Ctrl-C that a native call swallowed still stops a run (fraudgraph.jobs.interrupts)."""

from __future__ import annotations

import os
import signal

import pytest

from fraudgraph.jobs.interrupts import InterruptLatch


def _swallowed_sigint() -> None:
    """Deliver SIGINT to this process and swallow the KeyboardInterrupt, as a native
    library that checks for signals itself may."""
    try:
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # the handler runs between bytecodes
            pass
    except KeyboardInterrupt:
        pass


def test_a_swallowed_interrupt_is_still_raised_at_the_next_check() -> None:
    """The latch records the signal even though its KeyboardInterrupt was swallowed, and
    the next check raises; the default handler is back after the block."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with InterruptLatch() as latch:
            latch.check()
            _swallowed_sigint()
            assert latch.fired
            with pytest.raises(KeyboardInterrupt):
                latch.check()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_host_handling_sigint_itself_keeps_its_handling() -> None:
    """Over a handler that is not Python's default (here: ignoring SIGINT) the latch
    installs nothing, so the host's handling stands and nothing is recorded."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with InterruptLatch() as latch:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)
            latch.check()
        assert not latch.fired
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
