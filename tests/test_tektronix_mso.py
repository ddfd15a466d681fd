"""The Tektronix 4/5/6 Series MSO driver against the simulated MSO54 on the pulse bench over
real pyvisa-py TCP: the bytes it sends, a capture scaled as the manual's WFMOutpre formula
gives it (against the bench's truth), a PulsedDeviceChip with the MSO as its digitizer, and
QCoDeS's TektronixMSO5000 reading the same record as the independent check."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from xbarlab.chip_drivers.pulsed_device import PulseCircuit, PulsedDeviceChip
from xbarlab.instruments.keysight_33500b import Keysight33500B
from xbarlab.instruments.keysight_b2900 import KeysightB2900
from xbarlab.instruments.path_switch import Keysight11713C
from xbarlab.instruments.pulse_source import PulseShape
from xbarlab.instruments.tektronix_mso import TektronixMSO
from xbarlab.instruments.visa import VisaTransport
from xbarlab.sim_backend.server import serve_group


@pytest.fixture
def served():
    names = ["33500b", "mso", "11713c", "b2900"]
    servers = serve_group(names, "pcm", seed=6)
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    yield servers
    for s in servers:
        s.shutdown()
        s.server_close()


def capture(servers, wire=None):
    bench = servers[0].device.bench
    bench.cell.state = 0.0
    bench.path = "pulse"
    pg = Keysight33500B(VisaTransport(servers[0].resource))
    scope = TektronixMSO(VisaTransport(servers[1].resource, traffic=None if wire is None else
                                       lambda d, m: wire.append(m) if d == "write" else None))
    scope.configure_channel(1, 0.4, 1.2)
    scope.configure_channel(2, 0.005, 0.015, fifty_ohm=True)
    scope.configure_timebase(110e-9, pretrigger=20e-9, record_points=5000)
    scope.configure_trigger(1, 0.3)
    scope.single()
    pg.configure(PulseShape(2.5, 1e-6, 8.4e-9, 8.4e-9))
    pg.output_on()
    pg.trigger()
    pg.wait_complete()
    scope.wait_triggered(timeout_s=2)
    pg.close()
    return bench, scope


def test_the_mso_sends_what_its_programmer_manual_gives(served):
    wire: list[str] = []
    _, scope = capture(served, wire)
    scope.read_waveform(1)
    assert wire[0].split(";") == ["DISplay:GLObal:CH1:STATE ON", ":CH1:COUPling DC",
                                  ":CH1:TERmination 1.0E+6", ":CH1:SCAle 0.4",
                                  ":CH1:POSition 0", ":CH1:OFFSet 1.2"]
    assert ":CH2:TERmination 50" in wire[1].split(";")
    assert wire[2].split(";") == ["HORizontal:MODe AUTO", ":HORizontal:SCAle 1.1e-07",
                                  ":HORizontal:RECOrdlength 5000",
                                  ":HORizontal:POSition 1.81818"]
    assert wire[4] == "ACQuire:STOPAfter SEQuence;:ACQuire:STATE ON"
    assert wire[-3:] == ["DATa:SOUrce CH1;:DATa:ENCdg SRIbinary;:DATa:WIDth 2;:DATa:STARt 1;"
                         ":DATa:STOP 1000000000",
                         "WFMOutpre:XINcr?;XZEro?;PT_Off?;YMUlt?;YOFf?;YZEro?;NR_Pt?",
                         "CURVe?"]
    assert scope.errors() == []


def test_a_capture_scales_to_the_cells_energy(served):
    bench, scope = capture(served)
    top, sense = scope.read_waveform(1), scope.read_waveform(2)
    assert len(top) == 5000 and top.dt == pytest.approx(1.1e-6 / 5000)
    assert top.t0 == pytest.approx(-20e-9, abs=1e-11)
    energy = np.sum((top.volts - sense.volts) * sense.volts / 50.0) * top.dt
    assert energy == pytest.approx(bench.last.energy, rel=0.02)
    # 12-bit: every code is a multiple of 16 in the 16-bit transfer
    steps = np.diff(np.unique(np.rint((top.volts - 1.2) / (0.4 / 6553.6))))
    assert np.all(steps % 16 == 0)


def test_the_mso_as_a_pulsed_device_chips_digitizer(served):
    bench = served[0].device.bench
    chip = PulsedDeviceChip(Keysight33500B(VisaTransport(served[0].resource)),
                            TektronixMSO(VisaTransport(served[1].resource)),
                            KeysightB2900(VisaTransport(served[3].resource)),
                            Keysight11713C(VisaTransport(served[2].resource), settle_s=0.0),
                            PulseCircuit(points=4000))
    try:
        reset = chip.pulse_once(3.2, 50e-9)
        assert chip.read()[0, 0] < 1e-6
        assert reset.energy == pytest.approx(bench.last.energy, rel=0.03)
        setp = chip.pulse_once(2.5, 1e-6)
        assert chip.read()[0, 0] > 100e-6 and np.isfinite(setp.threshold_voltage)
    finally:
        chip.close()
        for inst in (chip.source, chip.scope, chip.smu, chip.switch):
            inst.transport.close()


def test_qcodes_tektronix_mso5000_reads_the_same_record(served):
    from qcodes.instrument_drivers.tektronix import TektronixMSO5000

    _, scope = capture(served)
    ours = scope.read_waveform(1)
    qc = TektronixMSO5000("qc_mso", served[1].resource, visalib="@py", terminator="\n",
                          timeout=5)
    try:
        trace = qc.channel1.waveform.trace()
        np.testing.assert_allclose(trace, ours.volts, rtol=0, atol=1e-9)
        assert qc.channel1.waveform.x_increment() == pytest.approx(ours.dt)
        assert scope.errors() == []
    finally:
        qc.close()
