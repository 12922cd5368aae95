"""What a run is: its settings, each declared once, and the frozen configs that hold them.

Every setting is a dataclass field with a ``Spec`` in its metadata: a label, plain-words help,
a unit, its valid range or choices, the range or values a control offers, the models it applies
to and whether it changes training speed. That one declaration validates the configs
(``validate``), builds the CLI's flags (``lab.cli``) and the app's controls with their help
(``app.settings``), the words a value is shown in (``Setting.in_words``), keys the runs that
can time one another (``speed_key``), and applies user choices to a config
(``RunConfig.with_settings``), so adding a setting is one field here plus
its test.

This module imports nothing of the engine: the data loader, the models, the training loop, the
checkpoints and the app all import their configs from here.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from numbers import Integral, Real
from typing import Any

from lab.errors import ConfigError

DATA_ENV = "CIFAR_LAB_DATA"
CIFAR10_SOURCE = "cifar10"
# Largest seed: scikit-learn takes 32-bit seeds, and the validation split uses seed + 1.
MAX_SEED = 2**32 - 2

MODEL_NAMES = ("alexnet", "alexnet_cifar", "alexnet_whitened")
# Input side in pixels that each model is built for.
INPUT_SIZES = {"alexnet": 227, "alexnet_cifar": 32, "alexnet_whitened": 32}
# What the data is resized to for each model: the notebook's AlexNet needs its 227 px, while
# the CIFAR networks take the images at their own size.
MODEL_RESIZE = {"alexnet": 227, "alexnet_cifar": None, "alexnet_whitened": None}
# The smallest inputs the networks accept: the notebook AlexNet's stride-4 stem and three
# stride-2 pools need 63 px; alexnet_cifar's three 2x2 pools need 8, and alexnet_whitened's
# 2x2 stem takes one more pixel.
MIN_INPUT = {"alexnet": 63, "alexnet_cifar": 8, "alexnet_whitened": 9}

MONITORS = ("val_acc", "val_loss", "test_acc", "test_loss")
SCHEDULES = ("constant", "onecycle")
OPTIMIZERS = ("adam", "sgd")
PIPELINES = ("fast", "reference")
PRECISIONS = ("auto", "fp32", "bf16")

# The values the app's sliders offer (any value in range is valid on the CLI).
# 1e-5 to 0.7 in steps people type, then the rates Nesterov SGD takes (0.375 to 2), which
# include the presets' (cpu-1min 0.75, cpu-5min 1), so the app's slider can show every preset
# as it is.
LR_CHOICES = tuple(
    sorted(
        {round(m * 10.0**e, 10) for e in range(-5, 0) for m in (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)}
        | {0.375, 0.75, 1.0, 1.5, 2.0}
    )
)
BATCH_SIZES = (8, 16, 32, 64, 128, 256, 512, 1024)
WIDTHS = (0.125, 0.25, 0.5, 0.75, 1.0, 2.0)
RESIZE_CHOICES = (32, 48, 64, 96, 128, 160, 192, 227)
# Stops of the progressive-resizing control (first epoch's side, px; 0 is off).
PROGRESSIVE_SIZES = (0, 12, 16, 20, 24, 28)


def default_source() -> str:
    """The source named by ``CIFAR_LAB_DATA``, else torchvision's CIFAR-10."""
    return os.environ.get(DATA_ENV, "").strip() or CIFAR10_SOURCE


# --- the declaration of a setting -----------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """How one setting is validated, explained and offered to a user."""

    label: str
    help: str
    unit: str = ""
    # Valid range; ``low_open`` makes the lower bound exclusive (lr > 0).
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple = ()
    # The values a control offers (a slider's stops), and the top of a control's range when
    # the valid range is open-ended or far wider than anyone needs (epochs up to 1000).
    options: tuple = ()
    control_max: float | None = None
    # Models the setting means something for; empty means every model.
    applies_to: tuple[str, ...] = ()
    # Whether users set it: a flag of ``cifar-lab train`` and a control of the app.
    user: bool = True
    # The name users know it by, when it differs from the field's ("model" for model.name).
    key: str | None = None
    # Other fields (section, name) that take the same value (the seed drives data and training).
    also: tuple[tuple[str, str], ...] = ()
    # The transform a value of 0 (or None) switches off, by name: the label of its switch on
    # the Augmentations page ("Horizontal flip" for the flip probability).
    transform: str = ""
    # How a value of 0 (or None) reads wherever a value is shown, for a setting that it
    # switches off ("off", "all" images): "0 px" is no size. Empty: the number itself.
    off: str = ""
    # Whether it changes how many images per second training takes on one machine: runs time
    # one another (a sweep's estimate) only when they agree on every such setting.
    speed: bool = False


