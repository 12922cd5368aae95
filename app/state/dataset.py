"""The Dataset page's state: the sample grid's classes, images per class and shuffle seed."""

from __future__ import annotations

from app.state.store import Store

GRID = Store("grid", lambda: {"classes": None, "per_class": 8, "seed": 0})
