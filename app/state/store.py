"""Where what a user sets is kept: one ``Store`` of plain values per concern.

Streamlit keeps a widget's value only while runs draw the widget: a page that does not draw it
drops it, and so can the run of a fragment elsewhere on the page (the sidebar's polling
fragment runs every second or two while a job trains, and would take every setting of the Train
page with it). So no value a user sets lives only in a widget. Each state module owns a
``Store``: a plain dict in ``st.session_state`` under a key that no widget uses, which
Streamlit never clears. A widget's key is derived from the store's name and the value's name;
``Store.widget`` seeds it from the store whenever it is missing or shows something else, and
the widget's ``on_change`` writes the user's change back. A value is lost only when the session
ends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import streamlit as st

# ``Store.widget``'s default for ``shown``: the widget shows the stored value.
STORED = object()


class Store:
    """The values of one concern (the Train form, the Augmentations controls ...), by name."""

    def __init__(self, name: str, initial: Callable[[], Mapping[str, Any]]) -> None:
        self.name = name
        self._initial = initial
        # The session-state key of the values (no widget uses it).
        self.slot = f"_{name}_store"

    def _values(self) -> dict[str, Any]:
        session = st.session_state
        if self.slot not in session:
            session[self.slot] = dict(self._initial())
        return session[self.slot]

    def key(self, field: str) -> str:
        """The key of the widget that shows ``field``."""
        return f"{self.name}_{field}"

    def __getitem__(self, field: str) -> Any:
        return self._values()[field]

    def get(self, field: str, default: Any = None) -> Any:
        return self._values().get(field, default)

    def values(self) -> dict[str, Any]:
        """A copy of every value."""
        return dict(self._values())

    def set(self, field: str, value: Any) -> None:
        """Change a value; its widget shows it from its next draw on."""
        self._values()[field] = value

    def update(self, values: Mapping[str, Any]) -> None:
        self._values().update(values)

    def widget(
        self, field: str, shown: Any = STORED, then: Callable[[], None] | None = None
    ) -> dict[str, Any]:
        """The keyword arguments that bind a widget to ``field``: its key, seeded with the value
        it is to show, and an ``on_change`` that writes the user's change back to the store
        (then calls ``then``). ``shown`` displays another value without touching the store, as
        a locked form does with the settings of the run it shows."""
        key = self.key(field)
        value = self[field] if shown is STORED else shown
        session = st.session_state
        if key not in session or session[key] != value:
            session[key] = value
        return {"key": key, "on_change": self._keep, "args": (field, then)}

    def _keep(self, field: str, then: Callable[[], None] | None) -> None:
        self._values()[field] = st.session_state[self.key(field)]
        if then is not None:
            then()

    def ensure_choice(self, field: str, options: Sequence, default: Any = None) -> None:
        """Keep a choice among ``options`` (they change with the data or the runs): an unknown
        value becomes ``default``, else the first option."""
        if self.get(field) not in options:
            fallback = options[0] if options else None
            self.set(field, default if default in options else fallback)

    def ensure_choices(self, field: str, options: Sequence, default: Sequence) -> None:
        """The multiselect version of ``ensure_choice``."""
        current = self.get(field)
        if current is None or not set(current) <= set(options):
            self.set(field, [value for value in default if value in options])

    def advance(self, field: str) -> None:
        """Button callback: the next value of a counter (the seed of a Reshuffle button)."""
        self.set(field, int(self.get(field, 0)) + 1)
