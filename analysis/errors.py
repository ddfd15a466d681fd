"""Errors of the analysis package: one line naming the file (or files) and the fit."""

from __future__ import annotations

from xbarlab.errors import XbarlabError


class FitError(XbarlabError):
    """A fit that cannot be made or did not converge; never a silent NaN model."""
