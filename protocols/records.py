"""What a protocol hands to whoever runs it: one :class:`StepRecords` per step, the tables of
records that step produced, in SI units. Protocols are generators of these (what to measure);
the campaign runner decides how they are stored and committed (how it runs), in the manner of
Bluesky's plans."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class StepRecords:
    step: int
    tables: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    units: dict[str, dict[str, str]] = field(default_factory=dict)
    summary: dict[str, float] = field(default_factory=dict)  # progress figures for the UI

    def add(self, table: str, columns: dict[str, np.ndarray],
            units: dict[str, str] | None = None) -> None:
        self.tables[table] = columns
        if units:
            self.units[table] = units
