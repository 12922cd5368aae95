"""The glossary: a word that names a setting (or one of its choices) is explained by that
setting's declared help, so the glossary and the control's tooltip cannot disagree."""

from __future__ import annotations

import pytest

from app.glossary import SETTING_TERMS, TERMS
from lab.config import MONITORS, SETTINGS


@pytest.mark.parametrize(
    ("term", "key"),
    [
        ("width", "width"),
        ("one-cycle", "schedule"),
        ("label smoothing", "label_smoothing"),
        ("patience", "patience"),
        ("min delta", "min_delta"),
        ("TTA (flip averaging)", "tta_flip"),
        ("bf16", "precision"),
    ],
)
def test_a_setting_is_explained_by_its_declared_help(term, key):
    assert TERMS[term] == SETTINGS[key].spec.help


def test_no_hand_written_entry_explains_a_setting_or_a_choice():
    names = set()
    for declared in SETTINGS.values():
        names |= {declared.key, declared.key.replace("_", " "), declared.spec.label}
        names |= {str(choice) for choice in declared.spec.choices}
    written = {term.lower() for term in set(TERMS) - set(SETTING_TERMS)}
    # The history's columns: the monitor's choices are its metrics, and lr the rate an epoch
    # started at, not the setting.
    assert written & {name.lower() for name in names} == {"lr", *MONITORS}
    assert all(key in SETTINGS for key in SETTING_TERMS.values())
