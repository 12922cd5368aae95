"""The Checkpoints page's tabs in a real Chromium, at 1280 and 1400 px wide (issue 12, Layout;
issue 11, the map and the sweep view).

Every tab is opened as a user does, by clicking it, and checked for what only a browser shows:
no exception box and no browser console error, nothing wider than the page, epoch axes in whole
numbers, a marked epoch's label ("best: epoch N") inside its plot and off the legend, gallery
images all one size, axis titles without column names, and no "−0%". A screenshot of every tab
at both widths goes to test-artifacts/e2e/checkpoints/. Clicks on the map and on the sweep
heatmap pick what they show, and the open tab survives a visit to another page.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import pytest

from app.state.checkpoints import TABS, VIEW
from lab.fit import fit
from lab.launch import prepare_run
from lab.presets import preset_config
from lab.sweep import create_sweep, run_sweep
from scripts.lab_browser import (
    MAIN,
    assert_no_exception,
    button,
    charts,
    choose,
    go_to,
    selected,
    wait_settled,
    wait_until,
)

pytestmark = pytest.mark.e2e

RUN_A, RUN_B, SWEEP = "e2e-tabs-a", "e2e-tabs-b", "e2e-tabs-grid"
WIDTHS = (1280, 1400)
PAGE_TIMEOUT_S = 120
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e" / "checkpoints"

# What each tab shows once its script run is done (regular expressions).
READY = {
    "Overview": "Curves of several runs",
    "Errors": "Top losses",
    "Calibration": r"Calibration error \(ECE\)",
    "Compare": "the differing ones first",
    "Dynamics": "No onset of overfitting|From epoch",
    "Robustness": "mean confidence",
    "Map": "nearest neighbours for",
    "Sweeps": r"Combination \(or click a cell\)",
}


@pytest.fixture(scope="module")
def checkpoints_runs(lab_server, data_subset) -> Path:
    """Two short finished runs and a sweep of two patience values in the server's runs folder."""
    config = preset_config("cpu-fast", str(data_subset)).with_overrides(
        model={"width": 0.25}, train={"epochs": 2, "batch_size": 16}
    )
    for name, lr in ((RUN_A, 2e-3), (RUN_B, 5e-4)):
        if not (lab_server.runs_dir / name).exists():
            fit(prepare_run(config.with_settings({"lr": lr}), lab_server.runs_dir, name=name))
    if not (lab_server.runs_dir / SWEEP).exists():
        sweep_dir = create_sweep(
            config.with_settings({"epochs": 3}),
            {"patience": [0, 2]},
            lab_server.runs_dir,
            name=SWEEP,
        )
        run_sweep(sweep_dir)
    return lab_server.runs_dir


def main_text(page) -> str:
    return page.locator(MAIN).first.inner_text()


def open_tab(page, tab: str) -> None:
    """Click the tab and wait until its script run has drawn what the tab shows."""
    page.get_by_role("tab", name=tab, exact=True).click()
    if tab == "Robustness":
        wait_until(lambda: button(page, "Run the sweep").is_visible(), PAGE_TIMEOUT_S, "the button")
        if "mean confidence" not in main_text(page):
            button(page, "Run the sweep").click()
    wait_until(lambda: re.search(READY[tab], main_text(page)), PAGE_TIMEOUT_S, f"the {tab} tab")
    wait_settled(page, PAGE_TIMEOUT_S)


def screenshot(page, path: Path) -> None:
    """The whole page: Streamlit scrolls inside the page, so the window is made tall enough."""
    size = page.viewport_size
    height = page.evaluate(
        """() => document.querySelector('[data-testid="stMainBlockContainer"]').scrollHeight"""
    )
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], height + 200)})
    wait_settled(page)
    page.screenshot(path=str(path))
    page.set_viewport_size(size)


LAYOUT = """() => {
    const main = document.querySelector('[data-testid="stMainBlockContainer"]');
    const box = el => el.getBoundingClientRect();
    const right = box(main).right + 1;
    const overlap = (a, b) =>
        a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
    const problems = [];
    const shown = '[data-testid="stVegaLiteChart"], [data-testid="stImage"], '
        + '[data-testid="stDataFrame"], button';
    for (const el of main.querySelectorAll(shown)) {
        if (box(el).width && box(el).right > right) {
            problems.push(`wider than the page: ${el.dataset.testid || el.innerText}`);
        }
    }
    for (const chart of main.querySelectorAll('[data-testid="stVegaLiteChart"]')) {
        const svg = chart.querySelector('svg');
        if (!svg) continue;
        const legends = Array.from(svg.querySelectorAll('g.role-legend')).map(box);
        for (const text of svg.querySelectorAll('g.role-mark text')) {
            const label = text.textContent;
            if (/^[−-]0(\\.0+)?%$/.test(label)) problems.push(`minus zero: ${label}`);
            if (!/^(best: epoch|kept: epoch|would stop after)/.test(label)) continue;
            const at = box(text);
            if (at.right > box(svg).right + 1 || at.left < box(svg).left - 1) {
                problems.push(`label outside its chart: ${label}`);
            }
            if (legends.some(legend => overlap(at, legend))) {
                problems.push(`label on the legend: ${label}`);
            }
        }
        const titles = 'g.role-axis-title text, g.role-legend-title text';
        for (const title of svg.querySelectorAll(titles)) {
            if (title.textContent.includes('_')) {
                problems.push(`column name as a title: ${title.textContent}`);
            }
        }
        for (const axis of svg.querySelectorAll('g.role-axis')) {
            if (!/^X-axis titled 'epoch'/.test(axis.getAttribute('aria-label') || '')) continue;
            const ticks = Array.from(axis.querySelectorAll('g.role-axis-label text'))
                .map(t => t.textContent);
            if (!ticks.length || ticks.some(t => !/^\\d+$/.test(t))) {
                problems.push(`epoch ticks ${ticks}`);
            }
        }
    }
    const groups = new Map();
    for (const image of main.querySelectorAll('[data-testid="stImage"] img')) {
        const group = image.closest('[data-testid="stImage"]').parentElement;
        if (!groups.has(group)) groups.set(group, []);
        groups.get(group).push(`${Math.round(box(image).width)}x${Math.round(box(image).height)}`);
    }
    for (const sizes of groups.values()) {
        const different = [...new Set(sizes)];
        if (different.length > 1) problems.push(`gallery images of sizes ${different}`);
    }
    return problems;
}"""


