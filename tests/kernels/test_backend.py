"""The array backends (kernels.backend): the CuPy backend gives the NumPy backend's results.

The CuPy side runs here on the strict NumPy-backed stand-in for CuPy (../shared/tools/fakecupy,
`FAKECUPY` in tests/conftest.py; the tests skip when it is absent): its arrays refuse implicit
host conversions as CuPy's do, so a host array mixed into a device call fails, and its CUDA
kernels are compiled for the host without fused multiply-adds, as the project's kernels are
built on a device (`--fmad=false`). Every operation does per element the operations of the
NumPy backend in the same order (the per-site LU of the stage preconditioner included), so every
result is compared bitwise. Only the batched inverse (LAPACK on the host, cuSOLVER on a device),
which no run uses any more, may round differently on a real device
(tests/kernels/test_gpu_kernels.py).
"""

import math
import subprocess
import sys

import numpy as np
import pytest

from conftest import INPUT, ROOT
from kernels.backend import NUMPY, backend, backend_for
from lattice.linsolve import factorise
from lattice.parallel import SerialComm
from lattice.reductions import ReproducibleSums

def _same_bits(got, expected):
    got = np.asarray(got)
    return got.shape == expected.shape and np.array_equal(got, expected, equal_nan=True)


# -- choosing a backend --------------------------------------------------------------------------

def test_backends_are_chosen_once_per_library(cupy, device):
    assert backend("numpy") is NUMPY and backend_for(np) is NUMPY and NUMPY.xp is np
    assert device.name == "cupy" and device.xp is cupy and backend_for(cupy) is device
    assert backend("cupy") is device          # the stand-in answers as one device
    with pytest.raises(ValueError, match="allowed"):
        backend("opencl")
    with pytest.raises(ValueError, match="no backend"):
        backend_for(math)


