"""One memory cell at nanosecond time scales, for the pulse bench: what it does while a pulse
generator drives it through a series resistance, integrated step by step.

**PCM** (a mushroom cell; the textbook picture, e.g. Burr et al., JVST B 28, 223 (2010), and
Le Gallo & Sebastian, J. Phys. D 53, 213002 (2020)):

- The state is the crystalline fraction ``x`` of the active volume; the rest, ``a = 1 − x``,
  is an amorphous cap in series with the crystalline path: the read resistance is
  ``R_c + a·R_a`` with ``R_c = 1/g_set`` and ``R_c + R_a = 1/g_reset``.
- Threshold switching: the cap switches when the field in it reaches a critical value, that
  is when its voltage reaches ``V_th = v_th0 · a`` (drawn per pulse with a relative spread),
  after a delay that shortens exponentially with overvoltage,
  ``t_d = tau_d · exp(−(V_cap − V_th)/v_d)``; switched, the cap holds
  ``min(v_hold, V_th) + I·r_on`` in series with ``R_c``, while ``I > i_hold``.
- Joule heating to a lumped hot-spot temperature with one thermal time constant:
  ``dT/dt = (T_amb + r_th·P − T)/tau_th``.
- Melt and quench (RESET): above ``t_melt`` a fraction of the volume melts, growing with the
  overheating; the melt is ohmic at ``g_liquid`` (liquid GST conducts better than the
  crystal), and the melted part ends amorphous unless it recrystallizes while cooling.
- Crystallization (SET, and recrystallization during a slow trailing edge): between ``t_x``
  and ``t_melt``, ``dx/dt = k(T)·(1 − x)`` with an Arrhenius rate that vanishes at the melt,
  ``k = exp(−e_a/k_B·(1/T − 1/t_ref)) · (t_melt − T)/(t_melt − t_ref) / tau_x``: a SET needs
  time *and* temperature, so longer and (up to the melt) hotter pulses SET further.

**RRAM** (bipolar, a filament of relative size ``w``): ``g = g_off + w·(g_on − g_off)``; a
positive voltage grows it, a negative one dissolves it, both as ``sinh(|V|/v0)``, so reads
at a few hundred millivolts leave it alone.

The electrical solve is exact for the series circuit (a resistive cell in a resistive loop);
capacitances are left out, so edges are the generator's.
"""

from __future__ import annotations

import math
from typing import Literal

import numba
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

K_B = 8.617333262e-5  # eV/K


class PulsedPCM(BaseModel):
    """A PCM mushroom cell (defaults: a GST cell of a few tens of nanometres)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["pcm"] = "pcm"
    g_set: float = Field(200e-6, gt=0, description="crystalline read conductance, S")
    g_reset: float = Field(0.5e-6, gt=0, description="amorphous read conductance, S")
    g_liquid: float = Field(200e-6, gt=0, description="conductance of the molten cell, S")
    v_th0: float = Field(1.4, gt=0, description="threshold voltage, fully amorphous, V")
    v_th_spread: float = Field(0.03, ge=0, description="relative cycle-to-cycle V_th spread")
    tau_d: float = Field(100e-9, gt=0, description="threshold delay at V_th, s")
    v_d: float = Field(0.1, gt=0, description="overvoltage per e-fold of delay, V")
    v_hold: float = Field(0.7, ge=0, description="holding voltage, V")
    r_on: float = Field(1e3, gt=0, description="ON-state series resistance, Ω")
    i_hold: float = Field(10e-6, ge=0, description="holding current, A")
    r_th: float = Field(6.6e5, gt=0, description="thermal resistance, K/W")
    tau_th: float = Field(2e-9, gt=0, description="thermal time constant, s")
    t_amb: float = Field(300.0, gt=0, description="ambient temperature, K")
    t_x: float = Field(450.0, gt=0, description="crystallization onset, K")
    t_melt: float = Field(900.0, gt=0, description="melting point, K")
    melt_span: float = Field(400.0, gt=0, description="overheating that melts the whole "
                             "active volume, K")
    tau_x: float = Field(300e-9, gt=0, description="crystallization time at t_ref, s")
    t_ref: float = Field(650.0, gt=0, description="reference temperature of tau_x, K")
    e_a: float = Field(1.2, gt=0, description="activation energy of crystallization, eV")


class PulsedRRAM(BaseModel):
    """A bipolar filamentary RRAM cell."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["rram"] = "rram"
    g_on: float = Field(200e-6, gt=0, description="full-filament conductance, S")
    g_off: float = Field(5e-6, gt=0, description="no-filament conductance, S")
    rate: float = Field(7.6e-3, gt=0, description="switching rate prefactor, 1/s")
    v0: float = Field(0.05, gt=0, description="voltage per e-fold of the rate, V")


CellModel = PulsedPCM | PulsedRRAM


