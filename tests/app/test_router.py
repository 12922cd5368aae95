"""The router and the sidebar: every page renders under them, with data and without, with runs
and without, and the sidebar's data source and runs folder take effect."""

from __future__ import annotations

from pathlib import Path

import pytest
from app_helpers import new_app, open_page, texts

from app import nav
from app.glossary import TERMS
from app.state import source

DATA_PAGES = (nav.DATASET, nav.AUGMENTATIONS, nav.TRAIN)


def on_every_page_with_and_without_runs(test):
    """Run ``test`` on every page, once with an empty runs folder and once with trained runs."""
    test = pytest.mark.parametrize("page", nav.PAGES, ids=lambda page: page.title)(test)
    return pytest.mark.parametrize("runs_fixture", ["empty_runs", "with_runs"])(test)


@on_every_page_with_and_without_runs
def test_every_page_renders_with_data(page, runs_fixture, with_data, request):
    request.getfixturevalue(runs_fixture)
    at = open_page(page)
    assert not at.exception, at.exception[0].message
    assert not at.error, at.error[0].value
    assert at.title[0].value == page.title
    assert "No training job in this tab" in texts(at)  # the sidebar's job status, on every page
    (glossary,) = at.sidebar.get("popover")  # and the glossary
    assert glossary.proto.popover.label == "Glossary"
    words = glossary.markdown[0].value
    assert all(f"- **{term}**: {text}" in words for term, text in TERMS.items())


@on_every_page_with_and_without_runs
def test_every_page_renders_without_data(page, runs_fixture, without_data, request):
    request.getfixturevalue(runs_fixture)
    at = open_page(page)
    assert not at.exception, at.exception[0].message
    if page in DATA_PAGES:
        message = texts(at)
        assert "data folder not found" in message and str(without_data) in message
        assert "CIFAR_LAB_DATA" in message and "A folder on this server" in message


def test_without_runs_the_run_pages_say_how_to_make_one(with_data, empty_runs):
    for page in (nav.CHECKPOINTS, nav.CLASSIFY):
        at = open_page(page)
        assert f"No runs in `{empty_runs}` yet" in texts(at)
        (link,) = at.get("page_link")
        assert link.proto.page == Path(nav.TRAIN.script).stem  # the Train page's address


def test_the_router_starts_on_the_first_page(with_data, empty_runs):
    at = new_app().run()
    assert not at.exception
    assert at.title[0].value == nav.PAGES[0].title == "Dataset"


def test_a_page_opened_by_its_address_still_gets_the_router_and_sidebar(with_data, empty_runs):
    at = new_app()
    at.switch_page(nav.TRAIN.script).run()  # before any run: a bookmarked /train
    assert not at.exception
    assert at.title[0].value == "Train"
    assert "No training job in this tab" in texts(at)


def test_a_typed_folder_in_the_sidebar_is_used(without_data, tiny_folder, empty_runs, monkeypatch):
    # A folder outside the start folder is allowed only inside the configured roots.
    monkeypatch.setenv("CIFAR_LAB_ROOTS", str(tiny_folder.parent))
    at = open_page(nav.DATASET)
    assert "data folder not found" in texts(at)
    at.radio(key=source.STORE.key("data_choice")).set_value(source.DATA_TYPED).run()
    at.text_input(key=source.STORE.key("data_folder")).input(str(tiny_folder)).run()
    assert not at.warning and "72 training" in texts(at)


def test_a_folder_outside_the_allowed_roots_is_refused(
    with_data, tiny_folder, tmp_path, monkeypatch
):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    monkeypatch.setenv("CIFAR_LAB_ROOTS", str(allowed))
    at = open_page(nav.DATASET)
    at.radio(key=source.STORE.key("data_choice")).set_value(source.DATA_TYPED).run()
    at.text_input(key=source.STORE.key("data_folder")).input(str(tiny_folder)).run()
    assert not at.exception
    refusal = at.sidebar.error[0].value
    assert "outside the folders this lab may use" in refusal and str(allowed) in refusal
    assert "72 training" not in texts(at)  # nothing was loaded from the refused folder
    at.text_input(key=source.STORE.key("runs_dir")).input("/etc").run()
    assert "outside the folders this lab may use" in at.sidebar.error[1].value


def test_the_glossary_explains_the_words_learners_met_unexplained():
    met = {"val_acc", "min delta", "width", "ECE", "acc_gap", "loss_gap", "TTA (flip averaging)"}
    met |= {"bf16", "one-cycle", "label smoothing", "Grad-CAM", "lr"}
    assert met <= set(TERMS)
