"""Training from the Train page: a background job that outlives reruns and page switches."""

from __future__ import annotations

import json
import re

import pyarrow
import pytest
from app_helpers import button, go_to, keyed_widget, open_page, poll_until, stored, texts

from app import nav
from app.cache import job_manager
from app.settings import config_value
from app.state.checkpoints import VIEW
from app.state.train import DEFAULT_PRESET, FORM, SWEEP, sweep_field
from app.views.train import format_duration, tools
from app.views.train.form import SHOWN
from lab import jobs, runs
from lab.config import SETTINGS, ModelConfig
from lab.fit import fit
from lab.launch import prepare_run
from lab.lenses import insight
from lab.presets import PRESETS, preset_config
from lab.runs import list_runs, read_history
from lab.sweep import APP_SWEPT, TRAINED, format_values, values_around


def set_up_tiny_run(at, epochs: int) -> None:
    """The narrowest cpu-fast network, small batches (8 per epoch), and a patience that never
    stops it."""
    at.select_slider(key=FORM.key("width")).set_value(0.125)
    at.select_slider(key=FORM.key("batch_size")).set_value(8)
    at.slider(key=FORM.key("epochs")).set_value(epochs)
    at.slider(key=FORM.key("patience")).set_value(30)
    at.run()


def epochs_in_table(at) -> int:
    """Rows of the live epoch table (0 before the first epoch ends)."""
    # Not the model-anatomy table, which has a "layer" column.
    tables = [table.value for table in at.dataframe if "layer" not in table.value.columns]
    return len(tables[0]) if tables else 0


@pytest.mark.slow
def test_a_run_started_on_the_train_page_survives_a_page_switch(with_data, empty_runs):
    at = open_page(nav.TRAIN)
    set_up_tiny_run(at, epochs=6)
    button(at, "Start").click().run()
    assert not at.exception and not at.error, texts(at)
    assert button(at, "Start").disabled and at.slider(key=FORM.key("epochs")).disabled

    seen, progress = [], []

    def poll(at) -> int:
        progress.append(at.get("progress")[0].proto.text)
        seen.append(epochs_in_table(at))
        return seen[-1]

    poll_until(at, lambda at: poll(at) >= 2, interval=0.05)
    poll_until(at, lambda at: poll(at) > seen[-2] >= 2, interval=0.05)
    assert seen == sorted(seen) and len(set(seen)) >= 2  # the history grew from poll to poll
    assert any("images/s" in text and "ETA" in text for text in progress), progress
    assert "Patience used" in texts(at)
    assert all(metric.proto.help for metric in at.metric)  # every number says what it is
    (table,) = [t for t in at.dataframe if "val_acc" in t.value.columns]
    explained = {
        name for name, column in json.loads(table.proto.columns).items() if "help" in column
    }
    assert explained == set(table.value.columns) - {"epoch"}  # and so does every column
    assert len(at.get("vega_lite_chart")) == 3  # loss, accuracy and per-batch loss

    go_to(at, nav.DATASET)
    assert "Training" in texts(at) or "Finished" in texts(at)  # the sidebar's status
    go_to(at, nav.TRAIN)
    assert "Training" in texts(at) or "Finished" in texts(at)
    assert epochs_in_table(at) >= seen[-1]
    (run_dir,) = [path for path in empty_runs.iterdir() if path.is_dir()]
    assert (run_dir / runs.BEST).exists() and (run_dir / runs.LAST).exists()

    poll_until(at, lambda at: "Finished" in texts(at))
    reason = runs.read_metrics(run_dir)["reason"]
    assert f"Run `{run_dir.name}` {reason}" in at.success[0].value
    assert not button(at, "Start").disabled
    button(at, f"Open `{run_dir.name}` on the Checkpoints page").click().run()
    assert at.title[0].value == "Checkpoints"
    assert at.selectbox(key=VIEW.key("detail")).value == run_dir.name


def training_for_an_epoch():
    """A tab whose tiny 100-epoch run has finished its first epoch."""
    at = open_page(nav.TRAIN)
    set_up_tiny_run(at, epochs=100)
    button(at, "Start").click().run()
    return poll_until(at, lambda at: epochs_in_table(at) >= 1)


