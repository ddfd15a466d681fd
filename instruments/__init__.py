"""Instrument layer: transports (VISA, serial, loopback), SMU, switch-matrix, pulse-generator,
oscilloscope and path-switch drivers, safety limits. See ../shared/DESIGN.md, section Instruments.

The public API is named here and imported on first use, so ``import xbarlab.instruments`` stays
cheap (pyvisa and pyserial load only when a transport that needs them is used)::

    from xbarlab.instruments import Keithley2450, SafetyLimits, VisaTransport
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "digitizer": ["Digitizer", "Waveform"],
    "errors": ["InstrumentError", "InstrumentReportedError", "ProtocolError", "ReplayMismatch",
               "SafetyLimitError", "TransportClosed", "TransportError", "TransportTimeout"],
    "faults": ["FaultyTransport"],
    "keithley2450": ["Keithley2450"],
    "keithley2600": ["Keithley2600"],
    "keysight_b2900": ["KeysightB2900"],
    "keysight_33500b": ["Keysight33500B"],
    "keysight_b1500": ["KeysightB1500SMU", "KeysightB1500SPGU", "KeysightB1500Selector"],
    "keysight_infiniivision": ["KeysightInfiniiVision"],
    "path_switch": ["Keysight11713C", "PathSwitch"],
    "pulse_source": ["PulseShape", "PulseSource", "PulseSourceSpec"],
    "tektronix_mso": ["TektronixMSO"],
    "properties": ["Control", "on_off"],
    "recording": ["RecordingTransport", "ReplayTransport", "load_recording"],
    "safety": ["SafetyLimits"],
    "serial_transport": ["SerialTransport"],
    "smu": ["SMU", "ScpiSMU", "SweepResult"],
    "keithley707b": ["Keithley707B"],
    "transport": ["LoopbackTransport", "MessageDevice", "Transport"],
    "visa": ["VisaTransport"],
})
