"""Chip twin files: save a twin (xbarlab.sim_backend.twin) and load it back as a simulated chip.

A twin file is a small HDF5: one dataset per per-device quantity (rows × cols, flat), the chip
model JSON and the provenance as attributes. Kept apart from building twins (xbarlab.twin), which
needs the campaign reader and the fits: loading a twin in CI must not pay for xarray and scipy.
"""

from __future__ import annotations

from pathlib import Path

import h5py

from xbarlab.chip_drivers.identity import ChipIdentity
from xbarlab.sim_backend.models import ChipModel
from xbarlab.sim_backend.sim_chip import SimChip
from xbarlab.sim_backend.twin import FIELDS, ChipTwin, twin_chip

FORMAT = "xbarlab-chip-twin"


def save_twin(twin: ChipTwin, path: str | Path) -> Path:
    """Write ``twin`` to a twin file at ``path`` (replacing it)."""
    path = Path(path)
    with h5py.File(path, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["model"] = twin.model.model_dump_json()
        f.attrs["seed"] = twin.seed
        f.attrs["identity"] = twin.identity.model_dump_json()
        f.attrs["source"] = twin.source
        for name in FIELDS:
            f.create_dataset(name, data=getattr(twin, name), shuffle=True, compression="gzip",
                             compression_opts=1)
    return path


def read_twin(path: str | Path) -> ChipTwin:
    """The twin stored in a twin file; a file that is not one is a one-line ValueError."""
    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise ValueError(f"{path}: not a chip twin file")
            arrays = {name: f[name][()] for name in FIELDS if name in f}
            model = ChipModel.model_validate_json(f.attrs["model"])
            return ChipTwin(model=model, seed=int(f.attrs["seed"]),
                            identity=ChipIdentity.model_validate_json(f.attrs["identity"]),
                            source=str(f.attrs["source"]), **arrays)
    except (OSError, KeyError) as exc:
        raise ValueError(f"{path}: cannot read the chip twin ({exc})") from None


def load_twin(path: str | Path, limits=None, state: str = "measured") -> SimChip:
    """A SimChip whose devices are those of the twin file at ``path``, in the ``state`` the
    recorded campaign left them in (``measured``) or found them in (``start``)."""
    return twin_chip(read_twin(path), limits=limits, state=state)
