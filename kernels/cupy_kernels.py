"""Fused CUDA kernels (CuPy) behind the signatures of the NumPy kernels.

The CuPy backend's `laplacian`, `apply_field_major`, `stage_diffusion` and `subtract_combination`
(`kernels.cupy_ops`) are these: each is one pass over memory (every input element read once,
every output written once), where the sequence of whole-array calls makes 5–20 passes and as
many launches; `explicit_stage` is a model's per-cell right-hand side (translated from its Python
by kernels.cuda_source), the Laplacian and the next stage combination in one pass, and for an
error estimate its weighted error per cell (the model's cell error function, translated too)
instead of the estimate (kernels.explicit_stage); `stage_preconditioner` is the per-site LU of
kernels.cpu_kernels.stage_preconditioner, one thread per site; `BinnedRows` forms the terms of
the reproducible sums on the fly (row maxima, then exact bins). Every operation is
that of the compiled CPU loop, in its order, and the kernels are compiled without FMA contraction
(`--fmad=false`), so results are bitwise those of the NumPy backend (tests/kernels/test_backend.py).
Imported only where CuPy is installed, when a CuPy backend is made.
"""

from __future__ import annotations

import functools

import cupy
import numpy as np

from kernels.cpu_kernels import BINNED_FLOOR
from kernels.explicit_stage import KERNEL_NAME, MAX_ROWS, explicit_stage_source
from kernels.stencil import box_bounds

_THREADS = 256
_OPTIONS = ("--fmad=false",)
"""NVRTC options of every kernel (written out in the RawKernel calls too, for tools that read the
sources): no contraction of a product and a sum into one rounding. tests/kernels/test_nvrtc.py
compiles every source with NVRTC for sm_90 and checks that no fma is left."""

_LAPLACIAN = cupy.RawKernel(r'''
extern "C" __global__
void laplacian(const double* u, double* out, long long n_fields,
               long long n0, long long n1, long long n2,      // interior cells per axis
               long long h0, long long h1, long long h2,      // ghost width per axis (0: no axis)
               double c0, double c1, double c2,               // 1/dx² per axis (0: no axis)
               long long l0, long long l1, long long l2,      // the box of cells computed: its start
               long long m0, long long m1, long long m2)      // and its cells per axis
{
    long long box = m0 * m1 * m2;
    long long idx = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (idx >= n_fields * box) return;
    long long f = idx / box, r = idx % box;
    long long i = l0 + r / (m1 * m2), j = l1 + (r / m2) % m1, k = l2 + r % m2;
    long long p1 = n1 + 2 * h1, p2 = n2 + 2 * h2, p0 = n0 + 2 * h0;
    long long s0 = p1 * p2, s1 = p2;
    long long c = f * p0 * s0 + (i + h0) * s0 + (j + h1) * s1 + (k + h2);
    double centre2 = 2.0 * u[c];
    double acc = (u[c + s0] + u[c - s0] - centre2) * c0;
    if (h1) acc += (u[c + s1] + u[c - s1] - centre2) * c1;
    if (h2) acc += (u[c + 1] + u[c - 1] - centre2) * c2;
    out[((f * n0 + i) * n1 + j) * n2 + k] = acc;
}
''', "laplacian", options=("--fmad=false",))

_WRAP_AXIS = cupy.RawKernel(r'''
extern "C" __global__
void wrap_axis(double* u, long long outer, long long p, long long inner, long long halo)
{
    // u viewed as (outer, p, inner): p padded cells along the axis; one thread per ghost cell
    long long idx = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    long long layer = outer * halo * inner;
    if (idx >= 2 * layer) return;
    long long side = idx / layer, r = idx % layer;
    long long o = r / (halo * inner), g = (r / inner) % halo, x = r % inner;
    long long ghost = side ? p - halo + g : g;
    long long source = side ? halo + g : p - 2 * halo + g;
    u[(o * p + ghost) * inner + x] = u[(o * p + source) * inner + x];
}
''', "wrap_axis", options=("--fmad=false",))

_BLOCK_PRODUCT = cupy.RawKernel(r'''
extern "C" __global__
void block_product(const double* M, const double* v, double* out, long long n, long long sites)
{
    long long s = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (s >= sites) return;
    double x[16];
    for (int j = 0; j < n; ++j) x[j] = v[j * sites + s];
    for (int i = 0; i < n; ++i) {
        double acc = M[(i * n) * sites + s] * x[0];
        for (int j = 1; j < n; ++j) acc += M[(i * n + j) * sites + s] * x[j];
        out[i * sites + s] = acc;
    }
}
''', "block_product", options=("--fmad=false",))

