"""The translator of per-site Python kernels to CUDA C (kernels.cuda_source).

The translated functions run in kernels compiled by the CuPy stand-in (tests/conftest.py `cupy`:
g++ for the host, without FMA contraction, as the project builds its kernels for a device with
`--fmad=false`), and give bitwise the numbers of the Python they come from: the QKE's
`rhs_with` against Numba's compiled `physics.qke_kernels.rhs_at` and against the NumPy path's
`QKELocal.rhs`; small functions against Python's own evaluation, where the grouping of the sums
decides the result. Constructs outside the subset are errors that name the construct.
tests/kernels/test_nvrtc.py compiles the fused stage kernel built on them with NVRTC.
"""

import numpy as np
import pytest

from kernels.cuda_source import TranslationError, c_name, device_source, translate
from physics import qke_kernels as qk
from physics.qke import MixingParameters, QKELocal

SCALE = 3
"""An int constant of this module (translated as an index and as a number)."""
HALF = 0.5
"""A float constant of this module."""


# -- small functions in the subset -------------------------------------------------------------------

def _grouping(a, b, c, out):
    out[0] = a + b + c                       # (a + b) + c
    out[1] = a + (b + c)
    out[2] = a * b / c - -a
    out[3] = a - b * c / a + b * HALF
    out[4] = 1 / SCALE * a                   # an int division in Python 3 is a true division
    out[5] = +a - (b - c) * 0.1


def _helper(u, v):
    """A function returning a number."""
    w = u * v
    w += HALF
    return w - u


def _unrolled(x, out):
    s, d = x[0] + x[1], x[0] - x[1]
    s, d = d, s                              # the right side first, as Python evaluates it
    for i, j in ((0, 1), (2, SCALE)):
        out[i] = x[j] * s
        out[j] = x[i] * d
    total = 0.0
    for r in (0, 1, 2, SCALE):
        total += out[r]
    out[SCALE + 1] = total
    out[SCALE * 2 - 1] = _helper(total, x[2])
    pass


def _kernel(function, n_in, n_out, arrays_in):
    """A kernel applying `function` at every site: inputs (n_in, sites) passed as scalars, or as
    one array (arrays_in), output (n_out, sites)."""
    args = "cell" if arrays_in else ", ".join(f"cell[{i}]" for i in range(n_in))
    return device_source(function) + f"""
extern "C" __global__
void apply(const double* x, double* out, long long sites)
{{
    long long s = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (s >= sites) return;
    double cell[{n_in}], result[{n_out}];
    for (int i = 0; i < {n_in}; ++i) cell[i] = x[i * sites + s];
    for (int i = 0; i < {n_out}; ++i) result[i] = 0.0;
    {c_name(function)}({args}, result);
    for (int i = 0; i < {n_out}; ++i) out[i * sites + s] = result[i];
}}
"""


