"""The campaign file: what to measure, on which chip, within which limits, as TOML validated by
pydantic. Every error is one line naming the file and the field (or line) and what is wrong:
``campaign.toml: steps[2].program_verify.tolerance: must be > 0 (got -1e-06)``.

Layout (see ``docs/campaigns.md`` for every field)::

    [chip]            identity: lot, wafer, die_x, die_y, array
    [limits]          safety limits (instruments.safety.SafetyLimits)
    [target.<kind>]   simulated | serial | smu_matrix | pulsed_device, or
                      target.twin = "chip.twin.h5"
    [[steps]]         ordered protocol steps, each one table named after its protocol
    [steps.program_verify]
    tolerance = 0.4e-6
"""

from __future__ import annotations

import difflib
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from xbarlab.campaign.steps import STEP_TYPES, StepSpec
from xbarlab.chip_drivers.channel_map import DevicePins
from xbarlab.chip_drivers.identity import ChipIdentity
from xbarlab.chip_drivers.pulsed_device import PulseCircuit
from xbarlab.errors import XbarlabError
from xbarlab.instruments.quantities import Seconds, unit_of
from xbarlab.instruments.safety import SafetyLimits
from xbarlab.protocols.base import Drive
from xbarlab.store.layout import MAX_RUNS


class CampaignConfigError(XbarlabError):
    """A campaign file that cannot be run; the message is the one line to show."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class SimulatedTarget(_Strict):
    device: Literal["pcm", "rram"] = "pcm"
    model: str | None = Field(None, description="ChipModel JSON file (relative to the campaign "
                              "file); overrides device")
    rows: int | None = Field(None, gt=0, le=8192)
    cols: int | None = Field(None, gt=0, le=8192)
    seed: int = Field(0, ge=0)


class SerialTarget(_Strict):
    port: str
    baudrate: int = Field(115200, gt=0)
    timeout_s: Seconds = Field(2.0, gt=0)
    read_format: Literal["u16", "f32"] = "u16"
    channel_map: str | None = Field(None, description="channel map TOML (relative)")


class SmuMatrixTarget(_Strict):
    smu: str = Field(description="VISA resource of the SMU")
    smu_driver: Literal["keithley2450", "keithley2600", "keysight_b2900"] = "keithley2450"
    matrix: str = Field(description="VISA resource of the switch matrix (a Keithley 707B)")
    matrix_rows: int = Field(2, gt=0, le=8)
    matrix_cols: int = Field(24, gt=0, le=72)
    matrix_settle_s: Seconds = Field(5e-3, ge=0, le=10, description="wait after switching "
                                   "relays (with the SMU output off) before sourcing again")
    pins: str = Field(description="channel map TOML: matrix column of every word and bit line")
    technology: str = "unknown"
    visa_backend: str = "@py"


class PulsedMatrix(_Strict):
    """The switch matrix that puts one of a few devices on the pulse bench (a Keithley 707B):
    row 1 carries the bench's top node, row 2 its bottom node."""

    resource: str | None = Field(None, description="VISA resource of the matrix (omit with "
                                 "simulate: a simulated 707B is served)")
    rows: int = Field(2, ge=2, le=8)
    cols: int = Field(24, gt=0, le=72)
    settle_s: Seconds = Field(5e-3, ge=0, le=10, description="wait after the relays move "
                              "(every output off) before sourcing")
    devices: list[tuple[int, int]] = Field(min_length=1, max_length=72, description="each "
                                           "device's (top, bottom) matrix columns, 1-based")

    @field_validator("devices")
    @classmethod
    def _pins(cls, v: list[tuple[int, int]], info: ValidationInfo) -> list[tuple[int, int]]:
        pins = DevicePins(pins=v)
        if "cols" in info.data:  # validated before: declared first
            pins.check_fits(info.data["cols"])
        return v


