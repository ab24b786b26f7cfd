"""The model interface (lattice/model.py) as a developer meets it: the toy model of
docs/model-interface.md, taken from the page as it stands, plugged in from its own module (no file
of the project touched), run as a single site and on a lattice of 8 cells (also under MPI ranks),
against the closed form of its relaxation."""

import math
import re

import h5py
import numpy as np
import pytest

from conftest import ROOT

PAGE = ROOT / "docs" / "model-interface.md"
DECK = """model: toy_relaxation:MODEL
physics: {gamma: 1.0e-4}
time: {T_start_MeV: 10.0, T_end_MeV: 1.0}
integrator: {rtol: 1.0e-8}
output: {samples: 11}
"""
M, GAMMA, T0 = 1e5, 1e-4, 10.0


def exact(T):
    """n(T) = 1 − exp(−γM(1/T − 1/T₀)) from n = 0 at T₀ (dt = −dT/(HT), H = T²/M)."""
    return 1.0 - np.exp(-GAMMA * M * (1.0 / T - 1.0 / T0))


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """The page's code block written as a module of its own, importable as toy_relaxation."""
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)
    assert len(blocks) == 1
    (tmp_path / "toy_relaxation.py").write_text(blocks[0])
    assert len(blocks[0].splitlines()) <= 60      # the page promises a short model
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "toy.yaml").write_text(DECK)
    return tmp_path


def _series(out):
    with h5py.File(out / "timeseries.h5") as f:
        return f["T"][:], f["n"][:]


@pytest.mark.parametrize("sets", [[], ["grid.shape=[8]", "physics.D=1e3"]], ids=["single site", "lattice"])
def test_the_toy_model_runs_and_follows_its_closed_form(toy, sets, capsys):
    """Global error of Rodas4 at rtol 1e-8 over ~100 steps: well below 1e-6 on n ≤ 1; a uniform
    lattice stays uniform (diffusion of a constant is zero), so it follows the same formula."""
    from scripts.cli import main

    args = ["run", str(toy / "toy.yaml"), "--out", str(toy / "out"), "--progress", "none"]
    assert main(args + [a for s in sets for a in ("--set", s)]) == 0
    T, n = _series(toy / "out")
    assert len(T) == 11 and T[0] == 10.0 and T[-1] == 1.0
    np.testing.assert_allclose(n, exact(T), rtol=0, atol=1e-6)
    assert "done: n = 0.99987" in capsys.readouterr().out
    assert math.isclose(n[-1], exact(1.0), abs_tol=1e-6)


def test_a_bad_toy_deck_is_refused_with_one_line(toy, capsys):
    from scripts.cli import main

    assert main(["run", str(toy / "toy.yaml"), "--set", "physics.gama=1", "--out", str(toy / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "physics.gama" in err[0] and "did you mean 'gamma'" in err[0], err
    assert not (toy / "out").exists()


def test_an_unknown_model_is_refused_with_what_is_allowed(tmp_path, capsys):
    from scripts.cli import main

    deck = tmp_path / "deck.yaml"
    deck.write_text(DECK.replace("toy_relaxation:MODEL", "no_such_module:MODEL"))
    assert main(["validate", str(deck)]) == 2
    err = capsys.readouterr().err
    assert "model = 'no_such_module:MODEL'" in err and "'qke', 'pb'" in err, err


@pytest.mark.mpi
def test_the_toy_lattice_on_two_ranks_equals_one_rank(toy):
    """The decomposition is the machinery's: the toy's lattice on 2 ranks gives the same bits."""
    from conftest import run_mpiexec

    from scripts.cli import main

    args = ["run", str(toy / "toy.yaml"), "--set", "grid.shape=[8]", "--set", "physics.D=1e3", "--progress", "none"]
    assert main(args + ["--out", str(toy / "out1")]) == 0          # one rank, in this process
    proc = run_mpiexec(2, "-m", "scripts.cli", *args, "--out", str(toy / "out2"), pythonpath=[toy])
    assert proc.returncode == 0, proc.stderr
    assert _series(toy / "out1")[1].tobytes() == _series(toy / "out2")[1].tobytes()
