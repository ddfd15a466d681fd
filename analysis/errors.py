"""Errors of the analysis package: one line naming the file (or files) and the fit. The CLI
prints them as it prints its own (analysis sits below the application and imports none of it)."""

from __future__ import annotations


class FitError(ValueError):
    """A fit that cannot be made or did not converge; never a silent NaN model."""
