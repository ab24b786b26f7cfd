"""Deck validation: malformed decks fail before anything runs, naming the offending key."""

import textwrap

import pytest

from lattice.deck import DeckError
from scripts.models import load_deck
from scripts.cli import main

GOOD = textwrap.dedent("""\
    model: qke
    physics:
      delta_m2_eV2: -1.0
      sin2_2theta: 1e-5
      L0: 1e-10
    time:
      T_start_MeV: 20.0
      T_end_MeV: 19.0
    output:
      samples: 5
      progress: none
    """)

# (deck text, text the error message must contain)
MALFORMED = [
    (GOOD.replace("  L0: 1e-10", "  L0: 1e-10\n  sin2theta: 0.1"), "physics.sin2theta"),
    (GOOD.replace("T_start_MeV: 20.0", "T_start_MeV: -20.0"), "time.T_start_MeV"),
    (GOOD.replace("T_end_MeV: 19.0", "T_end_MeV: 25.0"), "time.T_end_MeV"),
    (GOOD.replace("sin2_2theta: 1e-5", "sin2_2theta: 1.5"), "physics.sin2_2theta"),
    (GOOD.replace("delta_m2_eV2: -1.0", "delta_m2_eV2: minus one"), "physics.delta_m2_eV2"),
    ("", "empty"),
    (GOOD.replace("model: qke", "model: qkee"), "model"),
    (GOOD.replace("  delta_m2_eV2: -1.0\n", ""), "physics.delta_m2_eV2"),
    (GOOD.replace("delta_m2_eV2: -1.0", "delta_m2_eV2: 0"), "physics.delta_m2_eV2"),
    (GOOD.replace("samples: 5", "samples: 2.5"), "output.samples"),
    (GOOD.replace("progress: none", "progress: sometimes"), "output.progress"),
    (GOOD + "integrator:\n  rtol: 0.5\n", "integrator.rtol"),
    (GOOD + "integrater:\n  rtol: 1e-8\n", "integrater"),
    (GOOD.replace("L0: 1e-10", "L0: [1, 2]"), "physics.L0"),
    (GOOD.replace("L0: 1e-10", "L0: .nan"), "physics.L0"),
    (GOOD.replace("T_end_MeV: 19.0", "T_end_MeV: true"), "time.T_end_MeV"),
    ("- just\n- a list\n", "mapping"),
    ("model: qke\nphysics: [1, 2]\n", "physics"),
    (GOOD.replace("delta_m2_eV2: -1.0", "delta_m2_eV2: [unclosed"), "YAML"),
    (GOOD + "grid:\n  shape: [4, 4]\nintegrator:\n  stage_solver: direct\n", "integrator.stage_solver"),
    (GOOD + "grid:\n  shape: [8]\nintegrator:\n  method: dopri5\n  coupling: strang\n", "integrator.method"),
    (GOOD + "grid:\n  shape: [8]\nintegrator:\n  stage_solver: direct\n  coupling: strang\n",
     "integrator.stage_solver"),
    (GOOD + "integrator:\n  stage_solver: lu\n", "integrator.stage_solver"),
]


@pytest.mark.parametrize("text,needle", MALFORMED)
def test_malformed_deck_fails_naming_key_and_writes_nothing(tmp_path, capsys, text, needle):
    deck = tmp_path / "bad.yaml"
    deck.write_text(text)
    out = tmp_path / "out"
    rc = main(["run", str(deck), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2
    assert needle in err, err
    assert "deck error" in err
    assert not out.exists()


def test_error_message_names_value_and_allowed_range(tmp_path):
    deck = tmp_path / "d.yaml"
    deck.write_text(GOOD.replace("sin2_2theta: 1e-5", "sin2_2theta: 1.5"))
    with pytest.raises(DeckError) as info:
        load_deck(deck)
    message = str(info.value)
    assert "1.5" in message and "<= 1" in message


def test_unknown_key_suggests_the_close_match(tmp_path):
    deck = tmp_path / "d.yaml"
    deck.write_text(GOOD.replace("  L0: 1e-10", "  LO: 1e-10"))
    with pytest.raises(DeckError, match="did you mean 'L0'"):
        load_deck(deck)


def test_scientific_notation_without_a_point_is_a_number(tmp_path):
    deck = tmp_path / "d.yaml"
    deck.write_text(GOOD)
    d, _ = load_deck(deck)
    assert d.physics.L0 == 1e-10 and d.physics.sin2_2theta == 1e-5


def test_overrides_are_validated_like_the_deck(tmp_path):
    deck = tmp_path / "d.yaml"
    deck.write_text(GOOD)
    d, _ = load_deck(deck, ["physics.L0=-3e-10", "integrator.rtol=1e-6"])
    assert d.physics.L0 == -3e-10 and d.integrator.rtol == 1e-6
    with pytest.raises(DeckError, match="physics.nope"):
        load_deck(deck, ["physics.nope=1"])
    with pytest.raises(DeckError, match="time.T_end_MeV"):
        load_deck(deck, ["time.T_end_MeV=30"])


def test_config_is_frozen(tmp_path):
    deck = tmp_path / "d.yaml"
    deck.write_text(GOOD)
    d, _ = load_deck(deck)
    with pytest.raises(Exception):
        d.physics.L0 = 0.0


def test_shipped_decks_validate():
    from conftest import INPUT

    for path in sorted(INPUT.glob("*.yaml")):
        assert main(["validate", str(path)]) == 0, path
