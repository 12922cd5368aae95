"""The Classify page agrees with ``cifar-lab predict`` and refuses what it cannot read."""

from __future__ import annotations

import hashlib
import json
import re
import stat

import pytest
from app_helpers import button, open_page, texts

from app import nav
from app.state import classify
from app.state.classify import PICKS
from lab import cli, runs
from lab.checkpoint import load_model
from lab.lenses import insight
from lab.predict import open_image, predict_images
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
    assert "Cannot use this checkpoint" in at.error[0].value


def test_a_random_test_image_shows_its_true_label(with_data, with_runs):
    at = open_page(nav.CLASSIFY)
    button(at, "Random test image").click().run()
    assert not at.exception, at.exception[0].message
    (verdict,) = [m.value for m in at.markdown if m.value.startswith("Top-1")]
    assert "true label **" in verdict and ("right" in verdict or "wrong" in verdict)
    assert "MB" in at.file_uploader(key=classify.IMAGES_UPLOAD).label  # the upload limit is stated


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
