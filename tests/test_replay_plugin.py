"""The pytest plugin: a session against a chip controller (over a real pseudo-terminal) and an
SMU (over real pyvisa TCP) is recorded once, then replays with no simulator running; a changed
driver command fails the test with a readable diff."""

from __future__ import annotations

INNER = '''
from pathlib import Path

import numpy as np

MARK = Path(__file__).parent / "simulators_started"


def live_chip():
    from xbarlab.instruments.serial_transport import SerialTransport
    from xbarlab.sim_backend.array import SimulatedArray
    from xbarlab.sim_backend.chip_controller import ChipController, PtyChipServer
    from xbarlab.sim_backend.models import ArrayConfig, ChipModel

    MARK.write_text("chip")
    server = PtyChipServer(ChipController(SimulatedArray(
        ChipModel(array=ArrayConfig(rows=8, cols=8)), seed=1)))
    server.start_background()
    return SerialTransport(server.path, timeout_s=2.0)


def live_smu():
    import threading

    from xbarlab.instruments.visa import VisaTransport
    from xbarlab.sim_backend.dut import make_dut
    from xbarlab.sim_backend.server import InstrumentServer, make_instrument

    MARK.write_text("smu")
    server = InstrumentServer(make_instrument("keithley2450", make_dut("resistor:5e3")))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return VisaTransport(server.resource)


def test_session(xbarlab_traffic):
    from xbarlab.chip_drivers.serial_chip import SerialChip
    from xbarlab.instruments.keithley2450 import Keithley2450

    chip = SerialChip(xbarlab_traffic("chip", live=live_chip), first_request_id=1)
    chip.pulse(([1, 2], [3, 4]), 1.0, 1e-7)
    g = chip.read()
    assert g.shape == (8, 8) and g[1, 3] > g[0, 0]
    smu = Keithley2450(xbarlab_traffic("smu", live=live_smu))
    smu.source_voltage(SOURCE_V, 1e-3)
    smu.output_on()
    i = smu.measure_current()
    smu.safe_off()
    assert abs(i - 0.2 / 5e3) < 1e-7
    chip.close()
    smu.close()
'''


def test_record_then_replay_without_simulators_then_catch_a_changed_command(pytester):
    pytester.makepyfile(test_inner=INNER.replace("SOURCE_V", "0.2"))
    recorded = pytester.runpytest_subprocess("--xbarlab-record", "-q")
    recorded.assert_outcomes(passed=1)
    recordings = sorted(p.name for p in (pytester.path / "recordings").iterdir())
    assert recordings == ["test_session__chip.jsonl", "test_session__smu.jsonl"]
    size = sum(p.stat().st_size for p in (pytester.path / "recordings").iterdir())
    assert size < 50_000  # small text files, meant to be committed

    (pytester.path / "simulators_started").unlink()
    replayed = pytester.runpytest_subprocess("-q")
    replayed.assert_outcomes(passed=1)
    assert not (pytester.path / "simulators_started").exists()  # no simulator ran

    # one driver command changed: the source level
    pytester.makepyfile(test_inner=INNER.replace("SOURCE_V", "0.3"))
    changed = pytester.runpytest_subprocess("-q")
    changed.assert_outcomes(failed=1)
    out = changed.stdout.str()
    assert "test_session__smu.jsonl: exchange" in out and "deviates from the recording" in out
    # the diff: the recorded exchange (−) against the one the driver sent (+)
    assert any("-    1  expected write ':SOUR:FUNC VOLT;:SOUR:VOLT:ILIM 0.001;:SOUR:VOLT 0.2"
               in line for line in changed.outlines)
    assert any("+    1  got write ':SOUR:FUNC VOLT;:SOUR:VOLT:ILIM 0.001;:SOUR:VOLT 0.3"
               in line for line in changed.outlines)


def test_replay_without_a_recording_says_how_to_make_one(pytester):
    pytester.makepyfile(test_inner=INNER.replace("SOURCE_V", "0.2"))
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no recording*test_session__chip.jsonl: run the test once "
                                 "with --xbarlab-record*"])
