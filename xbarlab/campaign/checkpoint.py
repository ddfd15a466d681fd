"""Resume checkpoints: the state a campaign needs to continue exactly where it was, kept next to
the campaign file as ``<file>.resume`` (an ``.npz``).

A checkpoint names the run and its last committed step it belongs to, and holds the protocol's
state at that step and, for a simulated chip, the chip's complete state. A checkpoint before a
run's first step holds no protocol state: a protocol's ``start`` operates no chip, so resuming
calls it again (program-and-verify's start state of a 1024×1024 array is 112 MB). It is
written after the step commits, atomically (temporary file, rename), so the file on disk is
always one whole checkpoint; like the campaign file, it is fsynced only for durability against
power loss.
When the newest commit is later than the checkpoint (a crash between the two, or a step whose
checkpoint was skipped to save time), resuming rolls the campaign file back to the checkpoint
and runs those steps again: on a simulator they produce the same records.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xbarlab.errors import XbarlabError
from xbarlab.store import freeing
from xbarlab.store.space import DiskFullError, is_disk_full

FORMAT = 1


class CheckpointError(XbarlabError):
    pass


def checkpoint_path(campaign: Path) -> Path:
    return campaign.with_name(campaign.name + ".resume")


@dataclass
class Checkpoint:
    run_index: int  # position in the campaign's steps
    last_step: int | None  # last committed step of that run (None: before its first)
    config_digest: str
    state: dict[str, np.ndarray] | None  # None: before the first step, start() rebuilds it
    chip: dict[str, np.ndarray] | None
    durable: bool = False  # fsync: survive power loss, not only a killed process

    def save(self, path: Path) -> float:
        """Write atomically; returns the seconds it took."""
        t0 = time.perf_counter()
        meta = {"format": FORMAT, "run_index": self.run_index, "last_step": self.last_step,
                "config_digest": self.config_digest, "has_chip": self.chip is not None,
                "has_state": self.state is not None}
        arrays = {"meta": np.array(json.dumps(meta))}
        arrays.update({f"state/{k}": v for k, v in (self.state or {}).items()})
        arrays.update({f"chip/{k}": v for k, v in (self.chip or {}).items()})
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
                if self.durable:
                    f.flush()
                    os.fsync(f.fileno())
            freeing.replace(tmp, path)  # the previous checkpoint's blocks freed on a thread
        except OSError as exc:
            tmp.unlink(missing_ok=True)  # the previous checkpoint stays whole
            if is_disk_full(exc):
                raise DiskFullError(f"{path}: disk full while writing the resume checkpoint; "
                                    "free space and run --resume") from None
            raise
        return time.perf_counter() - t0

    @classmethod
    def load(cls, path: Path) -> Checkpoint:
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                state = {k[6:]: z[k] for k in z.files if k.startswith("state/")}
                chip = {k[5:]: z[k] for k in z.files if k.startswith("chip/")}
        except FileNotFoundError:
            raise CheckpointError(f"{path}: no resume checkpoint next to the campaign file; "
                                  "it cannot be resumed") from None
        except (OSError, ValueError, KeyError) as exc:
            raise CheckpointError(f"{path}: unreadable resume checkpoint ({exc})") from None
        if meta.get("format") != FORMAT:
            raise CheckpointError(f"{path}: checkpoint format {meta.get('format')} is not "
                                  f"{FORMAT}")
        if not meta.get("has_state", True) and meta["last_step"] is not None:
            raise CheckpointError(f"{path}: a checkpoint after step {meta['last_step']} "
                                  "without the protocol's state")
        return cls(meta["run_index"], meta["last_step"], meta["config_digest"],
                   state if meta.get("has_state", True) else None,
                   chip if meta["has_chip"] else None)