def _run(cupy, source, x, n_out):
    sites = x.shape[1]
    out = cupy.empty((n_out, sites))
    kernel = cupy.RawKernel(source, "apply", options=("--fmad=false",))
    kernel(((sites + 63) // 64,), (64,), (cupy.asarray(x), out, np.int64(sites)))
    return cupy.asnumpy(out)


def _hard_numbers(rng, sites):
    """Three rows of values where the grouping of sums and products shows: random magnitudes
    over 40 decades with both signs, and an exact cancellation."""
    x = rng.standard_normal((3, sites)) * 10.0 ** rng.integers(-20, 20, (3, sites))
    x[:, :8] = [[1.0], [1e16], [-1e16]]
    return x


def test_the_translation_is_fully_parenthesised_and_typed():
    device = translate(_grouping)
    assert device.params == (("a", "scalar"), ("b", "scalar"), ("c", "scalar"), ("out", "out"))
    assert not device.returns
    assert "v_out[0] = ((v_a + v_b) + v_c);" in device.source
    assert "v_out[1] = (v_a + (v_b + v_c));" in device.source
    assert "v_out[2] = (((v_a * v_b) / v_c) - (-v_a));" in device.source
    assert "v_out[4] = ((1.0 / 3.0) * v_a);" in device.source
    helper = translate(_helper)
    assert helper.returns and "__device__ __forceinline__ double " in helper.source
    rhs = translate(qk.rhs_with)
    assert dict(rhs.params)["y"] == "in" and dict(rhs.params)["out"] == "out" and dict(rhs.params)["kL"] == "scalar"
    cell = translate(qk.lattice_cell_rhs)
    assert [d.name for d in cell.callees] == [c_name(qk.rhs_with), c_name(qk.diffusion_with)]
    assert dict(cell.params)["out"] == "out" and dict(cell.params)["lap"] == "in"


def test_small_functions_give_pythons_bits(cupy):
    rng = np.random.default_rng(11)
    x = _hard_numbers(rng, 500)
    got = _run(cupy, _kernel(_grouping, 3, 6, False), x, 6)
    expected = np.empty((6, x.shape[1]))
    for s in range(x.shape[1]):
        _grouping(*(float(v) for v in x[:, s]), expected[:, s])
    assert np.array_equal(got, expected, equal_nan=True)
    assert got[0, 0] == 0.0 and got[1, 0] == 1.0     # (1 + 1e16) − 1e16 and 1 + (1e16 − 1e16)
    x = rng.standard_normal((4, 300))
    got = _run(cupy, _kernel(_unrolled, 4, 6, True), x, 6)
    expected = np.zeros((6, x.shape[1]))
    for s in range(x.shape[1]):
        _unrolled(x[:, s], expected[:, s])
    assert np.array_equal(got, expected)


def _states(rng, sites):
    """Random QKE states with the magnitudes of a run: densities near 2, asymmetries and
    transverse fields from 1e-12 to 1e-2, both signs."""
    y = rng.standard_normal((8, sites)) * 10.0 ** rng.integers(-12, -1, (8, sites))
    y[0] += 2.0
    y[6] += 2.0
    return y


def test_translated_rhs_gives_the_bits_of_numba_and_of_the_numpy_path(cupy):
    """rhs_with on the 'device' at random states and L0: bitwise Numba's rhs_at (whole site_rhs:
    temperature, coefficients, rhs_with) given its coefficients, and bitwise QKELocal.rhs (the
    NumPy path, whole arrays) given the NumPy coefficients."""
    rng = np.random.default_rng(5)
    sites = 400
    y = _states(rng, sites)
    L0 = rng.uniform(-1e-9, 1e-9, sites)
    local = QKELocal(MixingParameters(-1.0, 1e-5), L0)
    source = device_source(qk.rhs_with) + f"""
extern "C" __global__
void apply(const double* y, const double* k, const double* L0, double* out, long long sites)
{{
    long long s = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (s >= sites) return;
    double cell[8], f[8];
    for (int i = 0; i < 8; ++i) cell[i] = y[i * sites + s];
    {c_name(qk.rhs_with)}(cell, k[0], k[1], k[2], k[3], k[4], L0[s], f);
    for (int i = 0; i < 8; ++i) out[i * sites + s] = f[i];
}}
"""
    kernel = cupy.RawKernel(source, "apply", options=("--fmad=false",))

    def on_device(k):
        out = cupy.empty((8, sites))
        kernel(((sites + 63) // 64,), (64,), (cupy.asarray(y), cupy.asarray(np.array(k, dtype=float)),
                                               cupy.asarray(L0), out, np.int64(sites)))
        return cupy.asnumpy(out)

    for T in (30.0, 15.3, 4.0):
        t = local.cosmology.time(T)
        assert np.array_equal(on_device(tuple(local.coefficients(T))), local.rhs(y, local.coefficients(T)))
        p = qk.params(QKELocal(local.params, 0.0), 1e-6, 1e-14, 1e-24)
        k_numba = qk.coefficients_at(qk.temperature_at(t, p), p)[0]
        expected = np.empty((8, sites))
        for s in range(sites):
            p[qk.L0] = L0[s]
            expected[:, s] = qk.rhs_at(t, y[:, s], p)
        assert np.array_equal(on_device(k_numba), expected)


# -- outside the subset ------------------------------------------------------------------------------

def _power(a, out):
    out[0] = a ** 2


def _branch(a, out):
    if a > 0.0:
        out[0] = a


def _builtin(a, out):
    out[0] = abs(a)


def _runtime_index(x, i, out):
    out[0] = x[i]


def _two_indices(K, out):
    out[0] = K[0, 1]


def _sliced(x, out):
    out[0] = x[1:3]


def _pair(a):
    return a, a


def _local_array(a, out):
    w = a
    out[0] = w[0]


def _loop_over_range(x, out):
    for i in range(3):
        out[i] = x[i]


def _while(a, out):
    while a > 1.0:
        a = a * 0.5
    out[0] = a


def _comparison(a, out):
    out[0] = a < 1.0


def _recursive(a):
    return _recursive(a - 1.0)


def _keyword(a, out):
    out[0] = _helper(u=a, v=a)


def _unknown_name(a, out):
    out[0] = a * undefined_value  # noqa: F821


@pytest.mark.parametrize("function, words", [
    (_power, "the operator Pow"), (_branch, "the If statement"), (_builtin, "the call of abs"),
    (_runtime_index, "the index i"), (_two_indices, "K[0, 1] (only one integer index)"),
    (_sliced, "x[1:3]"), (_pair, "a tuple return"), (_local_array, "w is used as an array"),
    (_loop_over_range, "the call of range"), (_while, "the While statement"),
    (_comparison, "the expression a < 1.0"), (_recursive, "the recursive call of _recursive"),
    (_keyword, "keyword arguments in the call of _helper"), (_unknown_name, "the name undefined_value"),
    (qk.site_error, "the call of max"), (qk.temperature, "the operator Pow"),
    (qk.apply_diffusion, "K[P0P, P0P] (only one integer index)")])
def test_constructs_outside_the_subset_are_named(function, words):
    with pytest.raises(TranslationError, match="line") as info:
        translate(function)
    assert words in str(info.value) and function.__name__ in str(info.value)


def _shadowed_index(x, out):
    SCALE = 0.0                                   # a local: not the module's int
    out[SCALE] = x[0]


def test_a_local_is_never_taken_for_the_module_constant_of_its_name():
    with pytest.raises(TranslationError, match="the index SCALE"):
        translate(_shadowed_index)
    with pytest.raises(TranslationError, match=r"_bad_constant \(line \d+ of .*\): the constant"):
        translate(_bad_constant)


def _bad_constant(a, out):
    out[0] = a * "text"
