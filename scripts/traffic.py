"""Memory traffic of NumPy code, counted: the bytes every ufunc call reads and writes.

`CountingArray` is an ndarray view whose ufunc calls (element-wise operations, reductions,
matmul, the batched inverse) add the sizes of their array operands and results to a counter;
results are again CountingArrays, so the count follows the data through a computation started
from one. It counts logical traffic: every operand once per call, as if no cache held it,
which is what a lattice too large for the caches costs. The compiled loops of
`kernels.cpu_kernels` are counted the same way (each array argument once per call: each reads
its inputs and writes its outputs in one pass). Plain copies by indexing (`a[...] = b`) and MPI
buffers are not ufunc calls and are not counted.
"""

from __future__ import annotations

import numpy as np

from kernels import cpu_kernels

COMPILED_LOOPS = ("block_product", "laplacian", "binned_row_sums", "binned_dots", "stage_diffusion",
                  "subtract_combination")
"""The `kernels.cpu_kernels` loops bytes_moved counts (the ones the NumPy kernels call)."""


class CountingArray(np.ndarray):
    """An ndarray that adds the bytes of each ufunc call it takes part in to `CountingArray.bytes`."""

    bytes = 0

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        args = [np.asarray(x) if isinstance(x, CountingArray) else x for x in inputs]
        moved = sum(a.nbytes for a in args if isinstance(a, np.ndarray))
        if out is not None:
            kwargs["out"] = tuple(np.asarray(o) if isinstance(o, CountingArray) else o for o in out)
        result = getattr(ufunc, method)(*args, **kwargs)
        results = result if isinstance(result, tuple) else (result,)
        moved += sum(r.nbytes for r in results if isinstance(r, np.ndarray))
        CountingArray.bytes += moved
        wrapped = tuple(r.view(CountingArray) if isinstance(r, np.ndarray) else r for r in results)
        return wrapped if isinstance(result, tuple) else wrapped[0]


def _counted(loop):
    def call(*args):
        CountingArray.bytes += sum(a.nbytes for a in args if isinstance(a, np.ndarray))
        return loop(*args)

    return call


def bytes_moved(function, array):
    """(result of function(array viewed as CountingArray), bytes its ufunc calls and compiled
    loops moved)."""
    CountingArray.bytes = 0
    loops = {name: getattr(cpu_kernels, name) for name in COMPILED_LOOPS}
    try:
        for name, loop in loops.items():
            setattr(cpu_kernels, name, _counted(loop))
        result = function(array.view(CountingArray))
    finally:
        for name, loop in loops.items():
            setattr(cpu_kernels, name, loop)
    return result, CountingArray.bytes
