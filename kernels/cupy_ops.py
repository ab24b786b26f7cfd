"""The hot operations on CuPy arrays (device memory): the CuPy side of `kernels.backend`.

The same functions, names, signatures and units as `kernels.numpy_ops` (see there), on CuPy
arrays: the fused one-pass CUDA kernels of `kernels.cupy_kernels` for the stencil, the block
product, the stage diffusion and preconditioner, the Krylov update, the reproducible sums' bins
and the explicit stage (`explicit_stage`, which the NumPy backend does not have), cuSOLVER for the batched inverse (tests only), whole-array CuPy calls for the rest, each
doing per element the operations of the compiled CPU loops in their order. Results equal
NumPy's bitwise on a device compiled without fused multiply-adds (every kernel is built with
`--fmad=false`; tests/kernels/test_backend.py states each comparison). Results the host needs
(the sums) stay on the device until the caller copies them, several in one copy.

Imported only when a CuPy backend is made (`kernels.backend`), so nothing imports CuPy where it
is not installed.
"""

from __future__ import annotations

import cupy

from kernels import cupy_kernels
from kernels.cupy_kernels import (apply_field_major, combine, explicit_stage, stage_diffusion,  # noqa: F401
                                  subtract_combination)   # (fused one-pass kernels)
from kernels.jacobian_terms import JacobianTerms
from kernels.shared_ops import batched_apply, to_field_major  # noqa: F401  (array methods only)
from kernels.stencil import check_halo

name = "cupy"
xp = cupy


def to_host(a):
    """A NumPy copy of the device array a (a device→host copy; host arrays pass through)."""
    return cupy.asnumpy(a)


def asarray(a):
    """a as a CuPy array (a host→device copy for a host array)."""
    return cupy.asarray(a)


def synchronize():
    """Wait for the work queued on the current stream."""
    cupy.cuda.get_current_stream().synchronize()


def laplacian(u, halo, spacing, out=None, box=None):
    """As kernels.numpy_ops.laplacian, one fused kernel over a C-contiguous float64 u."""
    check_halo(halo)
    return cupy_kernels.laplacian(u, halo, spacing, out=out, box=box)


def wrap_axis(u, axis, halo):
    """As kernels.numpy_ops.wrap_axis, one kernel over a C-contiguous float64 u."""
    return cupy_kernels.wrap_axis(u, axis, halo)


def batched_inverse(matrices):
    """Inverse of every (n, n) matrix in a (*grid, n, n) stack (batched LU on the device)."""
    return cupy.linalg.inv(matrices)


def binned_row_sums(terms, width, n_bins):
    """As kernels.numpy_ops.binned_row_sums, by the four kernels of kernels.cupy_kernels.BinnedRows;
    the result stays on the device (the caller copies it to the host with whatever else the same
    sync brings back). Every number is exact, so it equals the compiled loop's bitwise whatever
    the device's summation order."""
    return cupy_kernels.BinnedRows(terms, None, False).binned(width, n_bins)


def binned_dots(V, w, with_norm, width, n_bins):
    """As kernels.numpy_ops.binned_dots (the products are formed in the kernels, never stored);
    the result stays on the device."""
    return cupy_kernels.BinnedRows(V, w, with_norm).binned(width, n_bins)


def stage_preconditioner(jacobian, K, own_cell, sigma, w):
    """As kernels.numpy_ops.stage_preconditioner. For JacobianTerms nothing is computed or stored
    (k scalars per site instead of n² numbers): `apply_stage_preconditioner` forms each site's
    M_inv where it is applied (one fused kernel, the same operations as the stored path). For
    blocks, the same per-site LU as the compiled loop, stored (the fused kernel of
    kernels.cupy_kernels)."""
    if isinstance(jacobian, JacobianTerms):
        return cupy_kernels.StagePreconditioner(jacobian, K, float(own_cell), float(sigma), w)
    return cupy_kernels.stage_preconditioner(jacobian, K, float(own_cell), float(sigma), w)


def site_jacobian(jacobian):
    """As kernels.numpy_ops.site_jacobian; for JacobianTerms nothing is stored (the fused kernel
    of kernels.cupy_kernels.JacobianProduct rebuilds each site's block where it is applied)."""
    if isinstance(jacobian, JacobianTerms):
        return cupy_kernels.JacobianProduct(jacobian)
    return to_field_major(jacobian)


def apply_site_jacobian(jacobian, v, out=None):
    """As kernels.numpy_ops.apply_site_jacobian."""
    if isinstance(jacobian, cupy_kernels.JacobianProduct):
        return jacobian.apply(v, out)
    return apply_field_major(jacobian, v, out=out)


def apply_stage_preconditioner(preconditioner, v, out=None):
    """As kernels.numpy_ops.apply_stage_preconditioner: stored blocks' product, or the fused
    kernel that forms each site's M_inv from the Jacobian's terms and applies it."""
    if isinstance(preconditioner, cupy_kernels.StagePreconditioner):
        return preconditioner.apply(v, out)
    return apply_field_major(preconditioner, v, out=out)
