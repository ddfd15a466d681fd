"""Run a campaign: open the chip, build every step's protocol (so a bad input fails before
anything is sent), then run the steps in order, committing each protocol step to the campaign
file and checkpointing the protocol (and a simulated chip) so the campaign can be resumed.

Checkpoints are written at the start of every run, at an interruption, and between those as
often as keeps their cost under ``1/checkpoint_cost_factor`` (5 %) of the running time (on real
hardware: after every step, since a real chip cannot be rolled back). None is written when a
run ends: the next run's start writes one, and a crash in between resumes from the last one
written, rolling the finished run back to it and running its last steps again (a simulated
chip restored from the checkpoint repeats them exactly; a real chip has one after its last
step). The checkpoint at a run's start holds no protocol state: ``Protocol.start`` operates
no chip, so a resume calls it again. A stop request
(Ctrl-C) takes effect at the next step boundary: outputs off, file marked interrupted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from xbarlab.campaign.checkpoint import Checkpoint, CheckpointError, checkpoint_path
from xbarlab.campaign.config import CampaignConfig, CampaignConfigError, parse_campaign
from xbarlab.campaign.steps import StepInputError
from xbarlab.campaign.targets import open_chip
from xbarlab.chip_drivers.base import Chip
from xbarlab.errors import XbarlabError
from xbarlab.instruments.errors import InstrumentError
from xbarlab.protocols.base import Progress, Protocol
from xbarlab.protocols.state import from_arrays, to_arrays
from xbarlab.store import CampaignExistsError, CampaignWriter, RunWriter, freeing
from xbarlab.store.reader import read_info
from xbarlab.store.space import MARGIN_BYTES, RESERVE_BYTES, DiskFullError, free_bytes

ROW_BYTES_ESTIMATE = 48  # a typical record: step, row, col and a few float64s


class CampaignRunError(XbarlabError):
    pass


@dataclass
class RunReport:
    name: str
    protocol: str
    status: str = "running"
    steps: int = 0
    summary: dict[str, float] = field(default_factory=dict)


@dataclass
class CampaignResult:
    path: Path
    status: str  # completed | interrupted
    runs: list[RunReport]
    resumed_from: str = ""  # "run NNN_x after step k" when resumed


class Observer:
    """What a runner tells its display. This one tells nobody."""

    def campaign_started(self, total_runs: int, resumed_from: str) -> None: ...

    def run_started(self, index: int, report: RunReport, progress: Progress) -> None: ...

    def step_done(self, index: int, report: RunReport, progress: Progress) -> None: ...

    def run_finished(self, index: int, report: RunReport) -> None: ...


def config_digest(cfg: CampaignConfig) -> str:
    canonical = json.dumps(cfg.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _build(cfg: CampaignConfig, chip: Chip, source: str, base: Path) -> list[Protocol]:
    protocols = []
    for k, step in enumerate(cfg.steps):
        try:
            protocols.append(step.config.build(chip, base))
        except StepInputError as exc:
            raise CampaignConfigError(
                f"{source}: steps[{k}].{step.protocol}.{exc.field}: {exc}") from None
    return protocols


class CampaignRunner:
    def __init__(self, cfg: CampaignConfig, config_text: str, out: Path, *,
                 source: str = "campaign.toml", base_dir: Path = Path("."),
                 observer: Observer | None = None, checkpoint_cost_factor: float = 20.0,
                 stop_requested: Callable[[], bool] = lambda: False, compress: bool = True):
        self.cfg = cfg
        self.config_text = config_text
        self.out = Path(out)
        self.source = source
        self.base_dir = base_dir
        self.observer = observer or Observer()
        self.factor = checkpoint_cost_factor
        self.stop_requested = stop_requested
        self.compress = compress  # deflate the file's tables when the campaign completes
        self.digest = config_digest(cfg)
        self.ckpt_path = checkpoint_path(self.out)
        self._ckpt_cost = 0.0
        self._ckpt_time = 0.0

    # -- entry points ----------------------------------------------------------------------

    def run(self) -> CampaignResult:
        """A new campaign file; an existing file is never overwritten."""
        if not self.out.resolve().parent.is_dir():
            raise CampaignRunError(f"{self.out}: no such directory "
                                   f"{self.out.resolve().parent}; create it first")
        if self.out.exists():
            raise CampaignExistsError(f"{self.out}: file exists; continue it with --resume or "
                                      "choose another output file")
        with self._chip() as chip:
            protocols = _build(self.cfg, chip, self.source, self.base_dir)
            self._check_disk(protocols, chip.shape)
            writer = CampaignWriter.create(self.out, identity=self.cfg.chip,
                                           config_text=self.config_text)
            return self._execute(writer, chip, protocols, 0, None, "")

    def resume(self) -> CampaignResult:
        """Continue the campaign file from its last checkpoint."""
        ck = self._load_checkpoint()
        with self._chip() as chip:
            protocols = _build(self.cfg, chip, self.source, self.base_dir)
            writer = CampaignWriter.resume(self.out)
            if ck is None:  # killed before the first checkpoint: nothing was committed
                return self._execute(writer, chip, protocols, 0, None, "the start")
            try:
                runs = list(writer.runs.values())
                if ck.run_index >= len(runs):
                    raise CheckpointError(f"{self.ckpt_path}: names run {ck.run_index + 1} but "
                                          f"the file has {len(runs)} runs")
                runs[ck.run_index].rollback_to(ck.last_step)
                for later in runs[ck.run_index + 1:]:
                    later.rollback_to(None)
                if ck.chip is not None:
                    chip.restore(ck.chip)
                state = None if ck.state is None else \
                    from_arrays(protocols[ck.run_index].state_type, ck.state)
            except BaseException as exc:
                writer.close("interrupted", f"resume failed: {exc}")
                raise
            after = "before its first step" if ck.last_step is None else \
                f"after step {ck.last_step}"
            where = f"run {runs[ck.run_index].name} {after}"
            return self._execute(writer, chip, protocols, ck.run_index, state, where)

    def _check_disk(self, protocols: list[Protocol], shape: tuple[int, int]) -> None:
        """Refuse, before anything is written, a campaign whose records clearly cannot fit on
        the disk (typical records per protocol, an estimate). A campaign that fits only
        nearly is let run: the writer's check before every commit stops it cleanly, with
        everything committed kept, if the disk fills."""
        rows = sum(p.estimated_rows(shape) for p in protocols)
        need = rows * ROW_BYTES_ESTIMATE
        free = free_bytes(self.out.resolve().parent) - RESERVE_BYTES - MARGIN_BYTES
        if need > free:
            raise CampaignRunError(
                f"{self.out}: the campaign's {rows:,} records need about {need / 1e9:.3g} GB "
                f"on disk, and {max(free, 0) / 1e9:.3g} GB is free there")

    def _load_checkpoint(self) -> Checkpoint | None:
        try:
            ck = Checkpoint.load(self.ckpt_path)
        except CheckpointError:
            if any(r.steps for r in read_info(self.out).runs.values()):
                raise
            return None
        if ck.config_digest != self.digest:
            raise CheckpointError(f"{self.ckpt_path}: checkpoint belongs to a different "
                                  "campaign config")
        return ck

    # -- the loop --------------------------------------------------------------------------

    def _chip(self) -> Chip:
        try:
            return open_chip(self.cfg.target, self.cfg.chip, self.cfg.limits, self.base_dir)
        except (InstrumentError, OSError) as exc:
            raise CampaignRunError(f"{self.source}: target.{self.cfg.target.kind}: cannot open "
                                   f"the chip ({exc})") from None
        except CampaignConfigError as exc:
            raise CampaignConfigError(f"{self.source}: {exc}") from None

    def _execute(self, writer: CampaignWriter, chip: Chip, protocols: list[Protocol],
                 first: int, state, resumed_from: str) -> CampaignResult:
        writer.compress = self.compress
        existing = list(writer.runs.values())
        reports: list[RunReport] = [RunReport(r.name, r.protocol, "completed", r.last_step + 1
                                              if r.last_step is not None else 0)
                                    for r in existing[:first]]
        self.observer.campaign_started(len(protocols), resumed_from)
        run: RunWriter | None = None
        try:
            for i in range(first, len(protocols)):
                proto, spec = protocols[i], self.cfg.steps[i]
                run = existing[i] if i < len(existing) else \
                    writer.open_run(spec.protocol, spec.config, chip.provenance(), proto.facts())
                if i == first and state is not None:
                    st = state
                else:
                    st = proto.start(chip)
                    self._checkpoint(i, run, st, chip, with_state=False)
                report = RunReport(run.name, spec.protocol, "running",
                                   0 if run.last_step is None else run.last_step + 1)
                reports.append(report)
                self.observer.run_started(i, report, proto.progress(st))
                for rec in proto.steps(chip, st):
                    with run.step() as step:
                        for table, columns in rec.tables.items():
                            step.append(table, columns, rec.units.get(table),
                                        step_column=table not in rec.without_step)
                        for table, columns in chip.drain_records().items():
                            step.append(table, columns, chip.record_units.get(table))
                    report.steps += 1
                    report.summary = rec.summary or report.summary
                    stop = self.stop_requested()
                    self._checkpoint(i, run, st, chip, force=stop)
                    self.observer.step_done(i, report, proto.progress(st))
                    if stop:
                        return self._interrupted(writer, chip, reports, resumed_from)
                run.finish("completed")
                report.status = "completed"
                self.observer.run_finished(i, report)
                if self.stop_requested() and i + 1 < len(protocols):
                    return self._interrupted(writer, chip, reports, resumed_from)
        except KeyboardInterrupt:
            self._safe_off(chip)
            writer.close("interrupted", "interrupted by the user")
            raise
        except DiskFullError as exc:  # nothing committed is lost: a stop, not a failure
            self._safe_off(chip)
            writer.close("interrupted", str(exc))
            raise
        except BaseException as exc:
            self._safe_off(chip)
            where = f"run {run.name}" if run is not None else "campaign"
            message = f"{where}: {type(exc).__name__}: {exc}"
            writer.close("failed", message)
            if isinstance(exc, (XbarlabError, InstrumentError, ValueError)):
                raise CampaignRunError(f"{self.out}: {message}; the file is marked failed, "
                                       "continue it with --resume") from exc
            raise
        writer.close("completed")
        freeing.remove(self.ckpt_path)
        return CampaignResult(self.out, "completed", reports, resumed_from)

    def _interrupted(self, writer: CampaignWriter, chip: Chip, reports: list[RunReport],
                     resumed_from: str) -> CampaignResult:
        self._safe_off(chip)
        for r in reports:
            if r.status == "running":
                r.status = "interrupted"
        writer.close("interrupted", "interrupted by the user")
        return CampaignResult(self.out, "interrupted", reports, resumed_from)

    @staticmethod
    def _safe_off(chip: Chip) -> None:
        with contextlib.suppress(Exception):  # the original error is the one to report
            chip.safe_off()

    def _checkpoint(self, index: int, run: RunWriter, state, chip: Chip,
                    force: bool = True, with_state: bool = True) -> None:
        """Save a checkpoint (``with_state=False``: before the run's first step, without the
        protocol's state, which start() rebuilds). Unforced ones are skipped while the last
        one's cost is more than 1/factor of the time since it."""
        snapshot_able = type(chip).snapshot is not Chip.snapshot
        now = time.monotonic()
        if not force and snapshot_able and now - self._ckpt_time < self.factor * self._ckpt_cost:
            return
        arrays = to_arrays(state)
        ck = Checkpoint(index, run.last_step, self.digest, arrays if with_state else None,
                        chip.snapshot())
        cost = ck.save(self.ckpt_path)
        if not with_state:  # pace the next ones by what a whole checkpoint will cost
            saved = sum(v.nbytes for v in (ck.chip or {}).values())
            left_out = sum(v.nbytes for v in arrays.values())
            cost *= (saved + left_out) / saved if saved else 1.0
        self._ckpt_cost = cost
        self._ckpt_time = time.monotonic()


def recorded_campaign(out: Path) -> tuple[CampaignConfig, str]:
    """The campaign config stored in a campaign file, for resuming it."""
    info = read_info(out)
    if info.status == "completed":
        raise CampaignRunError(f"{out}: campaign is already completed; nothing to resume")
    return parse_campaign(info.config_text, f"{out} (recorded campaign)"), info.config_text
