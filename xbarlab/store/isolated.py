"""Run a read in a forked child process, so that whatever the HDF5 library does while a writer
changes the file under it (heap corruption and aborts were seen when a reader iterated a group
the SWMR writer was adding runs to) kills only the child, and a read that never returns is cut
off at a deadline.

Used by the reader only while a live writer holds the file; reads of a closed file run in the
calling process. Linux (fork) only, which is where the store runs.
"""

from __future__ import annotations

import faulthandler
import os
import pickle
import select
import signal
import time
from collections.abc import Callable
from typing import Any

DEADLINE_S = 30.0

_in_child = False


class IsolatedReadFailed(Exception):
    """The child died (a signal, an abort) or missed its deadline; the read may be retried."""


def in_child() -> bool:
    return _in_child


def run_isolated(func: Callable[..., Any], *args: Any, deadline_s: float = DEADLINE_S,
                 **kwargs: Any) -> Any:
    """``func(*args, **kwargs)`` computed in a forked child: its result, or its exception
    raised here."""
    global _in_child
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute, send, leave without running the parent's cleanup
        _in_child = True
        # a child that HDF5 aborts is the parent's to report (as a retry); the inherited
        # fault handler's dump of the parent's stack would only look like the parent dying
        faulthandler.disable()
        os.close(r)
        try:
            try:
                payload = pickle.dumps((True, func(*args, **kwargs)))
            except BaseException as exc:  # every outcome goes back to the parent
                payload = pickle.dumps((False, exc))
            with os.fdopen(w, "wb") as pipe:
                pipe.write(payload)
        finally:
            os._exit(0)
    os.close(w)
    chunks: list[bytes] = []
    end = time.monotonic() + deadline_s
    try:
        while True:
            left = end - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                raise IsolatedReadFailed(f"no answer within {deadline_s:g} s")
            ready, _, _ = select.select([r], [], [], left)
            if ready:
                chunk = os.read(r, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(r)
        _, status = os.waitpid(pid, 0)
    if not os.WIFEXITED(status) or not chunks:
        raise IsolatedReadFailed(f"reader process died (status {status})")
    ok, value = pickle.loads(b"".join(chunks))
    if ok:
        return value
    raise value
