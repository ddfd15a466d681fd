"""Who a chip is: lot, wafer, die position and array. Shared by drivers (``Chip.info``) and the
campaign store (root attributes, coordinates of every Dataset read back)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ChipIdentity(BaseModel):
    """Identity of the array under test. Every field is optional so that a bench device with no
    wafer map can still be recorded; missing fields are stored as empty strings / -1."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lot: str = ""
    wafer: str = ""
    die_x: int = -1
    die_y: int = -1
    array: str = ""
