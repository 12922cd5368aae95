"""The Classify page agrees with ``cifar-lab predict`` and refuses what it cannot read."""

from __future__ import annotations

import hashlib
import io
import json
import re
import stat
import tempfile
from pathlib import Path

import numpy as np
import pytest
from app_helpers import button, open_page, texts
from PIL import Image

from app import nav
from app.state import classify
from app.state.classify import PICKS
from app.views import classify as view
from app.widgets import IMAGE_LIMIT_MB, UPLOAD_LIMIT_MB
from lab import cli, runs
from lab.checkpoint import load_model
from lab.lenses import insight
from lab.predict import MAX_FILE_BYTES, SHOWN_SIDE, open_image, predict_images
from lab.uploads import upload_store


def top1_on_page(at) -> list[str]:
    """The Top-1 labels the page wrote, in order."""
    return [
        match.group(1)
        for markdown in at.markdown
        if (match := re.match(r"Top-1: \*\*(.+?)\*\*", markdown.value))
    ]


def best_scored_run(runs_dir) -> str:
    """The run with the best validation accuracy (then test accuracy), read from the files."""
    scores = {
        run.name: (metrics["best_val_acc"], metrics["test_acc"])
        for run in runs_dir.iterdir()
        if (metrics := runs.read_metrics(run))
    }
    assert len(set(scores.values())) == len(scores), f"tied runs cannot tell: {scores}"
    return max(scores, key=scores.get)


def cli_top1(checkpoint, image, capsys) -> str:
    capsys.readouterr()
    assert cli.main(["predict", str(checkpoint), str(image), "--json"]) == 0
    return json.loads(capsys.readouterr().out)[0]["top_k"][0]["label"]


@pytest.mark.parametrize("name", ["circle", "square", "stripes"])
def test_an_uploaded_image_gets_the_same_top1_as_the_cli(name, with_data, with_runs, capsys):
    image = with_data / "test" / name / "0003.png"
    at = open_page(nav.CLASSIFY)
    assert at.selectbox(key=PICKS.key("run")).value == best_scored_run(with_runs)
    checkpoint = with_runs / at.selectbox(key=PICKS.key("run")).value / runs.BEST
    at.file_uploader(key=classify.IMAGES_UPLOAD).upload(image.name, image.read_bytes(), "image/png")
    at.run()
    assert not at.exception and not at.error, texts(at)
    assert top1_on_page(at) == [cli_top1(checkpoint, image, capsys)]
    assert any("as the network sees it (32 px" in c for i in at.get("image") for c in i.captions)


def test_an_uploaded_checkpoint_classifies_like_the_cli(with_data, with_runs, capsys):
    checkpoint = with_runs / "tiny-b" / runs.BEST
    images = [with_data / "test" / name / "0001.png" for name in ("circle", "stripes")]
    at = open_page(nav.CLASSIFY)
    at.segmented_control(key=PICKS.key("source")).set_value("upload").run()
    at.file_uploader(key=classify.CHECKPOINT_UPLOAD).upload(
        "mine.pt", checkpoint.read_bytes(), "application/octet-stream"
    )
    at.run()
    uploader = at.file_uploader(key=classify.IMAGES_UPLOAD)
    for image in images:
        uploader.upload(image.name, image.read_bytes(), "image/png")
    at.run()
    assert not at.exception, at.exception[0].message
    assert top1_on_page(at) == [cli_top1(checkpoint, image, capsys) for image in images]
    # The upload lives in the process's private folder (mode 0700), named by its content,
    # never in a shared, predictable one.
    private = upload_store().folder
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert (private / f"{digest}.pt").read_bytes() == checkpoint.read_bytes()


def test_a_broken_image_is_refused_and_the_others_classified(with_data, with_runs):
    good = with_data / "test" / "square" / "0000.png"
    at = open_page(nav.CLASSIFY)
    uploader = at.file_uploader(key=classify.IMAGES_UPLOAD)
    uploader.upload("notes.png", b"this is text, not a picture", "image/png")
    uploader.upload(good.name, good.read_bytes(), "image/png")
    at.run()
    assert not at.exception
    assert at.error[0].value.startswith("notes.png: not")  # named, with the reason
    assert len(top1_on_page(at)) == 1


