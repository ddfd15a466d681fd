"""Disk space: stop cleanly before a full disk stops the writer mid-flush.

HDF5 handles ``ENOSPC`` badly: a flush that fails half-way leaves its metadata cache unable to
close (segfaults seen in "Can't destroy cache"), and the file's end-of-allocation out of step
with what was written, so the file becomes unreadable. The store therefore never lets HDF5 meet
a full disk if it can help it:

* before each commit it checks that the step's chunks plus a margin fit in the free space, and
  stops with :class:`DiskFullError` otherwise (the step is abandoned, the file closed as
  interrupted);
* while it writes it holds a *reserve*, a preallocated file next to the campaign file, so that
  when another process fills the disk between the check and the write, deleting the reserve
  gives HDF5 the room to roll back and close properly.

``--resume`` checks the free space before it touches the file.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from xbarlab.store.errors import CampaignFileError

RESERVE_BYTES = 2 << 20  # what rollback and close need, with room to spare (measured < 200 KB)
MARGIN_BYTES = 1 << 20  # metadata a commit writes besides its chunks


class DiskFullError(CampaignFileError):
    """The disk holding a campaign file is (nearly) full; nothing committed is lost."""


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still use on the file system holding ``path``."""
    st = os.statvfs(path if path.is_dir() else path.parent)
    return st.f_bavail * st.f_frsize


def is_disk_full(exc: BaseException) -> bool:
    """True for the errors a full disk (or quota) raises, from Python or from HDF5 (which
    reports it as text: ``errno = 28``)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    return "errno = 28" in text or "No space left on device" in text or \
        "errno = 122" in text


def reserve_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.reserve")


def mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


class Reserve:
    """The preallocated file a writer gives up when the disk fills under it."""

    def __init__(self, campaign: Path):
        self.path = reserve_path(campaign)
        self.held = False

    def take(self) -> None:
        """Allocate the reserve (real blocks, not a sparse file); DiskFullError if it does not
        fit."""
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                if os.fstat(fd).st_blocks * 512 < RESERVE_BYTES:
                    os.posix_fallocate(fd, 0, RESERVE_BYTES)
            finally:
                os.close(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                self.path.unlink()
            if is_disk_full(exc):
                raise DiskFullError(
                    f"{self.path.parent}: disk full: a campaign writer needs "
                    f"{mb(RESERVE_BYTES + MARGIN_BYTES)} free; free space and try again"
                ) from None
            raise
        self.held = True

    def release(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.held = False
