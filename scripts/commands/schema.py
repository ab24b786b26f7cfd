"""`qke schema [--model NAME]`: every deck key of a model with unit, default and range."""

from __future__ import annotations


def add_parser(subparsers):
    """Register `qke schema`."""
    schema = subparsers.add_parser("schema", help="list every deck key with unit, default and range")
    schema.add_argument("--model", default="qke")
    return schema


def execute(args, comm, say):
    """Print the schema of the model (scripts.models.schema_for)."""
    from scripts.models import schema_for

    say(schema_for(args.model).describe())
    return 0
