"""MkDocs hook: the deck and command reference pages, generated at build time.

Registered under ``hooks:`` in mkdocs.yml. The pages are made from the project's own objects,
so they cannot drift from the code and are never typed by hand or committed:

* ``reference/deck-<model>.md`` for every built-in model (``scripts.models.BUILTIN``): every deck key
  of ``scripts.models.schema_for(model)`` (the schema ``qke validate`` checks decks against and
  ``qke schema --model <model>`` prints) with its unit, default, allowed values and meaning;
* ``reference/commands.md``: the ``--help`` text of ``qke`` and of each of its subcommands,
  from the command's own argument parser (``scripts.cli._parser``).

The pages are added to the build in the ``on_files`` event as generated files
(``File.generated``, MkDocs >= 1.6); nothing is written into ``docs/``.
"""

from __future__ import annotations

import argparse
import html
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The repository root (docs/hooks/ is two levels below it)."""

GENERATED_PAGES = ("reference/deck-qke.md", "reference/deck-pb.md", "reference/deck-hot_plasma.md",
                   "reference/deck-bfv.md", "reference/deck-ars.md", "reference/commands.md")
"""Pages this hook generates (tests/scripts/test_docs.py accepts links to them; the build checks that
the list matches the models)."""

MODEL_TITLES = {
    "qke": "QKE decks (`model: qke`): homogeneous and lattice",
    "pb": "Pauli–Boltzmann decks (`model: pb`)",
    "hot_plasma": "Hot-plasma conversion decks (`model: hot_plasma`)",
    "bfv": "Bell–Foot–Volkas decks (`model: bfv`)",
    "ars": "ARS baryogenesis decks (`model: ars`)",
}
EXAMPLE_DECKS = {"qke": "input/lattice_1d_laptop.yaml", "pb": "input/pb_asymgen_s2_1e-6.yaml",
                 "hot_plasma": "input/hot_plasma_random_field.yaml", "bfv": "input/bfv_laptop.yaml",
                 "ars": "input/ars_scenario1.yaml"}
MODEL_PAGES = {"qke": "../models/diffusion-qke.md", "pb": "../models/pauli-boltzmann.md",
               "hot_plasma": "../models/hot-plasma.md", "bfv": "../models/bell-foot-volkas.md",
               "ars": "../models/ars.md"}


def _import_project():
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from lattice.deck import REQUIRED
    from scripts.models import BUILTIN as MODELS, schema_for

    return REQUIRED, MODELS, schema_for


def _text(s: str) -> str:
    """Plain text for a Markdown table cell: HTML-escaped, Markdown specials and | escaped."""
    s = html.escape(str(s), quote=False)
    for ch in "\\`*_[]|":
        s = s.replace(ch, "\\" + ch)
    return s


def _code(value) -> str:
    text = str(value).replace("|", "\\|")
    return f"`{text}`"


def _default(field, required) -> str:
    if field.default is required:
        return "**required**"
    value = field.default
    if value is None:
        return "automatic"
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, str):
        return _code(repr(value))
    return _code(value)


def _allowed(field) -> str:
    text = field.allowed()
    suffix = f" [{field.unit}]"
    if field.unit and text.endswith(suffix):
        text = text[: -len(suffix)]
    return _text(text)


def deck_page(model: str) -> str:
    """The Markdown reference of one model's deck schema."""
    required, models, schema_for = _import_project()
    schema = schema_for(model)
    title = MODEL_TITLES.get(model, f"`model: {model}` decks")
    out = [
        f"# {title}",
        "",
        "*Generated at build time from `scripts.models.schema_for("
        f"\"{model}\")` by `docs/hooks/deck_reference.py`; the same schema validates every deck "
        f"(`qke validate`) and is printed by `qke schema --model {model}`.*",
        "",
        f"The equations behind the keys are on the [model page]({MODEL_PAGES.get(model, '../index.md')}). "
        "A key left out takes its default; a key marked **required** must be given. "
        "Override any key on the command line with `--set section.key=value` "
        "(see [Decks](../user-guide/decks.md)).",
        "",
        "## Top level",
        "",
    ]

    def table(fields, prefix):
        rows = ["| key | unit | default | allowed | meaning |", "|---|---|---|---|---|"]
        for name, field in fields.items():
            rows.append(f"| `{prefix}{name}` | {_text(field.unit)} | {_default(field, required)} | "
                        f"{_allowed(field)} | {_text(field.doc)} |")
        return rows

    out += table(schema.top, "")
    for section, fields in schema.sections.items():
        out += ["", f"## `{section}`", ""]
        out += table(fields, f"{section}.")
    example = ROOT / EXAMPLE_DECKS.get(model, "")
    if example.is_file():
        out += ["", "## Example", "", f"`{example.relative_to(ROOT).as_posix()}`:", "",
                "```yaml", example.read_text().rstrip(), "```"]
    return "\n".join(out) + "\n"


def _subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    return {}


def commands_page() -> str:
    """The `--help` text of `qke` and of every subcommand (and sub-subcommand)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from scripts.cli import _parser

    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal width; fix it for the page
    parser = _parser()
    out = ["# Command reference", "",
           "*Generated at build time from the `qke` command's own argument parser "
           "(`scripts/cli.py`) by `docs/hooks/deck_reference.py`: each block is the command's "
           "`--help` output.*", "",
           "Exit statuses and what each command is for are explained in the "
           "[user guide](../user-guide/laptop.md).", "",
           "## `qke`", "", "```text", parser.format_help().rstrip(), "```"]

    def walk(p, prefix):
        for name, sub in _subparsers(p).items():
            full = f"{prefix} {name}"
            out.extend(["", f"## `{full}`", "", "```text", sub.format_help().rstrip(), "```"])
            walk(sub, full)

    walk(parser, "qke")
    return "\n".join(out) + "\n"


def pages() -> dict:
    """src path -> Markdown content of every generated page."""
    _, models, _ = _import_project()
    content = {f"reference/deck-{m}.md": deck_page(m) for m in models}
    content["reference/commands.md"] = commands_page()
    if set(content) != set(GENERATED_PAGES):
        raise RuntimeError(f"docs/hooks/deck_reference.py: GENERATED_PAGES {sorted(GENERATED_PAGES)} "
                           f"does not match the models' pages {sorted(content)}")
    return content


def on_files(files, config):
    """MkDocs event: add the generated reference pages to the build."""
    from mkdocs.structure.files import File

    for src, text in pages().items():
        if files.get_file_from_path(src) is not None:
            raise RuntimeError(f"docs/{src} exists: it is generated; remove the file")
        files.append(File.generated(config, src, content=text))
    return files
