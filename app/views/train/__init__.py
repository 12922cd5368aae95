"""The Train page's pieces, one module per concern: ``form`` (the settings form, built from the
declaration and locked to the active job's settings while it trains, and its check as the user
changes it), ``sweep_plan`` (a sweep's size and duration), ``buttons`` (Start, Pause, Resume and
Stop, and their callbacks), ``live`` (a job's live view and outcome) and ``tools`` (the model
anatomy and the learning-rate finder). What more than one of them uses is here."""

from __future__ import annotations


def format_duration(seconds: float | None) -> str:
    """A duration as people say it: 45 s, 3 min 05 s, 1 h 02 min; "-" when unknown."""
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
