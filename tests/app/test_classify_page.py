"""The Classify page agrees with ``cifar-lab predict`` and refuses what it cannot read."""

from __future__ import annotations

import json
import re

import pytest
from app_helpers import button, open_page, texts

from lab import cli, runs
from ui import state


def top1_on_page(at) -> list[str]:
    """The Top-1 labels the page wrote, in order."""
    return [
        match.group(1)
        for markdown in at.markdown
        if (match := re.match(r"Top-1: \*\*(.+?)\*\*", markdown.value))
    ]


def cli_top1(checkpoint, image, capsys) -> str:
    capsys.readouterr()
    assert cli.main(["predict", str(checkpoint), str(image), "--json"]) == 0
    return json.loads(capsys.readouterr().out)[0]["top_k"][0]["label"]


@pytest.mark.parametrize("name", ["circle", "square", "stripes"])
def test_an_uploaded_image_gets_the_same_top1_as_the_cli(name, with_data, with_runs, capsys):
    image = with_data / "test" / name / "0003.png"
    at = open_page("app_pages/5_classify.py")
    assert at.selectbox(key=state.CLS_RUN).value == "tiny-a" or "tiny-b"
    checkpoint = with_runs / at.selectbox(key=state.CLS_RUN).value / runs.BEST
    at.file_uploader(key=state.CLS_IMAGES).upload(image.name, image.read_bytes(), "image/png")
    at.run()
    assert not at.exception and not at.error, texts(at)
    assert top1_on_page(at) == [cli_top1(checkpoint, image, capsys)]
    assert any("as the network sees it (32 px" in c for i in at.get("image") for c in i.captions)


def test_an_uploaded_checkpoint_classifies_like_the_cli(with_data, with_runs, capsys):
    checkpoint = with_runs / "tiny-b" / runs.BEST
    images = [with_data / "test" / name / "0001.png" for name in ("circle", "stripes")]
    at = open_page("app_pages/5_classify.py")
    at.segmented_control(key=state.CLS_SOURCE).set_value("upload").run()
    at.file_uploader(key=state.CLS_CHECKPOINT_UPLOAD).upload(
        "mine.pt", checkpoint.read_bytes(), "application/octet-stream"
    )
    at.run()
    uploader = at.file_uploader(key=state.CLS_IMAGES)
    for image in images:
        uploader.upload(image.name, image.read_bytes(), "image/png")
    at.run()
    assert not at.exception, at.exception[0].message
    assert top1_on_page(at) == [cli_top1(checkpoint, image, capsys) for image in images]


def test_a_broken_image_is_refused_and_the_others_classified(with_data, with_runs):
    good = with_data / "test" / "square" / "0000.png"
    at = open_page("app_pages/5_classify.py")
    uploader = at.file_uploader(key=state.CLS_IMAGES)
    uploader.upload("notes.png", b"this is text, not a picture", "image/png")
    uploader.upload(good.name, good.read_bytes(), "image/png")
    at.run()
    assert not at.exception
    assert at.error[0].value.startswith("notes.png: not")  # named, with the reason
    assert len(top1_on_page(at)) == 1


def test_a_checkpoint_that_is_not_one_is_refused_clearly(with_data, with_runs):
    at = open_page("app_pages/5_classify.py")
    at.segmented_control(key=state.CLS_SOURCE).set_value("upload").run()
    at.file_uploader(key=state.CLS_CHECKPOINT_UPLOAD).upload("junk.pt", b"\x00" * 64)
    at.run()
    assert not at.exception
    assert "Cannot use this checkpoint" in at.error[0].value


def test_a_random_test_image_shows_its_true_label(with_data, with_runs):
    at = open_page("app_pages/5_classify.py")
    button(at, "Random test image").click().run()
    assert not at.exception, at.exception[0].message
    (verdict,) = [m.value for m in at.markdown if m.value.startswith("Top-1")]
    assert "true label **" in verdict and ("right" in verdict or "wrong" in verdict)
    assert "MB" in at.file_uploader(key=state.CLS_IMAGES).label  # the upload limit is stated
