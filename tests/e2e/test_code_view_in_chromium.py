"""The Train page's code view in Chromium: a step of the run's script follows a slider as the
user moves it, and the script and its notebook download with what the view shows."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from app.state.code import VIEW
from app.state.train import FORM
from app.views.train.code import LABEL
from scripts.lab_browser import (
    MAIN,
    assert_no_exception,
    button,
    go_to,
    press_slider,
    selected,
    texts_of,
    wait_settled,
    wait_until,
)

pytestmark = pytest.mark.e2e

PAGE_TIMEOUT_S = 60
OPTIMIZER_STEP = "Loss, optimizer and learning-rate schedule"


def shown_step(view) -> str:
    """The code of the step the view shows (its first code box; the second is the whole
    script), "" while it is not drawn."""
    boxes = texts_of(view.locator('[data-testid="stCode"]'))
    return boxes[0] if boxes else ""


def downloaded(page, label: str) -> tuple[str, str]:
    """Click a download button as a user does: the file's name and its text."""
    with page.expect_download() as started:
        button(page, label).click()
    download = started.value
    return download.suggested_filename, Path(download.path()).read_text(encoding="utf-8")


def test_the_code_view_follows_the_learning_rate_and_downloads_the_script(page):
    go_to(page, "Train", PAGE_TIMEOUT_S)
    button(page, "Start").wait_for(timeout=PAGE_TIMEOUT_S * 1000)
    wait_settled(page)
    view = page.locator(f'{MAIN} [data-testid="stExpander"]').filter(has_text=LABEL).first
    view.locator("summary").click()
    details = view.locator("details")
    wait_until(lambda: details.get_attribute("open") is not None, PAGE_TIMEOUT_S, "it to open")
    wait_until(lambda: "model = AlexNetCifar(" in shown_step(view), PAGE_TIMEOUT_S, "the model")

    lr = press_slider(page, FORM.key("lr"), "ArrowRight")
    wait_settled(page)
    line = f"LR = {float(lr)!r}  # Learning rate"
    wait_until(lambda: line in shown_step(view), PAGE_TIMEOUT_S, f"the step with {line}")
    assert selected(page, VIEW.key("step")).endswith(OPTIMIZER_STEP)
    assert_no_exception(page, "the Train page's code view")

    name, script = downloaded(page, "Download cpu-fast.py")
    assert name == "cpu-fast.py" and line in script and "model = AlexNetCifar(" in script
    name, text = downloaded(page, "Download cpu-fast.ipynb")
    notebook = nbformat.reads(text, as_version=4)
    nbformat.validate(notebook)
    assert name == "cpu-fast.ipynb" and any(line in cell.source for cell in notebook.cells)
