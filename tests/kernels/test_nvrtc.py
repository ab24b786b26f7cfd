"""Every CUDA source of kernels/cupy_kernels.py compiles with NVRTC for sm_90 (an H100) with the
options the project builds it with, and has no fused multiply-add left in its PTX (so a device
rounds as the CPU loops do). NVRTC is a library: no GPU or driver is needed, only
`pip install -e ".[nvrtc]"` (cuda-bindings and the NVRTC wheel); skipped without it.
"""

import ast
import re

import pytest

from conftest import ROOT

nvrtc = pytest.importorskip("cuda.bindings.nvrtc")

SOURCE = ROOT / "kernels" / "cupy_kernels.py"
ARCH = "sm_90"


def _sources():
    """(name, CUDA source, options) of every kernel: the RawKernel(...) calls with literal sources,
    and the stage preconditioner's template for block sizes 3 and 8."""
    tree = ast.parse(SOURCE.read_text())
    strings = {node.targets[0].id: node.value.value for node in tree.body
               if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
               and isinstance(node.value.value, str) and isinstance(node.targets[0], ast.Name)}
    options = tuple(ast.literal_eval(next(n.value for n in tree.body if isinstance(n, ast.Assign)
                                          and getattr(n.targets[0], "id", "") == "_OPTIONS")))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "RawKernel" \
                and isinstance(node.args[0], ast.Constant):
            found.append((node.args[1].value, node.args[0].value,
                          tuple(ast.literal_eval(k.value) for k in node.keywords if k.arg == "options")[0]))
    template = strings["_STAGE_PRECONDITIONER"]
    found += [(f"stage_preconditioner (n = {n})", template.replace("__N__", str(n)), options) for n in (3, 8)]
    return found


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
    assert {name.split(" ")[0] for name, _, _ in sources} == {"laplacian", "block_product", "stage_preconditioner"}
    for name, source, options in sources:
        assert "--fmad=false" in options, name
        ptx = _ptx(source, options)
        assert ".entry" in ptx and not re.search(r"\bfma\.rn\.f64", ptx), name
