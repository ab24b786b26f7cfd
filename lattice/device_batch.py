"""A batch of independent single sites on a GPU: one CUDA thread per site, each with its own step
control (issue 21).

The kernel is the host batch's own code compiled for the device with `numba.cuda`: every thread
runs `lattice.batched_sites.make_site_samples` around `lattice.compiled_rodas.make_site_loop`
(Rodas4, DOPRI5 and the switching between them, the model's `register_jitable` per-site kernels),
in work arrays from the thread's local memory. Nothing of the method is written a second time.

What it gives: the same method, decision for decision, but not the host's bits. The device's
`pow`, `exp`, `log` and `sqrt` are libdevice's, not the host's libm, and NVVM contracts multiplies
and adds into FMAs (numba.cuda has no switch for that), so every site's result differs from its
host run by round-off per step, and a step-size decision at an error norm close to 1 may go the
other way; the sites then agree to the integration tolerance, not bit for bit.
In Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1: Python arithmetic on the host's libm; how the
tests run it without a GPU) they agree to round-off (tests/lattice/test_device_batch.py).

Python runs only between chunks of samples: each chunk is one kernel launch over all sites,
then that chunk's window of the per-sample results and the small per-site arrays that the
progress report needs come back to the host (one sync per chunk); the per-site state comes back
once at the end. Sites differ in cost by orders of magnitude,
and a warp runs as long as its costliest thread, so each chunk after the first hands the sites
to threads in decreasing order of what they cost in the chunk before (`cost_order`).

Device: numba.cuda's current device (device 0 of those CUDA_VISIBLE_DEVICES leaves visible).
"""

from __future__ import annotations

import functools
import time

import numpy as np
from numba import cuda, float64, int64     # numba.cuda imports without a GPU; kernels compile on first launch

THREADS_PER_BLOCK = 64
"""CUDA threads per block: each thread holds about 2.3 kB of local work arrays (n = 8)."""

RESIDENT_ARRAYS = ("t_samples", "n_samples", "y", "h", "params", "params_explicit", "constant", "controls", "auto",
                   "max_steps", "next_sample", "state", "counts", "memory", "h_rho", "status", "t_stop", "h_stop")
"""The SiteBatch arrays that stay on the device for the whole batch, in the kernel's argument
order (after `order`; then `first`, the SAMPLE_ARRAYS windows and `stop`)."""
SAMPLE_ARRAYS = ("states", "steps", "branches", "explicit", "h_rhos")
"""The per-sample results (N, samples, ...): on the device only a window of one chunk's samples,
copied into the host arrays after each chunk, so that the device holds N × chunk of them, not
N × all samples (a map's 1e5 sites × 2001 samples would be 19 GB)."""
PROGRESS_ARRAYS = ("next_sample", "status", "counts")
"""What comes back to the host after each chunk (SiteBatch.progress)."""


def cuda_or_none():
    """numba.cuda where a CUDA device (or Numba's simulator) answers, else None."""
    try:
        return cuda if cuda.is_available() else None
    except Exception:  # a driver that fails to load says no device as well as one that is absent
        return None


def gpu_name() -> str:
    """The device's name, or 'Numba's CUDA simulator'."""
    if cuda_or_none() is None:
        return "none"
    from numba import config
    if config.ENABLE_CUDASIM:
        return "Numba's CUDA simulator"
    name = cuda.get_current_device().name
    return name.decode() if isinstance(name, bytes) else str(name)


@functools.cache
def make_device_kernel(rhs, jac, dfdt, err, n):
    """The CUDA kernel of a batch for these per-site kernels (n fields):
    kernel[blocks, threads](order, *RESIDENT_ARRAYS, first, *SAMPLE_ARRAYS windows, stop), one
    thread per entry of order (the windows hold the samples from `first` on)."""
    from lattice.batched_sites import make_site_samples
    from lattice.compiled_rodas import SCRATCH_ROWS, make_site_loop

    site_samples = make_site_samples(make_site_loop(rhs, jac, dfdt, err, n), n)

    @cuda.jit
    def kernel(order, t_samples, n_samples, y, h, params, params_explicit, constant, controls, auto, max_steps,
               next_sample, state, counts, memory, h_rho, status, t_stop, h_stop, first, states, steps, branches,
               explicit, h_rhos, stop):
        q = cuda.grid(1)
        if q < order.shape[0]:
            mats = cuda.local.array((2, n, n), float64)
            rows = cuda.local.array((SCRATCH_ROWS, n), float64)
            piv = cuda.local.array(n, int64)
            site_samples(order[q], t_samples, n_samples, stop, y, h, params, params_explicit, constant, controls,
                         auto, max_steps, next_sample, state, counts, memory, h_rho, status, t_stop, h_stop, first,
                         states, steps, branches, explicit, h_rhos, mats, rows, piv)

    return kernel


