"""Vectorized device physics: how conductance responds to pulses, relaxes, drifts and reads.

State is a struct of numpy arrays, one element per device (:class:`DeviceState`, 34 bytes per
device); the physics classes are stateless apart from their model and compute over a selection
of devices at once. A *programming event* (any pulse that changes the state) draws that device's
post-programming statistics afresh: relaxation offset, drift exponent, read-noise coefficient.

Conductance at time τ after the last programming event (noise-free):
  PCM   τ < t0: G_imm + ΔG·w(τ), w = ln(1+τ/τ_r)/ln(1+t0/τ_r)   (relaxation, complete at t0)
        τ ≥ t0: (G_imm + ΔG)·(τ/t0)^−ν                            (drift)
  RRAM  G_imm + δ·ln(1+τ/τ_r)/ln(1+t_ref/τ_r)                      (log-time relaxation)
where G_imm is the state a verify read right after the pulse sees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xbarlab.sim_backend.models import Endurance, LogLinearClipped, PCMModel, RRAMModel
from xbarlab.sim_backend.random import Normals, blockwise, normal

F = np.float32  # per-device state and arithmetic: halves memory and time; times stay float64

OK, STUCK_SET, STUCK_RESET, COLLAPSED = 0, 1, 2, 3
FAULT_NAMES = {OK: "ok", STUCK_SET: "stuck_set", STUCK_RESET: "stuck_reset",
               COLLAPSED: "window_collapse"}


@dataclass
class DeviceState:
    g_imm: np.ndarray  # f4, S: state right after the last programming event
    dg: np.ndarray  # f4, S: PCM relaxation offset reached at t0 / RRAM δ at t_ref
    t_prog: np.ndarray  # f8, s: simulated time of the last programming event
    nu: np.ndarray  # f4: drift exponent
    q: np.ndarray  # f4: PCM read-noise coefficient Q_s
    cycles: np.ndarray  # u4: SET→RESET transitions
    lifetime: np.ndarray  # f4: cycles to failure
    fault: np.ndarray  # u1: OK, STUCK_SET, STUCK_RESET, COLLAPSED
    last_pol: np.ndarray  # i1: +1 after a SET, −1 after a RESET, 0 as fabricated
    fault_version: int = 0  # bumped whenever a device fails, to invalidate cached masks
    # f4 per device, or None: a chip twin's fixed drift z-score per device (NaN: draw fresh),
    # so a device keeps its measured place in the ν distribution each time it is programmed
    nu_z: np.ndarray | None = None

    @classmethod
    def empty(cls, n: int) -> DeviceState:
        return cls(
            g_imm=np.zeros(n, F), dg=np.zeros(n, F), t_prog=np.zeros(n, np.float64),
            nu=np.zeros(n, F), q=np.zeros(n, F), cycles=np.zeros(n, np.uint32),
            lifetime=np.zeros(n, F), fault=np.zeros(n, np.uint8), last_pol=np.zeros(n, np.int8),
        )

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in vars(self).values() if isinstance(a, np.ndarray))


def take(arr: np.ndarray, sel: np.ndarray | None) -> np.ndarray:
    """The selected elements (a view of everything when ``sel`` is None)."""
    return arr if sel is None else arr[sel]


def part(arr: np.ndarray, sel: np.ndarray | None, s: slice) -> np.ndarray:
    """Slice ``s`` of the selected elements, gathering only that slice."""
    return arr[s] if sel is None else arr[sel[s]]


def put(arr: np.ndarray, sel: np.ndarray | None, values) -> None:
    if sel is None:
        arr[...] = values
    else:
        arr[sel] = values


def _elapsed(now: float, t_prog: np.ndarray) -> np.ndarray:
    """Time since programming as float32, in one pass (no float64 temporary)."""
    out = np.empty(t_prog.shape, F)
    np.subtract(now, t_prog, out=out, casting="same_kind")
    return out


def _out(arr: np.ndarray, sel: np.ndarray | None, n: int) -> np.ndarray:
    """Where to compute a per-device result: straight into the state array for whole-array
    operations, else a new array that :func:`put` scatters."""
    return arr if sel is None else np.empty(n, arr.dtype)


def _loglin(p: LogLinearClipped, ln_g: np.ndarray) -> np.ndarray:
    """clip(slope·ln g + intercept, lo, hi), given ln g."""
    out = ln_g * F(p.slope)
    out += F(p.intercept)
    return np.clip(out, F(p.lo), F(p.hi), out=out)


class DevicePhysics:
    """Common behaviour; subclasses supply the technology's formulas."""

    model: PCMModel | RRAMModel
    _health_key: tuple[int, int] | None = None
    _health_cache: tuple[np.ndarray | None, np.ndarray | None] = (None, None)

    @property
    def g_range(self) -> float:
        return self.model.g_max - self.model.g_min

    # -- initial state -------------------------------------------------------------------

    def fabricate(self, n: int, rng: np.random.Generator) -> DeviceState:
        """As-fabricated devices: RESET state, lifetimes drawn, stuck-at faults placed."""
        m = self.model
        st = DeviceState.empty(n)
        st.g_imm[:] = m.g_min
        self._after_program(st, None, st.g_imm.copy(), np.zeros(n), rng)
        st.nu[:] = 0
        st.dg[:] = 0
        st.lifetime[:] = m.endurance.weibull_scale * rng.weibull(m.endurance.weibull_shape, n)
        u = rng.random(n)
        f = m.faults
        stuck_set = u < f.stuck_set_fraction
        stuck_reset = (u >= f.stuck_set_fraction) & (u < f.stuck_set_fraction
                                                      + f.stuck_reset_fraction)
        self._make_stuck(st, np.flatnonzero(stuck_set), STUCK_SET)
        self._make_stuck(st, np.flatnonzero(stuck_reset), STUCK_RESET)
        return st

    def _make_stuck(self, st: DeviceState, idx: np.ndarray, mode: int) -> None:
        m = self.model
        if mode == STUCK_SET:
            st.g_imm[idx] = m.g_max
        elif mode == STUCK_RESET:
            st.g_imm[idx] = m.g_min
        else:
            st.g_imm[idx] = (m.g_min + m.g_max) / 2
        st.dg[idx] = 0
        st.nu[idx] = 0
        st.q[idx] = self._stuck_read_noise(st.g_imm[idx])
        st.fault[idx] = mode
        st.fault_version += 1

    def _stuck_read_noise(self, g: np.ndarray) -> np.ndarray:
        """Read-noise coefficient of a device frozen at ``g`` (the state it is stuck in, not the
        one it was last programmed to)."""
        rn = getattr(self.model.read_noise, "coeff", None)
        if rn is None:
            return np.zeros_like(g)
        m = self.model
        g_rel = np.maximum(g / F(m.g_max), F(1e-6))
        return np.minimum(F(m.read_noise.coeff) / g_rel ** F(m.read_noise.exponent),
                          F(m.read_noise.q_max))

    # -- conductance and noise -----------------------------------------------------------

    def conductance(self, st: DeviceState, sel: np.ndarray | None, now: float) -> np.ndarray:
        """True (noise-free) conductance of the selected devices now, computed block by block
        on all cores (sim_backend/random.py, ``blockwise``)."""
        n = st.t_prog.size if sel is None else len(sel)
        g = np.empty(n, F)

        def work(s: slice) -> None:
            g[s] = self._conductance(st, sel, s, now)

        blockwise(n, work)
        return g

    def _conductance(self, st: DeviceState, sel: np.ndarray | None, s: slice,
                     now: float) -> np.ndarray:
        """Conductance of slice ``s`` of the selection (gather with :func:`part`)."""
        raise NotImplementedError

    def read_sigma(
        self, st: DeviceState, sel: np.ndarray | None, g: np.ndarray, now: float
    ) -> np.ndarray:
        raise NotImplementedError

    def read(
        self, st: DeviceState, sel: np.ndarray | None, now: float, rng: np.random.Generator
    ) -> np.ndarray:
        """Measured conductance: true conductance plus one fresh read-noise draw per device."""
        g = self.conductance(st, sel, now)
        noise = normal(rng, g.shape[0])
        noise *= self.read_sigma(st, sel, g, now)
        g += noise
        return g

    # -- programming -----------------------------------------------------------------------

    def pulse_delta(
        self, g: np.ndarray, amp: np.ndarray, width: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """New conductance after one pulse, and which pulses were effective SETs / RESETs."""
        raise NotImplementedError

    def _after_program(
        self, st: DeviceState, sel: np.ndarray | None, g_new: np.ndarray, now, rng
    ) -> None:
        raise NotImplementedError

    def pulse(
        self,
        st: DeviceState,
        sel: np.ndarray | None,
        amp: np.ndarray,
        width: np.ndarray,
        now: float,
        rng: np.random.Generator,
    ) -> None:
        """Apply one pulse to each selected device (per-device amplitude and width)."""
        m = self.model
        g = self.conductance(st, sel, now)
        g_new, is_set, is_reset = self.pulse_delta(g, amp, width, rng)
        live, collapsed = self._health(st)
        if collapsed is not None:
            col = take(collapsed, sel)
            if col.any():
                c = (m.g_min + m.g_max) / 2
                half = m.endurance.collapse_window_rel * self.g_range / 2
                g_new[col] = np.clip(g_new[col], c - half, c + half)
        changed = is_set | is_reset
        if live is not None:
            changed &= take(live, sel)
        kept = None
        if changed.all():  # common case (whole-array pulses): no gather/scatter
            idx, sub = slice(None), sel
        elif sel is None and changed.mean() > 0.5:
            # a whole-array pulse on a chip with a few stuck devices: program every device and
            # put the few unchanged back, instead of gathering and scattering every array
            # (that took a 1024² pulse from ~52 to ~68 ms)
            unchanged = np.flatnonzero(~changed)
            kept = (unchanged, [(a, a[unchanged].copy()) for a in (
                st.g_imm, st.dg, st.nu, st.q, st.t_prog, st.last_pol)])
            idx, sub = slice(None), None
            is_reset = is_reset & changed
            is_set = is_set & changed
        else:
            idx = np.flatnonzero(changed)
            if idx.size == 0:
                return
            sub = idx if sel is None else sel[idx]
        try:
            self._after_program(st, sub, g_new[idx], now, rng)
            self._count_cycles(st, sub, idx, is_set, is_reset, rng)
        finally:
            if kept is not None:
                for arr, old in kept[1]:
                    arr[kept[0]] = old

    def _count_cycles(self, st: DeviceState, sub, idx, is_set: np.ndarray,
                      is_reset: np.ndarray, rng: np.random.Generator) -> None:
        """Endurance: a cycle is a RESET following a SET."""
        resets = is_reset[idx]
        if not resets.any():
            put(st.last_pol, sub, 1)
            return
        was_set = take(st.last_pol, sub) > 0
        put(st.last_pol, sub, np.where(is_set[idx], np.int8(1), np.int8(-1)))
        completes = resets & was_set
        if completes.any():
            flat = np.arange(st.fault.size) if sub is None else np.asarray(sub)
            cyc = flat[completes]
            cyc = cyc[st.fault[cyc] == OK]  # a failed device's cycles stop at its failure
            st.cycles[cyc] += 1
            self._fail_worn_out(st, cyc, rng)

    def _health(self, st: DeviceState) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(devices that can still switch, devices with a collapsed window), each None when it
        is every device / no device; cached until a device fails."""
        key = (id(st), st.fault_version)
        if self._health_key != key:
            stuck = (st.fault == STUCK_SET) | (st.fault == STUCK_RESET)
            collapsed = st.fault == COLLAPSED
            self._health_cache = (~stuck if stuck.any() else None,
                                  collapsed if collapsed.any() else None)
            self._health_key = key
        return self._health_cache

    def _fail_worn_out(self, st: DeviceState, idx: np.ndarray, rng: np.random.Generator) -> None:
        worn = idx[st.cycles[idx] >= st.lifetime[idx]]
        if worn.size:
            e: Endurance = self.model.endurance
            u = rng.random(worn.size)
            modes = np.where(u < e.p_stuck_set, STUCK_SET,
                             np.where(u < e.p_stuck_set + e.p_stuck_reset, STUCK_RESET, COLLAPSED))
            for mode in (STUCK_SET, STUCK_RESET, COLLAPSED):
                self._make_stuck(st, worn[modes == mode], mode)

    def effective(self, amp: float, width: float) -> bool:
        """Whether a pulse of this amplitude and width changes a healthy device at all."""
        g = np.array([(self.model.g_min + self.model.g_max) / 2], F)
        rng = np.random.default_rng(0)
        _, s, r = self.pulse_delta(g, np.array([amp], F), np.array([width], F), rng)
        return bool(s[0] or r[0])

    def cycle(
        self,
        st: DeviceState,
        sel: np.ndarray | None,
        n: int,
        set_amp: float,
        set_width: float,
        reset_amp: float,
        reset_width: float,
        now: float,
        rng: np.random.Generator,
    ) -> None:
        """``n`` SET/RESET cycles at once (endurance stress, as controller firmware runs it):
        each healthy device's cycle count rises by n, devices fail at their lifetime, and the
        survivors end in the state of a last SET followed by a RESET."""
        if n <= 0:
            return
        if not (self.effective(set_amp, set_width) and self.effective(-abs(reset_amp),
                                                                       reset_width)):
            raise ValueError("cycle: SET and RESET pulses must both switch the device "
                             f"(set {set_amp} V / {set_width} s, reset {reset_amp} V)")
        idx = np.arange(st.fault.size) if sel is None else np.asarray(sel)
        healthy = idx[st.fault[idx] == OK]
        after = st.cycles[healthy].astype(np.int64) + n
        life = np.ceil(st.lifetime[healthy]).astype(np.int64)
        dies = after >= life
        st.cycles[healthy] = np.minimum(np.where(dies, life, after), np.iinfo(np.uint32).max)
        self._fail_worn_out(st, healthy[dies], rng)
        live = healthy[~dies]
        if live.size:
            amp = np.full(live.size, set_amp, F)
            self.pulse(st, live, amp, np.full(live.size, set_width, F), now, rng)
            amp[:] = -abs(reset_amp)
            st.last_pol[live] = 0  # so the closing RESET, already counted in n, is not again
            self.pulse(st, live, amp, np.full(live.size, reset_width, F), now, rng)


class PCMPhysics(DevicePhysics):
    def __init__(self, model: PCMModel):
        self.model = model
        d, p = model.drift, model.programming
        self._t0 = d.t0_s
        self._w_norm = float(np.log1p(d.t0_s / p.relax_tau_s))

    def _conductance(self, st, sel, s, now):
        tau = _elapsed(now, part(st.t_prog, sel, s))
        g_imm, dg, nu = (part(a, sel, s) for a in (st.g_imm, st.dg, st.nu))
        early = tau < self._t0
        if not early.any():  # every device past t0: pure drift
            g = np.log(tau * F(1 / self._t0))
            g *= -nu
            np.exp(g, out=g)
            g *= g_imm + dg
        else:
            w = np.log1p(np.maximum(tau, 0) * F(1 / self.model.programming.relax_tau_s))
            w *= F(1 / self._w_norm)
            g = g_imm + dg * np.minimum(w, 1)
            late = ~early
            if late.any():
                drift = np.exp(-nu[late] * np.log(tau[late] * F(1 / self._t0)))
                g[late] = (g_imm[late] + dg[late]) * drift
        np.maximum(g, 0, out=g)
        return g

    def read_sigma(self, st, sel, g, now):
        tr = self.model.read_noise.t_read_s
        tau = _elapsed(now, take(st.t_prog, sel))
        s = np.log((tau + F(tr)) * F(1 / (2 * tr)))
        np.maximum(s, 0, out=s)
        np.sqrt(s, out=s)
        s *= take(st.q, sel)
        s *= np.abs(g)
        return s

    def sigma_programming(self, g: np.ndarray) -> np.ndarray:
        """σ(G) in siemens (polynomial in G/Gmax, Horner's scheme, clipped at 0)."""
        coeffs = self.model.programming.coeffs
        x = g * F(1 / self.model.g_max)
        out = np.full_like(x, F(coeffs[-1]))
        for c in reversed(coeffs[:-1]):
            out *= x
            out += F(c)
        return np.maximum(out, 0, out=out)

    def _after_program(self, st, sel, g_new, now, rng) -> None:
        m, rn = self.model, self.model.read_noise
        n = g_new.shape[0]
        # drawn in this order whatever the split, so the stream stays the same; the drift z is
        # drawn even for a twin's devices
        dg_draws, nu_draws = Normals(rng, n), Normals(rng, n)
        dg_all, nu_all, q_all = (_out(a, sel, n) for a in (st.dg, st.nu, st.q))
        fixed_z = None if st.nu_z is None else take(st.nu_z, sel)

        def work(s: slice, z_dg: np.ndarray, z_nu: np.ndarray) -> None:
            g = g_new[s]
            dg = self.sigma_programming(g)
            dg *= z_dg
            ln_g = g + dg
            ln_g *= F(1 / m.g_max)
            np.maximum(ln_g, F(1e-6), out=ln_g)
            np.log(ln_g, out=ln_g)
            if fixed_z is not None:
                fixed = fixed_z[s]
                z_nu = np.where(np.isfinite(fixed), fixed, z_nu).astype(F, copy=False)
            nu = nu_all[s]
            np.multiply(_loglin(m.drift.sigma, ln_g), z_nu, out=nu)
            nu += _loglin(m.drift.mu, ln_g)
            np.maximum(nu, 0, out=nu)
            q = q_all[s]
            np.multiply(ln_g, F(-rn.exponent), out=q)  # Q_s = coeff / g^exponent
            np.exp(q, out=q)
            q *= F(rn.coeff)
            np.minimum(q, F(rn.q_max), out=q)
            dg_all[s] = dg
            if sel is None:
                st.g_imm[s] = g

        blockwise(n, work, dg_draws, nu_draws)
        if sel is not None:
            for arr, values in ((st.nu, nu_all), (st.q, q_all), (st.g_imm, g_new),
                                (st.dg, dg_all)):
                put(arr, sel, values)
        put(st.t_prog, sel, now)

    def pulse_delta(self, g, amp, width, rng):
        m, p = self.model, self.model.pulse
        amp, width = _uniform(amp), _uniform(width)
        n = g.shape[0]
        g_new = g.copy()
        a = np.abs(amp)  # unipolar: the sign does not matter, |V| and the width do
        melts = (a >= F(p.reset_threshold)) & (width >= F(p.melt_time_s))
        drive = np.clip((a - F(p.set_threshold)) * F(1 / (p.set_ref - p.set_threshold)), 0,
                        None)
        drive = drive * _power(width * F(1 / p.set_width_ref_s), p.width_exponent)
        drive = np.where(a >= F(p.reset_threshold), F(0), drive)  # melting, not annealing
        is_set = _mask(drive > 0, n)
        if is_set.any():
            s_idx = slice(None) if is_set.all() else is_set
            mean = F(m.g_max) - g[s_idx]
            mean *= F(1 / self.g_range)  # 1 − x, x = (G − Gmin)/range
            np.clip(mean, 0, 1, out=mean)
            if p.state_exponent != 1:
                mean **= F(p.state_exponent)
            mean *= (drive if drive.ndim == 0 else drive[s_idx]) * F(p.set_step * self.g_range)
            # log-normal cycle-to-cycle spread with the same mean: a SET never lowers G
            sig = np.sqrt(np.log1p(p.c2c_rel**2))
            z = normal(rng, mean.shape[0])
            z *= F(sig)
            z += F(-sig * sig / 2)
            np.exp(z, out=z)
            mean *= z
            g_new[s_idx] += mean
        # RESET: melt-quench erases the excess over the amorphous floor, all of it at reset_full
        span = max(p.reset_full - p.reset_threshold, 1e-12)
        r = np.clip((a - F(p.reset_threshold)) * F(1 / span), 0, 1)
        r = np.where(a >= p.reset_full, F(1), r)
        r = np.where(melts, r, F(0))
        is_reset = _mask(r > 0, n)
        if is_reset.any():
            r_idx = slice(None) if is_reset.all() else is_reset
            rr = r if r.ndim == 0 else r[r_idx]
            floor = normal(rng, g[r_idx].shape[0])
            floor *= F(p.reset_spread)
            np.exp(floor, out=floor)
            floor *= F(m.g_min)
            gr = g[r_idx]
            floor -= gr  # floor − G
            floor *= rr
            g_new[r_idx] = gr + floor  # G − r·(G − floor)
        np.clip(g_new, 0, F(1.05 * m.g_max), out=g_new)
        return g_new, is_set, is_reset


class RRAMPhysics(DevicePhysics):
    def __init__(self, model: RRAMModel):
        self.model = model
        r = model.relaxation
        self._l_norm = float(np.log1p(r.t_ref_s / r.tau_s))

    def _conductance(self, st, sel, s, now):
        r = self.model.relaxation
        tau = _elapsed(now, part(st.t_prog, sel, s))
        lt = np.log1p(np.maximum(tau, 0) * F(1 / r.tau_s))
        lt *= F(1 / self._l_norm)
        lt *= part(st.dg, sel, s)
        lt += part(st.g_imm, sel, s)
        return np.maximum(lt, 0, out=lt)

    def read_sigma(self, st, sel, g, now):
        rn = self.model.read_noise
        return np.abs(g) * F(rn.rel) + F(rn.base)

    def _after_program(self, st, sel, g_new, now, rng) -> None:
        m, r = self.model, self.model.relaxation
        n = g_new.shape[0]
        draws = Normals(rng, n)
        dg_all = _out(st.dg, sel, n)

        def work(s: slice, z: np.ndarray) -> None:
            g = g_new[s]
            above = np.maximum(g - F(m.g_min), 0)
            dg_all[s] = F(r.mean_rel) * above + (F(r.sigma_base) + F(r.sigma_rel) * above) * z
            if sel is None:
                st.g_imm[s] = g

        blockwise(n, work, draws)
        if sel is not None:
            put(st.g_imm, sel, g_new)
            put(st.dg, sel, dg_all)
        put(st.nu, sel, 0)
        put(st.t_prog, sel, now)

    def pulse_delta(self, g, amp, width, rng):
        m, p = self.model, self.model.pulse
        n = g.shape[0]
        # one amplitude or width for every device is worked out once (the width's power)
        amp, width = _uniform(np.broadcast_to(amp, g.shape)), _uniform(
            np.broadcast_to(width, g.shape))
        g_new, is_set, is_reset = np.empty(n, F), np.empty(n, bool), np.empty(n, bool)
        draws = Normals(rng, n)
        rng_g = F(self.g_range)

        def work(s: slice, z: np.ndarray) -> None:
            gs = g[s]
            a = amp if amp.ndim == 0 else amp[s]
            w = width if width.ndim == 0 else width[s]
            wf = (w * F(1 / p.width_ref_s)) ** F(p.width_exponent)
            up = np.clip((a - F(p.set_threshold)) * F(1 / (p.set_ref - p.set_threshold)), 0,
                         None)
            down = np.clip((-a - F(p.reset_threshold)) * F(1 / (p.reset_ref
                                                                  - p.reset_threshold)),
                           0, None)
            up = up * wf
            down = down * wf
            x = np.clip((gs - F(m.g_min)) * F(1 / self.g_range), 0, 1)
            delta = up * F(p.alpha_set) * rng_g * (1 - x) ** F(p.gamma_set)
            delta -= down * F(p.alpha_reset) * rng_g * x ** F(p.gamma_reset)
            sets, resets = up > 0, down > 0
            is_set[s], is_reset[s] = sets, resets
            sigma = np.maximum(gs - F(m.g_min), 0)
            sigma *= F(p.c2c_slope)
            sigma += F(p.c2c_base)
            sigma *= z
            sigma *= sets | resets
            delta += sigma
            g_new[s] = np.clip(gs + delta, 0, F(1.05 * m.g_max))

        blockwise(n, work, draws)
        return g_new, is_set, is_reset


def _uniform(values) -> np.ndarray:
    """A per-device array that holds one value everywhere becomes that 0-d value, so the
    transcendental functions run once instead of per device."""
    v = np.asarray(values, F)
    if v.ndim and v.size and v.min() == v.max():
        return v[:1].reshape(())
    return v


def _mask(flag: np.ndarray, n: int) -> np.ndarray:
    """A per-device boolean array from a per-device or a single (0-d) flag."""
    return np.full(n, bool(flag)) if flag.ndim == 0 else flag


def _power(x, exponent: float):
    if exponent == 1:
        return x.copy() if isinstance(x, np.ndarray) and x.ndim else x
    if exponent == 0:
        return np.ones_like(x)
    return x ** F(exponent)


def physics_for(model: PCMModel | RRAMModel) -> DevicePhysics:
    if isinstance(model, PCMModel):
        return PCMPhysics(model)
    return RRAMPhysics(model)
