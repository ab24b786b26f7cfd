#!/bin/bash
# One prepared GPU session (issue 6): the GPU kernel tests and the kernel benchmark on CuPy,
# plus the NumPy figures of the same machine's host for comparison. Output under $OUT if set.
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp}
nvidia-smi --query-gpu=name,memory.total,clocks.max.memory --format=csv 2>&1 | tee $out/gpu.txt
python -c "import cupy, numpy; print('cupy', cupy.__version__, 'numpy', numpy.__version__)" 2>&1 | tee -a $out/gpu.txt
timeout 240 python -m pytest -q -p no:cacheprovider -o addopts="" tests/kernels/test_gpu_kernels.py -rs 2>&1 | tail -15 | tee $out/gpu_tests.txt
bench() {
  timeout 200 python -c "
import argparse, sys
from scripts.bench_kernels import bench_kernels
sys.exit(bench_kernels(argparse.Namespace(backend='$1', shapes='$2'.split(), repeats=5), print))" 2>&1 | tee -a $out/bench_kernels.txt
}
bench cupy "256x256x256"
# (host figures: see docs/results/performance.md)
timeout 300 python -c "
import argparse, sys
from lattice.parallel import SerialComm
from scripts.bench_lattice import bench_lattice
sys.exit(bench_lattice(argparse.Namespace(backend='cupy', shapes=['128x128x128', '256x256x256'], steps=2, dt_hubble=1e-3, mol=None, mol_rtol=1e-8), SerialComm(), print))" 2>&1 | tee $out/bench_lattice_cupy.txt
