"""Run preparation: every check a run can fail before it writes anything, and where it writes.

`qke run` (scripts/commands/run.py) calls these before lattice.driver.run:

* `snapshot_start(path)` – the deck override that starts a run at a snapshot's temperature
  (`--from-snapshot`), applied before the deck is validated;
* `prepare_run(deck, schema, comm, ...)` – the rank count, the grid decomposition and seed (the
  lattice is built once), the restart options and the output folder.

Each problem is a lattice.deck.DeckError with a one-line message; every check is deterministic,
so under MPI every rank raises the same error and the job ends with exit status 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from lattice.assembly import build_lattice
from lattice.checkpoint import RestartError, checkpoint_output_dir, snapshot_temperature as read_temperature
from lattice.deck import DeckError
from lattice.driver import default_output_dir

CHECKPOINT_NAME = "checkpoint.h5"
"""The checkpoint file in the output folder when the deck's checkpoint.file is empty."""


class RunPlan(NamedTuple):
    """Where a prepared run writes."""

    out_dir: Path
    """The output folder: --out, the folder a --restart checkpoint records, or output.dir / out/<deck>."""
    checkpoint_file: str
    """The checkpoint a stop (or checkpoint.every_s) writes: checkpoint.file, or out_dir/checkpoint.h5."""


def snapshot_start(path):
    """(override, note) for a run from a snapshot: ``time.T_start_MeV=<the snapshot's T>``, and
    the note a DeckError of the deck so overridden ends with."""
    T = snapshot_temperature(path)
    return (f"time.T_start_MeV={T!r}",
            f" (with --from-snapshot, time.T_start_MeV is the snapshot's T, {T!r} MeV)")


def snapshot_temperature(path) -> float:
    """T [MeV] of a snapshot, as a DeckError (exit 2 on every rank) if it cannot be read."""
    if not Path(path).exists():
        raise DeckError(f"--from-snapshot {path}: no such snapshot file")
    try:
        return read_temperature(path)
    except RestartError as exc:
        raise DeckError(f"--from-snapshot: {exc}") from None


def prepare_run(deck, schema, comm, out=None, restart=None, overwrite=False) -> RunPlan:
    """Check a validated deck and the run options before any output; the run's RunPlan.

    Args:
        deck, schema: the deck and its schema (schema.spec is the model's ModelSpec).
        comm: lattice.parallel communicator of the run.
        out: the output folder asked for (--out), or None.
        restart: checkpoint file to continue from (--restart), or None.
        overwrite: the run replaces the files of a run already in the folder (--overwrite).
    """
    check_ranks(deck, schema.spec, comm)
    check_restart(restart, overwrite)
    out_dir = Path(out or _recorded_output_dir(restart, out) or default_output_dir(deck))
    return RunPlan(out_dir, deck.checkpoint.file or str(out_dir / CHECKPOINT_NAME))


def check_ranks(deck, spec, comm):
    """A model without a decomposed lattice runs on one rank; a lattice is built once, so that its
    decomposition over comm's ranks and the model's set-up (seed) fail before any output."""
    on_lattice = spec.on_lattice(deck)
    if comm.size > 1 and not on_lattice:
        raise DeckError(f"model {deck.model!r} without a decomposed lattice runs on one rank; "
                        f"launched on {comm.size} (run without mpiexec or with -n 1)")
    if on_lattice:
        try:
            build_lattice(deck, spec, comm)
        except (ValueError, OSError) as exc:
            raise DeckError(f"grid/seed: {exc}") from None


def check_restart(restart, overwrite):
    """--restart names an existing checkpoint and is not combined with --overwrite."""
    if restart and overwrite:
        raise DeckError("--overwrite starts a run afresh; it cannot be combined with --restart")
    if restart and not Path(restart).exists():
        raise DeckError(f"--restart {restart}: no such checkpoint file")


def _recorded_output_dir(restart, out):
    """The output folder a --restart checkpoint records (None without --restart or with --out)."""
    if not restart or out:
        return None
    try:
        return checkpoint_output_dir(restart)
    except RestartError as exc:
        raise DeckError(f"--restart: {exc}") from None

