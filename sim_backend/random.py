"""Gaussian draws for millions of devices, on all cores, reproducibly.

Drawing normals is most of the cost of a full-array pulse or read: numpy's ziggurat takes about
10 ns per float32 normal here, a float32 uniform under 2 ns. Large draws therefore use the
Box–Muller transform on float32 uniforms (exact in distribution; the float32 uniforms bound the
tails at |z| < 5.8, i.e. they cut a 1-in-10^8 event), split into fixed-size blocks, each with
its own generator seeded from (one number drawn from the caller's generator, block index),
filled in a thread pool (numpy releases the GIL in its ufuncs). The numbers depend only on the
caller's generator state and the count, never on the number of cores or on thread timing.

The physics uses the draws where it computes with them: :func:`blockwise` runs a chain of
elementwise operations block by block on the same pool, each block drawing its own share of
the normals (:class:`Normals`), the same numbers a whole-array draw gives.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

BLOCK = 1 << 18
_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1),
                                   thread_name_prefix="xbarlab-rng")
    return _pool


class Normals:
    """``n`` standard normals, drawn block by block where they are used.

    Taking it consumes the caller's generator exactly as :func:`normal` does (one number, or the
    n draws themselves when ``n <= BLOCK``), and block ``b`` holds the same numbers as
    ``normal(rng, n)[b*BLOCK:(b+1)*BLOCK]``, so a computation split by :func:`blockwise` draws
    the same stream as one over whole arrays.
    """

    def __init__(self, rng: np.random.Generator, n: int, dtype=np.float32):
        self.n, self.dtype = n, dtype
        self._small = rng.standard_normal(n, dtype=dtype) if n <= BLOCK else None
        self._seed = None if self._small is not None else int(rng.integers(0, 2**63))

    def block(self, b: int, out: np.ndarray | None = None) -> np.ndarray:
        """Block ``b``'s draws (into ``out`` when given)."""
        if self._small is not None:
            return self._small
        count = min(BLOCK, self.n - b * BLOCK)
        out = np.empty(count, self.dtype) if out is None else out
        g = np.random.Generator(np.random.PCG64(np.random.SeedSequence([self._seed, b])))
        _box_muller(g, out)
        return out


def normal(rng: np.random.Generator, n: int, dtype=np.float32) -> np.ndarray:
    """``n`` standard normal draws."""
    draws = Normals(rng, n, dtype)
    if draws._small is not None:
        return draws._small
    out = np.empty(n, dtype)
    list(_executor().map(lambda b: draws.block(b, out[b * BLOCK : (b + 1) * BLOCK]),
                         range((n + BLOCK - 1) // BLOCK)))
    return out


# Elements per pass inside a block: a few float32 arrays of this length stay in a core's cache,
# and temporaries this small come from the heap glibc keeps, not fresh pages each call.
SUB_BLOCK = 1 << 15


def blockwise(n: int, work, *normals: Normals) -> None:
    """Call ``work(s, *z)`` over slices ``s`` of ``range(n)`` on all cores, with ``z`` each
    stream's draws for ``s``.

    One task per BLOCK (its normals drawn there, 1 MB each), passed on in SUB_BLOCK slices, so
    a chain of elementwise operations runs in cache on every core instead of pass after pass
    over whole arrays in one thread. ``work`` must write only its slice.
    """

    def task(b: int) -> None:
        start, stop = b * BLOCK, min(n, (b + 1) * BLOCK)
        zs = [d.block(b) for d in normals]
        for lo in range(start, stop, SUB_BLOCK):
            hi = min(stop, lo + SUB_BLOCK)
            work(slice(lo, hi), *(z[lo - start : hi - start] for z in zs))

    blocks = (n + BLOCK - 1) // BLOCK
    if blocks <= 1:
        if n:
            task(0)
        return
    list(_executor().map(task, range(blocks)))


def _box_muller(g: np.random.Generator, out: np.ndarray) -> None:
    n = out.shape[0]
    half = (n + 1) // 2
    u = g.random(2 * half, dtype=np.float32)
    radius = u[:half]
    np.subtract(np.float32(1), radius, out=radius)  # (0, 1]: no log(0)
    np.log(radius, out=radius)
    radius *= np.float32(-2)
    np.sqrt(radius, out=radius)
    angle = u[half:]
    angle *= np.float32(2 * np.pi)
    m = n // 2
    np.cos(angle[:m], out=out[:m])
    out[:m] *= radius[:m]
    np.sin(angle[: n - m], out=out[m:])
    out[m:] *= radius[: n - m]
