"""Helpers of the app tests: open the app on a page, find widgets and text, poll a page."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "streamlit_app.py"
PAGES = (
    "app_pages/1_dataset.py",
    "app_pages/2_augmentations.py",
    "app_pages/3_train.py",
    "app_pages/4_checkpoints.py",
    "app_pages/5_classify.py",
)


def new_app() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=60)


def open_page(page: str) -> AppTest:
    """A fresh session showing ``page`` (after the router's first run)."""
    at = new_app().run()
    at.switch_page(page).run()
    return at


def button(at: AppTest, label: str):
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r} among {[b.label for b in at.button]}"
    return matches[0]


def texts(at: AppTest) -> str:
    """Every markdown, caption, alert and metric text of the page, for searching."""
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [a.value for kind in (at.info, at.warning, at.error, at.success) for a in kind]
    parts += [f"{m.label}: {m.value}" for m in at.metric]
    return "\n".join(str(p) for p in parts)


def poll_until(at: AppTest, condition, timeout: float = 60.0, interval: float = 0.2):
    """Rerun the page (as the live view's timer does) until ``condition(at)`` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception, at.exception[0].message
        if condition(at):
            return at
        time.sleep(interval)
    pytest.fail(f"page condition not met within {timeout} s:\n{texts(at)}")
