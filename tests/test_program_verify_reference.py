"""The compiled program-and-verify loop against a plain reference: the documented rules
(protocols/program_verify.py) written out cell by cell in Python, driving an identical
simulated chip. Both must send the same reads and pulses and record the same results and
trace, to the bit, for PCM and RRAM and for configurations that reach every failure reason."""

from __future__ import annotations

import numpy as np
import pytest
from program_verify_helpers import identify_in_memory
from xbarlab.protocols import program_verify_kernel as kernel
from xbarlab.protocols.base import reset_sign
from xbarlab.protocols.program_verify import REASONS, ProgramVerifyConfig, program_verify
from xbarlab.protocols.records import category_names, level_values
from xbarlab.sim_backend.models import ArrayConfig, ChipModel, RRAMModel
from xbarlab.sim_backend.sim_chip import SimChip


def reference(chip, targets: np.ndarray, cfg: ProgramVerifyConfig):
    """Program-and-verify as its docstring states it, one cell at a time."""
    cells = np.flatnonzero(np.isfinite(targets.ravel()))
    target = targets.ravel()[cells]
    n = cells.size
    amp, ramp, direction = [cfg.set_start] * n, [0] * n, [0] * n
    ineffective, streak_g = [0] * n, [float("nan")] * n
    pulses, reversals, iterations = [0] * n, [0] * n, [0] * n
    last_g = [float("nan")] * n
    result: dict[int, tuple] = {}
    trace = []
    active = list(range(n))
    sign_reset = reset_sign(chip, cfg.reset_polarity)
    iteration = 0
    while active and iteration < cfg.max_iterations:
        g = [float(v) for v in chip.read_selected(cells[active], cfg.v_read)]
        band = [target[c] - cfg.tolerance <= g[k] <= target[c] + cfg.tolerance
                for k, c in enumerate(active)]
        cand = [k for k in range(len(active)) if band[k]]
        confirm = {}
        if cand:
            g2 = chip.read_selected(cells[[active[k] for k in cand]], cfg.v_read)
            confirm = {k: float(v) for k, v in zip(cand, g2, strict=True)}
        go, go_amp, go_width, stay = [], [], [], []
        for k, c in enumerate(active):
            lo, hi = target[c] - cfg.tolerance, target[c] + cfg.tolerance
            sign = 0 if band[k] else (1 if g[k] < lo else -1)
            at_max = amp[c] >= (cfg.set_max if direction[c] > 0 else cfg.reset_max)
            streak = at_max and direction[c] != 0 and not abs(g[k] - streak_g[c]) > cfg.tolerance
            ineffective[c] = ineffective[c] + 1 if streak else 0
            if not streak:
                streak_g[c] = g[k]
            if sign and direction[c] and direction[c] != sign:  # a reversal restarts the ramp
                reversals[c] += 1
                ramp[c] = 0
            applied = 0.0
            if sign:
                amp[c] = min(cfg.set_start + cfg.set_step * ramp[c], cfg.set_max) if sign > 0 \
                    else min(cfg.reset_start + cfg.reset_step * ramp[c], cfg.reset_max)
                direction[c] = sign
                ramp[c] += 1
                pulses[c] += 1
                applied = amp[c] if sign > 0 else sign_reset * amp[c]
            iterations[c] += 1
            last_g[c] = g[k]
            confirmed = k in confirm and lo <= confirm[k] <= hi
            why = ""
            if ramp[c] > cfg.max_pulses:
                why = "max_pulses"
            if reversals[c] > cfg.max_reversals:
                why = "max_reversals"
            if ineffective[c] >= cfg.stuck_pulses:
                why = "stuck"
            if confirmed:
                why = ""
            if sign and not why:
                go.append(cells[c])
                go_amp.append(applied)
                go_width.append(cfg.set_width if sign > 0 else cfg.reset_width)
            r, col = divmod(int(cells[c]), chip.shape[1])
            trace.append((r, col, iteration, np.float32(g[k]), np.float32(applied)))
            if confirmed or why:
                result[c] = (confirm.get(k, g[k]), confirmed, why)
            else:
                stay.append(c)
        if go:
            chip.pulse(np.array(go), np.array(go_amp), np.array(go_width))
        active = stay
        iteration += 1
    for c in active:
        result[c] = (last_g[c], False, "max_pulses")
    return result, pulses, reversals, iterations, trace