_STAGE_PRECONDITIONER = r'''
#define N __N__
// The per-site stage preconditioner of kernels.cpu_kernels.stage_preconditioner, operation by
// operation: G = σ − J + own_cell K, LU with partial pivoting (kernels.small_lu), then M⁻¹ column
// by column, each entry scaled by w_c / w_i. Two kernels: `stage_preconditioner` stores the
// scaled M⁻¹ (N, N, sites) from stored blocks J; `apply_stage_preconditioner` stores nothing:
// it rebuilds J from JacobianTerms (uniform + Σ_k scalar_k pattern_k, in order of k), forms the
// same M⁻¹ and multiplies it into v as block_product does (the same numbers as the stored path).

__device__ void lu_factor(double G[N][N], int piv[N])
{
    for (int k = 0; k < N; ++k) {
        double best = fabs(G[k][k]);
        int p = k;
        for (int i = k + 1; i < N; ++i) {
            double v = fabs(G[i][k]);
            if (v > best) { best = v; p = i; }
        }
        piv[k] = p;
        if (p != k)
            for (int j = 0; j < N; ++j) { double t = G[k][j]; G[k][j] = G[p][j]; G[p][j] = t; }
        double inv = 1.0 / G[k][k];
        for (int i = k + 1; i < N; ++i) {
            G[i][k] *= inv;
            double l_ik = G[i][k];
            if (l_ik != 0.0)
                for (int j = k + 1; j < N; ++j) G[i][j] -= l_ik * G[k][j];
        }
    }
}

__device__ void inverse_column(const double G[N][N], const int piv[N], int c, double column[N])
{
    for (int i = 0; i < N; ++i) column[i] = 0.0;
    column[c] = 1.0;
    for (int k = 0; k < N; ++k) {
        int p = piv[k];
        if (p != k) { double t = column[k]; column[k] = column[p]; column[p] = t; }
    }
    for (int i = 1; i < N; ++i) {
        double acc = column[i];
        for (int j = 0; j < i; ++j) acc -= G[i][j] * column[j];
        column[i] = acc;
    }
    for (int i = N - 1; i >= 0; --i) {
        double acc = column[i];
        for (int j = i + 1; j < N; ++j) acc -= G[i][j] * column[j];
        column[i] = acc / G[i][i];
    }
}

__device__ double terms_entry(const double* uniform, const double* patterns, const double* scalars,
                             long long n_terms, long long s, long long sites, int i, int j)
{
    // Entry (i, j) of site s's Jacobian from JacobianTerms, added in order of k as blocks() adds.
    double J = uniform[i * N + j];
    for (long long k = 0; k < n_terms; ++k) J += scalars[k * sites + s] * patterns[(k * N + i) * N + j];
    return J;
}

extern "C" __global__
void stage_preconditioner(const double* blocks, const double* K, double own_cell, double sigma,
                          const double* w, double* M_inv, long long sites)
{
    // blocks (sites, N, N) site-major; K (N, N); w (N, sites); M_inv (N, N, sites).
    long long s = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (s >= sites) return;
    double G[N][N], column[N];
    int piv[N];
    const double* B = blocks + s * N * N;
    for (int i = 0; i < N; ++i) {
        for (int j = 0; j < N; ++j) G[i][j] = -B[i * N + j] + own_cell * K[i * N + j];
        G[i][i] += sigma;
    }
    lu_factor(G, piv);
    for (int c = 0; c < N; ++c) {
        inverse_column(G, piv, c, column);
        for (int i = 0; i < N; ++i) M_inv[(i * N + c) * sites + s] = column[i] * (w[c * sites + s] / w[i * sites + s]);
    }
}

extern "C" __global__
void apply_stage_preconditioner(const double* uniform, const double* patterns, const double* scalars,
                                long long n_terms, const double* K, double own_cell, double sigma,
                                const double* w, const double* v, double* out, long long sites)
{
    // uniform (N, N); patterns (n_terms, N, N); scalars (n_terms, sites); w, v, out (N, sites).
    long long s = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (s >= sites) return;
    double G[N][N], column[N], acc[N], wi[N];
    int piv[N];
    for (int i = 0; i < N; ++i) {
        for (int j = 0; j < N; ++j)
            G[i][j] = -terms_entry(uniform, patterns, scalars, n_terms, s, sites, i, j) + own_cell * K[i * N + j];
        G[i][i] += sigma;
    }
    lu_factor(G, piv);
    for (int i = 0; i < N; ++i) wi[i] = w[i * sites + s];
    for (int c = 0; c < N; ++c) {
        inverse_column(G, piv, c, column);
        double wc = w[c * sites + s], vc = v[c * sites + s];
        for (int i = 0; i < N; ++i) {
            double m = column[i] * (wc / wi[i]);
            acc[i] = c == 0 ? m * vc : acc[i] + m * vc;
        }
    }
    for (int i = 0; i < N; ++i) out[i * sites + s] = acc[i];
}

extern "C" __global__
void apply_jacobian_terms(const double* uniform, const double* patterns, const double* scalars,
                          long long n_terms, const double* v, double* out, long long sites)
{
    // out = J v per site, J rebuilt from JacobianTerms as above, the product in block_product's
    // order (the same numbers as to_field_major(blocks) then apply_field_major).
    long long s = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (s >= sites) return;
    double x[N];
    for (int j = 0; j < N; ++j) x[j] = v[j * sites + s];
    for (int i = 0; i < N; ++i) {
        double acc = 0.0;
        for (int j = 0; j < N; ++j) {
            double J = terms_entry(uniform, patterns, scalars, n_terms, s, sites, i, j);
            acc = j == 0 ? J * x[0] : acc + J * x[j];
        }
        out[i * sites + s] = acc;
    }
}
'''