@pytest.mark.slow
def test_stop_stops_the_run_and_resume_continues_it(with_data, empty_runs):
    at = training_for_an_epoch()

    button(at, "Stop").click().run()
    poll_until(at, lambda at: "You stopped run" in texts(at))
    stopped_at = epochs_in_table(at)
    assert not button(at, "Resume").disabled and not button(at, "Start").disabled
    at.run()
    assert epochs_in_table(at) == stopped_at

    button(at, "Resume").click().run()
    assert button(at, "Stop").disabled is False and button(at, "Start").disabled
    poll_until(at, lambda at: epochs_in_table(at) >= stopped_at + 2)
    button(at, "Stop").click().run()
    poll_until(at, lambda at: "You stopped run" in texts(at))
    (run_dir,) = [path for path in empty_runs.iterdir() if path.is_dir()]
    epochs = runs.read_history(run_dir)["epoch"].tolist()
    assert epochs == list(range(1, len(epochs) + 1)) and len(epochs) >= stopped_at + 2


def test_pause_holds_and_resume_releases_the_run(with_data, empty_runs):
    at = training_for_an_epoch()
    button(at, "Pause").click().run()
    assert "Paused" in texts(at)
    assert at.slider(key=FORM.key("epochs")).disabled  # a paused run can still resume
    button(at, "Resume").click().run()
    assert "Training" in texts(at)
    button(at, "Stop").click().run()


def column_holding(at, kind: str, key: str):
    """The page column that holds the widget with ``key``."""
    return next(c for c in at.columns if any(w.key == key for w in getattr(c, kind)))


def test_a_setting_the_data_refuses_is_shown_beside_its_control_and_starts_nothing(
    with_data, empty_runs
):
    at = open_page(nav.TRAIN)
    at.select_slider(key=FORM.key("batch_size")).set_value(1024).run()
    assert len(at.error) == 1
    beside = column_holding(at, "select_slider", FORM.key("batch_size")).error
    assert "batch_size 1024 is larger than the training split" in beside[0].value
    assert button(at, "Start").disabled
    assert not empty_runs.exists() or not any(empty_runs.iterdir())

    at.select_slider(key=FORM.key("batch_size")).set_value(16)
    at.number_input(key=FORM.key("subset")).set_value(100).run()
    beside = column_holding(at, "number_input", FORM.key("subset")).error
    assert len(at.error) == 1 and "subset 100 is larger than the training split" in beside[0].value


def test_an_error_clears_the_moment_its_cause_is_gone(with_data, empty_runs):
    at = open_page(nav.TRAIN)
    at.selectbox(key=FORM.key("monitor")).set_value("val_acc")
    at.select_slider(key=FORM.key("val_fraction")).set_value(0.0).run()
    # Refused as soon as it is set, beside its control, before anyone presses Start.
    beside = column_holding(at, "select_slider", FORM.key("val_fraction")).error
    assert len(at.error) == 1 and "needs a validation split" in beside[0].value
    assert button(at, "Start").disabled
    # (0.1: a larger share would leave fewer training images than the batch of 64)
    at.select_slider(key=FORM.key("val_fraction")).set_value(0.1).run()
    assert not at.error
    assert not button(at, "Start").disabled


def test_a_refused_start_is_reported_until_the_form_changes(with_data, empty_runs):
    """What only Start can find out (here: a run folder that cannot be made) stays beside the
    buttons while the form still holds what was refused."""
    empty_runs.parent.mkdir(parents=True, exist_ok=True)
    empty_runs.write_text("a file where the runs folder should be")
    at = open_page(nav.TRAIN)
    button(at, "Start").click().run()
    assert len(at.error) == 1 and "is a file, not a folder" in at.error[0].value
    at.run()
    assert len(at.error) == 1
    at.slider(key=FORM.key("epochs")).set_value(3).run()
    assert not at.error


def test_the_preset_sets_every_setting_and_the_controls_follow_the_declaration(
    with_data, empty_runs
):
    at = open_page(nav.TRAIN)
    at.selectbox(key=FORM.key("preset")).set_value("notebook").run()
    expected = preset_config("notebook").settings()
    for key in SHOWN:
        setting = SETTINGS[key]
        control = keyed_widget(at, FORM.key(key))
        assert control.label == setting.spec.label
        assert control.help == setting.describe(control=True)
        assert config_value(setting, control.value) == expected[key], key
    # width is for the CIFAR-native models: offered, but not for the notebook's alexnet
    assert at.select_slider(key=FORM.key("width")).disabled
    at.selectbox(key=FORM.key("model")).set_value("alexnet_cifar").run()
    assert not at.select_slider(key=FORM.key("width")).disabled