def cost_order(cost):
    """The sites in decreasing order of `cost` (the attempts they made in the last chunk), ties in
    site order: the next chunk gives each warp 32 sites of similar cost, so that fewer of its
    threads idle while the costliest runs on (the order changes no site's arithmetic)."""
    return np.argsort(-np.asarray(cost), kind="stable").astype(np.int64)


def run_on_device(batch, chunk: int, report=None):
    """Advance every site of a lattice.batched_sites.SiteBatch through its samples on the GPU,
    `chunk` sample indices per launch, calling report(batch.progress()) after each; the batch's
    arrays hold the results afterwards (and `batch.orders`, the thread order of each chunk).
    Raises RuntimeError where no device answers or the batch does not fit its memory."""
    if cuda_or_none() is None:
        raise RuntimeError("no CUDA device answers (numba.cuda.is_available() is False)")
    k = batch.kernels
    N = len(batch)
    total = batch.t_samples.shape[1]
    width = max(1, min(chunk, total))
    check_memory(batch, width)
    kernel = make_device_kernel(k.rhs, k.jac, k.dfdt, k.err, k.n_fields)
    resident = [cuda.to_device(np.ascontiguousarray(getattr(batch, name))) for name in RESIDENT_ARRAYS]
    on_device = dict(zip(RESIDENT_ARRAYS, resident))
    order = np.arange(N, dtype=np.int64)
    blocks = max(1, -(-N // THREADS_PER_BLOCK))
    stop = int(batch.next_sample.min(initial=total))
    batch.orders = []
    while stop < total:
        first, stop = stop, min(total, stop + chunk)
        windows = [cuda.to_device(np.ascontiguousarray(getattr(batch, name)[:, first:stop])) for name in SAMPLE_ARRAYS]
        before = batch.attempts
        wall0 = time.perf_counter()
        kernel[blocks, THREADS_PER_BLOCK](cuda.to_device(order), *resident, first, *windows, stop)
        cuda.synchronize()
        batch.wall_s += time.perf_counter() - wall0
        batch.orders.append(order)
        for name, window in zip(SAMPLE_ARRAYS, windows):
            getattr(batch, name)[:, first:stop] = window.copy_to_host()
        for name in PROGRESS_ARRAYS:
            on_device[name].copy_to_host(getattr(batch, name))
        order = cost_order(batch.attempts - before)
        if report is not None:
            report(batch.progress())
    for name in RESIDENT_ARRAYS:
        on_device[name].copy_to_host(getattr(batch, name))
    return batch


def device_bytes_needed(batch, width: int) -> int:
    """Device memory a batch holds at once [bytes]: the resident arrays, one window of `width`
    samples of the per-sample results (each copied in and out per chunk), and the order."""
    N = len(batch)
    resident = sum(getattr(batch, name).nbytes for name in RESIDENT_ARRAYS)
    per_sample = sum(getattr(batch, name).nbytes // max(1, getattr(batch, name).shape[1]) for name in SAMPLE_ARRAYS)
    return resident + width * per_sample + 8 * N


def check_memory(batch, width: int):
    """RuntimeError with both figures where the batch needs more than the device has free
    (numba.cuda's memory info; not checked where the device does not report it)."""
    need = device_bytes_needed(batch, width)
    try:
        free, _ = cuda.current_context().get_memory_info()
    except Exception:  # the simulator and some drivers do not report it
        return
    if need > free:
        raise RuntimeError(f"the batch of {len(batch)} sites needs about {need / 2**30:.2f} GB of device memory "
                           f"({width} samples per chunk), {free / 2**30:.2f} GB free: run fewer sites at once "
                           f"(qke scan --map --chunk-sites) or fewer samples per chunk")
