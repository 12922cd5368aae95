"""The insight sections render on a real tiny run and show what ``lab`` computes for it."""

from __future__ import annotations

import io
import math
import time
import zipfile

import pytest
from app_helpers import button, open_page, texts

from lab import runs
from lab.checkpoint import load_model
from lab.config import ModelConfig
from lab.data import load_dataset
from lab.evaluate import evaluate_model
from lab.lenses import insight
from lab.predict import open_image, predict_images
from lab.presets import preset_config
from lab.train import fit
from ui import insight_view, state

CHECKPOINTS = "app_pages/4_checkpoints.py"


def evaluation_of(run_dir, data):
    loaded = load_model(run_dir / runs.BEST, device="cpu")
    return evaluate_model(loaded, load_dataset(str(data)).test)


def metric_value(at, label: str) -> str:
    (value,) = [m.value for m in at.metric if m.label == label]
    return value


def gallery_captions(at) -> list[str]:
    """Captions of the top-loss gallery (the image group whose captions read true → predicted)."""
    groups = [list(i.captions) for i in at.get("image")]
    matches = [g for g in groups if g and "→" in g[0]]
    assert matches, groups
    return matches[0]


@pytest.fixture
def weak_run(with_data, with_runs):
    """A one-epoch run at a tiny learning rate beside the trained ones: it makes mistakes."""
    run_dir = runs.create_run_dir(with_runs, "tiny-weak")
    config = preset_config("cpu-fast", str(with_data)).with_overrides(
        model={"width": 0.125}, train={"epochs": 1, "batch_size": 16, "lr": 1e-5}
    )
    fit(config, run_dir)
    return run_dir


@pytest.fixture
def evaluated(with_data, with_runs, weak_run):
    """The Checkpoints page with the weak run selected and evaluated on the test split."""
    at = open_page(CHECKPOINTS)
    at.selectbox(key=state.CKPT_DETAIL).set_value("tiny-weak").run()
    at.toggle(key=state.CKPT_EVALUATE).set_value(True).run()
    assert not at.exception, at.exception[0].message
    return at


def test_evaluated_checkpoint_shows_calibration_scores_confusions_and_top_losses(
    evaluated, with_data, weak_run
):
    at = evaluated
    evaluation = evaluation_of(weak_run, with_data)
    calibration = insight.calibration(evaluation)
    assert metric_value(at, "Expected calibration error (ECE)") == f"{calibration.ece:.4f}"
    frames = [d.value for d in at.dataframe]
    scores = next(f for f in frames if "f1" in f.columns)
    expected = evaluation.per_class().set_index("class")
    assert list(scores.index) == list(expected.index)
    assert scores["f1"].round(6).tolist() == expected["f1"].round(6).tolist()
    confused = insight.most_confused(evaluation)
    assert not confused.empty
    table = next(f for f in frames if "share" in f.columns and "predicted" in f.columns)
    assert table[["true", "predicted", "count"]].values.tolist() == (
        confused[["true", "predicted", "count"]].values.tolist()
    )
    losses = insight.top_losses(evaluation, k=16)
    expected_captions = [
        f"{r.true} → {r.predicted} ({r.confidence:.0%})" for r in losses.itertuples()
    ]
    assert gallery_captions(at) == expected_captions
    at.toggle(key=state.CKPT_CAM).set_value(True).run()
    assert not at.exception, at.exception[0].message
    assert gallery_captions(at) == expected_captions  # the same images, with overlays
    started = time.perf_counter()
    at.run()  # everything is cached now
    assert time.perf_counter() - started < 3.0
    assert any(b.label == "Download run card (.zip)" for b in at.get("download_button"))


def test_the_run_card_holds_the_run(with_data, with_runs):
    evaluation = evaluation_of(with_runs / "tiny-a", with_data)
    data = insight_view.run_card_bytes(with_runs / "tiny-a", evaluation)
    names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    assert {"tiny-a/config.json", "tiny-a/confusion_matrix.csv", "tiny-a/best.pt"} <= names
    assert not list(with_runs.glob("**/*.zip"))  # written to a temporary folder only


def test_the_what_if_stop_epoch_is_the_replay(with_data, with_runs):
    at = open_page(CHECKPOINTS)
    at.selectbox(key=state.CKPT_DETAIL).set_value("tiny-b").run()
    history = runs.read_history(with_runs / "tiny-b")
    monitor = runs.read_config(with_runs / "tiny-b")["train"]["monitor"]
    for patience, min_delta in ((0, 0.0), (1, 0.5), (5, 0.0)):
        at.slider(key=state.CKPT_WHATIF_PATIENCE).set_value(patience)
        at.number_input(key=state.CKPT_WHATIF_MIN_DELTA).set_value(min_delta).run()
        assert not at.exception, at.exception[0].message
        expected = insight.patience_what_if(history, patience, min_delta, monitor)
        assert expected.message in texts(at)
    # The generalisation gap: its chart and its notes (or that there is no onset).
    gap = insight.generalisation_gap(history)
    shown = texts(at)
    assert all(event.message in shown for event in gap.events)
    if gap.onset_epoch is None:
        assert "No onset of overfitting" in shown


