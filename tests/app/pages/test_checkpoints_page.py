"""The Checkpoints page on real tiny runs: the runs table, curves, comparison and deletion, and
its lenses (calibration, confusions, top losses, what-if, robustness, run card) showing what
``lab`` computes for the run."""

from __future__ import annotations

import io
import zipfile

import pytest
from app_helpers import button, chart_axes, open_page, texts, tiny_run_config

from app import nav
from app.state.checkpoints import VIEW
from app.views import checkpoints_lenses
from lab import runs
from lab.checkpoint import load_model
from lab.data import load_dataset
from lab.evaluate import evaluate_model
from lab.lenses import insight
from lab.train import EpochEvent, TrainControl, fit


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
    fit(tiny_run_config(with_data, epochs=1, lr=1e-5), run_dir)
    return run_dir


@pytest.fixture
def evaluated(with_data, with_runs, weak_run):
    """The Checkpoints page with the weak run selected and evaluated on the test split."""
    at = open_page(nav.CHECKPOINTS)
    at.selectbox(key=VIEW.key("detail")).set_value("tiny-weak").run()
    at.toggle(key=VIEW.key("evaluate")).set_value(True).run()
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
    plain = [list(i.proto.imgs) for i in at.get("image") if i.captions == expected_captions]
    at.toggle(key=VIEW.key("cam")).set_value(True).run()
    assert not at.exception, at.exception[0].message
    assert gallery_captions(at) == expected_captions  # the same images ...
    overlaid = [list(i.proto.imgs) for i in at.get("image") if i.captions == expected_captions]
    assert [img.url for img in overlaid[0]] != [img.url for img in plain[0]]  # ... with overlays
    assert any(b.label == "Download run card (.zip)" for b in at.get("download_button"))


def test_the_run_card_holds_the_run(with_data, with_runs):
    evaluation = evaluation_of(with_runs / "tiny-a", with_data)
    data = checkpoints_lenses.run_card_bytes(with_runs / "tiny-a", evaluation)
    names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    assert {"tiny-a/config.json", "tiny-a/confusion_matrix.csv", "tiny-a/best.pt"} <= names
    assert not list(with_runs.glob("**/*.zip"))  # written to a temporary folder only


def test_the_what_if_stop_epoch_is_the_replay(with_data, with_runs):
    at = open_page(nav.CHECKPOINTS)
    at.selectbox(key=VIEW.key("detail")).set_value("tiny-b").run()
    history = runs.read_history(with_runs / "tiny-b")
    monitor = runs.read_config(with_runs / "tiny-b")["train"]["monitor"]
    for patience, min_delta in ((0, 0.0), (1, 0.5), (5, 0.0)):
        at.slider(key=VIEW.key("whatif_patience")).set_value(patience)
        at.number_input(key=VIEW.key("whatif_min_delta")).set_value(min_delta).run()
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
    at.selectbox(key=VIEW.key("compare_a")).set_value("tiny-a")
    at.selectbox(key=VIEW.key("compare_b")).set_value("tiny-weak").run()
    assert not at.exception, at.exception[0].message
    diff = next(d.value for d in at.dataframe if "differs" in d.value.columns)
    assert diff.loc["train.lr", "differs"] and not diff.loc["train.batch_size", "differs"]
    assert diff.loc["train.lr", "a"] == "0.003" and diff.loc["train.lr", "b"] == "1e-05"
    a = evaluation_of(with_runs / "tiny-a", with_data)
    b = evaluation_of(weak_run, with_data)
    rows = insight.disagreements(a, b)
    assert f"{len(rows)} test images on which the two predict different classes" in texts(at)
    circles = insight.disagreements(a, b, class_name="circle")
    at.selectbox(key=VIEW.key("disagree_class")).set_value("circle").run()
    assert not at.exception, at.exception[0].message
    assert f"{len(circles)} test images on which the two predict" in texts(at)


