"""`qke bench kernels`: throughput of the lattice kernels on NumPy or CuPy arrays.

The stencil (`Backend.laplacian`, 3/5/7-point) and the per-site 8×8 block product
(`Backend.apply_field_major`, the preconditioner and Jacobian products of the implicit step) of
the NumPy backend (the compiled one-pass loops of `kernels.cpu_kernels`) or the CuPy backend (the
fused one-pass CUDA kernels of `kernels.cupy_kernels`); see `kernels.backend`. Both
read every input and write every output once, so the bytes they move are the compulsory
traffic. For each shape the command prints, per kernel, site-updates per second and that
traffic against the copy bandwidth measured in the same process (a device copy for CuPy, a host
copy for NumPy).

This is the kernels alone: the full implicit step (GMRES, pre-rounded sums, local physics) is
`qke bench lattice`.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from kernels.backend import NUMPY, backend, backend_for

N_FIELDS = 8
HALO = 1


def _best_time(ops, fn, repeats):
    fn()                                   # warm-up (and CuPy kernel compilation)
    best = float("inf")
    for _ in range(repeats):
        ops.synchronize()
        start = time.perf_counter()
        fn()
        ops.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def copy_bandwidth(xp, nbytes=1 << 30, repeats=5):
    """Copy bandwidth [bytes/s, read + write] of xp arrays (device memory for CuPy)."""
    a = xp.ones(nbytes // 8)
    b = xp.empty_like(a)
    return 2 * a.nbytes / _best_time(backend_for(xp), lambda: xp.copyto(b, a), repeats)


def _kernels(ops, shape):
    """{name: (function of no arguments, compulsory bytes per site)} on arrays of `shape`."""
    xp = ops.xp
    padded = tuple(n + 2 * HALO for n in shape)
    spacing = (1.0,) * len(shape)
    rng = np.random.default_rng(0)
    u = ops.asarray(rng.standard_normal((N_FIELDS,) + padded))
    lap_out = xp.empty((N_FIELDS,) + shape)
    M = ops.asarray(rng.standard_normal((N_FIELDS, N_FIELDS) + shape))
    v = ops.asarray(rng.standard_normal((N_FIELDS,) + shape))
    prod_out = xp.empty_like(v)
    return {
        "laplacian": (lambda: ops.laplacian(u, HALO, spacing, out=lap_out), 2 * 8 * N_FIELDS),
        "block 8x8 product": (lambda: ops.apply_field_major(M, v, out=prod_out),
                              8 * (N_FIELDS * N_FIELDS + 2 * N_FIELDS)),
    }


def bench_kernels(args, say):
    """Print the copy bandwidth and, per shape and kernel, throughput and bandwidth fractions."""
    try:
        ops = backend(args.backend)
    except ValueError as exc:
        print(f"qke bench kernels: error: --backend cupy: no usable CuPy device ({exc})", file=sys.stderr)
        return 2
    bw = copy_bandwidth(ops.xp)
    where = "device" if ops is not NUMPY else "host"
    say(f"backend {args.backend}; {where} copy bandwidth {bw / 1e9:.1f} GB/s")
    for text in args.shapes:
        shape = tuple(int(n) for n in text.lower().split("x"))
        sites = int(np.prod(shape))
        for name, (fn, compulsory) in _kernels(ops, shape).items():
            seconds = _best_time(ops, fn, args.repeats)
            rate = sites / seconds
            say(f"{name:>18} {'x'.join(map(str, shape)):>12}: {rate:.3e} site-updates/s; compulsory "
                f"{compulsory} B/site -> {100 * rate * compulsory / bw:.1f} % of the copy bandwidth")
    return 0
