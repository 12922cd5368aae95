"""Early stopping as a pure decision: feed it one value per epoch, it says whether to stop.

Semantics follow the course notebook: a value counts as an improvement when it beats the best so
far by more than ``min_delta``; otherwise a counter grows, and training stops once the counter
*exceeds* ``patience``. With patience 5 and the best value at epoch 24, the stop comes after
epoch 30.
"""

from __future__ import annotations

import math

from lab.errors import ConfigError

MODES = ("max", "min")


class EarlyStopping:
    """Tracks the best value and the epochs since it; ``update`` returns ``(stop, reason)``."""

    def __init__(self, patience: int = 5, mode: str = "max", min_delta: float = 0.0) -> None:
        if patience < 0:
            raise ConfigError(f"patience must be >= 0, got {patience}")
        if mode not in MODES:
            raise ConfigError(f"unknown mode '{mode}': choose one of {', '.join(MODES)}")
        if min_delta < 0:
            raise ConfigError(f"min_delta must be >= 0, got {min_delta}")
        self.patience = patience
        self.mode = mode
        self.min_delta = min_delta
        self.best: float | None = None
        self.best_epoch = 0
        self.epoch = 0
        self.counter = 0
        self.improved = False

    def is_improvement(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "max":
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def update(self, value: float) -> tuple[bool, str | None]:
        """Record one epoch's value; ``improved`` tells whether it is the new best."""
        self.epoch += 1
        if not math.isfinite(value):
            self.improved = False
            return True, f"diverged: monitored value is {value} at epoch {self.epoch}"
        self.improved = self.is_improvement(value)
        if self.improved:
            self.best, self.best_epoch, self.counter = value, self.epoch, 0
            return False, None
        self.counter += 1
        if self.counter > self.patience:
            return True, (
                f"early stop: no improvement for {self.counter} epochs "
                f"(patience {self.patience}); best {self.best:.4f} at epoch {self.best_epoch}"
            )
        return False, None

    def state_dict(self) -> dict:
        return {
            "patience": self.patience,
            "mode": self.mode,
            "min_delta": self.min_delta,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "epoch": self.epoch,
            "counter": self.counter,
        }

    def load_state_dict(self, state: dict) -> None:
        for key in ("best", "best_epoch", "epoch", "counter"):
            setattr(self, key, state[key])


def replay(values: list[float], patience: int, mode: str = "max", min_delta: float = 0.0) -> dict:
    """Replay a recorded history: where would training have stopped, which epoch kept?"""
    stopper = EarlyStopping(patience=patience, mode=mode, min_delta=min_delta)
    for value in values:
        stop, reason = stopper.update(value)
        if stop:
            return {"stop_epoch": stopper.epoch, "best_epoch": stopper.best_epoch, "reason": reason}
    return {"stop_epoch": None, "best_epoch": stopper.best_epoch, "reason": None}
