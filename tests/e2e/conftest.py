"""Fixtures of the browser tests: a small real data subset, the app's server started on a free
port over it, and a fresh Chromium tab (a new browser session) for every test, so each test
sets up what it needs and runs alone or in any order; a second browser (``watcher``) for the
tests of two sessions, and a server whose idle rule pauses a run between two polls.

Every tab fails its test on a browser console error, a failed request (an HTTP error or a
request that got no answer), an uncaught script error, or a request to any host but the app's:
the lab works offline, favicon and fonts included.

Skipped, with the reason, where Chromium (/usr/bin/chromium), Playwright or the real data
(CIFAR_LAB_DATA, an image folder) is missing; CI installs Chromium and sets CIFAR_LAB_DATA.
On a failure each tab's screenshot, its text and the server's log go to test-artifacts/e2e/.
"""

from __future__ import annotations

import importlib.util
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from scripts.lab_browser import (
    CHROMIUM,
    Offline,
    button,
    chromium_page,
    go_to,
    open_app,
    page_text,
    wait_until,
)
from scripts.lab_server import (
    TEST_PER_CLASS,
    TRAIN_PER_CLASS,
    LabServer,
    is_image_folder,
    make_subset,
)

_REPORTS = pytest.StashKey[dict]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, for the artifacts fixture below."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


@pytest.fixture(scope="session")
def real_data_folder() -> Path:
    """The CIFAR-10 image folder named by CIFAR_LAB_DATA; skips what it cannot run."""
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM}: apt-get install chromium")
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("browser tests need the playwright package: pip install playwright")
    value = os.environ.get("CIFAR_LAB_DATA", "").strip()
    if not value:
        pytest.skip("browser tests need CIFAR_LAB_DATA set to the CIFAR-10 image folder")
    folder = Path(value).expanduser()
    if not is_image_folder(folder):
        pytest.skip(f"CIFAR_LAB_DATA={value} is not an image folder with train/ and test/")
    return folder


@pytest.fixture(scope="session")
def data_subset(real_data_folder, tmp_path_factory) -> Path:
    """A few real images per class, copied into a temporary image folder."""
    return make_subset(
        real_data_folder, tmp_path_factory.mktemp("e2e-data"), TRAIN_PER_CLASS, TEST_PER_CLASS
    )


@pytest.fixture(scope="session")
def lab_server(data_subset, tmp_path_factory):
    """The app served by `streamlit run` over the subset, stopped at the end whatever happens."""
    server = LabServer(data_subset, tmp_path_factory.mktemp("e2e-server"))
    with server:
        yield server


# The idle server pauses a run nobody polled for this long: less than the Train page's poll
# (1.5 s), so a watched run pauses itself between two polls, as an unwatched one would.
IDLE_PAUSE_S = "1"


@pytest.fixture(scope="session")
def idle_server(data_subset, tmp_path_factory):
    """A second server whose idle rule pauses runs between two polls of the Train page."""
    server = LabServer(data_subset, tmp_path_factory.mktemp("e2e-idle-server"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CIFAR_LAB_IDLE_PAUSE_S", IDLE_PAUSE_S)
        server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def driver():
    """One Playwright for every browser of the session (its sync API allows one at a time)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@contextmanager
def app_tab(request, driver, server: LabServer, profile: Path, name: str):
    """A Chromium (its own profile: a browser session of its own) on the app's Dataset page;
    fails the test if the tab logged an error or reached outside the app."""
    with chromium_page(profile, playwright=driver) as tab:
        offline = Offline(tab, server.url)
        try:
            open_app(tab, server.url)
        except Exception:
            save_artifacts(request.config.rootpath, f"{name}-open_app", tab, server)
            raise
        yield tab
        reports = request.node.stash.get(_REPORTS, {})
        if any(report.failed for report in reports.values()):
            save_artifacts(request.config.rootpath, f"{request.node.name}-{name}", tab, server)
            stop_own_run(tab)
        assert not offline.problems, "\n".join(offline.problems)


def stop_own_run(tab) -> None:
    """After a failed test: stop the run this tab started, if it still trains, so it does not
    hold the training slot the next tests need."""
    try:
        go_to(tab, "Train")
        stop = button(tab, "Stop")
        if stop.is_enabled():
            stop.click()
            wait_until(lambda: button(tab, "Stop").is_disabled(), 120, "the run to stop")
    except Exception as error:  # the tab itself may be what broke
        print(f"could not stop the tab's run: {error!r}")


@pytest.fixture
def page(request, driver, lab_server, tmp_path_factory):
    """A Chromium tab on the app's Dataset page, in a fresh profile: a new session of its own,
    with every setting at its default."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    with app_tab(request, driver, lab_server, profile, "page") as tab:
        yield tab


@pytest.fixture
def watcher(request, driver, lab_server, tmp_path_factory):
    """A second browser on the app: another session, as a classmate's laptop would be."""
    profile = tmp_path_factory.mktemp("chromium-watcher")
    with app_tab(request, driver, lab_server, profile, "watcher") as tab:
        yield tab


@pytest.fixture
def idle_page(request, driver, idle_server, tmp_path_factory):
    """A Chromium tab on the idle server."""
    profile = tmp_path_factory.mktemp("chromium-idle")
    with app_tab(request, driver, idle_server, profile, "idle") as tab:
        yield tab


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where the layout tests leave their screenshots (CIFAR_LAB_SCREENSHOTS, else a folder in
    the temporary directory), to look at after a change of the UI."""
    folder = Path(
        os.environ.get("CIFAR_LAB_SCREENSHOTS", Path(tempfile.gettempdir()) / "cifar-lab-ui")
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_artifacts(root: Path, name: str, page, server: LabServer) -> None:
    """``name``.png (the whole page), .txt (its URL and text) and .server.log under
    test-artifacts/e2e/, beside the test report."""
    folder = root / "test-artifacts" / "e2e"
    folder.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    try:
        page.screenshot(path=str(folder / f"{stem}.png"), full_page=True, timeout=30_000)
    except Exception as error:  # the tab itself may be what broke
        (folder / f"{stem}.screenshot-error.txt").write_text(repr(error))
    try:
        text = page_text(page)
    except Exception as error:
        text = f"could not read the page: {error!r}"
    (folder / f"{stem}.txt").write_text(f"{page.url}\n\n{text}\n")
    (folder / f"{stem}.server.log").write_text(server.log_tail(50_000))
