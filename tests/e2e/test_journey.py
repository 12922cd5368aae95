"""A new user's journey through the lab in a real Chromium, on a small subset of the real data.

Each test is one page of the journey, in a tab of its own (a new session), and sets up what it
needs: the Checkpoints and Classify pages use a run trained for them by a fixture, so any test
runs alone or in any order. Two tests use two browsers at once (the owner of a run and a
watcher), one a server whose idle rule pauses runs, and the layout tests visit every page at
1280 and 1400 px, leaving screenshots. Every step also checks that no Streamlit exception box
is on the page, and every tab fails its test on a console error or a request that leaves the
machine (tests/e2e/conftest.py).
"""

from __future__ import annotations

import base64
import io
import json
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.state.augment import CONTROLS
from app.state.checkpoints import VIEW
from app.state.classify import CHECKPOINT_UPLOAD, IMAGES_UPLOAD, PICKS
from app.state.train import FORM
from lab import runs
from lab.data import CIFAR10_MEAN, CIFAR10_STD
from lab.fit import fit
from lab.launch import prepare_run
from lab.presets import preset_config
from scripts.lab_browser import (
    MAIN,
    SIDEBAR,
    alerts,
    assert_no_exception,
    button,
    chart_marks,
    charts,
    choose,
    chromium_page,
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
    tables,
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
TRAIN_TIMEOUT_S = 600
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
    return [float(m.group(1)) for image in shown for m in ANGLE.finditer(image["details"])]


def captioned_images(page) -> list[dict] | None:
    """The main area's images once all have loaded, each with the caption under it and the
    details its caption shows on hover (the Augmentations page's draws); None before."""
    shown = settled_images(page)
    if shown is None:
        return None
    return [
        {**image, "caption": image["below"], "details": image["below_title"]} for image in shown
    ]


def test_captioned_images_pair_each_image_with_its_caption_while_a_rerun_draws_more(
    driver, real_data_folder, tmp_path
):
    # real_data_folder only for its skips where Chromium or Playwright is missing.
    png = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(png, format="PNG")
    source = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
    pair = (
        f'<div data-testid="stElementContainer"><div data-testid="stImage"><img src="{source}">'
        '</div></div><div data-testid="stElementContainer"><div data-testid="stCaptionContainer">'
        '<span title="angle +5.0°">rotated</span></div></div>'
    )
    # Like a rerun that draws one more image right after each look at the images.
    script = f"""<script>
        const query = Element.prototype.querySelectorAll;
        Element.prototype.querySelectorAll = function (selector) {{
            const found = query.call(this, selector);
            if (selector.includes("stImage")) {{
                document.querySelector('[data-testid="stMain"]').insertAdjacentHTML(
                    "beforeend", {json.dumps(pair)});
            }}
            return found;
        }};
    </script>"""
    with chromium_page(tmp_path, playwright=driver) as page:
        page.set_content(f'<div data-testid="stMain">{pair}</div>{script}')
        page.wait_for_function("document.querySelector('img').naturalWidth > 0")
        shown = captioned_images(page)
    assert [(image["src"], image["caption"], image["details"]) for image in shown] == [
        (source, "rotated", "angle +5.0°")
    ]


@pytest.fixture(scope="session")
def trained_run(lab_server, data_subset) -> Path:
    """A short finished run in the server's runs folder, for the pages that show runs."""
    config = preset_config("cpu-fast", str(data_subset)).with_overrides(
        model={"width": 0.25}, train={"epochs": 2, "batch_size": 16}
    )
    return fit(prepare_run(config, lab_server.runs_dir, name=TRAINED_RUN)).run_dir


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
    # A look just as the page starts drawing finds a settled page with part of the grid (CI
    # saw 6 strips of 10): wait for one strip per class.
    grid = wait_until(
        lambda: (shown := settled_images(page)) and len(shown) == len(classes) and shown,
        PAGE_TIMEOUT_S,
        "a strip of samples per class",
    )
    assert all(image["height"] >= 64 for image in grid), grid
    row_labels = page.locator(f"{MAIN} strong").all_inner_texts()
    assert set(classes) <= set(row_labels), row_labels

    stats = wait_until(
        lambda: [rows for rows in tables(page) if rows and "std CIFAR-10" in rows[0]],
        PAGE_TIMEOUT_S,
        "the channel statistics table",
    )[0]
    mean, std = expected_stats(data_subset)
    assert [row["channel"] for row in stats] == ["red", "green", "blue"]
    for channel, row in enumerate(stats):
        assert number(row["mean"]) == pytest.approx(mean[channel], abs=1e-5)
        assert number(row["std"]) == pytest.approx(std[channel], abs=1e-5)
        assert number(row["mean CIFAR-10"]) == pytest.approx(CIFAR10_MEAN[channel])
        assert number(row["std CIFAR-10"]) == pytest.approx(CIFAR10_STD[channel])
    assert_no_exception(page, "the Dataset page")


def test_rotation_slider_changes_the_augmentation_preview(page):
    go_to(page, "Augmentations", PAGE_TIMEOUT_S)
    # Every image with its caption: the captions are drawn a moment after the images.
    before = wait_until(
        lambda: (shown := captioned_images(page)) and all(i["caption"] for i in shown) and shown,
        PAGE_TIMEOUT_S,
        "the augmentations",
    )
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
        lambda: (shown := captioned_images(page)) and redrawn(shown) and shown,
        PAGE_TIMEOUT_S,
        "the preview to change after moving the rotation slider",
    )
    new_draws = [image["src"] for image in after if image["caption"] != "original"]
    assert [image["src"] for image in after if image["caption"] == "original"] == originals
    assert len(new_draws) == len(draws)
    assert sum(old != new for old, new in zip(draws, new_draws, strict=True)) > len(draws) // 2
    assert max(abs(angle) for angle in angles(after)) > 15, after
    assert all(abs(angle) <= 45 for angle in angles(after)), after
    code = page.locator(f'{MAIN} [data-testid="stCode"]').first  # drawn after the preview
    wait_until(lambda: '"rotation": 45.0' in code.inner_text(), PAGE_TIMEOUT_S, "the JSON")
    # The download is made when it is clicked, and is the configuration shown.
    with page.expect_download(timeout=PAGE_TIMEOUT_S * 1000) as download:
        button(page, "Download JSON").click()
    assert download.value.suggested_filename == "augmentation.json"
    saved = json.loads(Path(download.value.path()).read_text())
    assert saved == json.loads(code.inner_text()) and saved["rotation"] == 45.0
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


