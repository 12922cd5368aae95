"""The run as code: the Train page shows the step of the standalone script where each change of
its settings lands, the whole script and its downloads; the Augmentations page shows its
pipeline as the script's ``transforms.Compose``."""

from __future__ import annotations

from dataclasses import replace

import nbformat
import pytest
from app_helpers import open_page, texts

from app import nav
from app.state.augment import CONTROLS, TRANSFORMS, switch
from app.state.code import VIEW, landing
from app.state.train import FORM, SWEEP
from app.views.train import code
from lab.codegen import augmentation_section, render_script, section_for_setting
from lab.codegen.train_steps import MODEL_CLASSES
from lab.config import CIFAR10_SOURCE, AugmentConfig, RunConfig
from lab.presets import preset_config

OPTIMIZER_STEP = "Loss, optimizer and learning-rate schedule"


def shown_step(at) -> tuple[str, str]:
    """The step the code view shows: its title and its code (the first code box of the view;
    the second is the whole script)."""
    title = at.selectbox(key=VIEW.key("step")).value
    (step_code, script) = [box.value for box in at.code]
    return title, step_code


def test_the_train_page_shows_the_step_where_each_change_lands(with_data, empty_runs):
    at = open_page(nav.TRAIN)
    assert not at.exception, texts(at)
    title, shown = shown_step(at)
    assert title == "The model" and "model = AlexNetCifar(" in shown

    at.select_slider(key=FORM.key("lr")).set_value(0.0007).run()
    title, shown = shown_step(at)
    assert title == OPTIMIZER_STEP
    assert "LR = 0.0007  # Learning rate" in shown and "lr=LR" in shown
    at.select_slider(key=FORM.key("lr")).set_value(0.003).run()
    assert "LR = 0.003  # Learning rate" in shown_step(at)[1]

    at.selectbox(key=FORM.key("model")).set_value("alexnet").run()
    title, shown = shown_step(at)
    assert title == "The model"
    assert f"model = {MODEL_CLASSES['alexnet']}(" in shown and "AlexNetCifar" not in shown

    # Any step on request, until the next change brings up its own.
    at.selectbox(key=VIEW.key("step")).set_value("Data loaders").run()
    assert "DataLoader(" in shown_step(at)[1]
    at.slider(key=FORM.key("patience")).set_value(9).run()
    title, shown = shown_step(at)
    assert title == "Training with early stopping and checkpointing" and "PATIENCE = 9" in shown


def test_the_whole_script_and_its_downloads(with_data, empty_runs):
    at = open_page(nav.TRAIN)
    at.select_slider(key=FORM.key("lr")).set_value(0.0007).run()
    (_, script) = [box.value for box in at.code]
    # The script of the run Start would train: the form's preset, its data, its settings.
    config = preset_config("cpu-fast", str(with_data)).with_settings({"lr": 0.0007})
    assert code.script_file(config) == render_script(config)
    assert script == render_script(config).rstrip("\n")  # st.code drops the last newline
    # Each button names its file: the preset's name until the run has one.
    downloads = {button.proto.label: button.proto for button in at.get("download_button")}
    script_button = downloads["Download cpu-fast.py"]
    notebook_button = downloads["Download cpu-fast.ipynb"]
    # Built when clicked, so that no rerun removes a file the browser is fetching.
    assert script_button.deferred_file_id and notebook_button.deferred_file_id
    notebook = nbformat.reads(code.notebook_file(config), as_version=4)
    nbformat.validate(notebook)
    assert any("LR = 0.0007" in cell.source for cell in notebook.cells)

    at.text_input(key=FORM.key("name")).set_value("my-run").run()
    labels = {button.proto.label for button in at.get("download_button")}
    assert {"Download my-run.py", "Download my-run.ipynb"} <= labels


def test_a_sweep_shows_its_base_run_and_says_what_it_varies(with_data, empty_runs):
    at = open_page(nav.TRAIN)
    at.segmented_control(key=FORM.key("mode")).set_value(SWEEP).run()
    assert not at.exception, texts(at)
    assert "runs this script once for each of its values of learning rate and patience" in texts(at)
    assert "transforms.Compose([" in at.code[1].value


@pytest.mark.parametrize(
    ("change", "step"),
    [
        ({"lr": 0.01}, OPTIMIZER_STEP),
        ({"model": "alexnet"}, "The model"),  # which brings its resize: still the model's
        ({"hflip_p": 0.0}, "Augmentation"),
        ({"val_fraction": 0.2, "patience": 9}, "Training and validation images"),
        ({"patience": 9, "val_fraction": 0.2}, "Training and validation images"),
        ({}, None),
    ],
)
def test_a_change_lands_in_the_step_of_its_first_setting_in_the_form(change, step):
    before = preset_config("cpu-fast", CIFAR10_SOURCE)
    keys = ("model", "width", "lr", "val_fraction", "patience")
    assert landing(before, before.with_settings(change), keys) == step


def test_a_change_of_a_field_no_setting_shows_lands_in_its_step():
    before = RunConfig()
    after = before.with_overrides(augment={"resize": 64})
    assert landing(before, after, ("model",)) == "Augmentation"
    assert section_for_setting(after, "augment.resize").title == "Augmentation"


def test_the_augmentations_page_shows_its_pipeline_as_transforms_code(with_data, empty_runs):
    at = open_page(nav.AUGMENTATIONS)
    rotation = "transforms.RandomRotation(ROTATION, fill=ROTATION_FILL),"

    def pipeline() -> str:
        (python,) = [box.value for box in at.code if box.language == "python"]
        return python

    assert "transforms.Compose([" in pipeline()
    assert f"    {rotation}" in pipeline().splitlines()  # the page starts with it on
    at.slider(key=CONTROLS.key("rotation")).set_value(25.0).run()
    assert "ROTATION = 25.0" in pipeline()
    (rotate,) = [transform for transform in TRANSFORMS if transform.setting == "rotation"]
    at.toggle(key=CONTROLS.key(switch(rotate))).set_value(False).run()
    assert f"    {rotation}" not in pipeline().splitlines()
    assert f"    # {rotation}  (off: ROTATION is 0)" in pipeline().splitlines()
    assert "ROTATION = 0" in pipeline()


@pytest.mark.parametrize("resize", [None, 8, 32, 227, 1024])
def test_the_augmentation_step_of_any_augmentation(resize):
    """Every resize an augmentation may have, 32 px too, which the default network refuses."""
    augment = AugmentConfig(resize=resize, rotation=10.0)
    step = augmentation_section(augment)
    assert step.title == "Augmentation" and f"RESIZE = {resize!r}" in step.code
    assert "    transforms.RandomRotation(ROTATION, fill=ROTATION_FILL)," in step.code
    # The step a run of any network writes with it.
    run = preset_config("cpu-fast", CIFAR10_SOURCE).with_overrides(augment={"resize": resize})
    assert step == section_for_setting(replace(run, augment=augment), "augment.rotation")