def test_the_preset_box_says_what_every_preset_is_for(with_data, empty_runs):
    at = open_page(nav.TRAIN)
    box = at.selectbox(key=FORM.key("preset"))
    assert tuple(box.options) == tuple(PRESETS)
    assert all(f"{name}: {preset.description}." in box.help for name, preset in PRESETS.items())


def test_a_watched_run_shows_its_settings_locked_then_the_users_own(with_data, empty_runs):
    owner = open_page(nav.TRAIN)
    set_up_tiny_run(owner, epochs=100)
    owner.text_input(key=FORM.key("name")).input("owned").run()
    button(owner, "Start").click().run()

    watcher = open_page(nav.TRAIN)  # another browser, with settings of its own
    watcher.slider(key=FORM.key("epochs")).set_value(7)
    watcher.text_input(key=FORM.key("name")).input("mine").run()
    next(b for b in watcher.button if b.label.startswith("Watch owned")).click().run()
    epochs = watcher.slider(key=FORM.key("epochs"))
    name = watcher.text_input(key=FORM.key("name"))
    assert (epochs.value, name.value) == (100, "owned") and epochs.disabled and name.disabled
    assert epochs.help == SETTINGS["epochs"].describe(control=True)  # kept while locked

    button(owner, "Stop").click().run()
    poll_until(watcher, lambda at: "The session that started it stopped run" in texts(at))
    epochs = watcher.slider(key=FORM.key("epochs"))
    name = watcher.text_input(key=FORM.key("name"))
    assert (epochs.value, name.value) == (7, "mine") and not epochs.disabled


@pytest.mark.slow
def test_two_tabs_each_start_a_run_and_the_second_waits_its_turn(with_data, empty_runs):
    first = open_page(nav.TRAIN)
    set_up_tiny_run(first, epochs=100)
    button(first, "Start").click().run()
    second = open_page(nav.TRAIN)  # another browser tab: a new session
    set_up_tiny_run(second, epochs=2)
    button(second, "Start").click().run()
    assert "position 1 in the queue" in second.get("progress")[0].proto.text
    assert "position 1 in the queue" in texts(second)  # the sidebar says it too
    folders = sorted(path.name for path in empty_runs.iterdir())
    assert len(folders) == 2  # never the same run folder

    poll_until(first, lambda at: epochs_in_table(at) >= 1)
    assert "position 1 in the queue" in texts(second.run())  # still waiting
    button(first, "Stop").click().run()
    poll_until(second, lambda at: "Finished" in texts(at))
    assert all((empty_runs / name / runs.LAST).exists() for name in folders)


def test_settings_survive_a_page_switch(with_data, empty_runs):
    at = open_page(nav.TRAIN)
    at.slider(key=FORM.key("epochs")).set_value(7).run()
    go_to(at, nav.DATASET)
    go_to(at, nav.TRAIN)
    assert at.slider(key=FORM.key("epochs")).value == 7


def test_settings_come_back_when_streamlit_drops_the_widgets(with_data, empty_runs):
    """Streamlit forgets the state of widgets a run does not draw (in a browser, the sidebar's
    polling while a run is active made it forget them all); the settings live elsewhere."""
    at = open_page(nav.TRAIN)
    at.slider(key=FORM.key("epochs")).set_value(3)
    at.number_input(key=FORM.key("subset")).set_value(40)
    at.text_input(key=FORM.key("name")).input("kept").run()
    go_to(at, nav.DATASET)
    for key in (FORM.key("epochs"), FORM.key("subset"), FORM.key("name")):
        if key in at.session_state:
            del at.session_state[key]
    go_to(at, nav.TRAIN)
    assert not at.exception, at.exception[0].message
    assert at.slider(key=FORM.key("epochs")).value == 3
    assert at.number_input(key=FORM.key("subset")).value == 40
    assert at.text_input(key=FORM.key("name")).value == "kept"


