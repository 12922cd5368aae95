"""What a sweep varies is declared once in lab.sweep: the command line sweeps all of it, the
app's sweep mode the part lab names for it."""

from __future__ import annotations

from lab.config import SETTINGS
from lab.sweep import APP_SWEPT, SWEPT, TRAINED


def test_the_app_sweeps_a_part_of_what_a_sweep_varies_named_in_lab():
    assert APP_SWEPT and set(APP_SWEPT) <= set(SWEPT) <= set(SETTINGS)
    assert set(TRAINED) < set(SWEPT)
    # The app trains a learning rate for each value and replays patience values.
    assert set(APP_SWEPT) & set(TRAINED) and set(APP_SWEPT) - set(TRAINED) == {"patience"}