_STAGE_DIFFUSION = cupy.RawKernel(r"""
extern "C" __global__
void stage_diffusion(const double* x, const double* w, const double* lap, const double* K, double own_cell,
                     double* out, long long n, long long sites)
{
    long long s = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (s >= sites) return;
    for (long long i = 0; i < n; ++i) {
        double tendency = 0.0;                      // K (lap + own_cell x w) over the nonzero K[i, k]
        bool first = true;
        for (long long k = 0; k < n; ++k) {
            double c = K[i * n + k];
            if (c == 0.0) continue;
            double term = (lap[k * sites + s] + own_cell * (x[k * sites + s] * w[k * sites + s])) * c;
            if (first) { tendency = term; first = false; } else tendency += term;
        }
        out[i * sites + s] = -(tendency / w[i * sites + s]);
    }
}
""", "stage_diffusion", options=("--fmad=false",))

_COMBINE = cupy.RawKernel(r"""
extern "C" __global__
void combine(const double* base, const double* r0, const double* r1, const double* r2, const double* r3,
             const double* r4, const double* r5, const double* r6, const double* r7,
             double c0, double c1, double c2, double c3, double c4, double c5, double c6, double c7,
             int count, int has_base, double* out, long long n)
{
    long long i = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (i >= n) return;
    const double* rows[8] = {r0, r1, r2, r3, r4, r5, r6, r7};
    const double c[8] = {c0, c1, c2, c3, c4, c5, c6, c7};
    int first = 0;
    double acc;
    if (has_base) acc = base[i];
    else { acc = r0[i] * c0; first = 1; }
    for (int j = first; j < count; ++j) acc += rows[j][i] * c[j];     // in order of j
    out[i] = acc;
}
""", "combine", options=("--fmad=false",))


def combine(rows, weights, base=None):
    """As kernels.numpy_ops.combine (the same products and sums per element, in order), one
    pass per 8 nonzero terms; a new device array."""
    terms = [(cupy.ascontiguousarray(k), float(c)) for k, c in zip(rows, weights) if float(c) != 0.0]
    if not terms:
        return base.copy() if base is not None else cupy.zeros_like(rows[0])
    out = cupy.empty(terms[0][0].shape)
    start = None if base is None else cupy.ascontiguousarray(base)
    for at in range(0, len(terms), 8):
        chunk = terms[at:at + 8]
        arrays = [k for k, _ in chunk] + [chunk[0][0]] * (8 - len(chunk))
        weights8 = [cupy.float64(c) for _, c in chunk] + [cupy.float64(0.0)] * (8 - len(chunk))
        _COMBINE(_blocks(out.size), (_THREADS,),
                 (start if start is not None else chunk[0][0], *arrays, *weights8, cupy.int32(len(chunk)),
                  cupy.int32(start is not None), out, cupy.int64(out.size)))
        start = out
    return out


