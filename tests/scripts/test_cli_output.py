"""`qke run` end to end: the documented timeseries.h5 layout, units and summary."""

import h5py
import numpy as np
import yaml

from conftest import INPUT
from scripts.cli import main


def test_run_writes_documented_timeseries(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["run", str(INPUT / "homogeneous_A.yaml"), "--out", str(out), "--progress", "log",
               "--set", "time.T_end_MeV=40", "--set", "output.samples=51"])
    captured = capsys.readouterr()
    assert rc == 0
    assert captured.out.startswith("done: T = 40 MeV")
    with h5py.File(out / "timeseries.h5") as f:
        for name, units in [("T", "MeV"), ("t", "MeV^-1"), ("L", "per photon"), ("L_abs", "per photon"),
                            ("L_nutau", "per photon"), ("steps", "count"), ("sign_changes", "count")]:
            assert f[name].shape == (51,)
            assert f[name].attrs["units"].startswith(units)
        assert f["sterile_over_active"].shape == (51,)
        for name in ("P0p", "P0m", "Pxp", "Pxm", "Pyp", "Pym", "Pzp", "Pzm"):
            assert f[f"fields/{name}"].shape == (51,)
        T, t = f["T"][:], f["t"][:]
        assert T[0] == 68.81 and T[-1] == 40.0 and np.all(np.diff(T) < 0)
        # t = 1/(2H), H = 1.66 sqrt(g*) T^2 / M_Pl
        np.testing.assert_allclose(t, 1.22091e22 / (2 * 1.66 * np.sqrt(10.75) * T ** 2), rtol=1e-12)
        # L = L0 + (3/8)(P0- + Pz-) from the stored fields
        np.testing.assert_allclose(f["L"][:], 1e-10 + 0.375 * (f["fields/P0m"][:] + f["fields/Pzm"][:]),
                                   rtol=0, atol=1e-22)
        deck = yaml.safe_load(f.attrs["deck"])
        assert deck["physics"]["delta_m2_eV2"] == -100.0 and deck["time"]["T_end_MeV"] == 40.0
        assert f.attrs["summary_accepted"] > 0
        assert f.attrs["model"] == "qke"


def test_default_output_dir_comes_from_the_deck_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = main(["run", str(INPUT / "homogeneous_A.yaml"), "--progress", "none",
               "--set", "time.T_end_MeV=60", "--set", "output.samples=3"])
    assert rc == 0
    assert (tmp_path / "out" / "homogeneous_A" / "timeseries.h5").exists()