CASES = {
    "pcm": (ChipModel(array=ArrayConfig(rows=20, cols=20)), {}),
    "pcm, tight and impatient": (ChipModel(array=ArrayConfig(rows=20, cols=20)),
                                 {"tolerance": 0.3e-6, "max_pulses": 25, "max_reversals": 2,
                                  "stuck_pulses": 2, "max_iterations": 80}),
    "rram, ramped reset": (ChipModel(device=RRAMModel(), array=ArrayConfig(rows=20, cols=20)),
                           {"tolerance": 1e-6, "reset_start": 1.0, "reset_step": 0.05,
                            "reset_max": 1.5, "set_start": 0.8, "set_max": 1.4}),
    # a SET ramp of 301 steps: more amplitudes than a byte codes, recorded as float32
    "pcm, fine ramp": (ChipModel(array=ArrayConfig(rows=20, cols=20)),
                       {"set_step": 0.001, "max_pulses": 300, "max_iterations": 60}),
}


@pytest.mark.parametrize("halves", [False, True], ids=["one pass", "two halves"])
@pytest.mark.parametrize("case", CASES)
def test_compiled_loop_matches_the_plain_reference(case, halves, monkeypatch):
    """In one pass, and split in two halves on two cores that meet in the middle (which a
    400-cell array is not, unless the minimum half is lowered)."""
    if halves:
        monkeypatch.setattr(kernel, "MIN_PART_CELLS", 1)
        monkeypatch.setattr(kernel, "_cores", lambda: 2)
    calls = []
    real = kernel.advance_in_parts
    monkeypatch.setattr(kernel, "advance_in_parts",
                        lambda *a, **k: calls.append(real(*a, **k)) or calls[-1])
    model, overrides = CASES[case]
    cfg = ProgramVerifyConfig(**overrides)
    lo, hi = (2e-6, 20e-6) if model.device.kind == "pcm" else (5e-6, 35e-6)
    targets = np.linspace(lo, hi, 8)[np.random.default_rng(7).integers(0, 8, (20, 20))]
    targets[3, 4:9] = np.nan  # cells left alone
    chip = SimChip(model, seed=11)
    steps = list(program_verify(chip, targets, cfg))
    ref_chip = SimChip(model, seed=11)
    result, pulses, reversals, iterations, trace = reference(ref_chip, targets, cfg)
    res = steps[-1].tables["results"]
    order = sorted(result)
    np.testing.assert_array_equal(res["final_g"], [result[c][0] for c in order])
    np.testing.assert_array_equal(res["converged"], [result[c][1] for c in order])
    np.testing.assert_array_equal(category_names(res["reason"]), [result[c][2] for c in order])
    np.testing.assert_array_equal(res["pulses"], pulses)
    np.testing.assert_array_equal(res["reversals"], reversals)
    np.testing.assert_array_equal(res["iterations"], iterations)
    who = identify_in_memory(steps)  # a trace row names no cell (analysis/trace_cells.py)
    got = list(zip(who.row, who.col, who.iteration, *(np.concatenate(
        [level_values(s.tables["trace"][k]) for s in steps[:-1]])
        for k in ("g_read", "amplitude")), strict=True))
    assert got == trace
    # the amplitude as a one-byte code (read back as volts) unless the ramps have more steps
    amplitude = steps[0].tables["trace"]["amplitude"]
    assert amplitude.dtype == (np.float32 if case == "pcm, fine ramp" else np.uint8)
    # the same pulses reached both chips: their devices are in the same state
    np.testing.assert_array_equal(chip.array.state.g_imm, ref_chip.array.state.g_imm)
    np.testing.assert_array_equal(chip.array.state.t_prog, ref_chip.array.state.t_prog)
    # the working set stayed where the halves met: not at the start of its arrays
    assert any(start > 0 for *_, start, _ in calls) == halves
    reasons = set(category_names(res["reason"]))
    assert reasons <= set(REASONS)
    if case == "pcm, tight and impatient":  # the failure paths were exercised
        assert {"max_pulses", "max_reversals", "stuck", ""} <= reasons
