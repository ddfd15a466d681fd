"""Program-and-verify in stages: the shared programming phase of the protocols that program
targets (program_verify with weights, drift, MVM).

Plain targets are one stage. A weight mapping with several stages (two_pair, optimized) gets
its later stages' targets from the conductances the earlier stages were measured to hold, read
right after each stage: that read is what makes the less significant pair a closed-loop
correction of the more significant one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from xbarlab.chip_drivers.base import Chip
from xbarlab.protocols.base import TYPICAL_PULSES_PER_CELL, Progress, Protocol
from xbarlab.protocols.program_verify import (
    ProgramVerify,
    ProgramVerifyConfig,
    ProgramVerifyState,
    programming_progress,
)
from xbarlab.protocols.records import StepRecords
from xbarlab.protocols.weight_mapping import MappingError, WeightMapping


class FixedTargets:
    """Targets known up front ((rows, cols) in S, NaN for cells left alone): one stage."""

    stages = 1

    def __init__(self, targets: np.ndarray):
        self.array = np.asarray(targets, dtype=np.float64)

    def check(self, shape: tuple[int, int]) -> None:
        if self.array.shape != shape:
            raise ValueError(f"targets: shape {self.array.shape} is not the chip's {shape}")

    def count(self) -> int:
        return int(np.isfinite(self.array).sum())

    def targets(self, stage: int, measured: np.ndarray | None,
                shape: tuple[int, int]) -> np.ndarray:
        return self.array


class MappedWeights:
    """A (rows, n) weight matrix in [−1, 1] held by ``mapping``, its block of rows × n·devices
    columns starting at ``origin`` (row, column) of the array."""

    def __init__(self, mapping: WeightMapping, weights: np.ndarray,
                 origin: tuple[int, int] = (0, 0)):
        self.mapping = mapping
        self.weights = np.asarray(weights, float)
        self.origin = origin
        self.stages = len(mapping.stages)

    def block(self) -> tuple[slice, slice]:
        r, c = self.origin
        rows, n = self.weights.shape
        return slice(r, r + rows), slice(c, c + n * self.mapping.devices)

    def check(self, shape: tuple[int, int]) -> None:
        if self.weights.ndim != 2:
            raise MappingError(f"weights: a matrix is needed (got shape {self.weights.shape})")
        r, c = self.origin
        self.mapping.check_fits(self.weights.shape, (shape[0] - r, shape[1] - c))

    def count(self) -> int:
        return self.weights.size * self.mapping.devices

    def targets(self, stage: int, measured: np.ndarray | None,
                shape: tuple[int, int]) -> np.ndarray:
        self.check(shape)
        rows, cols = self.block()
        out = np.full(shape, np.nan)
        out[rows, cols] = self.mapping.stage_targets(
            stage, self.weights, None if measured is None else measured[rows, cols])
        return out


StageTargets = FixedTargets | MappedWeights


@dataclass
class StagedState:
    program: ProgramVerifyState  # the stage under way
    stage: int = 0
    measured: np.ndarray | None = None  # (rows, cols) read after each stage, NaN elsewhere
    targets: np.ndarray | None = None  # (rows, cols) every stage's targets so far
    converged: np.ndarray | None = None  # (rows, cols) converged in its stage
    done: bool = False


class StagedProgramming:
    """Program-and-verify every stage of ``plan`` in order."""

    def __init__(self, cfg: ProgramVerifyConfig, plan: StageTargets):
        self.cfg = cfg
        self.plan = plan

    def estimated_rows(self, shape: tuple[int, int]) -> int:
        return self.plan.count() * (1 + TYPICAL_PULSES_PER_CELL)

    def facts(self) -> dict[str, Any]:
        """How the weights are held, when they are."""
        plan = self.plan
        return {"mapping": plan.mapping.describe()} if isinstance(plan, MappedWeights) else {}

    def start(self, chip: Chip) -> StagedState:
        self.plan.check(chip.shape)  # geometry first: nothing is pulsed for a misfit
        first = self.plan.targets(0, None, chip.shape)
        return StagedState(program=ProgramVerify(self.cfg, first).start(chip),
                           targets=first.copy(), converged=np.zeros(chip.shape, bool))

    def progress(self, st: StagedState) -> Progress:
        p = programming_progress(st.program)
        stage = f"stage {st.stage + 1}/{self.plan.stages}: " if self.plan.stages > 1 else ""
        return Progress(p.done, p.total, stage + p.text)

    def steps(self, chip: Chip, st: StagedState) -> Iterator[StepRecords]:
        while not st.done:
            targets = self.plan.targets(st.stage, st.measured, chip.shape)
            yield from ProgramVerify(self.cfg, targets).steps(chip, st.program)
            pv = st.program
            st.converged.flat[pv.cells[pv.converged]] = True
            st.stage += 1
            if st.stage >= self.plan.stages:
                st.done = True
                break
            done = np.isfinite(targets)  # what this stage left, for the next one's targets
            g = chip.read(done, self.cfg.v_read)
            st.measured = np.where(done, g, np.nan if st.measured is None else st.measured)
            following = self.plan.targets(st.stage, st.measured, chip.shape)
            st.targets = np.where(np.isfinite(following), following, st.targets)
            st.program = ProgramVerify(self.cfg, following).start(chip)

    def converged_cells(self, st: StagedState) -> np.ndarray:
        """Flat indices of the devices that converged, over every stage."""
        return np.flatnonzero(st.converged)


class ProgramWeights(Protocol[StagedState]):
    """Program-and-verify of a weight mapping's stages (or of plain targets), as a run of its
    own: the records are program-and-verify's, a set per stage."""

    name = "program_verify"
    state_type = StagedState

    def __init__(self, cfg: ProgramVerifyConfig, plan: StageTargets):
        self.programming = StagedProgramming(cfg, plan)

    def facts(self) -> dict[str, Any]:
        return self.programming.facts()

    def estimated_rows(self, shape: tuple[int, int]) -> int:
        return self.programming.estimated_rows(shape)

    def start(self, chip: Chip) -> StagedState:
        return self.programming.start(chip)

    def progress(self, st: StagedState) -> Progress:
        return self.programming.progress(st)

    def steps(self, chip: Chip, st: StagedState) -> Iterator[StepRecords]:
        return self.programming.steps(chip, st)
