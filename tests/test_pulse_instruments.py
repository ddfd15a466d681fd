"""The pulse bench's instruments over real pyvisa-py TCP: our 33500B and InfiniiVision drivers
against the simulated ones (served in this process, so the bench's fine-grid truth can be
compared with what came over the wire), the bytes they send, what is refused before the wire,
and what the simulators refuse as the manuals say."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from xbarlab.instruments.errors import InstrumentReportedError, SafetyLimitError
from xbarlab.instruments.keysight_33500b import Keysight33500B
from xbarlab.instruments.keysight_infiniivision import KeysightInfiniiVision
from xbarlab.instruments.pulse_source import PulseShape
from xbarlab.instruments.safety import SafetyLimits
from xbarlab.instruments.visa import VisaTransport
from xbarlab.sim_backend.server import serve_group

R_SENSE = 50.0


class Bench:
    """A 33500B and an InfiniiVision sharing one simulated PCM cell, over TCP."""

    def __init__(self, generator: str = "33500b", state: float = 1.0, seed: int = 0):
        self.servers = serve_group([generator, "infiniivision"], "pcm", seed)
        for s in self.servers:
            threading.Thread(target=s.serve_forever, daemon=True).start()
        self.bench = self.servers[0].device.bench
        self.bench.cell.state = state
        self.wire: list[str] = []
        self.pg_transport = VisaTransport(self.servers[0].resource,
                                          traffic=lambda d, m: self.wire.append(f"{d} {m}"))
        self.pg = Keysight33500B(self.pg_transport,
                                 model="33600A" if generator == "33600a" else "33500B")
        self.scope = KeysightInfiniiVision(VisaTransport(self.servers[1].resource))

    def close(self):
        for t in (self.pg.transport, self.scope.transport):
            t.close()
        for s in self.servers:
            s.shutdown()
            s.server_close()


@pytest.fixture
def bench():
    b = Bench(state=0.0)
    yield b
    b.close()


def arm(scope: KeysightInfiniiVision, seconds_per_div: float) -> None:
    scope.configure_channel(1, 0.4, 1.2)
    scope.configure_channel(2, 0.005, 0.015, fifty_ohm=True)
    scope.configure_timebase(seconds_per_div, pretrigger=20e-9)
    scope.configure_trigger(1, 0.3)
    scope.single()


def test_a_pulse_through_the_bench_is_captured_as_the_cell_saw_it(bench):
    shape = PulseShape(amplitude=2.5, width=1e-6, leading=8.4e-9, trailing=8.4e-9)
    bench.pg.configure(shape)
    arm(bench.scope, 110e-9)
    bench.pg.output_on()
    bench.pg.trigger()
    bench.pg.wait_complete()
    bench.scope.wait_triggered(timeout_s=2)
    top, sense = bench.scope.read_waveform(1), bench.scope.read_waveform(2)
    truth = bench.bench.last
    assert top.dt == pytest.approx(0.2e-9) and len(top) == 5500 and not sense.clipped
    # the generator's pulse is 1 µs wide at half its height (at the top of the cell until
    # it switches, then the divider): seen within the scope's sampling and 1 GHz bandwidth
    emf = top.volts + sense.volts / R_SENSE * (50 + 1e3)
    above = top.times[emf > 2.5 / 2]
    assert above[-1] - above[0] == pytest.approx(1e-6, abs=3e-9)
    # E = ∫V·I dt from the two channels, against the fine-grid truth (8-bit ADC, noise)
    energy = np.sum((top.volts - sense.volts) * sense.volts / R_SENSE) * top.dt
    assert energy == pytest.approx(truth.energy, rel=0.03)
    # the amorphous cell threshold-switched on the leading edge and crystallized
    assert 0 < truth.switched_at < 10e-9
    assert bench.bench.cell.state > 0.95


def test_the_generator_sends_what_its_guide_documents(bench):
    bench.pg.configure(PulseShape(amplitude=-1.2, width=50e-9, leading=10e-9, trailing=20e-9,
                                  base=0.1))
    sent = [w.removeprefix("write ") for w in bench.wire if w.startswith("write ")]
    config = next(s for s in sent if s.startswith("FUNC PULS"))
    # open-circuit levels; a negative pulse is the inverted output of base+amplitude..base
    for part in ("OUTP:LOAD INF", "FUNC:PULS:WIDT 5e-08", "FUNC:PULS:TRAN:LEAD 1e-08",
                 "FUNC:PULS:TRAN:TRA 2e-08", "VOLT:OFFS -0.5", "VOLT 1.2", "OUTP:POL INV",
                 "BURS:MODE TRIG", "BURS:NCYC 1", "BURS:STAT ON", "TRIG:SOUR BUS"):
        assert f":{part}" in config.split(";"), part
    assert sent[0] == "OUTP OFF"  # the output goes off before the levels change
    bench.pg.output_on()
    bench.pg.trigger()
    bench.pg.wait_complete()
    assert [*sent, "OUTP ON", "*TRG", "*OPC?"] == [w.removeprefix("write ") for w in bench.wire
                                          if w.startswith("write ")]
    # the bench saw an inverted pulse resting at the base
    emf_cell = bench.bench.last.v_top
    assert emf_cell[0] == pytest.approx(0.1, abs=1e-3) and emf_cell.min() < -0.9


@pytest.mark.parametrize(("shape", "message"), [
    (PulseShape(1.0, 15e-9, 8.4e-9, 8.4e-9), "width 1.5e-08 s is outside 1.6e-08"),
    (PulseShape(1.0, 18e-9, 9e-9, 8.4e-9), "width 1.8e-08 s is outside 2e-08"),
    (PulseShape(1.0, 50e-9, 5e-9, 8.4e-9), "leading edge 5e-09"),
    (PulseShape(10.5, 50e-9, 8.4e-9, 8.4e-9), "top level 10.5 V exceeds the ±10 V"),
    (PulseShape(1.0, 50e-9, 8.4e-9, 8.4e-9, count=3), "period is needed"),
    (PulseShape(1e-3, 50e-9, 8.4e-9, 8.4e-9), "amplitude 0.001 V is below"),
])
def test_shapes_the_33500b_cannot_make_are_refused_before_the_wire(bench, shape, message):
    with pytest.raises(ValueError, match=message):
        bench.pg.configure(shape)
    assert bench.wire == []


def test_the_33600a_makes_the_narrower_pulse():
    b = Bench("33600a", state=0.0)
    try:
        b.pg.configure(PulseShape(1.0, 5e-9, 2.9e-9, 2.9e-9))
        assert b.pg.errors() == []
        assert b.pg.settings()["pulse_width"] == pytest.approx(5e-9)
    finally:
        b.close()


def test_safety_limits_refuse_before_the_wire(bench):
    pg = Keysight33500B(bench.pg_transport, SafetyLimits(max_voltage=2.0,
                                                         max_pulse_energy=1e-9))
    with pytest.raises(SafetyLimitError, match=r"top level 2\.5 exceeds safety limit"):
        pg.configure(PulseShape(2.5, 50e-9, 8.4e-9, 8.4e-9))
    # 2 V into the best-matched load (50 Ω) for 1 ms: 20 mW · 1 ms = 20 µJ
    with pytest.raises(SafetyLimitError, match="worst-case energy"):
        pg.configure(PulseShape(2.0, 1e-3 - 8.4e-9, 8.4e-9, 8.4e-9))
    with pytest.raises(SafetyLimitError, match="configure a pulse first"):
        pg.output_on()
    assert bench.wire == []


def test_the_simulated_generator_is_as_strict_as_its_guide(bench):
    t = bench.pg.transport
    t.write("FUNC PULS;:FUNC:PULS:WIDT 10e-9")  # below 16 ns: out of range, unchanged
    assert bench.pg.errors() == [(-222, "Data out of range;10e-9")]
    t.write(":FUNC:PULS:TRAN 9e-9;:FUNC:PULS:WIDT 16e-9")  # longer edges need 20 ns
    assert bench.pg.errors()[0][0] == -221
    assert float(t.query(":FUNC:PULS:WIDT?")) == pytest.approx(20e-9)
    t.write(":FUNC:PULS:PER 1e-6;:FUNC:PULS:WIDT 900e-9;:FUNC:PULS:PER 500e-9")
    assert bench.pg.errors()[0][0] == -221  # the width shrank to fit the shorter period
    assert float(t.query(":FUNC:PULS:WIDT?")) == pytest.approx(500e-9 - 16e-9)
    t.write(":VOLT:HIGH 11")  # into the default 50 Ω load the output reaches 5 V
    assert bench.pg.errors()[0][0] == -222
    t.write("*TRG")  # trigger source is still IMMediate
    assert bench.pg.errors() == [(-211, "Trigger ignored;trigger source is not BUS")]
    with pytest.raises(InstrumentReportedError, match="-221"):
        t.write(":TRIG:SOUR BUS;:OUTP ON;:FUNC SIN;*TRG")
        bench.pg.check_errors()
    assert bench.bench.records == 0


def test_the_50_ohm_load_setting_halves_what_the_generator_reports(bench):
    t = bench.pg.transport
    t.write("FUNC PULS;:OUTP:LOAD 50;:VOLT:HIGH 1;:VOLT:LOW 0")
    t.write(":OUTP:LOAD INF")
    assert float(t.query(":VOLT:HIGH?")) == pytest.approx(2.0)  # the EMF behind 50 Ω


def test_the_scope_word_transfer_scales_as_pyvisa_parses_it(bench):
    """pyvisa's own IEEE 488.2 block parser, and the Programmer's Guide's scaling written out
    here, against the driver's read-out."""
    bench.pg.configure(PulseShape(1.0, 100e-9, 8.4e-9, 8.4e-9))
    arm(bench.scope, 20e-9)
    bench.pg.output_on()
    bench.pg.trigger()
    bench.pg.wait_complete()
    bench.scope.wait_triggered(timeout_s=2)
    ours = bench.scope.read_waveform(1, points=500)
    raw = bench.scope.transport._res
    raw.write(":WAV:FORM WORD;:WAV:BYT MSBF;:WAV:UNS ON")
    pre = [float(x) for x in raw.query(":WAV:PRE?").split(",")]
    codes = np.array(raw.query_binary_values(":WAV:DATA?", datatype="H", is_big_endian=True,
                                             container=np.array))
    volts = (codes - pre[9]) * pre[7] + pre[8]
    assert pre[2] == 500 == len(ours)
    np.testing.assert_allclose(ours.volts, volts, rtol=0, atol=1e-12)
    assert ours.t0 == pytest.approx(pre[5]) and ours.dt == pytest.approx(pre[4])