_SUBTRACT_COMBINATION = cupy.RawKernel(r"""
extern "C" __global__
void subtract_combination(double* w, const double* c, const double* V, long long k, long long n)
{
    long long i = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (i >= n) return;
    double acc = w[i];
    for (long long q = 0; q < k; ++q) acc -= V[q * n + i] * c[q];     // in order of q
    w[i] = acc;
}
""", "subtract_combination", options=("--fmad=false",))


def stage_diffusion(x, w, lap, K, own_cell, out):
    """As kernels.cpu_kernels.stage_diffusion (the same operations in the same order), one thread
    per site, one pass: x, w, lap, out (n, *grid) on the device (out C-contiguous), K
    (n, n) on the host (copied once per distinct K)."""
    n = x.shape[0]
    sites = x.size // n
    _STAGE_DIFFUSION(_blocks(sites), (_THREADS,),
                     (cupy.ascontiguousarray(x), cupy.ascontiguousarray(w), cupy.ascontiguousarray(lap),
                      _on_device(K), cupy.float64(own_cell), out,
                      cupy.int64(n), cupy.int64(sites)))
    return out


def subtract_combination(w, c, V):
    """As kernels.cpu_kernels.subtract_combination: w −= c_0 V_0, then c_1 V_1, … per element in
    order of k, one pass (w C-contiguous on the device, V (≥ len(c), *w.shape), c on the host)."""
    c = np.ascontiguousarray(c, dtype=float)
    if c.size:
        _SUBTRACT_COMBINATION(_blocks(w.size), (_THREADS,),
                              (w, cupy.asarray(c), cupy.ascontiguousarray(V[:c.size]), cupy.int64(c.size),
                               cupy.int64(w.size)))
    return w


_K_ON_DEVICE = {}


def _on_device(K):
    """The small host matrix K on the device, copied once per distinct value (the stage diffusion
    is applied with the same K throughout an attempt)."""
    K = np.ascontiguousarray(K, dtype=float)
    key = K.tobytes()
    if key not in _K_ON_DEVICE:
        _K_ON_DEVICE.clear()
        _K_ON_DEVICE[key] = cupy.asarray(K)
    return _K_ON_DEVICE[key]


_TERMS = r"""
// Row `row` of the terms: V[row]·w for row < k, w·w for row k; with `plain`, V[row] itself.
#define TERM(j) (plain ? a[j] : a[j] * w[j])
#define ROW_SETUP \
    long long t = (long long)blockDim.x * blockIdx.x + threadIdx.x; \
    if (t >= rows * per_row) return; \
    long long row = t / per_row, lane = t % per_row; \
    const double* a = row < k ? V + row * n : w;
"""

_ROW_MAXIMA = cupy.RawKernel(_TERMS + r"""
extern "C" __global__
void row_maxima(const double* V, const double* w, double* partial,
                long long rows, long long k, long long n, long long per_row, int plain)
{
    ROW_SETUP
    double largest = 0.0, nonfinite = 0.0;
    for (long long j = lane; j < n; j += per_row) {   // neighbouring threads, neighbouring elements
        double x = TERM(j);
        double magnitude = x < 0.0 ? -x : x;
        if (magnitude > largest) largest = magnitude;
        if (!((x - x) == 0.0)) nonfinite = 1.0;        // NaN or ±inf
    }
    partial[2 * t] = largest;
    partial[2 * t + 1] = nonfinite;
}
""", "row_maxima", options=("--fmad=false",))

