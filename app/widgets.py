"""Small controls that several pages share and the settings declaration does not describe: a
class picker with an "every class" entry, and the button that draws new random images."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from app import nav
from app.state.store import Store


def class_choice(
    container: Any, label: str, classes: Sequence[str], store: Store, field: str, none: str
) -> str | None:
    """A selectbox of ``classes`` plus an entry worded ``none`` (chosen first), bound to
    ``field`` of ``store``; the chosen class, or None for that entry."""
    options = ["", *classes]
    store.ensure_choice(field, options, "")
    chosen = container.selectbox(
        label, options, format_func=lambda name: name or none, **store.widget(field)
    )
    return chosen or None


def redraw_button(container: Any, label: str, icon: str, store: Store, help: str | None = None):
    """A button that advances the ``seed`` of ``store``: new random images."""
    container.button(
        label, icon=icon, on_click=store.advance, args=("seed",), help=help, width="stretch"
    )


def no_runs_yet(runs_dir: Any, alternative: str = "") -> None:
    """Say that the runs folder holds no run and how to make one, link the Train page, and end
    the page here."""
    st.info(
        f"No runs in `{runs_dir}` yet. Train one on the Train page (the **cpu-fast** preset takes "
        f"minutes) or with `cifar-lab train --preset cpu-fast`{alternative}; its checkpoints "
        "appear here."
    )
    nav.link(nav.TRAIN, "Go to the Train page")
    st.stop()
