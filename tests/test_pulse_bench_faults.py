"""Faults injected into the pulse bench, and the B1500 SMU's FLEX checked against QCoDeS:

- a waveform block that breaks on the wire (a length that is not a number, a block longer than
  it says) is a ProtocolError, the generator's output goes off, and the chip records nothing
  of the pulse;
- a relay that does not move is an error naming the path, never a silent wrong path;
- QCoDeS's FLEX encodings of DV/TI and its own parser of spot-measurement replies against the
  simulated B1500 and our driver."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from xbarlab.chip_drivers.pulsed_device import PulseCircuit, PulsedDeviceChip
from xbarlab.instruments.errors import ProtocolError
from xbarlab.instruments.keysight_33500b import Keysight33500B
from xbarlab.instruments.keysight_b1500 import KeysightB1500SMU
from xbarlab.instruments.keysight_b2900 import KeysightB2900
from xbarlab.instruments.keysight_infiniivision import KeysightInfiniiVision
from xbarlab.instruments.path_switch import Keysight11713C
from xbarlab.instruments.transport import LoopbackTransport
from xbarlab.instruments.visa import VisaTransport
from xbarlab.sim_backend.pulse_bench import PulseBench, SmuPort
from xbarlab.sim_backend.server import make_instrument, serve_group


def loopback_bench():
    bench = PulseBench(state=0.0, seed=8)
    sims = {n: make_instrument(n, bench=bench) for n in ("33500b", "infiniivision", "11713c")}
    sims["b2900"] = make_instrument("b2900", SmuPort(bench))
    chip = PulsedDeviceChip(Keysight33500B(LoopbackTransport(sims["33500b"])),
                            KeysightInfiniiVision(LoopbackTransport(sims["infiniivision"])),
                            KeysightB2900(LoopbackTransport(sims["b2900"])),
                            Keysight11713C(LoopbackTransport(sims["11713c"]), settle_s=0.0),
                            PulseCircuit(points=1000))
    return bench, sims, chip


@pytest.mark.parametrize(("broken", "message"), [
    (lambda good: b"#8abcdefgh" + good[10:], "block length is not a number"),
    (lambda good: good[:2] + f"{int(good[2:10]) - 2:08d}".encode() + good[10:],
     "not followed by the message terminator"),
])
def test_a_broken_waveform_block_stops_the_pulse_and_records_nothing(broken, message):
    bench, sims, chip = loopback_bench()
    scope = sims["infiniivision"]
    good_data = scope._data
    scope._data = lambda: broken(good_data())
    with pytest.raises(ProtocolError, match=message):
        chip.pulse_once(2.5, 1e-6)
    assert bench.records == 1  # the pulse went out; its capture did not come back whole
    assert sims["33500b"].output is False  # and the generator was switched off
    assert chip.drain_records() == {}  # no summary, no waveform of the broken pulse
    scope._data = good_data  # the link recovers: the next pulse is recorded
    chip.scope.transport._raw.clear()
    chip.scope.transport._replies.clear()
    assert np.isfinite(chip.pulse_once(3.2, 50e-9).energy)
    assert len(chip.drain_records()["pulses"]["energy"]) == 1


def test_a_relay_that_does_not_move_is_an_error_naming_the_path():
    bench, sims, chip = loopback_bench()
    relay = sims["11713c"]
    relay._set = lambda channels, close: None  # stuck contacts: the coil does nothing
    with pytest.raises(ProtocolError, match="asked for the smu path, reads back pulse"):
        chip.read()
    assert chip.switch.path is None and bench.path == "pulse"


def test_qcodes_flex_spot_measurement_against_the_simulated_b1500_smu():
    from qcodes.instrument_drivers.Keysight.keysightb1500.KeysightB1500_module import (
        parse_spot_measurement_response,
    )
    from qcodes.instrument_drivers.Keysight.keysightb1500.message_builder import (
        MessageBuilder,
    )

    servers = serve_group(["b1500"], "pcm", seed=9)
    threading.Thread(target=servers[0].serve_forever, daemon=True).start()
    bench = servers[0].device.bench
    transport = VisaTransport(servers[0].resource)
    try:
        transport.write("ERSSP 0,1")  # the cell on the SMU
        transport.write(MessageBuilder().fmt(1).cn([1]).dv(1, 0, 0.2, 1e-3).message)
        reply = transport.query(MessageBuilder().ti(1).message)
        parsed = parse_spot_measurement_response(reply)
        assert parsed["status"].name == "N" and parsed["dtype"] == "I"
        assert parsed["value"] == pytest.approx(0.2 * bench.cell.conductance, rel=0.01)
        # our driver, through the same link, reads what QCoDeS's parser read
        smu = KeysightB1500SMU(transport)
        smu.source_voltage(0.2, 1e-3)
        smu.output_on()
        assert smu.measure_current() == pytest.approx(parsed["value"], rel=0.01)
        smu.source_voltage(0.2, 1e-6)  # 40 µA wanted, 1 µA allowed: compliance
        reply = transport.query("TI 1")
        assert parse_spot_measurement_response(reply)["status"].name == "C"
        assert smu.measure_current() == pytest.approx(1e-6) and smu.compliance_tripped()
    finally:
        transport.close()
        servers[0].shutdown()
        servers[0].server_close()
