"""Measurement protocols written against the Chip interface; they emit records to a sink and
never touch files or the simulator directly. See ../shared/DESIGN.md, section Protocols.

Each protocol is a pydantic config and a resumable protocol object::

    from xbarlab.protocols import ProgramVerify, ProgramVerifyConfig

    for records in ProgramVerify(ProgramVerifyConfig(), targets).run(chip):
        ...

(The one-call plan functions, e.g. ``program_verify``, live in their modules:
``xbarlab.protocols.program_verify.program_verify``.)
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "base": ["Progress", "Protocol"],
    "drift": ["DriftConfig", "DriftTracking", "fit_drift_exponent"],
    "endurance": ["Endurance", "EnduranceConfig"],
    "iv_sweep": ["IVSweep", "IVSweepConfig", "switching_voltages"],
    "mvm": ["InArrayMVM", "MVMConfig", "error_split"],
    "program_verify": ["ProgramVerify", "ProgramVerifyConfig"],
    "pulse_response": ["PulseResponse", "PulseResponseConfig"],
    "pulsed": ["ResetSweep", "ResetSweepConfig", "SetTimeMap", "SetTimeMapConfig",
               "ThresholdSwitching", "ThresholdSwitchingConfig"],
    "read_noise": ["ReadNoise", "ReadNoiseConfig"],
    "records": ["Population", "StepRecords"],
})
