"""Statistical device and array models: the schema the simulator consumes and the analysis
fitters produce (JSON round trip, validated, every coefficient a parameter).

Units are SI throughout: conductance in siemens, voltage in volts, time in seconds.

PCM defaults are IBM's published fit on a 1M-device PCM array as used by aihwkit's
``PCMLikeNoiseModel``:
  - S. R. Nandakumar et al., "Phase-change memory models for deep learning training and
    inference", ICECS 2019;
  - V. Joshi et al., "Accurate deep neural network inference using computational phase-change
    memory", Nature Communications 11, 2473 (2020).
Programming spread σ(G) = 0.26348 + 1.9650·g − 1.1731·g² µS (g = G/Gmax, Gmax = 25 µS),
drift ν ~ N(μν, σν) with μν = clip(−0.0155·ln g + 0.0244, 0.049, 0.1),
σν = clip(−0.0125·ln g − 0.0059, 0.008, 0.045), t0 = 20 s, 1/f read noise
σ_read = G·Q_s·sqrt(ln((t + t_read)/(2·t_read))) with Q_s = min(0.0088/g^0.65, 0.2),
t_read = 250 ns.

RRAM defaults are in the range reported for NeuRRAM's HfOx 1T1R cells (W. Wan et al., "A
compute-in-memory chip based on resistive random-access memory", Nature 608, 504 (2022):
conductances 1–40 µS, gradual bipolar SET/RESET, write-verify); the pulse-response form is the
soft-bounds model common in RRAM training studies (ΔG⁺ ∝ (1−x), ΔG⁻ ∝ x, e.g. Gokmen & Vlasov,
Front. Neurosci. 10:333 (2016)), whose symmetry point is x* = α⁺/(α⁺+α⁻). The pulse-response,
endurance and fault defaults of both technologies are representative magnitudes, not fits:
the analysis package fits them from data.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

NonNeg = Annotated[float, Field(ge=0)]
Pos = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LogLinearClipped(_Model):
    """y = clip(slope·ln(G/Gmax) + intercept, lo, hi): the form of IBM's drift statistics."""

    slope: float
    intercept: float
    lo: float
    hi: float

    @model_validator(mode="after")
    def _ordered(self) -> LogLinearClipped:
        if self.lo > self.hi:
            raise ValueError(f"lo ({self.lo}) must be <= hi ({self.hi})")
        return self

    def at_log(self, ln_g):
        """The law at ln(G/Gmax) (a number or a numpy array). The simulator's hot path has
        its own in-place float32 version (sim_backend/devices.py)."""
        import numpy as np

        return np.clip(self.slope * np.asarray(ln_g, float) + self.intercept, self.lo, self.hi)


class PCMPulseResponse(_Model):
    """Partial SET: each SET pulse adds ΔG with mean
    ``set_step·g_range·drive·(w/set_width_ref_s)^width_exponent·(1−x)^state_exponent``
    (x = (G−Gmin)/(Gmax−Gmin); drive = (|V|−set_threshold)/(set_ref−set_threshold), 0 below
    threshold) and a log-normal cycle-to-cycle spread of relative standard deviation
    ``c2c_rel`` (log-normal so that a SET pulse never lowers the conductance).

    PCM is unipolar: the effect depends on |V| and the width, not the sign (Burr et al., J. Vac.
    Sci. Technol. B 28, 223 (2010); Wong et al., Proc. IEEE 98, 2201 (2010)). Below
    ``reset_threshold`` a pulse heats the cell above crystallization and SETs it; at or above
    it the cell melts and quenches: RESET, abrupt. At or above ``reset_full`` the cell is
    amorphous again (Gmin with a log-normal spread ``reset_spread``), in between a proportional
    part of the excess conductance is erased. Melting needs at least ``melt_time_s``; a shorter
    pulse above the threshold does nothing. (Pulse edges are taken as fast, as a pulse generator
    or chip controller makes them.)"""

    set_threshold: Pos = 0.8
    set_ref: Pos = 1.2
    set_width_ref_s: Pos = 100e-9
    width_exponent: NonNeg = 0.5
    set_step: Pos = 0.04
    state_exponent: NonNeg = 1.0
    c2c_rel: NonNeg = 0.5
    reset_threshold: Pos = 1.3
    reset_full: Pos = 1.6
    reset_spread: NonNeg = 0.3
    melt_time_s: NonNeg = 5e-9

    @model_validator(mode="after")
    def _ordered(self) -> PCMPulseResponse:
        if self.set_ref <= self.set_threshold:
            raise ValueError("set_ref must be > set_threshold")
        if self.reset_full < self.reset_threshold:
            raise ValueError("reset_full must be >= reset_threshold")
        return self


