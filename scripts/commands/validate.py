"""`qke validate DECK`: check a deck and print it resolved (every key, defaults filled in)."""

from __future__ import annotations

from scripts.commands.decks import add_deck_arguments, load


def add_parser(subparsers):
    """Register `qke validate`."""
    validate = subparsers.add_parser("validate", help="validate a deck and print it resolved")
    add_deck_arguments(validate)
    return validate


def execute(args, comm, say):
    """Print the resolved deck; a DeckError (exit 2) if it is invalid."""
    deck, schema = load(args.deck, args.overrides)
    say(f"# {args.deck}: valid\n" + schema.to_yaml(deck), end="")
    return 0