def test_every_tab_at_1280_and_1400_px(page, lab_server, checkpoints_runs):
    console: list[str] = []
    host = urlparse(lab_server.url).netloc

    def record(message) -> None:
        # A request for another host (the favicon, fonts) is the journey's check; any other
        # error the page logs fails this test.
        url = message.location.get("url", "")
        if message.type == "error" and (not url or urlparse(url).netloc == host):
            console.append(f"{message.text} ({url})")

    page.on("console", record)
    page.on("pageerror", lambda error: console.append(str(error)))
    page.reload()
    go_to(page, "Checkpoints", PAGE_TIMEOUT_S)
    choose(page, VIEW.key("detail"), RUN_A)
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems = {}
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for tab in TABS:
            if tab == "Compare":
                open_tab(page, tab)
                choose(page, VIEW.key("compare_b"), RUN_B)
            open_tab(page, tab)
            assert_no_exception(page, f"the {tab} tab at {width} px")
            found = page.evaluate(LAYOUT)
            if found:
                problems[f"{tab} at {width} px"] = found
            screenshot(page, SHOTS / f"{tab.lower()}-{width}.png")
    assert not problems, problems
    assert not console, console


def test_a_click_on_the_map_or_the_heatmap_picks_what_is_shown(page, checkpoints_runs):
    go_to(page, "Checkpoints", PAGE_TIMEOUT_S)
    choose(page, VIEW.key("detail"), RUN_A)
    open_tab(page, "Map")
    chart = charts(page, "true class").first
    dots = chart.locator('[aria-roledescription="point"]')
    wait_until(lambda: dots.count(), PAGE_TIMEOUT_S, "the map's dots")
    picked = selected(page, VIEW.key("map_index"))
    for n in range(dots.count()):
        label = dots.nth(n).get_attribute("aria-label") or ""
        index = re.search(r"test image: (\d+)", label)
        if index and not picked.startswith(f"#{index.group(1)}:"):
            break
    dots.nth(n).click(force=True)
    wait_until(
        lambda: selected(page, VIEW.key("map_index")).startswith(f"#{index.group(1)}:"),
        PAGE_TIMEOUT_S,
        f"the map to pick test image {index.group(1)}",
    )
    wait_settled(page, PAGE_TIMEOUT_S)
    assert f"#{index.group(1)}: " in main_text(page)  # the picked image's caption
    assert_no_exception(page, "the Map tab after a click")

    open_tab(page, "Sweeps")
    cells = charts(page, "learning rate").first.locator('[aria-roledescription="rect mark"]')
    wait_until(lambda: cells.count(), PAGE_TIMEOUT_S, "the heatmap's cells")
    before = selected(page, VIEW.key("sweep_pick"))
    for n in range(cells.count()):
        label = cells.nth(n).get_attribute("aria-label") or ""
        patience = re.search(r"patience: (\d+)", label)
        if patience and f"patience {patience.group(1)}" not in before:
            break
    cells.nth(n).click(force=True)
    wait_until(
        lambda: f"patience {patience.group(1)}" in selected(page, VIEW.key("sweep_pick")),
        PAGE_TIMEOUT_S,
        f"the heatmap to pick patience {patience.group(1)}",
    )
    assert_no_exception(page, "the Sweeps tab after a click")


def test_the_open_tab_survives_a_visit_to_another_page(page, checkpoints_runs):
    go_to(page, "Checkpoints", PAGE_TIMEOUT_S)
    open_tab(page, "Calibration")
    go_to(page, "Dataset", PAGE_TIMEOUT_S)
    go_to(page, "Checkpoints", PAGE_TIMEOUT_S)
    wait_until(
        lambda: (
            page.get_by_role("tab", name="Calibration", exact=True).get_attribute("aria-selected")
            == "true"
        ),
        PAGE_TIMEOUT_S,
        "the Calibration tab to be open again",
    )
    wait_until(
        lambda: re.search(READY["Calibration"], main_text(page)), PAGE_TIMEOUT_S, "its content"
    )