def setting(default: Any = MISSING, *, factory: Any = MISSING, **spec: Any) -> Any:
    """A config field with its ``Spec``: ``lr: float = setting(1e-3, label=..., help=...)``."""
    return field(default=default, default_factory=factory, metadata={"spec": Spec(**spec)})


_TYPES = {"int": Integral, "float": Real, "str": str, "bool": bool}


def _fmt(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _range_text(spec: Spec, kind: str) -> str | None:
    """The valid range in words: "between 1 and 1000", "> 0 and at most 10", ">= 0"."""
    low, high = spec.low, spec.high
    if low is not None and high is not None and not spec.low_open and not spec.high_open:
        return f"between {_fmt(low)} and {_fmt(high)}"
    parts = []
    if low is not None:
        parts.append(f"{'>' if spec.low_open else '>='} {_fmt(low)}")
    if high is not None:
        parts.append(f"{'below' if spec.high_open else 'at most'} {_fmt(high)}")
    if not parts:
        return None
    text = " and ".join(parts)
    return f"a finite number {text}" if kind == "float" and high is None else text


def validate(config: Any, section: str) -> None:
    """Check every field of a config dataclass against its type and its ``Spec``; a wrong value
    raises a ``ConfigError`` that names the setting and what it may be.

    Types are read from the annotations as written (``int``, ``float``, ``str``, ``bool``,
    ``X | None``). Bools are not numbers here, and numbers in a ``float`` field become plain
    ``float`` (so a config from numpy or a form stays JSON-serialisable).
    """
    for item in fields(config):
        value = getattr(config, item.name)
        spec = item.metadata.get("spec")
        name = (spec.key if spec else None) or item.name
        allowed = item.type.split(" | ")
        if value is None and "None" in allowed:
            continue
        kinds = [kind for kind in allowed if kind in _TYPES]
        if not any(
            isinstance(value, _TYPES[kind]) and (kind == "bool" or not isinstance(value, bool))
            for kind in kinds
        ):
            raise ConfigError(f"{name} must be {' or '.join(allowed)}, got {value!r}", name)
        number = float if "float" in kinds else int if "int" in kinds else None
        if number is not None and type(value) is not number and not isinstance(value, bool):
            try:
                value = number(value)
            except OverflowError as error:
                raise ConfigError(f"{name} is too large: {value!r}", name) from error
            object.__setattr__(config, item.name, value)
        if spec is None:
            continue
        if spec.choices and value not in spec.choices:
            choices = ", ".join(str(choice) for choice in spec.choices)
            raise ConfigError(f"unknown {name} '{value}': choose one of {choices}", name)
        if isinstance(value, bool) or not isinstance(value, Real):
            continue
        too_low = spec.low is not None and (
            value <= spec.low if spec.low_open else value < spec.low
        )
        too_high = spec.high is not None and (
            value >= spec.high if spec.high_open else value > spec.high
        )
        if too_low or too_high or (isinstance(value, float) and not math.isfinite(value)):
            unit = f" {spec.unit}" if spec.unit and spec.high is not None else ""
            raise ConfigError(
                f"{name} must be {_range_text(spec, kinds[0])}{unit}, got {_fmt(value)}", name
            )


# --- the configs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataConfig:
    """Which data to train on and how to split it."""

    source: str = setting(
        factory=default_source,
        label="Data",
        help="'cifar10' (torchvision's download) or an image folder with train/<class>/* and "
        "test/<class>/*",
        user=False,  # every command takes --data, and the app's sidebar chooses it
    )
    val_fraction: float = setting(
        0.1,
        label="Validation fraction",
        help="Share of each class's training images held back to pick the best epoch and to "
        "decide when to stop. They are never trained on. 0 = none, as in the notebook.",
        low=0.0,
        high=0.5,
        off="none",
        # Steps of 0.05, and 0.02 and 0.04 for small validation splits (the SGD presets hold
        # back 0.04: 2,000 of CIFAR-10's 50,000 training images).
        options=tuple(sorted({round(0.05 * i, 2) for i in range(11)} | {0.02, 0.04})),
    )
    subset: int | None = setting(
        None,
        label="Training images",
        help="Train on this many images, the same share of each class, for a quick try; "
        "empty (or 0 in the app) = all of them.",
        unit="images",
        low=1,
        off="all",
    )
    # Seed of the stratified subset and validation split; set with the run's seed.
    seed: int = setting(0, label="Data seed", help="", low=0, high=MAX_SEED, user=False)

    def __post_init__(self) -> None:
        if isinstance(self.source, os.PathLike):
            object.__setattr__(self, "source", os.fspath(self.source))
        validate(self, "data")
        if not self.source.strip():
            raise ConfigError(f"data source is empty: use '{CIFAR10_SOURCE}' or a folder path")
        if "\0" in self.source:
            raise ConfigError("data source contains a NUL character: use a folder path")


@dataclass(frozen=True)
class AugmentConfig:
    """Every transform of the pipeline; a value of 0 (or None) turns a transform off."""

    resize: int | None = setting(
        None,
        label="Resize",
        transform="Resize",
        off="off",
        help="Side in pixels the images are scaled to before the network sees them. The "
        "notebook's AlexNet needs 227; the choice of model sets it.",
        unit="px",
        low=8,
        high=1024,
        options=RESIZE_CHOICES,
        user=False,
        speed=True,
    )
    hflip_p: float = setting(
        0.5,
        label="Flip probability",
        transform="Horizontal flip",
        off="off",
        help="Chance that an image is mirrored left to right (the notebook's 0.5).",
        low=0.0,
        high=1.0,
    )
    rotation: float = setting(
        0.0,
        label="Rotation",
        transform="Rotation",
        off="off",
        help="Largest random rotation either way (the notebook's 15).",
        unit="degrees",
        low=0.0,
        high=180.0,
        control_max=45.0,
    )
    rotation_fill: int = setting(
        0,
        label="Rotation fill",
        help="Grey level (0 black to 255 white) that fills the corners a rotation uncovers.",
        low=0,
        high=255,
    )
    translate: int = setting(
        0,
        label="Shift",
        transform="Translation (pad and crop)",
        off="off",
        help="Largest random shift in pixels: the image is padded this much and cropped back "
        "(4 is the usual choice for 32 px CIFAR images).",
        unit="px",
        low=0,
        high=16,
        control_max=8,
    )
    brightness: float = setting(
        0.0,
        label="Brightness",
        transform="Brightness jitter",
        off="off",
        help="Random brightness change, up to this fraction either way.",
        low=0.0,
        high=1.0,
    )
    contrast: float = setting(
        0.0,
        label="Contrast",
        transform="Contrast jitter",
        off="off",
        help="Random contrast change, up to this fraction either way.",
        low=0.0,
        high=1.0,
    )
    saturation: float = setting(
        0.0,
        label="Saturation",
        transform="Saturation jitter",
        off="off",
        help="Random colour-strength change, up to this fraction either way.",
        low=0.0,
        high=1.0,
    )
    erase_p: float = setting(
        0.0,
        label="Erase probability",
        transform="Random erasing",
        off="off",
        help="Chance that a random rectangle of the image is blanked out (random erasing), "
        "so the network cannot rely on one small part.",
        low=0.0,
        high=1.0,
    )
    normalize: bool = setting(
        True,
        label="Normalise",
        help="Shift and scale each colour channel by the training images' mean and standard "
        "deviation, as the notebook did.",
    )

    def __post_init__(self) -> None:
        validate(self, "augment")

    def output_size(self, input_size: tuple[int, int]) -> tuple[int, int]:
        return (self.resize, self.resize) if self.resize else tuple(input_size)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, values: object) -> AugmentConfig:
        _check_section("augment", values)
        return cls(**values)


