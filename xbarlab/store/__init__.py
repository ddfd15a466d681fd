"""The HDF5 campaign store: write campaigns in crash-safe steps, read them back as xarray.

Layout and guarantees: docs/hdf5_layout.md.
"""

from xbarlab.store.errors import (
    CampaignBeingWrittenError,
    CampaignExistsError,
    CampaignFileError,
    CampaignLockedError,
    CorruptCampaignError,
    MissingTableError,
    NotACampaignError,
    StepOrderError,
    UnsupportedFormatError,
)
from xbarlab.store.integrity import ChecksumError
from xbarlab.store.run_writer import RunWriter, Step
from xbarlab.store.space import DiskFullError
from xbarlab.store.writer import CampaignWriter

__all__ = [
    "CampaignBeingWrittenError",
    "CampaignExistsError",
    "CampaignFileError",
    "CampaignLockedError",
    "CampaignWriter",
    "ChecksumError",
    "CorruptCampaignError",
    "DiskFullError",
    "MissingTableError",
    "NotACampaignError",
    "RunWriter",
    "Step",
    "StepOrderError",
    "UnsupportedFormatError",
]
