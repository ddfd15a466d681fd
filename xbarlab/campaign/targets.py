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
        return open_pulsed_device(t, identity, limits)
    raise AssertionError(target.kind)


def open_pulsed_device(t: PulsedDeviceTarget, identity: ChipIdentity, limits: SafetyLimits):
    """The pulse bench's four instruments, on their resources or on the simulated bench
    (served here over TCP, so the same VISA drivers talk to it)."""
    import threading

    from xbarlab.chip_drivers.pulsed_device import PulsedDeviceChip, source_limits
    from xbarlab.instruments.keithley2450 import Keithley2450
    from xbarlab.instruments.keithley2600 import Keithley2600
    from xbarlab.instruments.keysight_33500b import Keysight33500B
    from xbarlab.instruments.keysight_b2900 import KeysightB2900
    from xbarlab.instruments.keysight_infiniivision import KeysightInfiniiVision
    from xbarlab.instruments.path_switch import Keysight11713C
    from xbarlab.instruments.visa import VisaTransport

    servers = []
    resources = (t.pulse_source, t.digitizer, t.path_switch, t.smu)
    smu_driver = t.smu_driver
    if t.simulate:
        from xbarlab.sim_backend.server import serve_group

        generator = "33600a" if t.pulse_source_driver == "keysight_33600a" else "33500b"
        servers = serve_group([generator, "infiniivision", "11713c", "b2900"], t.simulate,
                              t.seed)
        servers[0].device.bench.cell.state = t.simulate_state
        for server in servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()
        resources = tuple(server.resource for server in servers)
        smu_driver = "keysight_b2900"
    opened = []
    try:
        def visa(resource):
            opened.append(VisaTransport(resource, backend=t.visa_backend))
            return opened[-1]

        source = Keysight33500B(visa(resources[0]), source_limits(limits, t.circuit),
                                model="33600A" if t.pulse_source_driver == "keysight_33600a"
                                else "33500B")
        scope = KeysightInfiniiVision(visa(resources[1]), limits)
        switch = Keysight11713C(visa(resources[2]), limits, settle_s=t.path_switch_settle_s,
                                channel=t.path_switch_channel)
        smu = {"keithley2450": Keithley2450, "keithley2600": Keithley2600,
               "keysight_b2900": KeysightB2900}[smu_driver](visa(resources[3]), limits=limits)
        chip = PulsedDeviceChip(source, scope, smu, switch, t.circuit, technology=(
            t.simulate or t.technology), identity=identity, limits=limits,
            keep_waveforms=t.trace)
    except BaseException:
        for transport in opened:
            transport.close()
        for server in servers:
            server.shutdown()
            server.server_close()
        raise
    for server in servers:  # closed last: after the chip's outputs and links
        chip.on_close(server.server_close)
        chip.on_close(server.shutdown)
    for transport in opened:
        chip.on_close(transport.close)
    return chip