def test_a_checkpoint_that_is_not_one_is_refused_clearly(with_data, with_runs):
    at = open_page(nav.CLASSIFY)
    at.segmented_control(key=PICKS.key("source")).set_value("upload").run()
    at.file_uploader(key=classify.CHECKPOINT_UPLOAD).upload("junk.pt", b"\x00" * 64)
    at.run()
    assert not at.exception
    assert at.error[0].value.startswith("Cannot use junk.pt: ")


def test_a_random_test_image_shows_its_true_label(with_data, with_runs):
    at = open_page(nav.CLASSIFY)
    button(at, "Random test image").click().run()
    assert not at.exception, at.exception[0].message
    (verdict,) = [m.value for m in at.markdown if m.value.startswith("Top-1")]
    assert "true label **" in verdict and ("right" in verdict or "wrong" in verdict)


def test_classify_shows_grad_cam_and_the_unsure_hint(with_data, with_runs):
    image = with_data / "test" / "circle" / "0002.png"
    at = open_page(nav.CLASSIFY)
    at.file_uploader(key=classify.IMAGES_UPLOAD).upload(image.name, image.read_bytes(), "image/png")
    at.run()
    assert not at.exception, at.exception[0].message
    captions = [c for i in at.get("image") for c in i.captions]
    assert any(c.startswith("Grad-CAM for ") for c in captions)
    run = at.selectbox(key=PICKS.key("run")).value
    loaded = load_model(with_runs / run / runs.BEST, device="cpu")
    (prediction,) = predict_images(loaded, [open_image(image.read_bytes(), image.name)])
    hint = insight.unsure_message(prediction.all_probabilities, loaded.classes)
    assert (hint in [w.value for w in at.warning]) if hint else not at.warning
    at.selectbox(key=PICKS.key("cam_target")).set_value("square").run()
    captions = [c for i in at.get("image") for c in i.captions]
    assert any(c.startswith("Grad-CAM for square") for c in captions)


def upload_images(at, images) -> None:
    """The image box holds ``images`` (a browser sends every file the box holds; AppTest's
    staged files replace the box's content)."""
    uploader = at.file_uploader(key=classify.IMAGES_UPLOAD)
    for image in images:
        uploader.upload(image.name, image.read_bytes(), "image/png")
    at.run()
    assert not at.exception, at.exception[0].message


def test_the_results_are_always_those_of_the_images_in_the_box(with_data, with_runs, capsys):
    """Issue 12, defect 6: upload images, switch to an uploaded checkpoint, upload it."""
    images = [
        with_data / "test" / name / f"000{i}.png" for name in ("circle", "square") for i in (1, 2)
    ]
    at = open_page(nav.CLASSIFY)
    upload_images(at, images[:3])
    assert len(top1_on_page(at)) == 3

    at.segmented_control(key=PICKS.key("source")).set_value("upload").run()
    assert not at.exception, at.exception[0].message
    assert top1_on_page(at) == []  # no checkpoint yet: no results, not the old ones
    assert len(at.file_uploader(key=classify.IMAGES_UPLOAD).value) == 3  # the images stay
    checkpoint = with_runs / "tiny-b" / runs.BEST
    at.file_uploader(key=classify.CHECKPOINT_UPLOAD).upload("best.pt", checkpoint.read_bytes())
    at.run()
    assert top1_on_page(at) == [cli_top1(checkpoint, image, capsys) for image in images[:3]]

    upload_images(at, images)  # one more image: one more result, none dropped
    assert top1_on_page(at) == [cli_top1(checkpoint, image, capsys) for image in images]


def test_another_checkpoint_classifies_the_same_images_again(with_data, with_runs, capsys):
    images = [with_data / "test" / name / "0004.png" for name in ("circle", "square", "stripes")]
    at = open_page(nav.CLASSIFY)
    upload_images(at, images)
    for run in ("tiny-a", "tiny-b"):
        at.selectbox(key=PICKS.key("run")).set_value(run).run()
        checkpoint = with_runs / run / runs.BEST
        assert top1_on_page(at) == [cli_top1(checkpoint, image, capsys) for image in images]