@numba.njit(cache=True, nogil=True)
def _pcm_transient(dt, emf, r_ext, x0, t0, v_th, p):  # pragma: no cover - compiled
    """Step the PCM cell through ``emf`` (V per step of ``dt``) behind ``r_ext`` ohms. Returns
    the cell current and voltage per step, the final crystalline fraction and temperature, and
    the step at which it threshold-switched (−1: it did not)."""
    (g_set, g_reset, g_liquid, tau_d, v_d, v_hold, r_on, i_hold, r_th, tau_th, t_amb, t_x,
     t_melt, melt_span, tau_x, t_ref, e_a) = p
    n = emf.size
    current = np.empty(n)
    volts = np.empty(n)
    r_c = 1.0 / g_set
    r_a = 1.0 / g_reset - r_c
    x, temp = x0, t0
    on = False
    delay = 0.0
    switched = -1
    ea_k = e_a / 8.617333262e-5
    for k in range(n):
        e = emf[k]
        sign = 1.0 if e >= 0 else -1.0
        e = abs(e)
        a = 1.0 - x
        if temp >= t_melt:  # the melt is ohmic
            i = e / (r_ext + 1.0 / g_liquid)
        else:
            i = e / (r_ext + r_c + a * r_a)
            if on:
                vh = min(v_hold, v_th * a)
                i_on = (e - vh) / (r_ext + r_on + r_c) if e > vh else 0.0
                if i_on > i:
                    i = i_on
                if i < i_hold:
                    on = False
                    i = e / (r_ext + r_c + a * r_a)
            if not on and a > 1e-3:
                v_cap = i * a * r_a
                vth_now = v_th * a
                if v_cap >= vth_now:
                    delay += dt / (tau_d * math.exp(-(v_cap - vth_now) / v_d))
                    if delay >= 1.0:
                        on = True
                        if switched < 0:
                            switched = k
                else:
                    delay = 0.0
        v = e - i * r_ext
        current[k] = sign * i
        volts[k] = sign * v
        power = v * i
        temp += dt / tau_th * (t_amb + r_th * power - temp)
        if temp >= t_melt:
            melted = min((temp - t_melt) / melt_span, 1.0)
            if x > 1.0 - melted:
                x = 1.0 - melted
        elif temp >= t_x:
            rate = math.exp(-ea_k * (1.0 / temp - 1.0 / t_ref)) * (t_melt - temp) / (
                t_melt - t_ref) / tau_x
            x = 1.0 - (1.0 - x) * math.exp(-rate * dt)
    return current, volts, x, temp, switched


@numba.njit(cache=True, nogil=True)
def _rram_transient(dt, emf, r_ext, w0, g_on, g_off, rate, v0):  # pragma: no cover - compiled
    n = emf.size
    current = np.empty(n)
    volts = np.empty(n)
    w = w0
    for k in range(n):
        g = g_off + w * (g_on - g_off)
        i = emf[k] / (r_ext + 1.0 / g)
        v = emf[k] - i * r_ext
        current[k] = i
        volts[k] = v
        dw = rate * math.sinh(abs(v) / v0) * dt
        if v > 0:
            w = 1.0 - (1.0 - w) * math.exp(-dw)
        elif v < 0:
            w = w * math.exp(-dw)
    return current, volts, w


class PulsedCell:
    """One cell's state and what a drive does to it. ``state`` is the crystalline fraction
    (PCM) or the filament size (RRAM), in [0, 1]."""

    def __init__(self, model: CellModel, state: float = 1.0,
                 rng: np.random.Generator | None = None):
        if not 0.0 <= state <= 1.0:
            raise ValueError(f"state {state!r} must be in [0, 1]")
        self.model = model
        self.state = float(state)
        self.rng = rng or np.random.default_rng(0)
        self.temperature = model.t_amb if isinstance(model, PulsedPCM) else 300.0

    @property
    def conductance(self) -> float:
        """The low-field (read) conductance, S."""
        m = self.model
        if isinstance(m, PulsedPCM):
            r_c = 1.0 / m.g_set
            return 1.0 / (r_c + (1.0 - self.state) * (1.0 / m.g_reset - r_c))
        return m.g_off + self.state * (m.g_on - m.g_off)

    @property
    def threshold_voltage(self) -> float:
        """The cell voltage at which the amorphous cap reaches its mean V_th (nan for RRAM,
        which has none, and for a cell with no cap left)."""
        m = self.model
        a = 1.0 - self.state
        if not isinstance(m, PulsedPCM) or a <= 1e-3:
            return math.nan
        r_c = 1.0 / m.g_set
        r_a = 1.0 / m.g_reset - r_c
        return m.v_th0 * a * (r_c + a * r_a) / (a * r_a)

    def drive(self, dt: float, emf: np.ndarray, r_ext: float) -> tuple[np.ndarray, np.ndarray,
                                                                          int]:
        """Apply ``emf`` (one value per ``dt``) through ``r_ext`` ohms in series. Returns the
        current and the cell voltage per step, and the step of threshold switching (−1)."""
        emf = np.ascontiguousarray(emf, dtype=np.float64)
        m = self.model
        if isinstance(m, PulsedPCM):
            v_th = m.v_th0 * max(0.0, 1.0 + m.v_th_spread * float(self.rng.standard_normal()))
            p = (m.g_set, m.g_reset, m.g_liquid, m.tau_d, m.v_d, m.v_hold, m.r_on, m.i_hold, m.r_th,
                 m.tau_th, m.t_amb, m.t_x, m.t_melt, m.melt_span, m.tau_x, m.t_ref, m.e_a)
            i, v, self.state, _, switched = _pcm_transient(dt, emf, r_ext, self.state,
                                                           self.temperature, v_th, p)
            # between pulses the hot spot cools to ambient (tau_th is nanoseconds)
            self.temperature = m.t_amb
            return i, v, int(switched)
        i, v, self.state = _rram_transient(dt, emf, r_ext, self.state, m.g_on, m.g_off,
                                           m.rate, m.v0)
        return i, v, -1
