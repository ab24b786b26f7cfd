"""Every CUDA source of kernels/cupy_kernels.py compiles with NVRTC for sm_90 (an H100) with the
options the project builds it with, and has no fused multiply-add left in its PTX (so a device
rounds as the CPU loops do); so does the fused explicit stage of kernels/explicit_stage.py with
the QKE's per-cell function and cell error translated by kernels/cuda_source.py (and without
a cell error, as for a model that has none). The translated stage keeps its per-thread arrays
in registers (no local memory). NVRTC is a library: no GPU or
driver is needed, only `pip install -e ".[nvrtc]"` (cuda-bindings and the NVRTC wheel); skipped
without it.
"""

import ast
import re
import sys
import types

import pytest

from conftest import ROOT

nvrtc = pytest.importorskip("cuda.bindings.nvrtc")

SOURCE = ROOT / "kernels" / "cupy_kernels.py"
ARCH = "sm_90"


def _string(node, strings):
    """The value of a source expression: a literal, a module-level string or a sum of them."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return strings[node.id]
    assert isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add), ast.dump(node)
    return _string(node.left, strings) + _string(node.right, strings)


def _sources():
    """(name, CUDA source, options) of every kernel: the RawKernel(...) calls with sources built
    from module-level strings, and the templates: the stage preconditioner for block sizes 3 and
    8, the binned sums for 4 and 14 bins."""
    tree = ast.parse(SOURCE.read_text())
    strings = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                strings[node.targets[0].id] = _string(node.value, strings)
            except (AssertionError, KeyError):
                pass
    options = tuple(ast.literal_eval(next(n.value for n in tree.body if isinstance(n, ast.Assign)
                                          and getattr(n.targets[0], "id", "") == "_OPTIONS")))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "RawKernel":
            try:
                source = _string(node.args[0], strings)
            except (AssertionError, KeyError):
                continue                                 # a template, filled in below
            found.append((node.args[1].value, source,
                          tuple(ast.literal_eval(k.value) for k in node.keywords if k.arg == "options")[0]))
    found += [(f"stage_preconditioner (n = {n})", strings["_STAGE_PRECONDITIONER"].replace("__N__", str(n)), options)
              for n in (3, 8)]
    for b in (4, 14):
        found += [(f"row_bins ({b} bins)", strings["_ROW_BINS"].replace("__BINS__", str(b)), options)]
        grids = strings["_ROW_GRIDS"].replace("__BINS__", str(b)).replace("__FLOOR__", "-16384")
        found += [(f"row_grids ({b} bins)", grids, options), (f"row_finish ({b} bins)", grids, options)]
    found += [("explicit_stage (QKE)", _qke_explicit_stage(True), options),
              ("explicit_stage (QKE, no cell error)", _qke_explicit_stage(False), options)]
    return found


def _qke_explicit_stage(error):
    """The fused explicit stage of the QKE (kernels.explicit_stage with the translated
    physics.qke_kernels.lattice_cell_rhs, 8 fields, 8 coefficients, L0 per cell; with `error`
    also lattice_cell_error and its 3 tolerances, as QKELocal.fused_cell has it). The translator
    reads only the Python: where Numba is not installed (an NVRTC-only environment), its
    decorators are stood in for by ones that return the function."""
    try:
        import numba  # noqa: F401
    except ImportError:
        def decorator(*args, **kwargs):        # @d gives f; @d(...) and overload(f, ...) a decorator
            return args[0] if len(args) == 1 and callable(args[0]) and not kwargs else (lambda function: function)

        numba, extending = types.ModuleType("numba"), types.ModuleType("numba.extending")
        numba.__getattr__ = extending.__getattr__ = lambda name: decorator
        numba.extending = extending
        sys.modules.update({"numba": numba, "numba.extending": extending})
    from kernels.explicit_stage import explicit_stage_source
    from physics import qke_kernels

    if error:
        return explicit_stage_source(qke_kernels.lattice_cell_rhs, 8, 8, 1, qke_kernels.lattice_cell_error, 3)
    return explicit_stage_source(qke_kernels.lattice_cell_rhs, 8, 8, 1)


def _ptx(source, options):
    """PTX of one source, or the compile log on failure (as an AssertionError)."""
    err, program = nvrtc.nvrtcCreateProgram(source.encode(), b"kernel.cu", 0, [], [])
    assert err == nvrtc.nvrtcResult.NVRTC_SUCCESS
    flags = [f"--gpu-architecture={ARCH}".encode(), *(o.encode() for o in options)]
    (err,) = nvrtc.nvrtcCompileProgram(program, len(flags), flags)
    if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        _, size = nvrtc.nvrtcGetProgramLogSize(program)
        log = b" " * size
        nvrtc.nvrtcGetProgramLog(program, log)
        raise AssertionError(log.decode(errors="replace"))
    _, size = nvrtc.nvrtcGetPTXSize(program)
    ptx = b" " * size
    nvrtc.nvrtcGetPTX(program, ptx)
    return ptx.decode(errors="replace")


def test_every_kernel_compiles_for_sm90_without_fused_multiply_adds():
    sources = _sources()
    assert {name.split(" ")[0] for name, _, _ in sources} == {"laplacian", "block_product", "stage_preconditioner",
                                                              "row_maxima", "row_bins", "row_grids", "row_finish",
                                                              "stage_diffusion", "combine",
                                                              "subtract_combination", "explicit_stage", "wrap_axis"}
    for name, source, options in sources:
        assert "--fmad=false" in options, name
        ptx = _ptx(source, options)
        assert ".entry" in ptx and not re.search(r"\bfma\.rn\.f64", ptx), name
        if name.startswith("explicit_stage"):
            assert ".local" not in ptx, name
