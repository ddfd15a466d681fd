"""Who a chip is: lot, wafer, die position and array. Shared by drivers (``Chip.info``) and the
campaign store (root attributes, coordinates of every Dataset read back)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

PRINTABLE = r"^[ -~]*$"  # printable ASCII: names go into file attributes and file names


class ChipIdentity(BaseModel):
    """Identity of the array under test. Every field is optional so that a bench device with no
    wafer map can still be recorded; missing fields are stored as empty strings / -1."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    lot: str = Field("", max_length=64, pattern=PRINTABLE)
    wafer: str = Field("", max_length=64, pattern=PRINTABLE)
    die_x: int = Field(-1, ge=-100_000, le=100_000)  # wafer maps may be centred: negatives
    die_y: int = Field(-1, ge=-100_000, le=100_000)
    array: str = Field("", max_length=64, pattern=PRINTABLE)
