"""What each supported SMU model can do, as data cited to its reference manual: channels, source
and measure ranges, integration times, list lengths, delay and width minimums.

Drivers refuse what their instrument cannot do before anything is written; the simulated
instruments (xbarlab.sim_backend) reject the same requests with the instrument's error, so the
two agree only where the manual says so. Sources:

- Keithley 2450: *Model 2450 Interactive SourceMeter Reference Manual*, 2450-901-01 Rev. B
  (2013): §2 "Source delay" (p. 2-111, the autodelay table), §6 ":SOURce[1]:LIST:<function>"
  (p. 6-78, up to 100 values per command, more with :APPend), §6
  ":SOURce[1]:SWEep:<function>:LIST"/":LINear" (sweep delay 0, or 50 µs to 10 ks; 2 or more
  points), §6 ":SENSe[1]:<function>:NPLCycles" (0.01 to 10 PLC).
- Keithley 2600B: *Series 2600B System SourceMeter Reference Manual*, 2600BS-901-01: §7
  "smuX.source.rangev/rangei" (2601B/2602B: 100 mV, 1 V, 6 V, 40 V; 100 nA … 1 A, 3 A),
  "smuX.measure.nplc" (0.001 to 25), "trigger.timer[N].delay" (1 µs … ), 2602B: two channels.
- Keysight B2900: *B2900 Series SCPI Command Reference*: ":SOURce:PULSe:WIDTh" (B2901A/B2902A
  50 µs to 100 s), ":SENSe:CURRent:APERture" (8 µs to 2 s), ":SOURce:LIST:VOLTage" (up to 2,500
  points), ":TRIGger:COUNt" (up to 100,000); B2901A one channel, B2902A two.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SmuSpec:
    model: str
    channels: int
    voltage_ranges: tuple[float, ...]  # V, source ranges (full scale)
    current_ranges: tuple[float, ...]  # A, measure ranges (full scale)
    max_voltage: float  # V, the largest source value (over-range included)
    max_current: float  # A, DC
    nplc: tuple[float, float]  # integration time, power-line cycles
    list_max: int  # source values one list command takes
    points_max: int  # points of one instrument-side sweep or pulse train
    sweep_delay_min: float  # s: a sweep delay is 0 or at least this
    min_pulse_width: float  # s: the shortest pulse the instrument makes
    source_delay_max: float = 4.0  # s
    autodelay_s: dict[float, float] = field(default_factory=dict)  # current range → delay


KEITHLEY_2450 = SmuSpec(
    model="2450",
    channels=1,
    voltage_ranges=(0.02, 0.2, 2.0, 20.0, 200.0),
    current_ranges=(10e-9, 100e-9, 1e-6, 10e-6, 100e-6, 1e-3, 10e-3, 100e-3, 1.0),
    max_voltage=210.0,
    max_current=1.05,
    nplc=(0.01, 10.0),
    list_max=100,
    points_max=100_000,
    sweep_delay_min=50e-6,
    # a list-sweep point holds its level for the source delay plus one reading, so the
    # shortest "pulse" is one reading of 0.01 PLC with no delay: 167 µs at 60 Hz
    min_pulse_width=0.01 / 60,
    source_delay_max=4.0,
    # §2 "Source delay", voltage source, normal capacitance (ms → s)
    autodelay_s={10e-9: 50e-3, 100e-9: 50e-3, 1e-6: 3e-3, 10e-6: 2e-3, 100e-6: 1e-3,
                 1e-3: 1e-3, 10e-3: 1e-3, 100e-3: 1e-3, 1.0: 1e-3},
)

KEITHLEY_2602B = SmuSpec(
    model="2602B",
    channels=2,
    voltage_ranges=(0.1, 1.0, 6.0, 40.0),
    current_ranges=(100e-9, 1e-6, 10e-6, 100e-6, 1e-3, 10e-3, 100e-3, 1.0, 3.0),
    max_voltage=40.4,
    max_current=3.03,
    nplc=(0.001, 25.0),
    list_max=100_000,
    points_max=100_000,
    sweep_delay_min=0.0,
    min_pulse_width=100e-6,
)

KEYSIGHT_B2901A = SmuSpec(
    model="B2901A",
    channels=1,
    voltage_ranges=(0.2, 2.0, 20.0, 200.0),
    current_ranges=(100e-9, 1e-6, 10e-6, 100e-6, 1e-3, 10e-3, 100e-3, 1.0, 1.5, 3.0),
    max_voltage=210.0,
    max_current=3.03,
    nplc=(4e-4, 100.0),
    list_max=2500,
    points_max=100_000,
    sweep_delay_min=0.0,
    min_pulse_width=50e-6,
)


def range_for(value: float, ranges: tuple[float, ...]) -> float:
    """The smallest range that holds ``|value|`` (the largest when none does)."""
    return next((r for r in ranges if abs(value) <= r * 1.05), ranges[-1])
