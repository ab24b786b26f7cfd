"""`qke bench homogeneous|lattice|kernels|batch|line`: benchmarks that print figures (not tests).

Each benchmark lives in its own module (scripts/bench*.py); this one holds the options they share
and calls the one asked for."""

from __future__ import annotations

import importlib

BENCHMARKS = {
    "homogeneous": ("scripts.bench", "bench_homogeneous"),
    "lattice": ("scripts.bench_lattice", "bench_lattice"),
    "kernels": ("scripts.bench_kernels", "bench_kernels"),
    "batch": ("scripts.bench_batch", "bench_batch"),
    "line": ("scripts.bench_line", "main"),
}
"""Benchmark name -> (module, function); each function is called as f(args, say), except those in
WITH_COMM, called as f(args, comm, say)."""

WITH_COMM = {"lattice"}
"""Benchmarks that run over MPI ranks."""


def add_parser(subparsers):
    """Register `qke bench` and the options of every benchmark."""
    bench = subparsers.add_parser("bench", help="benchmarks (print figures; not tests)")
    bench.add_argument("what", choices=tuple(BENCHMARKS))
    bench.add_argument("--deck", default=None, help="deck to time (default input/homogeneous_B.yaml)")
    bench.add_argument("--rtol", type=float, default=None, help="project rtol (default: the deck's)")
    bench.add_argument("--ref-rtol", type=float, default=1e-10,
                       help="rtol of the reference: SciPy Radau (homogeneous), SciPy BDF MOL (lattice --rtols)")
    bench.add_argument("--T-end", type=float, default=None, help="stop both at this T [MeV]")
    bench.add_argument("--ref-max-wall", type=float, default=None,
                       help="stop SciPy Radau after this many seconds (speed-up becomes a bound)")
    bench.add_argument("--shapes", nargs="+", default=["1048576", "128x128x128"],
                       help="lattice shapes for `bench lattice`, e.g. 1048576 128x128x128")
    bench.add_argument("--steps", type=int, default=3, help="timed lattice steps per shape")
    bench.add_argument("--method", choices=("rodas4", "dopri5"), default="rodas4",
                       help="`bench lattice`: the step timed, Rodas4 with GMRES stages or the explicit "
                       "DOPRI5 (give it a --dt-hubble its stability allows, e.g. 1e-7)")
    bench.add_argument("--dt-hubble", type=float, default=1e-3,
                       help="lattice step in Hubble times (about the accuracy control's choice at "
                       "20 MeV, rtol 1e-6)")
    bench.add_argument("--mol", type=int, nargs="*", default=None, metavar="N",
                       help="also time the SciPy BDF method-of-lines reference at these cell counts")
    bench.add_argument("--mol-rtol", type=float, default=1e-8, help="rtol of the MOL reference")
    bench.add_argument("--project-set", dest="project_overrides", action="append", default=[],
                       metavar="SECTION.KEY=VALUE", help="with --mol, and for batch: deck override for the "
                       "project runs, e.g. integrator.stage_solver=direct (repeatable)")
    bench.add_argument("--rtols", type=float, nargs="+", default=None, metavar="R",
                       help="with --mol: work-precision mode, the project at these rtols against a "
                       "MOL reference at --ref-rtol")
    bench.add_argument("--mol-rtols", type=float, nargs="+", default=None, metavar="R",
                       help="with --rtols: the MOL at these rtols (default --mol-rtol)")
    bench.add_argument("--backend", choices=("numpy", "cupy"), default="numpy",
                       help="array library for `bench kernels` and `bench lattice`; `bench batch`: cupy runs "
                       "the sites on the GPU (numba.cuda, one thread per site)")
    bench.add_argument("--repeats", type=int, default=5, help="timed calls per kernel (`bench kernels`)")
    bench.add_argument("--sites", type=int, default=1024, help="`bench batch`: number of sites")
    bench.add_argument("--window", type=float, default=1.0, metavar="T_END/T_RES",
                       help="`bench batch`: each site runs from 2 T_res to this × T_res (unless --T-end)")
    bench.add_argument("--threads", type=int, nargs="+", default=None, metavar="K",
                       help="`bench batch`: Numba thread counts to time (default 1 2)")
    bench.add_argument("--samples", type=int, default=None,
                       help="`bench batch`: output samples per site (default: the deck's)")
    bench.add_argument("--cells", type=int, default=128, help="`bench line`: cells of the line")
    bench.add_argument("--T-start", type=float, default=None,
                       help="`bench line`: start of the timed window [MeV] (default: the deck's)")
    bench.add_argument("--snapshot", default=None,
                       help="`bench line`: start from this snapshot's fields (--T-start must be its T)")
    bench.add_argument("--repeat", type=int, default=3,
                       help="`bench line`: timed runs per integrator (best kept)")
    bench.add_argument("--no-python", action="store_true", help="`bench line`: skip the Python Rodas4")
    bench.add_argument("--replicate", type=int, default=1, metavar="R",
                       help="`bench batch --backend cupy`: run the --sites sites R times over (to fill the GPU)")
    bench.add_argument("--singles", type=int, default=0, metavar="K",
                       help="`bench batch`: also run K of the sites one by one through the driver")
    return bench


def execute(args, comm, say):
    """Run the benchmark `args.what`; its exit status."""
    module, name = BENCHMARKS[args.what]
    benchmark = getattr(importlib.import_module(module), name)
    return benchmark(args, comm, say) if args.what in WITH_COMM else benchmark(args, say)
