"""The coupled local + diffusion stage solve of the implicit lattice (lattice/implicit.py).

The stage matrix σ − J_local − K∇² is assembled here independently as a dense matrix: the
Laplacian from its definition (periodic: wrap-around neighbours; neumann: mirror ghosts, so a
face cell misses one neighbour term), K from the notes (𝒟± = ½(1/Γ^el_ττ ± 1/Γ^el_ss),
𝒟_τs = 2/(Γ^el_ττ + Γ^el_ss), Γ^el_ττ = 2.8 G_F² T⁵, Γ^el_ss = 0.1 Γ^el_ττ, times (T/T_ref)²).
The GMRES solution must agree with numpy.linalg.solve to within the requested fraction of
the error allowances; the step's conservation shift must keep ΣP0⁻ exactly.
"""

import numpy as np
import pytest

from conftest import INPUT
from lattice.implicit import ImplicitLattice
from lattice.parallel import SerialComm
from physics.models import build_lattice, load_deck
from physics.qke import FIELDS

G_F = 1.1663787e-11


def _setup(shape, bc):
    deck, _ = load_deck(INPUT / "lattice_1d_laptop.yaml",
                        [f"grid.shape={list(shape)}", f"grid.bc={bc}", "seed.kind=sine", "seed.amplitude=3e-11"])
    setup = build_lattice(deck, SerialComm())
    return setup, deck


def _laplacian_matrix(shape, spacing, bc, antisymmetric=False):
    """The comoving Laplacian of one field; `antisymmetric`: offdiag_zero's ghost (−cell) on a
    non-periodic face."""
    n = int(np.prod(shape))
    Lap = np.zeros((n, n))
    index = np.arange(n).reshape(shape)
    for axis, (cells, dx) in enumerate(zip(shape, spacing)):
        for cell in np.ndindex(*shape):
            i = index[cell]
            for step in (-1, 1):
                nb = list(cell)
                nb[axis] += step
                if 0 <= nb[axis] < cells:
                    Lap[i, index[tuple(nb)]] += 1 / dx ** 2
                    Lap[i, i] -= 1 / dx ** 2
                elif bc == "periodic":
                    nb[axis] %= cells
                    Lap[i, index[tuple(nb)]] += 1 / dx ** 2
                    Lap[i, i] -= 1 / dx ** 2
                elif antisymmetric:
                    Lap[i, i] -= 2 / dx ** 2
                # neumann: the mirror ghost equals the cell, the term vanishes
    return Lap


def _stage_matrix(shape, spacing, bc, K, sigma, blocks):
    """σ − J − K∇² as a dense site-major matrix (index 8 i + f). With offdiag_zero the diagonal
    fields wrap and the transverse ones (Px±, Py±) see antisymmetric ghosts at the faces."""
    n = int(np.prod(shape))
    A = sigma * np.eye(8 * n)
    for i in range(n):
        A[8 * i:8 * i + 8, 8 * i:8 * i + 8] -= blocks[i]
    for g, name in enumerate(FIELDS):
        odd = bc == "offdiag_zero" and name[:2] in ("Px", "Py")
        kind = "periodic" if bc == "offdiag_zero" and not odd else bc
        column = np.zeros((8, 8))
        column[:, g] = K[:, g]
        A -= np.kron(_laplacian_matrix(shape, spacing, kind, antisymmetric=odd), column)
    return A


def _diffusion_matrix(T, T_ref, eps=0.1):
    g_tt = 2.8 * G_F ** 2 * T ** 5
    g_ss = eps * g_tt
    Dp, Dm, Dts = 0.5 * (1 / g_tt + 1 / g_ss), 0.5 * (1 / g_tt - 1 / g_ss), 2 / (g_tt + g_ss)
    K = np.zeros((8, 8))
    i0p, i0m, izp, izm = (FIELDS.index(f) for f in ("P0p", "P0m", "Pzp", "Pzm"))
    for a, b in ((i0p, izp), (i0m, izm)):
        K[a, a] = K[b, b] = Dp
        K[a, b] = K[b, a] = Dm
    for f in ("Pxp", "Pxm", "Pyp", "Pym"):
        K[FIELDS.index(f), FIELDS.index(f)] = Dts
    return K * (T / T_ref) ** 2


