"""A class on one server: each browser's key in the page address (its runs stay its own and its
settings come back after a reload), the classmates' runs on the Train page, and server paths
named from their roots when the lab is served beyond localhost.

Each AppTest is a browser of its own here: it gets a key of its own on its first run, and a
reload is a new AppTest given the same address (the key in its query parameters).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from app_helpers import button, go_to, new_app, open_page, open_tab, texts
from streamlit import config
from streamlit.testing.v1 import AppTest

from app import nav, serving
from app.cache import job_manager
from app.state import browser, source
from app.state.checkpoints import TABS, VIEW
from app.state.train import DEFAULT_PRESET, FORM, preset_values
from lab import jobs, runs
from lab.paths import ROOTS_ENV
from lab.presets import preset_config

KEY = browser.KEY_PARAM


def reopened(at: AppTest, page) -> AppTest:
    """The same browser after a reload: a new session on the address ``at`` shows."""
    again = new_app()
    again.query_params[KEY] = at.query_params[KEY]
    again.run()
    return go_to(again, page)


def every_text(at: AppTest) -> str:
    """What the page shows, the values of its text boxes included."""
    return texts(at) + "\n" + "\n".join(str(box.value) for box in at.text_input)


def test_a_browser_gets_a_key_in_its_address_that_stays_and_no_page_shows(with_data, empty_runs):
    at = open_page(nav.DATASET)
    key = at.query_params[KEY]
    assert browser.KEY_FORM.fullmatch(key)
    for page in nav.PAGES:  # a page switch clears the address's parameters: the key comes back
        go_to(at, page)
        assert at.query_params[KEY] == key, page.title
        assert key not in every_text(at), page.title
    assert open_page(nav.DATASET).query_params[KEY] != key  # another browser, another key


@pytest.mark.parametrize("given", ["", "short", "x" * 31 + "!", "a" * 40])
def test_an_address_with_a_key_the_lab_never_makes_gets_a_new_one(with_data, empty_runs, given):
    at = new_app()
    at.query_params[KEY] = given
    at.run()
    assert at.query_params[KEY] != given and browser.KEY_FORM.fullmatch(at.query_params[KEY])


def test_a_reload_brings_back_the_train_forms_settings_and_the_name(with_data, empty_runs):
    at = open_page(nav.TRAIN)
    at.sidebar.text_input(key=browser.STUDENT.key("name")).input("  Ada **Lovelace** ").run()
    at.slider(key=FORM.key("epochs")).set_value(7).run()
    at.text_input(key=FORM.key("name")).input("adas-run").run()
    again = reopened(at, nav.TRAIN)
    assert again.slider(key=FORM.key("epochs")).value == 7
    assert again.text_input(key=FORM.key("name")).value == "adas-run"
    assert again.sidebar.text_input(key=browser.STUDENT.key("name")).value == "Ada Lovelace"
    fresh = open_page(nav.TRAIN)  # another browser has the preset's settings and no name
    assert fresh.slider(key=FORM.key("epochs")).value == preset_values(DEFAULT_PRESET)["epochs"]
    assert fresh.sidebar.text_input(key=browser.STUDENT.key("name")).value == ""


def tiny_long_run(at: AppTest) -> None:
    """The narrowest cpu-fast network, small batches, epochs and patience it never reaches."""
    at.select_slider(key=FORM.key("width")).set_value(0.125)
    at.select_slider(key=FORM.key("batch_size")).set_value(8)
    at.slider(key=FORM.key("epochs")).set_value(100)
    at.slider(key=FORM.key("patience")).set_value(30)
    at.run()


def test_a_run_stays_its_browsers_after_a_reload_and_no_other_browser_controls_it(
    with_data, empty_runs
):
    at = open_page(nav.TRAIN)
    at.sidebar.text_input(key=browser.STUDENT.key("name")).input("Ada").run()
    tiny_long_run(at)
    button(at, "Start").click().run()
    # The server's job manager outlives a test: only this test's runs folder is its own.
    (snap,) = [job for job in job_manager().jobs() if job.run_dir.parent == empty_runs]
    assert snap.owner == at.query_params[KEY] and snap.owner_name == "Ada"
    # Pause is offered to a running job (a queued one can only be stopped): on a busy suite the
    # run may wait in the queue for a moment first.
    running = frozenset({jobs.RUNNING})
    assert job_manager().wait(snap.job_id, 60, states=running) == jobs.RUNNING

    again = reopened(at, nav.TRAIN)
    assert not again.exception, again.exception[0].message
    assert "another browser session" not in texts(again)
    assert not button(again, "Pause").disabled and not button(again, "Stop").disabled

    other = open_page(nav.TRAIN)
    assert button(other, "Pause").disabled and button(other, "Stop").disabled
    button(again, "Stop").click().run()
    assert job_manager().wait(snap.job_id, 60) == jobs.STOPPED


def test_the_train_page_names_a_classmates_run_and_opens_it_read_only(with_data, empty_runs):
    config = preset_config("cpu-fast", str(with_data)).with_overrides(
        model={"width": 0.125}, train={"epochs": 100, "batch_size": 8, "patience": 30}
    )
    manager = job_manager()
    job_id = manager.submit(config, empty_runs, name="graces", owner="k", owner_name="Grace")
    assert manager.wait(job_id, 60, states=frozenset({jobs.RUNNING})) == jobs.RUNNING
    at = open_page(nav.TRAIN)
    line = next(m.value for m in at.markdown if "`graces`" in m.value)
    assert line.startswith("**Grace** · `graces` · Training · epoch ")
    opener = at.button(key=f"classmate-{job_id}")
    assert opener.label == "Open"
    opener.click().run()
    assert not at.exception, at.exception[0].message
    assert "`graces` was started in another browser session" in texts(at)
    assert any(metric.label == "State" for metric in at.metric)
    assert button(at, "Pause").disabled and button(at, "Stop").disabled  # only the form's own
    assert not button(at, "Start").disabled  # this browser may still start a run of its own
    at.button(key=f"classmate-{job_id}").click().run()  # now "Close"
    assert "`graces` was started in another browser session" not in texts(at)


@pytest.mark.parametrize(
    ("address", "beyond"),
    [("localhost", False), ("127.0.0.1", False), ("::1", False), ("0.0.0.0", True), ("", True)],
)
def test_the_lab_knows_when_it_is_served_beyond_localhost(address, beyond):
    assert serving.beyond_localhost(address) is beyond


ROOTS = (Path("/srv/lab/data"), Path("/srv/lab/runs"), Path("/srv/lab/runs/deep"), Path("/"))


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("/srv/lab/runs/run-1", "runs/run-1"),
        ("/srv/lab/runs/deep/x", "deep/x"),
        ("Using /srv/lab/runs meanwhile.", "Using runs meanwhile."),
        ("folders (/srv/lab/data, /srv/lab/runs): choose", "folders (data, runs): choose"),
        ("/srv/lab/runs2/x and /srv/lab/runs.old", "/srv/lab/runs2/x and /srv/lab/runs.old"),
        ("/etc/passwd", "/etc/passwd"),
    ],
)
def test_a_server_path_is_named_from_the_root_it_lies_in(text, shown):
    assert serving.from_roots(text, ROOTS) == shown


@pytest.mark.parametrize(
    ("typed", "path"),
    [("runs/mine", "/srv/lab/runs/mine"), ("data", "/srv/lab/data"), ("other/x", "other/x")],
)
def test_a_folder_typed_by_its_roots_name_is_the_servers_folder(typed, path):
    assert serving.to_server(typed, ROOTS) == path


@pytest.fixture
def served_to_a_class():
    """The server's address as `streamlit run --server.address 0.0.0.0` sets it."""
    before = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")
    yield
    config.set_option("server.address", before)