_ROW_GRIDS = r"""
__device__ long long floor_div(long long a, long long b) {
    long long q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

extern "C" __global__
void row_grids(const double* partial, double* out, double* shifts, long long rows, long long per_row,
               long long width)
{
    // One thread per row: the row's largest |term| and non-finite flag from the threads' partial
    // results, its top B (the smallest multiple of width with largest < 2^(B-1); __FLOOR__ for a
    // zero or non-finite row) into out[row, 0:2], and the bins' shifts 1.5 * 2^(c_b + 52).
    long long row = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (row >= rows) return;
    double largest = 0.0, nonfinite = 0.0;
    for (long long p = 0; p < per_row; ++p) {
        double m = partial[2 * (row * per_row + p)];
        if (m > largest) largest = m;
        if (partial[2 * (row * per_row + p) + 1] != 0.0) nonfinite = 1.0;
    }
    long long top = __FLOOR__;
    if (nonfinite == 0.0 && largest != 0.0) {
        int e;
        frexp(largest, &e);                               // largest < 2^e
        top = -floor_div(-((long long)e + 1), width) * width;
    }
    out[row * (2 + __BINS__)] = (double)top;
    out[row * (2 + __BINS__) + 1] = nonfinite;
    for (int b = 0; b < __BINS__; ++b) {
        long long c = top - (b + 1) * width;
        shifts[row * __BINS__ + b] = ldexp(1.5, (int)((c > -1074 ? c : -1074) + 52));
    }
}

extern "C" __global__
void row_finish(const double* partial, double* out, long long rows, long long per_row)
{
    // One thread per row: the threads' partial bins added (exactly: any order) into
    // out[row, 2:], zero for a non-finite row.
    long long row = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (row >= rows) return;
    bool nonfinite = out[row * (2 + __BINS__) + 1] != 0.0;
    for (int b = 0; b < __BINS__; ++b) {
        double sum = 0.0;
        for (long long p = 0; p < per_row; ++p) sum += partial[(row * per_row + p) * __BINS__ + b];
        out[row * (2 + __BINS__) + 2 + b] = nonfinite ? 0.0 : sum;
    }
}
"""

_ROW_BINS = _TERMS + r"""
extern "C" __global__
void row_bins(const double* V, const double* w, const double* shifts, double* partial,
              long long rows, long long k, long long n, long long per_row, int plain)
{
    ROW_SETUP
    double shift[__BINS__], sum[__BINS__];
    for (int b = 0; b < __BINS__; ++b) { shift[b] = shifts[row * __BINS__ + b]; sum[b] = 0.0; }
    for (long long j = lane; j < n; j += per_row) {
        double r = TERM(j);
        for (int b = 0; b < __BINS__; ++b) {
            double p = (r + shift[b]) - shift[b];
            sum[b] += p;
            r -= p;
        }
    }
    for (int b = 0; b < __BINS__; ++b) partial[t * __BINS__ + b] = sum[b];
}
"""


@functools.cache
def _binned_kernels(n_bins):
    """(row_grids, row_bins, row_finish) for n_bins bins (a compile-time constant: the per-thread
    bins stay in registers)."""
    grids = _ROW_GRIDS.replace("__BINS__", str(int(n_bins))).replace("__FLOOR__", str(BINNED_FLOOR))
    return (cupy.RawKernel(grids, "row_grids", options=_OPTIONS),
            cupy.RawKernel(_ROW_BINS.replace("__BINS__", str(int(n_bins))), "row_bins", options=_OPTIONS),
            cupy.RawKernel(grids, "row_finish", options=_OPTIONS))


