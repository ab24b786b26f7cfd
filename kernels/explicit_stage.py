"""CUDA source of the fused explicit stage: a model's per-cell f, the Laplacian and the next stage
combination in one kernel (launched by kernels.cupy_kernels.explicit_stage).

One thread per cell of a rank's block (or of a box of it: lattice.grid overlaps the halo exchange
with the cells away from it), for a state of F fields on a lattice of 1–3 axes:

1. with `evaluate`, the cell's argument y and its comoving Laplacian lap are read from the padded
   (ghosted) argument u, lap as kernels.cpu_kernels.laplacian forms it ((u₊ + u₋ − 2u)/dx² per
   axis, axes added in order), and the model's per-cell function (translated from its Python
   by kernels.cuda_source) gives k = f(c, y, lap, q) from the time's coefficients c (kernel
   arguments) and the cell's values q; k is stored. Without `evaluate`, k is read (a known
   stage value: DOPRI5's first stage is the last one of the step before);
2. the combination base + Σ_j w_j r_j + w_k k (kernels.numpy_ops.combine: terms in order, zero
   weights already left out by the caller, without base the first term starts the sum) is
   written into the interior of a padded buffer (the next stage's argument, whose ghosts the
   caller then fills) and/or into a plain array;
3. with `measure` (the combination is an error estimate, e.g. DOPRI5's last stage), the model's
   per-cell error function (lattice.model.FusedCell.error, translated too) measures it against
   the step's start (`start`) and the cell's argument y (the step's result) with the norm's
   constants (kernel arguments) and the cell's values q, and the cell's weighted error is
   stored (`cell_error`, one number per cell; their maximum, one reduction, is this rank's
   norm). The estimate itself is not stored.

Each cell reads its argument (and its 2·axes neighbours, from cache), its values, the base and
the stored rows, and writes k and the combination: one pass over memory per stage. Built without
FMA contraction, every number is bitwise that of the NumPy path (f, then combine; the norm's
`local` of the combination).
"""

from __future__ import annotations

import inspect

from kernels.cuda_source import c_name, device_source, python_function, translate

MAX_ROWS = 8
"""Stored rows one launch combines (DOPRI5 needs at most 6)."""

KERNEL_NAME = "explicit_stage"


_TEMPLATE = r"""
extern "C" __global__
void explicit_stage(const double* u,                                 // padded argument (F, p0, p1, p2), read with evaluate
                    long long n0, long long n1, long long n2,        // interior cells per axis (1: no axis)
                    long long h0, long long h1, long long h2,        // ghost width per axis (0: no axis)
                    double i0, double i1, double i2,                 // 1/dx² per axis
                    const double* values,                            // per-cell values (V, sites)
                    __COEFFICIENT_PARAMS__
                    int evaluate, double* k,                         // k (F, sites): written with evaluate, else read
                    const double* base, int has_base,
                    const double* r0, const double* r1, const double* r2, const double* r3,
                    const double* r4, const double* r5, const double* r6, const double* r7,
                    double w0, double w1, double w2, double w3, double w4, double w5, double w6, double w7,
                    int count, double wk, int with_k,                // count stored rows, then k with weight wk
                    double* next_padded, int to_padded,              // the combination into a padded interior
                    double* next_plain, int to_plain,                // and/or into a plain (F, sites) array
                    __ERROR_PARAMS__
                    const double* start, double* cell_error, int measure,   // the combination's norm per cell
                    const double* argument,                          // the cell's argument (F, sites) without evaluate
                    long long sites,
                    long long b0, long long b1, long long b2,        // the box of cells of this launch: its start
                    long long m0, long long m1, long long m2)        // and its cells per axis
{
    long long t = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (t >= m0 * m1 * m2) return;
    long long i = b0 + t / (m1 * m2), j = b1 + (t / m2) % m1, l = b2 + t % m2;
    long long s = (i * n1 + j) * n2 + l;
    long long p1 = n1 + 2 * h1, p2 = n2 + 2 * h2, p0 = n0 + 2 * h0;
    long long s0 = p1 * p2, s1 = p2, field = p0 * s0;
    long long centre = (i + h0) * s0 + (j + h1) * s1 + (l + h2);
    double ks[__F__], y[__F__], q[__V_SIZE__];
    if (evaluate || measure)
        for (int v = 0; v < __V__; ++v) q[v] = values[v * sites + s];
    if (evaluate) {
        double lap[__F__], c[__C_SIZE__] = {__COEFFICIENTS__};
        for (int f = 0; f < __F__; ++f) {
            const double* at = u + f * field + centre;
            double mid = at[0], twice = 2.0 * mid;
            double acc = (at[s0] + at[-s0] - twice) * i0;
            if (h1) acc += (at[s1] + at[-s1] - twice) * i1;
            if (h2) acc += (at[1] + at[-1] - twice) * i2;
            y[f] = mid;
            lap[f] = acc;
        }
        __FUNCTION__(c, y, lap, q, ks);
        for (int f = 0; f < __F__; ++f) k[f * sites + s] = ks[f];
    } else {
        for (int f = 0; f < __F__; ++f) ks[f] = k[f * sites + s];
        if (measure)
            for (int f = 0; f < __F__; ++f) y[f] = argument[f * sites + s];
    }
    if (!(to_padded || to_plain || measure)) return;
    double combined[__F__];
    for (int f = 0; f < __F__; ++f) {
        long long at = f * sites + s;
        double acc = 0.0;
        bool started = false;
        if (has_base) { acc = base[at]; started = true; }
        // the stored rows in order, written out (an array of them indexed by a runtime count
        // would live in local memory)
#define STAGE_TERM(m) if (count > m) { double term = r##m[at] * w##m; acc = started ? acc + term : term; started = true; }
        STAGE_TERM(0) STAGE_TERM(1) STAGE_TERM(2) STAGE_TERM(3) STAGE_TERM(4) STAGE_TERM(5) STAGE_TERM(6) STAGE_TERM(7)
#undef STAGE_TERM
        if (with_k) {
            double term = ks[f] * wk;
            acc = started ? acc + term : term;
        }
        if (to_padded) next_padded[f * field + centre] = acc;
        if (to_plain) next_plain[at] = acc;
        combined[f] = acc;
    }
    if (measure) {
        double y0[__F__], e[__E_SIZE__] = {__ERROR_CONSTANTS__};
        for (int f = 0; f < __F__; ++f) y0[f] = start[f * sites + s];
        __MEASURE__
    }
}
"""


