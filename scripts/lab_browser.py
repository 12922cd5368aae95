"""Drive CIFAR Lab in Debian's Chromium with Playwright: launching the browser, moving between
pages, waiting for the app, and reading what it shows. Shared by the end-to-end tests
(`tests/e2e`) and `scripts/screenshots.py`.

Widgets are found by their ``key`` (Streamlit puts ``st-key-<key>`` on a keyed widget's
container; the app's state modules derive the keys, as ``app.state.train.FORM.key("epochs")``),
charts by their title or axis text, and chart data is read from the ARIA labels Vega writes on
every mark (``class: cat; images: 20; split: train``), so the tests check what is drawn, not
how. ``Offline`` records what a tab must not do: log a console error, fail a request, or reach
another host.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
)
# Playwright's default for one action (a click, a fill); the waits below take their own bound.
ACTION_TIMEOUT_MS = 60_000
MAIN = '[data-testid="stMain"]'
SIDEBAR = '[data-testid="stSidebar"]'
CHART = '[data-testid="stVegaLiteChart"]'
EXCEPTION = '[data-testid="stException"]'

T = TypeVar("T")


@contextmanager
def chromium_page(
    user_data_dir: Path, width: int = 1600, height: int = 1000, playwright=None
) -> Iterator[Page]:
    """A page of a headless Chromium with a fresh profile in ``user_data_dir``. Several at once
    (two browser sessions) need one running ``playwright`` (``sync_playwright().start()``):
    its sync API allows one per thread."""
    if playwright is None:
        from playwright.sync_api import sync_playwright

        with (
            sync_playwright() as started,
            chromium_page(user_data_dir, width, height, started) as page,
        ):
            yield page
        return
    context = playwright.chromium.launch_persistent_context(
        str(user_data_dir),
        executable_path=str(CHROMIUM),
        headless=True,
        args=list(CHROMIUM_ARGS),
        viewport={"width": width, "height": height},
    )
    try:
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(ACTION_TIMEOUT_MS)
        yield page
    finally:
        context.close()


def wait_until(check: Callable[[], T], timeout_s: float, what: str, interval_s: float = 0.25) -> T:
    """Call ``check`` until it returns something truthy and return that; fail after
    ``timeout_s`` with ``what`` and the last value it returned."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout_s:.0f} s for {what}; last seen: {value!r}")
        time.sleep(interval_s)


# --- the app's state ---------------------------------------------------------------------------


def texts_of(boxes: Locator) -> list[str]:
    """The texts of every element ``boxes`` matches, read in one step: reading them one by one
    waits a minute for one that a rerun removed in between."""
    return boxes.evaluate_all("boxes => boxes.map(box => box.innerText)")


def exceptions(page: Page) -> list[str]:
    """The texts of the Streamlit exception boxes on the page (none, normally)."""
    return texts_of(page.locator(EXCEPTION))


def assert_no_exception(page: Page, where: str) -> None:
    found = exceptions(page)
    assert not found, f"Streamlit exception on {where}:\n" + "\n---\n".join(found)


def settled(page: Page) -> bool:
    """True when no element of the page is stale (left from the previous script run): the
    last rerun has drawn everything it draws."""
    return page.locator(f'{MAIN} [data-stale="true"]').count() == 0


def wait_settled(page: Page, timeout_s: float = 60) -> None:
    """Wait until two looks a moment apart find nothing stale (a rerun that starts right after
    another leaves nothing stale for an instant)."""

    def twice() -> bool:
        if not settled(page):
            return False
        time.sleep(0.3)
        return settled(page)

    wait_until(twice, timeout_s, "the page to finish its rerun")


def page_text(page: Page) -> str:
    """What the user reads: the main area, then the sidebar."""
    parts = []
    for selector in (MAIN, SIDEBAR):
        locator = page.locator(selector)
        if locator.count():
            parts.append(locator.first.inner_text())
    return "\n\n==== sidebar ====\n\n".join(parts)


# --- what a tab must not do --------------------------------------------------------------------

# Streamlit's frontend opened at a page's own address (a reload of /train) first looks for its
# server under that address, gets a 404 there and then finds it at the root
# (streamlit/streamlit#7074): Streamlit's own probe, not a request of the lab, and harmless.
BASE_PATH_PROBE = re.compile(r"/[^/?]+/_stcore/(?:health|host-config)$")


# A request the browser cancels itself (a page left, or a rerun that removed an element while
# it loaded) fails with this: nothing answered wrongly.
ABORTED = "net::ERR_ABORTED"


