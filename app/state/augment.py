"""The Augmentations page's state: a switch and the settings of every transform, the images to
preview (where from, how many, how many draws, the seed) and the JSON upload's message.

A switched-off transform keeps its settings, so switching it on again brings them back;
``config`` turns the lot into the ``AugmentConfig`` it describes (a switched-off transform is
0, or None for the resize).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.settings import config_value, control_value
from app.state.store import Store
from lab.config import AugmentConfig, declaration


@dataclass(frozen=True)
class Transform:
    """One transform of the pipeline: the setting its switch turns off (to 0, or None), and
    further settings that only mean something while it is on."""

    setting: str
    extra: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """The switch's label: the transform's name, as the setting declares it."""
        return declaration("augment", self.setting).spec.transform


# The pipeline's steps in the order it applies them: transforms with their switch, and the
# normalisation (a setting of its own).
NORMALIZE = "normalize"
PIPELINE: tuple[Transform | str, ...] = (
    Transform("resize"),
    Transform("hflip_p"),
    Transform("rotation", ("rotation_fill",)),
    Transform("translate"),
    Transform("brightness"),
    Transform("contrast"),
    Transform("saturation"),
    NORMALIZE,
    Transform("erase_p"),
)
TRANSFORMS = tuple(step for step in PIPELINE if isinstance(step, Transform))
# What the page starts with: the notebook's flip and rotation switched on ...
START = AugmentConfig(hflip_p=0.5, rotation=15.0)
# ... and the strength each other transform has when it is first switched on.
FIRST_STRENGTHS = AugmentConfig(
    resize=227, translate=4, brightness=0.2, contrast=0.2, saturation=0.2, erase_p=0.25
)


def switch(transform: Transform) -> str:
    """The field of a transform's switch."""
    return f"{transform.setting}_on"


def _fields(config: AugmentConfig, keep: dict) -> dict:
    """The store's values for ``config``: a transform that is off keeps its value in ``keep``."""
    values = {}
    for transform in TRANSFORMS:
        value = getattr(config, transform.setting)
        values[switch(transform)] = bool(value)
        if value:
            values[transform.setting] = control_value(
                declaration("augment", transform.setting), value
            )
        else:
            values[transform.setting] = keep[transform.setting]
        values |= {name: getattr(config, name) for name in transform.extra}
    values[NORMALIZE] = config.normalize
    return values


def _first() -> dict:
    strengths = {t.setting: getattr(FIRST_STRENGTHS, t.setting) for t in TRANSFORMS}
    return {
        **_fields(START, strengths),
        "pick": "random",  # "random", "class" or "upload"
        "class": None,
        "images": 3,
        "draws": 6,
        "seed": 0,
        "show_tensor": False,
        "message": None,  # (kind, text) left by the JSON upload: kind "success" or "error"
    }


CONTROLS = Store("aug", _first)


def config() -> AugmentConfig:
    """The augmentation the switches and settings describe."""
    values = {}
    for transform in TRANSFORMS:
        setting = declaration("augment", transform.setting)
        on = CONTROLS[switch(transform)]
        off = None if setting.optional else 0
        values[transform.setting] = config_value(setting, CONTROLS[setting.key]) if on else off
        values |= {name: CONTROLS[name] for name in transform.extra}
    return AugmentConfig(**values, normalize=CONTROLS[NORMALIZE])


def load(config: AugmentConfig) -> None:
    """Set the switches and settings to ``config`` (a loaded JSON file)."""
    CONTROLS.update(_fields(config, CONTROLS.values()))


def message() -> tuple[str, str] | None:
    return CONTROLS["message"]


def set_message(kind: str | None, text: str = "") -> None:
    CONTROLS.set("message", (kind, text) if kind else None)
