"""What the commands that read a deck share: its arguments and its loading."""

from __future__ import annotations

from lattice.deck import DeckError


def add_deck_arguments(parser):
    """The deck file and its ``--set SECTION.KEY=VALUE`` overrides."""
    parser.add_argument("deck", help="YAML deck file")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE", help="override a deck value (repeatable)")


def load(path, overrides, from_snapshot=None):
    """(deck, schema) of a deck file with overrides, validated; DeckError (one line) if invalid.

    With `from_snapshot`, time.T_start_MeV is the snapshot's temperature (lattice.launch.snapshot_start),
    and a deck error says so."""
    from scripts.models import load_deck

    overrides, note = list(overrides), ""
    if from_snapshot:
        from lattice.launch import snapshot_start

        override, note = snapshot_start(from_snapshot)
        overrides.append(override)
    try:
        return load_deck(path, overrides)
    except DeckError as exc:
        raise DeckError(f"{exc}{note}") from None
