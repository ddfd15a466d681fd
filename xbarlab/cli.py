"""The ``xbarlab`` command line. Each subcommand is a thin shell over a library call; errors the
user can fix are printed as one line (``xbarlab: error: ...``) with exit status 2."""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

import xbarlab
from xbarlab.analysis.errors import FitError
from xbarlab.errors import XbarlabError
from xbarlab.instruments.errors import InstrumentError
from xbarlab.weights_cli import weights_app

app = typer.Typer(
    name="xbarlab",
    help="Characterize analog in-memory-computing memory chips: measure, store, fit, simulate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # plain help: typer's rich panels show "<bool>" after every flag with click >= 8.2
    rich_markup_mode=None,
)
out = Console()


def _refuse_existing(output: Path, what: str, force: bool) -> None:
    """An output that exists is kept unless --force; one line saying so."""
    if output.exists() and not force:
        raise XbarlabError(f"{output}: exists; choose another {what}, or give --force to "
                           "overwrite it")


FORCE_HELP = "Overwrite the output if it exists."


def _replace_campaign(output: Path) -> None:
    """Delete the campaign file (and its resume checkpoint) that --force replaces; refused
    while a writer holds it."""
    from xbarlab.campaign.checkpoint import checkpoint_path
    from xbarlab.store.lock import WriterLock

    lock = WriterLock(output)
    lock.acquire()  # CampaignLockedError, naming the writer, while one lives
    try:
        output.unlink()
        checkpoint_path(output).unlink(missing_ok=True)
    finally:
        lock.release()


def _note(message: str) -> None:
    out.print(f"note: {message}", highlight=False)


