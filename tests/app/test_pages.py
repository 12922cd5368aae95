"""Every page renders without an exception: with data and without, with runs and without."""

from __future__ import annotations

import io

import pytest
from app_helpers import PAGES, button, new_app, open_page, texts
from PIL import Image

from ui import state

DATA_PAGES = ("app_pages/1_dataset.py", "app_pages/2_augmentations.py", "app_pages/3_train.py")


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("runs_fixture", ["empty_runs", "with_runs"])
def test_every_page_renders_with_data(page, runs_fixture, with_data, request):
    request.getfixturevalue(runs_fixture)
    at = open_page(page)
    assert not at.exception, at.exception[0].message
    assert not at.error, at.error[0].value
    assert "No training job in this tab" in texts(at)  # the sidebar's job status, on every page


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("runs_fixture", ["empty_runs", "with_runs"])
def test_every_page_renders_without_data(page, runs_fixture, without_data, request):
    request.getfixturevalue(runs_fixture)
    at = open_page(page)
    assert not at.exception, at.exception[0].message
    if page in DATA_PAGES:
        message = texts(at)
        assert "data folder not found" in message and str(without_data) in message
        assert "CIFAR_LAB_DATA" in message and "A folder on this server" in message


def test_without_runs_the_run_pages_say_how_to_make_one(with_data, empty_runs):
    for page in ("app_pages/4_checkpoints.py", "app_pages/5_classify.py"):
        at = open_page(page)
        assert f"No runs in `{empty_runs}` yet" in texts(at)
        assert at.get("page_link")  # a link to the Train page


def test_the_dataset_page_shows_counts_samples_and_statistics(with_data, empty_runs):
    at = open_page("app_pages/1_dataset.py")
    assert "3 classes · 72 training and 24 test images of 32x32 px" in texts(at)
    assert len(at.get("vega_lite_chart")) == 2  # counts per class, pixel histograms
    assert len(at.get("image")) == 3  # one strip of samples per class
    stats = at.dataframe[0].value
    assert list(stats.index) == ["red", "green", "blue"]
    assert "Seed 0" in texts(at)
    button(at, "Reshuffle").click().run()
    assert "Seed 1" in texts(at)
    at.multiselect(key=state.GRID_CLASSES).set_value(["circle"]).run()
    assert len(at.get("image")) == 1


def test_a_typed_folder_in_the_sidebar_is_used(without_data, tiny_folder, empty_runs):
    at = open_page("app_pages/1_dataset.py")
    assert "data folder not found" in texts(at)
    at.radio(key=state.DATA_CHOICE).set_value(state.DATA_TYPED).run()
    at.text_input(key=state.DATA_FOLDER).input(str(tiny_folder)).run()
    assert not at.warning and "72 training" in texts(at)


def test_the_augmentations_page_draws_k_images_and_round_trips_json(with_data, empty_runs):
    at = open_page("app_pages/2_augmentations.py")
    at.slider(key=state.AUG_IMAGES).set_value(2).run()
    at.slider(key=state.AUG_DRAWS).set_value(4).run()
    captions = [c for image in at.get("image") for c in image.proto.imgs if c.caption]
    drawn = [c.caption for c in captions if c.caption != "original"]
    assert len(drawn) == 2 * 4
    assert all("angle" in text and "flipped" in text for text in drawn)

    upload = b'{"rotation": 40.0, "hflip_p": 0.0, "translate": 3}'
    at.file_uploader(key=state.AUG_JSON_UPLOAD).upload("aug.json", upload, "application/json")
    at.run()
    assert at.slider(key=state.AUG_ROTATION).value == 40.0
    assert at.toggle(key=state.AUG_FLIP_ON).value is False
    assert at.toggle(key=state.AUG_TRANSLATE_ON).value and '"translate": 3' in at.code[0].value

    button(at, "Train with this augmentation").click().run()
    assert "The Train page uses this augmentation." in texts(at)
    at.switch_page("app_pages/3_train.py").run()
    assert "the one made on the Augmentations page" in texts(at)


