"""Errors a user can cause and fix. The CLI and the app show their message, never a traceback."""

from dataclasses import fields
from numbers import Integral, Real


class LabError(Exception):
    """Base class: the message says what went wrong and what to do about it."""


class ConfigError(LabError, ValueError):
    """A configuration value is out of range or unknown; the message names the valid choices."""


class DataError(LabError):
    """A data source is missing, empty or unreadable; the message names the path."""


class CheckpointError(LabError):
    """A checkpoint cannot be loaded: unsafe, truncated, wrong architecture or newer format."""


class ImageError(LabError):
    """An image cannot be decoded safely (empty, truncated, not an image, too large)."""


_TYPES = {"int": Integral, "float": Real, "str": str, "bool": bool}


def check_field_types(config) -> None:
    """Refuse a config dataclass field of the wrong type with a ``ConfigError``, so a value from
    JSON, a checkpoint or a form never reaches a range check as, say, a string.

    Annotations are read as written (``int``, ``float``, ``str``, ``bool``, ``X | None``); bools
    are not numbers here, and numbers in a ``float`` field become ``float`` (a number too large
    for a float is refused).
    """
    for item in fields(config):
        value = getattr(config, item.name)
        allowed = item.type.split(" | ")
        if value is None and "None" in allowed:
            continue
        kinds = [name for name in allowed if name in _TYPES]
        if not any(
            isinstance(value, _TYPES[name]) and (name == "bool" or not isinstance(value, bool))
            for name in kinds
        ):
            expected = " or ".join(allowed)
            raise ConfigError(f"{item.name} must be {expected}, got {value!r}")
        # Plain Python numbers, so the config stays JSON-serialisable (numpy scalars are not).
        number = float if "float" in kinds else int if "int" in kinds else None
        if number is not None and type(value) is not number and not isinstance(value, bool):
            try:
                object.__setattr__(config, item.name, number(value))
            except OverflowError as error:
                raise ConfigError(f"{item.name} is too large: {value!r}") from error
