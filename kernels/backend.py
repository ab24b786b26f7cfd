"""The array backend: one object per array library, chosen once, carrying every hot operation.

A Backend names the library (`name`, `xp`: numpy or cupy), moves arrays (`to_host`, `asarray`,
`synchronize`) and offers the hot operations, each implemented twice with the same name and
signature, side by side: `kernels.numpy_ops` (compiled CPU loops of `kernels.cpu_kernels`) and
`kernels.cupy_ops` (CUDA kernels of `kernels.cupy_kernels`, CuPy calls). Which implementation
runs is decided when the backend is made, never per call. `NUMPY` is the host backend; the CuPy
backend is made only when asked for (`backend("cupy")`, `backend_for(cupy)`), so nothing imports
CuPy where it is not installed. The machinery takes a backend once, from the lattice's array
module (`backend_for(lattice.xp)`), and calls its operations.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass, fields
from types import ModuleType
from typing import Callable

import numpy as np

from kernels import numpy_ops

BACKENDS = ("numpy", "cupy", "auto")


@dataclass(frozen=True, eq=False)
class Backend:
    """An array library and its implementation of each hot operation (documented, with shapes
    and units, in `kernels.numpy_ops`; `kernels.cupy_ops` has the same functions).

    Attributes:
        name: "numpy" or "cupy".
        xp: the array module (numpy or cupy) for array creation and whole-array calls.
        to_host, asarray, synchronize: a host (NumPy) copy; an array of this library; waiting
            for queued work (a no-op on the host).
        laplacian: the 3/5/7-point Laplacian of padded field arrays.
        apply_field_major, batched_apply, batched_inverse, to_field_major: per-site small dense
            products and inverses.
        binned_row_sums, binned_dots: the one pass of the rank-independent sums
            (`lattice.reductions`), of stored terms or of products formed on the fly; the result
            stays where the terms are (one copy to the host per batch of sums).
        subtract_combination: w −= Σ_k c_k V_k element by element (the Krylov solver).
        combine: base + Σ_j c_j rows_j element by element (the steppers' stage combinations).
        site_jacobian, apply_site_jacobian: per-site Jacobian products (kept as the model's
            JacobianTerms on a GPU).
        stage_preconditioner, apply_stage_preconditioner, stage_diffusion: the implicit
            lattice's per-site preconditioner (made, applied) and the neighbour coupling of its
            stage operator.
        explicit_stage: a model's per-cell f, the Laplacian and the next stage combination in
            one pass (lattice.stages.FusedStages); None on the host, where f and `combine` run.
        wrap_axis: the ghosts of both faces of an axis that wraps onto the same rank, copied from
            the opposite interior strips (lattice.halo), in one pass.
    """

    name: str
    xp: ModuleType
    to_host: Callable
    asarray: Callable
    synchronize: Callable
    laplacian: Callable
    apply_field_major: Callable
    batched_apply: Callable
    batched_inverse: Callable
    to_field_major: Callable
    binned_row_sums: Callable
    binned_dots: Callable
    subtract_combination: Callable
    combine: Callable
    site_jacobian: Callable
    apply_site_jacobian: Callable
    stage_preconditioner: Callable
    apply_stage_preconditioner: Callable
    stage_diffusion: Callable
    explicit_stage: Callable | None
    wrap_axis: Callable

    @classmethod
    def from_module(cls, ops: ModuleType) -> "Backend":
        """The backend implemented by the operation module `ops` (kernels.numpy_ops or
        kernels.cupy_ops); an AttributeError names an operation the module lacks."""
        return cls(**{f.name: getattr(ops, f.name) for f in fields(cls)})

    def __repr__(self):
        return f"Backend({self.name!r})"


NUMPY = Backend.from_module(numpy_ops)
"""The host backend: NumPy arrays, compiled CPU loops."""


@functools.cache
def _cupy_backend(module) -> Backend:
    """The backend of the CuPy module `module` (made on first request)."""
    cupy_ops = importlib.import_module("kernels.cupy_ops")
    if cupy_ops.xp is not module:
        raise ValueError(f"kernels.cupy_ops was imported with another cupy module than {module!r}")
    return Backend.from_module(cupy_ops)


def backend_for(xp) -> Backend:
    """The backend of the array module xp (numpy, or cupy)."""
    if xp is np:
        return NUMPY
    if getattr(xp, "__name__", None) == "cupy":
        return _cupy_backend(xp)
    raise ValueError(f"no backend for the array module {xp!r}: numpy or cupy")


def backend(name: str) -> Backend:
    """The backend for 'numpy' | 'cupy' | 'auto' (CuPy only where a device answers).

    Raises ValueError naming the problem when 'cupy' is asked for and no device answers.
    """
    return backend_for(array_module(name))


def is_device_array(a) -> bool:
    """True for a CuPy array (GPU memory), False for NumPy arrays and anything else."""
    return type(a).__module__.split(".", 1)[0] == "cupy"


def device_available() -> bool:
    """True when CuPy imports and a CUDA device answers."""
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:   # no CuPy, no driver or no device
        return False


def array_module(name: str):
    """numpy or cupy for backend 'numpy' | 'cupy' | 'auto' (CuPy only where a device answers).

    Raises ValueError naming the problem when 'cupy' is asked for and no device answers.
    """
    if name not in BACKENDS:
        raise ValueError(f"backend = {name!r}: allowed {', '.join(BACKENDS)}")
    if name == "numpy" or (name == "auto" and not device_available()):
        return np
    if not device_available():
        raise ValueError("backend = 'cupy': CuPy is not installed or no CUDA device answers")
    import cupy

    return cupy


def to_host(a):
    """A NumPy view or copy of a (NumPy arrays pass through; CuPy arrays are copied to the host)."""
    return a.get() if is_device_array(a) else a