@dataclass(frozen=True)
class ModelConfig:
    """Which network to build."""

    name: str = setting(
        "alexnet",
        key="model",
        label="Model",
        help="alexnet: the course notebook's network, which sees images enlarged to 227 px. "
        "alexnet_cifar: the same family of layers built for the native 32 px images, about 40 "
        "times cheaper. alexnet_whitened: the family shaped like the fastest CIFAR-10 "
        "trainers, with a fixed whitening first layer, for Nesterov SGD at high learning rates.",
        choices=MODEL_NAMES,
        speed=True,
    )
    width: float = setting(
        1.0,
        label="Width",
        help="How many filters each layer has, as a multiple of the network's own (1 = 64-192-"
        "384-256-256 for alexnet_cifar, 64-256-256-256 after alexnet_whitened's fixed first "
        "layer). Half width trains about three times faster.",
        low=0.125,
        high=4.0,
        options=WIDTHS,
        applies_to=("alexnet_cifar", "alexnet_whitened"),
        speed=True,
    )
    dropout: float = setting(
        0.5,
        label="Dropout",
        help="Share of the classifier's units switched off at random at each step, so it "
        "cannot lean on a few (the notebook's 0.5).",
        low=0.0,
        high=1.0,
        high_open=True,
        # Below 1, which switches every unit off; 0.9 is a stop of the slider's 0.05 steps.
        control_max=0.9,
    )

    def __post_init__(self) -> None:
        validate(self, "model")
        if self.name == "alexnet" and self.width != 1.0:
            raise ConfigError(
                "width applies to alexnet_cifar and alexnet_whitened only; alexnet is always 1.0",
                "width",
            )

    @property
    def input_size(self) -> int:
        return INPUT_SIZES[self.name]


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, stopping and engine settings."""

    epochs: int = setting(
        30,
        label="Epochs",
        help="Passes over the training images (the notebook's 30). Early stopping may end the "
        "run sooner.",
        unit="epochs",
        low=1,
        high=1000,
        control_max=100,
    )
    batch_size: int = setting(
        64,
        label="Batch size",
        help="Images per weight update (the notebook's 64). Smaller batches make more, noisier "
        "updates per epoch.",
        unit="images",
        low=1,
        high=65536,
        options=BATCH_SIZES,
        speed=True,
    )
    lr: float = setting(
        1e-3,
        label="Learning rate",
        help="How big a step Adam takes on each update (the notebook's 0.001). Too high and "
        "the loss jumps or explodes; too low and learning crawls. With the one-cycle schedule "
        "this is the peak.",
        low=0.0,
        low_open=True,
        high=10.0,
        options=LR_CHOICES,
    )
    optimizer: str = setting(
        "adam",
        label="Optimizer",
        help="adam: Adam, as the notebook. sgd: SGD with Nesterov momentum (0.85), as the "
        "fastest CIFAR-10 trainers use; it needs far larger learning rates (around 0.5 to 2) "
        "and BatchNorm shifts learn 64 times faster.",
        choices=OPTIMIZERS,
    )
    weight_decay: float = setting(
        0.0,
        label="Weight decay",
        help="Pull of every weight towards zero at each step, against overfitting (0 in the "
        "notebook).",
        low=0.0,
        high=1.0,
    )
    schedule: str = setting(
        "constant",
        label="Learning-rate schedule",
        help="constant: the same rate throughout (the notebook). onecycle: the rate climbs for "
        "the first quarter of the steps, then falls to zero, which learns faster.",
        choices=SCHEDULES,
    )
    progressive_from: int = setting(
        0,
        label="Progressive resizing",
        help="Side of the first epoch's training images: each later epoch trains on larger "
        "ones, evenly up to the full size in the last, and smaller images cost less (a 16 px "
        "epoch about a third of a 32 px one). Scoring always uses the full size, so the early "
        "epochs score low. 0: the full size throughout.",
        unit="px",
        low=0,
        high=1024,
        options=PROGRESSIVE_SIZES,
        off="off",
        applies_to=("alexnet_cifar", "alexnet_whitened"),
        speed=True,
    )
    label_smoothing: float = setting(
        0.0,
        label="Label smoothing",
        help="Share of each target spread over the other classes, so the network is not "
        "pushed to 100% certainty (0 in the notebook).",
        low=0.0,
        high=0.5,
    )
    patience: int = setting(
        5,
        label="Patience",
        help="Epochs in a row without a new best that early stopping tolerates; one more and "
        "the run stops (the notebook's 5).",
        unit="epochs",
        low=0,
        control_max=30,
    )
    min_delta: float = setting(
        0.0,
        label="Min delta",
        help="Smallest gain over the best so far that counts as an improvement (0.001 = a "
        "tenth of a point of accuracy). Smaller gains count towards patience.",
        low=0.0,
        control_max=1.0,
    )
    monitor: str = setting(
        "val_acc",
        label="Early stopping watches",
        help="The score that picks the best epoch and decides when to stop: accuracy or loss "
        "on the validation images (val_) or, as the notebook did, on the test images (test_), "
        "which makes the final test score optimistic.",
        choices=MONITORS,
    )
    eval_test: bool = setting(
        False,
        label="Score the test split every epoch",
        help="Also measure test accuracy after every epoch (always on when stopping watches "
        "the test split).",
    )
    tta_flip: bool = setting(
        False,
        label="Flip averaging",
        help="When scoring, average the predictions for each image and its mirror image "
        "(test-time augmentation).",
    )
    precision: str = setting(
        "auto",
        label="Number format",
        help="bf16 (bfloat16) is a 16-bit number format: half the memory of the usual 32 bits "
        "(fp32) and much faster on hardware that supports it, at a tiny cost in precision. "
        "auto: bf16 maths where the hardware runs it fast, else fp32; fp32 or bf16 forces one.",
        choices=PRECISIONS,
        speed=True,
    )
    pipeline: str = setting(
        "fast",
        label="Data pipeline",
        help="fast: whole batches augmented at once on the training device. reference: the "
        "notebook's image-by-image torchvision transforms, for comparison.",
        choices=PIPELINES,
        speed=True,
    )
    eval_batch_size: int = setting(
        1000,
        label="Evaluation batch size",
        help="Images per batch when scoring (the notebook's 1000); only memory depends on it.",
        unit="images",
        low=1,
        high=65536,
    )
    seed: int = setting(
        0,
        label="Seed",
        help="Starting point of every random choice: the weights, the order of the images, "
        "the augmentation and the validation split. The same seed repeats a run exactly.",
        low=0,
        high=MAX_SEED,
        also=(("data", "seed"),),
    )
    checkpoint_every_s: float = setting(
        60.0,
        label="Checkpoint interval",
        help="Longest training time between two writes of last.pt inside an epoch, so a crash "
        "loses at most this much work (last.pt is also written after every epoch); 0 writes "
        "it after every batch. Under torchrun, last.pt is written after every epoch only.",
        unit="s",
        low=0.0,
        high=86400.0,
        control_max=600.0,
    )
    sync_bn: bool = setting(
        False,
        label="Synchronised BatchNorm",
        help="Under torchrun on GPUs: BatchNorm statistics over the whole batch of every "
        "process, instead of each process's share.",
    )

    def __post_init__(self) -> None:
        validate(self, "train")

    @property
    def monitor_mode(self) -> str:
        return "max" if self.monitor.endswith("_acc") else "min"


# The sections of a run config and their classes, as stored in config.json and checkpoints.
SECTIONS = {
    "data": DataConfig,
    "augment": AugmentConfig,
    "model": ModelConfig,
    "train": TrainConfig,
}


@dataclass(frozen=True)
class Setting:
    """One user-facing setting: where it lives in a ``RunConfig`` and its ``Spec``."""

    key: str
    section: str
    name: str
    type: str
    default: Any
    spec: Spec

    @property
    def kind(self) -> str:
        """``int``, ``float``, ``str`` or ``bool``: the type of a value that is not None."""
        return next(part for part in self.type.split(" | ") if part != "None")

    @property
    def optional(self) -> bool:
        return "None" in self.type.split(" | ")

    def applies_to(self, model: str) -> bool:
        return not self.spec.applies_to or model in self.spec.applies_to

    def nearest_option(self, value: float) -> Any:
        """The control stop closest to ``value`` (on a log scale when every stop is positive,
        as for learning rates), e.g. 1.6e-3 snaps to 1.5e-3."""
        options = self.spec.options
        if not options:
            return value
        if all(option > 0 for option in options) and value > 0:
            return min(options, key=lambda option: abs(math.log(option / value)))
        return min(options, key=lambda option: abs(option - value))

    def in_words(self, value: Any, unit: bool = True) -> str:
        """``value`` in words, wherever one is shown (a control's stops, a sweep's plan): the
        declared word for the 0 (or None) that switches the setting off ("off"), else the
        value with its unit ("16 px"), or without it for a control's stop."""
        spec = self.spec
        if spec.off and (value is None or (value == 0 and not isinstance(value, bool))):
            return spec.off
        text = _fmt(value)
        return f"{text} {spec.unit}" if unit and spec.unit else text

    def control_range(self) -> tuple[float, float | None] | None:
        """The lowest and highest value the app's control of a number offers: its first and
        last stop, else the valid range topped at ``control_max``; an optional number's control
        starts at 0, which stands for none. None for a setting that is not a number."""
        spec = self.spec
        if self.kind not in ("int", "float") or spec.choices:
            return None
        if spec.options:
            return min(spec.options), max(spec.options)
        low = 0 if self.optional or spec.low is None else spec.low
        return low, spec.control_max if spec.control_max is not None else spec.high

    def _range(self, control: bool) -> str:
        """The valid range with its unit; for ``control``, the control's range first where it
        is narrower: "the app offers 1 to 100 epochs; the command line accepts between 1 and
        1000 epochs"."""
        spec = self.spec
        unit = f" {spec.unit}" if spec.unit else ""
        text = _range_text(spec, self.kind)
        valid = f"{text}{unit}" if text else ""
        low, high = self.control_range()
        if not control or (low, high) == (0 if self.optional else spec.low, spec.high):
            return valid
        # The command line takes every user setting; the others come from config files.
        where = "the command line" if spec.user else "a config file"
        return f"the app offers {_fmt(low)} to {_fmt(high)}{unit}; {where} accepts {valid}"

    def describe(self, control: bool = False) -> str:
        """The help text with its unit and range, for ``--help``; with ``control``, for the
        tooltip of the app's control, which also says the range it offers where that is
        narrower than the valid one."""
        spec = self.spec
        extra = []
        if spec.choices:
            extra.append("one of " + ", ".join(str(c) for c in spec.choices))
        elif self.kind in ("int", "float"):
            extra.append(self._range(control))
        if spec.applies_to:
            extra.append("for " + ", ".join(spec.applies_to) + " only")
        details = "; ".join(part for part in extra if part)
        return f"{spec.help} ({details})" if details else spec.help


