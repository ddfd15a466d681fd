"""Simulated devices, arrays, instruments and chip controllers that speak the same protocols as
real hardware. See ../shared/DESIGN.md, section Simulation backend."""
