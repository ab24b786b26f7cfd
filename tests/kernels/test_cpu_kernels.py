"""The compiled CPU loops (`kernels.cpu_kernels`) against the NumPy array sequences they replace.

Each loop promises the same operations in the same order per element as the NumPy sequence, so
the comparisons are bitwise (`np.array_equal`); they would fail if the compiler reordered a sum
or fused a multiply and an add. The NumPy sequences are written out here, independently of the
kernels module.
"""

import math

import numpy as np
import pytest

from kernels import cpu_kernels
from kernels.backend import NUMPY
from lattice.parallel import SerialComm
from lattice.reductions import ReproducibleSums


def numpy_block_product(M, v):
    out = np.empty_like(v)
    for i in range(v.shape[0]):
        out[i] = M[i, 0] * v[0]
        for j in range(1, v.shape[0]):
            out[i] += M[i, j] * v[j]
    return out


def numpy_laplacian(u, halo, spacing):
    def shifted(axis, offset):
        index = [slice(None)] + [slice(halo + (offset if a == axis else 0), n - halo + (offset if a == axis else 0))
                                 for a, n in enumerate(u.shape[1:])]
        return u[tuple(index)]

    twice = shifted(0, 0) * 2.0
    out = None
    for axis, dx in enumerate(spacing):
        term = (shifted(axis, 1) + shifted(axis, -1) - twice) * (1.0 / (dx * dx))
        out = term if out is None else out + term
    return out


@pytest.mark.parametrize("n,grid", [(8, (1500,)), (8, (17, 40)), (8, (5, 6, 7)), (3, (1025,)), (8, (1,))])
def test_block_product_equals_the_numpy_sequence_bitwise(n, grid):
    """Grids below, at and across several CHUNK boundaries."""
    rng = np.random.default_rng(7)
    M = rng.standard_normal((n, n) + grid)
    v = rng.standard_normal((n,) + grid)
    assert np.array_equal(NUMPY.apply_field_major(M, v), numpy_block_product(M, v))


@pytest.mark.parametrize("grid,halo", [((64,), 1), ((33,), 2), ((9, 14), 1), ((6, 5, 7), 1), ((4, 5, 3), 2)])
def test_laplacian_equals_the_numpy_sequence_bitwise(grid, halo):
    rng = np.random.default_rng(11)
    u = rng.standard_normal((8,) + tuple(k + 2 * halo for k in grid))
    spacing = tuple(0.3 + 0.17 * a for a in range(len(grid)))
    out = np.empty((8,) + grid)
    assert NUMPY.laplacian(u, halo, spacing, out=out) is out
    assert np.array_equal(out, numpy_laplacian(u, halo, spacing))


def test_outputs_must_be_contiguous():
    v = np.ones((2, 10))
    with pytest.raises(ValueError, match="not C-contiguous"):
        NUMPY.apply_field_major(np.ones((2, 2, 10)), v, out=np.empty((2, 20))[:, ::2])