def _version(value: bool) -> None:
    if value:
        print(f"xbarlab {xbarlab.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Characterize analog in-memory-computing memory chips: measure, store, fit, simulate."""


@app.command()
def demo(
    output: Annotated[Path, typer.Option("-o", "--output", help="Directory for the results.")]
    = Path("xbarlab-demo"),
    device: Annotated[str, typer.Option(help="pcm | rram")] = "pcm",
    dies: Annotated[int, typer.Option(help="Simulated dies of the wafer.")] = 4,
    size: Annotated[int, typer.Option(help="Rows and columns of each die's array.")] = 128,
    force: Annotated[bool, typer.Option("--force", help="Replace the demo output already in "
                                        "the directory.")] = False,
) -> None:
    """The whole loop on the built-in simulator: characterize a small simulated wafer, fit the
    device model, write the report, build a chip twin and replay on it. Without -o, the
    results go to xbarlab-demo/ (xbarlab-demo-rram/ for --device rram)."""
    from xbarlab.demo import run_demo

    if device not in ("pcm", "rram"):
        raise XbarlabError(f"--device {device!r}: use pcm or rram")
    if not 1 <= dies <= 64:
        raise XbarlabError(f"--dies {dies}: use 1..64")
    if not 64 <= size <= 1024:
        raise XbarlabError(f"--size {size}: use 64..1024")
    if output == Path("xbarlab-demo") and device == "rram":
        output = Path("xbarlab-demo-rram")  # so the PCM demo's results stay beside it
    run_demo(output, device, dies, size, out, force=force)


@app.command()
def inspect(
    file: Annotated[Path, typer.Argument(help="Campaign file (.h5).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Show a campaign file: identity, status, runs with their tables and row counts."""
    from xbarlab.store.reader import read_info

    info = read_info(file)
    if as_json:
        doc = {
            "path": str(info.path),
            "format_version": info.format_version,
            "created": info.created,
            "status": info.status,
            "error": info.error,
            "identity": info.identity.model_dump(),
            "software": info.software,
            "resumed": info.resumed,
            "runs": [
                {
                    **{k: v for k, v in asdict(r).items() if k != "tables"},
                    "tables": {
                        t.name: {"rows": t.rows, "columns": list(t.columns), "units": t.units}
                        for t in r.tables.values()
                    },
                }
                for r in info.runs.values()
            ],
        }
        print(json.dumps(doc, indent=2))
        return
    ident = info.identity
    out.print(f"[bold]{info.path}[/]  (xbarlab campaign, format {info.format_version})")
    status = {"completed": "green", "running": "cyan"}.get(info.status, "red")
    line = f"status: [{status}]{info.status}[/]"
    if info.error:
        line += f"  error: {info.error}"
    out.print(line)
    out.print(
        f"chip: lot={ident.lot or '-'} wafer={ident.wafer or '-'} "
        f"die={'-' if ident.die_x < 0 else f'({ident.die_x}, {ident.die_y})'} "
        f"array={ident.array or '-'}"
    )
    out.print(f"created: {info.created}  software: " + ", ".join(
        f"{k} {v}" for k, v in info.software.items()))
    if info.resumed:
        out.print(f"resumed: {len(info.resumed)} time(s), last {info.resumed[-1]}")
    table = Table(show_edge=False)
    for col in ("run", "protocol", "status", "steps", "tables (committed rows)"):
        table.add_column(col)
    for r in info.runs.values():
        tables = ", ".join(f"{t.name}: {t.rows:,}" for t in r.tables.values()) or "-"
        table.add_row(r.name, r.protocol, r.status, str(r.steps), tables)
    if info.runs:
        out.print(table)
    else:
        out.print("no runs")
    _print_instruments(info)


def _print_instruments(info) -> None:
    """Each distinct instrument set-up once, with the runs it was recorded for."""
    seen: dict[str, list[str]] = {}
    setups: dict[str, dict] = {}
    for r in info.runs.values():
        if r.instruments:
            key = json.dumps(r.instruments, sort_keys=True)
            seen.setdefault(key, []).append(r.name)
            setups[key] = r.instruments
    for key, runs in seen.items():
        out.print(f"[bold]measured with[/] (runs {', '.join(runs)}):")
        for name, entry in setups[key].items():
            if not isinstance(entry, dict):
                continue
            head = entry.get("idn") or entry.get("description") or entry.get("driver", "")
            out.print(f"  {name}: {head}")
            settings = entry.get("settings") or {k: v for k, v in entry.items()
                                                 if k not in ("idn", "driver", "description")}
            if settings:
                out.print("    " + ", ".join(f"{k}={v}" for k, v in settings.items()),
                          soft_wrap=True)


@app.command()
def export(
    file: Annotated[Path, typer.Argument(help="Campaign file (.h5).")],
    run: Annotated[str, typer.Option(help="Run name (001_drift) or its protocol.")],
    table: Annotated[str, typer.Option(help="Table of the run.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="netCDF file to write.")],
    force: Annotated[bool, typer.Option("--force", help=FORCE_HELP)] = False,
) -> None:
    """Export one table of a campaign (committed records, units, identity) to netCDF."""
    from xbarlab.store.reader import export_netcdf

    _refuse_existing(output, "output file", force)
    path = export_netcdf(file, run, table, output)
    print(f"wrote {path}")


@app.command()
def run(
    campaign: Annotated[Path, typer.Argument(help="Campaign file (.toml).")],
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="Campaign file to write (default: CAMPAIGN's name, .h5).")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue an interrupted campaign file from its last committed step.")]
    = False,
    compress: Annotated[bool, typer.Option(
        "--compress/--no-compress", help="Deflate the file's tables when the campaign "
        "completes (any HDF5 reader opens them; about a seventh of the size).")] = True,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace an existing output file (its records are lost).")] = False,
) -> None:
    """Run a campaign: every step in order, streamed into one HDF5 file, with progress bars.
    Ctrl-C stops at the next safe point (outputs off, file marked interrupted)."""
    import signal

    from xbarlab.campaign.config import load_campaign
    from xbarlab.campaign.display import RichObserver, summary_table
    from xbarlab.campaign.runner import (
        CampaignRunError,
        CampaignRunner,
        config_digest,
        recorded_campaign,
    )

    if campaign.suffix.lower() in (".h5", ".hdf5", ".nc"):
        raise XbarlabError(f"{campaign}: a data file, not a campaign file (.toml); give the "
                           "campaign file it was run from")
    cfg, text = load_campaign(campaign)
    output = output or Path(campaign.stem + ".h5")
    if resume and force:
        raise XbarlabError("--resume and --force: continue the file, or replace it, not both")
    if not resume and output.exists():
        from xbarlab.store.reader import read_info

        if force:
            _replace_campaign(output)
        else:
            try:
                status = read_info(output).status
            except XbarlabError:
                status = ""
            hint = "choose another output file, or give --force to replace it" \
                if status in ("completed", "") else \
                "continue it with --resume, choose another output file, or give --force"
            what = f"holds a {status} campaign" if status else "exists"
            raise XbarlabError(f"{output}: {what}; {hint}")
    if resume:
        if not output.exists():
            raise XbarlabError(f"{output}: no such campaign file to resume")
        recorded, text = recorded_campaign(output)
        if config_digest(recorded) != config_digest(cfg):
            raise CampaignRunError(f"{campaign}: differs from the campaign recorded in {output}; "
                                   "resume it with the same campaign file")
        cfg = recorded
    stop = {"requested": False}

    def on_sigint(signum, frame):
        if stop["requested"]:
            raise KeyboardInterrupt
        stop["requested"] = True
        out.print("[yellow]stopping at the next safe point (Ctrl-C again to stop at once)[/]")

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        with RichObserver(out) as observer:
            runner = CampaignRunner(cfg, text, output, source=str(campaign),
                                    base_dir=campaign.parent, observer=observer,
                                    stop_requested=lambda: stop["requested"],
                                    compress=compress)
            result = runner.resume() if resume else runner.run()
    finally:
        signal.signal(signal.SIGINT, previous)
    out.print(summary_table(result))
    if result.status == "interrupted":
        out.print(f"interrupted; continue with: xbarlab run {campaign} -o {output} --resume")
        raise typer.Exit(130)
    out.print(f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB)")


@app.command()
def schema(
    markdown: Annotated[bool, typer.Option(
        "--markdown", help="Print the reference of every field as Markdown instead.")] = False,
) -> None:
    """Print the JSON schema of campaign files (for editors and validators)."""
    if markdown:
        from xbarlab.campaign.reference import reference_markdown

        print(reference_markdown(), end="")
        return
    from xbarlab.campaign.config import CampaignConfig

    print(json.dumps(CampaignConfig.model_json_schema(), indent=2))


@contextlib.contextmanager
def _salvage_if(salvage: bool):
    """Reads within skip damaged records (collected in the yielded list) when ``salvage``."""
    from xbarlab.store.integrity import salvaging

    if not salvage:
        yield []
        return
    with salvaging() as skipped:
        yield skipped


def _print_skipped(skipped) -> None:
    for s in skipped:
        out.print(f"[yellow]salvaged: {s}[/]")


@app.command()
def verify(
    file: Annotated[Path, typer.Argument(help="Campaign file (.h5).")],
) -> None:
    """Check every checksum of a campaign file and print what is intact and what is damaged.
    Exit status 0: intact; 1: damaged (the damaged parts are listed); 2: not readable as a
    campaign at all."""
    from xbarlab.store.verify import verify_campaign

    rep = verify_campaign(file)
    if not rep.checksummed:
        out.print(f"{file}: format {rep.format_version} has no checksums; only its structure "
                  "and readability were checked")
    for line in rep.intact:
        out.print(f"[green]intact[/]   {line}", highlight=False)
    for line in rep.faults:
        out.print(f"[red]DAMAGED[/]  {line}", highlight=False)
    verdict = "intact" if rep.ok else "DAMAGED"
    out.print(f"{file}: {verdict}: {len(rep.faults)} fault(s); "
              f"{rep.rows - rep.damaged_rows:,} of {rep.rows:,} committed rows intact",
              highlight=False)
    if not rep.ok:
        raise typer.Exit(1)


@app.command()
def compress(
    files: Annotated[list[Path], typer.Argument(help="Completed campaign files (.h5).")],
) -> None:
    """Deflate the tables of completed campaign files written uncompressed (by older versions, with
    --no-compress, or when the disk was too full at completion); same records, any HDF5
    reader opens them."""
    from xbarlab.store.compact import compress_completed

    for path in files:
        if not path.is_file():
            raise XbarlabError(f"{path}: no such file")
        done = compress_completed(path)
        if done is None:
            out.print(f"{path}: already compressed", highlight=False)
        else:
            out.print(f"{path}: {done[0] / 1e6:.1f} MB -> {done[1] / 1e6:.1f} MB",
                      highlight=False)


@app.command()
def fit(
    inputs: Annotated[list[str], typer.Argument(
        help="Campaign files, directories of them, or glob patterns.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Model JSON to write.")],
    per_die: Annotated[bool, typer.Option("--per-die", help="Also fit each die on its own.")]
    = False,
    scheduler: Annotated[str | None, typer.Option(
        help="Run on dask.distributed: local:N (a LocalCluster of N workers) or a scheduler "
             "address.")] = None,
    threads: Annotated[int | None, typer.Option(
        min=1, help="Files read and reduced at once in this process (default: the cores, at "
                    "most 4); without --scheduler.")] = None,
    device: Annotated[str | None, typer.Option(
        help="pcm | rram: the kind of model to fit (default: the device the files record; "
             "a contradiction warns).")] = None,
    base: Annotated[Path | None, typer.Option(
        help="Model JSON whose unfitted parts the result keeps (default: the defaults of "
             "the device kind); its kind overrides --device.")] = None,
    skip: Annotated[list[str] | None, typer.Option(
        help="Parts not to fit: drift, read_noise, programming, endurance, faults, pulse. A "
             "comma list, or repeat the option.")] = None,
    require: Annotated[list[str] | None, typer.Option(
        help="Parts that must be fitted: the fit fails if one has too little data (otherwise "
             "such a part is reported insufficient and kept from the base model). Same parts "
             "and form as --skip.")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Overwrite the model, summary and aihwkit files if they exist.")] = False,
    summary: Annotated[Path | None, typer.Option(
        help="Per-die summary table to write (.csv or .nc); implies --per-die.")] = None,
    aihwkit: Annotated[Path | None, typer.Option(
        help="Also write the model as IBM aihwkit CustomDriftPCMLikeNoiseModel arguments "
             "(JSON).")] = None,
    salvage: Annotated[bool, typer.Option(
        "--salvage", help="Leave out records that fail their checksum (and say which) instead "
                          "of refusing a damaged file.")] = False,
) -> None:
    """Fit a device model from campaign files (one die, or a wafer); writes the model (the
    simulator's schema) and MODEL.fit.json with confidence intervals and goodness of fit."""
    from rich.progress import Progress

    from xbarlab.analysis.model_fit import parse_parts
    from xbarlab.fitting import (
        base_model,
        check_outputs,
        find_campaigns,
        fit_wafer,
        recorded_device,
        write_fit,
    )

    if threads is not None and scheduler is not None:
        raise XbarlabError("--threads: with --scheduler the files run on the cluster's "
                           "workers; give one or the other")
    check_outputs(output, summary, aihwkit, force=force)
    skipped, required = parse_parts(skip, "--skip"), parse_parts(require, "--require")
    files = find_campaigns(inputs, note=_note)
    start_from = base_model(device, base, recorded_device(files),
                            warn=lambda text: out.print(f"[yellow]warning: {text}[/]"))
    with Progress(console=out, transient=True, disable=not out.is_terminal) as bars:
        task = bars.add_task("reading campaigns", total=len(files))
        result = fit_wafer(files, start_from, scheduler=scheduler, threads=threads,
                           per_die=per_die or summary is not None, skip=skipped,
                           require=required,
                           progress=lambda done, total: bars.update(task, completed=done),
                           salvage=salvage)
    _print_skipped(result.skipped)
    written = write_fit(result, output, summary, aihwkit)
    table = Table(title=f"{len(files)} campaign file(s), {result.samples:,} samples")
    for col in ("fit", "parameters (95 % CI)", "goodness of fit", "devices"):
        table.add_column(col)
    for rep in result.pooled.reports:
        params = ", ".join(f"{k} {v.describe()}" for k, v in rep.params.items())
        gof = ", ".join(f"{k} {v:.3g}" for k, v in rep.gof.items())
        table.add_row(rep.name, params, gof, f"{rep.devices:,}")
    out.print(table)
    for part, why in result.pooled.insufficient.items():
        out.print(f"[yellow]warning: {part}: insufficient: {why}[/]", highlight=False)
    if result.pooled.skipped:
        out.print("skipped (--skip): " + ", ".join(result.pooled.skipped))
    if result.pooled.carried:
        out.print("kept from the base model: " + ", ".join(result.pooled.carried))
    for line in result.pooled.assumed:
        out.print(f"[yellow]warning: {line}[/]", highlight=False)
    for line in result.pooled.caveats():
        out.print(f"[yellow]{line}[/]", highlight=False)
    for d in result.dies:
        if d.error:
            out.print(f"[yellow]die ({d.die_x}, {d.die_y}): {d.error}[/]")
    if written.summary is not None:
        out.print(f"wrote {written.summary}")
    if written.aihwkit is not None:
        notes = written.aihwkit_notes
        out.print(f"wrote {written.aihwkit} (read-noise mismatch after scaling: "
                  f"{notes['read_noise_max_mismatch']:.1%})")
        outside = notes.get("extrapolated_g", [])
        if outside:
            lo, hi = notes["measured_g_range"]
            out.print(f"[yellow]warning: {len(outside)} of the aihwkit drift table's "
                      f"conductances lie outside the measured {lo:.3g}-{hi:.3g} µS "
                      "(extrapolated from the fitted law)[/]", highlight=False)
        elif "measured_g_range" not in notes:
            out.print("[yellow]warning: no drift fit: the aihwkit drift table is the base "
                      "model's[/]", highlight=False)
    out.print(f"wrote {written.model} and {written.report}")


@app.command("import")
def import_(
    data: Annotated[Path, typer.Argument(help="Table to import: .csv, .parquet or .nc.")],
    mapping: Annotated[Path, typer.Option(
        "-m", "--mapping", help="TOML mapping of columns, units, time origin, device and "
                                "identity (docs/analysis.md, 'Importing data').")],
    output: Annotated[Path, typer.Option(
        "-o", "--output", help="Campaign file to write; a directory when the data hold "
                               "several dies (one file per die).")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Bring measurements written by another tool into campaign files, for fit, report and
    replay: long format, any row order, per-device timestamps, repeated reads."""
    from xbarlab.importer import describe, import_table

    for line in describe(import_table(data, mapping, output, force=force)):
        out.print(f"wrote {line}", highlight=False)


@app.command()
def report(
    inputs: Annotated[list[str], typer.Argument(
        help="Campaign files, directories of them, or glob patterns (several: a wafer).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="HTML file to write.")],
    model: Annotated[Path | None, typer.Option(
        help="Fitted model (from xbarlab fit) to show with its goodness of fit.")] = None,
    salvage: Annotated[bool, typer.Option(
        "--salvage", help="Leave out records that fail their checksum (and say which) instead "
                          "of refusing a damaged file.")] = False,
    force: Annotated[bool, typer.Option("--force", help=FORCE_HELP)] = False,
) -> None:
    """Write a self-contained HTML report (opens offline) of one campaign or a wafer."""
    from xbarlab.fitting import find_campaigns
    from xbarlab.report import write_report

    _refuse_existing(output, "report file", force)
    if model is not None and not model.exists():
        raise XbarlabError(f"--model {model}: no such model file")
    files = find_campaigns(inputs, note=_note)
    with _salvage_if(salvage) as skipped:
        write_report(files, output, model)
    _print_skipped(skipped)
    out.print(f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB)")


@app.command()
def watch(
    file: Annotated[Path, typer.Argument(help="Campaign file (.h5), being written or not.")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 5006,
) -> None:
    """Serve a live view of a campaign on 127.0.0.1 that follows it while it is written."""
    from xbarlab.live import serve

    if not 0 < port < 65536:
        raise XbarlabError(f"--port {port}: use 1..65535")
    try:
        server = serve(file, port)
    except OSError as exc:
        raise XbarlabError(f"watch: cannot listen on 127.0.0.1:{port} ({exc})") from None
    print(f"watching {file} at http://127.0.0.1:{port}/ (Ctrl-C to stop)", flush=True)
    try:
        server.io_loop.start()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@app.command()
def twin(
    file: Annotated[Path, typer.Argument(help="Campaign file (.h5) of the chip.")],
    model: Annotated[Path, typer.Option(help="Its fitted model (xbarlab fit).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Twin file to write.")],
    seed: Annotated[int, typer.Option(help="Seed of what the records don't say.")] = 0,
    force: Annotated[bool, typer.Option("--force", help=FORCE_HELP)] = False,
) -> None:
    """Build a chip twin: a simulated chip with this chip's own devices (stuck cells, drift,
    lifetimes), for `target.twin` in a campaign."""
    import numpy as np

    from xbarlab.sim_backend.models import ChipModel
    from xbarlab.twin import build_twin
    from xbarlab.twin_file import save_twin

    _refuse_existing(output, "twin file", force)
    try:
        chip_model = ChipModel.model_validate_json(model.read_text())
    except (OSError, ValueError) as exc:
        raise XbarlabError(f"--model {model}: not a chip model "
                           f"({str(exc).splitlines()[0]})") from None
    t = build_twin(file, chip_model, seed)
    save_twin(t, output)
    stuck = int((t.fault != 0).sum())
    out.print(f"wrote {output}: {t.shape[0]}x{t.shape[1]} devices, "
              f"{int(np.isfinite(t.g_prog).sum()):,} measured states, "
              f"{int(np.isfinite(t.nu_z).sum()):,} drift exponents, {stuck} stuck cells, "
              f"{output.stat().st_size / 1e6:.1f} MB")


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(help="The recorded campaign file (.h5), or a folder "
                                         "holding one (twins and replays left out).")],
    twin_file: Annotated[Path, typer.Option("--twin", help="Chip twin (xbarlab twin).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Campaign file to write.")],
    campaign: Annotated[Path | None, typer.Option(
        help="Another campaign to run (default: the one recorded in FILE).")] = None,
    salvage: Annotated[bool, typer.Option(
        "--salvage", help="Leave out records that fail their checksum (and say which) instead "
                          "of refusing a damaged file.")] = False,
    force: Annotated[bool, typer.Option("--force", help=FORCE_HELP)] = False,
) -> None:
    """Rerun a recorded campaign (or another) against a chip twin and compare the key
    statistics of the original and the replay side by side."""
    import tomllib

    import numpy as np
    import tomli_w

    from xbarlab.campaign.config import parse_campaign
    from xbarlab.campaign.runner import CampaignRunner
    from xbarlab.store.reader import read_info
    from xbarlab.summary import of_file

    _refuse_existing(output, "output file", force)
    if file.is_dir():
        from xbarlab.fitting import find_campaigns

        found = find_campaigns([str(file)], note=_note)
        if len(found) > 1:
            raise XbarlabError(f"{file}: holds {len(found)} campaigns "
                               f"({', '.join(p.name for p in found[:3])}...); name the one the "
                               "twin was built from")
        file = found[0]
    text = campaign.read_text() if campaign else read_info(file).config_text
    if not text:
        raise XbarlabError(f"{file}: no campaign recorded; give --campaign")
    doc = tomllib.loads(text)
    doc["target"] = {"twin": str(twin_file.resolve()), "twin_state": "start"}
    text = tomli_w.dumps(doc)
    cfg = parse_campaign(text, f"replay of {campaign or file}")
    if output.exists():
        _replace_campaign(output)
    CampaignRunner(cfg, text, output, source=str(campaign or file)).run()
    with _salvage_if(salvage) as skipped:
        a = of_file(file)
    _print_skipped(skipped)
    b = of_file(output).as_dict()
    table = Table(title=f"{file.name} against its replay on {twin_file.name}")
    for col in ("statistic", "original [95 % CI]", "replay", "within"):
        table.add_column(col)
    for k, value in a.as_dict().items():
        if not (np.isfinite(value) or np.isfinite(b[k])):
            continue
        low, high = a.interval(k)
        ci = f" [{low:.4g}, {high:.4g}]" if np.isfinite(low) and np.isfinite(high) else ""
        within = "-" if not ci else ("yes" if low <= b[k] <= high else "[red]no[/]")
        table.add_row(k, f"{value:.4g}{ci}", f"{b[k]:.4g}", within)
    out.print(table)
    out.print(f"wrote {output}")


sim_app = typer.Typer(help="Simulated instruments and chips that speak the real protocols.",
                      no_args_is_help=True, rich_markup_mode=None)
app.add_typer(sim_app, name="sim")
app.add_typer(weights_app, name="weights")


@sim_app.command("serve")
def sim_serve(
    instrument: Annotated[list[str], typer.Option(
        help="keithley2450 | keithley2600 | b2900 (B2901A) | b2902a | b2962a | 33500b | "
             "33600a | b1500 | infiniivision | mso | 11713c | 707b; repeat it to serve "
             "several (pulse-bench instruments then share one simulated bench)")],
    port: Annotated[int, typer.Option(help="TCP port of the first (0: any free ports).")] = 0,
    device: Annotated[str, typer.Option(help="resistor:OHMS | pcm | rram")] = "resistor:10e3",
    latency_ms: Annotated[float, typer.Option(help="Delay per exchange, like a real bus.")] = 0.0,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    seed: Annotated[int, typer.Option(help="Seed of a simulated memory device.")] = 0,
    devices: Annotated[int, typer.Option(help="Devices on the pulse bench, behind the 707b "
                                         "(device k: top on column 2k+1, bottom on 2k+2).")]
    = 1,
) -> None:
    """Serve simulated instruments over TCP; prints each one's VISA resource string, one per
    line in the order given, and serves until Ctrl-C."""
    import threading

    from xbarlab.sim_backend.server import BENCH_INSTRUMENTS, serve_group

    if latency_ms < 0:
        raise XbarlabError(f"--latency-ms must be >= 0, got {latency_ms}")
    if any(n in BENCH_INSTRUMENTS for n in instrument) and device == "resistor:10e3":
        device = "pcm"  # a pulse bench holds a memory cell; pcm unless told otherwise
    try:
        servers = serve_group(instrument, device, seed, host, port, latency_ms / 1000,
                              devices=devices)
    except ValueError as exc:
        raise XbarlabError(f"sim serve: {exc}") from None
    except OSError as exc:
        raise XbarlabError(f"sim serve: cannot listen on {host}:{port} ({exc})") from None
    for server in servers:
        print(server.resource, flush=True)
    try:
        for server in servers[1:]:
            threading.Thread(target=server.serve_forever, daemon=True).start()
        servers[0].serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        for server in servers:
            server.server_close()


@sim_app.command("chip")
def sim_chip(
    rows: Annotated[int, typer.Option(help="Array rows.")] = 64,
    cols: Annotated[int, typer.Option(help="Array columns.")] = 64,
    device: Annotated[str, typer.Option(help="pcm | rram")] = "pcm",
    seed: Annotated[int, typer.Option(help="Seed of the simulated array.")] = 0,
    fault_crc: Annotated[float, typer.Option(help="Probability of corrupting a reply (tests).")]
    = 0.0,
    fault_drop: Annotated[float, typer.Option(help="Probability of cutting a reply (tests).")]
    = 0.0,
) -> None:
    """Serve a simulated chip controller on a pseudo-terminal; prints the tty path (open it with
    SerialChip) and serves until Ctrl-C."""
    from xbarlab.sim_backend.array import SimulatedArray
    from xbarlab.sim_backend.chip_controller import ChipController, PtyChipServer
    from xbarlab.sim_backend.models import ArrayConfig, ChipModel, PCMModel, RRAMModel

    models = {"pcm": PCMModel, "rram": RRAMModel}
    if device not in models:
        raise XbarlabError(f"sim chip: --device {device!r}: use pcm or rram")
    for name, p in (("--fault-crc", fault_crc), ("--fault-drop", fault_drop)):
        if not 0 <= p <= 1:
            raise XbarlabError(f"sim chip: {name} must be a probability in [0, 1], got {p}")
    try:
        model = ChipModel(device=models[device](), array=ArrayConfig(rows=rows, cols=cols))
    except ValueError as exc:
        raise XbarlabError(f"sim chip: {exc}".splitlines()[0]) from None
    server = PtyChipServer(ChipController(SimulatedArray(model, seed=seed)),
                           fault_crc=fault_crc, fault_drop=fault_drop, seed=seed)
    print(server.path, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


def main() -> None:
    try:
        app()
    except (XbarlabError, InstrumentError, FitError) as exc:
        print(f"xbarlab: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("xbarlab: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
