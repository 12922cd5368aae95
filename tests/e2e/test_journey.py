"""A new user's journey through the lab in a real Chromium, on a small subset of the real data.

Each test is one page of the journey, in a tab of its own (a new session), and sets up what it
needs: the Checkpoints and Classify pages use a run trained for them by a fixture, so any test
runs alone or in any order. Every step also checks that no Streamlit exception box is on the
page.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.state.augment import CONTROLS
from app.state.checkpoints import VIEW
from app.state.classify import IMAGES_UPLOAD, PICKS
from app.state.train import FORM
from lab import runs
from lab.data import CIFAR10_MEAN, CIFAR10_STD
from lab.presets import preset_config
from lab.train import fit
from scripts.lab_browser import (
    MAIN,
    alerts,
    assert_no_exception,
    button,
    chart_marks,
    charts,
    choose,
    go_to,
    line_points,
    marks,
    metric,
    number,
    page_text,
    press_slider,
    selected,
    set_slider,
    settled_images,
    slider,
    table_rows,
    wait_settled,
    wait_until,
    widget,
)
from scripts.lab_server import TEST_PER_CLASS, TRAIN_PER_CLASS

pytestmark = pytest.mark.e2e

RUN_NAME = "e2e-journey"
TRAINED_RUN = "e2e-trained"
# A cpu-fast run at batch size 8 on 200 of the subset's training images (10% are held out for
# validation): 23 optimiser steps an epoch, each a point of the live per-batch loss chart. The
# speed of this machine varies twentyfold with its load (an epoch takes 0.5 to 15 s), so the run
# is set to 100 epochs with the widest patience and stopped by the test once it has been watched
# and has finished an epoch: long enough to watch on a fast day, short on a slow one.
BATCH_SIZE = "8"
TRAINING_IMAGES = "200"
PAGE_TIMEOUT_S = 60
TRAIN_TIMEOUT_S = 180
ANGLE = re.compile(r"angle ([+-]?\d+(?:\.\d+)?)°")


def classes_of(folder: Path) -> list[str]:
    return sorted(path.name for path in (folder / "train").iterdir() if path.is_dir())


def expected_stats(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and (unbiased) std of the training images, pixels scaled to [0, 1]."""
    pixels = np.concatenate(
        [
            np.asarray(Image.open(path).convert("RGB"), dtype=np.float64).reshape(-1, 3)
            for path in sorted((folder / "train").glob("*/*"))
        ]
    )
    pixels /= 255.0
    return pixels.mean(axis=0), pixels.std(axis=0, ddof=1)


def angles(shown: list[dict]) -> list[float]:
    return [float(m.group(1)) for image in shown for m in ANGLE.finditer(image["caption"])]


@pytest.fixture(scope="session")
def trained_run(lab_server, data_subset) -> Path:
    """A short finished run in the server's runs folder, for the pages that show runs."""
    config = preset_config("cpu-fast", str(data_subset)).with_overrides(
        model={"width": 0.25}, train={"epochs": 2, "batch_size": 16}
    )
    return fit(config, runs.create_run_dir(lab_server.runs_dir, TRAINED_RUN)).run_dir


def test_dataset_page_shows_class_chart_sample_grid_and_channel_statistics(page, data_subset):
    classes = classes_of(data_subset)
    wait_settled(page)

    bars = wait_until(
        lambda: chart_marks(page, "bar", "images"), PAGE_TIMEOUT_S, "the images-per-class chart"
    )
    counts = {(bar["class"], bar["split"]): number(bar["images"]) for bar in bars}
    expected = {(name, "train"): TRAIN_PER_CLASS for name in classes}
    expected |= {(name, "test"): TEST_PER_CLASS for name in classes}
    assert counts == expected

    # The sample grid: one strip of images per class (all classes are picked at first), its
    # 32 px images enlarged.
    grid = wait_until(lambda: settled_images(page), PAGE_TIMEOUT_S, "the sample grid to load")
    assert len(grid) == len(classes)
    assert all(image["height"] >= 64 for image in grid), grid
    row_labels = page.locator(f"{MAIN} strong").all_inner_texts()
    assert set(classes) <= set(row_labels), row_labels

    stats = wait_until(
        lambda: [
            rows
            for frame in page.locator(f'{MAIN} [data-testid="stDataFrame"]').all()
            if (rows := table_rows(frame)) and "std (this data)" in rows[0]
        ],
        PAGE_TIMEOUT_S,
        "the channel statistics table",
    )[0]
    mean, std = expected_stats(data_subset)
    assert [row["channel"] for row in stats] == ["red", "green", "blue"]
    for channel, row in enumerate(stats):
        assert number(row["mean (this data)"]) == pytest.approx(mean[channel], abs=1e-5)
        assert number(row["std (this data)"]) == pytest.approx(std[channel], abs=1e-5)
        assert number(row["mean (official CIFAR-10)"]) == pytest.approx(CIFAR10_MEAN[channel])
        assert number(row["std (official CIFAR-10)"]) == pytest.approx(CIFAR10_STD[channel])
    assert_no_exception(page, "the Dataset page")


