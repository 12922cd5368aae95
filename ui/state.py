"""The one owner of ``st.session_state``: every key the app uses, its default, and accessors.

Widget keys are named here and passed as ``key=`` by the pages; values that are not widgets (the
job this tab watches, the augmentation handed to the Train page ...) are read and written only
through the functions below. Streamlit forgets the value of a widget that a run does not draw,
so ``init`` re-assigns the persistent keys on every run: settings survive page switches.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from lab.config import CIFAR10_SOURCE, DATA_ENV, AugmentConfig
from lab.errors import ConfigError
from lab.paths import resolve_user_path
from lab.presets import preset_config
from lab.runs import default_runs_dir

# --- sidebar -------------------------------------------------------------------------------------
DATA_CHOICE = "data_choice"  # one of DATA_CHOICES
DATA_FOLDER = "data_folder"
RUNS_DIR = "runs_dir"
DATA_FROM_ENV, DATA_CIFAR10, DATA_TYPED = "env", "cifar10", "folder"
DATA_CHOICES = (DATA_FROM_ENV, DATA_CIFAR10, DATA_TYPED)

# --- Dataset page --------------------------------------------------------------------------------
GRID_CLASSES = "grid_classes"
GRID_PER_CLASS = "grid_per_class"
GRID_SEED = "grid_seed"

# --- Augmentations page: one toggle per transform and its sliders --------------------------------
AUG_RESIZE_ON, AUG_RESIZE = "aug_resize_on", "aug_resize"
AUG_FLIP_ON, AUG_FLIP_P = "aug_flip_on", "aug_flip_p"
AUG_ROTATE_ON, AUG_ROTATION, AUG_ROTATION_FILL = "aug_rotate_on", "aug_rotation", "aug_fill"
AUG_TRANSLATE_ON, AUG_TRANSLATE = "aug_translate_on", "aug_translate"
AUG_BRIGHTNESS_ON, AUG_BRIGHTNESS = "aug_brightness_on", "aug_brightness"
AUG_CONTRAST_ON, AUG_CONTRAST = "aug_contrast_on", "aug_contrast"
AUG_SATURATION_ON, AUG_SATURATION = "aug_saturation_on", "aug_saturation"
AUG_ERASE_ON, AUG_ERASE_P = "aug_erase_on", "aug_erase_p"
AUG_NORMALIZE = "aug_normalize"
AUG_PICK = "aug_pick"  # "random", "class" or "upload"
AUG_CLASS = "aug_class"
AUG_IMAGES = "aug_images"
AUG_DRAWS = "aug_draws"
AUG_SEED = "aug_seed"
AUG_SHOW_TENSOR = "aug_show_tensor"
AUG_UPLOADS = "aug_uploads"
AUG_JSON_UPLOAD = "aug_json_upload"
_AUG_MESSAGE = "_aug_message"

# --- Train page ----------------------------------------------------------------------------------
TRAIN_PRESET = "train_preset"
TRAIN_MODEL = "train_model"
TRAIN_WIDTH = "train_width"
TRAIN_LR = "train_lr"
TRAIN_PATIENCE = "train_patience"
TRAIN_MIN_DELTA = "train_min_delta"
TRAIN_MONITOR = "train_monitor"
TRAIN_EPOCHS = "train_epochs"
TRAIN_BATCH_SIZE = "train_batch_size"
TRAIN_VAL_FRACTION = "train_val_fraction"
TRAIN_SEED = "train_seed"
TRAIN_SUBSET = "train_subset"
TRAIN_RUN_NAME = "train_run_name"
_TRAIN_AUGMENT = "_train_augment"
_TRAIN_ERROR = "_train_error"
_TRAIN_ERROR_SETTING = "_train_error_setting"
_JOB_ID = "_job_id"
TRAIN_ANATOMY_SIZE = "train_anatomy_size"  # 0 = the model's own input size
_LR_FINDER = "_lr_finder"  # (what it was run for, LrFinderResult)

# --- Checkpoints page ----------------------------------------------------------------------------
CKPT_OVERLAY = "ckpt_overlay"
CKPT_METRIC = "ckpt_metric"
CKPT_DETAIL = "ckpt_detail"
CKPT_NORMALIZE = "ckpt_normalize"
CKPT_EVALUATE = "ckpt_evaluate"
CKPT_COMPARE_A = "ckpt_compare_a"
CKPT_COMPARE_B = "ckpt_compare_b"
CKPT_CAM = "ckpt_cam"  # Grad-CAM overlays on the top-loss gallery
CKPT_DISAGREE_CLASS = "ckpt_disagree_class"
CKPT_WHATIF_PATIENCE = "ckpt_whatif_patience"
CKPT_WHATIF_MIN_DELTA = "ckpt_whatif_min_delta"
CKPT_ROBUST_TRANSFORM = "ckpt_robust_transform"
_WHATIF_RUN = "_whatif_run"  # the run the what-if sliders were set up for
_ROBUST_REQUEST = "_robust_request"  # (checkpoint, transform) whose sweep was asked for
_FOCUS_RUN = "_focus_run"
_PENDING_DELETE = "_pending_delete"
_RUNS_MESSAGE = "_runs_message"

# --- Classify page -------------------------------------------------------------------------------
CLS_SOURCE = "cls_source"  # "runs" or "upload"
CLS_RUN = "cls_run"
CLS_CHECKPOINT_UPLOAD = "cls_checkpoint_upload"
CLS_IMAGES = "cls_images"
CLS_CAM_TARGET = "cls_cam_target"  # "" = the predicted class, else a class name
_CLS_TEST_INDEX = "_cls_test_index"

LR_CHOICES = tuple(
    round(m * 10.0**e, 10) for e in range(-5, 0) for m in (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)
) + (0.1,)
BATCH_SIZES = (8, 16, 32, 64, 128, 256, 512, 1024)
WIDTHS = (0.125, 0.25, 0.5, 1.0, 2.0)
RESIZE_CHOICES = (32, 48, 64, 96, 128, 160, 192, 227)

_WIDGET_DEFAULTS: dict[str, object] = {
    DATA_CHOICE: DATA_FROM_ENV,
    DATA_FOLDER: "",
    GRID_PER_CLASS: 8,
    GRID_SEED: 0,
    AUG_RESIZE_ON: False,
    AUG_RESIZE: 227,
    AUG_FLIP_ON: True,
    AUG_FLIP_P: 0.5,
    AUG_ROTATE_ON: True,
    AUG_ROTATION: 15.0,
    AUG_ROTATION_FILL: 0,
    AUG_TRANSLATE_ON: False,
    AUG_TRANSLATE: 4,
    AUG_BRIGHTNESS_ON: False,
    AUG_BRIGHTNESS: 0.2,
    AUG_CONTRAST_ON: False,
    AUG_CONTRAST: 0.2,
    AUG_SATURATION_ON: False,
    AUG_SATURATION: 0.2,
    AUG_ERASE_ON: False,
    AUG_ERASE_P: 0.25,
    AUG_NORMALIZE: True,
    AUG_PICK: "random",
    AUG_IMAGES: 3,
    AUG_DRAWS: 6,
    AUG_SEED: 0,
    AUG_SHOW_TENSOR: False,
    TRAIN_PRESET: "cpu-fast",
    TRAIN_SUBSET: 0,
    TRAIN_RUN_NAME: "",
    CKPT_METRIC: "val_acc",
    CKPT_NORMALIZE: False,
    CKPT_EVALUATE: False,
    CKPT_CAM: False,
    CKPT_DISAGREE_CLASS: "",
    CKPT_ROBUST_TRANSFORM: "rotation",
    CLS_SOURCE: "runs",
    CLS_CAM_TARGET: "",
    TRAIN_ANATOMY_SIZE: 0,
}
# Widgets whose value must outlive a visit to another page (not file uploaders or buttons).
_PERSISTENT = (
    *_WIDGET_DEFAULTS,
    RUNS_DIR,
    GRID_CLASSES,
    AUG_CLASS,
    TRAIN_MODEL,
    TRAIN_WIDTH,
    TRAIN_LR,
    TRAIN_PATIENCE,
    TRAIN_MIN_DELTA,
    TRAIN_MONITOR,
    TRAIN_EPOCHS,
    TRAIN_BATCH_SIZE,
    TRAIN_VAL_FRACTION,
    TRAIN_SEED,
    CKPT_OVERLAY,
    CKPT_DETAIL,
    CKPT_COMPARE_A,
    CKPT_COMPARE_B,
    CKPT_WHATIF_PATIENCE,
    CKPT_WHATIF_MIN_DELTA,
    CLS_RUN,
)


def init() -> None:
    """Set defaults on a session's first run and keep widget values across page switches."""
    session = st.session_state
    for key, value in _WIDGET_DEFAULTS.items():
        session.setdefault(key, value)
    session.setdefault(RUNS_DIR, str(default_runs_dir()))
    if TRAIN_MODEL not in session:
        apply_preset()
    for key in _PERSISTENT:
        if key in session:
            session[key] = session[key]