class PulsedDeviceTarget(_Strict):
    """One device on a nanosecond pulse bench (chip_drivers.pulsed_device): a pulse generator,
    an oscilloscope, a path switch and an SMU, each a VISA resource; or, with ``simulate``,
    their simulators started in this process and reached over TCP with the same drivers."""

    simulate: Literal["pcm", "rram"] | None = Field(
        None, description="run on the simulated bench with this cell instead of instruments")
    simulate_state: float = Field(1.0, ge=0, le=1, description="the simulated cell's start: "
                                  "crystalline fraction (pcm) or filament (rram), 0..1")
    seed: int = Field(0, ge=0, description="seed of the simulated bench")
    simulate_spread: float = Field(0.05, ge=0, le=1, description="device-to-device spread "
                                   "of the simulated devices (relative, log-normal)")
    pulse_source: str | None = Field(None, description="VISA resource of the pulse generator")
    pulse_source_driver: Literal["keysight_33500b", "keysight_33600a",
                                 "keysight_b1500_spgu"] = "keysight_33500b"
    pulse_source_channel: int = Field(3, ge=1, le=1002, description="the B1500 SPGU's "
                                      "channel (slot, or slot·100 + 2)")
    digitizer: str | None = Field(None, description="VISA resource of the oscilloscope")
    digitizer_driver: Literal["keysight_infiniivision", "tektronix_mso"] = \
        "keysight_infiniivision"
    smu: str | None = Field(None, description="VISA resource of the SMU that reads")
    smu_driver: Literal["keithley2450", "keithley2600", "keysight_b2900",
                        "keysight_b1500_smu"] = "keysight_b2900"
    smu_channel: int = Field(1, ge=1, le=10, description="the B1500 SMU's slot")
    path_switch: str | None = Field(None, description="VISA resource of the path switch")
    path_switch_driver: Literal["keysight_11713c", "keysight_b1500_erssp"] = "keysight_11713c"
    path_switch_channel: str = Field("101", description="the relay's channel (11713C: bank "
                                     "and switch, '101'), or the selector's port (B1500: "
                                     "'0'..'3')")
    path_switch_settle_s: Seconds = Field(0.02, ge=0, le=10, description="wait after the "
                                          "relay moves (every output off) before sourcing")
    technology: str = "pcm"
    trace: bool = Field(False, description="keep every pulse's two waveforms (table waveforms)")
    visa_backend: str = "@py"
    circuit: PulseCircuit = Field(default_factory=PulseCircuit)
    matrix: PulsedMatrix | None = Field(None, description="a switch matrix with a few devices "
                                        "behind it (without: one device)")

    @model_validator(mode="after")
    def _instruments(self) -> PulsedDeviceTarget:
        names = ("pulse_source", "digitizer", "smu", "path_switch")
        given = [n for n in names if getattr(self, n)]
        if self.matrix is not None and self.matrix.resource:
            given.append("matrix.resource")
        if self.simulate and given:
            raise ValueError(f"simulate runs on the simulated bench; drop {given[0]}")
        if not self.simulate and len(given) != len(names) + (self.matrix is not None):
            missing = [n for n in (*names, "matrix.resource") if n not in given
                       and (n != "matrix.resource" or self.matrix is not None)]
            raise ValueError(f"give {', '.join(missing)} (VISA resources), or simulate")
        return self

    @property
    def devices(self) -> int:
        return len(self.matrix.devices) if self.matrix is not None else 1


TARGET_KINDS = ("simulated", "serial", "smu_matrix", "pulsed_device", "twin")


class Target(_Strict):
    """Exactly one of the kinds."""

    simulated: SimulatedTarget | None = None
    serial: SerialTarget | None = None
    smu_matrix: SmuMatrixTarget | None = None
    pulsed_device: PulsedDeviceTarget | None = None
    twin: str | None = Field(None, description="chip twin file (xbarlab twin), relative to "
                             "the campaign file")
    twin_state: Literal["measured", "start"] = Field(
        "measured", description="a twin's devices as its recorded campaign left them "
        "(measured) or found them (start: what a replay of that campaign needs)")

    @model_validator(mode="after")
    def _one(self) -> Target:
        given = [k for k in TARGET_KINDS if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(TARGET_KINDS)} "
                             f"(got {', '.join(given) or 'none'})")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in TARGET_KINDS if getattr(self, k))


