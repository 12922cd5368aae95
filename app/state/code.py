"""The Train page's code view: whether it is open, the step of the script it shows, and the run
it showed last, so that a change of the form brings up the step where that change lands.

A step is named by the title of its ``lab.codegen.Section``; ``landing`` decides which step a
change lands in, from the two runs alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.state.store import Store
from lab.codegen import FIELD_PATHS, section_for_setting
from lab.codegen.section import value_of
from lab.config import SETTINGS, RunConfig

VIEW = Store("code", lambda: {"open": False, "step": None, "shown": None})


def landing(before: RunConfig, after: RunConfig, keys: Sequence[str]) -> str | None:
    """The title of the step of ``after``'s script where the change from ``before`` shows:
    that of the first setting that changed, the form's settings ``keys`` first (a model brings
    its own resize along, but the change is the model's); a field no setting shows (the resize
    of an augmentation) counts when no setting changed. None when nothing changed."""
    old, new = before.settings(), after.settings()
    changed = [key for key in dict.fromkeys([*keys, *SETTINGS]) if old[key] != new[key]]
    if not changed:
        changed = [p for p in FIELD_PATHS if value_of(before, p) != value_of(after, p)]
    return section_for_setting(after, changed[0]).title if changed else None


def follow(config: RunConfig, keys: Sequence[str], titles: Sequence[str]) -> None:
    """Before the view draws ``config``: the step where its change from the run shown last
    lands becomes the one shown; a step that is not among ``titles`` gives way to the step of
    the form's first setting."""
    shown = VIEW["shown"]
    if shown is not None and shown != config:
        step = landing(shown, config, keys)
        if step is not None:
            VIEW.set("step", step)
    VIEW.set("shown", config)
    VIEW.ensure_choice("step", titles, section_for_setting(config, keys[0]).title)
