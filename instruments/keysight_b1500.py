"""Keysight B1500A semiconductor device analyzer, FLEX command set: the B1525A pulse generator
unit (SPGU) as a pulse source, the SMU/PG selector (``ERSSP``) as a path switch, and an SMU for
the spot reads between pulses.

Commands from the *Keysight B1500 Series Programming Guide*, chapter "Command Reference":
SPGU ``SIM`` (0: pulse generator mode), ``SPM`` (1: 2-level pulse from source 1), ``SPPER``,
``SPT chnum,src,delay,width,leading,trailing``, ``SPV chnum,src,base,peak``, ``SER chnum,load``
(the load the output levels are compensated for), ``SPRM 1,count``, ``SPUPD``, ``SRP``/``SPP``;
selector ``ERSSP port,status`` (status 1 SMU, 2 PGU) and ``ERSSP? port``; SMU ``CN``/``CL``,
``DV chnum,range,V,Icomp``, ``DI``, ``TI``/``TV`` (high-speed spot measurement) with ``FMT 1``
replies ``<status><channel><type><value>`` (status N normal, C compliance); errors ``ERRX?``
(``code,"message"``, ``0,"No Error."`` when empty). Channel numbers: a module's first channel
is its slot number, its second slot·100 + 2 (QCoDeS's ``ChNr`` encodes the same).

Limits (B1525A, from the B1500 User's Guide's SPGU specifications): width 10 ns to period −
10 ns in 2.5 ns steps, edges 8 ns to 400 ms, period 20 ns to 10 s, ±40 V open circuit (±20 V
into 50 Ω), 50 Ω output, up to 1,000,000 pulses per count-mode run. Levels are programmed
with ``SER chnum,1E6``: the SPGU compensates its levels for a 1 MΩ load, i.e. they are the
open-circuit levels :class:`PulseShape` means.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from xbarlab.instruments.errors import ProtocolError
from xbarlab.instruments.instrument import drain_errors
from xbarlab.instruments.path_switch import Path, PathSwitch
from xbarlab.instruments.pulse_source import PulseShape, PulseSource, PulseSourceSpec
from xbarlab.instruments.safety import SafetyLimits
from xbarlab.instruments.smu import SMU, SweepResult
from xbarlab.instruments.transport import Transport

SPEC_B1525A = PulseSourceSpec(
    model="B1525A", width_min=10e-9, width_max=10.0 - 10e-9, width_step=2.5e-9, edge_min=8e-9,
    edge_max=0.4, level_max=40.0, output_impedance=50.0, count_max=1_000_000,
    period_min=20e-9, wide_edge_width_min=10e-9)
OPEN_LOAD = 1e6  # Ω: SER's largest load, i.e. open-circuit levels


def flex_errors(transport: Transport, limit: int = 100) -> list[tuple[int, str]]:
    """Drain the B1500's error queue (``ERRX?`` until code 0)."""
    return drain_errors(transport, "ERRX?", limit)


class _Flex:
    """FLEX housekeeping shared by the B1500's parts."""

    transport: Transport

    def reset(self) -> None:
        self.transport.write("*RST")

    def errors(self) -> list[tuple[int, str]]:
        return flex_errors(self.transport)


class KeysightB1500SPGU(_Flex, PulseSource):
    """One SPGU channel of a B1500A (``channel``: 3 for slot 3's first output, 302 its
    second)."""

    spec = SPEC_B1525A

    def __init__(self, transport: Transport, limits: SafetyLimits | None = None,
                 channel: int = 3):
        super().__init__(transport, limits)
        self.channel = channel

    def reset(self) -> None:
        super().reset()
        self.shape, self.output = None, False

    def _configure(self, shape: PulseShape) -> None:
        self.output_off()
        ch = self.channel
        # SPV takes (base, peak): the peak may be below the base, so negative pulses need no
        # inversion; the period leaves the width and both edges room
        period = shape.period or max(self.spec.period_min,
                                     2.5e-9 * round(2 * (shape.width + shape.leading +
                                                         shape.trailing) / 2.5e-9))
        self.transport.write(
            f"SIM 0;SPM {ch},1;SER {ch},{OPEN_LOAD:.0E};SPPER {period:.6E};"
            f"SPT {ch},1,0,{shape.width:.6E},{shape.leading:.6E},{shape.trailing:.6E};"
            f"SPV {ch},1,{shape.base:.6g},{shape.top:.6g};SPRM 1,{shape.count};SPUPD {ch}")
        self.check_errors()

    def _output(self, on: bool) -> None:
        self.transport.write(f"{'CN' if on else 'CL'} {self.channel}")

    def _trigger(self) -> None:
        self.transport.write("SRP")


