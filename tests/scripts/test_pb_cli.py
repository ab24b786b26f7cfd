"""`qke run` / `qke scan` / `qke schema` on Pauli–Boltzmann decks: output layout, MPI scan."""


import h5py
import numpy as np
import pytest

from conftest import INPUT, run_mpiexec, whole_and_resumed
from scripts.cli import main

SMALL = ["--set", "momentum.n_points=100", "--set", "time.T_end_MeV=40", "--set", "output.samples=21"]


def test_pb_run_writes_timeseries_and_final_spectra(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["run", str(INPUT / "pb_asymgen_s2_1e-6.yaml"), "--out", str(out), "--progress", "none", *SMALL])
    assert rc == 0
    assert capsys.readouterr().out.startswith("done: T = 40 MeV, N_eff = ")
    with h5py.File(out / "timeseries.h5") as f:
        for name in ("T", "t", "L", "L_nu_alpha", "L_nus", "L_total", "N_eff", "steps"):
            assert f[name].shape == (21,) and "units" in f[name].attrs
        assert "sign_changes" not in f and "fields" not in f
        y, z, zb = f["final/y"][:], f["final/z_s"][:], f["final/zbar_s"][:]
        assert y.shape == z.shape == zb.shape == (100,)
        # N_eff = (120/7π⁴) ∫ y³ f⁰ (z + z̄)/2 from the stored spectrum (trapezoid in ln y)
        w = np.gradient(np.log(y)) * y
        w[[0, -1]] = 0.5 * (np.log(y[1]) - np.log(y[0])) * y[[0, -1]]
        N = 120 / (7 * np.pi ** 4) * np.sum(w * y ** 3 / (1 + np.exp(y)) * 0.5 * (z + zb))
        assert N == pytest.approx(f["N_eff"][-1], rel=1e-10)
        assert f.attrs["model"] == "pb"
        assert f.attrs["summary_L_total_drift"] < 1e-20


def test_schema_lists_pb_keys(capsys):
    assert main(["schema", "--model", "pb"]) == 0
    text = capsys.readouterr().out
    for key in ("delta_m2_tau_eV2", "n_points", "y_min", "spacing", "asymmetry", "eta"):
        assert key in text


def _scan_args(tmp_path):
    return ["scan", str(INPUT / "pb_asymgen_s2_1e-9.yaml"), "--param", "physics.sin2_2theta",
            "--values", "1e-9", "1e-8", "1e-7", *SMALL]


def test_scan_serial_prints_one_row_per_value(tmp_path, capsys):
    assert main(_scan_args(tmp_path)) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.strip()[:1] in "0123456789"]
    assert [float(r.split()[0]) for r in rows] == [1e-9, 1e-8, 1e-7]


@pytest.mark.mpi
def test_scan_on_two_ranks_matches_serial(tmp_path, capsys):
    assert main(_scan_args(tmp_path)) == 0
    serial = [line.split()[:3] for line in capsys.readouterr().out.splitlines()[2:5]]
    proc = run_mpiexec(2, "-m", "mpi4py", "-m", "scripts.cli", *_scan_args(tmp_path), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "on 2 rank(s)" in proc.stdout
    parallel = [line.split()[:3] for line in proc.stdout.splitlines()[2:5]]
    assert parallel == serial          # every point is a serial run: identical on any rank count


def test_pb_restart_is_bit_for_bit(tmp_path):
    from scripts.models import load_deck

    deck, schema = load_deck(INPUT / "pb_asymgen_s2_1e-6.yaml", ["momentum.n_points=50", "time.T_end_MeV=40",
                                                                 "output.samples=21", "output.progress=none"])
    whole, result = whole_and_resumed(deck, schema, tmp_path / "ck.h5", 8)
    assert np.array_equal(result.state, whole.state)
    assert np.array_equal(result.series["N_eff"], whole.series["N_eff"])
