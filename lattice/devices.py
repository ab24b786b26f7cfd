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
import os
from dataclasses import dataclass

import numpy as np

from kernels.backend import device_available
from lattice.deck import DeckError

log = logging.getLogger(__name__)

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
