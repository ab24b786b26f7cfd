"""The translator of per-site Python kernels to CUDA C (kernels.cuda_source).

The translated functions run in kernels compiled by the CuPy stand-in (tests/conftest.py `cupy`:
g++ for the host, without FMA contraction, as the project builds its kernels for a device with
`--fmad=false`), and give bitwise the numbers of the Python they come from: the QKE's
`rhs_with` against Numba's compiled `physics.qke_kernels.rhs_at` and against the NumPy path's
`QKELocal.rhs`; small functions against Python's own evaluation, where the grouping of the sums
decides the result; abs, math.sqrt and conditional expressions against Python bit for bit at
NaN, ±inf and ±0; the QKE's cell error `lattice_cell_error` against Python, Numba and, its
maximum over cells, `QKEErrorNorm.local` (the NumPy path). Constructs outside the subset are
errors that name the construct.
tests/kernels/test_nvrtc.py compiles the fused stage kernel built on them with NVRTC.
"""

import math

import numpy as np
import pytest

from kernels.cuda_source import TranslationError, c_name, device_source, translate
from physics import qke_kernels as qk
from physics.qke import MixingParameters, QKEErrorNorm, QKELocal

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


# -- abs, math.sqrt, conditional expressions ---------------------------------------------------------

def _intrinsics(a, b, c, out):
    out[0] = abs(a)
    out[1] = math.sqrt(abs(b))
    out[2] = math.sqrt(a * 0.0)                          # sqrt(-0.0) is -0.0
    out[3] = a if a > b or a != a else b                 # np.maximum: NaN from either side
    out[4] = a if a < b and not b != b else -c
    out[5] = (a if a >= c else b) if a != b else (c if b <= -0.0 or not c == c else math.sqrt(c * c))
    out[6] = abs(a - b) / math.sqrt(abs(c) + 1.0) if a == a and b == b else abs(c)
    out[7] = qk.larger(qk.larger(a, b), c)


def _same_bits(a, b):
    """Bitwise equal arrays, any NaN equal to any NaN (a device may give another NaN payload)."""
    nan = np.isnan(a)
    return np.array_equal(nan, np.isnan(b)) and np.array_equal(np.where(nan, 0.0, a).view(np.int64),
                                                               np.where(nan, 0.0, b).view(np.int64))


def _specials():
    """Every triple of NaN, ±inf, ±0 and ±1 (the columns of a (3, 343) array)."""
    values = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1.0, -1.0])
    return np.array(np.meshgrid(values, values, values, indexing="ij")).reshape(3, -1)


def test_abs_sqrt_and_conditional_expressions_give_pythons_bits(cupy):
    device = translate(_intrinsics)
    assert "fabs(v_a)" in device.source and "sqrt(fabs(v_b))" in device.source
    assert "v_out[3] = (((v_a > v_b) || (v_a != v_a)) ? v_a : v_b);" in device.source
    rng = np.random.default_rng(3)
    x = np.concatenate((_specials(), _hard_numbers(rng, 300), rng.standard_normal((3, 200)).round(1)), axis=1)
    got = _run(cupy, _kernel(_intrinsics, 3, 8, False), x, 8)
    expected = np.empty((8, x.shape[1]))
    for s in range(x.shape[1]):
        _intrinsics(*(float(v) for v in x[:, s]), expected[:, s])
    assert _same_bits(got, expected)
    tie = (x[0] == 0.0) & (x[1] == 0.0)                          # ±0 ties: np.maximum's pick varies
    assert _same_bits(got[3][~tie], np.maximum(x[0], x[1])[~tie])   # larger is np.maximum


def _error_cases(rng, sites):
    """(e, y, y_new, L0) of a run's magnitudes, with NaN, ±inf and -0.0 put into single cells of
    each (also the first cells: one of each special per array)."""
    e = rng.standard_normal((8, sites)) * 10.0 ** rng.integers(-16, -4, (8, sites))
    y, y_new = _states(rng, sites), _states(rng, sites)
    L0 = rng.uniform(-1e-9, 1e-9, sites)
    for array in (e, y, y_new, L0[None]):
        for special in (np.nan, np.inf, -np.inf, -0.0):
            for _ in range(3):
                array[rng.integers(array.shape[0]), rng.integers(8, sites)] = special
    e[:, 8] = -0.0                                     # a cell without error
    for cell, special in enumerate((np.nan, np.inf, -np.inf, -0.0)):
        e[cell % 8, cell] = special
        y[(cell + 3) % 8, 4 + cell] = special
    return e, y, y_new, L0