def test_the_robustness_sweep_runs_on_request(evaluated, with_data, weak_run):
    at = evaluated
    at.selectbox(key=VIEW.key("robust_transform")).set_value("brightness").run()
    button(at, "Run the sweep").click().run()
    assert not at.exception, at.exception[0].message
    sweep = next(d.value for d in at.dataframe if "mean_confidence" in d.value.columns)
    identity = sweep.loc[sweep["value"] == 1.0, "accuracy"].item()
    assert identity == pytest.approx(evaluation_of(weak_run, with_data).accuracy)


def test_the_checkpoints_page_compares_runs_and_deletes_after_confirmation(with_data, with_runs):
    at = open_page(nav.CHECKPOINTS)
    table = at.dataframe[0].value
    assert set(table.index) == {"tiny-a", "tiny-b"}
    assert at.get("download_button")
    at.toggle(key=VIEW.key("evaluate")).set_value(True).run()
    assert not at.exception, at.exception[0].message
    assert "Confusion matrix" in texts(at)
    assert chart_axes(at) == [
        ("epoch", "val_acc"),  # the runs' curves
        ("epoch", "val_acc"),  # the patience what-if
        ("epoch", "value"),  # the generalisation gap
        ("predicted", "true"),  # the confusion matrix
        ("class", "accuracy"),  # accuracy per class
        ("class", "value"),  # precision, recall and F1 per class
        ("lower", "accuracy"),  # calibration (reliability)
        ("class", "accuracy"),  # two runs per class
        ("epoch", "val_acc"),  # the two runs' curves
        ("class", "difference"),  # their per-class accuracy difference
        ("predicted", "true"),  # their confusion difference
    ]
    at.toggle(key=VIEW.key("normalize")).set_value(True).run()
    assert not at.exception

    at.selectbox(key=VIEW.key("detail")).set_value("tiny-b").run()
    button(at, "Delete run").click().run()
    assert "cannot be undone" in texts(at)
    button(at, "Cancel").click().run()
    assert (with_runs / "tiny-b").exists()
    button(at, "Delete run").click().run()
    button(at, "Yes, delete").click().run()
    assert not (with_runs / "tiny-b").exists()
    assert "Deleted run tiny-b" in texts(at)
    assert set(at.dataframe[0].value.index) == {"tiny-a"}


def test_a_stopped_run_offers_resume_and_a_finished_one_does_not(with_data, with_runs):
    control = TrainControl()

    def stop_after_an_epoch(event) -> None:
        if isinstance(event, EpochEvent):
            control.request_stop()

    stopped = runs.create_run_dir(with_runs, "tiny-stopped")
    config = tiny_run_config(with_data, epochs=3)
    fit(config, stopped, control=control, callbacks=(stop_after_an_epoch,))
    at = open_page(nav.CHECKPOINTS)
    at.selectbox(key=VIEW.key("detail")).set_value("tiny-a").run()
    assert not any(b.label == "Resume training" for b in at.button)
    at.selectbox(key=VIEW.key("detail")).set_value("tiny-stopped").run()
    button(at, "Resume training").click().run()
    assert not at.exception, at.exception[0].message
    assert "Resuming tiny-stopped" in texts(at)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        (runs.CONFIG, "[1, 2, 3]"),
        (runs.METRICS, "[1, 2]"),
        (runs.METRICS, '{"best_val_acc": "high"}'),
        (runs.HISTORY, "epoch,train_loss\n1,\n\x00\x01garbage"),
    ],
)
def test_a_damaged_run_is_listed_as_damaged_and_the_page_still_works(
    with_data, with_runs, name, content
):
    (with_runs / "tiny-a" / name).write_text(content)
    at = open_page(nav.CHECKPOINTS)
    assert not at.exception, at.exception[0].message
    table = next(d.value for d in at.dataframe if "status" in d.value.columns)
    assert set(table.index) == {"tiny-a", "tiny-b"}  # everything else still works
    assert table.loc["tiny-a", "status"].startswith(f"damaged: {name}")
    assert not table.loc["tiny-b", "status"].startswith("damaged")
