"""Shared fixtures: paths and a helper to run decks in memory."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INPUT = ROOT / "input"


@pytest.fixture
def run_deck():
    """Run a deck in memory with overrides; returns the RunResult."""
    from lattice.driver import run
    from physics.models import load_deck

    def _run(name, *overrides):
        deck, schema = load_deck(INPUT / name, list(overrides) + ["output.progress=none"])
        return run(deck, schema, write=False)

    return _run