def test_comparing_two_runs_shows_differences_and_highlights_settings(
    evaluated, with_data, with_runs, weak_run
):
    at = evaluated
    at.selectbox(key=state.CKPT_COMPARE_A).set_value("tiny-a")
    at.selectbox(key=state.CKPT_COMPARE_B).set_value("tiny-weak").run()
    assert not at.exception, at.exception[0].message
    diff = next(d.value for d in at.dataframe if "differs" in d.value.columns)
    assert diff.loc["train.lr", "differs"] and not diff.loc["train.batch_size", "differs"]
    assert diff.loc["train.lr", "a"] == "0.003" and diff.loc["train.lr", "b"] == "1e-05"
    a = evaluation_of(with_runs / "tiny-a", with_data)
    b = evaluation_of(weak_run, with_data)
    rows = insight.disagreements(a, b)
    assert f"{len(rows)} test images on which the two predict different classes" in texts(at)
    circles = insight.disagreements(a, b, class_name="circle")
    at.selectbox(key=state.CKPT_DISAGREE_CLASS).set_value("circle").run()
    assert not at.exception, at.exception[0].message
    assert f"{len(circles)} test images on which the two predict" in texts(at)


def test_the_robustness_sweep_runs_on_request(evaluated, with_data, weak_run):
    at = evaluated
    at.selectbox(key=state.CKPT_ROBUST_TRANSFORM).set_value("brightness").run()
    button(at, "Run the sweep").click().run()
    assert not at.exception, at.exception[0].message
    sweep = next(d.value for d in at.dataframe if "mean_confidence" in d.value.columns)
    identity = sweep.loc[sweep["value"] == 1.0, "accuracy"].item()
    assert identity == pytest.approx(evaluation_of(weak_run, with_data).accuracy)


def test_classify_shows_grad_cam_and_the_unsure_hint(with_data, with_runs):
    image = with_data / "test" / "circle" / "0002.png"
    at = open_page("app_pages/5_classify.py")
    at.file_uploader(key=state.CLS_IMAGES).upload(image.name, image.read_bytes(), "image/png")
    at.run()
    assert not at.exception, at.exception[0].message
    captions = [c for i in at.get("image") for c in i.captions]
    assert any(c.startswith("Grad-CAM for ") for c in captions)
    run = at.selectbox(key=state.CLS_RUN).value
    loaded = load_model(with_runs / run / runs.BEST, device="cpu")
    (prediction,) = predict_images(loaded, [open_image(image.read_bytes(), image.name)])
    hint = insight.unsure_message(prediction.all_probabilities, loaded.classes)
    assert (hint in [w.value for w in at.warning]) if hint else not at.warning
    at.selectbox(key=state.CLS_CAM_TARGET).set_value("square").run()
    captions = [c for i in at.get("image") for c in i.captions]
    assert any(c.startswith("Grad-CAM for square") for c in captions)


def test_the_train_page_shows_the_model_anatomy(with_data, empty_runs):
    at = open_page("app_pages/3_train.py")
    values = {"model": at.selectbox(key=state.TRAIN_MODEL).value}
    width = at.select_slider(key=state.TRAIN_WIDTH).value
    expected = insight.model_anatomy(ModelConfig(name=values["model"], width=width), None, 3)
    assert metric_value(at, "Parameters") == f"{expected.params:,}"
    at.selectbox(key=state.TRAIN_MODEL).set_value("alexnet")
    at.select_slider(key=state.TRAIN_ANATOMY_SIZE).set_value(32).run()
    assert not at.exception, at.exception[0].message
    assert any("alexnet needs input images of at least" in e.value for e in at.error)


def test_the_lr_finder_suggests_a_rate_the_train_page_adopts(with_data, empty_runs, monkeypatch):
    monkeypatch.setattr(insight_view, "LR_FINDER_STEPS", 20)  # enough to suggest, and quick
    at = open_page("app_pages/3_train.py")
    at.number_input(key=state.TRAIN_SUBSET).set_value(0)
    at.select_slider(key=state.TRAIN_BATCH_SIZE).set_value(16)
    at.select_slider(key=state.TRAIN_WIDTH).set_value(0.125).run()
    button(at, "Find a learning rate").click().run()
    assert not at.exception, at.exception[0].message
    assert "Suggested learning rate" in texts(at)
    button(at, "Use this learning rate").click().run()
    assert not at.exception, at.exception[0].message
    suggested = float(texts(at).split("Suggested learning rate: **")[1].split("**")[0])
    nearest = min(state.LR_CHOICES, key=lambda choice: abs(math.log(choice / suggested)))
    assert at.select_slider(key=state.TRAIN_LR).value == nearest
    assert "Suggested learning rate" in texts(at)  # the result survives the change of rate