class Offline:
    """What a tab did that the lab must not: console errors and failed requests (but
    Streamlit's probe above), uncaught script errors, and requests to any host but the app's."""

    def __init__(self, page, url: str) -> None:
        self.page = page
        self.app = urlsplit(url).netloc
        self.problems: list[str] = []
        page.on("console", self.console)
        page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        page.on("request", lambda request: self.visit(request.url))
        page.on("websocket", lambda socket: self.visit(socket.url))
        page.on("response", self.answered)
        page.on("requestfailed", self.failed)

    def where(self) -> str:
        """The page of the app the tab is on."""
        return urlsplit(self.page.url).path

    def console(self, message) -> None:
        probe = BASE_PATH_PROBE.search(urlsplit(message.location.get("url", "")).path)
        if message.type == "error" and not probe:
            self.problems.append(
                f"console error on {self.where()}: {message.text} ({message.location})"
            )

    def answered(self, response) -> None:
        if response.status >= 400 and not BASE_PATH_PROBE.search(urlsplit(response.url).path):
            self.problems.append(
                f"request failed on {self.where()}: HTTP {response.status} for {response.url}"
            )

    def failed(self, request) -> None:
        if request.failure != ABORTED:
            self.problems.append(
                f"request failed on {self.where()}: {request.failure} for {request.url}"
            )

    def visit(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("data", "blob") and parts.netloc != self.app:
            self.problems.append(f"request to another host: {url}")


# --- moving around -----------------------------------------------------------------------------


def open_app(page: Page, url: str, title: str = "Dataset", timeout_s: float = 120) -> None:
    """Load the app (the Dataset page by default) and wait for the page's title."""
    page.goto(url)
    wait_title(page, title, timeout_s)


def wait_title(page: Page, title: str, timeout_s: float = 60) -> None:
    heading = page.locator(f"{MAIN} h1").filter(has_text=re.compile(rf"^\s*{re.escape(title)}"))
    heading.first.wait_for(timeout=timeout_s * 1000)


def go_to(page: Page, title: str, timeout_s: float = 60) -> None:
    """Switch page the way a user does, with the sidebar's navigation (the session and its
    training job stay; ``page.goto`` would open a new session)."""
    link = page.locator('[data-testid="stSidebarNavLink"]').filter(
        has_text=re.compile(rf"{re.escape(title)}\s*$")
    )
    link.first.click()
    wait_title(page, title, timeout_s)


def widget(page: Page, key: str) -> Locator:
    """The container of the widget drawn with ``key=key``."""
    return page.locator(f"{MAIN} .st-key-{key}, {SIDEBAR} .st-key-{key}").first


def slider(page: Page, key: str) -> Locator:
    """The (visually hidden) range input of a slider or select slider."""
    return widget(page, key).locator('input[type="range"]')


def selected(page: Page, key: str) -> str:
    """The option a selectbox shows."""
    return widget(page, key).locator('input[role="combobox"]').input_value()


def field(page: Page, key: str) -> Locator:
    """The input element of a keyed widget: a slider's range, a text or number box, a
    selectbox's combobox."""
    return widget(page, key).locator("input").first


def help_text(page: Page, key: str) -> str:
    """The tooltip of a keyed widget's label, as a user reads it by hovering its (?) icon;
    "" when the label has none."""
    icon = widget(page, key).locator('[data-testid="stTooltipHoverTarget"]')
    if not icon.count():
        return ""
    icon.first.hover()
    tooltip = page.locator('[data-testid="stTooltipContent"]').last
    tooltip.wait_for()
    text = tooltip.inner_text()
    page.mouse.move(0, 0)  # let the tooltip close again
    return text


def choose(page: Page, key: str, option: str, timeout_s: float = 30) -> None:
    """Pick ``option`` in a selectbox as a user does: open it, type, press Enter."""
    box = widget(page, key).locator('input[role="combobox"]')
    box.click()
    box.fill(option)
    box.press("Enter")
    wait_until(lambda: selected(page, key) == option, timeout_s, f"{key} to show {option}")


def press_slider(page: Page, key: str, *keys: str) -> str:
    """Move a slider with the keyboard (``Home``, ``End``, ``ArrowRight`` ...), as a user can,
    and return the value it shows afterwards."""
    thumb = slider(page, key)
    thumb.focus()
    for name in keys:
        thumb.press(name)
    return thumb.get_attribute("aria-valuetext") or ""


def set_slider(page: Page, key: str, value: str, timeout_s: float = 30) -> None:
    """Move a slider to the option shown as ``value`` by stepping from its start."""
    thumb = slider(page, key)
    thumb.focus()
    thumb.press("Home")
    minimum, maximum = float(thumb.get_attribute("min")), float(thumb.get_attribute("max"))
    for _ in range(int(maximum - minimum) + 1):
        if thumb.get_attribute("aria-valuetext") == value:
            break
        thumb.press("ArrowRight")
    wait_until(
        lambda: thumb.get_attribute("aria-valuetext") == value,
        timeout_s,
        f"slider {key} to show {value}",
    )


def metric(page: Page, label: str) -> str:
    """The value an ``st.metric`` with this label shows ("" while there is none)."""
    found = page.locator(f'{MAIN} [data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text=label)
    )
    if not found.count():
        return ""
    return found.first.locator('[data-testid="stMetricValue"]').inner_text().strip()


def alerts(page: Page) -> list[str]:
    """The texts of the info, success, warning and error boxes of the main area."""
    return texts_of(page.locator(f'{MAIN} [data-testid="stAlert"]'))


def button(page: Page, label: str) -> Locator:
    """A button of the main area by its label (icons are ligature text before the label)."""
    return (
        page.locator(f"{MAIN} button").filter(has_text=re.compile(rf"{re.escape(label)}\s*$")).first
    )


# --- reading charts, tables and images ----------------------------------------------------------


def charts(page: Page, text: str | None = None) -> Locator:
    """The Vega-Lite charts of the main area, optionally only those whose text (title, axis
    titles, labels) contains ``text``."""
    found = page.locator(f"{MAIN} {CHART}")
    return found.filter(has_text=text) if text else found


# The ARIA labels of one chart's marks of one kind (Vega writes each mark's data in its label).
_MARK_LABELS = """(element, role) => Array.from(element.querySelectorAll('[aria-roledescription]'))
    .filter(mark => mark.getAttribute('aria-roledescription') === role)
    .map(mark => mark.getAttribute('aria-label') || '')"""


def _parsed(labels: list[str]) -> list[dict[str, str]]:
    parsed = []
    for label in labels:
        fields = (part.partition(": ") for part in label.split("; "))
        parsed.append({name.strip(): value.strip() for name, _, value in fields})
    return parsed


def marks(chart: Locator, role: str) -> list[dict[str, str]]:
    """The data of every mark of one kind (``bar``, ``point``, ``rect mark`` ...) in a chart,
    parsed from Vega's ARIA labels: ``"class: cat; images: 20"`` -> ``{"class": "cat", ...}``."""
    return _parsed(chart.evaluate(_MARK_LABELS, role))


def line_points(chart: Locator) -> int:
    """Points on the longest line of a chart, 0 while there is no such chart (line marks carry
    one ARIA label for all their points, so this counts the vertices of the SVG path)."""
    if not chart.count():
        return 0
    return chart.first.evaluate(
        """element => Math.max(0, ...Array.from(element.querySelectorAll('.mark-line path'))
            .map(path => (path.getAttribute('d') || '').split('L').length))"""
    )


def number(text: str) -> float:
    """``"25.000000%"`` -> 0.25, ``"20"`` -> 20.0."""
    text = text.strip().replace(",", "")
    return float(text[:-1]) / 100 if text.endswith("%") else float(text)


# The rows of one st.dataframe, from the accessible table Streamlit's grid keeps in its canvas.
_TABLE_ROWS = """element => {
    const table = element.querySelector('table[role="grid"]');
    if (!table) return [];
    const headers = Array.from(table.querySelectorAll('th')).map(th => th.textContent);
    return Array.from(table.querySelectorAll('tbody tr')).map(row => {
        const cells = Array.from(row.querySelectorAll('td')).map(td => td.textContent);
        return Object.fromEntries(headers.map((name, i) => [name, cells[i]]));
    });
}"""


def tables(page: Page) -> list[list[dict[str, str]]]:
    """The rows of every ``st.dataframe`` of the main area, read in one step, as ``texts_of``
    reads texts (only the cells in view: keep the viewport wide enough)."""
    frames = page.locator(f'{MAIN} [data-testid="stDataFrame"]')
    return frames.evaluate_all(f"frames => frames.map({_TABLE_ROWS})")


def settled_images(page: Page) -> list[dict] | None:
    """The main area's images once a rerun has drawn them all and every one has loaded; None
    before (or when there is none)."""
    if not settled(page):
        return None
    shown = images(page.locator(MAIN))
    return shown if shown and all(image["loaded"] for image in shown) else None


def chart_marks(page: Page, role: str, field: str) -> list[dict[str, str]]:
    """The data of the ``role`` marks (see ``marks``) of the first chart of the main area that
    has such marks with ``field`` in their data; [] while there is none. Every chart is read in
    one step: reading them one by one waits a minute for one that a rerun removed in between."""
    per_chart = charts(page).evaluate_all(
        f"(charts, role) => charts.map(chart => ({_MARK_LABELS})(chart, role))", role
    )
    for labels in per_chart:
        found = [mark for mark in _parsed(labels) if field in mark]
        if found:
            return found
    return []


def images(scope: Locator) -> list[dict]:
    """Every ``st.image`` in ``scope``: its source URL, caption, whether it has loaded, its
    natural width and height, and the ``st.caption`` drawn right after it (``below``, with the
    text it shows on hover as ``below_title``; empty when there is none). All in one look, so a
    rerun cannot pair an image with another run's caption."""
    return scope.evaluate(
        """element => Array.from(element.querySelectorAll('[data-testid="stImage"]')).map(box => {
            const img = box.querySelector('img');
            const caption = box.querySelector('[data-testid="stImageCaption"]');
            const cell = box.closest('[data-testid="stElementContainer"]');
            const next = cell && cell.nextElementSibling;
            const below = next && next.querySelector('[data-testid="stCaptionContainer"] span');
            return {
                src: img ? img.getAttribute('src') : '',
                caption: caption ? caption.innerText.trim() : '',
                loaded: Boolean(img && img.complete && img.naturalWidth > 0),
                width: img ? img.naturalWidth : 0,
                height: img ? img.naturalHeight : 0,
                below: below ? below.innerText.trim() : '',
                below_title: below ? below.getAttribute('title') || '' : '',
            };
        })"""
    )
