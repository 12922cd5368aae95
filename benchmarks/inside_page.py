"""The Inside page in Chromium on a finished run: how long a new test image takes to be drawn.

Starts the app (as the browser tests do) on the data named by CIFAR_LAB_DATA with a copy of the
run, opens the Inside page, then draws ``--images`` random test images and times, from the
click, until the inside view is on screen (the image, its path and its feature maps, every
map loaded) and until the whole page is (Grad-CAM too). Then a layer-slider move,
the ranking of 2,000 test images for "what a channel responds to" the first time, and the
other three attribution methods.
Goal: the inside view at most 1 s per image. With ``--screenshots DIR`` it saves the
whole page at 1280 and 1400 px wide.

    export CIFAR_LAB_DATA=../shared/data/cifar10-jpeg
    cifar-lab train --preset cpu-fast --subset 5000 --epochs 2 --runs-dir /tmp/inside-runs \\
        --name bench
    python benchmarks/inside_page.py /tmp/inside-runs/bench [--images 10] [--screenshots /tmp]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import data_source, machine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from lab_browser import (  # noqa: E402
    MAIN,
    assert_no_exception,
    button,
    chromium_page,
    go_to,
    open_app,
    press_slider,
    wait_settled,
    wait_until,
    widget,
)
from lab_server import LabServer  # noqa: E402

from app import nav  # noqa: E402
from app.state.inside import PICKS  # noqa: E402
from lab.lenses.attribution import METHODS  # noqa: E402

TIMEOUT_S = 300
POLL_S = 0.02
TEST_IMAGE = re.compile(r"^test image (\d+) \(")
# The test image's caption and every feature map drawn by this script run (not stale) and
# loaded; returns the image's caption then, else "".
INSIDE_DRAWN = """main => {
    const fresh = element => !element.closest('[data-stale="true"]');
    const captions = Array.from(main.querySelectorAll('[data-testid="stImageCaption"]'));
    const image = captions.find(c => c.innerText.startsWith('test image') && fresh(c));
    const maps = captions.filter(c => /^ch \\d+ · /.test(c.innerText));
    const loaded = maps.every(c => {
        const img = c.parentElement.querySelector('img');
        return fresh(c) && img && img.complete && img.naturalWidth > 0;
    });
    return image && maps.length && loaded ? image.innerText : '';
}"""


def inside_drawn(page, before: str) -> str:
    caption = page.locator(MAIN).evaluate(INSIDE_DRAWN)
    return caption if caption and caption != before else ""


def server_cpu_s(server: LabServer) -> float:
    """CPU seconds the app's server process has used so far (user + system): on a machine
    that other work shares, what the page costs whatever the wait for a core."""
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def new_image(page, server: LabServer, before: str) -> tuple[str, float, float, float]:
    """Draw a random test image; its caption, the seconds to the inside view and to the
    settled page, and the server's CPU seconds for the whole page."""
    start, cpu = time.perf_counter(), server_cpu_s(server)
    button(page, "Random test image").click()
    caption = wait_until(
        lambda: inside_drawn(page, before), TIMEOUT_S, "the inside view", interval_s=POLL_S
    )
    inside = time.perf_counter() - start
    wait_settled(page, TIMEOUT_S)
    return caption, inside, time.perf_counter() - start, server_cpu_s(server) - cpu


def screenshot(page, folder: Path, width: int) -> None:
    """The whole page (the window as tall as the app's scrolling main area) at ``width``."""
    page.set_viewport_size({"width": width, "height": 900})
    wait_settled(page, TIMEOUT_S)
    height = page.locator(MAIN).evaluate("main => main.scrollHeight")
    page.set_viewport_size({"width": width, "height": height})
    wait_settled(page, TIMEOUT_S)
    path = folder / f"inside-{width}.png"
    page.screenshot(path=str(path))
    print(f"screenshot {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a finished run folder (with best.pt)")
    parser.add_argument("--images", type=int, default=10, help="test images to draw")
    parser.add_argument("--screenshots", type=Path, help="save the page at 1280 and 1400 px here")
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory(prefix="inside-page-") as scratch:
        work = Path(scratch)
        server = LabServer(Path(data_source()), work / "server")
        shutil.copytree(
            args.run, server.runs_dir / args.run.name, ignore=shutil.ignore_patterns("lenses")
        )
        with server, chromium_page(work / "profile", width=1400, height=900) as page:
            open_app(page, server.url, timeout_s=TIMEOUT_S)
            go_to(page, nav.INSIDE.title, TIMEOUT_S)
            caption = wait_until(lambda: inside_drawn(page, ""), TIMEOUT_S, "the first image")
            wait_settled(page, TIMEOUT_S)
            print(f"load average {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
            inside, whole, cpu = [], [], []
            for _ in range(args.images):
                caption, to_inside, to_whole, cpu_s = new_image(page, server, caption)
                inside.append(to_inside)
                whole.append(to_whole)
                cpu.append(cpu_s)
            print(
                f"new test image, inside view drawn: median {statistics.median(inside):.2f} s, "
                f"max {max(inside):.2f} s ({len(inside)} images)"
            )
            print(
                "new test image, whole page with Grad-CAM: median "
                f"{statistics.median(whole):.2f} s, max {max(whole):.2f} s; the server's CPU "
                f"time for it: median {statistics.median(cpu):.2f} s"
            )
            start = time.perf_counter()
            press_slider(page, PICKS.key("layer"), "End")
            wait_settled(page, TIMEOUT_S)
            print(f"layer slider to the last layer: {time.perf_counter() - start:.2f} s")
            start = time.perf_counter()
            button(page, "Rank the test images").click()
            wait_until(
                lambda: page.get_by_text("of a fixed sample of 2,000").count(),
                TIMEOUT_S,
                "the channel's top images",
            )
            wait_settled(page, TIMEOUT_S)
            print(f"ranking 2,000 test images, the first time: {time.perf_counter() - start:.2f} s")
            start = time.perf_counter()
            methods = widget(page, PICKS.key("methods"))
            for method in list(METHODS.values())[1:]:
                methods.locator("button").filter(has_text=method.title).click()
                wait_settled(page, TIMEOUT_S)
            print(f"the other three attributions: {time.perf_counter() - start:.2f} s")
            print(f"load average {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
            assert_no_exception(page, "the Inside page")
            if args.screenshots:
                for width in (1280, 1400):
                    screenshot(page, args.screenshots, width)


if __name__ == "__main__":
    main()