def test_rotation_slider_changes_the_augmentation_preview(page):
    go_to(page, "Augmentations", PAGE_TIMEOUT_S)
    before = wait_until(lambda: settled_images(page), PAGE_TIMEOUT_S, "the augmentations")
    originals = [image["src"] for image in before if image["caption"] == "original"]
    draws = [image["src"] for image in before if image["caption"] != "original"]
    assert originals and len(draws) >= len(originals), before
    assert number(slider(page, CONTROLS.key("rotation")).get_attribute("aria-valuetext")) == 15
    assert angles(before) and all(abs(angle) <= 15 for angle in angles(before)), before

    assert number(press_slider(page, CONTROLS.key("rotation"), "End")) == 45

    def redrawn(shown: list[dict]) -> bool:
        """The rerun has replaced most draws (images update one by one while it runs)."""
        new = [image["src"] for image in shown if image["caption"] != "original"]
        if len(new) != len(draws):
            return False
        return sum(a != b for a, b in zip(draws, new, strict=True)) > len(new) // 2

    after = wait_until(
        lambda: (shown := settled_images(page)) and redrawn(shown) and shown,
        PAGE_TIMEOUT_S,
        "the preview to change after moving the rotation slider",
    )
    new_draws = [image["src"] for image in after if image["caption"] != "original"]
    assert [image["src"] for image in after if image["caption"] == "original"] == originals
    assert len(new_draws) == len(draws)
    assert sum(old != new for old, new in zip(draws, new_draws, strict=True)) > len(draws) // 2
    assert max(abs(angle) for angle in angles(after)) > 15, after
    assert all(abs(angle) <= 45 for angle in angles(after)), after
    assert '"rotation": 45.0' in page.locator(f'{MAIN} [data-testid="stCode"]').first.inner_text()
    assert_no_exception(page, "the Augmentations page")


def watch_training(page, seen: list[tuple[str, int]], enough: int) -> bool:
    """One look at the live view: the State metric and the points on the per-batch loss chart,
    recorded in ``seen`` when they changed. True once ``enough`` different point counts were
    seen while the run was training, or when it is not training any more."""
    assert_no_exception(page, "the Train page while training")
    look = (metric(page, "State"), line_points(charts(page, "training loss per batch")))
    if not seen or seen[-1] != look:
        seen.append(look)
    training = {points for run_state, points in seen if run_state == "Training" and points}
    return len(training) >= enough or look[0] not in ("", "Queued", "Training")


def epochs_done(page) -> set[str]:
    """The epochs with a point on the live accuracy-per-epoch chart."""
    chart = charts(page, "accuracy per epoch")
    return {mark["epoch"] for mark in marks(chart.first, "point")} if chart.count() else set()


def test_training_runs_live_and_keeps_going_across_a_page_switch(page, lab_server):
    go_to(page, "Train", PAGE_TIMEOUT_S)
    button(page, "Start").wait_for(timeout=PAGE_TIMEOUT_S * 1000)
    wait_settled(page)
    assert selected(page, FORM.key("preset")) == "cpu-fast"
    assert number(press_slider(page, FORM.key("epochs"), "End")) == 100
    assert number(press_slider(page, FORM.key("patience"), "End")) == 30
    set_slider(page, FORM.key("batch_size"), BATCH_SIZE)
    for key, text in ((FORM.key("subset"), TRAINING_IMAGES), (FORM.key("name"), RUN_NAME)):
        box = widget(page, key).locator("input")
        box.fill(text)
        box.press("Enter")
        wait_settled(page)
    assert_no_exception(page, "the Train page")
    button(page, "Start").click()

    # While watched, the live per-batch loss chart gains points from poll to poll.
    seen: list[tuple[str, int]] = []
    wait_until(
        lambda: watch_training(page, seen, enough=3),
        TRAIN_TIMEOUT_S,
        "the live chart to gain points",
        interval_s=0.2,
    )
    training = [points for run_state, points in seen if run_state == "Training" and points]
    assert len(set(training)) >= 3, f"the run ended before it was seen training: {seen}"
    assert training == sorted(training), seen
    assert button(page, "Start").is_disabled()
    last_points = training[-1]

    # Away to the Dataset page: the sidebar still reports the job.
    go_to(page, "Dataset", PAGE_TIMEOUT_S)
    sidebar = wait_until(
        lambda: (text := page_text(page)) and RUN_NAME in text and text,
        PAGE_TIMEOUT_S,
        "the sidebar's job status",
    )
    assert re.search(rf"(Training|Finished)\s+{RUN_NAME}", sidebar), sidebar
    assert_no_exception(page, "the Dataset page during training")

    # Back: still progressing (more points than before the switch) or finished.
    go_to(page, "Train", PAGE_TIMEOUT_S)
    wait_until(
        lambda: (
            (look := (metric(page, "State"), line_points(charts(page, "training loss per batch"))))
            and look[0] in ("Training", "Finished")
            and look[1] > last_points
        ),
        PAGE_TIMEOUT_S,
        "the run to go on after the page switch",
    )
    assert_no_exception(page, "the Train page after the page switch")

    # Once an epoch is done (a checkpoint exists), stop the run if it is still going.
    wait_until(
        lambda: assert_no_exception(page, "the Train page") or "1" in epochs_done(page),
        TRAIN_TIMEOUT_S,
        "the first epoch to end",
    )
    if metric(page, "State") == "Training":
        button(page, "Stop").click()
    done = wait_until(
        lambda: [text for text in alerts(page) if f"run {RUN_NAME}" in text.lower()],
        TRAIN_TIMEOUT_S,
        "the run's summary",
    )
    stopped = rf"You stopped run {RUN_NAME} after \d+ completed epochs"
    assert re.search(rf"{stopped}|Run {RUN_NAME} \S", done[0]), done  # or finished early
    assert metric(page, "State") in ("Stopped", "Finished")
    run_dir = lab_server.runs_dir / RUN_NAME
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs_run"] >= 1 and metrics["best_val_acc"] is not None, metrics
    assert {str(epoch) for epoch in range(1, metrics["epochs_run"] + 1)} <= epochs_done(page)
    assert (run_dir / "best.pt").is_file() and (run_dir / "last.pt").is_file()
    assert not button(page, "Start").is_disabled()
    assert_no_exception(page, "the Train page after the run")