class PCMProgrammingNoise(_Model):
    """σ(G) = Σ coeffs[k]·(G/Gmax)^k siemens, clipped at 0: the spread left after a converged
    write-verify, developed by relaxation between the verify read and t0. A write-verify band
    tighter than σ(G) therefore yields σ(G) at t0, a looser one more."""

    coeffs: list[float] = Field(default_factory=lambda: [0.26348e-6, 1.9650e-6, -1.1731e-6])
    relax_tau_s: Pos = 1e-3  # log-time scale of that relaxation, reached in full at t0

    @model_validator(mode="after")
    def _not_empty(self) -> PCMProgrammingNoise:
        if not self.coeffs:
            raise ValueError("coeffs must have at least one coefficient")
        return self


class PCMDrift(_Model):
    """G(t) = G(t0)·(t/t0)^−ν for t ≥ t0 after programming, ν ~ N(mu(G), sigma(G)) per device
    at every programming event (negative draws clipped to 0)."""

    t0_s: Pos = 20.0
    mu: LogLinearClipped = LogLinearClipped(slope=-0.0155, intercept=0.0244, lo=0.049, hi=0.1)
    sigma: LogLinearClipped = LogLinearClipped(
        slope=-0.0125, intercept=-0.0059, lo=0.008, hi=0.045
    )


class PCMReadNoise(_Model):
    """1/f read noise: σ = G·Q_s(G)·sqrt(ln((t + t_read)/(2·t_read))), t since programming,
    Q_s = min(coeff/(G/Gmax)^exponent, q_max); one fresh draw per device per read."""

    coeff: NonNeg = 0.0088
    exponent: NonNeg = 0.65
    q_max: NonNeg = 0.2
    t_read_s: Pos = 250e-9


class Endurance(_Model):
    """Cycles to failure ~ Weibull(shape, scale) per device; at failure the device becomes
    stuck-SET, stuck-RESET or its on/off window collapses to ±collapse_window_rel around the
    middle of the range, with the given probabilities (summing to 1)."""

    weibull_shape: Pos = 1.2
    weibull_scale: Pos = 1e8
    p_stuck_set: Fraction = 0.3
    p_stuck_reset: Fraction = 0.5
    p_window_collapse: Fraction = 0.2
    collapse_window_rel: Fraction = 0.1

    @model_validator(mode="after")
    def _sums_to_one(self) -> Endurance:
        total = self.p_stuck_set + self.p_stuck_reset + self.p_window_collapse
        if abs(total - 1.0) > 1e-9:
            raise ValueError(
                f"p_stuck_set + p_stuck_reset + p_window_collapse must be 1 (got {total:g})"
            )
        return self


class Faults(_Model):
    """Devices stuck from the start (as fabricated)."""

    stuck_set_fraction: Fraction = 0.001
    stuck_reset_fraction: Fraction = 0.002

    @model_validator(mode="after")
    def _at_most_one(self) -> Faults:
        if self.stuck_set_fraction + self.stuck_reset_fraction > 1:
            raise ValueError("stuck_set_fraction + stuck_reset_fraction must be <= 1")
        return self


class _Conductances(_Model):
    @model_validator(mode="after")
    def _range(self):
        if self.g_min >= self.g_max:
            raise ValueError(f"g_min ({self.g_min:g} S) must be < g_max ({self.g_max:g} S)")
        return self


class PCMModel(_Conductances):
    """Phase-change memory device statistics."""

    kind: Literal["pcm"] = "pcm"
    g_min: NonNeg = 0.1e-6
    g_max: Pos = 25e-6
    pulse: PCMPulseResponse = PCMPulseResponse()
    programming: PCMProgrammingNoise = PCMProgrammingNoise()
    drift: PCMDrift = PCMDrift()
    read_noise: PCMReadNoise = PCMReadNoise()
    endurance: Endurance = Endurance()
    faults: Faults = Faults()


