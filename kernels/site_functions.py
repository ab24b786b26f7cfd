"""One decorator for the per-site scalar functions that the host loops (Numba `njit`) and the GPU
batch (`numba.cuda`, lattice.device_batch) both call.

`site_function` is Numba's `register_jitable`, with one difference for `inline=True`: the inlined
form (`inline="always"`, compiled into each caller at Numba's IR level) is registered for the CPU
target alone, and a plain call for CUDA. numba-cuda cannot type a call to an inlined overload
registered through Numba's core (it reports `add(omitted(...), omitted(...))`; seen with numba
0.68.1 and numba-cuda 0.30.4). Inlining changes no arithmetic, so host and device compute the same
operations either way. Called from Python, and in Numba's CUDA simulator, a site function is
the plain Python function.
"""

from __future__ import annotations

from numba.extending import overload, register_jitable


def site_function(fn=None, *, inline=False):
    """Decorator: `fn` callable from host `njit` code and from `numba.cuda` kernels; with
    inline=True, inlined into its callers on the host."""

    def wrap(f):
        if not inline:
            return register_jitable(f)
        overload(f, strict=False, inline="always", target="cpu")(lambda *args, **kwargs: f)
        overload(f, strict=False, target="cuda")(lambda *args, **kwargs: f)
        return f

    return wrap if fn is None else wrap(fn)
