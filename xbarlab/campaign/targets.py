"""Open the chip a campaign names: the built-in simulator, a chip controller on a serial port,
or an SMU and switch matrix on VISA resources. Paths in the target are relative to the
campaign file."""

from __future__ import annotations

from pathlib import Path

import psutil
from pydantic import ValidationError

from xbarlab.campaign.config import (
    CampaignConfigError,
    PulsedDeviceTarget,
    SerialTarget,
    SimulatedTarget,
    SmuMatrixTarget,
    Target,
)
from xbarlab.chip_drivers.base import Chip
from xbarlab.chip_drivers.channel_map import ChannelMap
from xbarlab.chip_drivers.identity import ChipIdentity
from xbarlab.instruments.safety import SafetyLimits

MAX_MODEL_BYTES = 1 << 20  # a chip model JSON is a few KiB; anything near this is not one
# an estimate with room to spare: the simulator's state (34 B per device) plus what protocols
# keep per device (targets, working arrays, a step's records, float64 copies for the store)
SIM_BYTES_PER_DEVICE = 400


def _path(base: Path, name: str, field: str) -> Path:
    p = Path(name)
    p = p if p.is_absolute() else base / p
    if not p.exists():
        raise CampaignConfigError(f"{field}: no such file {p}")
    return p


def chip_model(t: SimulatedTarget, base: Path):
    """The ChipModel a simulated target describes."""
    from xbarlab.sim_backend.models import ArrayConfig, ChipModel, PCMModel, RRAMModel

    if t.model:
        path = _path(base, t.model, "target.simulated.model")
        if not path.is_file() or path.stat().st_size > MAX_MODEL_BYTES:
            raise CampaignConfigError(f"target.simulated.model: {path} is not a regular file "
                                      f"of at most {MAX_MODEL_BYTES // 1024} KiB")
        try:
            model = ChipModel.model_validate_json(path.read_text())
        except ValidationError as exc:
            raise CampaignConfigError(f"{path}: not a chip model: "
                                      f"{exc.errors()[0]['msg']}") from None
    else:
        model = ChipModel(device=PCMModel() if t.device == "pcm" else RRAMModel())
    array = model.array.model_dump()
    array.update({k: v for k, v in (("rows", t.rows), ("cols", t.cols)) if v})
    cells = array["rows"] * array["cols"]
    need, have = cells * SIM_BYTES_PER_DEVICE, psutil.virtual_memory().available
    if need > have:  # refuse before anything is allocated or written
        raise CampaignConfigError(
            f"target.simulated: a {array['rows']}x{array['cols']} array needs about "
            f"{need / 2**30:.1f} GiB to simulate and run protocols on; {have / 2**30:.1f} GiB "
            "is available")
    return model.model_copy(update={"array": ArrayConfig(**array)})


def open_chip(target: Target, identity: ChipIdentity, limits: SafetyLimits,
              base: Path = Path(".")) -> Chip:
    t = getattr(target, target.kind)
    if target.kind == "twin":
        import dataclasses

        from xbarlab.twin_file import load_twin

        path = _path(base, t, "target.twin")
        try:
            chip = load_twin(path, limits=limits, state=target.twin_state)
        except ValueError as exc:
            raise CampaignConfigError(f"target.twin: {exc}") from None
        if identity != ChipIdentity():  # the campaign's [chip] names it; else the twin's own
            chip.info = dataclasses.replace(chip.info, identity=identity)
        return chip
    if isinstance(t, SimulatedTarget):
        from xbarlab.sim_backend.sim_chip import SimChip  # the simulator only when asked for

        return SimChip(chip_model(t, base), seed=t.seed, identity=identity, limits=limits)
    if isinstance(t, SerialTarget):
        from xbarlab.chip_drivers.serial_chip import SerialChip
        from xbarlab.chip_drivers.wire import ReadFormat

        cmap = (ChannelMap.from_toml(_path(base, t.channel_map, "target.serial.channel_map"))
                if t.channel_map else None)
        return SerialChip(t.port, limits=limits, identity=identity, channel_map=cmap,
                          timeout_s=t.timeout_s, baudrate=t.baudrate,
                          read_format=ReadFormat[t.read_format.upper()])
    if isinstance(t, SmuMatrixTarget):
        from xbarlab.chip_drivers.smu_matrix_chip import SmuMatrixChip
        from xbarlab.instruments.keithley707b import Keithley707B
        from xbarlab.instruments.keithley2450 import Keithley2450
        from xbarlab.instruments.keithley2600 import Keithley2600
        from xbarlab.instruments.keysight_b2900 import KeysightB2900
        from xbarlab.instruments.visa import VisaTransport

        try:  # before any instrument is opened: a bad map connects nothing
            pins = ChannelMap.from_toml(_path(base, t.pins, "target.smu_matrix.pins"))
            pins.check_fits(t.matrix_cols + 1, t.matrix_cols + 1)
            pins.check_disjoint()
        except ValueError as exc:
            raise CampaignConfigError(f"target.smu_matrix.pins: {exc}") from None
        driver = {"keithley2450": Keithley2450, "keithley2600": Keithley2600,
                  "keysight_b2900": KeysightB2900}[t.smu_driver]
        smu = driver(VisaTransport(t.smu, backend=t.visa_backend), limits=limits)
        matrix = Keithley707B(VisaTransport(t.matrix, backend=t.visa_backend),
                              rows=t.matrix_rows, cols=t.matrix_cols,
                              settle_s=t.matrix_settle_s)
        return SmuMatrixChip(smu, matrix, pins, technology=t.technology, identity=identity,
                             limits=limits)
    if isinstance(t, PulsedDeviceTarget):
        from xbarlab.campaign.pulsed_target import open_pulsed_device

        return open_pulsed_device(t, identity, limits)
    raise AssertionError(target.kind)