def test_row_sums_are_the_correctly_rounded_sums_of_the_binned_terms():
    """Independent reference: exact rational arithmetic. Each term rounded to the bottom grid
    2^(B − n_bins·W) (half to even), summed exactly, then rounded once: the binned sums' promise,
    bit for bit. And the sums are within n·max|term|·2^-103 of the exact sums of the terms."""
    from fractions import Fraction

    rng = np.random.default_rng(5)
    n = 4099
    terms = rng.standard_normal((5, n)) * np.logspace(-30, 30, 5)[:, None]
    terms[2] *= np.exp(rng.uniform(-40, 40, n))        # a row spanning 35 decades
    terms[4, :n // 2] = 0.0
    sums = ReproducibleSums(SerialComm(), n)
    got = sums.row_sums(terms)
    for row, value in zip(terms, got):
        e = math.frexp(np.abs(row).max())[1]
        top = -((-(e + 1)) // sums.width) * sums.width           # max|term| < 2^(top − 1)
        quantum = Fraction(2) ** (top - sums.n_bins * sums.width)
        rounded = sum(round(Fraction(t) / quantum) * quantum for t in row)
        assert value == float(rounded)
        exact = sum(Fraction(t) for t in row)
        assert abs(Fraction(value) - exact) <= n * np.abs(row).max() * 2.0 ** -103 + abs(exact) * 2.0 ** -53


def test_binned_row_sums_flag_nonfinite_rows_and_put_zero_rows_at_the_floor():
    terms = np.array([[1.0, -3.0, 2.0], [np.nan, 1.0, 0.0], [0.0, 0.0, -0.0], [1.0, np.inf, 0.0]])
    got = NUMPY.binned_row_sums(terms, 40, 4)
    assert got[:, 1].tolist() == [0.0, 1.0, 0.0, 1.0]
    assert got[0, 0] == 40 and got[2, 0] == cpu_kernels.BINNED_FLOOR      # 3 < 2^(40 − 1)
    assert got[0, 2:].sum() == 0.0 and np.isfinite(got).all()


def test_traffic_counter_counts_a_compiled_loop_once_per_operand():
    """scripts.traffic: the 1D Laplacian on 512 cells (halo 1, 8 fields) reads u (514 cells) and
    writes out (512 cells) once, plus its four 3-number parameter arrays (ghost widths, 1/dx²,
    the box's two corners)."""
    from scripts.traffic import bytes_moved

    u = np.ones((8, 514))
    out = np.empty((8, 512))
    _, moved = bytes_moved(lambda a: NUMPY.laplacian(a, 1, (1.0,), out=out), u)
    assert moved == 8 * 514 * 8 + 8 * 512 * 8 + 4 * 3 * 8


@pytest.mark.parametrize("sites", [1, 128, 1500])
def test_stage_diffusion_equals_the_numpy_sequence_bitwise(sites):
    """−(K (lap + own_cell·x w)) / w with the QKE diffusion matrix (two-term rows, zeros
    elsewhere), as the diffusion model's own tendency forms K (…) by array calls."""
    from physics.qke import MixingParameters, QKEDiffusion

    rng = np.random.default_rng(5)
    x, lap = rng.standard_normal((8, sites)), rng.standard_normal((8, sites))
    w = rng.uniform(0.5, 2.0, (8, sites))
    diffusion = QKEDiffusion(MixingParameters(delta_m2_eV2=-1.0, sin2_2theta=1e-5), T_ref=18.0)
    T, own_cell = 14.0, 3.7e4
    K = diffusion.matrix(T)
    expected = diffusion.tendency(lap + own_cell * (x * w), T)
    expected /= w
    expected = -expected
    out = np.empty_like(x)
    cpu_kernels.stage_diffusion(x, w, lap, K, own_cell, out)
    assert np.array_equal(out, expected)


def test_subtract_combination_equals_the_numpy_sequence_bitwise():
    rng = np.random.default_rng(9)
    V = rng.standard_normal((21, 1000))
    c = rng.standard_normal(13)
    w = rng.standard_normal(1000)
    expected = w.copy()
    for k, ck in enumerate(c):
        expected -= V[k] * ck
    assert np.array_equal(cpu_kernels.subtract_combination(w, c, V), expected)


def test_stage_preconditioner_inverts_each_block_and_scales_as_the_numpy_sequence():
    """M⁻¹ by LU in the loop against LAPACK's inverse of the same blocks: both lie within about
    cond(M)·n·2⁻⁵³ ≈ 1e-13 of the exact inverse (relative to its largest entry) for these blocks
    (cond(M) < 1e2, asserted), so they agree to 1e-13 of it; a block's result does not depend
    on its position (the same block at two sites gives the same bits)."""
    rng = np.random.default_rng(11)
    n, sites, sigma, own_cell = 8, 37, 50.0, 3.0
    blocks = rng.normal(size=(sites, n, n))
    blocks[5] = blocks[30]
    K = np.diag(rng.uniform(0.5, 1.0, n))
    K[0, 4] = 0.3
    w = rng.uniform(0.1, 10.0, size=(n, sites))
    w[:, 5] = w[:, 30]
    M_inv = np.empty((n, n, sites))
    cpu_kernels.stage_preconditioner(blocks, K, own_cell, sigma, w, M_inv)
    M = -blocks + own_cell * K
    M[:, np.arange(n), np.arange(n)] += sigma
    to_scaled = w[None, :] / w[:, None]
    reference = np.moveaxis(np.linalg.inv(M), (1, 2), (0, 1)) * to_scaled
    assert np.max(np.linalg.cond(M)) < 1e2
    scale = np.max(np.abs(reference), axis=(0, 1))
    assert np.max(np.abs(M_inv - reference) / scale) <= 1e-13
    assert np.array_equal(M_inv[..., 5], M_inv[..., 30])
