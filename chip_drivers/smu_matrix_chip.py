"""SmuMatrixChip: a small array or single devices reached through one SMU and a switch matrix,
one cell at a time. Word line r is routed to the SMU's HI row, bit line c to its LO row; a read
sources ``v_read`` and measures the current, a pulse is a one-pulse train from the SMU.

One SMU cannot drive every row at once, so ``mvm`` is computed from single-cell reads
(I = V·G per cell, summed per column): right for linear devices, and labelled as such.
The clock is the wall clock: ``wait`` sleeps.
"""

from __future__ import annotations

import time

import numpy as np
from xbarlab.chip_drivers.base import Chip, ChipInfo, MVMResult, WallClock
from xbarlab.chip_drivers.channel_map import ChannelMap
from xbarlab.chip_drivers.identity import ChipIdentity
from xbarlab.instruments.keithley707b import Keithley707B
from xbarlab.instruments.safety import SafetyLimits
from xbarlab.instruments.smu import SMU

HI_ROW, LO_ROW = 1, 2


class SmuMatrixChip(WallClock, Chip):
    def __init__(self, smu: SMU, matrix: Keithley707B, pins: ChannelMap, *,
                 technology: str = "unknown", identity: ChipIdentity | None = None,
                 limits: SafetyLimits | None = None, read_compliance: float = 1e-3):
        """``pins``: matrix column (1-based) of each word line (``rows``) and bit line
        (``cols``)."""
        self.smu, self.matrix, self.pins = smu, matrix, pins
        pins.check_fits(matrix.cols + 1, matrix.cols + 1)
        pins.check_disjoint()
        limits = limits or smu.limits
        self.read_compliance = min(read_compliance, limits.max_current)
        self.info = ChipInfo(rows=len(pins.rows), cols=len(pins.cols), technology=technology,
                             identity=identity or ChipIdentity(), limits=limits,
                             description="SMU + switch matrix")
        self.start_clock()

    def _route(self, flat: int) -> None:
        """Connect one cell: the source goes off first (relays never switch under power, which
        wears their contacts and spikes the device), then the relays settle before the
        caller sources again."""
        r, c = divmod(int(flat), self.info.cols)
        self.smu.output_off()
        self.matrix.open_all()
        self.matrix.close([(HI_ROW, self.pins.rows[r]), (LO_ROW, self.pins.cols[c])])
        time.sleep(self.matrix.settle_s)

    def _cells(self, sel) -> np.ndarray:
        return np.arange(self.info.rows * self.info.cols) if sel is None else sel

    def _read(self, sel, v_read):
        out = []
        try:
            self.smu.source_voltage(v_read, self.read_compliance)
            for flat in self._cells(sel):
                self._route(flat)
                self.smu.output_on()
                out.append(self.smu.measure_current() / v_read)
        finally:
            self.smu.safe_off()
            self.matrix.open_all()
        return np.array(out)

    def _pulse(self, sel, amp, width):
        compliance = self.info.limits.max_current
        try:
            for k, flat in enumerate(self._cells(sel)):
                self._route(flat)
                self.smu.pulse_train(float(amp[k]), float(width[k]), 1, compliance)
        finally:
            self.smu.safe_off()
            self.matrix.open_all()

    sweep_limits_current = True

    def _iv_sweep(self, flat, volts, step_s, compliance):
        """The SMU's own buffered list sweep, one buffer read for all points."""
        try:
            self._route(flat)
            return self.smu.sweep_voltage_list(volts, compliance, delay=step_s).measured
        finally:
            self.smu.safe_off()
            self.matrix.open_all()

    def _mvm(self, inputs, v_read):
        g = self._read(None, v_read).reshape(self.shape)
        volts = inputs * v_read
        return MVMResult(currents=volts @ g, energy=float(((volts**2) @ g.sum(axis=1)).sum()))

    def provenance(self) -> dict:
        return {**super().provenance(), "smu": self.smu.snapshot(),
                "matrix": self.matrix.snapshot()}

    def safe_off(self) -> None:
        self.smu.safe_off()
        self.matrix.open_all()

    def close(self) -> None:
        self.safe_off()
