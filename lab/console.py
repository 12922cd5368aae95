"""What the command line shows while it works: progress bars on stderr and the notebook's
epoch lines, so a long decode or training is never silent and its printed record reads like
the course's."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from tqdm import tqdm

from lab.epoch_lines import epoch_line, saved_line
from lab.train import BatchEvent, EndEvent, EpochEvent


def progress_printer(label: str) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback that draws one bar on stderr, closed when done."""

    state: dict = {}

    def progress(done: int, total: int) -> None:
        if "bar" not in state:
            state["bar"] = tqdm(total=total, desc=label, unit="img", file=sys.stderr)
        state["bar"].n = done
        state["bar"].refresh()
        if done >= total:
            state["bar"].close()

    return progress


class EpochPrinter:
    """A progress bar per epoch, then the notebook's epoch line (on ``out``, else stdout).
    ``close`` ends an open bar, so an error that stops the run starts on a line of its own."""

    def __init__(self, monitor: str, out: TextIO | None = None) -> None:
        self.monitor = monitor
        self.out = out
        self.bar: tqdm | None = None

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __call__(self, event: object) -> None:
        if isinstance(event, BatchEvent):
            if self.bar is None:  # an epoch begins (part-way through, for a resumed one)
                self.bar = tqdm(
                    total=event.batches,
                    initial=event.batch - 1,
                    desc=f"epoch {event.epoch}",
                    unit="batch",
                    file=sys.stderr,
                )
            self.bar.set_postfix(loss=f"{event.loss:.3f}", img_s=f"{event.images_per_s:.0f}")
            self.bar.update(1)
        elif isinstance(event, EpochEvent):
            self.close()
            out = self.out or sys.stdout
            print(epoch_line(event.row), file=out, flush=True)
            if event.improved:
                print(saved_line(event.row[self.monitor]), file=out, flush=True)
        elif isinstance(event, EndEvent):
            self.close()
