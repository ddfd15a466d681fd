"""What the pulse-bench tests share: the safety limits of their campaigns, and taking a bench
of served simulators down in order (the chip's outputs off, then its links, then the
servers)."""

from __future__ import annotations

LIMITS = """
[limits]
max_voltage = 4.0
max_current = 5e-3
max_pulse_width = 1e-5
max_pulse_energy = 1e-8
"""


def close_bench(chip, servers) -> None:
    chip.close()
    for inst in (chip.source, chip.scope, chip.smu, chip.switch, chip.matrix):
        if inst is not None:
            inst.transport.close()
    for s in servers:
        s.shutdown()
        s.server_close()
