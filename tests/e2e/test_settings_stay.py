"""Settings stay what the user set, across page switches, while a run is active (issue 12,
defect 1).

In a real browser the sidebar's job status polls on a timer while a run is active; with the
old session-state registry that reset every control to the preset's defaults on the next visit
(rotation 15, epochs 12, training images 0, name "automatic"). AppTest never showed it, so this
test runs in Chromium.
"""

from __future__ import annotations

import pytest

from app.state.augment import CONTROLS
from app.state.train import FORM
from scripts.lab_browser import (
    assert_no_exception,
    button,
    field,
    go_to,
    help_text,
    metric,
    number,
    press_slider,
    settled_images,
    slider,
    wait_settled,
    wait_until,
)

pytestmark = pytest.mark.e2e

PAGE_TIMEOUT_S = 60
# Long enough for the sidebar's job status to poll a few times (every 3 s).
AWAY_S = 8


def rotation(page) -> float:
    return number(slider(page, CONTROLS.key("rotation")).get_attribute("aria-valuetext") or "nan")


def train_form(page) -> dict:
    """What the Train form shows for the settings this test changes, and whether each is
    locked."""
    shown = {
        "epochs": number(slider(page, FORM.key("epochs")).get_attribute("aria-valuetext") or "0"),
        "subset": field(page, FORM.key("subset")).input_value(),
        "name": field(page, FORM.key("name")).input_value(),
    }
    keys = (FORM.key("epochs"), FORM.key("subset"), FORM.key("name"))
    shown["locked"] = [field(page, key).is_disabled() for key in keys]
    return shown


def tiny_form(locked: bool) -> dict:
    """What ``train_form`` reads when it shows the run this test sets up."""
    return {"epochs": 1, "subset": "500", "name": "tiny", "locked": [locked] * 3}


def type_into(page, key: str, text: str) -> None:
    box = field(page, key)
    box.fill(text)
    box.press("Enter")
    wait_settled(page)


def test_settings_survive_page_switches_while_a_run_is_active(page):
    go_to(page, "Augmentations", PAGE_TIMEOUT_S)
    wait_settled(page)
    assert rotation(page) == 15
    assert number(press_slider(page, CONTROLS.key("rotation"), *["ArrowRight"] * 9)) == 24
    wait_settled(page)
    # Nine reruns in a row, each with new pictures: none may be missing (a 404 in the console).
    wait_until(lambda: settled_images(page), PAGE_TIMEOUT_S, "the preview at 24 degrees")

    go_to(page, "Train", PAGE_TIMEOUT_S)
    button(page, "Start").wait_for(timeout=PAGE_TIMEOUT_S * 1000)
    wait_settled(page)
    type_into(page, FORM.key("subset"), "500")
    assert number(press_slider(page, FORM.key("epochs"), "Home")) == 1
    wait_settled(page)
    type_into(page, FORM.key("name"), "tiny")
    epochs_help = help_text(page, FORM.key("epochs"))
    assert "Passes over the training images" in epochs_help
    assert_no_exception(page, "the Train page")
    button(page, "Start").click()
    # Paused, the run stays active (and the sidebar keeps polling) for as long as the test
    # needs, however fast this machine trains one epoch of 500 images.
    wait_until(lambda: button(page, "Pause").is_enabled(), PAGE_TIMEOUT_S, "Pause to be offered")
    button(page, "Pause").click()
    wait_until(lambda: metric(page, "State") == "Paused", PAGE_TIMEOUT_S, "the run to pause")

    try:
        go_to(page, "Augmentations", PAGE_TIMEOUT_S)
        wait_settled(page)
        assert rotation(page) == 24
        page.wait_for_timeout(AWAY_S * 1000)  # the sidebar's status polls meanwhile
        assert rotation(page) == 24
        wait_until(lambda: settled_images(page), PAGE_TIMEOUT_S, "the preview")
        assert_no_exception(page, "the Augmentations page during the run")

        go_to(page, "Train", PAGE_TIMEOUT_S)
        wait_settled(page)
        # The form shows the active run's settings, locked, with the help still there.
        assert train_form(page) == tiny_form(locked=True)
        assert help_text(page, FORM.key("epochs")) == epochs_help
    finally:  # stop the run, wherever the test stopped, so it does not hold the training slot
        go_to(page, "Train", PAGE_TIMEOUT_S)
        button(page, "Stop").click()
    wait_until(lambda: metric(page, "State") == "Stopped", PAGE_TIMEOUT_S, "the run to stop")
    wait_settled(page)
    # Once it has ended the form is the user's again, with their last settings: within one
    # poll of the live view, which reruns the page when the run stops being active.
    wait_until(
        lambda: train_form(page) == tiny_form(locked=False),
        PAGE_TIMEOUT_S,
        "the form to show the user's settings, unlocked",
    )
    assert_no_exception(page, "the Train page after the run")
