"""What the processes an import starts beside it (its indexing) share."""

from __future__ import annotations

import ctypes
import signal

PR_SET_PDEATHSIG = 1  # Linux prctl option: the signal a process gets when its parent dies


def die_with_parent() -> None:
    """Have Linux kill this process when its parent dies: an import killed outright takes
    its indexing with it, so the search structures stay at their last commit and their
    locks are free at once (elsewhere the process notices within a batch and stops)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
