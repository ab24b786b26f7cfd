"""The coupled local + diffusion stage solve of the implicit lattice (lattice/implicit.py).

The stage matrix σ − J_local − K∇² is assembled here independently as a dense matrix: the
Laplacian from its definition (periodic: wrap-around neighbours; neumann: mirror ghosts, so a
face cell misses one neighbour term), K from the notes (𝒟± = ½(1/Γ^el_ττ ± 1/Γ^el_ss),
𝒟_τs = 2/(Γ^el_ττ + Γ^el_ss), Γ^el_ττ = 2.8 G_F² T⁵, Γ^el_ss = 0.1 Γ^el_ττ, times (T/T_ref)²).
The GMRES solution must have the residual that GMRES promises against it, and the error against
numpy.linalg.solve that follows from it; the step's conservation shift must keep ΣP0⁻ exactly.
"""

import math

from types import SimpleNamespace

import numpy as np
import pytest

from conftest import INPUT
from lattice.implicit import ImplicitLattice
from lattice.krylov import gmres
from lattice.parallel import SerialComm
from lattice.assembly import build_lattice
from scripts.models import load_deck
from physics.qke import FIELDS

G_F = 1.1663787e-11


def _setup(shape, bc):
    deck, schema = load_deck(INPUT / "lattice_1d_laptop.yaml",
                             [f"grid.shape={list(shape)}", f"grid.bc={bc}", "seed.kind=sine", "seed.amplitude=3e-11"])
    lattice, system, diffusion, _ = build_lattice(deck, schema.spec, SerialComm())
    return SimpleNamespace(lattice=lattice, system=system, diffusion=diffusion), deck


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


U = np.finfo(float).eps / 2
"""Unit round-off."""

ROUNDINGS_PER_ROW = 40
"""k in γ_k = k·u/(1 − k·u): the roundings that can separate a float residual of one row from
the exact residual of the test's dense matrix, counted for a 3D row (15 nonzeros): the dense
entries (1/dx², ≤ 6 neighbour terms summed into the diagonal, the kron product, σ − block − K∇²:
≤ 9); the solver's operator on its longest path (w_j/w_i and its product with J: 2, J̃v over 8
fields: 8, v·w, the Laplacian's ≤ 7 terms and 1/dx²: 8, K over 2 fields: 2, 1/w and its product:
2, σv and the two differences: 3; ≤ 25); b̃ = r·(1/w) and b̃ − Ãx̃ (3); the returned x = x̃·w (1).
38, rounded up. Every term then carries a relative error ≤ γ_k, so the two residuals differ by
at most γ_k (|b̃| + |Ã||x̃|) per row (the standard bound for a float matrix-vector product)."""


def _gamma(k):
    return k * U / (1 - k * U)


def _residual(A, x, b):
    """b − A x for the float entries of A, x and b, each row exactly rounded: every product split
    exactly into four (Veltkamp; no under- or overflow at these magnitudes), the row summed by
    math.fsum. The rounding of a float evaluation would be of the order of what is measured."""
    def split(a):
        c = a * 134217729.0                     # 2**27 + 1
        hi = c - (c - a)
        return hi, a - hi
    (Ah, Al), (xh, xl) = split(A), split(x)
    return np.array([math.fsum(np.concatenate(([b[i]], -Ah[i] * xh, -Ah[i] * xl, -Al[i] * xh, -Al[i] * xl)))
                     for i in range(len(b))])


def _site_major(z):
    """Field-major (8, *grid) -> the dense matrix's site-major order (index 8 i + f)."""
    return z.reshape(8, -1).T.reshape(-1)


@pytest.mark.parametrize("shape,bc,dt_hubble,solver", [
    ((16,), "periodic", 1e-3, "gmres"), ((16,), "neumann", 1e-2, "gmres"),
    ((4, 5), "periodic", 1e-3, "gmres"), ((3, 2, 4), "neumann", 1e-4, "gmres"),
    ((16,), "periodic", 1e-2, "direct"), ((16,), "neumann", 1e-2, "direct"),
    ((16,), "offdiag_zero", 1e-2, "direct"), ((2,), "periodic", 1e-2, "direct"),
    ((1,), "offdiag_zero", 1e-3, "direct")])
