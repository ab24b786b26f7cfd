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

VECTORS_AT_PEAK = 18
"""State vectors (n_fields numbers per cell) a lattice step holds on the device at its peak,
besides the ghosted copy of a field (lattice.grid.Lattice.padded, its own size) and the
coupling's own: with coupling = implicit, integrator.krylov_restart more Krylov basis vectors;
with a split coupling, the local Jacobian blocks and their inverse (2 n_fields). Counted: the
state, the six Rodas4 stages, ∂f/∂t, the error allowances, the stage's right-hand side, GMRES's
first basis vector, iterate and residual, two operator buffers and the Jacobian's terms (7
scalars per cell for the QKE: the preconditioner is formed where it is applied, never stored).
Measured on the stand-in (cupy.memory.peak, default deck, krylov_restart 10): 28.7 vectors on
64² cells (padded 1.06), 29.0 on 16³ (padded 1.42); split coupling on 16³: 34.8.
tests/lattice/test_gpu_run.py checks that the estimate holds. A model without JacobianTerms
(System.jac_terms) stores its implicit preconditioner: n_fields vectors more."""

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


def vectors_needed(n_fields: int, padded_ratio: float, coupling: str, krylov_restart: int,
                   stored_blocks: bool = False) -> float:
    """Upper estimate of the state vectors per cell a rank holds on the GPU at its peak:
    padded_ratio = padded cells / cells of its block, coupling and krylov_restart as in the
    deck's integrator section, stored_blocks: the model has no JacobianTerms."""
    if coupling == "implicit":
        return VECTORS_AT_PEAK + padded_ratio + krylov_restart + (n_fields if stored_blocks else 0)
    return VECTORS_AT_PEAK + padded_ratio + 2 * n_fields


def device_bytes_needed(cells: int, vectors: float, n_fields: int) -> int:
    """GPU memory [bytes] of `vectors` state vectors of n_fields float64 fields on `cells` cells."""
    return int(math.ceil(vectors * 8 * n_fields * cells))


def check_memory(lattice, n_fields: int, integrator, stored_blocks: bool = False):
    """On the GPU: DeckError on every rank, before the run allocates its arrays, if a rank's
    block does not fit in its device's free memory ("needs X GB, Y free"). `integrator`: the
    deck's integrator section (coupling, krylov_restart)."""
    if lattice.backend.name != "cupy":
        return
    cupy = lattice.xp
    cells = math.prod(lattice.local_shape)
    vectors = vectors_needed(n_fields, lattice.padded.size / (n_fields * cells), integrator.coupling,
                             integrator.krylov_restart, stored_blocks)
    need = device_bytes_needed(cells, vectors, n_fields)
    pool = cupy.get_default_memory_pool()
    free = cupy.cuda.runtime.memGetInfo()[0] + pool.total_bytes() - pool.used_bytes()
    error = ""
    if need > free:
        error = (f"device.backend = 'cupy': a rank's block of {cells} cells needs about {need / 1e9:.3g} GB "
                 f"of GPU memory ({vectors:.1f} state vectors of {n_fields} fields per cell with "
                 f"integrator.coupling = {integrator.coupling!r}, krylov_restart = {integrator.krylov_restart}), "
                 f"{free / 1e9:.3g} GB free on device {cupy.cuda.runtime.getDevice()}; use more ranks (one "
                 f"GPU each), a smaller grid.shape or a smaller integrator.krylov_restart")
    error = lattice.comm.allreduce_max(error)
    if error:
        raise DeckError(error)