@pytest.mark.parametrize("shape,bc,dt_hubble,solver", [
    ((16,), "periodic", 1e-3, "gmres"), ((16,), "neumann", 1e-2, "gmres"),
    ((4, 5), "periodic", 1e-3, "gmres"), ((3, 2, 4), "neumann", 1e-4, "gmres"),
    ((16,), "periodic", 1e-2, "direct"), ((16,), "neumann", 1e-2, "direct"),
    ((16,), "offdiag_zero", 1e-2, "direct"), ((2,), "periodic", 1e-2, "direct"),
    ((1,), "offdiag_zero", 1e-3, "direct")])
def test_stage_solve_matches_a_dense_direct_solve(shape, bc, dt_hubble, solver):
    """GMRES to its tolerance (1e-3 allowances); the direct line solve (lattice/line_solver.py)
    to round-off."""
    setup, deck = _setup(shape, bc)
    system, lattice = setup.system, setup.lattice
    rng = np.random.default_rng(1)
    y = system.initial_state(lattice.local_shape)
    y[[1, 7]] = -2.7e-10 + 1e-11 * rng.standard_normal((2,) + lattice.local_shape)
    y[[2, 4]] = 1e-4 * rng.standard_normal((2,) + lattice.local_shape)
    y[[3, 5]] = 1e-13 * rng.standard_normal((2,) + lattice.local_shape)
    T = 20.0
    t = system.cosmology.time(T)
    norm = system.error_norm(1e-6, 1e-14, 1e-20)
    implicit = ImplicitLattice(system, setup.diffusion, lattice, norm.field_weights, tolerance=1e-3,
                               stage_solver=solver)
    h = dt_hubble / system.cosmology.hubble(T)
    sigma = 1 / (0.25 * h)
    solve = implicit.jac(t, y).factorise(sigma)
    r = system.f(t, y) + rng.standard_normal(y.shape) * np.abs(y).max(axis=tuple(range(1, y.ndim)),
                                                                     keepdims=True) * 1e-3 * sigma
    x = solve(r)

    n = lattice.n_cells
    blocks = system.jac(t, y).reshape(n, 8, 8)
    A = _stage_matrix(shape, lattice.spacing, bc, _diffusion_matrix(T, deck.grid.T_ref_MeV), sigma, blocks)
    x_direct = np.linalg.solve(A, r.reshape(8, -1).T.reshape(-1)).reshape(n, 8).T.reshape(y.shape)
    allowance = norm.field_weights(y)
    err = np.abs(x - x_direct) / allowance
    print(f"{shape} {bc} {solver}: GMRES {implicit.stats.iterations} iterations, max error {err.max():.2e} "
          f"allowances, largest |x| {np.abs(x_direct / allowance).max():.2e} allowances")
    if solver == "gmres":
        assert err.max() <= 1e-3
        assert implicit.stats.iterations >= 1
    else:   # both exact: round-off relative to the largest |x| (1e8 allowances would still give 1e-6)
        assert err.max() <= 1e-14 * np.abs(x_direct / allowance).max() + 1e-9
    # P0⁻ has no local terms: the exact solution keeps its total at Σr/σ; GMRES keeps it to about
    # its tolerance, and the step's `conserve` shift restores the old total exactly
    p0m = FIELDS.index("P0m")
    assert abs(x[p0m].sum() - r[p0m].sum() / sigma) <= 1e-3 * allowance[p0m].sum()
    y_new = implicit.conserve(y, y + x)
    assert abs(y_new[p0m].sum() - y[p0m].sum()) <= 1e-15 * np.abs(y[p0m]).sum()
