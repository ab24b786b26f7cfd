"""Decks: YAML files read into frozen, validated config objects.

A deck is checked completely before anything runs or is written: an unknown key, a missing
required key, a wrong type or an out-of-range value raises DeckError naming the key, the
value given and what is allowed. Every field carries its unit. Scientific notation without a
decimal point (``1e-10``), which plain YAML 1.1 reads as a string, is read as a number.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, make_dataclass
from pathlib import Path
from typing import Any

import yaml

REQUIRED = object()


class DeckError(ValueError):
    """A deck or an override is malformed; the message names the key and what is allowed."""


@dataclass(frozen=True)
class Field:
    """One deck key: its type, unit, documentation, default and allowed range."""

    name: str
    kind: type
    unit: str
    doc: str
    default: Any = REQUIRED
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: tuple | None = None
    nonzero: bool = False

    def allowed(self) -> str:
        """Human-readable statement of the allowed values."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        parts = [{float: "a number", int: "an integer", str: "a string", bool: "true or false",
                  list: "a list of 1 to 3 integers"}[self.kind]]
        if self.minimum is not None:
            parts.append(("> " if self.exclusive_minimum else ">= ") + f"{self.minimum:g}")
        if self.maximum is not None:
            parts.append(f"<= {self.maximum:g}")
        if self.nonzero:
            parts.append("not 0")
        text = " ".join(parts[:1]) + (" " + ", ".join(parts[1:]) if len(parts) > 1 else "")
        return text + (f" [{self.unit}]" if self.unit else "")

    def check(self, key: str, value):
        """Return the value converted to this field's type, or raise DeckError."""
        def fail(problem):
            raise DeckError(f"{key} = {value!r}: {problem}; allowed: {self.allowed()}")

        if self.kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                fail("not a number")
            value = float(value)
            if not math.isfinite(value):
                fail("not a finite number")
        elif self.kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                fail("not an integer")
        elif self.kind is bool:
            if not isinstance(value, bool):
                fail("not true/false")
        elif self.kind is str:
            if not isinstance(value, str):
                fail("not a string")
        elif self.kind is list:
            if isinstance(value, int) and not isinstance(value, bool):
                value = [value]
            if (not isinstance(value, list) or not 1 <= len(value) <= 3
                    or any(isinstance(v, bool) or not isinstance(v, int) for v in value)):
                fail("not a list of 1 to 3 integers")
            if self.minimum is not None and min(value) < self.minimum:
                fail("an entry is below the allowed range")
            if self.maximum is not None and max(value) > self.maximum:
                fail("an entry is above the allowed range")
            return tuple(value)
        if self.choices is not None and value not in self.choices:
            fail("not an allowed choice")
        if self.minimum is not None and (value < self.minimum or (self.exclusive_minimum and value == self.minimum)):
            fail("below the allowed range")
        if self.maximum is not None and value > self.maximum:
            fail("above the allowed range")
        if self.nonzero and value == 0:
            fail("must not be zero")
        return value


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads 1e-10 / 3E5 (no decimal point) as floats."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def parse_yaml(text: str, source: str):
    """Parse YAML text with the deck loader; errors name the source and line."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise DeckError(f"{source}: not valid YAML: {exc}") from None


def read_mapping(path):
    """Read a deck file as a raw mapping (None for an empty file); DeckError otherwise."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise DeckError(f"cannot read deck {path}: {exc.strerror}") from None
    raw = parse_yaml(text, str(path))
    if raw is not None and not isinstance(raw, dict):
        raise DeckError(f"{path}: a deck must be a mapping of keys, got {type(raw).__name__}")
    return raw


def _plain(value):
    """Tuples (list-valued fields) as lists, for YAML output."""
    return list(value) if isinstance(value, tuple) else value


