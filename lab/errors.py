"""Errors a user can cause and fix. The CLI and the app show their message, never a traceback."""

from __future__ import annotations


class LabError(Exception):
    """Base class: the message says what went wrong and what to do about it."""


class ConfigError(LabError, ValueError):
    """A configuration value is out of range or unknown; the message names the valid choices.

    ``setting`` is the key (as in ``lab.config.SETTINGS``) of the setting the error is about,
    when it is about one, so a form can show the message beside that control.
    """

    def __init__(self, message: str, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


class DataError(LabError):
    """A data source is missing, empty or unreadable; the message names the path."""


class CheckpointError(LabError):
    """A checkpoint cannot be loaded: unsafe, truncated, wrong architecture or newer format."""


class NewerFormatError(CheckpointError):
    """A checkpoint written by a newer lab: intact, and readable after an upgrade, so a run
    is never started again over it."""


class ImageError(LabError):
    """An image cannot be decoded safely (empty, truncated, not an image, too large)."""
