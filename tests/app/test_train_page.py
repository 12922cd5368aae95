"""Training from the Train page: a background job that outlives reruns and page switches."""

from __future__ import annotations

from app_helpers import button, open_page, poll_until, texts

from lab import runs
from ui import state


def set_up_tiny_run(at, epochs: int) -> None:
    """The narrowest cpu-fast network, small batches (8 per epoch), and a patience that never
    stops it."""
    at.select_slider(key=state.TRAIN_WIDTH).set_value(0.125)
    at.select_slider(key=state.TRAIN_BATCH_SIZE).set_value(8)
    at.slider(key=state.TRAIN_EPOCHS).set_value(epochs)
    at.slider(key=state.TRAIN_PATIENCE).set_value(30)
    at.run()


def epochs_in_table(at) -> int:
    """Rows of the live epoch table (0 before the first epoch ends)."""
    # Not the model-anatomy table, which has a "layer" column.
    tables = [table.value for table in at.dataframe if "layer" not in table.value.columns]
    return len(tables[0]) if tables else 0


def test_a_run_started_on_the_train_page_survives_a_page_switch(with_data, empty_runs):
    at = open_page("app_pages/3_train.py")
    set_up_tiny_run(at, epochs=6)
    button(at, "Start").click().run()
    assert not at.exception and not at.error, texts(at)
    assert button(at, "Start").disabled and at.slider(key=state.TRAIN_EPOCHS).disabled

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
    assert len(at.get("vega_lite_chart")) == 3  # loss, accuracy and per-batch loss

    at.switch_page("app_pages/1_dataset.py").run()
    assert "Training" in texts(at) or "Finished" in texts(at)  # the sidebar's status
    at.switch_page("app_pages/3_train.py").run()
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
    assert at.selectbox(key=state.CKPT_DETAIL).value == run_dir.name


def test_stop_stops_the_run_and_resume_continues_it(with_data, empty_runs):
    at = open_page("app_pages/3_train.py")
    set_up_tiny_run(at, epochs=100)
    button(at, "Start").click().run()
    poll_until(at, lambda at: epochs_in_table(at) >= 1)

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
    at = open_page("app_pages/3_train.py")
    set_up_tiny_run(at, epochs=100)
    button(at, "Start").click().run()
    poll_until(at, lambda at: epochs_in_table(at) >= 1)
    button(at, "Pause").click().run()
    assert "Paused" in texts(at)
    assert at.slider(key=state.TRAIN_EPOCHS).disabled  # a paused run can still resume
    button(at, "Resume").click().run()
    assert "Training" in texts(at)
    button(at, "Stop").click().run()


def column_holding(at, kind: str, key: str):
    """The page column that holds the widget with ``key``."""
    return next(c for c in at.columns if any(w.key == key for w in getattr(c, kind)))


def test_a_setting_the_engine_refuses_is_shown_beside_its_control_and_starts_nothing(
    with_data, empty_runs
):
    at = open_page("app_pages/3_train.py")
    at.select_slider(key=state.TRAIN_BATCH_SIZE).set_value(1024).run()
    button(at, "Start").click().run()
    assert len(at.error) == 1
    beside = column_holding(at, "select_slider", state.TRAIN_BATCH_SIZE).error
    assert "batch_size 1024 is larger than the training split" in beside[0].value
    assert not button(at, "Start").disabled
    assert not any(empty_runs.iterdir()) if empty_runs.exists() else True

    at.select_slider(key=state.TRAIN_BATCH_SIZE).set_value(16)
    at.slider(key=state.TRAIN_VAL_FRACTION).set_value(0.0).run()
    button(at, "Start").click().run()
    assert len(at.error) == 1
    beside = column_holding(at, "slider", state.TRAIN_VAL_FRACTION).error
    assert "needs a validation split" in beside[0].value


def test_two_tabs_each_start_a_run_and_the_second_waits_its_turn(with_data, empty_runs):
    first = open_page("app_pages/3_train.py")
    set_up_tiny_run(first, epochs=100)
    button(first, "Start").click().run()
    second = open_page("app_pages/3_train.py")  # another browser tab: a new session
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


def test_an_error_clears_the_moment_its_cause_is_gone(with_data, empty_runs):
    at = open_page("app_pages/3_train.py")
    at.selectbox(key=state.TRAIN_MONITOR).set_value("val_acc")
    at.slider(key=state.TRAIN_VAL_FRACTION).set_value(0.0).run()
    # Refused as soon as it is set, beside its control, before anyone presses Start.
    beside = column_holding(at, "slider", state.TRAIN_VAL_FRACTION).error
    assert len(at.error) == 1 and "needs a validation split" in beside[0].value
    assert button(at, "Start").disabled
    at.slider(key=state.TRAIN_VAL_FRACTION).set_value(0.15).run()
    assert not at.error
    assert not button(at, "Start").disabled


def test_settings_come_back_when_streamlit_drops_the_widgets(with_data, empty_runs):
    """Streamlit forgets the state of widgets a run does not draw (in a browser, the sidebar's
    polling while a run is active made it forget them all); the settings live elsewhere."""
    at = open_page("app_pages/3_train.py")
    at.slider(key=state.TRAIN_EPOCHS).set_value(3)
    at.number_input(key=state.TRAIN_SUBSET).set_value(40)
    at.text_input(key=state.TRAIN_RUN_NAME).input("kept").run()
    at.switch_page("app_pages/1_dataset.py").run()
    for key in (state.TRAIN_EPOCHS, state.TRAIN_SUBSET, state.TRAIN_RUN_NAME):
        if key in at.session_state:
            del at.session_state[key]
    at.switch_page("app_pages/3_train.py").run()
    assert not at.exception, at.exception[0].message
    assert at.slider(key=state.TRAIN_EPOCHS).value == 3
    assert at.number_input(key=state.TRAIN_SUBSET).value == 40
    assert at.text_input(key=state.TRAIN_RUN_NAME).value == "kept"
