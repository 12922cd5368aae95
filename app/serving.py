"""Whether the lab is served beyond this machine, and how it then names the server's folders.

``make app`` serves localhost only (``server.address`` in .streamlit/config.toml). Served to a
class (``--server.address 0.0.0.0``, README's "Serving a class"), every browser would read the
server's absolute paths in the sidebar and the captions. Then a folder inside one of the
allowed roots (``lab.paths.allowed_roots``) is named from that root's own name, so
``/srv/lab/runs/run-1`` shows as ``runs/run-1``, and a folder typed that way is read back as the
server's folder it names.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import streamlit as st

from lab.paths import allowed_roots

# Addresses that serve this machine only. Streamlit serves every interface when none is set.
LOCAL_ADDRESSES = frozenset({"localhost", "127.0.0.1", "::1"})


def beyond_localhost(address: str | None) -> bool:
    """True unless ``address`` serves this machine only."""
    return not address or not (address in LOCAL_ADDRESSES or address.startswith("127."))


def _named(roots: Sequence[Path]) -> list[Path]:
    """The roots that have a name, the deepest first (a root inside another is named by its
    own name)."""
    return sorted((root for root in roots if root.name), key=lambda r: len(r.parts), reverse=True)


def from_roots(text: str, roots: Sequence[Path]) -> str:
    """``text`` with each absolute path inside one of ``roots`` written from that root's name:
    ``/srv/lab/runs/run-1`` -> ``runs/run-1`` (and ``/srv/lab/runs2`` left alone)."""
    for root in _named(roots):
        # The root's path as a whole: not followed by more of a name (a "." ending a sentence
        # is not more of a name).
        text = re.sub(re.escape(str(root)) + r"(?![\w-]|\.\w)", root.name, text)
    return text


def to_server(text: str, roots: Sequence[Path]) -> str:
    """A folder typed as ``from_roots`` names it (``runs/mine``), as the server's path; any
    other text as typed."""
    first, _, rest = text.strip().partition("/")
    for root in roots:
        if root.name and first == root.name:
            return str(root / rest) if rest else str(root)
    return text


def served_beyond_localhost() -> bool:
    return beyond_localhost(st.get_option("server.address"))


def shown(text: object) -> str:
    """``text`` (a path, a message) as every browser may read it: the server's folders named
    from their roots when the lab is served beyond localhost, unchanged on localhost."""
    text = str(text)
    return from_roots(text, allowed_roots()) if served_beyond_localhost() else text


def typed(text: str) -> str:
    """A folder a user typed, as the server's path (``shown``'s way back)."""
    return to_server(text, allowed_roots()) if served_beyond_localhost() else text
