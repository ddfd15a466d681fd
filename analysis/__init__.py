"""Pure functions from xarray Datasets to fitted device models and figures. See
../shared/DESIGN.md, section Analysis.

::

    from xbarlab.analysis import fit_model, CampaignStats, to_aihwkit

Files are opened by ``xbarlab.store`` and model files written by ``xbarlab.fitting``; the
Bokeh figures are in :mod:`xbarlab.analysis.figures`.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submodules=["figures"],
                                                   submod_attrs={
    "aihwkit_export": ["to_aihwkit"],
    "errors": ["FitError"],
    "estimates": ["Estimate", "FitReport"],
    "fit_endurance": ["fit_weibull"],
    "fit_pcm": ["fit_drift", "fit_programming", "fit_read_noise"],
    "fit_pulse": ["fit_pulse_response"],
    "fit_rram": ["fit_relaxation", "fit_rram_read_noise"],
    "model_fit": ["ModelFit", "fit_model"],
    "sufficient": ["CampaignStats", "DriftSums", "EnduranceCounts", "ProgrammingCounts",
                   "RelaxationSums"],
})