def value(key: str) -> object:
    """A widget's current value, for callbacks that run before the widget is drawn."""
    return st.session_state.get(key)


def session_id() -> str | None:
    """This browser tab's id, recorded as the owner of the jobs it starts."""
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else None


# --- sidebar settings ---------------------------------------------------------------------------


def env_data_source() -> str:
    return os.environ.get(DATA_ENV, "").strip()


def data_source_problem() -> str | None:
    """Why the typed data folder cannot be used (empty, or outside ``CIFAR_LAB_ROOTS``)."""
    if st.session_state.get(DATA_CHOICE) != DATA_TYPED:
        return None
    try:
        resolve_user_path(str(st.session_state.get(DATA_FOLDER, "")), what="data folder")
    except ConfigError as error:
        return str(error)
    return None


def data_source() -> str:
    """The data source the sidebar selects: a folder path or ``cifar10`` ("" when the typed
    folder is refused: ``data_source_problem`` says why)."""
    choice = st.session_state.get(DATA_CHOICE, DATA_FROM_ENV)
    if choice == DATA_CIFAR10:
        return CIFAR10_SOURCE
    if choice == DATA_TYPED:
        if data_source_problem():
            return ""
        return str(resolve_user_path(str(st.session_state[DATA_FOLDER]), what="data folder"))
    return env_data_source() or CIFAR10_SOURCE