class _StepBase(BaseModel):
    """One protocol step: a table with exactly one key, the protocol's name."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _one_protocol(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError("a step is a table with one protocol, e.g. [steps.program_verify]")
        unknown = [k for k in data if k not in STEP_TYPES]
        if unknown:
            raise ValueError(f"unknown protocol {unknown[0]!r} (known: "
                             f"{', '.join(STEP_TYPES)})")
        if len(data) != 1:
            raise ValueError(f"a step holds exactly one protocol (got {len(data)})")
        return data

    @property
    def protocol(self) -> str:
        return next(k for k in STEP_TYPES if getattr(self, k) is not None)

    @property
    def config(self) -> StepSpec:
        return getattr(self, self.protocol)


# one optional field per protocol
Step = create_model("Step", __base__=_StepBase,
                    **{name: (spec | None, None) for name, spec in STEP_TYPES.items()})


class CampaignConfig(_Strict):
    description: str = ""
    chip: ChipIdentity = ChipIdentity()
    limits: SafetyLimits = SafetyLimits()
    target: Target
    steps: list[Step] = Field(min_length=1, max_length=MAX_RUNS)  # type: ignore[valid-type]

    def check_limits(self) -> None:
        """Every voltage and pulse a step will apply, against the limits, before anything is
        sent: a ValueError naming the step field and the limit."""
        limited = self.target.kind == "smu_matrix"  # its sweeps are current-limited
        if limited:  # limits beyond what the instrument can source are a slip of units
            from xbarlab.instruments.specs import KEITHLEY_2450, KEITHLEY_2602B, KEYSIGHT_B2901A

            driver = self.target.smu_matrix.smu_driver
            spec = {"keithley2450": KEITHLEY_2450, "keithley2600": KEITHLEY_2602B,
                    "keysight_b2900": KEYSIGHT_B2901A}[driver]
            for name, unit in (("max_voltage", "V"), ("max_current", "A")):
                value, most = getattr(self.limits, name), getattr(spec, name)
                if value > most:
                    raise _FieldError(("limits", name), f"{value:g} {unit} is beyond what a "
                                      f"{driver} sources ({most:g} {unit})")
        for k, step in enumerate(self.steps):
            for d in step.config.drives():
                if d.compliance is not None and d.compliance > self.limits.max_current:
                    raise _FieldError(("steps", k, step.protocol, "compliance"),
                                      f"{d.compliance:g} A exceeds limits.max_current = "
                                      f"{self.limits.max_current:g} A")
                problem = _drive_problem(d, self.limits, limited, self._series_ohms())
                if problem:
                    raise _FieldError(("steps", k, step.protocol, *d.field.split(".")), problem)


    def _series_ohms(self) -> float | None:
        """A pulse bench's resistance in series with the cell (its 50 Ω generator output
        included): what limits the current of its pulses. None for other targets."""
        t = self.target.pulsed_device
        return None if t is None else 50.0 + t.circuit.r_series + t.circuit.r_sense


class _FieldError(ValueError):
    def __init__(self, loc: tuple, message: str):
        super().__init__(message)
        self.loc = loc


def _drive_problem(d: Drive, lim: SafetyLimits, current_limited: bool,
                   series_ohms: float | None = None) -> str | None:
    v = abs(d.volts)
    if v > lim.max_voltage:
        return f"{d.volts:g} V exceeds limits.max_voltage = {lim.max_voltage:g} V"
    if d.width_s is None:
        return None
    if d.width_s > lim.max_pulse_width:
        return (f"pulse width {d.width_s:g} s exceeds limits.max_pulse_width = "
                f"{lim.max_pulse_width:g} s")
    if series_ohms is not None and d.compliance is None:  # a pulse bench's generator
        # the worst cell: all the EMF at the current the series resistance allows, or the
        # matched cell that draws the most power, V²/(4·R) (chip_drivers.pulsed_device)
        current = v / series_ohms
        if current > lim.max_current:
            return (f"{d.volts:g} V over {series_ohms:g} Ω in series is up to {current:.3g} A, "
                    f"over limits.max_current = {lim.max_current:g} A")
        energy = v * v / (4 * series_ohms) * d.width_s
        if energy > lim.max_pulse_energy:
            return (f"{d.volts:g} V for {d.width_s:g} s over {series_ohms:g} Ω in series is up "
                    f"to {energy:.3g} J in the cell, over limits.max_pulse_energy = "
                    f"{lim.max_pulse_energy:g} J")
        return None
    current = d.compliance if (current_limited and d.compliance) else lim.max_current
    energy = v * current * d.width_s
    if energy > lim.max_pulse_energy:
        return (f"{d.volts:g} V for {d.width_s:g} s at up to {current:g} A is {energy:.3g} J, "
                f"over limits.max_pulse_energy = {lim.max_pulse_energy:g} J")
    return None


def _where(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


_MESSAGES = {
    "greater_than": "must be > {gt:g}",
    "greater_than_equal": "must be >= {ge:g}",
    "less_than": "must be < {lt:g}",
    "less_than_equal": "must be <= {le:g}",
    "missing": "required field is missing",
    "too_short": "needs at least {min_length} entries",
    "literal_error": "must be one of {expected}",
    "int_parsing": "must be an integer",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "string_type": "must be text",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "model_type": "must be a table",
    "dict_type": "must be a table",
    "model_attributes_type": "must be a table",
}


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The pydantic model that holds the last element of ``loc`` (for "did you mean")."""
    model: Any = CampaignConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)) \
                or part not in model.model_fields:
            return None
        ann = model.model_fields[part].annotation
        candidates = [ann, *typing.get_args(ann)]
        candidates += [x for c in candidates for x in typing.get_args(c)]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)),
                     None)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _describe(err: dict, loc: tuple) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        model = _model_at(loc)
        close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields) if model else [],
                                          n=1)
        return "unknown field" + (f"; did you mean {close[0]!r}?" if close else "")
    if kind in _MESSAGES:
        text = _MESSAGES[kind].format(**ctx)
    elif kind in ("value_error", "assertion_error"):
        text = str(ctx.get("error", err["msg"]))
    else:
        text = err["msg"][0].lower() + err["msg"][1:]
    if kind not in ("missing", "value_error") and "input" in err \
            and not isinstance(err["input"], dict):
        got = repr(err["input"])
        text += f" (got {got if len(got) <= 60 else got[:56] + ' ...'})"  # one short line
    return text


