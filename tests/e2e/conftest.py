"""Fixtures of the browser tests: a small real data subset, the app's server started on a free
port over it, and a fresh Chromium tab (a new browser session) for every test, so each test
sets up what it needs and runs alone or in any order.

Skipped, with the reason, where Chromium (/usr/bin/chromium), Playwright or the real data
(CIFAR_LAB_DATA, an image folder) is missing; CI installs Chromium and sets CIFAR_LAB_DATA.
On a failure the tab's screenshot, its text and the server's log go to test-artifacts/e2e/.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import pytest

from scripts.lab_browser import CHROMIUM, chromium_page, open_app, page_text
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


@pytest.fixture
def page(request, lab_server, tmp_path_factory):
    """A Chromium tab on the app's Dataset page, in a fresh profile: a new session of its own,
    with every setting at its default."""
    with chromium_page(tmp_path_factory.mktemp("chromium-profile")) as tab:
        try:
            open_app(tab, lab_server.url)
        except Exception:
            save_artifacts(request.config.rootpath, "open_app", tab, lab_server)
            raise
        yield tab


@pytest.fixture(autouse=True)
def artifacts_on_failure(request, lab_server, page):
    """After a failed test: a screenshot of the tab, its text and the server's log."""
    yield
    reports = request.node.stash.get(_REPORTS, {})
    if not any(report.failed for report in reports.values()):
        return
    save_artifacts(request.config.rootpath, request.node.name, page, lab_server)


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
