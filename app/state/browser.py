"""This browser: the key in the page address that makes its runs its own, the name its student
gives, and what its stores hold, kept on the server under that key.

Streamlit makes a new session for every page load, so a session's id cannot say whose a run
is: a reload would take it away. Instead a browser gets a key (``secrets.token_urlsafe``) on its
first visit, kept in the page address (``?key=...``) the way Jupyter keeps its token: the same
address, after a reload or a closed tab, is the same student. The key is the owner the job
manager records (``lab.jobs``), so whoever has the address may pause, resume and stop its runs,
and nobody else. It is a secret: no page shows it and nothing logs it. A page switch clears the
address's parameters (``st.navigation`` does), so every page run puts the key back.

The values of the stores ``remember`` is given (the Train form's settings, the job the browser
follows, the student's name ...) live in a ``Memory`` on the server under the key, and each new
session with the key takes them up, so a reload brings them back. The memory lasts as long as
the server process, as its training jobs do.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterable

import streamlit as st

from app.state.store import Store
from lab.runs import owner_name

KEY_PARAM = "key"
# Random bytes of a key: 32 characters in the address.
KEY_BYTES = 24
# What a key the lab made looks like; an address with anything else gets a new key, so a key
# cannot be short enough to guess.
KEY_FORM = re.compile(r"[A-Za-z0-9_-]{32}")
# Browsers whose stores the server keeps (the most recently seen): a class and then some.
REMEMBERED = 1000
_KEY_SLOT = "_browser_key"

STUDENT = Store("student", lambda: {"name": ""})


class Memory:
    """The stores of every browser by key (each a dict of store slot -> values), for the
    ``capacity`` most recently seen; shared by every session of the server."""

    def __init__(self, capacity: int = REMEMBERED) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._browsers: OrderedDict[str, dict[str, dict]] = OrderedDict()

    def of(self, key: str) -> dict[str, dict]:
        """The stores of browser ``key`` (empty for a browser not seen before)."""
        with self._lock:
            stores = self._browsers.setdefault(key, {})
            self._browsers.move_to_end(key)
            while len(self._browsers) > self._capacity:
                self._browsers.popitem(last=False)
            return stores


@st.cache_resource(show_spinner=False)
def memory() -> Memory:
    return Memory()


def key() -> str:
    """This browser's key: the one in the address on the session's first run, when it is one
    the lab makes, else a new one."""
    session = st.session_state
    if _KEY_SLOT not in session:
        given = st.query_params.get(KEY_PARAM, "")
        made = given if KEY_FORM.fullmatch(given) else secrets.token_urlsafe(KEY_BYTES)
        session[_KEY_SLOT] = made
    return session[_KEY_SLOT]


def remember(stores: Iterable[Store]) -> None:
    """On every page run, before the page: the key back in the address, and the values of
    ``stores`` shared with the browser's memory (a new session takes up what the memory holds;
    a store the memory lacks joins it), so every change the session makes is kept there."""
    own = key()
    if st.query_params.get(KEY_PARAM) != own:
        st.query_params[KEY_PARAM] = own
    kept = memory().of(own)
    session = st.session_state
    for store in stores:
        if store.slot not in kept:
            store.values()  # makes the session's values of a store not used yet
            kept[store.slot] = session[store.slot]
        session[store.slot] = kept[store.slot]


def name() -> str:
    """The name the student gave ("" before they give one)."""
    return STUDENT["name"]


def keep_name() -> None:
    """The name box's callback: the name as the lab records and shows it (``owner_name``)."""
    STUDENT.set("name", owner_name(STUDENT["name"]))
