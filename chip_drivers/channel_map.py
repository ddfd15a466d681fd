"""Channel maps: which controller channel (or matrix pin) each logical row and column is wired
to. Native order is not logical order on real boards, so the map is explicit config (TOML),
validated, and applied by every driver.

    # board.toml
    rows = [3, 0, 1, 2]        # logical row r is controller row channel rows[r]
    cols = [0, 1, 2, 3]
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator


class ChannelMap(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rows: list[int]
    cols: list[int]

    @model_validator(mode="after")
    def _unique_nonnegative(self) -> ChannelMap:
        for name, m in (("rows", self.rows), ("cols", self.cols)):
            if not m:
                raise ValueError(f"{name}: the map is empty")
            if min(m) < 0:
                raise ValueError(f"{name}: channel {min(m)} is negative")
            dup = sorted({c for c in m if m.count(c) > 1})
            if dup:
                raise ValueError(f"{name}: channel(s) {dup} used by more than one line")
        return self

    @classmethod
    def identity(cls, rows: int, cols: int) -> ChannelMap:
        return cls(rows=list(range(rows)), cols=list(range(cols)))

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> ChannelMap:
        path = Path(path)
        try:
            return cls.model_validate(tomllib.loads(path.read_text()))
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: not valid TOML ({exc})") from None
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(x) for x in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            raise ValueError(f"{path}: {where + ': ' if where else ''}{msg}") from None

    def check_fits(self, channel_rows: int, channel_cols: int) -> None:
        """Every channel must exist on the controller (or matrix)."""
        if max(self.rows) >= channel_rows:
            raise ValueError(f"rows: channel {max(self.rows)} does not exist (the controller "
                             f"has {channel_rows} row channels)")
        if max(self.cols) >= channel_cols:
            raise ValueError(f"cols: channel {max(self.cols)} does not exist (the controller "
                             f"has {channel_cols} column channels)")

    def check_disjoint(self) -> None:
        """Rows and columns on one set of pins (a switch matrix's columns): no pin may carry
        both a word line and a bit line, or the SMU's HI and LO would be shorted through the
        matrix."""
        shared = sorted(set(self.rows) & set(self.cols))
        if shared:
            raise ValueError(f"pins {shared} carry both a word line (rows) and a bit line "
                             "(cols): the SMU's HI and LO would be shorted; nothing was "
                             "connected")

    def physical_flat(self, logical_flat: np.ndarray, logical_cols: int,
                      channel_cols: int) -> np.ndarray:
        r, c = np.divmod(np.asarray(logical_flat), logical_cols)
        return np.asarray(self.rows)[r] * channel_cols + np.asarray(self.cols)[c]


class DevicePins(BaseModel):
    """Where discrete devices' two terminals are on a switch matrix's columns (1-based):
    device k's top (driven) terminal on ``pins[k][0]``, its bottom (sense, or SMU LO) terminal
    on ``pins[k][1]``. Devices may share a pad, such as a common bottom electrode, but never
    the same pair of pads: routing one would put the other in parallel with it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pins: list[tuple[int, int]]

    @model_validator(mode="after")
    def _routable(self) -> DevicePins:
        if not self.pins:
            raise ValueError("give at least one device's (top, bottom) columns")
        seen: dict[frozenset[int], int] = {}
        for k, (top, bottom) in enumerate(self.pins):
            if min(top, bottom) < 1:
                raise ValueError(f"device {k}: matrix columns count from 1, got "
                                 f"({top}, {bottom})")
            if top == bottom:
                raise ValueError(f"device {k}: top and bottom both on column {top} would "
                                 "short the source through the matrix")
            pair = frozenset((top, bottom))
            if pair in seen:
                raise ValueError(f"device {k}: devices {seen[pair]} and {k} are on the same "
                                 f"pads ({top}, {bottom}); routing one would connect both")
            seen[pair] = k
        return self

    def __len__(self) -> int:
        return len(self.pins)

    def check_fits(self, matrix_cols: int) -> None:
        worst = max(max(p) for p in self.pins)
        if worst > matrix_cols:
            raise ValueError(f"column {worst} does not exist (the matrix has {matrix_cols} "
                             "columns)")
