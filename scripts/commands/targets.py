"""`qke targets MODEL [--quick]`: a model's validation targets, measured against its paper."""

from __future__ import annotations


def add_parser(subparsers):
    """Register `qke targets`."""
    targets = subparsers.add_parser("targets", help="compute a model's validation targets and print them "
                                    "against the paper's values (exit 1 if any does not hold)")
    targets.add_argument("model", help="a model name (as a deck's model key), e.g. hot_plasma, bfv, ars")
    targets.add_argument("--quick", action="store_true", help="the small cases only (seconds)")
    return targets


def execute(args, comm, say):
    """Print the model's table of targets; 0 if every target holds, 1 otherwise."""
    from lattice.deck import DeckError
    from scripts.models import model_spec

    spec = model_spec(args.model)
    if spec.targets is None:
        raise DeckError(f"model = {args.model!r}: this model has no table of targets (qke targets takes "
                        "a model with ModelSpec.targets)")
    rows = list(spec.targets(args.quick))
    head = ("target", "quantity", "reference", "measured", "tolerance", "")
    cells = [head] + [(r.label, r.quantity, r.reference, r.measured, r.tolerance,
                       "ok" if r.holds else "FAILS") for r in rows]
    widths = [max(len(str(c[i])) for c in cells) for i in range(len(head))]
    for c in cells:
        say("  ".join(str(v).ljust(w) for v, w in zip(c, widths)).rstrip())
    failing = sum(not r.holds for r in rows)
    say(f"# {spec.name}: {len(rows) - failing} of {len(rows)} targets hold")
    return 1 if failing else 0