def runs_dir_problem() -> str | None:
    """Why the typed runs folder cannot be used; the configured default is always allowed."""
    value = str(st.session_state.get(RUNS_DIR, "")).strip()
    if not value or value == str(default_runs_dir()):
        return None
    try:
        resolve_user_path(value, what="runs folder")
    except ConfigError as error:
        return str(error)
    return None


def runs_dir() -> Path:
    """The runs folder typed in the sidebar, or the default one while the typed one is refused."""
    value = str(st.session_state.get(RUNS_DIR, "")).strip()
    if not value or runs_dir_problem():
        return default_runs_dir()
    return Path(value).expanduser()


# --- Train page -----------------------------------------------------------------------------------


def apply_preset() -> None:
    """Set every Train control to the selected preset's value (the preset box's callback)."""
    config = preset_config(st.session_state.get(TRAIN_PRESET, "cpu-fast"), CIFAR10_SOURCE)
    session = st.session_state
    session[TRAIN_MODEL] = config.model.name
    session[TRAIN_WIDTH] = config.model.width
    session[TRAIN_LR] = min(LR_CHOICES, key=lambda lr: abs(lr - config.train.lr))
    session[TRAIN_PATIENCE] = config.train.patience
    session[TRAIN_MIN_DELTA] = config.train.min_delta
    session[TRAIN_MONITOR] = config.train.monitor
    session[TRAIN_EPOCHS] = config.train.epochs
    session[TRAIN_BATCH_SIZE] = config.train.batch_size
    session[TRAIN_VAL_FRACTION] = config.data.val_fraction
    session[TRAIN_SEED] = config.train.seed


