"""The Inside page in Chromium: open it on a trained run, draw a test image, move the layer
slider, and see the feature maps follow, all one size, with no exception box and no browser
console error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app import nav
from app.state.inside import PICKS
from lab.fit import fit
from lab.launch import prepare_run
from lab.presets import preset_config
from scripts.lab_browser import (
    MAIN,
    assert_no_exception,
    button,
    choose,
    go_to,
    images,
    page_text,
    press_slider,
    settled_images,
    slider,
    wait_settled,
    wait_until,
)

pytestmark = pytest.mark.e2e

RUN_NAME = "e2e-inside"
PAGE_TIMEOUT_S = 120
TEST_IMAGE = re.compile(r"^test image (\d+) \(")
MAP_CAPTION = re.compile(r"^ch \d+ · ")


@pytest.fixture(scope="session")
def inside_run(lab_server, data_subset) -> Path:
    """A short finished run in the server's runs folder."""
    config = preset_config("cpu-fast", str(data_subset)).with_overrides(
        model={"width": 0.25}, train={"epochs": 1, "batch_size": 16}
    )
    return fit(prepare_run(config, lab_server.runs_dir, name=RUN_NAME)).run_dir


def feature_maps(page) -> list[tuple[int, int]]:
    """The natural (width, height) of every feature map in the grid (one st.image of many
    pictures, each captioned "ch <channel> · <mean>"); [] until all have loaded."""
    captioned = page.locator('[data-testid="stImageCaption"]', has_text=MAP_CAPTION)
    maps = page.locator(f'{MAIN} [data-testid="stImageContainer"]').filter(has=captioned)
    sizes = maps.locator("img").evaluate_all(
        "imgs => imgs.map(img => img.complete ? [img.naturalWidth, img.naturalHeight] : [0, 0])"
    )
    return [] if any(width == 0 for width, _ in sizes) else [tuple(size) for size in sizes]


def shown(page) -> tuple[int, list[tuple[int, int]]] | None:
    """The test image the page shows and the sizes of its feature maps, once all are drawn."""
    drawn = settled_images(page) or []
    index = [int(m.group(1)) for image in drawn if (m := TEST_IMAGE.match(image["caption"]))]
    maps = feature_maps(page) if index else []
    return (index[0], maps) if maps else None


def wait_shown(page, what: str) -> tuple[int, list[dict]]:
    return wait_until(lambda: shown(page), PAGE_TIMEOUT_S, what)


def test_inside_page_draws_a_test_image_and_follows_the_layer_slider(page, inside_run):
    console_errors: list[str] = []
    page.on(
        "console",
        lambda message: message.type == "error" and console_errors.append(message.text),
    )
    page.on("pageerror", lambda error: console_errors.append(str(error)))
    page.on("requestfailed", lambda request: console_errors.append(f"failed: {request.url}"))

    go_to(page, nav.INSIDE.title, PAGE_TIMEOUT_S)
    wait_settled(page, PAGE_TIMEOUT_S)
    choose(page, PICKS.key("run"), RUN_NAME)
    first, maps = wait_shown(page, "the feature maps")
    assert "32 → 16 → 8 → 4 px" in page_text(page)

    drawn = first
    for _ in range(3):  # a new random image is another one but for a 1-in-100 chance
        button(page, "Random test image").click()
        wait_settled(page, PAGE_TIMEOUT_S)
        drawn, maps = wait_shown(page, "the new image's maps")
        if drawn != first:
            break
    assert drawn != first

    count = int(slider(page, PICKS.key("maps")).get_attribute("aria-valuetext") or "0")
    assert press_slider(page, PICKS.key("layer"), "End") == "conv5"
    wait_settled(page, PAGE_TIMEOUT_S)
    layer_caption = wait_until(
        lambda: re.search(r"\d+ of \d+ maps of conv5, 8 x 8 px each", page_text(page)),
        PAGE_TIMEOUT_S,
        "the conv5 maps",
    )
    _, maps = wait_shown(page, "the conv5 maps")
    assert len(maps) == count == int(layer_caption.group(0).split()[0])
    assert len(set(maps)) == 1, maps  # one size

    titles = [image["caption"] for image in images(page.locator(MAIN))]
    assert "Grad-CAM" in titles, titles
    assert_no_exception(page, "the Inside page")
    assert not console_errors, console_errors
