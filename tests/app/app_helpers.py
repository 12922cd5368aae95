"""Helpers of the app tests: open the app on a page, find widgets and text, poll a page."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from app.nav import Page
from app.state.checkpoints import TABS, VIEW
from app.state.store import Store
from lab.config import RunConfig
from lab.presets import preset_config
from tests.waiting import wait_until

APP = Path(__file__).resolve().parents[2] / "streamlit_app.py"


def new_app() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=60)


def open_page(page: Page) -> AppTest:
    """A fresh session showing ``page`` (after the router's first run)."""
    at = new_app().run()
    return go_to(at, page)


def go_to(at: AppTest, page: Page) -> AppTest:
    """Switch ``at``'s session to ``page``, as the sidebar's navigation does."""
    at.switch_page(page.script).run()
    return at


def button(at: AppTest, label: str):
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r} among {[b.label for b in at.button]}"
    return matches[0]


# The kinds of widget a setting's control can be (see app.settings.control).
CONTROL_KINDS = ("toggle", "selectbox", "select_slider", "slider", "number_input", "text_input")


def keyed_widget(at: AppTest, key: str):
    """The widget drawn with ``key``, whatever its kind."""
    found = [w for kind in CONTROL_KINDS for w in getattr(at, kind) if w.key == key]
    assert len(found) == 1, f"{len(found)} widgets with key {key!r}"
    return found[0]


def texts(at: AppTest) -> str:
    """Every markdown, caption, alert and metric text of the page, for searching."""
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [a.value for kind in (at.info, at.warning, at.error, at.success) for a in kind]
    parts += [f"{m.label}: {m.value}" for m in at.metric]
    return "\n".join(str(p) for p in parts)


def chart_axes(at: AppTest) -> list[tuple[str, str]]:
    """What each chart of the page plots, in page order: the fields on its x and y axes (of its
    first layer that has both)."""
    found = []
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        layers = [spec, *spec.get("layer", [])]
        encoding = next(
            layer["encoding"]
            for layer in layers
            if "x" in layer.get("encoding", {}) and "y" in layer.get("encoding", {})
        )
        found.append((encoding["x"]["field"], encoding["y"]["field"]))
    return found


def poll_until(at: AppTest, condition, timeout: float = 60.0, interval: float = 0.2):
    """Rerun the page (as the live view's timer does) until ``condition(at)`` holds."""

    def rerun_and_check() -> bool:
        at.run()
        assert not at.exception, at.exception[0].message
        return bool(condition(at))

    wait_until(
        rerun_and_check, timeout=timeout, interval=interval, what="the page condition",
        explain=lambda: texts(at),
    )  # fmt: skip
    return at


def tiny_run_config(source: Path, epochs: int, lr: float = 3e-3) -> RunConfig:
    """A quick cpu-fast run on the tiny image folder: the narrowest network, small batches."""
    return preset_config("cpu-fast", str(source)).with_overrides(
        model={"width": 0.125},
        train={"epochs": epochs, "batch_size": 16, "lr": lr, "eval_batch_size": 64},
    )


def stored(at: AppTest, store: Store) -> dict:
    """The values ``store`` holds in ``at``'s session."""
    return at.session_state[store.slot]


def open_tab(at, label: str):
    """Open one tab of the Checkpoints page, as a click on it does (``st.tabs`` reads the open
    tab from its key's session state)."""
    assert label in TABS
    at.session_state[VIEW.key("tab")] = label
    at.run()
    assert not at.exception, at.exception[0].message
    return at
