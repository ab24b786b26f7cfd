"""Check that a change leaves results bitwise unchanged: run the laptop decks at a base commit
and in the working tree, and compare every dataset of their output files bit for bit.

    python -m scripts.compare_runs BASE_COMMIT [--work DIR] [--cases NAME ...] [--list]

The base commit is checked out into a temporary `git worktree`; each case runs as
`python -m scripts.cli run DECK --set ... --out DIR` in both trees (each tree's own code on
PYTHONPATH). Compared: every dataset of timeseries.h5, of each snapshot file and of the
checkpoint (values, shape and dtype; NaNs equal where both are NaN) and every attribute except
those that name a run or a moment (run_id, wall times, versions, creation times, paths).
Exit status 0 when every case agrees, 1 with one line per difference otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

CASES = {
    "homogeneous_A": ("input/homogeneous_A.yaml", []),
    "homogeneous_B_rodas4": ("input/homogeneous_B.yaml", ["time.T_end_MeV=14", "integrator.method=rodas4"]),
    "homogeneous_B_auto": ("input/homogeneous_B.yaml", ["time.T_end_MeV=14"]),
    "lattice_1d_gmres": ("input/lattice_1d_laptop.yaml", ["time.T_end_MeV=20"]),
    "lattice_1d_direct": ("input/lattice_1d_laptop.yaml", ["integrator.stage_solver=direct"]),
    "lattice_1d_midpoint": ("input/lattice_1d_laptop.yaml", ["integrator.coupling=midpoint_source", "grid.shape=[32]",
                                                             "time.T_end_MeV=23.5", "output.samples=11"]),
    "lattice_1d_doubling": ("input/fig3_A_laptop.yaml", ["grid.shape=[64]", "grid.doubling_cells_per_lD=4",
                                                         "integrator.stage_solver=direct",
                                                         "output.snapshots=4"]),
    "lattice_2d": ("input/lattice_2d_laptop.yaml", []),
    "lattice_3d": ("input/lattice_3d_laptop.yaml", []),
    "pb_evol0": ("input/pb_const_evol0.yaml", ["momentum.n_points=300"]),
}
"""case name -> (deck, overrides): the homogeneous, lattice (1D/2D/3D, every coupling, the
compiled line, doubling) and Pauli–Boltzmann laptop decks, some shortened to keep the check
to a few minutes."""

VOLATILE = {"run_id", "wall_s", "batch_wall_s", "version", "created", "command", "out_dir", "host",
            "python", "numpy", "numba", "h5py", "started", "finished", "path"}
"""Attribute names whose values name a run, a machine or a moment, not a result (and every
name ending in wall_s: wall times)."""


def volatile(name: str) -> bool:
    """Whether an attribute or dataset name holds a run's identity or a time, not a result."""
    return name in VOLATILE or name.endswith("wall_s")


def run_case(tree: Path, deck: str, overrides, out: Path) -> None:
    """Run one case with the code of `tree`, writing into `out` (raises if the run fails)."""
    cmd = [sys.executable, "-m", "scripts.cli", "run", deck, "--out", str(out), "--progress", "none"]
    for o in overrides:
        cmd += ["--set", o]
    env = dict(os.environ, PYTHONPATH=str(tree))
    done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} in {tree} failed ({done.returncode}): {done.stderr.strip()[-400:]}")


def compare_files(a: Path, b: Path) -> list:
    """Differences between two HDF5 files (datasets bitwise, non-volatile attributes)."""
    out = []
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        names_a, names_b = [], []
        fa.visit(names_a.append)
        fb.visit(names_b.append)
        for name in sorted(set(names_a) ^ set(names_b)):
            out.append(f"{name}: only in {'base' if name in names_a else 'work'}")
        for name in sorted(set(names_a) & set(names_b)):
            oa, ob = fa[name], fb[name]
            if isinstance(oa, h5py.Dataset) and not volatile(name.split("/")[-1]):
                va, vb = oa[()], ob[()]
                if not _same(va, vb):
                    out.append(f"{name}: values differ")
            out += [f"{name}@{k}: {v}" for k, v in _attr_differences(oa.attrs, ob.attrs)]
        out += [f"/@{k}: {v}" for k, v in _attr_differences(fa.attrs, fb.attrs)]
    return out


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind in "fc":
        return a.tobytes() == b.tobytes()
    return np.array_equal(a, b)


def _attr_differences(aa, ab):
    for key in sorted(set(aa) | set(ab)):
        if volatile(key):
            continue
        if key not in aa or key not in ab:
            yield key, "only in " + ("base" if key in aa else "work")
        elif not _same(aa[key], ab[key]):
            yield key, f"{aa[key]!r} != {ab[key]!r}"


def compare_runs(base_dir: Path, work_dir: Path) -> list:
    """Differences between two run folders: the same .h5 files, each compared."""
    files_a = {p.relative_to(base_dir) for p in base_dir.rglob("*.h5")}
    files_b = {p.relative_to(work_dir) for p in work_dir.rglob("*.h5")}
    out = [f"{f}: only in {'base' if f in files_a else 'work'}" for f in sorted(files_a ^ files_b)]
    for f in sorted(files_a & files_b):
        out += [f"{f}: {d}" for d in compare_files(base_dir / f, work_dir / f)]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("base", nargs="?", default="HEAD", help="commit to compare against (default HEAD)")
    p.add_argument("--work", default=None, help="folder for both trees' runs (default: a temporary one); "
                   "the base's runs found there are reused")
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES), metavar="NAME")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    args = p.parse_args(argv)
    if args.list:
        for name, (deck, overrides) in CASES.items():
            print(f"{name}: {deck} {' '.join('--set ' + o for o in overrides)}")
        return 0
    repo = Path(__file__).resolve().parent.parent
    work = Path(args.work or tempfile.mkdtemp(prefix="qke-compare-"))
    base_tree = work / "base-tree"
    if not base_tree.exists():
        subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(base_tree), args.base],
                       check=True, capture_output=True)
    failures = 0
    try:
        for name in args.cases:
            deck, overrides = CASES[name]
            if not (work / "base" / name / "timeseries.h5").exists():   # the base's runs are kept
                run_case(base_tree, deck, overrides, work / "base" / name)
            shutil.rmtree(work / "work" / name, ignore_errors=True)          # the tree's always rerun
            run_case(repo, deck, overrides, work / "work" / name)
            diffs = compare_runs(work / "base" / name, work / "work" / name)
            failures += bool(diffs)
            print(f"{name}: {'bitwise equal' if not diffs else f'{len(diffs)} differences'}", flush=True)
            for d in diffs[:20]:
                print(f"    {d}")
    finally:
        subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(base_tree)],
                       capture_output=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
