"""The Checkpoints page's state: the open tab, the runs picked for each tab, the switches of
the views, the patience what-if, the robustness sweep asked for (and its result), the map's
projection and picked image, the sweep and combination shown, a deletion waiting for its
confirmation, and the message an action left."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app.state.store import Store

# The page's tabs, in order. Only the open one runs (st.tabs tracks which, see ``tab_widget``).
TABS = ("Overview", "Errors", "Calibration", "Compare", "Dynamics", "Robustness", "Map", "Sweeps")

VIEW = Store(
    "ckpt",
    lambda: {
        "tab": TABS[0],
        "overlay": None,
        "metric": "val_acc",
        "detail": None,
        "focus_run": None,  # the run the Train page asked this page to open
        "normalize": False,
        "cam": False,  # Grad-CAM overlays on the top-loss gallery
        "compare_a": None,
        "compare_b": None,
        "disagree_class": "",  # "" = all classes
        "whatif_run": None,  # the run the what-if controls were set up for
        "whatif_patience": 0,
        "whatif_min_delta": 0.0,
        "robust_transform": "rotation",
        "robust_request": None,  # (checkpoint version, transform) whose sweep was asked for
        "robust_result": None,  # (checkpoint version, transform, frame) of the last sweep run
        "map_method": "tsne",
        "map_other": "",  # "" = one map only
        "map_index": None,  # the test image picked on the map
        "sweep": None,
        "sweep_slice": None,  # (batch size, epochs) shown, when the sweep has several
        "sweep_pick": None,  # the row of the sweep's results shown as curves
        "pending_delete": None,
        "message": None,  # (kind, text): kind "success" or "error"
    },
)


def tab_widget() -> dict[str, Any]:
    """The keyword arguments of the page's ``st.tabs``: they track the open tab (so only its
    body runs) under a key of their own, seeded from the store when Streamlit has dropped it
    (a visit to another page), and written back to the store on every switch.

    Unlike ``Store.widget`` the key is seeded only when missing: the open tab may be set
    through the key's session state, as ``st.tabs`` documents (and the tests do)."""
    key = VIEW.key("tab")
    if st.session_state.get(key) not in TABS:
        st.session_state[key] = VIEW["tab"]
    return {"key": key, "on_change": _keep_tab}


def _keep_tab() -> None:
    VIEW.set("tab", st.session_state[VIEW.key("tab")])


def picked_on_chart(chart: str, field: str, target: str) -> None:
    """``on_select`` callback of a chart keyed ``chart``: the ``field`` of the mark clicked
    becomes the ``target`` value (a click on the background keeps the last pick)."""
    picked = st.session_state[chart]["selection"].get("picked") or []
    if picked and field in picked[0]:
        VIEW.set(target, picked[0][field])


def open_run(name: str | None) -> None:
    """Ask this page to show ``name`` as its one run (the Train page's summary does)."""
    VIEW.set("focus_run", name)


def pick_detail_run(names: list[str], default: str | None) -> None:
    """The run the Train page asked for, once; else keep the choice among ``names``."""
    focus = VIEW["focus_run"]
    VIEW.set("focus_run", None)
    if focus in names:
        VIEW.update({"detail": focus, "tab": TABS[0]})
        st.session_state.pop(VIEW.key("tab"), None)
    VIEW.ensure_choice("detail", names, default)


def setup_what_if(run: str, patience: int, min_delta: float) -> None:
    """Start the what-if controls at the run's own settings whenever another run is chosen."""
    if VIEW["whatif_run"] != run:
        VIEW.update({"whatif_run": run, "whatif_patience": patience, "whatif_min_delta": min_delta})


def robustness_requested(version: tuple, transform: str) -> bool:
    return VIEW["robust_request"] == (version, transform)


def request_robustness(version: tuple, transform: str) -> None:
    VIEW.set("robust_request", (version, transform))


def robustness_result(version: tuple, transform: str):
    """The frame of the last robustness sweep, if it was run on this checkpoint version and
    transform; else None."""
    kept = VIEW["robust_result"]
    if kept is not None and kept[:2] == (version, transform):
        return kept[2]
    return None


def keep_robustness(version: tuple, transform: str, frame) -> None:
    VIEW.set("robust_result", (version, transform, frame))


def pending_delete() -> str | None:
    """The run whose deletion waits for confirmation."""
    return VIEW["pending_delete"]


def set_pending_delete(name: str | None) -> None:
    VIEW.set("pending_delete", name)


def message() -> tuple[str, str] | None:
    return VIEW["message"]


def set_message(kind: str | None, text: str = "") -> None:
    VIEW.set("message", (kind, text) if kind else None)
