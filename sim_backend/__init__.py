"""Simulated devices, arrays, instruments and chip controllers that speak the same protocols as
real hardware. See ../shared/DESIGN.md, section Simulation backend.

::

    from xbarlab.sim_backend import SimChip, ChipModel, PCMModel, InstrumentServer
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "array": ["SimulatedArray"],
    "chip_controller": ["ChipController", "PtyChipServer"],
    "clock": ["SimClock"],
    "dut": ["MemoryDevice", "Resistor", "make_dut"],
    "pulse_bench": ["BenchCircuit", "PulseBench", "SmuPort"],
    "pulsed_cell": ["PulsedCell", "PulsedPCM", "PulsedRRAM"],
    "models": ["ArrayConfig", "ChipModel", "Endurance", "Faults", "PCMModel", "RRAMModel"],
    "server": ["InstrumentServer", "make_bench", "make_instrument", "serve_group"],
    "sim_infiniivision": ["SimInfiniiVision"],
    "sim_keysight_11713c": ["SimKeysight11713C"],
    "sim_keysight_33500b": ["SimKeysight33500B"],
    "sim_keysight_b1500": ["SimKeysightB1500"],
    "sim_tektronix_mso": ["SimTektronixMSO"],
    "sim_chip": ["SimChip"],
    "sim_keithley2450": ["SimKeithley2450"],
    "sim_keithley2600": ["SimKeithley2600"],
    "sim_keysight_b2900": ["SimKeysightB2900"],
    "sim_keithley707b": ["RoutedCell", "SimKeithley707B"],
    "twin": ["ChipTwin", "twin_chip"],
})