def train_values() -> dict:
    """The Train controls' values, by name."""
    session = st.session_state
    return {
        "preset": session[TRAIN_PRESET],
        "model": session[TRAIN_MODEL],
        "width": session[TRAIN_WIDTH],
        "lr": session[TRAIN_LR],
        "patience": session[TRAIN_PATIENCE],
        "min_delta": session[TRAIN_MIN_DELTA],
        "monitor": session[TRAIN_MONITOR],
        "epochs": session[TRAIN_EPOCHS],
        "batch_size": session[TRAIN_BATCH_SIZE],
        "val_fraction": session[TRAIN_VAL_FRACTION],
        "seed": int(session[TRAIN_SEED]),
        "subset": int(session[TRAIN_SUBSET]) or None,
        "name": str(session[TRAIN_RUN_NAME]).strip() or None,
    }


def train_augment() -> AugmentConfig | None:
    """The augmentation chosen on the Augmentations page for training, if any."""
    return st.session_state.get(_TRAIN_AUGMENT)


def set_train_augment(config: AugmentConfig | None) -> None:
    st.session_state[_TRAIN_AUGMENT] = config


def train_error() -> str | None:
    return st.session_state.get(_TRAIN_ERROR)


def train_error_setting() -> str | None:
    """The setting the refused run's message names (shown beside its control), if any."""
    return st.session_state.get(_TRAIN_ERROR_SETTING)


def set_train_error(message: str | None, setting: str | None = None) -> None:
    st.session_state[_TRAIN_ERROR] = message
    st.session_state[_TRAIN_ERROR_SETTING] = setting


def job_id() -> str | None:
    """The training job this tab watches."""
    return st.session_state.get(_JOB_ID)


def set_job_id(value: str | None) -> None:
    st.session_state[_JOB_ID] = value


def lr_finder_result(for_what: tuple) -> object | None:
    """The learning-rate finder's last result, if it was run for ``for_what`` (the settings
    it depends on), else None."""
    stored = st.session_state.get(_LR_FINDER)
    return stored[1] if stored and stored[0] == for_what else None


def set_lr_finder_result(for_what: tuple, result: object) -> None:
    st.session_state[_LR_FINDER] = (for_what, result)


def use_learning_rate(lr: float) -> None:
    """Button callback: move the Train page's learning-rate slider to the choice nearest ``lr``
    (on a log scale)."""
    st.session_state[TRAIN_LR] = min(LR_CHOICES, key=lambda choice: abs(math.log(choice / lr)))


# --- Augmentations page --------------------------------------------------------------------------


def augment_from_widgets() -> AugmentConfig:
    """The augmentation the toggles and sliders describe (a switched-off transform is 0)."""
    s = st.session_state
    return AugmentConfig(
        resize=int(s[AUG_RESIZE]) if s[AUG_RESIZE_ON] else None,
        hflip_p=float(s[AUG_FLIP_P]) if s[AUG_FLIP_ON] else 0.0,
        rotation=float(s[AUG_ROTATION]) if s[AUG_ROTATE_ON] else 0.0,
        rotation_fill=int(s[AUG_ROTATION_FILL]),
        translate=int(s[AUG_TRANSLATE]) if s[AUG_TRANSLATE_ON] else 0,
        brightness=float(s[AUG_BRIGHTNESS]) if s[AUG_BRIGHTNESS_ON] else 0.0,
        contrast=float(s[AUG_CONTRAST]) if s[AUG_CONTRAST_ON] else 0.0,
        saturation=float(s[AUG_SATURATION]) if s[AUG_SATURATION_ON] else 0.0,
        erase_p=float(s[AUG_ERASE_P]) if s[AUG_ERASE_ON] else 0.0,
        normalize=bool(s[AUG_NORMALIZE]),
    )