def set_up_long_run(page, name: str) -> None:
    """On the Train page: a run that trains until stopped, tiny batches on a few images."""
    go_to(page, "Train", PAGE_TIMEOUT_S)
    button(page, "Start").wait_for(timeout=PAGE_TIMEOUT_S * 1000)
    wait_settled(page)
    press_slider(page, FORM.key("epochs"), "End")
    press_slider(page, FORM.key("patience"), "End")
    set_slider(page, FORM.key("batch_size"), BATCH_SIZE)
    for key, text in ((FORM.key("subset"), TRAINING_IMAGES), (FORM.key("name"), name)):
        box = widget(page, key).locator("input")
        box.fill(text)
        box.press("Enter")
        wait_settled(page)


def test_training_runs_live_and_keeps_going_across_a_page_switch(page, lab_server):
    set_up_long_run(page, RUN_NAME)
    assert selected(page, FORM.key("preset")) == "cpu-fast"
    for key, top in (("epochs", 100), ("patience", 30)):
        assert number(slider(page, FORM.key(key)).get_attribute("aria-valuetext")) == top
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
        lambda: [row for rows in tables(page) for row in rows if row.get("run") == TRAINED_RUN],
        PAGE_TIMEOUT_S,
        f"{TRAINED_RUN} in the runs table",
    )
    assert number(rows[0]["best val acc"]) == pytest.approx(metrics["best_val_acc"])
    assert rows[0]["test acc"] == f"{metrics['test_acc']:.2%}"  # written, as "—" is
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
    wait_until(
        lambda: any(
            image["caption"] == f"{png.name} as given" for image in settled_images(page) or []
        ),
        PAGE_TIMEOUT_S,
        "the classified image",
    )
    assert_no_exception(page, "the Classify page")


# --- two sessions: a run belongs to the one that started it ------------------------------------


def controls(page) -> dict[str, bool]:
    """Which of Pause, Resume and Stop are enabled."""
    return {label: button(page, label).is_enabled() for label in ("Pause", "Resume", "Stop")}


