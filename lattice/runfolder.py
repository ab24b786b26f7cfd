"""A run's output folder: who owns it, whether the run in it finished, and what may replace it.

Every run writes ``DIR/run.json`` first (on rank 0, before any other output):

    {"run_id": "<32 hex digits>", "status": "running" | "stopped" | "complete" | "failed",
     "T_MeV": <last sampled temperature, MeV, or null>, "detail": "<one line>"}

The same ``run_id`` is stored as an attribute of ``timeseries.h5``, of every snapshot and in the
checkpoint's metadata, so a reader can tell whether files in one folder belong to one run. A
restart keeps the run id (it continues the same run); a fresh run or one started from a
snapshot gets a new one.

A folder that holds any of a run's files (``RUN_FILES``) is *used*. A new run refuses a used
folder unless asked to remove that run's files first (``--overwrite``); a restart continues
only the run whose checkpoint it reads (`claim`). Functions here do file-system work only; the
caller decides on which rank (`lattice.driver.Simulation.claim_output`).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

RECORD = "run.json"
RUN_FILES = (RECORD, "timeseries.h5", "snapshots", "checkpoint.h5", "checkpoint.h5.parts",
             "checkpoint.h5.parts-b")
"""Names (files or folders) a run writes into its output folder."""

STATUSES = ("running", "stopped", "complete", "failed")


class FolderError(ValueError):
    """An output folder that cannot be used as asked (one line: the path and what is wrong)."""


def new_run_id() -> str:
    """A fresh run identifier (32 hex digits)."""
    return uuid.uuid4().hex


def used_files(out) -> list:
    """The names in RUN_FILES present in folder `out` (empty if it does not exist)."""
    out = Path(out)
    return [name for name in RUN_FILES if (out / name).exists()]


def read_record(out):
    """The run record of folder `out` as a dict, or None if it has none (or it is unreadable)."""
    try:
        with open(Path(out) / RECORD) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def describe(out) -> str:
    """A few words on the run in `out`: 'complete', 'stopped at T = 12.3 MeV', ... ."""
    record = read_record(out)
    if record is None:
        return "files of a run"
    status, T = record.get("status", "?"), record.get("T_MeV")
    where = f" at T = {T:.6g} MeV" if isinstance(T, (int, float)) else ""
    return {"complete": "a complete run", "running": f"a run that did not finish (last sample{where})",
            "stopped": f"a run stopped{where}", "failed": f"a failed run (last sample{where})"}.get(
                status, f"a run with status {status!r}")


def missing_folders(out) -> list:
    """The folders on the way to `out` (itself included) that do not exist yet, deepest first."""
    missing, path = [], Path(out).absolute()
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def remove_empty(folders) -> None:
    """Remove those of `folders` (deepest first) that are empty: undo what a refused run made."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:   # not empty, or never made
            return


def check_writable(out) -> None:
    """Create folder `out` if needed and prove a file can be written there (FolderError if not)."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".qke-write-test.{os.getpid()}"
        with open(probe, "w") as f:
            f.write("ok")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise FolderError(f"output folder {out} cannot be written: {reason}") from None


def check_space(out, need_bytes, what) -> None:
    """FolderError unless the file system of folder `out` has `need_bytes` free (`what`: what
    the run writes, for the message)."""
    free = shutil.disk_usage(out).free
    if free < need_bytes:
        raise FolderError(f"output folder {out} has {free / 1e6:.3g} MB free; this run writes up to "
                          f"{need_bytes / 1e6:.3g} MB ({what})")


def clear(out) -> None:
    """Remove the run files (RUN_FILES) from `out`; other files stay."""
    out = Path(out)
    for name in RUN_FILES:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    for stray in out.glob("*.tmp[0-9]*"):   # temporaries of an atomic write that was killed
        if stray.is_file():
            stray.unlink()


def write_record(out, run_id, status, T_MeV=None, detail="") -> None:
    """Write (atomically) the run record of folder `out`."""
    if status not in STATUSES:
        raise ValueError(f"status {status!r} is not one of {STATUSES}")
    path = Path(out) / RECORD
    tmp = path.with_name(f"{RECORD}.tmp{os.getpid()}")
    with open(tmp, "w") as f:
        json.dump({"run_id": run_id, "status": status,
                   "T_MeV": None if T_MeV is None else float(T_MeV), "detail": detail}, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def claim(out, run_id, overwrite, continuing, keep, need_bytes, what) -> None:
    """Make folder `out` ready for run `run_id`, or raise FolderError (one line) and leave it as it
    was (folders made for the check are removed again).

    A new run needs a folder without another run's files, or `overwrite`, which removes them
    first (but never the input files in `keep`: a checkpoint or snapshot the run reads); a
    restart (`continuing`) writes only into an unused folder or the one holding its own run.
    The file system must have `need_bytes` free (`what`: what the run writes, for the message).
    """
    created = missing_folders(out)
    try:
        check_writable(out)
        _check_owner(Path(out), run_id, overwrite, continuing, keep)
        check_space(out, need_bytes, what)
    except FolderError:
        remove_empty(created)
        raise


def _check_owner(out, run_id, overwrite, continuing, keep):
    used = used_files(out)
    if not used:
        return
    record = read_record(out)
    if continuing:
        if record is None or record.get("run_id") == run_id:
            return
        raise FolderError(f"output folder {out} holds {describe(out)}, not the run this checkpoint "
                          f"continues; give that run's folder with --out, or a new --out DIR")
    if not overwrite:
        hint = f", or continue it with --restart {out / 'checkpoint.h5'}" if "checkpoint.h5" in used else ""
        raise FolderError(f"output folder {out} holds {describe(out)} ({', '.join(used)}); choose a new "
                          f"--out DIR, add --overwrite to remove that run's files first{hint}")
    inside = [str(p) for p in keep if _inside(p, out)]
    if inside:
        raise FolderError(f"--overwrite would remove {', '.join(inside)}, which this run reads; choose a "
                          f"new --out DIR")
    clear(out)


def _inside(path, folder) -> bool:
    """Whether file `path` lies inside `folder` (after resolving both)."""
    path, folder = Path(path).resolve(), Path(folder).resolve()
    return folder == path or folder in path.parents
