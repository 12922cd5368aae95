"""Controls built from the settings declaration of ``lab.config``: ``control`` draws the widget
of any ``Setting``, bound to a ``Store``.

The kind of control follows from the declaration alone: a bool is a toggle, choices are a
selectbox, stops (``spec.options``) a select slider, a bounded range a slider, and a range too
wide or open-ended for one a number box. The range a control offers is the declaration's
(``Setting.control_range``: ``spec.control_max`` where it gives one, else ``spec.high``), and so
are the label and the help, whose range sentence says that range where it is narrower than
the valid one; a setting added to ``lab.config`` needs no edit here.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import streamlit as st

from app.state.store import STORED, Store
from lab.config import Setting

# A whole-number range of at most this many steps is a slider; a wider one (the seed) a box.
MAX_SLIDER_STEPS = 1000


def _is_number(setting: Setting) -> bool:
    return setting.kind in ("int", "float")


def control_value(setting: Setting, value: Any) -> Any:
    """What the control shows for a config value: 0 for the None of an optional number (the
    app's "0 = all"), and the nearest stop (by ratio, for positive stops) for a value a
    select slider does not offer."""
    if value is None and setting.optional and _is_number(setting):
        return 0
    if value in setting.spec.options:
        return value
    return setting.nearest_option(value)


def config_value(setting: Setting, shown: Any) -> Any:
    """The config value a control's value stands for (inverse of ``control_value``)."""
    if shown == 0 and setting.optional and _is_number(setting):
        return None
    return shown


def _slider_step(low: float, top: float) -> float:
    """A round step that cuts a float range into about 20 to 50 stops."""
    span = top - low
    step = 10.0 ** math.floor(math.log10(span / 20))
    return step * 5 if span / step > 50 else step


def control(
    container: Any,
    setting: Setting,
    store: Store,
    *,
    field: str | None = None,
    shown: Any = STORED,
    disabled: bool = False,
    then: Callable[[], None] | None = None,
) -> Any:
    """Draw the control of ``setting`` in ``container``, bound to ``field`` (default: the
    setting's key) of ``store``, and return its value as the control holds it (see
    ``config_value``). ``shown`` displays another value without changing the store (the
    settings of an active run); ``then`` runs after the user changed the value."""
    spec = setting.spec
    bound = store.widget(field or setting.key, shown, then)
    # The value about to be shown: the range offered always holds it, so a run made on the
    # command line (120 epochs, a learning rate between two stops) shows as it is.
    value = st.session_state[bound["key"]]
    help_text = setting.describe(control=True)
    common = {"label": spec.label, "help": help_text, "disabled": disabled, **bound}
    if setting.kind == "bool":
        return container.toggle(**common)
    if spec.choices:
        return container.selectbox(options=spec.choices, **common)
    if spec.options:
        options = sorted({*spec.options, value})
        words = functools.partial(setting.in_words, unit=False)
        return container.select_slider(options=options, format_func=words, **common)
    if not _is_number(setting):
        return container.text_input(**common)
    low, top = setting.control_range()
    top = None if top is None else max(top, value)
    if setting.kind == "int":
        if top is not None and top - low <= MAX_SLIDER_STEPS:
            return container.slider(min_value=int(low), max_value=int(top), step=1, **common)
        top = None if top is None else int(top)
        return container.number_input(min_value=int(low), max_value=top, step=1, **common)
    if spec.high is not None:
        step = _slider_step(low, top)
        return container.slider(min_value=float(low), max_value=float(top), step=step, **common)
    # An open-ended float (min delta): a number box with steps of a thousandth of its range.
    step = 10.0 ** math.floor(math.log10(top / 1000)) if top else 0.001
    decimals = max(0, -math.floor(math.log10(step))) + 1
    return container.number_input(
        min_value=float(low), max_value=top, step=step, format=f"%.{decimals}f", **common
    )
