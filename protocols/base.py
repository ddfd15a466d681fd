"""The shape every protocol has: a config and its inputs (what to measure), a state (where it
is), and a generator of steps that continues from any state (how far it got).

``start`` builds the initial state without touching the chip; ``steps`` runs from a state to
the end, mutating it and yielding one :class:`StepRecords` per step, so that at every yield the
state is exactly what is needed to continue. The campaign runner commits each step's records,
checkpoints the state and, after an interruption, calls ``steps`` again with the restored state.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypeVar

from xbarlab.chip_drivers.base import Chip
from xbarlab.protocols.records import StepRecords

S = TypeVar("S")


@dataclass(frozen=True)
class Drive:
    """A voltage a config will apply, for checking it against safety limits before a run:
    the config field that sets it, the amplitude and the pulse width (None for a DC read)."""

    field: str
    volts: float
    width_s: float | None = None
    compliance: float | None = None  # A, where the source limits the current


ResetPolarity = Literal["auto", "positive", "negative"]
RESET_POLARITY_HELP = ("sign of RESET pulses: auto = positive on PCM (unipolar: a short pulse "
                       "that melts the cell), negative on RRAM and others (bipolar)")


def reset_sign(chip: Chip, polarity: ResetPolarity = "auto") -> int:
    """+1 or −1: the sign a RESET pulse takes on ``chip``. PCM is unipolar (SET and RESET
    share a polarity and differ in amplitude and width); RRAM is bipolar."""
    if polarity == "auto":
        return 1 if chip.info.technology.lower() == "pcm" else -1
    return 1 if polarity == "positive" else -1


def nested(prefix: str, drives: list[Drive]) -> list[Drive]:
    """The drives of a sub-config, with field names under ``prefix``."""
    return [Drive(f"{prefix}.{d.field}", d.volts, d.width_s, d.compliance) for d in drives]


@dataclass(frozen=True)
class Progress:
    done: float
    total: float
    text: str = ""


# program-and-verify trace rows per programmed cell: 25 in examples/quick_sim.toml, more for
# tight tolerances; an estimate for disk-space checks, not a limit
TYPICAL_PULSES_PER_CELL = 30


class Protocol(ABC, Generic[S]):
    name: ClassVar[str]
    state_type: ClassVar[type]

    @abstractmethod
    def start(self, chip: Chip) -> S:
        """The initial state (no chip operation)."""

    @abstractmethod
    def steps(self, chip: Chip, state: S) -> Iterator[StepRecords]:
        """Run from ``state`` to the end, yielding after each step."""

    @abstractmethod
    def progress(self, state: S) -> Progress:
        """How far ``state`` is, for progress bars."""

    def facts(self) -> dict[str, Any]:
        """What the analysis must know of this protocol's records and cannot guess, stored
        with the run (``facts``; docs/hdf5_layout.md lists the keys): e.g. what its ``time``
        columns count from."""
        return {}

    def estimated_rows(self, shape: tuple[int, int]) -> int:
        """About how many records this protocol writes on a chip of ``shape``: what the runner
        checks the free disk space against before it starts (0: too few to matter)."""
        return 0

    def run(self, chip: Chip) -> Iterator[StepRecords]:
        """Every step from the start: for scripts and tests that need no resume."""
        yield from self.steps(chip, self.start(chip))
