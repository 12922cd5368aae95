"""The check every browser tab of these tests runs (``scripts.lab_browser.Offline``, armed by
tests/e2e/conftest.py): a request that fails is reported, with its status and address, and
Streamlit's own probe of a page's address on a reload is not."""

from __future__ import annotations

import pytest

from scripts.lab_browser import Offline, chromium_page, go_to, open_app, wait_title, wait_until

pytestmark = pytest.mark.e2e


def test_a_failed_request_is_reported_and_streamlits_probe_is_not(
    driver, lab_server, tmp_path_factory
):
    # A tab of its own, without the fixture's check: the 404 below must not fail this test.
    with chromium_page(tmp_path_factory.mktemp("chromium-check"), playwright=driver) as tab:
        check = Offline(tab, lab_server.url)
        open_app(tab, lab_server.url)
        go_to(tab, "Train")
        tab.reload()  # Streamlit looks for its server under /train first: two 404s
        wait_title(tab, "Train")
        assert not check.problems, check.problems
        tab.evaluate("() => fetch('/media/no-such-file.png')")
        wait_until(lambda: check.problems, 30, "the failed request to be reported")
        assert any(
            "HTTP 404" in problem and "no-such-file.png" in problem for problem in check.problems
        ), check.problems