class BinnedRows:
    """The rows of terms the binned sums take without storing them: V[i]·w for the rows of V
    (k, n) and, with `with_norm`, w·w as row k; with w None, the rows of V themselves. Each
    thread of a row handles a strided share of its elements (coalesced); one thread per row
    then combines the threads' partial results (maxima, or exact bin sums: any order)."""

    def __init__(self, V, w, with_norm):
        self.V = cupy.ascontiguousarray(V, dtype=cupy.float64).reshape(V.shape[0], -1)
        self.k, self.n = self.V.shape
        self.plain = w is None
        self.w = self.V if self.plain else cupy.ascontiguousarray(w, dtype=cupy.float64).reshape(-1)
        self.rows = self.k + bool(with_norm)
        self.per_row = max(1, min(4096, self.n // 32))

    def binned(self, width, n_bins):
        """(B, nonfinite, bins) per row, as kernels.cpu_kernels.binned_row_sums: four launches."""
        grids, bins, finish = _binned_kernels(n_bins)
        threads = self.rows * self.per_row
        sizes = (cupy.int64(self.rows), cupy.int64(self.k), cupy.int64(self.n), cupy.int64(self.per_row),
                 cupy.int32(self.plain))
        maxima = cupy.empty((threads, 2))
        _ROW_MAXIMA(_blocks(threads), (_THREADS,), (self.V, self.w, maxima, *sizes))
        out, shifts = cupy.empty((self.rows, 2 + n_bins)), cupy.empty((self.rows, n_bins))
        grids(_blocks(self.rows), (_THREADS,),
              (maxima, out, shifts, cupy.int64(self.rows), cupy.int64(self.per_row), cupy.int64(width)))
        partial = cupy.empty((threads, n_bins))
        bins(_blocks(threads), (_THREADS,), (self.V, self.w, shifts, partial, *sizes))
        finish(_blocks(self.rows), (_THREADS,), (partial, out, cupy.int64(self.rows), cupy.int64(self.per_row)))
        return out


@functools.cache
def _stage_preconditioner_kernel(n, name="stage_preconditioner"):
    """The stage-preconditioner kernel `name` (stage_preconditioner or apply_stage_preconditioner)
    for blocks of size n (n a compile-time constant, so the per-thread matrices stay in
    registers)."""
    return cupy.RawKernel(_STAGE_PRECONDITIONER.replace("__N__", str(int(n))), name, options=_OPTIONS)


def _blocks(count):
    return ((int(count) + _THREADS - 1) // _THREADS,)


def laplacian(u, halo, spacing, out=None, box=None):
    """Σ_axes (u[i+1] − 2u[i] + u[i−1]) / dx² on the interior of a padded CuPy array (one pass),
    or on the cells of `box` alone (kernels.numpy_ops.laplacian).

    u: (n_fields, *padded), C-contiguous float64, ghosts filled; 1–3 spatial axes.
    """
    u = cupy.ascontiguousarray(u, dtype=cupy.float64)
    interior = tuple(n - 2 * halo for n in u.shape[1:])
    if out is None:
        out = cupy.empty((u.shape[0],) + interior)
    ndim = len(interior)
    n = interior + (1,) * (3 - ndim)                 # the lattice's axes first, missing ones last
    h = (halo,) * ndim + (0,) * (3 - ndim)
    inv = tuple(1.0 / (dx * dx) for dx in spacing) + (0.0,) * (3 - ndim)
    lo, hi = box_bounds(box, interior, 0)
    lo, m = tuple(lo) + (0,) * (3 - ndim), tuple(int(b - a) for a, b in zip(lo, hi)) + (1,) * (3 - ndim)
    total = u.shape[0] * m[0] * m[1] * m[2]
    if box is not None and not out.flags.c_contiguous:
        raise ValueError("laplacian: a box needs a C-contiguous out")
    target = out if out.flags.c_contiguous else cupy.empty(out.shape)
    if total:
        _LAPLACIAN(_blocks(total), (_THREADS,),
                   (u, target, cupy.int64(u.shape[0]), *(cupy.int64(x) for x in n), *(cupy.int64(x) for x in h),
                    *(cupy.float64(x) for x in inv), *(cupy.int64(x) for x in lo), *(cupy.int64(x) for x in m)))
    if target is not out:
        out[...] = target
    return out


def wrap_axis(u, axis, halo):
    """kernels.numpy_ops.wrap_axis on a C-contiguous float64 CuPy u, one launch."""
    if not u.flags.c_contiguous or u.dtype != cupy.float64:
        raise ValueError("wrap_axis: u must be a C-contiguous float64 array")
    p = u.shape[axis + 1]
    outer = int(np.prod(u.shape[:axis + 1]))
    inner = int(np.prod(u.shape[axis + 2:]))
    _WRAP_AXIS(_blocks(2 * outer * halo * inner), (_THREADS,),
               (u, cupy.int64(outer), cupy.int64(p), cupy.int64(inner), cupy.int64(halo)))
    return u


def apply_field_major(matrices, vectors, out=None):
    """Per-site M v for field-major M (n, n, *grid) and v (n, *grid), CuPy, one pass (n ≤ 16)."""
    n = vectors.shape[0]
    if n > 16:
        raise ValueError(f"block size {n} > 16 is not supported by the fused kernel")
    M = cupy.ascontiguousarray(matrices, dtype=cupy.float64)
    v = cupy.ascontiguousarray(vectors, dtype=cupy.float64)
    if out is None:
        out = cupy.empty_like(v)
    sites = v.size // n
    target = out if out.flags.c_contiguous else cupy.empty(v.shape)
    _BLOCK_PRODUCT(_blocks(sites), (_THREADS,), (M, v, target, cupy.int64(n), cupy.int64(sites)))
    if target is not out:
        out[...] = target
    return out


class _TermsKernel:
    """A kernel of the _STAGE_PRECONDITIONER template that rebuilds each site's Jacobian from
    JacobianTerms (k scalars per site) instead of reading a stored n×n block."""

    def __init__(self, terms, name):
        self.uniform = cupy.ascontiguousarray(cupy.asarray(terms.uniform, dtype=cupy.float64))
        self.patterns = cupy.ascontiguousarray(cupy.asarray(terms.patterns, dtype=cupy.float64))
        self.scalars = cupy.ascontiguousarray(terms.scalars, dtype=cupy.float64)
        self.n = int(self.uniform.shape[0])
        self.kernel = _stage_preconditioner_kernel(self.n, name)

    def _launch(self, v, out, *middle):
        v = cupy.ascontiguousarray(v, dtype=cupy.float64)
        if out is None:
            out = cupy.empty_like(v)
        sites = v.size // self.n
        self.kernel(_blocks(sites), (_THREADS,),
                    (self.uniform, self.patterns, self.scalars, cupy.int64(self.patterns.shape[0]), *middle, v,
                     out, cupy.int64(sites)))
        return out


class JacobianProduct(_TermsKernel):
    """J v per site from JacobianTerms, bitwise as the stored field-major blocks' product
    (to_field_major, then apply_field_major), storing k scalars per site instead of n²."""

    def __init__(self, terms):
        super().__init__(terms, "apply_jacobian_terms")

    def apply(self, v, out=None):
        """J v: v, out (n, *grid) on the device (out C-contiguous)."""
        return self._launch(v, out)


class StagePreconditioner(_TermsKernel):
    """The stage preconditioner of kernels.numpy_ops.stage_preconditioner kept as the Jacobian's
    terms (JacobianTerms: k scalars per site) instead of M_inv (n² numbers per site): `apply`
    forms each site's scaled M⁻¹ and multiplies it into v in one kernel, with the operations of
    the stored path (stage_preconditioner, then apply_field_major) in their order, so the
    product is bitwise the same. It reads v, w and the scalars (2n + k numbers per site) where
    the stored product reads n² + n."""

    def __init__(self, terms, K, own_cell, sigma, w):
        super().__init__(terms, "apply_stage_preconditioner")
        self.K, self.own_cell, self.sigma = _on_device(K), own_cell, sigma
        self.w = cupy.ascontiguousarray(w, dtype=cupy.float64)

    def apply(self, v, out=None):
        """M_inv v per site: v, out (n, *grid) on the device (out C-contiguous)."""
        return self._launch(v, out, self.K, cupy.float64(self.own_cell), cupy.float64(self.sigma), self.w)


def stage_preconditioner(blocks, K, own_cell, sigma, w):
    """As kernels.cpu_kernels.stage_preconditioner (the same operations in the same order), one
    thread per site: blocks (*grid, n, n) site-major on the device, K (n, n) on the host, w
    (n, *grid); returns M_inv, field-major (n, n, *grid)."""
    n, grid = w.shape[0], w.shape[1:]
    sites = int(w.size // n)
    M_inv = cupy.empty((n, n) + grid)
    _stage_preconditioner_kernel(n)(
        _blocks(sites), (_THREADS,),
        (cupy.ascontiguousarray(blocks, dtype=cupy.float64), cupy.asarray(K, dtype=cupy.float64),
         cupy.float64(own_cell), cupy.float64(sigma), cupy.ascontiguousarray(w, dtype=cupy.float64), M_inv,
         cupy.int64(sites)))
    return M_inv


@functools.cache
def _explicit_stage_kernel(function, n_fields, n_coefficients, n_values, error=None, n_error_constants=0):
    """The fused explicit-stage kernel of kernels.explicit_stage for one model cell function (and
    cell error function) and their sizes (compile-time constants: the per-thread arrays stay in
    registers)."""
    source = explicit_stage_source(function, n_fields, n_coefficients, n_values, error, n_error_constants)
    return cupy.RawKernel(source, KERNEL_NAME, options=_OPTIONS)


@functools.cache
def _placeholder():
    """A one-element device array passed for pointer arguments a launch does not read."""
    return cupy.zeros(1)


def explicit_stage(cell, coefficients, values, u, halo, spacing, k, rows, weights, base=None,
                   padded_out=None, plain_out=None, error=None, measure=None, box=None, argument=None):
    """One fused explicit stage (kernels.explicit_stage), one thread per cell, one launch:

    with u (a padded argument (n, *padded), C-contiguous, ghosts filled), k = cell(c, y, lap, q)
    at every cell into k (n, *grid), lap the comoving Laplacian of u's interior
    (kernels.numpy_ops.laplacian's operations); with u None, k holds the stage value already.
    Then the combination base + Σ_j weights_j rows_j + weights[len(rows)]·k, as
    kernels.numpy_ops.combine(rows + [k], weights, base) forms it (zero weights skipped), into
    the interior of padded_out and/or into plain_out (n, *grid). With `measure`, the
    combination is an error estimate: its weighted error at every cell, error(c, combination,
    start, y, q) with y the cell's argument (u's interior), into cell_error (grid,) (the
    estimate itself is stored only where padded_out or plain_out asks). Returns k.

    Args:
        cell: the model's cell function (lattice.model.FusedCell.function).
        coefficients: its coefficients of the stage's time (host floats).
        values: per-cell values (n_values, *grid) on the device.
        halo, spacing: ghost width of u and padded_out [cells]; grid spacing per axis.
        rows: stored stage values (n, *grid); at most MAX_ROWS with nonzero weights.
        error: None, or (the model's cell error function, the number of its constants): the
            kernel is built with it (pass it at every stage of an attempt: one kernel).
        measure: None, or (constants (host floats), start (n, *grid), cell_error (grid,)), the
            latter two C-contiguous on the device; needs `error`, and u or `argument`.
        argument: without u, the cells' argument (n, *grid) for `measure` (the error of a
            given estimate, e.g. rows [estimate] with weight 1: the combination is it exactly).
        box: None, or ((lo, hi) per axis): only those cells (kernels.numpy_ops.laplacian).
    """
    n, grid = k.shape[0], k.shape[1:]
    sites = k.size // n
    coefficients = [float(x) for x in coefficients]
    values = cupy.ascontiguousarray(values, dtype=cupy.float64)
    error_function, n_constants = error if error is not None else (None, 0)
    kernel = _explicit_stage_kernel(cell, n, len(coefficients), values.shape[0], error_function, n_constants)
    if measure is not None and ((u is None and argument is None) or error is None):
        raise ValueError("measuring the combination needs the stage's argument (u or argument) and a cell error "
                         "function")
    constants, start, cell_error = measure if measure is not None else ((0.0,) * n_constants, None, None)
    if len(constants) != n_constants:
        raise ValueError(f"{len(constants)} error constants for a cell error function of {n_constants}")
    terms = [(cupy.ascontiguousarray(r), float(w)) for r, w in zip(rows, weights) if float(w) != 0.0]
    if len(terms) > MAX_ROWS:
        raise ValueError(f"{len(terms)} stored rows with nonzero weights: one stage combines at most {MAX_ROWS}")
    wk = float(weights[len(rows)]) if len(weights) > len(rows) else 0.0
    dummy = _placeholder()
    arrays = [r for r, _ in terms] + [dummy] * (MAX_ROWS - len(terms))
    w8 = [cupy.float64(w) for _, w in terms] + [cupy.float64(0.0)] * (MAX_ROWS - len(terms))
    ndim = len(grid)
    shape = tuple(grid) + (1,) * (3 - ndim)
    ghosts = (halo,) * ndim + (0,) * (3 - ndim)
    inv = tuple(1.0 / (dx * dx) for dx in spacing) + (0.0,) * (3 - ndim)
    lo, hi = box_bounds(box, grid, 0)
    lo, m = tuple(lo) + (0,) * (3 - ndim), tuple(int(b - a) for a, b in zip(lo, hi)) + (1,) * (3 - ndim)
    cells = m[0] * m[1] * m[2]
    if not cells:
        return k
    kernel(_blocks(cells), (_THREADS,),
           (dummy if u is None else u, *(cupy.int64(x) for x in shape), *(cupy.int64(x) for x in ghosts),
            *(cupy.float64(x) for x in inv), values, *(cupy.float64(x) for x in coefficients),
            cupy.int32(u is not None), k, dummy if base is None else cupy.ascontiguousarray(base),
            cupy.int32(base is not None), *arrays, *w8, cupy.int32(len(terms)), cupy.float64(wk),
            cupy.int32(wk != 0.0), dummy if padded_out is None else padded_out, cupy.int32(padded_out is not None),
            dummy if plain_out is None else plain_out, cupy.int32(plain_out is not None),
            *(cupy.float64(x) for x in constants), dummy if start is None else cupy.ascontiguousarray(start),
            dummy if cell_error is None else cell_error, cupy.int32(measure is not None),
            dummy if argument is None else cupy.ascontiguousarray(argument), cupy.int64(sites),
            *(cupy.int64(x) for x in lo), *(cupy.int64(x) for x in m)))
    return k