class Schema:
    """A deck layout: top-level scalar keys plus named sections of Fields.

    Args:
        top: Fields allowed at the top level (e.g. ``model``).
        sections: section name -> tuple of Fields.
        checks: callables (deck) -> None raising DeckError for cross-field rules.
    """

    def __init__(self, top, sections, checks=()):
        self.top = {f.name: f for f in top}
        self.sections = {name: {f.name: f for f in fields} for name, fields in sections.items()}
        self.checks = tuple(checks)
        self._types = {
            name: make_dataclass(f"{name.title()}Section", [(f, Any) for f in fields], frozen=True)
            for name, fields in self.sections.items()
        }
        self._deck_type = make_dataclass(
            "Deck", [(k, Any) for k in list(self.top) + list(self.sections)] + [("source", Any)], frozen=True)

    @staticmethod
    def _unknown(key, allowed):
        close = difflib.get_close_matches(key.split(".")[-1], list(allowed), n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return DeckError(f"unknown key {key}{hint}; allowed: {', '.join(sorted(allowed))}")

    def build(self, raw, source="<deck>"):
        """Validate a parsed mapping and return the frozen Deck."""
        if raw is None:
            raise DeckError(f"{source}: the deck is empty; required: "
                            + ", ".join(k for k, f in self.top.items() if f.default is REQUIRED))
        if not isinstance(raw, dict):
            raise DeckError(f"{source}: a deck must be a mapping of keys, got {type(raw).__name__}")
        allowed = set(self.top) | set(self.sections)
        for key in raw:
            if key not in allowed:
                raise self._unknown(str(key), allowed)
        values = {}
        for name, field in self.top.items():
            values[name] = self._value(name, field, raw)
        for name, fields in self.sections.items():
            section = raw.get(name) or {}
            if not isinstance(section, dict):
                raise DeckError(f"{name} = {section!r}: a section must be a mapping of keys; "
                                f"allowed keys: {', '.join(fields)}")
            for key in section:
                if key not in fields:
                    raise self._unknown(f"{name}.{key}", fields)
            values[name] = self._types[name](**{k: self._value(f"{name}.{k}", f, section) for k, f in fields.items()})
        deck = self._deck_type(**values, source=source)
        for check in self.checks:
            check(deck)
        return deck

    @staticmethod
    def _value(key, field, mapping):
        short = key.split(".")[-1]
        if short not in mapping or mapping[short] is None:
            if field.default is REQUIRED:
                raise DeckError(f"missing required key {key}; allowed: {field.allowed()} — {field.doc}")
            return field.default
        return field.check(key, mapping[short])

    def apply_overrides(self, raw, overrides):
        """Apply ``section.key=value`` strings (values parsed as YAML) to a raw mapping."""
        raw = dict(raw or {})
        for item in overrides:
            if "=" not in item:
                raise DeckError(f"override {item!r}: expected section.key=value")
            path, text = item.split("=", 1)
            value = parse_yaml(text, f"override {path}")
            parts = path.strip().split(".")
            if len(parts) == 1 and parts[0] in self.top:
                raw[parts[0]] = value
            elif len(parts) == 2 and parts[0] in self.sections:
                if parts[1] not in self.sections[parts[0]]:
                    raise self._unknown(path, self.sections[parts[0]])
                raw[parts[0]] = dict(raw.get(parts[0]) or {})
                raw[parts[0]][parts[1]] = value
            else:
                raise self._unknown(path, list(self.top) + list(self.sections))
        return raw

    def to_dict(self, deck) -> dict:
        """The resolved deck (defaults filled in) as plain data."""
        out = {name: getattr(deck, name) for name in self.top}
        for name, fields in self.sections.items():
            section = getattr(deck, name)
            out[name] = {k: _plain(getattr(section, k)) for k in fields}
        return out

    def to_yaml(self, deck) -> str:
        """The resolved deck as YAML text (stored in every output file)."""
        return yaml.safe_dump(self.to_dict(deck), sort_keys=False)

    def describe(self) -> str:
        """A table of every key with unit, default and allowed values (for `qke schema`)."""
        lines = []
        for name, field in self.top.items():
            lines.append(self._describe_field(name, field))
        for section, fields in self.sections.items():
            lines.append(f"{section}:")
            for name, field in fields.items():
                lines.append("  " + self._describe_field(name, field))
        return "\n".join(lines)

    @staticmethod
    def _describe_field(name, field):
        default = "required" if field.default is REQUIRED else f"default {field.default!r}"
        return f"{name}: {field.doc} ({default}; {field.allowed()})"