class RRAMPulseResponse(_Model):
    """Soft bounds: a SET pulse adds ``alpha_set·range·drive·(1−x)^gamma_set``, a RESET pulse
    (negative amplitude) removes ``alpha_reset·range·drive·x^gamma_reset``; drive is
    ((|V|−threshold)/(ref−threshold))·(w/width_ref_s)^width_exponent, 0 below threshold.
    Cycle-to-cycle spread σ = c2c_base + c2c_slope·(G−Gmin): larger in high states."""

    set_threshold: Pos = 0.8
    set_ref: Pos = 1.2
    reset_threshold: Pos = 0.9
    reset_ref: Pos = 1.5
    width_ref_s: Pos = 100e-9
    width_exponent: NonNeg = 0.3
    alpha_set: Pos = 0.03
    alpha_reset: Pos = 0.05
    gamma_set: NonNeg = 1.0
    gamma_reset: NonNeg = 1.0
    c2c_base: NonNeg = 0.1e-6
    c2c_slope: NonNeg = 0.02

    @model_validator(mode="after")
    def _ordered(self) -> RRAMPulseResponse:
        if self.set_ref <= self.set_threshold:
            raise ValueError("set_ref must be > set_threshold")
        if self.reset_ref <= self.reset_threshold:
            raise ValueError("reset_ref must be > reset_threshold")
        return self


class RRAMRelaxation(_Model):
    """Log-time relaxation after programming: G(t) = G_prog + δ·ln(1 + t/tau_s)/ln(1 + t_ref_s/
    tau_s), δ ~ N(mean_rel·(G−Gmin), sigma_base + sigma_rel·(G−Gmin)) drawn per programming
    event; it keeps growing in log time past t_ref_s."""

    tau_s: Pos = 1e-3
    t_ref_s: Pos = 1.0
    mean_rel: float = -0.02
    sigma_base: NonNeg = 0.3e-6
    sigma_rel: NonNeg = 0.03


class RRAMReadNoise(_Model):
    """σ_read = rel·G + base, a fresh draw per device per read."""

    rel: NonNeg = 0.005
    base: NonNeg = 0.05e-6


class RRAMModel(_Conductances):
    """Resistive RAM device statistics (HfOx 1T1R-like)."""

    kind: Literal["rram"] = "rram"
    g_min: NonNeg = 1e-6
    g_max: Pos = 40e-6
    pulse: RRAMPulseResponse = RRAMPulseResponse()
    relaxation: RRAMRelaxation = RRAMRelaxation()
    read_noise: RRAMReadNoise = RRAMReadNoise()
    endurance: Endurance = Endurance(weibull_shape=1.0, weibull_scale=1e6)
    faults: Faults = Faults()


DeviceModel = Annotated[PCMModel | RRAMModel, Field(discriminator="kind")]


class ArrayConfig(_Model):
    """Geometry and periphery of a simulated crossbar.

    ``wire_resistance`` is the resistance of one wire segment between neighbouring cells (0:
    ideal wires); word lines are driven at column 0, bit lines sensed at the last row.
    ``adc_bits`` quantizes MVM column currents to 2^bits levels over ±adc_full_scale;
    ``dac_bits`` quantizes MVM inputs (in [−1, 1]) to 2^bits levels. Operation times advance
    the simulated clock."""

    rows: Annotated[int, Field(gt=0, le=1 << 16)] = 256
    cols: Annotated[int, Field(gt=0, le=1 << 16)] = 256
    v_read: Pos = 0.2
    wire_resistance: NonNeg = 0.0
    adc_bits: Annotated[int, Field(ge=1, le=24)] | None = None
    adc_full_scale: Pos = 1e-3
    dac_bits: Annotated[int, Field(ge=1, le=24)] | None = None
    read_time_s: NonNeg = 1e-6
    pulse_overhead_s: NonNeg = 1e-6
    mvm_time_s: NonNeg = 100e-9


class ChipModel(_Model):
    """A whole simulated chip: its devices and its array."""

    device: DeviceModel = Field(default_factory=PCMModel)
    array: ArrayConfig = ArrayConfig()
