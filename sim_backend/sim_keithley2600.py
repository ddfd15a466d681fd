"""Simulated Keithley 2602B (TSP): two channels, ``smua`` with the device under test and
``smub`` open, on a real Lua (sim_backend.tsp) bound to the channel object model
(sim_backend.keithley2600_model) and the instrument's globals: ``trigger.timer[N]``,
``errorqueue``, ``format``, ``localnode``, ``display``, ``status``, ``beeper``,
``waitcomplete()``, ``delay()``, ``reset()``, ``print``/``printbuffer``, and the IEEE 488.2
common commands the 2600B also accepts (``*IDN?``, ``*RST``, ``*CLS``, ``*OPC?``, ``*TRG``,
``*WAI``). Errors go to the error queue (-285 syntax, -286 runtime, 5007 out of range),
capped at the instrument's 100 entries. Names per the Series 2600B Reference Manual, section 7.

A trigger model left waiting on an event that never comes, followed by ``waitcomplete()``,
blocks the instrument: it stops answering (a client's query times out) until a device clear
(:meth:`SimKeithley2600.device_clear`), as on hardware.
"""

from __future__ import annotations

from xbarlab.instruments.specs import KEITHLEY_2602B
from xbarlab.sim_backend.dut import Resistor
from xbarlab.sim_backend.keithley2600_model import (
    BufferValues,
    Smu,
    Timers,
    num,
    out_of_range,
)
from xbarlab.sim_backend.smu_core import SMUCore
from xbarlab.sim_backend.tsp import TspObject, binary_block, format_number, runtime_error
from xbarlab.sim_backend.tsp_instrument import Settings, TspInstrument

SPEC = KEITHLEY_2602B
OPEN_CIRCUIT = 1e12  # ohm: what the unconnected channel sees


class Format(TspObject):
    ASCII, SREAL, REAL, REAL32, REAL64 = 1, 2, 3, 2, 3
    NORMAL, SWAPPED, BIGENDIAN, LITTLEENDIAN, NETWORK = 0, 1, 0, 1, 0
    _settable = frozenset({"data", "asciiprecision", "byteorder"})

    def __init__(self):
        self.data, self.asciiprecision, self.byteorder = 1, 6, 0

    def _validate_data(self, v):
        if v not in (1, 2, 3):
            raise out_of_range("format.data", v)
        return v

    def _validate_asciiprecision(self, v):
        return int(num("format.asciiprecision", v, 1, 16))


class ChannelStatus(TspObject):
    """``status.measurement.instrument.smuX``: bit 0 set while a current source is held at its
    voltage limit, bit 1 while a voltage source is held at its current limit."""

    def __init__(self, core: SMUCore):
        self._core = core

    @property
    def condition(self) -> int:
        if not self._core.tripped:
            return 0
        return 2 if self._core.function == "VOLT" else 1


class SimKeithley2600(TspInstrument):
    idn = "Keithley Instruments Inc., Model 2602B, 4000000, 3.2.2 (xbarlab simulator)"
    channels = SPEC.channels

    def __init__(self, dut, clock=None, line_frequency: float = 50.0):
        core = SMUCore(dut, **({"clock": clock} if clock else {}), max_voltage=SPEC.max_voltage,
                       max_current=SPEC.max_current, line_frequency=line_frequency)
        self.core = core
        self.core_b = SMUCore(Resistor(OPEN_CIRCUIT), clock=core.clock,
                              max_voltage=SPEC.max_voltage, max_current=SPEC.max_current,
                              line_frequency=line_frequency)
        self.timers = Timers()
        self.smua = Smu(core, 0, self.timers)
        self.smub = Smu(self.core_b, 1, self.timers)
        self.format = Format()
        self.status = Settings({"request_enable": 0, "node_enable": 0},
                               {"condition": 0, "measurement": Settings({}, {
                                   "condition": 0, "instrument": Settings({}, {
                                       "smua": ChannelStatus(core),
                                       "smub": ChannelStatus(self.core_b)})})},
                               reset=lambda: None)
        self.localnode = Settings(
            {"prompts": 0, "prompts4882": 1, "showerrors": 0, "linefreq": line_frequency,
             "autolinefreq": False, "description": "", "password": "", "passwordmode": 0},
            {"model": "2602B", "serialno": "4000000", "revision": "3.2.2"},
            reset=self.reset)
        self.display = Settings(
            {"screen": 2, "locallockout": 0},
            {"SMUA": 0, "SMUB": 1, "SMUA_SMUB": 2, "USER": 3, "MEASURE_DCAMPS": 0,
             "MEASURE_DCVOLTS": 1, "MEASURE_OHMS": 2, "MEASURE_WATTS": 3,
             "smua": Settings({}, {"measure": Settings({"func": 0})}),
             "smub": Settings({}, {"measure": Settings({"func": 0})})},
            clear=lambda: None, setcursor=lambda *a: None, settext=lambda *a: None,
            gettext=lambda *a: "")
        self.beeper = Settings({"enable": 1}, beep=lambda *a: None)
        trigger = Settings({}, {"timer": self.timers, "EVENT_ID": 1}, clear=lambda: None,
                           wait=lambda *a: False)
        self._start({
            "smua": self.smua, "smub": self.smub, "format": self.format,
            "localnode": self.localnode, "display": self.display, "status": self.status,
            "beeper": self.beeper, "trigger": trigger, "printbuffer": self._printbuffer,
            "delay": self._delay,
        })

    def reset(self, *args) -> None:
        self.smua.reset()
        self.smub.reset()
        for t in self.timers.timers.values():
            t.clear_settings()
        self.format.__init__()

    @property
    def ascii_precision(self) -> int:
        return self.format.asciiprecision

    def busy(self) -> bool:
        return self.smua.trigger.waiting or self.smub.trigger.waiting

    def device_clear(self) -> None:
        super().device_clear()
        self.smua.abort()
        self.smub.abort()

    def elapse(self, seconds: float) -> None:
        self.core.elapse(seconds)

    # -- built-ins -----------------------------------------------------------------------

    def _delay(self, seconds) -> None:
        self.core.hold(num("delay", seconds, 0, 1e5))

    def _printbuffer(self, start, end, *arrays) -> None:
        if not arrays or not all(isinstance(a, BufferValues) for a in arrays):
            raise runtime_error("bad argument to 'printbuffer' (buffer values expected)")
        start, end = int(start), int(end)
        columns = [a.values(start, end) for a in arrays]
        rows = [x for row in zip(*columns, strict=True) for x in row]
        if self.format.data == Format.ASCII:
            self.engine.emit(", ".join(format_number(x, self.format.asciiprecision)
                                       for x in rows))
        else:
            self.engine.emit(binary_block(rows, "f" if self.format.data == 2 else "d",
                                          self.format.byteorder == Format.LITTLEENDIAN))
