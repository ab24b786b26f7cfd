"""Initial background asymmetry fields L0(x) on the comoving lattice (docs/models/diffusion-qke.md §4).

Every generator returns this rank's block, computed from global cell indices only, so the
field is identical whatever the number of ranks.
"""

from __future__ import annotations

import numpy as np

from physics import constants as c


def domain_size(T_QCD, T_ref):
    """Comoving baryonic domain size 0.0018 M_Pl / (T_QCD T_ref) [MeV^-1] (paper eq. 22)."""
    return 0.0018 * c.M_PL / (T_QCD * T_ref)


def domains(lattice, T_QCD, T_ref, low, high, seed):
    """Piecewise-constant cubic domains with values uniform in [low, high] (seeded).

    The values of all domains of the global box are drawn in one fixed order by every rank;
    each cell takes the value of the domain containing its centre.
    """
    d = domain_size(T_QCD, T_ref)
    counts = tuple(int(np.ceil(b / d - 1e-12)) for b in lattice.box)
    values = np.random.default_rng(seed).uniform(low, high, size=counts)
    index = np.meshgrid(*[np.minimum((lattice.cell_centres(a) // d).astype(int), counts[a] - 1)
                          for a in range(lattice.ndim)], indexing="ij")
    return values[tuple(index)]


def sine(lattice, mean, amplitude, mode=1):
    """L0 = mean + amplitude sin(2π mode x / box) along axis 0, constant along the others."""
    x = lattice.cell_centres(0)
    profile = mean + amplitude * np.sin(2.0 * np.pi * mode * x / lattice.box[0])
    return np.broadcast_to(profile.reshape((-1,) + (1,) * (lattice.ndim - 1)), lattice.local_shape).copy()


def constant(lattice, value):
    """L0 = value everywhere."""
    return np.full(lattice.local_shape, float(value))


def from_file(lattice, path, dataset="L0"):
    """L0 from a .npy file or an HDF5 dataset holding the global array (global shape)."""
    if str(path).endswith(".npy"):
        data = np.load(path, mmap_mode="r")
    else:
        import h5py

        with h5py.File(path, "r") as f:
            data = f[dataset][lattice.global_slice]
        data = np.asarray(data)
        return _checked(data, lattice, path, local=True)
    return _checked(np.asarray(data[lattice.global_slice]), lattice, path, local=True)


def _checked(block, lattice, path, local):
    if block.shape != lattice.local_shape:
        raise ValueError(f"seed file {path}: block shape {block.shape} does not match the grid "
                         f"(global shape {lattice.global_shape})")
    return block.astype(float)