def test_a_run_belongs_to_the_browser_session_that_started_it(page, watcher):
    name = "e2e-owned"
    set_up_long_run(page, name)
    button(page, "Start").click()
    try:
        wait_until(lambda: metric(page, "State") == "Training", TRAIN_TIMEOUT_S, "the run")

        # The other browser finds the run, watches it, and may not change it.
        go_to(watcher, "Train", PAGE_TIMEOUT_S)
        watch = button(watcher, f"Watch {name} (training)")
        watch.wait_for(timeout=PAGE_TIMEOUT_S * 1000)
        watch.click()
        notice = wait_until(
            lambda: [text for text in alerts(watcher) if "another browser session" in text],
            PAGE_TIMEOUT_S,
            "the watcher's notice",
        )
        assert f"{name} was started in another browser session" in notice[0]
        assert "only that session can pause, resume or stop it" in notice[0]
        wait_settled(watcher)
        assert controls(watcher) == {"Pause": False, "Resume": False, "Stop": False}
        assert "watching: started in another browser session" in page_text(watcher)
        assert_no_exception(watcher, "the watcher's Train page")

        # The owner pauses: the watcher sees it within a poll, still read-only.
        button(page, "Pause").click()
        wait_until(lambda: metric(watcher, "State") == "Paused", PAGE_TIMEOUT_S, "the pause")
        wait_settled(watcher)
        assert controls(watcher) == {"Pause": False, "Resume": False, "Stop": False}
        wait_settled(page)
        assert controls(page) == {"Pause": False, "Resume": True, "Stop": True}
    finally:
        go_to(page, "Train", PAGE_TIMEOUT_S)
        button(page, "Stop").click()
    wait_until(lambda: metric(watcher, "State") == "Stopped", TRAIN_TIMEOUT_S, "the stop")
    said = wait_until(
        lambda: [text for text in alerts(watcher) if f"run {name}" in text],
        PAGE_TIMEOUT_S,
        "the watcher's summary",
    )
    assert "The session that started it stopped run" in said[0], said
    assert_no_exception(watcher, "the watcher's Train page after the run")


def test_a_run_the_idle_rule_pauses_says_so_and_its_buttons_follow_at_once(idle_page):
    """On a server whose idle rule pauses a run nobody polled for 1 s, a run pauses itself
    between two polls of its Train page, as a run nobody watches does after 15 minutes."""
    set_up_long_run(idle_page, "e2e-idle")
    button(idle_page, "Start").click()
    try:
        wait_until(lambda: metric(idle_page, "State") == "Paused", TRAIN_TIMEOUT_S, "the pause")
        wait_settled(idle_page)
        # The page redrew itself whole with the new state: the buttons match it.
        assert controls(idle_page) == {"Pause": False, "Resume": True, "Stop": True}
        said = [text for text in alerts(idle_page) if "Paused automatically" in text]
        assert said and "nobody watched it for 1 s" in said[0], alerts(idle_page)
        assert "Press Resume to go on where it was" in said[0]
        button(idle_page, "Resume").click()
        wait_until(
            lambda: metric(idle_page, "State") in ("Training", "Paused"), PAGE_TIMEOUT_S, "resume"
        )
        wait_settled(idle_page)
        state = metric(idle_page, "State")
        expected = {"Pause": state == "Training", "Resume": state == "Paused", "Stop": True}
        assert controls(idle_page) == expected
    finally:
        button(idle_page, "Stop").click()
    wait_until(lambda: metric(idle_page, "State") == "Stopped", TRAIN_TIMEOUT_S, "the stop")
    assert_no_exception(idle_page, "the Train page after the idle pause")


# --- Classify: the results are those of the images in the box -----------------------------------


def results_on_page(page) -> int:
    return len(re.findall(r"^Top-1: ", page.locator(MAIN).inner_text(), re.MULTILINE))


def all_drawn(page, results: int) -> bool:
    """``results`` results on the page, each with its Grad-CAM, every image loaded: the run
    that draws them has ended. (An image of a run cut short by the next one can be gone from
    the server before the browser fetched it, a 404 the console would report.)"""
    shown = settled_images(page)
    explained = [image for image in shown or [] if image["caption"].startswith("Grad-CAM for")]
    return results_on_page(page) == results and len(explained) == results