def test_the_cell_error_is_bitwise_the_numpy_norm_of_the_cell(cupy):
    """physics.qke_kernels.lattice_cell_error translated: at every cell bitwise Python's and
    Numba's evaluation and QKEErrorNorm.local of that cell alone (NaN, ±inf, -0.0 in the error,
    the states and L0), and its maximum over cells QKEErrorNorm.local of the whole arrays."""
    import numba

    rng = np.random.default_rng(17)
    sites = 600
    e, y, y_new, L0 = _error_cases(rng, sites)
    constants = np.array([1e-5, 1e-10, 1e-14])
    source = device_source((qk.lattice_cell_error, ("c", "e", "y", "y_new", "q"))) + f"""
extern "C" __global__
void apply(const double* c, const double* e, const double* y, const double* y_new, const double* L0,
           double* out, long long sites)
{{
    long long s = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (s >= sites) return;
    double ce[8], cy[8], cn[8], q[1] = {{L0[s]}};
    for (int i = 0; i < 8; ++i) {{ ce[i] = e[i * sites + s]; cy[i] = y[i * sites + s]; cn[i] = y_new[i * sites + s]; }}
    out[s] = {c_name(qk.lattice_cell_error)}(c, ce, cy, cn, q);
}}
"""
    out = cupy.empty(sites)
    cupy.RawKernel(source, "apply", options=("--fmad=false",))(
        ((sites + 63) // 64,), (64,), tuple(cupy.asarray(a) for a in (constants, e, y, y_new, L0)) + (out, np.int64(sites)))
    got = cupy.asnumpy(out)
    compiled = numba.njit(error_model="numpy")(lambda c, e, y, y_new, q: qk.lattice_cell_error(c, e, y, y_new, q))
    python, numba_, numpy_ = (np.empty(sites) for _ in range(3))
    with np.errstate(all="ignore"):
        for s in range(sites):
            cell = (np.ascontiguousarray(e[:, s]), np.ascontiguousarray(y[:, s]), np.ascontiguousarray(y_new[:, s]),
                    L0[s:s + 1])
            python[s] = qk.lattice_cell_error(list(constants), *(list(a) for a in cell))
            numba_[s] = compiled(constants, *cell)
            norm = QKEErrorNorm(L0[s:s + 1], *constants)
            numpy_[s] = norm.local(*(a[:, None] for a in cell[:3]))
        whole = QKEErrorNorm(L0, *constants).local(e, y, y_new)
    assert np.isnan(got).any() and np.isinf(got).any() and (got == 0.0).any() and np.isfinite(got).sum() > sites // 2
    assert _same_bits(got, python) and _same_bits(got, numba_) and _same_bits(got, numpy_)
    assert _same_bits(np.max(got), whole)
    finite = np.isfinite(got)
    assert _same_bits(np.max(got[finite]), QKEErrorNorm(L0[finite], *constants).local(e[:, finite], y[:, finite],
                                                                                         y_new[:, finite]))


# -- outside the subset ------------------------------------------------------------------------------

def _power(a, out):
    out[0] = a ** 2


def _branch(a, out):
    if a > 0.0:
        out[0] = a


def _builtin(a, out):
    out[0] = max(a, 0.0)


def _math_function(a, out):
    out[0] = math.exp(a)


def _numpy_function(a, out):
    out[0] = np.sqrt(a)


def _two_arguments(a, out):
    out[0] = abs(a, a)


def _chained(a, b, out):
    out[0] = a if 0.0 < a < b else b


def _identity_test(a, b, out):
    out[0] = a if a is b else b


def _number_as_test(a, b, out):
    out[0] = a if a else b


def _or_as_number(a, b, out):
    out[0] = a or b


def _calls_a_local(a, out):
    out[0] = a(1.0)


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


def _not_as_number(a, out):
    out[0] = not a


def _recursive(a):
    return _recursive(a - 1.0)


def _keyword(a, out):
    out[0] = _helper(u=a, v=a)


def _unknown_name(a, out):
    out[0] = a * undefined_value  # noqa: F821


@pytest.mark.parametrize("function, words", [
    (_power, "the operator Pow"), (_branch, "the If statement"), (_builtin, "the call of max (of the builtins"),
    (_math_function, "the call of math.exp (of the builtins and math functions, only abs and math.sqrt"),
    (_numpy_function, "the call of np.sqrt, which is not a Python function"),
    (_two_arguments, "the call of abs (one positional argument)"), (_chained, "the chained comparison"),
    (_identity_test, "the comparison a is b (only < <= > >= == !=)"), (_number_as_test, "the test a (only"),
    (_or_as_number, "the expression a or b (BoolOp)"), (_not_as_number, "the unary operator Not"),
    (_calls_a_local, "the call of the local name a"),
    (_runtime_index, "the index i"), (_two_indices, "K[0, 1] (only one integer index)"),
    (_sliced, "x[1:3]"), (_pair, "a tuple return"), (_local_array, "w is used as an array"),
    (_loop_over_range, "the call of range"), (_while, "the While statement"),
    (_comparison, "the comparison a < 1.0 used as a number"), (_recursive, "the recursive call of _recursive"),
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
