"""The `qke` command as a table of subcommand modules (scripts/commands/), and the run preparation
those use (lattice/launch.py): the checks a run fails before any output, one line each."""

import argparse
from pathlib import Path

import pytest

from conftest import INPUT
from lattice.deck import DeckError
from lattice.launch import RunPlan, prepare_run, snapshot_start
from lattice.parallel import SerialComm
from scripts import cli
from scripts.commands import run as run_command
from scripts.models import load_deck

HOMOGENEOUS = str(INPUT / "homogeneous_A.yaml")
LATTICE = str(INPUT / "lattice_1d_laptop.yaml")


class TwoRanks(SerialComm):
    """A communicator that says it has two ranks (for the checks that only read comm.size)."""

    size = 2


def _subcommands(parser):
    return next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def test_every_subcommand_is_a_module_with_add_parser_and_execute():
    assert list(_subcommands(cli._parser())) == list(cli.COMMANDS)
    for name, module in cli.COMMANDS.items():
        assert callable(module.add_parser) and callable(module.execute), name
        assert module.__name__.startswith("scripts.commands."), name


def test_the_parser_dispatches_to_the_named_module(monkeypatch):
    calls = []
    monkeypatch.setattr(cli.COMMANDS["schema"], "execute", lambda args, comm, say: calls.append(args.model) or 0)
    assert cli.main(["schema", "--model", "pb"]) == 0
    assert calls == ["pb"]


def test_a_single_site_model_refuses_several_ranks():
    deck, schema = load_deck(HOMOGENEOUS)
    with pytest.raises(DeckError, match=r"without a decomposed lattice runs on one rank; launched on 2"):
        prepare_run(deck, schema, TwoRanks())


def test_the_lattice_is_built_before_any_output(tmp_path):
    deck, schema = load_deck(LATTICE, ["grid.shape=[12]", "grid.process_grid=[2]"])
    with pytest.raises(DeckError, match=r"^grid/seed: process_grid"):
        prepare_run(deck, schema, SerialComm(), out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_restart_options_are_checked(tmp_path):
    deck, schema = load_deck(HOMOGENEOUS)
    checkpoint = tmp_path / "checkpoint.h5"
    with pytest.raises(DeckError, match=r"^--overwrite starts a run afresh; it cannot be combined with --restart$"):
        prepare_run(deck, schema, SerialComm(), restart=str(checkpoint), overwrite=True)
    with pytest.raises(DeckError, match=r"no such checkpoint file$"):
        prepare_run(deck, schema, SerialComm(), restart=str(checkpoint))
    checkpoint.write_bytes(b"not HDF5")
    with pytest.raises(DeckError, match=r"^--restart: "):
        prepare_run(deck, schema, SerialComm(), restart=str(checkpoint))


def test_the_output_folder_and_checkpoint_file(tmp_path):
    deck, schema = load_deck(HOMOGENEOUS)
    assert prepare_run(deck, schema, SerialComm()) == RunPlan(Path("out/homogeneous_A"),
                                                              str(Path("out/homogeneous_A/checkpoint.h5")))
    plan = prepare_run(deck, schema, SerialComm(), out=tmp_path)
    assert plan.out_dir == tmp_path and plan.checkpoint_file == str(tmp_path / "checkpoint.h5")
    deck, schema = load_deck(HOMOGENEOUS, [f"output.dir={tmp_path / 'o'}",
                                           f"checkpoint.file={tmp_path / 'c.h5'}"])
    out_dir, checkpoint_file = prepare_run(deck, schema, SerialComm())
    assert out_dir == tmp_path / "o" and checkpoint_file == str(tmp_path / "c.h5")


def test_a_missing_snapshot_is_a_deck_error(tmp_path):
    with pytest.raises(DeckError, match=r"^--from-snapshot .*none\.h5: no such snapshot file$"):
        snapshot_start(tmp_path / "none.h5")


def test_the_continue_command_repeats_the_options():
    args = cli._parser().parse_args(["run", "my deck.yaml", "--set", "time.T_end_MeV=10", "--progress", "log"])
    assert run_command.continue_command(args, TwoRanks(), Path("out/x"), "out/x/checkpoint.h5") == (
        "mpiexec -n 2 qke run 'my deck.yaml' --set time.T_end_MeV=10 --progress log --out out/x "
        "--restart out/x/checkpoint.h5")


def test_scan_without_param_checks_the_deck_first(capsys):
    assert cli.main(["scan", HOMOGENEOUS, "--set", "time.T_end_MeV=nope"]) == 2
    assert "deck error" in capsys.readouterr().err
    assert cli.main(["scan", HOMOGENEOUS]) == 2
    assert "--param and --values are required" in capsys.readouterr().err