def set_augment_widgets(config: AugmentConfig) -> None:
    """Move the toggles and sliders to ``config`` (before they are drawn: a callback)."""
    s = st.session_state
    s[AUG_RESIZE_ON] = config.resize is not None
    if config.resize is not None:
        s[AUG_RESIZE] = min(RESIZE_CHOICES, key=lambda size: abs(size - config.resize))
    for on_key, key, value in (
        (AUG_FLIP_ON, AUG_FLIP_P, config.hflip_p),
        (AUG_ROTATE_ON, AUG_ROTATION, config.rotation),
        (AUG_TRANSLATE_ON, AUG_TRANSLATE, config.translate),
        (AUG_BRIGHTNESS_ON, AUG_BRIGHTNESS, config.brightness),
        (AUG_CONTRAST_ON, AUG_CONTRAST, config.contrast),
        (AUG_SATURATION_ON, AUG_SATURATION, config.saturation),
        (AUG_ERASE_ON, AUG_ERASE_P, config.erase_p),
    ):
        s[on_key] = bool(value)
        if value:
            s[key] = type(_WIDGET_DEFAULTS[key])(value)
    s[AUG_ROTATION_FILL] = int(config.rotation_fill)
    s[AUG_NORMALIZE] = bool(config.normalize)


def augment_message() -> tuple[str, str] | None:
    """(kind, text) left by the JSON upload callback: kind is "success" or "error"."""
    return st.session_state.get(_AUG_MESSAGE)


def set_augment_message(kind: str | None, text: str = "") -> None:
    st.session_state[_AUG_MESSAGE] = (kind, text) if kind else None


def ensure_choice(key: str, options: list | tuple, default: object = None) -> None:
    """Keep a selectbox's value among ``options`` (they change with the data or the runs):
    an unknown value becomes ``default``, else the first option."""
    if st.session_state.get(key) not in options:
        st.session_state[key] = default if default in options else (options[0] if options else None)


def ensure_choices(key: str, options: list | tuple, default: list | tuple) -> None:
    """The multiselect version of ``ensure_choice``."""
    current = st.session_state.get(key)
    if current is None or not set(current) <= set(options):
        st.session_state[key] = [value for value in default if value in options]


def seed_of(key: str) -> int:
    """The current value of a seed that a Reshuffle/Redraw button advances."""
    return int(st.session_state.get(key, 0))


def next_seed(key: str) -> None:
    """Button callback: a new random draw for the seed widget ``key``."""
    st.session_state[key] = int(st.session_state.get(key, 0)) + 1


# --- Checkpoints page ----------------------------------------------------------------------------


def set_focus_run(name: str | None) -> None:
    """Ask the Checkpoints page to open this run (set by the Train page's summary)."""
    st.session_state[_FOCUS_RUN] = name


def show_focus_run(key: str, names: list[str]) -> None:
    """Select the run the Train page asked for in the selectbox ``key``, once."""
    name = st.session_state.pop(_FOCUS_RUN, None)
    if name in names:
        st.session_state[key] = name


def pending_delete() -> str | None:
    """The run whose deletion waits for confirmation."""
    return st.session_state.get(_PENDING_DELETE)


def set_pending_delete(name: str | None) -> None:
    st.session_state[_PENDING_DELETE] = name


def runs_message() -> tuple[str, str] | None:
    return st.session_state.get(_RUNS_MESSAGE)


def set_runs_message(kind: str | None, text: str = "") -> None:
    st.session_state[_RUNS_MESSAGE] = (kind, text) if kind else None


def setup_what_if(run: str, patience: int, min_delta: float) -> None:
    """Start the what-if sliders at the run's own settings whenever another run is chosen."""
    session = st.session_state
    if session.get(_WHATIF_RUN) != run or CKPT_WHATIF_PATIENCE not in session:
        session[_WHATIF_RUN] = run
        session[CKPT_WHATIF_PATIENCE] = int(patience)
        session[CKPT_WHATIF_MIN_DELTA] = float(min_delta)


def robustness_requested(checkpoint: str, transform: str) -> bool:
    return st.session_state.get(_ROBUST_REQUEST) == (checkpoint, transform)


def request_robustness(checkpoint: str, transform: str) -> None:
    st.session_state[_ROBUST_REQUEST] = (checkpoint, transform)


# --- Classify page -------------------------------------------------------------------------------


def random_test_index() -> int | None:
    """Index of the random test image shown on the Classify page, if one was drawn."""
    return st.session_state.get(_CLS_TEST_INDEX)


def set_random_test_index(index: int | None) -> None:
    st.session_state[_CLS_TEST_INDEX] = index
