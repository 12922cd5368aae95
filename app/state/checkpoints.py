"""The Checkpoints page's state: the runs picked for each section, the evaluation switches, the
patience what-if, the robustness sweep asked for, a deletion waiting for its confirmation, and
the message an action left."""

from __future__ import annotations

from app.state.store import Store

VIEW = Store(
    "ckpt",
    lambda: {
        "overlay": None,
        "metric": "val_acc",
        "detail": None,
        "focus_run": None,  # the run the Train page asked this page to open
        "evaluate": False,
        "normalize": False,
        "cam": False,  # Grad-CAM overlays on the top-loss gallery
        "compare_a": None,
        "compare_b": None,
        "disagree_class": "",  # "" = all classes
        "whatif_run": None,  # the run the what-if controls were set up for
        "whatif_patience": 0,
        "whatif_min_delta": 0.0,
        "robust_transform": "rotation",
        "robust_request": None,  # (checkpoint, transform) whose sweep was asked for
        "pending_delete": None,
        "message": None,  # (kind, text): kind "success" or "error"
    },
)


def open_run(name: str | None) -> None:
    """Ask this page to show ``name`` as its one run (the Train page's summary does)."""
    VIEW.set("focus_run", name)


def pick_detail_run(names: list[str], default: str | None) -> None:
    """The run the Train page asked for, once; else keep the choice among ``names``."""
    focus = VIEW["focus_run"]
    VIEW.set("focus_run", None)
    if focus in names:
        VIEW.set("detail", focus)
    VIEW.ensure_choice("detail", names, default)


def setup_what_if(run: str, patience: int, min_delta: float) -> None:
    """Start the what-if controls at the run's own settings whenever another run is chosen."""
    if VIEW["whatif_run"] != run:
        VIEW.update({"whatif_run": run, "whatif_patience": patience, "whatif_min_delta": min_delta})


def robustness_requested(checkpoint: str, transform: str) -> bool:
    return VIEW["robust_request"] == (checkpoint, transform)


def request_robustness(checkpoint: str, transform: str) -> None:
    VIEW.set("robust_request", (checkpoint, transform))


def pending_delete() -> str | None:
    """The run whose deletion waits for confirmation."""
    return VIEW["pending_delete"]


def set_pending_delete(name: str | None) -> None:
    VIEW.set("pending_delete", name)


def message() -> tuple[str, str] | None:
    return VIEW["message"]


def set_message(kind: str | None, text: str = "") -> None:
    VIEW.set("message", (kind, text) if kind else None)
