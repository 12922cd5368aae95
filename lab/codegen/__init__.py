"""Every run as a standalone PyTorch script or Jupyter notebook that students can read and run.

``script_sections`` turns a run config into the steps of the course notebook (data, split,
statistics, augmentation, loaders, model, loss and optimizer, evaluation, training with early
stopping and checkpointing, the test), each a ``Section`` with its title, why it is done so and
its code. ``render_script`` joins them into one Python file that needs only torch, torchvision,
numpy, Pillow and scikit-learn (no ``lab``), ``render_notebook`` into a notebook with a heading
cell before each code cell, and ``section_for_setting`` names the section a setting lands in,
so a view can show the code a control changes, and ``augmentation_section`` is the step an
augmentation alone writes (its ``transforms.Compose``). ``cifar-lab code`` writes either
(``write_code``), and run cards carry the script.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import nbformat

from lab.codegen.data_steps import DATA_STEPS, augmentation
from lab.codegen.section import FIELD_PATHS, Section
from lab.codegen.train_steps import TRAIN_STEPS
from lab.config import MIN_INPUT, SETTINGS, AugmentConfig, ModelConfig, RunConfig
from lab.errors import ConfigError, LabError
from lab.io import atomic_write_text

__all__ = [
    "FIELD_PATHS",
    "Section",
    "augmentation_section",
    "render_notebook",
    "render_script",
    "script_sections",
    "section_for_setting",
    "write_code",
]

WRAP = 96
# The steps of a script, in order.
STEPS = (*DATA_STEPS, *TRAIN_STEPS)


def script_sections(config: RunConfig) -> list[Section]:
    """The steps of ``config``'s recipe, in the order a script runs them."""
    return [step(config) for step in STEPS]


def setting_path(key: str) -> str:
    """The field a setting key names: a key of ``lab.config.SETTINGS`` ("lr", "model") or a
    field path ("train.lr", "augment.resize", "data.seed")."""
    if key in SETTINGS:
        return f"{SETTINGS[key].section}.{SETTINGS[key].name}"
    if key in FIELD_PATHS:
        return key
    raise ConfigError(f"unknown setting {key!r}: valid are {sorted(SETTINGS)} or {FIELD_PATHS}")


def section_for_setting(config: RunConfig, key: str) -> Section:
    """The section of ``config``'s script that writes setting ``key`` (a ``SETTINGS`` key or
    a field path): where a change of that setting shows."""
    path = setting_path(key)
    return next(section for section in script_sections(config) if path in section.settings)


def augmentation_section(augment: AugmentConfig) -> Section:
    """The augmentation step of a script that trains with ``augment``: its settings as
    constants and the training and test ``transforms.Compose``. The step reads nothing but the
    augmentation; the run around it has the network that takes the smallest images, so that
    every resize an augmentation may have fits it."""
    smallest = min(MIN_INPUT, key=MIN_INPUT.__getitem__)
    return augmentation(RunConfig(augment=augment, model=ModelConfig(name=smallest)))


def _title(config: RunConfig) -> str:
    recipe = f"the {config.preset} recipe" if config.preset else "a CIFAR Lab recipe"
    return f"Training {config.model.name} on CIFAR-10: {recipe} in plain PyTorch"


def _intro(config: RunConfig) -> str:
    return (
        f"Written by `cifar-lab code` from the lab's settings. Read top to bottom, it follows "
        f"the course notebook step by step, and needs only torch, torchvision, numpy, Pillow and "
        f"scikit-learn. Run from the first step to the last, it trains the recipe for up to "
        f"{config.train.epochs} epochs and keeps the best model in best.pt in the working "
        "folder. Set the environment variable CIFAR_DATA to train on other data: an image "
        "folder with train/<class>/* and test/<class>/*."
    )


def _comment(text: str) -> str:
    return textwrap.fill(text, WRAP, initial_indent="# ", subsequent_indent="# ")


def render_script(config: RunConfig) -> str:
    """``config``'s recipe as one Python file: the sections in order, each headed by a
    ``# %%`` cell marker (editors run them cell by cell), its title and why."""
    intro = textwrap.fill(_intro(config), WRAP)
    parts = [f'"""{_title(config)}.\n\n{intro}\n"""']
    for number, section in enumerate(script_sections(config), 1):
        heading = f"# %% {number}. {section.title}\n{_comment(section.why)}"
        parts.append(f"{heading}\n\n{section.code}")
    return "\n\n\n".join(parts) + "\n"


def render_notebook(config: RunConfig) -> nbformat.NotebookNode:
    """``config``'s recipe as a Jupyter notebook (nbformat v4): a title cell, then for each
    section a Markdown cell with its heading and why, and a code cell with its code."""
    new = nbformat.v4
    # Cell ids named after the steps, not random ones: the same run always writes the same file.
    cells = [new.new_markdown_cell(f"# {_title(config)}\n\n{_intro(config)}", id="intro")]
    for number, section in enumerate(script_sections(config), 1):
        why = f"## {number}. {section.title}\n\n{section.why}"
        cells.append(new.new_markdown_cell(why, id=f"step-{number}-why"))
        cells.append(new.new_code_cell(section.code, id=f"step-{number}-code"))
    notebook = new.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook.metadata["language_info"] = {"name": "python"}
    nbformat.validate(notebook)
    return notebook


def write_code(config: RunConfig, out: str | os.PathLike, *, notebook: bool = False) -> Path:
    """Write ``config``'s script (or, with ``notebook``, its notebook) to ``out`` atomically,
    making its folder when needed; a path that cannot be written is one clear ``LabError``."""
    text = nbformat.writes(render_notebook(config)) if notebook else render_script(config)
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write_text(text, out)
    except OSError as error:
        raise LabError(f"cannot write {out} ({error.strerror or error})") from error
