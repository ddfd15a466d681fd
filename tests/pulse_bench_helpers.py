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


def assert_outputs_off_before(wire: list[tuple[str, str]], moves: list[int]) -> None:
    """At each of the messages ``moves`` (indices into ``wire``, (instrument, message) pairs),
    the last output command the generator (33500b) and the SMU (b2900) got was OFF."""
    for k in moves:
        before = wire[:k]
        last_pg = [m for n, m in before if n == "33500b" and m.startswith("OUTP")]
        last_smu = [m for n, m in before if n == "b2900" and ":OUTP" in m]
        assert not last_pg or last_pg[-1] == "OUTP OFF", f"message {k}: generator on"
        assert not last_smu or last_smu[-1].endswith(":OUTP OFF"), f"message {k}: SMU on"