def declaration(section: str, name: str) -> Setting:
    """The declaration of any field of a config section, user-facing or not (the resize that
    the model implies, say)."""
    item = next(item for item in fields(SECTIONS[section]) if item.name == name)
    spec = item.metadata["spec"]
    default = item.default if item.default is not MISSING else item.default_factory()
    return Setting(spec.key or name, section, name, item.type, default, spec)


def _declared() -> dict[str, Setting]:
    found = [
        declaration(section, item.name)
        for section, cls in SECTIONS.items()
        for item in fields(cls)
        if item.metadata["spec"].user
    ]
    return {declared.key: declared for declared in found}


# Every setting a user can change, by the name the CLI's flags and the app's controls use.
SETTINGS: dict[str, Setting] = _declared()
# The settings that change training speed (``Spec.speed``), user-facing or not, in section order.
SPEED_SETTINGS: tuple[Setting, ...] = tuple(
    declaration(section, item.name)
    for section, cls in SECTIONS.items()
    for item in fields(cls)
    if item.metadata["spec"].speed
)


def speed_key(config: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """What training speed depends on, from a run config as stored (``RunConfig.to_dict``):
    (key, value) of every setting of ``SPEED_SETTINGS``. Two runs with the same key train at
    the same images per second on one machine. A setting an older run's config lacks has its
    default, and so has one that does not apply to the run's model."""
    model = config.get("model", {}).get("name", declaration("model", "name").default)
    key = []
    for declared in SPEED_SETTINGS:
        value = config.get(declared.section, {}).get(declared.name, declared.default)
        key.append((declared.key, value if declared.applies_to(model) else declared.default))
    return tuple(key)


def check_input_size(config: ModelConfig, size: int) -> None:
    """Explain in plain words when an input is too small for the network."""
    smallest = MIN_INPUT[config.name]
    if size < smallest:
        how = (
            "its 11x11 stride-4 stem and three stride-2 pools"
            if config.name == "alexnet"
            else "its three 2x2 max-pools"
        )
        raise ConfigError(
            f"{config.name} needs input images of at least {smallest} px ({how} shrink {size} px "
            f"to nothing): resize to {config.input_size}",
            "model",
        )


def _check_section(section: str, values: object) -> None:
    """Refuse an unknown section, a section that is not a mapping, or unknown setting names."""
    if section not in SECTIONS:
        raise ConfigError(f"unknown config section {section!r}: valid are {sorted(SECTIONS)}")
    if not isinstance(values, dict):
        raise ConfigError(f"{section} settings must be a mapping, got {values!r}")
    known = {f.name for f in fields(SECTIONS[section])}
    unknown = sorted(str(name) for name in set(values) - known)
    if unknown:
        raise ConfigError(f"unknown {section} settings {unknown}: valid are {sorted(known)}")


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run; stored in every checkpoint and in ``config.json``."""

    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    # The preset this run started from, for display; None for a hand-made config.
    preset: str | None = None

    def __post_init__(self) -> None:
        for key, part in SECTIONS.items():
            if not isinstance(getattr(self, key), part):
                raise ConfigError(f"{key} must be a {part.__name__}")
        if self.preset is not None and not isinstance(self.preset, str):
            raise ConfigError(f"preset must be a name or None, got {self.preset!r}")
        if self.train.monitor.startswith("val_") and self.data.val_fraction == 0:
            raise ConfigError(
                f"monitor '{self.train.monitor}' needs a validation split: set val_fraction > 0, "
                "or monitor test_acc as the notebook did",
                "val_fraction",
            )
        check_input_size(self.model, self.input_size)
        start = self.train.progressive_from
        if start and start < MIN_INPUT[self.model.name]:
            raise ConfigError(
                f"progressive_from {start} px is smaller than {self.model.name} can take: "
                f"choose 0 (off) or {MIN_INPUT[self.model.name]} to {self.input_size} px",
                "progressive_from",
            )

    @property
    def input_size(self) -> int:
        """Side in pixels of what the network sees."""
        return self.augment.resize or self.model.input_size

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: object) -> RunConfig:
        if not isinstance(values, dict):
            raise ConfigError(f"a run config is a mapping of sections, got {type(values).__name__}")
        kwargs = {}
        for key, part in SECTIONS.items():
            section = values.get(key, {})
            _check_section(key, section)
            kwargs[key] = part(**section)
        return cls(**kwargs, preset=values.get("preset"))

    def with_overrides(self, **sections: dict) -> RunConfig:
        """A copy with some fields of some sections replaced, e.g. ``train={"lr": 3e-4}``."""
        changed = {}
        for key, values in sections.items():
            _check_section(key, values)
            changed[key] = replace(getattr(self, key), **values)
        return replace(self, **changed)

    def settings(self) -> dict[str, Any]:
        """The value of every user-facing setting, by key (what the app's controls show)."""
        return {key: getattr(getattr(self, s.section), s.name) for key, s in SETTINGS.items()}

    def with_settings(self, values: Mapping[str, Any]) -> RunConfig:
        """A copy with user-facing settings (by key, as in ``SETTINGS``) changed, and the
        rules that tie settings together applied:

        - choosing a model sets the resize it needs (227 px for alexnet, none for
          alexnet_cifar) and resets the settings that do not apply to it;
        - a setting given for a model it does not apply to is refused;
        - the seed drives the data split as well as training;
        - monitoring a validation score on a config without a validation split holds out 10%,
          unless a validation fraction is given.
        """
        unknown = sorted(set(values) - set(SETTINGS))
        if unknown:
            raise ConfigError(f"unknown settings {unknown}: valid are {sorted(SETTINGS)}")
        model = values.get("model", self.model.name)
        if model not in MODEL_RESIZE:
            self.with_overrides(model={"name": model, "width": 1.0})  # raises the declared error
        sections: dict[str, dict] = {}
        for key, value in values.items():
            declared = SETTINGS[key]
            if not declared.applies_to(model):
                if value is None or value == declared.default:
                    continue
                raise ConfigError(
                    f"{key} applies only to {' and '.join(declared.spec.applies_to)}, not {model}",
                    key,
                )
            sections.setdefault(declared.section, {})[declared.name] = value
            for section, name in declared.spec.also:
                sections.setdefault(section, {})[name] = value
        if model != self.model.name:
            sections.setdefault("augment", {})["resize"] = MODEL_RESIZE[model]
            for declared in SETTINGS.values():
                if not declared.applies_to(model):
                    sections.setdefault(declared.section, {})[declared.name] = declared.default
        monitor = values.get("monitor", self.train.monitor)
        needs_val = monitor.startswith("val_") and "val_fraction" not in values
        if needs_val and self.data.val_fraction == 0:
            sections.setdefault("data", {})["val_fraction"] = 0.1
        return self.with_overrides(**sections)