def explicit_stage_source(function, n_fields, n_coefficients, n_values, error=None, n_error_constants=0) -> str:
    """The kernel `explicit_stage` (KERNEL_NAME) for the model's per-cell function
    f(c, y, lap, q, out) (lattice.model.FusedCell.function: c (n_coefficients,), y and lap
    (n_fields,), q (n_values,), out (n_fields,) written) and, if given, its per-cell error
    function error(c, e, y, y_new, q) -> a number (lattice.model.FusedCell.error: c
    (n_error_constants,), e, y, y_new (n_fields,), q (n_values,), nothing written), with their
    translations (kernels.cuda_source) in front; without `error` the kernel has the same
    parameters and a launch must not `measure`. Raises kernels.cuda_source.TranslationError for
    a function outside the subset, and ValueError when the parameters are not those, f writes
    another than out, or the error function writes anything or returns nothing."""
    names = _parameters(function, ("c", "y", "lap", "q", "out"), "cell")
    device = translate(function, names)
    if any(kind == "out" for _, kind in device.params[:4]):
        raise ValueError(f"{device.name}: a fused cell function writes only its last parameter (out)")
    measure = "return;"                    # no error function: never asked to measure
    functions = [(function, names)]
    if error is not None:
        error_names = _parameters(error, ("c", "e", "y", "y_new", "q"), "cell error")
        measured = translate(error, error_names)
        if any(kind == "out" for _, kind in measured.params) or not measured.returns:
            raise ValueError(f"{measured.name}: a cell error function returns a number and writes nothing")
        measure = f"cell_error[s] = {measured.name}(e, combined, y0, y, q);"
        functions.append((error, error_names))
    params = "".join(f"double c{m}, " for m in range(n_coefficients))
    error_params = "".join(f"double e{m}, " for m in range(n_error_constants))
    source = (_TEMPLATE.replace("__FUNCTION__", c_name(function)).replace("__COEFFICIENT_PARAMS__", params)
              .replace("__COEFFICIENTS__", ", ".join(f"c{m}" for m in range(n_coefficients)) or "0.0")
              .replace("__C_SIZE__", str(max(1, n_coefficients))).replace("__V_SIZE__", str(max(1, n_values)))
              .replace("__ERROR_PARAMS__", error_params).replace("__MEASURE__", measure)
              .replace("__ERROR_CONSTANTS__", ", ".join(f"e{m}" for m in range(n_error_constants)) or "0.0")
              .replace("__E_SIZE__", str(max(1, n_error_constants)))
              .replace("__F__", str(int(n_fields))).replace("__V__", str(int(n_values))))
    return device_source(*functions) + source


def _parameters(function, expected, what):
    """The parameter names of `function`; ValueError unless there are len(expected) of them."""
    names = tuple(inspect.signature(python_function(function)).parameters)
    if len(names) != len(expected):
        raise ValueError(f"{c_name(function)}: a fused {what} function takes ({', '.join(expected)}); its "
                         f"parameters are {names}")
    return names