class KeysightB1500Selector(_Flex, PathSwitch):
    """The SMU/PG selector (a 16440A, or the B1500's built-in one) on ``port``."""

    STATUS: ClassVar[dict[str, int]] = {"smu": 1, "pulse": 2}

    def __init__(self, transport: Transport, limits: SafetyLimits | None = None,
                 settle_s: float = 0.0, port: int = 0):
        super().__init__(transport, limits, settle_s)
        if port not in (0, 1, 2, 3):
            raise ValueError(f"port {port!r}: the selector ports are 0..3")
        self.port = port

    def _select(self, path: Path) -> None:
        self.transport.write(f"ERSSP {self.port},{self.STATUS[path]}")

    def _read_path(self) -> Path:
        reply = self.transport.query(f"ERSSP? {self.port}").strip()
        for path, status in self.STATUS.items():
            if reply == str(status):
                return path  # type: ignore[return-value]
        raise ProtocolError(f"ERSSP? {self.port} replied {reply[:40]!r}, not SMU or PGU")


class KeysightB1500SMU(_Flex, SMU):
    """One B1500 SMU for spot source and measure (``channel``: its slot). The instrument-side
    staircase sweep (``WV``) and pulsed spot measurement (``PT``/``PV``) are not driven: a
    pulse bench reads between pulses, which is what this covers; use a Keithley 2450 or a
    B2900 driver for buffered sweeps."""

    def __init__(self, transport: Transport, limits: SafetyLimits | None = None,
                 channel: int = 1):
        super().__init__(transport, limits)
        self.channel = channel
        self.status = "N"
        self._level: tuple[str, float, float] | None = None

    def reset(self) -> None:
        super().reset()
        self.mode, self.compliance, self.output, self._level = None, None, False, None

    def _force(self) -> None:
        kind, level, comp = self._level
        self.transport.write(f"{kind} {self.channel},0,{level:.6E},{comp:.6E}")

    def _source_voltage(self, level, compliance):
        self._level = ("DV", level, compliance)
        self._force()

    def _source_current(self, level, compliance):
        self._level = ("DI", level, compliance)
        self._force()

    def _set_voltage(self, level):
        self._level = ("DV", level, self._level[2])
        self._force()

    def _output(self, on):
        self.transport.write(f"FMT 1;{'CN' if on else 'CL'} {self.channel}")

    def _spot(self, query: Literal["TI", "TV"]) -> float:
        reply = self.transport.query(f"{query} {self.channel}").strip()
        if len(reply) < 4 or reply[2] not in "IV":
            raise ProtocolError(f"{query} reply is not an FMT 1 reading: {reply[:40]!r}")
        self.status = reply[0]
        try:
            return float(reply[3:])
        except ValueError:
            raise ProtocolError(f"{query} reply is not a number: {reply[:40]!r}") from None

    def measure_current(self) -> float:
        return self._spot("TI")

    def measure_voltage(self) -> float:
        return self._spot("TV")

    def compliance_tripped(self) -> bool:
        return self.status == "C"

    def _not_driven(self, *args) -> SweepResult:
        raise NotImplementedError("KeysightB1500SMU drives spot source and measure; its "
                                  "staircase sweeps and pulsed spot measurements are not "
                                  "implemented")

    _sweep_linear = _sweep_list = _pulse_train = _not_driven
