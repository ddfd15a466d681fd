"""Replacing and removing large files without waiting for the filesystem to free their blocks.

ext4 frees a file's blocks in the call that removes its last name: 0.1 s for a 220 MB campaign
file replaced by its compressed copy, 0.05 s for a 40 MB resume checkpoint (2026-12-05), on a
campaign's critical path. Here the old file first gets a second, hidden name
(``.NAME.N.PID.replaced``), the replace or removal completes at once, and the hidden name is
removed on a thread. The thread is not a daemon, so the interpreter waits for it before it
exits; a process killed first leaves the hidden file, and the campaign's next writer removes
it (:func:`xbarlab.store.lock.remove_stale_temporaries`).
"""

from __future__ import annotations

import itertools
import os
import threading
from pathlib import Path

SUFFIX = "replaced"
THREAD_NAME = "xbarlab-free-replaced"
_serial = itertools.count()


def hidden_name(path: Path) -> Path:
    """A new hidden name beside ``path`` for its old contents, ending in ``.PID.replaced``."""
    return path.with_name(f".{path.name}.{next(_serial)}.{os.getpid()}.{SUFFIX}")


def replace(new: Path, path: Path) -> None:
    """``os.replace(new, path)``, the blocks of the file it replaces freed afterwards on a
    thread."""
    old = hidden_name(path)
    try:
        os.link(path, old)
    except OSError:  # nothing to replace, or no hard links here: the plain replace
        os.replace(new, path)
        return
    try:
        os.replace(new, path)
    except BaseException:  # the old file keeps its name: drop the second one
        old.unlink(missing_ok=True)
        raise
    _free(old)


def remove(path: Path) -> None:
    """Remove ``path`` (if it exists), its blocks freed afterwards on a thread."""
    old = hidden_name(path)
    try:
        os.rename(path, old)
    except FileNotFoundError:
        return
    _free(old)


def _free(old: Path) -> None:
    threading.Thread(target=old.unlink, kwargs={"missing_ok": True}, name=THREAD_NAME).start()


def wait() -> None:
    """Until every file this process handed to a thread has been freed (tests, and callers
    that list the directory)."""
    for t in threading.enumerate():
        if t.name == THREAD_NAME:
            t.join()
