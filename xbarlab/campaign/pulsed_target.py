"""Open a ``[target.pulsed_device]``: its pulse generator, oscilloscope, path switch and SMU
(and switch matrix) on their VISA resources, or, with ``simulate``, the simulated bench served
in this process over TCP so the same VISA drivers talk to it. Parts of one instrument (a
B1500's SPGU, selector and SMU) given the same resource share one connection."""

from __future__ import annotations

import threading

from xbarlab.campaign.config import PulsedDeviceTarget
from xbarlab.chip_drivers.channel_map import DevicePins
from xbarlab.chip_drivers.identity import ChipIdentity
from xbarlab.chip_drivers.pulsed_device import PulsedDeviceChip, source_limits
from xbarlab.instruments.safety import SafetyLimits
from xbarlab.instruments.visa import VisaTransport

# the simulator that stands for each driver (sim_backend.server's names)
SIMULATORS = {"keysight_33500b": "33500b", "keysight_33600a": "33600a",
              "keysight_b1500_spgu": "b1500", "keysight_infiniivision": "infiniivision",
              "tektronix_mso": "mso", "keysight_11713c": "11713c",
              "keysight_b1500_erssp": "b1500", "keysight_b1500_smu": "b1500",
              "keysight_b2900": "b2900", "keithley2450": "b2900", "keithley2600": "b2900"}


def _serve(t: PulsedDeviceTarget) -> tuple[list, tuple[str, ...], str]:
    """The simulated instruments the target's drivers need, each once; their resources in
    the order pulse source, digitizer, path switch, SMU (and matrix); and the SMU driver to use
    (a B2900 for the SCPI SMUs: the simulated bench serves that one). The simulated matrix is
    wired as the target says its devices are."""
    from xbarlab.sim_backend.server import serve_group

    smu_driver = t.smu_driver if t.smu_driver == "keysight_b1500_smu" else "keysight_b2900"
    wanted = [SIMULATORS[d] for d in (t.pulse_source_driver, t.digitizer_driver,
                                      t.path_switch_driver, smu_driver)]
    if t.matrix is not None:
        wanted.append("707b")
    names = list(dict.fromkeys(wanted))
    servers = serve_group(names, t.simulate, t.seed, devices=t.devices,
                          pins=t.matrix.devices if t.matrix else None, spread=t.simulate_spread,
                          state=t.simulate_state)
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    by_name = {n: s.resource for n, s in zip(names, servers, strict=True)}
    return servers, tuple(by_name[n] for n in wanted), smu_driver


def open_pulsed_device(t: PulsedDeviceTarget, identity: ChipIdentity,
                       limits: SafetyLimits) -> PulsedDeviceChip:
    from xbarlab.instruments.keithley707b import Keithley707B
    from xbarlab.instruments.keithley2450 import Keithley2450
    from xbarlab.instruments.keithley2600 import Keithley2600
    from xbarlab.instruments.keysight_33500b import Keysight33500B
    from xbarlab.instruments.keysight_b1500 import (
        KeysightB1500Selector,
        KeysightB1500SMU,
        KeysightB1500SPGU,
    )
    from xbarlab.instruments.keysight_b2900 import KeysightB2900
    from xbarlab.instruments.keysight_infiniivision import KeysightInfiniiVision
    from xbarlab.instruments.path_switch import Keysight11713C
    from xbarlab.instruments.tektronix_mso import TektronixMSO

    servers: list = []
    resources = (t.pulse_source, t.digitizer, t.path_switch, t.smu,
                 *((t.matrix.resource,) if t.matrix is not None else ()))
    smu_driver = t.smu_driver
    if t.simulate:
        servers, resources, smu_driver = _serve(t)
    opened: dict[str, VisaTransport] = {}
    try:
        def visa(resource: str) -> VisaTransport:
            if resource not in opened:
                opened[resource] = VisaTransport(resource, backend=t.visa_backend)
            return opened[resource]

        src_limits = source_limits(limits, t.circuit)
        if t.pulse_source_driver == "keysight_b1500_spgu":
            source = KeysightB1500SPGU(visa(resources[0]), src_limits,
                                       channel=t.pulse_source_channel)
        else:
            source = Keysight33500B(visa(resources[0]), src_limits, model="33600A" if
                                    t.pulse_source_driver == "keysight_33600a" else "33500B")
        scope = (TektronixMSO if t.digitizer_driver == "tektronix_mso" else
                 KeysightInfiniiVision)(visa(resources[1]), limits)
        if t.path_switch_driver == "keysight_b1500_erssp":
            try:
                port = int(t.path_switch_channel)
            except ValueError:
                raise ValueError(f"path_switch_channel {t.path_switch_channel!r}: the "
                                 "B1500 selector's port is 0..3") from None
            switch = KeysightB1500Selector(visa(resources[2]), limits,
                                           settle_s=t.path_switch_settle_s, port=port)
        else:
            switch = Keysight11713C(visa(resources[2]), limits, settle_s=t.path_switch_settle_s,
                                    channel=t.path_switch_channel)
        if smu_driver == "keysight_b1500_smu":
            smu = KeysightB1500SMU(visa(resources[3]), limits, channel=t.smu_channel)
        else:
            smu = {"keithley2450": Keithley2450, "keithley2600": Keithley2600,
                   "keysight_b2900": KeysightB2900}[smu_driver](visa(resources[3]),
                                                                limits=limits)
        matrix = pins = None
        if t.matrix is not None:
            m = t.matrix
            matrix = Keithley707B(visa(resources[4]), rows=m.rows, cols=m.cols,
                                  settle_s=m.settle_s)
            pins = DevicePins(pins=m.devices)
        chip = PulsedDeviceChip(source, scope, smu, switch, t.circuit, technology=(
            t.simulate or t.technology), identity=identity, limits=limits,
            keep_waveforms=t.trace, matrix=matrix, pins=pins)
    except BaseException:
        for transport in opened.values():
            transport.close()
        for server in servers:
            server.shutdown()
            server.server_close()
        raise
    for server in servers:  # closed last: after the chip's outputs and links
        chip.on_close(server.server_close)
        chip.on_close(server.shutdown)
    for transport in opened.values():
        chip.on_close(transport.close)
    return chip