def _error_lines(exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        where = _where(loc)
        lines.append(f"{where + ': ' if where else ''}{_describe(err, loc)}")
    return lines


def _format_errors(source: str, lines: list[str]) -> str:
    """One line for one error; for several, a line saying how many and one line each, so a
    file is mended in one go."""
    lines = list(dict.fromkeys(lines))
    if len(lines) == 1:
        return f"{source}: {lines[0]}"
    return f"{source}: {len(lines)} errors:\n" + "\n".join(f"  {line}" for line in lines)


def format_validation_error(source: str, exc: ValidationError) -> str:
    return _format_errors(source, _error_lines(exc))


def _models_and_bool(annotation: Any) -> tuple[list[type[BaseModel]], bool]:
    """The pydantic models an annotation admits, and whether it admits bool."""
    if annotation is bool:
        return [], True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation], False
    models, allows = [], False
    for arg in typing.get_args(annotation):
        m, b = _models_and_bool(arg)
        models += m
        allows |= b
    return models, allows


def _plain_number(annotation: Any) -> bool:
    """Whether a field takes plain numbers only (int or float, not a quantity with a unit, not
    text): then text is a slip that pydantic's lax mode would turn into a number."""
    if annotation in (int, float):
        return True
    if typing.get_origin(annotation) is typing.Annotated:
        return False  # a quantity (xbarlab.instruments.quantities): text with a unit
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return bool(args) and all(_plain_number(a) for a in args) and \
        typing.get_origin(annotation) in (list, tuple, types.UnionType, typing.Union)


def _type_slips(model: type[BaseModel], data: Any, loc: tuple) -> list[str]:
    """TOML's true/false where a number belongs is a slip, not 1/0 (which pydantic's lax mode
    would make of it); so is text where a plain number belongs. A line each, naming the
    field."""
    slips: list[str] = []
    if not isinstance(data, dict):
        return slips
    for key, value in data.items():
        field = model.model_fields.get(key)
        if field is None:
            continue
        models, allows_bool = _models_and_bool(field.annotation)
        plain = _plain_number(field.annotation) and unit_of(field.metadata) is None
        items = value if isinstance(value, list) else [value]
        for k, item in enumerate(items):
            where = (*loc, key, k) if isinstance(value, list) else (*loc, key)
            if isinstance(item, bool) and not allows_bool:
                slips.append(f"{_where(where)}: must be a number, not {str(item).lower()}")
            elif isinstance(item, str) and plain:  # "8" for 8: quantities take text, not these
                slips.append(f"{_where(where)}: must be a number, not text ({item!r})")
            for m in models:
                slips += _type_slips(m, item, where)
    return slips


def parse_campaign(text: str, source: str = "campaign.toml") -> CampaignConfig:
    """Parse and validate campaign TOML; CampaignConfigError with one line on any problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CampaignConfigError(f"{source}: not valid TOML: {exc}") from None
    slips = _type_slips(CampaignConfig, data, ())
    try:
        cfg = CampaignConfig.model_validate(data)
    except ValidationError as exc:  # every problem at once, the type slips with the rest
        named = {line.split(": ", 1)[0] for line in slips}  # (once per field)
        rest = [line for line in _error_lines(exc) if line.split(": ", 1)[0] not in named]
        raise CampaignConfigError(_format_errors(source, slips + rest)) from None
    if slips:
        raise CampaignConfigError(_format_errors(source, slips))
    try:
        cfg.check_limits()
    except ValidationError as exc:
        raise CampaignConfigError(format_validation_error(source, exc)) from None
    except _FieldError as exc:
        raise CampaignConfigError(f"{source}: {_where(exc.loc)}: {exc}") from None
    return cfg


def load_campaign(path: str | Path) -> tuple[CampaignConfig, str]:
    """(config, text) of a campaign file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CampaignConfigError(f"{path}: no such campaign file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CampaignConfigError(f"{path}: cannot read ({exc})") from None
    return parse_campaign(text, str(path)), text
