"""The HDF5 campaign store: write campaigns in crash-safe steps, read them back as xarray.

Layout and guarantees: docs/hdf5_layout.md.
"""

from xbarlab.store.errors import (
    CampaignExistsError,
    CampaignFileError,
    CampaignLockedError,
    CorruptCampaignError,
    MissingTableError,
    NotACampaignError,
    StepOrderError,
    UnsupportedFormatError,
)
from xbarlab.store.writer import CampaignWriter, RunWriter, Step

__all__ = [
    "CampaignExistsError",
    "CampaignFileError",
    "CampaignLockedError",
    "CampaignWriter",
    "CorruptCampaignError",
    "MissingTableError",
    "NotACampaignError",
    "RunWriter",
    "Step",
    "StepOrderError",
    "UnsupportedFormatError",
]
