"""How a run ended, as a typed value: what ``fit`` returns and ``metrics.json`` stores.

Nothing in the lab decides by reading a reason's text: the CLI's exit code, the job manager's
state and the runs table all branch on an ``Outcome``. The reason text beside it is for people.
"""

from __future__ import annotations

from enum import Enum


class Outcome(str, Enum):
    """The end of a run. The values are what ``metrics.json`` and checkpoints store."""

    FINISHED = "finished"  # every epoch of the schedule ran
    EARLY_STOPPED = "early_stopped"  # the monitored score stopped improving for patience epochs
    DIVERGED = "diverged"  # the loss became non-finite or exploded; best.pt is kept
    STOPPED = "stopped"  # the user stopped it; it can be resumed
    INTERRUPTED = "interrupted"  # the process was interrupted (Ctrl-C); it can be resumed

    @property
    def label(self) -> str:
        return {
            Outcome.FINISHED: "finished",
            Outcome.EARLY_STOPPED: "stopped early",
            Outcome.DIVERGED: "diverged",
            Outcome.STOPPED: "stopped by the user",
            Outcome.INTERRUPTED: "interrupted",
        }[self]

    @property
    def resumable(self) -> bool:
        """True when training can continue from ``last.pt``."""
        return self in (Outcome.STOPPED, Outcome.INTERRUPTED)

    @property
    def complete(self) -> bool:
        """True when the run reached its natural end (nothing left to train)."""
        return self in (Outcome.FINISHED, Outcome.EARLY_STOPPED, Outcome.DIVERGED)

    @classmethod
    def parse(cls, value: object) -> Outcome | None:
        """The outcome a file stored, or None for one it does not hold (or a damaged value)."""
        try:
            return cls(value)
        except ValueError:
            return None
