"""Where a run's arrays live: the deck's `device` section resolved on every rank.

`device.backend` picks the array library (numpy; cupy; auto = CuPy where a CUDA device answers).
Only a decomposed lattice moves to the GPU: a run without one (a single site, a model's own
momentum grid) stays on the host and says so. Each rank drives one GPU: the rank's index on its
node (lattice.parallel.Communicator.node_rank) modulo the devices it sees (CuPy numbers the
devices of CUDA_VISIBLE_DEVICES from 0), unless QKE_DEVICE names one for every rank. The choice
does not change results (the kernels are built without FMA contraction and every sum is
reproducible), so a restart may change it.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

import numpy as np

from kernels.backend import device_available
from lattice.deck import DeckError

log = logging.getLogger(__name__)

VECTORS_AT_PEAK = 34
"""State vectors (n_fields numbers per cell) an implicit lattice step holds on the device at its
peak besides its Krylov basis: the preconditioner blocks (n; the Jacobian is evaluated per
attempt and let go, and the stage matrix is never stored), the Rodas4 stages and GMRES work arrays.
Measured on the stand-in (cupy.memory.peak, 64² cells): 30.2 + integrator.krylov_restart;
tests/lattice/test_gpu_run.py checks that the estimate holds."""

DEVICE_ENV = "QKE_DEVICE"
"""Environment variable: the device number (among the visible ones) every rank of the run uses."""


@dataclass(frozen=True)
class Placement:
    """What a rank computes on.

    Attributes:
        xp: numpy or cupy, the array library of the lattice's fields.
        backend: "numpy" or "cupy".
        device: the CUDA device number this rank uses (None on the host).
    """

    xp: object
    backend: str
    device: int | None = None


HOST = Placement(np, "numpy")


def place(deck, comm, on_lattice: bool) -> Placement:
    """The placement of this rank for a validated deck (collective: every rank calls it).

    Raises DeckError on every rank, before any output, when device.backend = cupy and a rank
    finds no device, or QKE_DEVICE names a device that is not there."""
    wanted = deck.device.backend
    if wanted == "numpy":
        return HOST
    if not on_lattice:
        if comm.rank == 0:
            log.info("device.backend = %r: this run has no decomposed lattice (one site or the model's "
                     "own grid); it runs on the host (NumPy)", wanted)
        return HOST
    if deck.integrator.stage_solver == "direct":
        if wanted == "cupy":
            raise DeckError("device.backend = 'cupy': integrator.stage_solver = 'direct' runs on the host "
                            "(the compiled line solve); allowed with cupy: integrator.stage_solver = 'gmres'")
        if comm.rank == 0:
            log.info("device.backend = 'auto': integrator.stage_solver = 'direct' runs on the host (NumPy)")
        return HOST
    found = comm.allreduce_max(0 if device_available() else 1) == 0     # every rank sees a device
    if not found:
        if wanted == "cupy":
            raise DeckError("device.backend = 'cupy': CuPy is not installed or no CUDA device answers on "
                            "some rank; allowed here: 'numpy', or 'auto' (CuPy where a device answers)")
        return HOST
    import cupy

    count = cupy.cuda.runtime.getDeviceCount()
    device, error = _device_number(comm.node_rank, count)
    error = comm.allreduce_max(error)          # one message on every rank, '' if none
    if error:
        raise DeckError(error)
    cupy.cuda.Device(device).use()
    mapping = comm.allgather(device)
    if comm.rank == 0:
        log.info("device.backend = %r: CuPy, %d rank(s) on GPU(s) %s (rank order)", wanted, comm.size, mapping)
    return Placement(cupy, "cupy", device)


def _device_number(node_rank: int, count: int):
    """(device, error text or ''): QKE_DEVICE if set, else node_rank modulo count."""
    text = os.environ.get(DEVICE_ENV, "").strip()
    if not text:
        return node_rank % count, ""
    try:
        device = int(text)
    except ValueError:
        return 0, f"{DEVICE_ENV} = {text!r}: not a device number; allowed: 0 … {count - 1}"
    if not 0 <= device < count:
        return 0, f"{DEVICE_ENV} = {device}: no such device; allowed: 0 … {count - 1} (the visible devices)"
    return device, ""


def device_bytes_needed(cells: int, n_fields: int, krylov_restart: int) -> int:
    """Upper estimate of the GPU memory [bytes] a rank's block of `cells` cells needs."""
    return (VECTORS_AT_PEAK + krylov_restart) * 8 * n_fields * cells


def check_memory(lattice, n_fields: int, krylov_restart: int):
    """On the GPU: DeckError on every rank, before the run allocates its arrays, if a rank's
    block does not fit in its device's free memory ("needs X GB, Y free")."""
    if lattice.backend.name != "cupy":
        return
    cupy = lattice.xp
    cells = math.prod(lattice.local_shape)
    need = device_bytes_needed(cells, n_fields, krylov_restart)
    pool = cupy.get_default_memory_pool()
    free = cupy.cuda.runtime.memGetInfo()[0] + pool.total_bytes() - pool.used_bytes()
    error = ""
    if need > free:
        error = (f"device.backend = 'cupy': a rank's block of {cells} cells needs about {need / 1e9:.3g} GB "
                 f"of GPU memory ({VECTORS_AT_PEAK} + integrator.krylov_restart = {krylov_restart} state "
                 f"vectors of {n_fields} fields per cell), {free / 1e9:.3g} GB free on device "
                 f"{cupy.cuda.runtime.getDevice()}; use more ranks (one GPU each) or a smaller grid.shape")
    error = lattice.comm.allreduce_max(error)
    if error:
        raise DeckError(error)