def test_stage_solve_matches_a_dense_direct_solve(shape, bc, dt_hubble, solver, monkeypatch):
    """GMRES to what it promises: its residual, in the norm it stops on (the Euclidean norm in
    allowance-scaled variables, x̃ = x/w, b̃ = r/w, Ã = W⁻¹(σ − J − K∇²)W), is ≤ tolerance·σ. Here
    that is checked (a) bit for bit on the solver's own float residual, and (a') against the
    dense matrix, where the float evaluation of either residual adds up to γ_k‖|b̃| + |Ã||x̃|‖.
    (b) The error against numpy.linalg.solve then follows: x̃ − x̃_d = Ã⁻¹(ρ̃ − ρ̃_d), so
    max|x̃ − x̃_d| ≤ ‖Ã⁻¹‖₂ (‖ρ̃‖₂ + ‖ρ̃_d‖₂), with LAPACK's own residual ρ̃_d measured exactly.

    This problem sits at the floating-point floor: |x̃| reaches 1e12 allowances (P0⁺ moves by
    1e-3 where its allowance is atol/2, the sterile density being 0), so u‖|b̃| + |Ã||x̃|‖ is
    0.6–1e-3 σ, as large as the tolerance, and LAPACK's solution has a residual up to 2e-3 σ. The
    errors against it (1e-4 to 3e-3 allowances on different machines) are mostly round-off of the
    two solutions, not a property GMRES promises; and with the allowances ranging over 12 decades
    ‖Ã⁻¹‖₂σ is 3e5–2e6, so the stopping rule alone only bounds the error by ~1e3 allowances.

    The direct line solve (lattice/line_solver.py) has no tolerance: its dense residual must be at
    the same round-off floor, and its error against LAPACK stays at round-off of the largest |x̃|."""
    captured = {}
    import lattice.implicit as implicit_module

    def recording_gmres(apply_E, apply_Minv, b, sums, tolerance, *args, **kwargs):
        def recording_Minv(u):           # GMRES's own call: x = M⁻¹ u at the end
            captured["u"] = u.copy()
            return apply_Minv(u)

        x, converged = gmres(apply_E, recording_Minv, b, sums, tolerance, *args, **kwargs)
        captured.update(apply_E=apply_E, b=b, sums=sums, x=x.copy(), converged=converged)
        return x, converged

    monkeypatch.setattr(implicit_module, "gmres", recording_gmres)
    setup, deck = _setup(shape, bc)
    system, lattice = setup.system, setup.lattice
    rng = np.random.default_rng(1)
    y = system.initial_state(lattice.local_shape)
    y[[1, 7]] = -2.7e-10 + 1e-11 * rng.standard_normal((2,) + lattice.local_shape)
    y[[2, 4]] = 1e-4 * rng.standard_normal((2,) + lattice.local_shape)
    y[[3, 5]] = 1e-13 * rng.standard_normal((2,) + lattice.local_shape)
    T = 20.0
    t = system.cosmology.time(T)
    norm = system.error_norm(1e-6, SimpleNamespace(atol_plus=1e-14, atol_minus=1e-20))
    tolerance = 1e-3
    implicit = ImplicitLattice(system, setup.diffusion, lattice, norm.field_weights, tolerance=tolerance,
                               stage_solver=solver)
    h = dt_hubble / system.cosmology.hubble(T)
    sigma = 1 / (0.25 * h)
    solve = implicit.jac(t, y).factorise(sigma)
    r = system.f(t, y) + rng.standard_normal(y.shape) * np.abs(y).max(axis=tuple(range(1, y.ndim)),
                                                                     keepdims=True) * 1e-3 * sigma
    x = solve(r.copy())                  # the solver scales its right-hand side in place
    assert np.isfinite(x).all()

    n = lattice.n_cells
    blocks = system.jac(t, y).reshape(n, 8, 8)
    A = _stage_matrix(shape, lattice.spacing, bc, _diffusion_matrix(T, deck.grid.T_ref_MeV), sigma, blocks)
    b = _site_major(r)
    x_direct = np.linalg.solve(A, b)
    w = _site_major(norm.field_weights(y))
    A_scaled = A * w[None, :] / w[:, None]                 # Ã = W⁻¹ A W
    x_scaled, xd_scaled, b_scaled = _site_major(x) / w, x_direct / w, b / w
    rho = _residual(A, _site_major(x), b) / w               # ρ̃ = W⁻¹(r − A x), exactly rounded
    rho_direct = _residual(A, x_direct, b) / w

    # γ_k ‖|b̃| + |Ã||x̃|‖₂: how far a float residual (the solver's) may be from the exact one
    floor = _gamma(ROUNDINGS_PER_ROW) * np.linalg.norm(np.abs(b_scaled) + np.abs(A_scaled) @ np.abs(x_scaled))
    promised = tolerance * sigma if solver == "gmres" else 0.0
    residual_bound = promised + floor
    singular = np.linalg.svd(A_scaled, compute_uv=False)
    # σ_min from a backward-stable SVD is off by p·u‖Ã‖₂, i.e. relative p·u·cond(Ã) (u·cond ≈ 0.02
    # here, asserted ≤ 0.05): the factor 2 on ‖Ã⁻¹‖₂ = 1/σ_min covers p up to 10
    assert U * singular[0] / singular[-1] <= 0.05
    inverse_norm = 2 / singular[-1]
    error_bound = inverse_norm * (residual_bound + np.linalg.norm(rho_direct))
    err = np.abs(_site_major(x) - x_direct) / w             # not x̃ − x̃_d: each is 1e12 allowances
    print(f"{shape} {bc} {solver}: GMRES {implicit.stats.iterations} iterations, residual "
          f"{np.linalg.norm(rho) / sigma:.2e} σ (bound {residual_bound / sigma:.2e} σ; LAPACK's "
          f"{np.linalg.norm(rho_direct) / sigma:.2e} σ), ‖Ã⁻¹‖σ {sigma / singular[-1]:.2e}, max error "
          f"{err.max():.2e} allowances (bound {error_bound:.2e}), largest |x| {np.abs(xd_scaled).max():.2e} allowances")
    # (a') the residual against the independently assembled dense matrix: a wrong neighbour,
    # ghost or K entry in the solver's operator puts it orders of magnitude above the bound
    assert np.linalg.norm(rho) <= residual_bound
    # (b) the error that follows from the residuals
    assert err.max() <= error_bound
    if solver == "gmres":
        # (a) the solver's own residual b − u − E u (x = M̃⁻¹u), recomputed with its operator
        # exactly as GMRES computed it when it stopped: no round-off allowance, a looser
        # tolerance shows here
        assert captured["converged"]
        u = captured["u"]
        own = captured["sums"].norm((captured["b"] - u) - captured["apply_E"](u, np.empty_like(u)))
        assert own <= tolerance * sigma
        assert implicit.stats.iterations >= 1
    else:   # both exact: round-off relative to the largest |x| (1e8 allowances would still give 1e-6)
        assert err.max() <= 1e-14 * np.abs(xd_scaled).max() + 1e-9
    # P0⁻ has no local terms and the flux-form ∇² sums to zero over the box, so the P0⁻ rows of
    # the residual sum to Σr − σΣx: |Σx − Σr/σ| = |Σ w ρ̃|/σ ≤ ‖w‖₂ ‖ρ̃‖₂/σ (Cauchy–Schwarz)
    p0m = FIELDS.index("P0m")
    assert not blocks[:, p0m, :].any()
    p0m_total_error = abs(math.fsum(x[p0m].ravel()) - math.fsum(r[p0m].ravel()) / sigma)
    sums_rounding = 2 * U * (np.abs(x[p0m]).sum() + np.abs(r[p0m]).sum() / sigma)   # the two fsums and /σ
    assert p0m_total_error <= np.linalg.norm(w[p0m::8]) * residual_bound / sigma + sums_rounding
    # the step's `conserve` shift restores the old total: the totals it compares are exactly
    # rounded (ReproducibleSums), so what is left is one rounding per cell of y + x + shift, the
    # shift's own, and the rounding of the two totals (the fsums here): ≤ 4u Σ|y| plus u Σ|y_new|
    y_new = implicit.conserve(y, y + x)
    left = abs(math.fsum(y_new[p0m].ravel()) - math.fsum(y[p0m].ravel()))
    assert left <= U * (4 * np.abs(y[p0m]).sum() + np.abs(y_new[p0m]).sum())


