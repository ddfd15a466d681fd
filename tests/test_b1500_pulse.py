"""The B1500A's pulse generator unit (B1525A SPGU), SMU/PG selector and SMU over real pyvisa-py
TCP: our FLEX drivers against the simulated B1500 on the pulse bench (the bytes they send,
what is refused before the wire and by the simulator), a PulsedDeviceChip built from them
with an InfiniiVision, and QCoDeS's own FLEX encodings of the SPGU and selector commands
(its MessageBuilder; QCoDeS has no SPGU module to drive) against the simulator."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import pyvisa
from xbarlab.chip_drivers.pulsed_device import PulseCircuit, PulsedDeviceChip
from xbarlab.instruments.keysight_b1500 import (
    KeysightB1500Selector,
    KeysightB1500SMU,
    KeysightB1500SPGU,
)
from xbarlab.instruments.keysight_infiniivision import KeysightInfiniiVision
from xbarlab.instruments.pulse_source import PulseShape
from xbarlab.instruments.visa import VisaTransport
from xbarlab.sim_backend.server import serve_group


@pytest.fixture
def b1500():
    servers = serve_group(["b1500", "infiniivision"], "pcm", seed=4)
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    wire: list[str] = []
    transport = VisaTransport(servers[0].resource,
                              traffic=lambda d, m: wire.append(m) if d == "write" else None)
    yield servers, transport, wire
    transport.close()
    for s in servers:
        s.shutdown()
        s.server_close()


def test_the_spgu_sends_flex_as_the_programming_guide_gives_it(b1500):
    servers, transport, wire = b1500
    bench = servers[0].device.bench
    pg = KeysightB1500SPGU(transport, channel=3)
    switch = KeysightB1500Selector(transport, port=0)
    switch.select("pulse")
    pg.configure(PulseShape(amplitude=-2.0, width=52.5e-9, leading=8e-9, trailing=12e-9,
                            base=0.5))
    pg.output_on()
    pg.trigger()
    pg.wait_complete()
    assert wire[:2] == ["ERSSP 0,2", "ERSSP? 0"]
    assert wire[2] == "CL 3"  # the output goes off before the levels change
    assert wire[3].split(";") == ["SIM 0", "SPM 3,1", "SER 3,1E+06", "SPPER 1.450000E-07",
                                  "SPT 3,1,0,5.250000E-08,8.000000E-09,1.200000E-08",
                                  "SPV 3,1,0.5,-1.5", "SPRM 1,1", "SPUPD 3"]
    assert wire[4:] == ["ERRX?", "CN 3", "SRP", "*OPC?"]
    emf = bench.last.v_cell + bench.last.current * bench.circuit.r_external
    assert emf[0] == pytest.approx(0.5, rel=1e-4) and emf.min() == pytest.approx(-1.5, rel=1e-4)


@pytest.mark.parametrize(("shape", "message"), [
    (PulseShape(1.0, 51e-9, 8e-9, 8e-9), "not on the 2.5e-09 s grid"),
    (PulseShape(1.0, 7.5e-9, 8e-9, 8e-9), "width 7.5e-09 s is outside 1e-08"),
    (PulseShape(1.0, 50e-9, 7e-9, 8e-9), "leading edge 7e-09"),
    (PulseShape(41.0, 50e-9, 8e-9, 8e-9), "top level 41 V exceeds the ±40 V"),
])
def test_shapes_the_b1525a_cannot_make_are_refused_before_the_wire(b1500, shape, message):
    _, transport, wire = b1500
    pg = KeysightB1500SPGU(transport)
    pg.limits = pg.limits.model_copy(update={"max_voltage": 50.0, "max_pulse_energy": 1.0})
    with pytest.raises(ValueError, match=message):
        pg.configure(shape)
    assert wire == []


def test_the_simulated_b1500_refuses_what_its_guide_refuses(b1500):
    _, transport, _ = b1500
    pg = KeysightB1500SPGU(transport)
    transport.write("SPT 3,1,0,5E-9,8E-9,8E-9")  # below 10 ns
    transport.write("SPV 3,1,0,45")  # beyond ±40 V
    transport.write("FOO 1")
    assert [code for code, _ in pg.errors()] == [120, 120, 100]
    transport.write("SPPER 1E-6;SPT 3,1,0,1E-6,8E-9,8E-9")  # the width leaves no room
    assert [code for code, _ in pg.errors()] == [120]


def test_a_pulsed_device_chip_on_the_b1500(b1500):
    servers, transport, _ = b1500
    bench = servers[0].device.bench
    chip = PulsedDeviceChip(KeysightB1500SPGU(transport), KeysightInfiniiVision(
        VisaTransport(servers[1].resource)), KeysightB1500SMU(transport),
        KeysightB1500Selector(transport), PulseCircuit(points=2000))
    try:
        assert chip.read()[0, 0] == pytest.approx(200e-6, rel=0.02)
        reset = chip.pulse_once(3.2, 50e-9)
        assert chip.read()[0, 0] < 1e-6
        assert reset.energy == pytest.approx(bench.last.energy, rel=0.03)
        setp = chip.pulse_once(2.5, 1e-6)
        assert chip.read()[0, 0] > 100e-6
        assert np.isfinite(setp.threshold_voltage)
    finally:
        chip.close()
        chip.scope.transport.close()


def test_qcodes_flex_encodings_drive_the_simulated_spgu(b1500):
    from qcodes.instrument_drivers.Keysight.keysightb1500.message_builder import (
        MessageBuilder,
    )

    servers, _, _ = b1500
    bench = servers[0].device.bench
    rm = pyvisa.ResourceManager("@py")
    inst = rm.open_resource(servers[0].resource, read_termination="\n",
                            write_termination="\n", timeout=5000)
    try:
        inst.write(MessageBuilder().erssp(0, 2).message)
        assert inst.query(MessageBuilder().erssp_query(0).message) == "2"
        assert bench.path == "pulse"
        inst.write(MessageBuilder().sim(0).spm(3, 1).spper(1e-6)
                   .spt(3, 1, 0, 100e-9, 10e-9, 10e-9).spv(3, 1, 0.0, 1.5).sprm(1, 1)
                   .spupd([3]).message)
        inst.write(MessageBuilder().cn([3]).message)
        inst.write(MessageBuilder().srp().message)
        assert inst.query("*OPC?") == "1"
        assert inst.query(MessageBuilder().errx_query().message) == '0,"No Error."'
        # QCoDeS leaves the load at its default 50 Ω: 1.5 V into 50 Ω is 3 V open circuit
        emf = bench.last.v_cell + bench.last.current * bench.circuit.r_external
        assert emf.max() == pytest.approx(3.0, rel=1e-4)
        assert bench.records == 1
    finally:
        inst.close()