def test_top1_and_grad_cam_agree_and_the_page_says_whether_flip_averaging_is_on(
    with_data, with_runs
):
    image = with_data / "test" / "stripes" / "0005.png"
    at = open_page(nav.CLASSIFY)
    run = at.selectbox(key=PICKS.key("run")).value
    loaded = load_model(with_runs / run / runs.BEST, device="cpu")
    assert loaded.config.train.tta_flip  # the cpu-fast preset scores with flip averaging
    upload_images(at, [image])
    assert "Flip averaging is on" in texts(at)
    (verdict,) = [m.value for m in at.markdown if m.value.startswith("Top-1")]
    label, top1 = re.match(r"Top-1: \*\*(.+?)\*\* · ([\d.]+%)", verdict).groups()
    captions = [c for i in at.get("image") for c in i.captions if c.startswith("Grad-CAM")]
    assert captions == [f"Grad-CAM for {label} ({top1})"]


def test_a_camera_photo_is_classified_like_an_upload(with_data, with_runs, capsys):
    image = with_data / "test" / "square" / "0006.png"
    photo = io.BytesIO()
    Image.open(image).convert("RGB").save(photo, "JPEG", quality=95)
    at = open_page(nav.CLASSIFY)
    at.toggle(key=PICKS.key("camera")).set_value(True).run()
    at.camera_input(key=classify.CAMERA).set_value(("photo.jpg", photo.getvalue(), "image/jpeg"))
    at.run()
    assert not at.exception, at.exception[0].message
    checkpoint = with_runs / at.selectbox(key=PICKS.key("run")).value / runs.BEST
    saved = with_data.parent / "photo.jpg"
    saved.write_bytes(photo.getvalue())
    assert top1_on_page(at) == [cli_top1(checkpoint, saved, capsys)]


@pytest.mark.parametrize("content", [b"\x00" * 64, b"not a checkpoint at all\n", b"PK\x03\x04x"])
def test_a_fake_checkpoint_gets_one_plain_sentence(content, with_data, with_runs):
    at = open_page(nav.CLASSIFY)
    at.segmented_control(key=PICKS.key("source")).set_value("upload").run()
    at.file_uploader(key=classify.CHECKPOINT_UPLOAD).upload("junk.pt", content)
    at.run()
    assert not at.exception
    (error,) = [e.value for e in at.error]
    assert error.startswith("Cannot use junk.pt: ") and "\n" not in error
    assert str(upload_store().folder) not in error and tempfile.gettempdir() not in error
    assert "Error" not in error  # no IndexError, KeyError, RuntimeError ...


def test_each_uploader_states_and_enforces_one_limit(with_data, with_runs):
    config = (Path(__file__).parents[3] / ".streamlit" / "config.toml").read_text()
    assert re.search(rf"^maxUploadSize = {UPLOAD_LIMIT_MB}$", config, re.MULTILINE)
    at = open_page(nav.CLASSIFY)
    at.segmented_control(key=PICKS.key("source")).set_value("upload").run()
    images = at.file_uploader(key=classify.IMAGES_UPLOAD)
    checkpoint = at.file_uploader(key=classify.CHECKPOINT_UPLOAD)
    assert images.proto.max_upload_size_mb == IMAGE_LIMIT_MB == MAX_FILE_BYTES // 2**20
    assert checkpoint.proto.max_upload_size_mb == UPLOAD_LIMIT_MB
    # The uploader's own "Limit ... MB per file" states it: the labels do not repeat a figure.
    assert "MB" not in images.label and "MB" not in checkpoint.label


@pytest.mark.slow
def test_a_big_upload_is_kept_at_the_size_the_page_shows(with_data, with_runs):
    picture = Image.new("RGB", (7000, 7000), (40, 90, 160))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    data = buffer.getvalue()
    (kept,) = view.uploaded_images([("poster.png", data)])
    assert kept.image.size == (SHOWN_SIDE, SHOWN_SIDE)
    assert np.asarray(kept.image).nbytes == SHOWN_SIDE * SHOWN_SIDE * 3  # not 147 MB
    at = open_page(nav.CLASSIFY)
    at.file_uploader(key=classify.IMAGES_UPLOAD).upload("poster.png", data, "image/png")
    at.run()
    assert not at.exception, at.exception[0].message
    assert len(top1_on_page(at)) == 1