def test_served_beyond_localhost_the_sidebar_names_folders_from_their_roots(
    with_data, empty_runs, monkeypatch, served_to_a_class
):
    empty_runs.mkdir()
    monkeypatch.setenv(ROOTS_ENV, f"{with_data}:{empty_runs}")
    at = open_page(nav.CLASS_BOARD)
    labels = [option for radio in at.sidebar.radio for option in radio.options]
    shown = every_text(at) + "\n" + "\n".join(labels)
    assert f"CIFAR_LAB_DATA ({with_data.name})" in shown
    assert str(with_data) not in shown and str(empty_runs) not in shown
    runs_box = at.sidebar.text_input(key=source.STORE.key("runs_dir"))
    assert runs_box.value == "runs"
    runs_box.input("runs/mine").run()
    assert at.session_state[source.STORE.slot]["runs_dir"] == str(empty_runs / "mine")
    assert at.sidebar.text_input(key=source.STORE.key("runs_dir")).value == "runs/mine"
    assert "No runs in `runs/mine` yet" in texts(at)
    at.sidebar.text_input(key=source.STORE.key("runs_dir")).input("/elsewhere").run()
    (error,) = [e.value for e in at.sidebar.error]
    assert "outside the folders this lab may use" in error and str(empty_runs) not in error


def test_served_beyond_localhost_no_page_names_a_server_folder(
    with_data, with_runs, monkeypatch, served_to_a_class
):
    monkeypatch.setenv(ROOTS_ENV, f"{with_data}:{with_runs}")
    (with_runs / "tiny-b" / runs.BEST).write_bytes(b"not a checkpoint")  # errors name files

    def assert_no_server_folder(at: AppTest, where: str) -> str:
        assert not at.exception, at.exception[0].message
        shown = every_text(at)
        for folder in (with_data, with_runs):
            assert str(folder) not in shown, f"{where} shows {folder}:\n{shown}"
        return shown

    at = open_page(nav.DATASET)
    for page in nav.PAGES:
        assert_no_server_folder(go_to(at, page), page.title)
    go_to(at, nav.CHECKPOINTS)
    at.selectbox(key=VIEW.key("detail")).set_value("tiny-b").run()
    for tab in TABS:
        assert_no_server_folder(open_tab(at, tab), f"the {tab} tab of a damaged run")
    button(at, "Delete run").click().run()
    shown = assert_no_server_folder(at, "the Delete prompt")
    assert f"Delete `{with_runs.name}/tiny-b` with all its checkpoints?" in shown
    for page in (nav.CLASSIFY, nav.INSIDE):
        go_to(at, page)
        at.selectbox(key=next(s.key for s in at.selectbox if "run" in s.key)).set_value(
            "tiny-b"
        ).run()
        shown = assert_no_server_folder(at, f"{page.title} on a damaged run")
        assert f"cannot read checkpoint {with_runs.name}/tiny-b/best.pt" in shown


def test_served_on_localhost_the_sidebar_names_folders_as_they_are(with_data, empty_runs):
    at = open_page(nav.CLASS_BOARD)
    assert at.sidebar.text_input(key=source.STORE.key("runs_dir")).value == str(empty_runs)
    assert f"CIFAR_LAB_DATA ({with_data})" in at.sidebar.radio[0].options