def test_classify_results_follow_the_images_through_a_checkpoint_upload(
    page, trained_run, data_subset, tmp_path
):
    """Issue 12, defect 6: upload 5 images, switch to "Upload a .pt", upload best.pt; then add
    an image. Then a fake .pt gets one plain sentence."""
    classes = classes_of(data_subset)
    pictures = []
    for index, name in enumerate(classes[:6]):
        picture = tmp_path / f"{index}-{name}.png"
        Image.open(sorted((data_subset / "test" / name).iterdir())[0]).save(picture)
        pictures.append(picture)
    go_to(page, "Classify", PAGE_TIMEOUT_S)
    uploader = widget(page, IMAGES_UPLOAD).locator('input[type="file"]')
    uploader.wait_for(state="attached", timeout=PAGE_TIMEOUT_S * 1000)
    choose(page, PICKS.key("run"), TRAINED_RUN)
    wait_settled(page)
    uploader.set_input_files([str(picture) for picture in pictures[:5]])
    wait_until(lambda: all_drawn(page, 5), PAGE_TIMEOUT_S, "five results")

    widget(page, PICKS.key("source")).locator("button", has_text="Upload a .pt").click()
    checkpoint_box = widget(page, CHECKPOINT_UPLOAD).locator('input[type="file"]')
    checkpoint_box.wait_for(state="attached", timeout=PAGE_TIMEOUT_S * 1000)
    wait_settled(page)
    assert results_on_page(page) == 0  # no checkpoint: no results, and not the old ones
    listed = widget(page, IMAGES_UPLOAD).inner_text()
    assert all(picture.name in listed for picture in pictures[:5]), listed  # the images stay
    checkpoint_box.set_input_files(str(trained_run / runs.BEST))
    wait_until(lambda: all_drawn(page, 5), PAGE_TIMEOUT_S, "the five images again")
    uploader.set_input_files(str(pictures[5]))  # one more: none of the others is dropped
    wait_until(lambda: all_drawn(page, 6), PAGE_TIMEOUT_S, "six results")
    assert_no_exception(page, "the Classify page")

    fake = tmp_path / "fake.pt"
    fake.write_bytes(b"not a checkpoint, a text file\n")
    checkpoint_box.set_input_files(str(fake))  # in place of best.pt
    refused = wait_until(
        lambda: [text[text.index("Cannot use") :] for text in alerts(page) if "Cannot use" in text],
        PAGE_TIMEOUT_S,
        "the fake checkpoint's message",
    )
    assert refused[0].startswith("Cannot use fake.pt: ") and "\n" not in refused[0], refused
    assert tempfile.gettempdir() not in refused[0] and "Error" not in refused[0], refused
    assert "truncated or not a PyTorch file" in refused[0]
    # The message draws before the rerun has taken the old results away (CI read them then).
    wait_settled(page)
    wait_until(lambda: results_on_page(page) == 0, PAGE_TIMEOUT_S, "the results gone")


# --- layout at 1280 and 1400 px: nothing cut, nothing scrolls sideways, screenshots -----------


def cut_buttons(page) -> list[str]:
    """Labels of the visible buttons whose text does not fit (cut or ellipsised); an icon's
    ligature name (the text behind a Material icon) and text only for screen readers (a box
    of a pixel or so) are not labels."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll(
                '[data-testid="stMain"] button, [data-testid="stSidebar"] button'))
            .filter(b => b.offsetParent !== null && b.innerText.trim())
            .filter(b => [b, ...b.querySelectorAll('*')]
                .filter(e => !e.closest('[data-testid="stIconMaterial"]'))
                .some(e => e.clientWidth > 2 && e.scrollWidth > e.clientWidth + 1))
            .map(b => b.innerText.trim())"""
    )


CUT_CHOICES = """() => Array.from(document.querySelectorAll(
        '[data-testid="stMain"] [data-testid="stMultiSelectTagsContainer"]'))
    .flatMap(box => {
        const shown = box.getBoundingClientRect();
        return Array.from(box.querySelectorAll('[data-tag]'))
            .filter(tag => tag.getBoundingClientRect().right > shown.right + 1)
            .map(tag => tag.getAttribute('aria-label'));
    })"""


def cut_choices(page) -> list[str]:
    """The chosen options of a multiselect that its box cuts off or hides: it scrolls them
    sideways rather than wrapping them onto a second line."""
    return page.evaluate(CUT_CHOICES)


def sideways_tables(page) -> list[int]:
    """For each table of the main area that scrolls sideways, by how many pixels."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll(
                '[data-testid="stMain"] [data-testid="stDataFrame"] .dvn-scroller'))
            .map(s => s.scrollWidth - s.clientWidth).filter(extra => extra > 1)"""
    )


def wrapped_captions(page) -> list[str]:
    """Image captions of the Augmentations page that take more than one line."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll(
                '[data-testid="stMain"] [data-testid="stCaptionContainer"] span[title]'))
            .filter(span => span.getClientRects().length > 1).map(span => span.innerText)"""
    )