def test_settings_survive_a_page_switch(with_data, empty_runs):
    at = open_page("app_pages/3_train.py")
    at.slider(key=state.TRAIN_EPOCHS).set_value(7).run()
    at.switch_page("app_pages/1_dataset.py").run()
    at.switch_page("app_pages/3_train.py").run()
    assert at.slider(key=state.TRAIN_EPOCHS).value == 7


def test_the_checkpoints_page_compares_runs_and_deletes_after_confirmation(with_data, with_runs):
    at = open_page("app_pages/4_checkpoints.py")
    table = at.dataframe[0].value
    assert set(table.index) == {"tiny-a", "tiny-b"}
    assert at.get("download_button")
    at.toggle(key=state.CKPT_EVALUATE).set_value(True).run()
    assert not at.exception, at.exception[0].message
    assert "Confusion matrix" in texts(at)
    # curves, what-if, generalisation gap, confusion, per class, precision/recall/F1,
    # reliability, two runs per class, their curves, accuracy and confusion differences
    assert len(at.get("vega_lite_chart")) == 11
    at.toggle(key=state.CKPT_NORMALIZE).set_value(True).run()
    assert not at.exception

    at.selectbox(key=state.CKPT_DETAIL).set_value("tiny-b").run()
    button(at, "Delete run").click().run()
    assert "cannot be undone" in texts(at)
    button(at, "Cancel").click().run()
    assert (with_runs / "tiny-b").exists()
    button(at, "Delete run").click().run()
    button(at, "Yes, delete").click().run()
    assert not (with_runs / "tiny-b").exists()
    assert "Deleted run tiny-b" in texts(at)
    assert set(at.dataframe[0].value.index) == {"tiny-a"}


def test_the_router_starts_on_the_dataset_page(with_data, empty_runs):
    at = new_app().run()
    assert not at.exception
    assert at.title[0].value == "Dataset"


def test_a_page_opened_by_its_address_still_gets_the_router_and_sidebar(with_data, empty_runs):
    at = new_app()
    at.switch_page("app_pages/3_train.py").run()  # before any run: a bookmarked /train
    assert not at.exception
    assert at.title[0].value == "Train"
    assert "No training job in this tab" in texts(at)


def test_a_folder_outside_the_allowed_roots_is_refused(
    with_data, tiny_folder, tmp_path, monkeypatch
):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    monkeypatch.setenv("CIFAR_LAB_ROOTS", str(allowed))
    at = open_page("app_pages/1_dataset.py")
    at.radio(key=state.DATA_CHOICE).set_value(state.DATA_TYPED).run()
    at.text_input(key=state.DATA_FOLDER).input(str(tiny_folder)).run()
    assert not at.exception
    refusal = at.sidebar.error[0].value
    assert "outside the folders this lab may use" in refusal and str(allowed) in refusal
    assert "72 training" not in texts(at)  # nothing was loaded from the refused folder
    at.text_input(key=state.RUNS_DIR).input("/etc").run()
    assert "outside the folders this lab may use" in at.sidebar.error[1].value


def test_augmentations_of_one_class_and_of_an_upload(with_data, empty_runs):
    at = open_page("app_pages/2_augmentations.py")
    at.segmented_control(key=state.AUG_PICK).set_value("class").run()
    at.selectbox(key=state.AUG_CLASS).set_value("stripes").run()
    titles = [m.value for m in at.markdown if m.value.startswith("**stripes")]
    assert len(titles) == at.slider(key=state.AUG_IMAGES).value

    photo = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 30, 30)).save(photo, format="JPEG")
    at.segmented_control(key=state.AUG_PICK).set_value("upload").run()
    uploader = at.file_uploader(key=state.AUG_UPLOADS)
    uploader.upload("photo.jpg", photo.getvalue(), "image/jpeg")
    uploader.upload("broken.png", b"\x89PNG not really", "image/png")
    at.run()
    assert not at.exception
    assert "**photo.jpg**" in [m.value for m in at.markdown]
    assert at.error[0].value.startswith("broken.png")
