"""A class on one server, in two real Chromium browsers on a small subset of the real data: the
student who starts a run keeps it through a reload of the page (the browser's key lives in the
address), a classmate's Train page names the run at the top and opens it read-only with its
live charts, and the Class board lists it under the student's name. Leaves screenshots of the
classmate's view and of the board (see the ``screenshots`` fixture)."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from app.state.browser import KEY_FORM, KEY_PARAM, STUDENT
from app.state.train import FORM
from scripts.lab_browser import (
    MAIN,
    alerts,
    assert_no_exception,
    button,
    charts,
    choose,
    field,
    go_to,
    metric,
    page_text,
    press_slider,
    tables,
    wait_settled,
    wait_title,
    wait_until,
    widget,
)

pytestmark = pytest.mark.e2e

RUN = "e2e-class"
STUDENT_NAME = "Ada Lovelace"
PAGE_TIMEOUT_S = 60
TRAIN_TIMEOUT_S = 600
WINDOW = {"width": 1400, "height": 900}


def type_into(page, key: str, text: str) -> None:
    box = widget(page, key).locator("input")
    box.fill(text)
    box.press("Enter")
    wait_settled(page)


def set_up_run(page, name: str) -> None:
    """On the Train page: the fastest preset (cpu-1min), with as many epochs and as much
    patience as the controls allow, so the run trains until the test stops it."""
    go_to(page, "Train", PAGE_TIMEOUT_S)
    button(page, "Start").wait_for(timeout=PAGE_TIMEOUT_S * 1000)
    choose(page, FORM.key("preset"), "cpu-1min")
    wait_settled(page)
    press_slider(page, FORM.key("epochs"), "End")
    press_slider(page, FORM.key("patience"), "End")
    type_into(page, FORM.key("name"), name)


def controls(page) -> dict[str, bool]:
    """Which of Pause, Resume and Stop are enabled."""
    return {label: button(page, label).is_enabled() for label in ("Pause", "Resume", "Stop")}


def enabled_pauses(page) -> int:
    found = page.locator(f"{MAIN} button").filter(has_text=re.compile(r"Pause\s*$"))
    return sum(found.evaluate_all("buttons => buttons.map(b => !b.disabled)"))


def classmate_line(page):
    """The Train page's line about the run: its student, its name, its state and epoch."""
    words = re.compile(rf"{STUDENT_NAME} · {RUN} · (Training|Paused) · epoch \d+ of \d+")
    return page.locator(f'{MAIN} [data-testid="stMarkdownContainer"]').filter(has_text=words)


def test_a_run_stays_its_students_after_a_reload_and_a_classmate_watches_it_read_only(
    page, watcher, screenshots
):
    for tab in (page, watcher):
        tab.set_viewport_size(WINDOW)
    type_into(page, STUDENT.key("name"), STUDENT_NAME)
    set_up_run(page, RUN)
    button(page, "Start").click()
    try:
        wait_until(lambda: metric(page, "State") == "Training", TRAIN_TIMEOUT_S, "the run")
        (key,) = parse_qs(urlsplit(page.url).query)[KEY_PARAM]
        assert KEY_FORM.fullmatch(key) and key not in page_text(page)

        # A reload is the same student: the run is still hers to pause and stop.
        page.reload()
        wait_title(page, "Train", PAGE_TIMEOUT_S)
        wait_until(lambda: metric(page, "State") == "Training", PAGE_TIMEOUT_S, "the reload")
        wait_settled(page)
        assert parse_qs(urlsplit(page.url).query)[KEY_PARAM] == [key]
        assert controls(page) == {"Pause": True, "Resume": False, "Stop": True}
        assert "another browser session" not in page_text(page)
        assert field(page, STUDENT.key("name")).input_value() == STUDENT_NAME
        assert_no_exception(page, "the Train page after the reload")

        # The classmate sees the run named at the top of the page, without scrolling.
        go_to(watcher, "Train", PAGE_TIMEOUT_S)
        line = classmate_line(watcher)
        line.first.wait_for(timeout=PAGE_TIMEOUT_S * 1000)
        where = line.first.bounding_box()
        assert where["y"] + where["height"] <= WINDOW["height"], where
        row = watcher.locator(f'{MAIN} [data-testid="stHorizontalBlock"]').filter(has_text=RUN)
        opener = row.locator("button").filter(has_text=re.compile(r"Open\s*$"))
        clicked = [time.monotonic()]
        opener.first.click()

        def read_only_notice() -> list[str]:
            found = [text for text in alerts(watcher) if "another browser session" in text]
            # The list redraws every 1.5 s: a click that landed in a redraw (CI lost one) is
            # made again, a few seconds on, while the run is still offered to open.
            if not found and time.monotonic() - clicked[-1] > 5 and opener.count():
                clicked.append(time.monotonic())
                opener.first.click()
            return found

        notice = wait_until(read_only_notice, PAGE_TIMEOUT_S, "the read-only notice")
        assert f"{RUN} was started in another browser session" in notice[0]
        wait_until(
            lambda: charts(watcher, "training loss per batch").count(),
            PAGE_TIMEOUT_S,
            "the run's live chart",
        )
        # The view refreshes every 1.5 s, and a look in the middle of a redraw finds no metric.
        wait_until(lambda: metric(watcher, "State") == "Training", PAGE_TIMEOUT_S, "its state")
        wait_settled(watcher)
        assert enabled_pauses(watcher) == 0  # read-only: no Pause for the classmate
        assert not button(watcher, "Start").is_disabled()  # a run of their own stays possible
        assert key not in page_text(watcher)
        assert_no_exception(watcher, "the classmate's Train page")
        watcher.mouse.move(0, 0)  # the Close button's tooltip off the picture
        watcher.screenshot(path=str(screenshots / "class-classmate-read-only-1400.png"))

        # The student pauses: the classmate's view follows within a poll.
        button(page, "Pause").click()
        wait_until(lambda: metric(watcher, "State") == "Paused", PAGE_TIMEOUT_S, "the pause")
        wait_settled(page)
        assert controls(page) == {"Pause": False, "Resume": True, "Stop": True}
    finally:
        if button(page, "Stop").is_enabled():
            button(page, "Stop").click()
    wait_until(lambda: metric(page, "State") == "Stopped", TRAIN_TIMEOUT_S, "the stop")

    # The Class board lists the run under the student's name.
    go_to(watcher, "Class board", PAGE_TIMEOUT_S)
    rows = wait_until(
        lambda: [row for rows in tables(watcher) for row in rows],
        PAGE_TIMEOUT_S,
        "the board's tables",
    )
    ours = [row for row in rows if row.get("Run") == RUN]
    assert ours and all(row["Student"] == STUDENT_NAME for row in ours), rows
    assert_no_exception(watcher, "the Class board")
    watcher.screenshot(path=str(screenshots / "class-board-1400.png"))