def test_closing_one_visa_transport_leaves_the_others_open(bench):
    """pyvisa shares one resource manager per backend in a process; closing it would close
    every session (found when a generator's driver closed under a scope's feet)."""
    other = VisaTransport(bench.servers[0].resource)
    other.close()
    assert bench.scope.identify().startswith("KEYSIGHT TECHNOLOGIES,DSOX3104T")
    assert bench.pg.identify().startswith("Keysight Technologies,33511B")


def test_sim_serve_serves_a_bench_whose_instruments_share_the_cell():
    """``xbarlab sim serve`` with several pulse-bench instruments: one resource per line, in
    order, and a pulse fired on the generator's connection is captured by the scope's."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-P", "-m", "xbarlab.cli", "sim", "serve",
                             "--instrument", "33500b", "--instrument", "infiniivision",
                             "--device", "pcm"], stdout=subprocess.PIPE, text=True)
    try:
        resources = [proc.stdout.readline().strip() for _ in range(2)]
        assert all(r.startswith("TCPIP::127.0.0.1::") for r in resources)
        pg = Keysight33500B(VisaTransport(resources[0]))
        scope = KeysightInfiniiVision(VisaTransport(resources[1]))
        assert scope.identify().startswith("KEYSIGHT TECHNOLOGIES,DSOX3104T")
        arm(scope, 20e-9)
        pg.configure(PulseShape(1.0, 100e-9, 8.4e-9, 8.4e-9))
        pg.output_on()
        pg.trigger()
        pg.wait_complete()
        scope.wait_triggered(timeout_s=5)
        assert scope.read_waveform(1).volts.max() > 0.8
        pg.close()
        scope.transport.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