def test_numpy_runs_never_import_cupy():
    """The machinery and the QKE model import without CuPy (the CuPy side is imported when a
    CuPy backend is made)."""
    code = ("import sys, kernels.backend, lattice.implicit, physics.qke_model, scripts.bench_kernels; "
            "sys.exit('cupy' in sys.modules or 'kernels.cupy_ops' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=120).returncode == 0


def test_host_and_device_copies(device):
    a = np.arange(6.0).reshape(2, 3)
    on_device = device.asarray(a)
    assert isinstance(on_device, device.xp.ndarray)
    assert _same_bits(device.to_host(on_device), a)
    assert NUMPY.asarray(a) is a and NUMPY.to_host(a) is a
    device.synchronize()
    NUMPY.synchronize()


# -- the hot operations, one by one ---------------------------------------------------------------

@pytest.mark.parametrize("grid,halo", [((64,), 1), ((33,), 2), ((9, 14), 1), ((6, 5, 7), 1), ((4, 5, 3), 2)])
def test_laplacian(device, grid, halo):
    """Axis by axis, (up + down − 2 centre)/dx², summed in axis order on both: bitwise."""
    rng = np.random.default_rng(11)
    u = rng.standard_normal((8,) + tuple(k + 2 * halo for k in grid))
    spacing = tuple(0.3 + 0.17 * a for a in range(len(grid)))
    expected = NUMPY.laplacian(u, halo, spacing)
    out = device.xp.empty((8,) + grid)
    assert device.laplacian(device.asarray(u), halo, spacing, out=out) is out
    assert _same_bits(device.to_host(out), expected)
    with pytest.raises(ValueError, match="stencil radius"):
        device.laplacian(device.asarray(u), 0, spacing)


@pytest.mark.parametrize("n,grid", [(8, (1500,)), (8, (5, 6, 7)), (3, (17,))])
def test_block_products_and_layout(device, n, grid):
    """The field-major product sums over j in order on both (bitwise); the site-major product
    and the layout change are the same array-method code (bitwise)."""
    rng = np.random.default_rng(7)
    site_major = rng.standard_normal(grid + (n, n))
    v = rng.standard_normal((n,) + grid)
    M = NUMPY.to_field_major(site_major)
    M_dev = device.to_field_major(device.asarray(site_major))
    assert _same_bits(device.to_host(M_dev), M)
    assert _same_bits(device.to_host(device.apply_field_major(M_dev, device.asarray(v))),
                      NUMPY.apply_field_major(M, v))
    assert _same_bits(device.to_host(device.batched_apply(device.asarray(site_major), device.asarray(v))),
                      NUMPY.batched_apply(site_major, v))


def test_batched_inverse(device):
    """The stand-in inverts with LAPACK, as NumPy does: bitwise here (cuSOLVER on a device:
    tests/kernels/test_gpu_kernels.py, 1e-12)."""
    rng = np.random.default_rng(5)
    M = rng.standard_normal((200, 8, 8)) + 8.0 * np.eye(8)
    assert _same_bits(device.to_host(device.batched_inverse(device.asarray(M))), NUMPY.batched_inverse(M))


def test_sums(device):
    """The binned sums (exact bins, so any order of addition gives the same bits): the device's
    bins and the host's bitwise, with NaN for non-finite rows."""
    rng = np.random.default_rng(5)
    n = 4099
    terms = rng.standard_normal((5, n)) * np.logspace(-30, 30, 5)[:, None]
    terms[2] *= np.exp(rng.uniform(-40, 40, n))        # a row spanning 35 decades
    terms[3, 17] = np.inf
    terms[4, 99] = np.nan
    on_device = device.asarray(terms)
    assert _same_bits(device.to_host(device.binned_row_sums(on_device, 39, 4)), NUMPY.binned_row_sums(terms, 39, 4))
    host_sums, device_sums = ReproducibleSums(SerialComm(), n), ReproducibleSums(SerialComm(), n, device)
    got = device_sums.row_sums(on_device)
    assert isinstance(got, np.ndarray) and _same_bits(got, host_sums.row_sums(terms))
    assert np.isnan(got[3:]).all()
    vectors, w = terms[:2], rng.standard_normal(n)
    got_dots, got_norm2 = device_sums.dots_and_norm2(device.asarray(vectors), device.asarray(w))
    dots, norm2 = host_sums.dots_and_norm2(vectors, w)
    assert _same_bits(got_dots, dots) and got_norm2 == norm2
    assert device_sums.norm(device.asarray(w)) == host_sums.norm(w)


def test_subtract_combination(device):
    """w −= c_k V_k one k after the other on both: bitwise."""
    rng = np.random.default_rng(9)
    V, c, w = rng.standard_normal((21, 1000)), rng.standard_normal(13), rng.standard_normal(1000)
    on_device = device.asarray(w)
    assert device.subtract_combination(on_device, c, device.asarray(V)) is on_device
    assert _same_bits(device.to_host(on_device), NUMPY.subtract_combination(w.copy(), c, V))


@pytest.mark.parametrize("count, with_base", [(3, True), (7, False), (11, True), (11, False)])
def test_combine(device, count, with_base):
    """base + Σ c_j rows_j term by term in order, zero weights skipped (the steppers' stage sums;
    one fused pass per 8 terms on a GPU): bitwise, with and without a base, across a chunk
    boundary."""
    rng = np.random.default_rng(count)
    rows = [rng.standard_normal((8, 5, 6)) for _ in range(count)]
    weights = rng.standard_normal(count) * (rng.random(count) > 0.3)
    base = rng.standard_normal((8, 5, 6)) if with_base else None
    expected = NUMPY.combine(rows, weights, base)
    got = device.combine([device.asarray(r) for r in rows], weights,
                         None if base is None else device.asarray(base))
    assert _same_bits(device.to_host(got), expected)


def _diffusion_matrix():
    from physics.qke import MixingParameters, QKEDiffusion

    diffusion = QKEDiffusion(MixingParameters(delta_m2_eV2=-1.0, sin2_2theta=1e-5), T_ref=18.0)
    return diffusion.matrix(14.0)


def test_stage_diffusion(device):
    """−(K (lap + own_cell·x w))/w: K (…) over the nonzero K[i, k] in order of k on both:
    bitwise, for the QKE's K (two-term rows) and one with a three-term and an empty row."""
    rng = np.random.default_rng(5)
    grid = (6, 7)
    x, lap = rng.standard_normal((8,) + grid), rng.standard_normal((8,) + grid)
    w = rng.uniform(0.5, 2.0, (8,) + grid)
    K = _diffusion_matrix()
    other = K.copy()
    other[1, [0, 3, 5]] = (0.3, -0.2, 0.7)
    other[2] = 0.0
    for matrix in (K, other):
        expected = NUMPY.stage_diffusion(x, w, lap, matrix, 3.7e4, np.empty_like(x))
        out = device.xp.empty((8,) + grid)
        args = (device.asarray(x), device.asarray(w), device.asarray(lap), matrix, 3.7e4)
        assert device.stage_diffusion(*args, out) is out
        assert _same_bits(device.to_host(out), expected)


def test_stage_preconditioner(device):
    """M⁻¹: the same per-site LU with partial pivoting, operation by operation, in
    the compiled loop (NumPy) and the CUDA kernel (CuPy): bitwise; and M⁻¹ is the inverse (within
    cond(M)·n·u ≈ 1e-13 of a block's largest entry for these blocks, cond < 1e2 asserted)."""
    rng = np.random.default_rng(11)
    n, grid, sigma, own_cell = 8, (37,), 50.0, 3.0
    blocks = rng.normal(size=grid + (n, n))
    K = np.diag(rng.uniform(0.5, 1.0, n))
    K[0, 4] = 0.3
    w = rng.uniform(0.1, 10.0, size=(n,) + grid)
    M = -blocks + own_cell * K
    M[:, np.arange(n), np.arange(n)] += sigma
    assert np.max(np.linalg.cond(M)) < 1e2
    M_inv = NUMPY.stage_preconditioner(blocks, K, own_cell, sigma, w)
    M_inv_dev = device.stage_preconditioner(device.asarray(blocks), K, own_cell, sigma, device.asarray(w))
    assert _same_bits(device.to_host(M_inv_dev), M_inv)
    exact = np.linalg.inv(M) * w.T[:, None, :] / w.T[:, :, None]         # (sites, i, j): (M⁻¹)_ij w_j / w_i
    scale = np.max(np.abs(M_inv), axis=(0, 1))
    assert np.max(np.abs(np.moveaxis(M_inv, -1, 0) - exact) / scale[:, None, None]) <= 1e-13


def test_jacobian_terms_products_store_nothing_and_give_the_same_bits(device):
    """The Jacobian as JacobianTerms (uniform + Σ_k scalar_k pattern_k): NumPy adds up the blocks
    and stores M⁻¹ (and the field-major blocks); CuPy keeps the terms and forms each site's M⁻¹
    (or block) in the kernel that applies it. The products are bitwise equal, also with zero
    pattern entries against negative zeros and an infinite scalar (NaN rows on both)."""
    from kernels.jacobian_terms import JacobianTerms

    rng = np.random.default_rng(12)
    n, k, grid, sigma, own_cell = 8, 7, (5, 9), 40.0, 3.0
    patterns = rng.integers(-1, 2, size=(k, n, n)).astype(float)
    uniform = rng.normal(size=(n, n))
    uniform[0, 1] = -0.0
    scalars = rng.normal(size=(k,) + grid)
    scalars[2, 4, 8] = np.inf
    K = np.diag(rng.uniform(0.5, 1.0, n))
    K[0, 4] = 0.3
    w = rng.uniform(0.1, 10.0, size=(n,) + grid)
    v = rng.normal(size=(n,) + grid)
    terms = JacobianTerms(uniform, patterns, scalars)
    expected = NUMPY.apply_stage_preconditioner(NUMPY.stage_preconditioner(terms, K, own_cell, sigma, w), v)
    with np.errstate(invalid="ignore"):
        from_blocks = NUMPY.stage_preconditioner(terms.blocks(), K, own_cell, sigma, w)
    assert _same_bits(NUMPY.apply_stage_preconditioner(from_blocks, v), expected)
    on_device = JacobianTerms(device.asarray(uniform), device.asarray(patterns), device.asarray(scalars))
    kept = device.stage_preconditioner(on_device, K, own_cell, sigma, device.asarray(w))
    out = device.xp.empty((n,) + grid)
    assert device.apply_stage_preconditioner(kept, device.asarray(v), out) is out
    assert _same_bits(device.to_host(out), expected)
    assert np.isnan(expected[:, 4, 8]).all() and np.isfinite(np.delete(expected.reshape(n, -1), 44, axis=1)).all()
    with np.errstate(invalid="ignore"):                          # inf · 0 in the blocks
        product = device.apply_site_jacobian(device.site_jacobian(on_device), device.asarray(v))
        on_host = NUMPY.apply_site_jacobian(NUMPY.site_jacobian(terms), v)
        assert _same_bits(device.to_host(product), on_host)
        assert _same_bits(on_host, NUMPY.apply_field_major(NUMPY.to_field_major(terms.blocks()), v))
    for made in (kept, device.site_jacobian(on_device)):          # no n² numbers per site kept
        assert not any(getattr(a, "size", 0) >= n * n * 45 for a in vars(made).values())


@pytest.mark.parametrize("n", [2, 3, 8])
def test_block_diagonal_stage_solve(device, n):
    """lattice.linsolve on the backend named once: cofactors (n ≤ 3) or the per-site LU and the
    fused product: bitwise; and it solves the system (to 1e-12 for these well-conditioned blocks)."""
    rng = np.random.default_rng(3)
    blocks = rng.standard_normal((40, n, n))
    rhs = rng.standard_normal((n, 40))
    expected = factorise(blocks, 30.0)(rhs)
    got = factorise(device.asarray(blocks), 30.0, device)(device.asarray(rhs))
    assert _same_bits(device.to_host(got), expected)
    G = 30.0 * np.eye(n) - blocks
    assert np.allclose(np.einsum("sij,js->is", G, expected), rhs, rtol=0, atol=1e-12 * np.abs(rhs).max())


# -- one implicit lattice step ---------------------------------------------------------------------

def _implicit_step(shape, xp):
    """One Rodas4 attempt (the local QKE and diffusion, GMRES stage solves) of dt·H = 1e-6 from
    the run's initial state at T_start = 24 MeV with a sine seed L0(x), on `shape`, with the
    lattice's fields in xp arrays, wired as a run wires it (lattice.assembly); returns (the new
    state on the host, the error norm, (GMRES solves, iterations, failures, second passes))."""
    from lattice.assembly import assemble
    from scripts.models import load_deck

    deck, schema = load_deck(INPUT / "lattice_1d_laptop.yaml",
                             [f"grid.shape={list(shape)}", "seed.kind=sine", "seed.amplitude=3e-11",
                              "integrator.coupling=implicit", "integrator.stage_solver=gmres",
                              "integrator.method=rodas4"])
    parts = assemble(deck, schema.spec, SerialComm(), xp)
    implicit, cosmology = parts.stepper.system, parts.system.cosmology
    T = deck.time.T_start_MeV
    y_new, error = parts.stepper.attempt(cosmology.time(T), parts.y, 1e-6 / cosmology.hubble(T))
    stats = implicit.stats
    return (backend_for(xp).to_host(y_new), error,
            (stats.solves, stats.iterations, stats.failures, stats.reorthogonalised))


@pytest.mark.parametrize("shape, second_passes", [((16,), 0), ((4, 5), 0), ((64, 64), 1)])
def test_implicit_step_on_the_stand_in_equals_numpy(cupy, shape, second_passes):
    """The whole step on the stand-in: every array of the step lives on the 'device' (a host
    array mixed in would raise), and the step is bitwise the NumPy step, with the same GMRES
    iterations; on 64² also through a (delayed) second Gram–Schmidt pass."""
    y, error, stats = _implicit_step(shape, np)
    assert math.isfinite(error) and stats[1] >= stats[0] and stats[2] == 0    # GMRES iterated, converged
    assert stats[3] == second_passes
    y_device, error_device, stats_device = _implicit_step(shape, cupy)
    assert _same_bits(y_device, y) and error_device == error and stats_device == stats