def _rodas4_on_32x32():
    """(RunParts, t, h) of a Rodas4 run on a 32² lattice with a sine seed, at T_start = 24 MeV, with
    a step of dt·H = 3e-6."""
    from lattice.assembly import assemble

    deck, schema = load_deck(INPUT / "lattice_1d_laptop.yaml", ["grid.shape=[32, 32]", "seed.kind=sine",
                                                               "seed.amplitude=3e-11", "integrator.method=rodas4"])
    parts = assemble(deck, schema.spec, SerialComm(), np)
    cosmology, T = parts.system.cosmology, deck.time.T_start_MeV
    return parts, cosmology.time(T), 3e-6 / cosmology.hubble(T)


def test_an_attempt_whose_deferred_check_fails_is_redone_with_checked_solves(monkeypatch):
    """Rodas4 on the implicit lattice: when a deferred residual check fails, the attempt is redone
    with every solve checked before it returns, and gives the bits of an attempt made that way
    from the start (not those of a deferred attempt: a checked solve whose check finds it
    converged makes one more Arnoldi step, lattice.krylov._opening)."""
    from lattice.krylov import PendingChecks

    parts, t, h = _rodas4_on_32x32()
    stepper, lattice_system = parts.stepper, parts.stepper.system
    lattice_system.defer_checks = False
    want, want_err = stepper.attempt(t, parts.y, h)
    lattice_system.defer_checks = True
    verify, failures = PendingChecks.verify, []

    def fail_once(self, norm2):
        if not failures and len(norm2):
            failures.append(len(norm2))
            norm2 = np.full(len(norm2), np.inf)
        return verify(self, norm2)

    monkeypatch.setattr(PendingChecks, "verify", fail_once)
    redone, redone_err = stepper.attempt(t, parts.y, h)
    assert failures and np.array_equal(redone, want) and redone_err == want_err
    assert lattice_system.defer_checks


def test_a_stage_solve_that_does_not_converge_ends_the_attempt(monkeypatch):
    """Rodas4 on the implicit lattice with GMRES allowed too few iterations: the first stage solve
    that does not converge ends the attempt (no later stage is solved) with a NaN state and a
    NaN error norm, which the step control rejects."""
    parts, t, h = _rodas4_on_32x32()
    stepper, lattice_system = parts.stepper, parts.stepper.system
    stats = lattice_system.stats
    monkeypatch.setattr(lattice_system, "max_iterations", 1)
    y_new, err = stepper.attempt(t, parts.y, h)
    assert math.isnan(err) and np.isnan(y_new).all() and y_new.shape == parts.y.shape
    assert stats.failures == 1 and stats.solves == 1