def test_the_train_page_shows_the_model_anatomy(with_data, empty_runs):
    at = open_page(nav.TRAIN)
    model = at.selectbox(key=FORM.key("model")).value
    width = at.select_slider(key=FORM.key("width")).value
    expected = insight.model_anatomy(ModelConfig(name=model, width=width), None, 3)
    (parameters,) = [m.value for m in at.metric if m.label == "Parameters"]
    assert parameters == f"{expected.params:,}"
    at.selectbox(key=FORM.key("model")).set_value("alexnet")
    at.select_slider(key=FORM.key("anatomy_size")).set_value(32).run()
    assert not at.exception, at.exception[0].message
    assert any("alexnet needs input images of at least" in e.value for e in at.error)


def test_the_lr_finder_plots_the_informative_range_and_says_which_rate_it_sets(
    with_data, empty_runs, monkeypatch
):
    monkeypatch.setattr(tools, "LR_FINDER_STEPS", 20)  # enough to suggest, and quick
    at = open_page(nav.TRAIN)
    at.select_slider(key=FORM.key("batch_size")).set_value(16)
    at.select_slider(key=FORM.key("width")).set_value(0.125).run()
    button(at, "Find a learning rate").click().run()
    assert not at.exception, at.exception[0].message
    result = stored(at, FORM)["lr_finder"][1]
    frame, (low, high) = result.informative_view()

    (chart,) = at.get("vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    loss_layers = [layer for layer in spec["layer"] if layer["encoding"].get("y", {}).get("field")]
    assert {layer["encoding"]["y"]["field"] for layer in loss_layers} == {"loss", "smoothed"}
    for layer in loss_layers:  # the capped axis, not the exploding last steps
        assert layer["encoding"]["y"]["scale"]["domain"] == [low, high]
    tables = [pyarrow.ipc.open_stream(data.data.data).read_all() for data in chart.proto.datasets]
    (curve,) = [table for table in tables if "smoothed" in table.column_names]
    assert curve.num_rows == len(frame) <= len(result.lrs)  # the steps past divergence left out
    marked = [layer for layer in spec["layer"] if layer["mark"]["type"] == "rule"]
    assert marked, "the suggestion is marked"

    suggested = result.suggestion.lr
    chosen = SETTINGS["lr"].nearest_option(suggested)
    said = f"{tools.format_rate(suggested)} snapped to {tools.format_rate(chosen)}"
    assert said in texts(at)
    button(at, f"Use {tools.format_rate(chosen)}").click().run()
    assert not at.exception, at.exception[0].message
    assert at.select_slider(key=FORM.key("lr")).value == chosen
    assert f"The Learning rate slider is at {tools.format_rate(chosen)}" in texts(at)
    assert button(at, f"Use {tools.format_rate(chosen)}").disabled


def test_a_queued_run_stopped_before_it_trained_leaves_no_trace(with_data, empty_runs):
    first = open_page(nav.TRAIN)
    set_up_tiny_run(first, epochs=100)
    button(first, "Start").click().run()
    second = open_page(nav.TRAIN)
    set_up_tiny_run(second, epochs=2)
    second.text_input(key=FORM.key("name")).input("waiting").run()
    button(second, "Start").click().run()
    assert "position 1 in the queue" in second.get("progress")[0].proto.text
    assert (empty_runs / "waiting").is_dir()

    button(second, "Stop").click().run()
    assert not second.exception, second.exception[0].message
    (progress,) = second.get("progress")
    assert "Preparing" not in progress.proto.text and "Cancelled" in progress.proto.text
    assert "cancelled before it started" in texts(second)
    assert button(second, "Resume").disabled and button(second, "Stop").disabled
    assert not button(second, "Start").disabled
    assert not (empty_runs / "waiting").exists()
    assert not any(b.label.startswith("Open `waiting`") for b in second.button)


def test_a_run_of_another_session_is_shown_read_only(with_data, empty_runs):
    """AppTest gives every session one id, so the other session's run is submitted as the
    job manager gets it from a second browser (the e2e journey drives two browsers)."""
    config = preset_config("cpu-fast", str(with_data)).with_overrides(
        model={"width": 0.125}, train={"epochs": 100, "batch_size": 8, "patience": 30}
    )
    job_manager().submit(config, empty_runs, name="theirs", owner="another-browser-session")
    at = open_page(nav.TRAIN)
    watch = button(at, "Watch theirs (training)")
    assert "read-only" in watch.help
    watch.click().run()
    assert not at.exception, at.exception[0].message
    assert "`theirs` was started in another browser session" in texts(at)
    assert "watching: started in another browser session" in texts(at)  # the sidebar too
    for label in ("Pause", "Resume", "Stop"):
        assert button(at, label).disabled, label
        assert "only that session can pause, resume or stop it" in button(at, label).help
    assert button(at, "Start").disabled  # the form shows the watched run, locked


def test_the_watcher_is_told_when_the_owner_stops_the_run(with_data, empty_runs):
    config = preset_config("cpu-fast", str(with_data)).with_overrides(
        model={"width": 0.125}, train={"epochs": 100, "batch_size": 8, "patience": 30}
    )
    manager = job_manager()
    job_id = manager.submit(config, empty_runs, name="theirs", owner="another-browser-session")
    assert manager.wait(job_id, 60, states=frozenset({jobs.RUNNING})) == jobs.RUNNING
    at = open_page(nav.TRAIN)
    button(at, "Watch theirs (training)").click().run()
    manager.stop(job_id, by="another-browser-session")
    assert manager.wait(job_id, 60) == jobs.STOPPED
    at.run()
    assert not at.exception, at.exception[0].message
    assert "The session that started it stopped run `theirs`" in texts(at)


def test_a_run_paused_by_the_idle_rule_says_so_and_how_to_resume(
    with_data, empty_runs, monkeypatch
):
    manager = job_manager()
    at = training_for_an_epoch()
    monkeypatch.setattr(manager, "idle_pause_s", 0.5)  # nobody polls this tab meanwhile
    (snap,) = [s for s in manager.jobs() if s.active]
    assert manager.wait(snap.job_id, 60, states=frozenset({jobs.PAUSED})) == jobs.PAUSED
    monkeypatch.setattr(manager, "idle_pause_s", 600.0)
    at.run()
    (warning,) = [w.value for w in at.warning]
    assert warning.startswith("Paused automatically: nobody watched it for 0 s")
    assert "Press **Resume** to go on where it was" in warning
    assert not button(at, "Resume").disabled and button(at, "Pause").disabled
    button(at, "Resume").click().run()
    assert "Training" in texts(at) and not at.warning


def tiny_sweep(epochs: int, lrs: str, patience: str = "2, 5"):
    """A Train page in the sweep mode: a tiny run (see ``set_up_tiny_run``) per learning rate
    of ``lrs``, and the ``patience`` values."""
    at = open_page(nav.TRAIN)
    set_up_tiny_run(at, epochs)
    at.segmented_control(key=FORM.key("mode")).set_value(SWEEP).run()
    at.text_input(key=FORM.key("sweep_lr")).input(lrs)
    at.text_input(key=FORM.key("sweep_patience")).input(patience)
    return at.run()


def sweep_plan(at) -> str:
    """The sweep's plan: its size and how long it should take."""
    (plan,) = [i.value for i in at.info if "combinations" in i.value]
    return plan


@pytest.mark.slow
def test_a_sweep_shows_its_size_and_runs_every_combination_in_the_background(with_data, empty_runs):
    at = tiny_sweep(epochs=2, lrs="1e-3, 3e-3", patience="0, 1")
    assert not at.exception and not at.error, texts(at)
    plan = sweep_plan(at)
    assert "4 combinations from 2 trained runs" in plan
    assert "patience 0 is replayed from its history (no retraining)" in plan
    assert "no speed to estimate the time from" in plan  # no run has trained here yet

    at.text_input(key=FORM.key("name")).input("grid").run()
    button(at, "Start").click().run()
    assert not at.exception and not at.error, texts(at)
    assert at.text_input(key=FORM.key("sweep_lr")).disabled
    assert at.text_input(key=FORM.key("sweep_lr")).value == "0.001, 0.003"
    poll_until(at, lambda at: "Sweep `grid` finished" in texts(at))
    table = next(t.value for t in at.dataframe if "stop_epoch" in t.value.columns)
    assert list(zip(table["lr"], table["patience"], strict=True)) == [
        (1e-3, 0),
        (1e-3, 1),
        (3e-3, 0),
        (3e-3, 1),
    ]
    assert (empty_runs / "grid" / "sweep.json").is_file()


def test_a_sweep_is_timed_by_the_speed_runs_of_its_model_reached_here(with_data, with_runs):
    at = tiny_sweep(epochs=3, lrs="1e-3, 2e-3, 3e-3")  # width 0.125, as the trained runs
    # They trained batches of 16, not 8: a batch size changes the speed as much as a width.
    assert "no speed to estimate the time from" in sweep_plan(at)
    at.select_slider(key=FORM.key("batch_size")).set_value(16).run()
    newest = max(list_runs(with_runs), key=lambda run: run.modified)
    speed = read_history(newest.path)["images_per_s"].median()
    plan = sweep_plan(at)
    match = re.search(r"3 × 3 epochs of ([\d,]+) images at ([\d,]+) images/s", plan)
    assert match, plan
    assert match.group(2) == f"{speed:,.0f}"
    seconds = 3 * 3 * int(match.group(1).replace(",", "")) / speed
    assert f"At most about {format_duration(seconds)}" in plan


@pytest.mark.slow
def test_a_sweep_is_not_timed_by_runs_of_the_same_model_at_another_width(with_data, empty_runs):
    config = preset_config("cpu-1min", str(with_data)).with_overrides(
        model={"width": 0.75}, train={"epochs": 1, "batch_size": 8, "progressive_from": 0}
    )
    fit(prepare_run(config, empty_runs, name="whitened-0.75"))
    at = tiny_sweep(epochs=3, lrs="1e-3, 2e-3")
    at.selectbox(key=FORM.key("model")).set_value("alexnet_whitened").run()
    at.select_slider(key=FORM.key("width")).set_value(0.25).run()
    plan = sweep_plan(at)
    assert "no speed to estimate the time from" in plan  # 0.75 trains 3x slower than 0.25
    at.select_slider(key=FORM.key("width")).set_value(0.75).run()
    plan = sweep_plan(at)
    assert "images/s (measured here)" in plan


def test_a_sweep_is_not_timed_by_runs_that_trained_on_smaller_images(with_data, empty_runs):
    config = preset_config("cpu-1min", str(with_data)).with_overrides(
        model={"width": 0.25}, train={"epochs": 3, "batch_size": 8, "progressive_from": 16}
    )
    fit(prepare_run(config, empty_runs, name="progressive"))
    at = tiny_sweep(epochs=3, lrs="1e-3, 2e-3")
    at.selectbox(key=FORM.key("model")).set_value("alexnet_whitened").run()
    at.select_slider(key=FORM.key("width")).set_value(0.25).run()
    plan = sweep_plan(at)
    assert "no speed to estimate the time from" in plan  # its 16 px epochs train 3x faster
    at.select_slider(key=FORM.key("progressive_from")).set_value(16).run()
    plan = sweep_plan(at)
    assert "images/s (measured here)" in plan


def test_a_sweep_plan_shows_a_setting_switched_off_in_its_declared_words(with_data, empty_runs):
    at = tiny_sweep(epochs=3, lrs="1e-3, 2e-3")
    at.select_slider(key=FORM.key("progressive_from")).set_value(0).run()
    plan = sweep_plan(at)
    assert "progressive resizing off" in plan, plan
    assert "0 px" not in plan


def offered(preset: str) -> dict[str, str]:
    """What the sweep boxes hold for ``preset``: the values around its own, by setting."""
    config = preset_config(preset)
    return {key: format_values(values_around(config, key)) for key in APP_SWEPT}


def sweep_boxes(at) -> dict[str, str]:
    return {key: at.text_input(key=FORM.key(sweep_field(key))).value for key in APP_SWEPT}


def test_the_sweep_boxes_hold_values_around_the_preset_and_follow_a_new_one(with_data, empty_runs):
    at = open_page(nav.TRAIN)
    at.segmented_control(key=FORM.key("mode")).set_value(SWEEP).run()
    assert sweep_boxes(at) == offered(DEFAULT_PRESET)
    at.selectbox(key=FORM.key("preset")).set_value("cpu-1min").run()
    assert sweep_boxes(at) == offered("cpu-1min")
    assert sweep_boxes(at)["lr"] == "0.375, 0.75, 1.5"  # not Adam's 1e-3 for Nesterov SGD
    at.selectbox(key=FORM.key("preset")).set_value("notebook").run()
    assert sweep_boxes(at) == offered("notebook")
    assert not at.exception and not at.error, texts(at)


def test_a_sweep_value_the_user_typed_is_kept_when_the_preset_changes(with_data, empty_runs):
    at = open_page(nav.TRAIN)
    at.segmented_control(key=FORM.key("mode")).set_value(SWEEP).run()
    typed, *others = APP_SWEPT
    at.text_input(key=FORM.key(sweep_field(typed))).input("1, 2").run()
    for preset in ("cpu-1min", "notebook"):
        at.selectbox(key=FORM.key("preset")).set_value(preset).run()
        boxes = sweep_boxes(at)
        assert boxes[typed] == "1, 2"
        assert all(boxes[key] == offered(preset)[key] for key in others)


def test_a_sweep_offers_the_one_minute_preset_and_its_rates(with_data, empty_runs):
    at = tiny_sweep(epochs=2, lrs="1e-3, 3e-3")
    assert not at.exception
    offer = button(at, "Use the one-minute preset (cpu-1min)")
    assert PRESETS["cpu-1min"].description in offer.help  # as the preset declares it
    offer.click().run()
    assert not at.exception, at.exception[0].message
    assert at.selectbox(key=FORM.key("preset")).value == "cpu-1min"
    assert at.selectbox(key=FORM.key("model")).value == "alexnet_whitened"
    # Every box holds the values around the preset's own, the typed ones too.
    assert sweep_boxes(at) == offered("cpu-1min")
    assert not [b for b in at.button if b.label.startswith("Use the one-minute preset")]
    at.select_slider(key=FORM.key("batch_size")).set_value(8).run()  # the tiny data's size
    plan = sweep_plan(at)
    assert "9 combinations from 3 trained runs" in plan


def test_the_sweep_mode_takes_several_values_of_the_settings_lab_names_for_it(
    with_data, empty_runs
):
    at = open_page(nav.TRAIN)
    at.segmented_control(key=FORM.key("mode")).set_value(SWEEP).run()
    several = {box.key: box for box in at.text_input if box.label.endswith("(several)")}
    assert set(several) == {FORM.key(sweep_field(key)) for key in APP_SWEPT}
    for key in APP_SWEPT:  # a trained setting trains a run per value, patience is replayed
        trains = "one run trains for each" in several[FORM.key(sweep_field(key))].help
        assert trains is (key in TRAINED), key


def test_a_sweep_value_that_is_refused_is_shown_beside_its_box(with_data, empty_runs):
    at = open_page(nav.TRAIN)
    at.segmented_control(key=FORM.key("mode")).set_value(SWEEP).run()
    at.text_input(key=FORM.key("sweep_patience")).input("2, x").run()
    beside = column_holding(at, "text_input", FORM.key("sweep_patience")).error
    assert len(at.error) == 1 and "not a list of int values" in beside[0].value
    assert button(at, "Start").disabled
    at.text_input(key=FORM.key("sweep_patience")).input("2, 5").run()
    assert not at.error and not button(at, "Start").disabled


def test_a_sweep_is_stopped_as_a_whole_and_resumes(with_data, empty_runs):
    at = tiny_sweep(epochs=100, lrs="1e-3, 3e-3")
    at.text_input(key=FORM.key("name")).input("halted").run()
    button(at, "Start").click().run()
    poll_until(at, lambda at: epochs_in_table(at) >= 1)
    assert "run 1 of 2 (lr0.001-bs8-ep100)" in at.get("progress")[0].proto.text
    button(at, "Stop").click().run()
    poll_until(at, lambda at: "You stopped sweep `halted` after 0 of 2 runs" in texts(at))
    assert not button(at, "Resume").disabled and button(at, "Stop").disabled
    assert not (empty_runs / "halted" / "lr0.003-bs8-ep100").exists()  # nothing more trained
    button(at, "Resume").click().run()
    assert "Training" in texts(at) or "Queued" in texts(at)
    button(at, "Stop").click().run()
