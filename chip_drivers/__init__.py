"""The Chip interface protocols are written against, the chip-controller wire protocol, and the
drivers for real test chips. See ../shared/DESIGN.md, section Chips.

::

    from xbarlab.chip_drivers import Chip, SerialChip, ChannelMap

The wire protocol's codecs stay in :mod:`xbarlab.chip_drivers.wire` (for firmware tests).
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submodules=["wire"], submod_attrs={
    "base": ["Chip", "ChipInfo", "IVCurve", "MVMResult"],
    "channel_map": ["ChannelMap"],
    "identity": ["ChipIdentity"],
    "pulsed_device": ["PulseCircuit", "PulsedDeviceChip"],
    "transient": ["PulseTransient", "summarize"],
    "serial_chip": ["ChipCommandError", "ChipLinkError", "SerialChip"],
    "smu_matrix_chip": ["SmuMatrixChip"],
})