def test_checkpoints_lists_the_run_and_shows_its_confusion_matrix(page, trained_run, data_subset):
    metrics = json.loads((trained_run / runs.METRICS).read_text())
    go_to(page, "Checkpoints", PAGE_TIMEOUT_S)
    rows = wait_until(
        lambda: [
            row
            for frame in page.locator(f'{MAIN} [data-testid="stDataFrame"]').all()
            for row in table_rows(frame)
            if row.get("run") == TRAINED_RUN
        ],
        PAGE_TIMEOUT_S,
        f"{TRAINED_RUN} in the runs table",
    )
    assert number(rows[0]["best val acc"]) == pytest.approx(metrics["best_val_acc"])
    assert number(rows[0]["test acc"]) == pytest.approx(metrics["test_acc"])
    assert number(rows[0]["epochs"]) == metrics["epochs_run"]
    choose(page, VIEW.key("detail"), TRAINED_RUN)
    wait_settled(page)
    assert_no_exception(page, "the Checkpoints page")

    page.get_by_role("tab", name="Errors", exact=True).click()
    cells = wait_until(
        lambda: chart_marks(page, "rect mark", "predicted"), PAGE_TIMEOUT_S, "the confusion matrix"
    )
    classes = classes_of(data_subset)
    assert len(cells) == len(classes) ** 2
    assert {cell["true"] for cell in cells} == {cell["predicted"] for cell in cells} == set(classes)
    for name in classes:  # every test image counted once, in its true class's row
        assert sum(number(c["value"]) for c in cells if c["true"] == name) == TEST_PER_CLASS
    correct = sum(number(c["value"]) for c in cells if c["true"] == c["predicted"])
    heading = re.search(r"Confusion matrix · test accuracy ([\d.]+)%", page_text(page))
    assert heading, page_text(page)
    assert float(heading.group(1)) / 100 == pytest.approx(
        correct / (TEST_PER_CLASS * len(classes)), abs=1e-4
    )
    assert_no_exception(page, "the Checkpoints page with the evaluation")


def test_classify_shows_the_top5_of_an_uploaded_png(page, trained_run, data_subset, tmp_path):
    assert (data_subset / "test").is_dir()
    classes = classes_of(data_subset)
    source = sorted((data_subset / "test" / classes[3]).iterdir())[0]
    png = tmp_path / f"{classes[3]}-test-image.png"
    Image.open(source).convert("RGB").save(png)

    go_to(page, "Classify", PAGE_TIMEOUT_S)
    uploader = widget(page, IMAGES_UPLOAD).locator('input[type="file"]')
    uploader.wait_for(state="attached", timeout=PAGE_TIMEOUT_S * 1000)
    choose(page, PICKS.key("run"), TRAINED_RUN)
    wait_settled(page)
    uploader.set_input_files(str(png))

    bars = wait_until(
        lambda: chart_marks(page, "bar", "probability"), PAGE_TIMEOUT_S, "the top-5 chart"
    )
    labels = [bar["class"] for bar in bars]
    probabilities = [number(bar["probability"]) for bar in bars]
    assert len(bars) == 5 and len(set(labels)) == 5 and set(labels) <= set(classes), bars
    assert all(0 <= p <= 1 for p in probabilities) and sum(probabilities) <= 1 + 1e-6
    verdict = re.search(r"Top-1: (\S+) · ([\d.]+)%", page_text(page))
    assert verdict, page_text(page)
    best = max(range(5), key=probabilities.__getitem__)
    assert verdict.group(1) == labels[best]
    assert float(verdict.group(2)) / 100 == pytest.approx(probabilities[best], abs=1e-3)
    shown = wait_until(lambda: settled_images(page), PAGE_TIMEOUT_S, "the classified image")
    assert any(image["caption"] == f"{png.name} as uploaded" for image in shown), shown
    assert_no_exception(page, "the Classify page")
