"""What the command line prints while it works: a bar per epoch, then the notebook's lines."""

from __future__ import annotations

import io

from lab.console import EpochPrinter, progress_printer
from lab.outcome import Outcome
from lab.train import BatchEvent, EndEvent, EpochEvent

ROW = {
    "epoch": 1,
    "train_loss": 1.5,
    "train_acc": 0.4,
    "val_loss": None,
    "val_acc": None,
    "test_loss": 1.25,
    "test_acc": 0.5,
}


def epoch_event(row: dict, improved: bool) -> EpochEvent:
    return EpochEvent(row["epoch"], 2, row, improved, 1, row["test_acc"], 0, 5)


def test_each_epoch_ends_its_bar_then_prints_the_notebook_lines(capsys):
    out = io.StringIO()
    printer = EpochPrinter("test_acc", out)
    for batch in (1, 2, 3):
        printer(BatchEvent(1, batch, 3, 1.0, 100.0))
    assert printer.bar is not None and printer.bar.n == 3
    printer(epoch_event(ROW, improved=True))
    assert printer.bar is None
    printer(epoch_event({**ROW, "epoch": 2, "test_acc": 0.25}, improved=False))
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("Epoch 1: Training Loss: 1.5000, Training Accuracy: 0.4000")
    assert "Testing" in lines[0] and "Validation" not in lines[0]
    assert lines[1] == "Model saved at accuracy of: 0.5000"
    assert lines[2].startswith("Epoch 2:") and len(lines) == 3  # no new best, no saved line
    assert "epoch 1" in capsys.readouterr().err  # the bar went to stderr


def test_a_resumed_epoch_starts_its_bar_where_it_was():
    printer = EpochPrinter("val_acc", io.StringIO())
    printer(BatchEvent(4, 7, 10, 1.0, 100.0))
    assert (printer.bar.n, printer.bar.total) == (7, 10)
    printer(EndEvent(Outcome.STOPPED, Outcome.STOPPED.label, None, {}))
    assert printer.bar is None  # an error or a stop starts on a line of its own


def test_the_decode_bar_follows_the_count_and_closes_when_done(capsys):
    progress = progress_printer("decoding images")
    progress(50, 200)
    progress(200, 200)
    err = capsys.readouterr().err
    assert "decoding images" in err and "200/200" in err
