"""One writer per campaign file, and how readers tell a live writer from a dead one.

The writer holds an exclusive ``flock`` on a sidecar file ``<campaign>.lock`` for as long as it
writes, and records its pid, host and process start time there. The kernel drops the lock when
the process dies, however it dies, so a lock that can be taken means nobody is writing. HDF5's
own file locking cannot serve: a SWMR writer releases it so that readers can open the file, and
it does not say who holds the file.

Readers never take the lock (that could make a writer starting at the same instant fail); they
read the sidecar and check that the recorded process is alive and is the same process (start
time matches), which guards against pid reuse.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from xbarlab.store.errors import CampaignLockedError


def lock_path(path: str | os.PathLike) -> Path:
    p = Path(path)
    return p.with_name(p.name + ".lock")


@dataclass(frozen=True)
class LockHolder:
    pid: int
    host: str
    started: float  # process start time, seconds since the epoch
    since: float  # when the lock was taken

    def is_alive(self) -> bool:
        """True if the recorded writer process still runs (on this host)."""
        if self.host != socket.gethostname():
            return True  # cannot check another host: assume it is alive
        try:
            proc = psutil.Process(self.pid)
            return abs(proc.create_time() - self.started) < 1.0
        except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
            return False


def read_holder(path: str | os.PathLike) -> LockHolder | None:
    """The writer recorded for a campaign file, or None if there is no lock file."""
    try:
        text = lock_path(path).read_text()
        return LockHolder(**json.loads(text))
    except (FileNotFoundError, ValueError, TypeError):
        return None


def writer_alive(path: str | os.PathLike) -> bool:
    holder = read_holder(path)
    return holder is not None and holder.is_alive()


class WriterLock:
    """Exclusive write lock on a campaign file; raises CampaignLockedError if another live
    process holds it."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> None:
        lp = lock_path(self.path)
        while True:
            fd = os.open(lp, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                holder = read_holder(self.path)
                who = (
                    f"pid {holder.pid} on {holder.host}"
                    if holder
                    else "another process"
                )
                raise CampaignLockedError(
                    f"{self.path}: already open for writing by {who}"
                ) from None
            # The previous holder may have unlinked the lock file between our open and flock;
            # then we hold a lock on a file nobody else will look at. Start again.
            try:
                same = os.fstat(fd).st_ino == os.stat(lp).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        me = psutil.Process()
        info = {
            "pid": me.pid,
            "host": socket.gethostname(),
            "started": me.create_time(),
            "since": time.time(),
        }
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
        except OSError:  # a full disk: leave no lock file that names nobody
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lp)
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock_path(self.path))
        os.close(self._fd)  # closing drops the flock
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Delete what killed writers of ``path`` left next to it: ``.NAME.PID.partial`` (a file
    being created), ``.NAME.N.PID.replaced`` (a campaign or checkpoint file replaced or
    removed, not yet freed: store/freeing.py) and ``.NAME.resume.PID.tmp`` (a checkpoint
    being written). Call it holding the writer lock: then no other process is writing them.
    Returns what was removed."""
    removed = []
    own = str(os.getpid())
    for pattern in (f".{path.name}.*.partial", f".{path.name}.*.replaced",
                    f".{path.name}.resume.*.tmp"):
        for tmp in path.parent.glob(pattern):
            if tmp.name.split(".")[-2] == own:
                continue
            try:
                tmp.unlink()
                removed.append(tmp)
            except OSError:
                pass  # not ours to remove (permissions): leave it
    return removed
