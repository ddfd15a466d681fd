"""Errors raised by the campaign store. Each names the file it is about."""

from xbarlab.errors import XbarlabError


class CampaignFileError(XbarlabError):
    """A campaign file cannot be used as asked; the message names the file and the reason."""


class NotACampaignError(CampaignFileError):
    """The file is not HDF5, or is HDF5 but was not written by xbarlab."""


class CorruptCampaignError(CampaignFileError):
    """The file is truncated or damaged."""


class UnsupportedFormatError(CampaignFileError):
    """The file was written by a newer xbarlab whose format this version cannot read."""


class MissingTableError(CampaignFileError, KeyError):
    """A run or table asked for is not in the file."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


class CampaignBeingWrittenError(CampaignFileError):
    """A live writer changed the file while it was being read, on every try: retry."""


class CampaignLockedError(CampaignFileError):
    """Another live process is writing the campaign file."""


class CampaignExistsError(CampaignFileError):
    """Creating a campaign would overwrite an existing file."""


class StepOrderError(CampaignFileError):
    """A step was committed out of order or twice: committing it would duplicate records."""
