"""Which run, and which of its checkpoint files, a page uses unless the user picks another: the
run with the best validation accuracy, and a run's best.pt (else last.pt). The Checkpoints,
Classify and Inside pages all choose a run this way."""

from __future__ import annotations

from pathlib import Path

from lab import runs
from lab.runs import RunInfo


def checkpoint_file(run: RunInfo) -> Path:
    """best.pt when the run has one, else last.pt (``lab.runs.checkpoint_to_show``)."""
    return runs.checkpoint_to_show(run.path)


def best_run(found: list[RunInfo]) -> str | None:
    """The run with the best validation accuracy (else test accuracy), the default choice."""
    scored = [r for r in found if (r.best_val_acc or r.test_acc) is not None]
    if not scored:
        return found[0].name if found else None
    return max(scored, key=lambda r: (r.best_val_acc or 0.0, r.test_acc or 0.0)).name
