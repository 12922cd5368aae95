"""The Checkpoints page on real tiny runs, tab by tab: the runs table, curves, deletion and
resume (Overview); confusion, scores, confused pairs and top losses (Errors); calibration; two
runs compared; the what-if and the generalisation gap (Dynamics); the robustness sweep; the
map of what the network learned; and sweeps. Each shows what ``lab`` computes for the run, from
the evaluation the run keeps, and only the open tab runs."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from app_helpers import button, chart_axes, open_page, open_tab, texts, tiny_run_config

from app import nav
from app.state.checkpoints import TABS, VIEW
from app.views.checkpoints import compare, overview
from lab import runs
from lab.checkpoint import load_model
from lab.data import load_dataset
from lab.evaluate import Evaluation
from lab.fit import fit
from lab.launch import prepare_run
from lab.lenses import dynamics, insight
from lab.lenses.embedding import embedding_map
from lab.stored_evaluation import EVALUATION, load_evaluation, save_evaluation
from lab.sweep import create_sweep, read_sweep, results_frame, run_sweep
from lab.train import EpochEvent, TrainControl


def kept(run_dir) -> Evaluation:
    evaluation = load_evaluation(run_dir, run_dir / runs.BEST)
    assert evaluation is not None
    return evaluation


def metric_value(at, label: str) -> str:
    (value,) = [m.value for m in at.metric if m.label == label]
    return value


def gallery_captions(at, marker: str) -> list[str]:
    """Captions of the first image group whose first caption contains ``marker``."""
    groups = [list(i.captions) for i in at.get("image")]
    matches = [g for g in groups if g and marker in g[0]]
    assert matches, groups
    return matches[0]


@pytest.fixture
def weak_run(with_data, with_runs):
    """A one-epoch run at a tiny learning rate beside the trained ones: it makes mistakes."""
    run_dir = fit(
        prepare_run(tiny_run_config(with_data, epochs=1, lr=1e-5), with_runs, name="tiny-weak")
    ).run_dir
    return run_dir


@pytest.fixture
def on_weak_run(with_data, with_runs, weak_run):
    """The Checkpoints page with the weak run chosen."""
    at = open_page(nav.CHECKPOINTS)
    at.selectbox(key=VIEW.key("detail")).set_value("tiny-weak").run()
    assert not at.exception, at.exception[0].message
    return at


def test_the_overview_lists_runs_draws_curves_and_only_the_open_tab_runs(with_data, with_runs):
    (with_runs / "tiny-a" / EVALUATION).unlink()  # as a run made before runs kept one
    at = open_page(nav.CHECKPOINTS)
    assert [tab.label for tab in at.tabs] == list(TABS)
    table = at.dataframe[0].value
    assert set(table.index) == {"tiny-a", "tiny-b"}
    assert chart_axes(at) == [
        ("epoch", "val_acc"),  # the runs' curves
        ("epoch", "acc"),  # the chosen run's accuracy per epoch
        ("epoch", "loss"),  # ... and its loss
    ]
    assert any(b.label == "Download run card (.zip)" for b in at.get("download_button"))
    # No other tab ran: nothing was evaluated for the run without a kept evaluation.
    assert "Confusion matrix" not in texts(at)
    assert not (with_runs / "tiny-a" / EVALUATION).exists()


def test_the_run_card_holds_the_run(with_data, with_runs):
    data = overview.run_card_bytes(with_runs / "tiny-a", kept(with_runs / "tiny-a"))
    names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    assert {"tiny-a/config.json", "tiny-a/confusion_matrix.csv", "tiny-a/best.pt"} <= names
    assert not list(with_runs.glob("**/*.zip"))  # written to a temporary folder only


def test_errors_show_the_kept_evaluation_scores_confusions_and_top_losses(on_weak_run, weak_run):
    at = open_tab(on_weak_run, "Errors")
    evaluation = kept(weak_run)
    assert f"**Confusion matrix** · test accuracy {evaluation.accuracy:.2%}" in texts(at)
    assert chart_axes(at)[:3] == [
        ("predicted", "true"),  # the confusion matrix
        ("class", "accuracy"),  # accuracy per class
        ("class", "value"),  # precision, recall and F1 per class
    ]
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
    assert gallery_captions(at, "→") == expected_captions
    plain = [list(i.proto.imgs) for i in at.get("image") if i.captions == expected_captions]
    at.toggle(key=VIEW.key("cam")).set_value(True).run()
    assert not at.exception, at.exception[0].message
    assert gallery_captions(at, "→") == expected_captions  # the same images ...
    overlaid = [list(i.proto.imgs) for i in at.get("image") if i.captions == expected_captions]
    assert [img.url for img in overlaid[0]] != [img.url for img in plain[0]]  # ... with overlays
    at.toggle(key=VIEW.key("normalize")).set_value(True).run()
    assert not at.exception, at.exception[0].message


def test_every_view_comes_from_the_kept_evaluation(with_data, with_runs):
    """A kept evaluation that says "every image is a circle" is what the page shows: nothing
    is evaluated again while the file matches the checkpoint."""
    run_dir = with_runs / "tiny-a"
    real = kept(run_dir)
    doctored = np.zeros_like(real.probabilities)
    doctored[:, 0] = 1.0
    save_evaluation(
        run_dir, Evaluation(real.classes, real.labels, doctored, 9.0), run_dir / runs.BEST
    )
    at = open_page(nav.CHECKPOINTS)
    at.selectbox(key=VIEW.key("detail")).set_value("tiny-a").run()
    open_tab(at, "Errors")
    share = float(np.mean(real.labels == 0))
    assert f"**Confusion matrix** · test accuracy {share:.2%}" in texts(at)
    open_tab(at, "Calibration")
    assert metric_value(at, "Calibration error (ECE)") == f"{1 - share:.4f}"


def test_a_run_without_a_kept_evaluation_is_evaluated_once_and_keeps_it(with_data, with_runs):
    run_dir = with_runs / "tiny-b"
    (run_dir / EVALUATION).unlink()
    at = open_page(nav.CHECKPOINTS)
    at.selectbox(key=VIEW.key("detail")).set_value("tiny-b").run()
    open_tab(at, "Calibration")
    computed = kept(run_dir)  # written by the page
    loaded = load_model(run_dir / runs.BEST, device="cpu")
    assert computed.labels.tolist() == load_dataset(str(with_data)).test.labels.tolist()
    assert computed.classes == loaded.classes
    calibration = insight.calibration(computed)
    assert metric_value(at, "Calibration error (ECE)") == f"{calibration.ece:.4f}"
    written = (run_dir / EVALUATION).stat().st_mtime_ns
    open_tab(at, "Errors")
    assert (run_dir / EVALUATION).stat().st_mtime_ns == written  # read, not computed again


def test_compare_lists_differing_settings_first_and_disagreements_of_every_class(
    on_weak_run, with_runs, weak_run, monkeypatch
):
    monkeypatch.setattr(compare, "GALLERY_SIZE", 3)
    at = open_tab(on_weak_run, "Compare")
    at.selectbox(key=VIEW.key("compare_a")).set_value("tiny-a")
    at.selectbox(key=VIEW.key("compare_b")).set_value("tiny-weak").run()
    assert not at.exception, at.exception[0].message
    diff = next(d.value for d in at.dataframe if "differs" in d.value.columns)
    assert diff.loc["train.lr", "differs"] and not diff.loc["train.batch_size", "differs"]
    assert diff.loc["train.lr", "a"] == "0.003" and diff.loc["train.lr", "b"] == "1e-05"
    flags = diff["differs"].tolist()
    assert flags == sorted(flags, reverse=True), "differing settings come first"
    a, b = kept(with_runs / "tiny-a"), kept(weak_run)
    rows = insight.disagreements(a, b)
    assert f"{len(rows)} test images on which the two predict different classes" in texts(at)
    # The test split is stored class by class; the gallery still takes every class in turn.
    classes = list(dict.fromkeys(rows["true"]))
    shown = [c.split(" · ")[0].removeprefix("true ") for c in gallery_captions(at, "true ")]
    assert shown[: min(3, len(classes))] == classes[:3]
    circles = insight.disagreements(a, b, class_name="circle")
    at.selectbox(key=VIEW.key("disagree_class")).set_value("circle").run()
    assert not at.exception, at.exception[0].message
    assert f"{len(circles)} test images on which the two predict" in texts(at)


def test_spread_over_classes_takes_every_class_in_turn():
    frame = pd.DataFrame({"index": range(7), "true": ["a", "a", "a", "b", "b", "c", "c"]})
    spread = compare.spread_over_classes(frame, 5)
    assert spread["index"].tolist() == [0, 3, 5, 1, 4]
    assert compare.spread_over_classes(frame, 10)["index"].tolist() == [0, 3, 5, 1, 4, 6, 2]


def test_dynamics_replay_the_what_if_and_show_the_gap(with_data, with_runs):
    at = open_page(nav.CHECKPOINTS)
    at.selectbox(key=VIEW.key("detail")).set_value("tiny-b").run()
    open_tab(at, "Dynamics")
    history = runs.read_history(with_runs / "tiny-b")
    monitor = runs.read_config(with_runs / "tiny-b")["train"]["monitor"]
    for patience, min_delta in ((0, 0.0), (1, 0.5), (5, 0.0)):
        at.slider(key=VIEW.key("whatif_patience")).set_value(patience)
        at.number_input(key=VIEW.key("whatif_min_delta")).set_value(min_delta).run()
        assert not at.exception, at.exception[0].message
        expected = dynamics.patience_what_if(history, patience, min_delta, monitor)
        assert expected.message in texts(at)
    assert chart_axes(at) == [("epoch", monitor), ("epoch", "acc_gap"), ("epoch", "loss_gap")]
    gap = dynamics.generalisation_gap(history)
    shown = texts(at)
    assert all(event.message in shown for event in gap.events)
    if gap.onset_epoch is None:
        assert "No onset of overfitting" in shown


def test_the_robustness_sweep_runs_only_on_request(on_weak_run, weak_run):
    at = open_tab(on_weak_run, "Robustness")
    at.selectbox(key=VIEW.key("robust_transform")).set_value("brightness").run()
    assert not [d for d in at.dataframe if "mean confidence" in d.value.columns]
    button(at, "Run the sweep").click().run()
    assert not at.exception, at.exception[0].message
    sweep = next(d.value for d in at.dataframe if "mean confidence" in d.value.columns)
    identity = sweep.loc[sweep["value"] == 1.0, "accuracy"].item()
    assert identity == pytest.approx(kept(weak_run).accuracy)


def test_the_map_shows_the_projection_and_the_neighbours_of_a_picked_image(with_data, with_runs):
    at = open_page(nav.CHECKPOINTS)
    at.selectbox(key=VIEW.key("detail")).set_value("tiny-a").run()
    open_tab(at, "Map")
    at.radio(key=VIEW.key("map_method")).set_value("pca").run()
    assert not at.exception, at.exception[0].message
    dataset = load_dataset(str(with_data))
    expected = embedding_map(load_model(with_runs / "tiny-a" / runs.BEST), dataset, "pca")
    assert chart_axes(at) == [("x", "y")]
    index = int(expected.frame["index"].iloc[5])
    at.selectbox(key=VIEW.key("map_index")).set_value(index).run()
    assert not at.exception, at.exception[0].message
    near = expected.neighbours(index, k=8)
    captions = gallery_captions(at, f"#{int(near['index'].iloc[0])} ")
    assert [int(c.split()[0][1:]) for c in captions] == near["index"].tolist()
    # A second run beside it: two maps, two rows of neighbours.
    at.selectbox(key=VIEW.key("map_other")).set_value("tiny-b").run()
    assert not at.exception, at.exception[0].message
    assert chart_axes(at) == [("x", "y"), ("x", "y")]
    assert "Its 8 nearest neighbours for tiny-b" in texts(at)


def test_a_sweep_shows_its_heatmap_best_combination_and_curves(with_data, with_runs):
    config = tiny_run_config(with_data, epochs=3).with_overrides(train={"precision": "fp32"})
    sweep_dir = create_sweep(config, {"patience": [0, 2]}, with_runs, name="grid")
    run_sweep(sweep_dir, dataset=load_dataset(str(with_data)), device=torch.device("cpu"))
    results = results_frame(read_sweep(sweep_dir))
    at = open_page(nav.CHECKPOINTS)
    assert "grid" not in set(at.dataframe[0].value.index)  # a sweep is no run of its own
    open_tab(at, "Sweeps")
    assert chart_axes(at)[0] == ("patience", "rate")
    best = int(results["best_val_acc"].idxmax())
    assert at.selectbox(key=VIEW.key("sweep_pick")).value == best
    replayed = int(results.index[results["patience"] == 0][0])
    at.selectbox(key=VIEW.key("sweep_pick")).set_value(replayed).run()
    assert not at.exception, at.exception[0].message
    stop = results.loc[replayed, "stop_epoch"]
    if stop == stop:  # the replay stopped early: the curves end there
        assert f"it would have stopped after epoch {int(stop)}" in texts(at)
    assert chart_axes(at)[1:] == [("epoch", "acc"), ("epoch", "loss")]
    table = next(d.value for d in at.dataframe if "best_val_acc" in d.value.columns)
    assert table["patience"].tolist() == results["patience"].tolist()


def test_deleting_a_run_asks_first(with_data, with_runs):
    at = open_page(nav.CHECKPOINTS)
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

    config = tiny_run_config(with_data, epochs=3)
    prepared = prepare_run(config, with_runs, name="tiny-stopped")
    fit(prepared, control=control, callbacks=(stop_after_an_epoch,))
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


def test_without_sweeps_the_tab_links_the_train_pages_sweep_mode(with_data, with_runs):
    at = open_page(nav.CHECKPOINTS)
    open_tab(at, "Sweeps")
    assert "No sweeps in this runs folder yet" in texts(at)
    (link,) = at.get("page_link")
    assert link.proto.page == Path(nav.TRAIN.script).stem  # the Train page's address
    assert "sweep" in link.proto.label.lower() and "mode" in link.proto.label