def shoot(page, path: Path) -> None:
    """The whole page (the window grown to the page's height for the shot), as a PNG."""
    size = page.viewport_size
    height = page.evaluate(
        """() => document.querySelector('[data-testid="stMain"]').scrollHeight"""
    )
    page.set_viewport_size({"width": size["width"], "height": min(max(height, 600), 8000)})
    wait_until(lambda: settled_images(page) is not None or not images_on(page), 30, "images")
    page.screenshot(path=str(path))
    page.set_viewport_size(size)


def images_on(page) -> int:
    return page.locator(f'{MAIN} [data-testid="stImage"]').count()


def check_layout(page, where: str) -> None:
    wait_settled(page)
    assert_no_exception(page, where)
    assert not cut_buttons(page), f"{where}: cut button labels {cut_buttons(page)}"
    assert not cut_choices(page), f"{where}: chosen options cut off {cut_choices(page)}"
    assert not sideways_tables(page), f"{where}: a table scrolls sideways"


@pytest.mark.parametrize("width", [1280, 1400])
def test_every_page_fits_the_window(width, page, trained_run, data_subset, screenshots, tmp_path):
    page.set_viewport_size({"width": width, "height": 900})
    shot = screenshots.joinpath

    wait_until(lambda: settled_images(page), PAGE_TIMEOUT_S, "the Dataset page's samples")
    wait_until(lambda: table_rows_of(page), PAGE_TIMEOUT_S, "the statistics table")
    check_layout(page, "Dataset")
    shoot(page, shot(f"dataset-{width}.png"))

    go_to(page, "Augmentations", PAGE_TIMEOUT_S)
    wait_until(
        lambda: (
            (shown := captioned_images(page))
            and all(image["caption"] and image["details"] for image in shown)
        ),
        PAGE_TIMEOUT_S,
        "the augmentations, each with its caption",
    )
    check_layout(page, "Augmentations")
    assert not wrapped_captions(page), wrapped_captions(page)
    shoot(page, shot(f"augmentations-{width}.png"))

    go_to(page, "Train", PAGE_TIMEOUT_S)
    button(page, "Start").wait_for(timeout=PAGE_TIMEOUT_S * 1000)
    check_layout(page, "Train")
    shoot(page, shot(f"train-{width}.png"))
    widget(page, FORM.key("mode")).locator("button", has_text="A sweep").click()
    wait_until(
        lambda: any("combinations" in text for text in alerts(page)), PAGE_TIMEOUT_S, "sweep"
    )
    check_layout(page, "Train, sweep mode")
    shoot(page, shot(f"train-sweep-{width}.png"))
    widget(page, FORM.key("mode")).locator("button", has_text="One run").click()

    go_to(page, "Checkpoints", PAGE_TIMEOUT_S)
    wait_settled(page)
    assert_no_exception(page, "Checkpoints")
    shoot(page, shot(f"checkpoints-{width}.png"))

    go_to(page, "Classify", PAGE_TIMEOUT_S)
    choose(page, PICKS.key("run"), TRAINED_RUN)
    picture = tmp_path / "cat.png"
    name = classes_of(data_subset)[3]
    Image.open(sorted((data_subset / "test" / name).iterdir())[0]).save(picture)
    widget(page, IMAGES_UPLOAD).locator('input[type="file"]').set_input_files(str(picture))
    wait_until(lambda: all_drawn(page, 1), PAGE_TIMEOUT_S, "the result and its Grad-CAM")
    check_layout(page, "Classify")
    sizes = page.locator(MAIN).evaluate(
        """element => Array.from(element.querySelectorAll('[data-testid="stImage"] img'))
            .map(img => Math.round(img.getBoundingClientRect().width))"""
    )
    assert len(sizes) == 3 and len(set(sizes)) == 1, sizes  # all one size
    shoot(page, shot(f"classify-{width}.png"))

    page.locator(SIDEBAR).locator("button", has_text="Glossary").click()
    glossary = page.locator('[data-testid="stPopoverBody"]')
    glossary.wait_for(timeout=PAGE_TIMEOUT_S * 1000)
    assert "val_acc" in glossary.inner_text() and "Grad-CAM" in glossary.inner_text()
    page.screenshot(path=str(shot(f"glossary-{width}.png")))


def table_rows_of(page) -> list:
    return [rows for rows in tables(page) if rows]
