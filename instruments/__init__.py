"""Instrument layer: transports (VISA, serial, loopback), SMU and switch-matrix drivers, safety
limits. See ../shared/DESIGN.md, section Instruments."""
