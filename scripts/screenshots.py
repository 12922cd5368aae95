"""Take the README's screenshots: one small WebP image per page of the lab, in docs/screenshots/.

Starts the app the way the browser tests do (the real data, a fresh runs folder, a free port)
and walks through the pages in Debian's Chromium. The Checkpoints, Classify and Inside pictures
show a finished run that trained on all the data (``--run``), with its real accuracy; the Train
picture shows a short run on a few hundred images being trained on the page. Re-run it whenever
the UI changes:

    .venv/bin/cifar-lab train --preset cpu-5min --name cifar10-cpu-5min   # once, all the data
    CIFAR_LAB_DATA=../shared/data/cifar10-jpeg make screenshots RUN=runs/cifar10-cpu-5min

Needs /usr/bin/chromium (scripts/install-browser.sh) and the playwright package.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
from pathlib import Path

from lab_browser import (
    CHROMIUM,
    MAIN,
    alerts,
    assert_no_exception,
    button,
    chart_marks,
    charts,
    choose,
    chromium_page,
    field,
    go_to,
    open_app,
    press_slider,
    set_slider,
    settled_images,
    wait_settled,
    wait_until,
    widget,
)
from lab_server import REPO, LabServer, is_image_folder
from PIL import Image

OUT = REPO / "docs" / "screenshots"
WIDTH, HEIGHT = 1200, 800
MAX_BYTES = 150_000
RUN_NAME = "tour"
TOUR_IMAGES = "500"  # training images of the short run trained on the Train page
SHOWN_CLASS = "cat"  # the class of the test image uploaded on the Classify page
TIMEOUT_S = 120
TRAIN_TIMEOUT_S = 600


def save(page, name: str, out: Path) -> Path:
    """The visible part of the page as ``name``.webp, at the best quality that keeps the file
    under MAX_BYTES (downscaled if even the lowest quality is too big), once the page has
    settled (widgets drawn late show as grey placeholders before)."""
    wait_settled(page, TIMEOUT_S)
    page.wait_for_timeout(1000)  # the browser paints what the last message brought
    assert_no_exception(page, name)
    picture = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    path = out / f"{name}.webp"
    for scale in (1.0, 0.85, 0.7):
        shown = picture.resize((round(picture.width * scale), round(picture.height * scale)))
        for quality in (85, 75, 65, 55):
            buffer = io.BytesIO()
            shown.save(buffer, "WEBP", quality=quality, method=6)
            if buffer.tell() <= MAX_BYTES:
                path.write_bytes(buffer.getvalue())
                print(f"{path}: {shown.width}x{shown.height}, {buffer.tell():,} bytes")
                return path
    raise RuntimeError(f"{name}: no WebP under {MAX_BYTES:,} bytes")


def scroll_to(page, locator) -> None:
    """Put ``locator`` at the top of the window (and let the browser paint that)."""
    locator.evaluate("element => element.scrollIntoView({block: 'start'})")
    page.evaluate(
        "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"
    )


def tour(page, server: LabServer, run: str, scratch: Path, out: Path, epochs: int) -> None:
    sys.path.insert(0, str(REPO))
    from app.state.checkpoints import VIEW  # the widget keys
    from app.state.classify import IMAGES_UPLOAD, PICKS
    from app.state.inside import PICKS as INSIDE_PICKS
    from app.state.train import FORM

    open_app(page, server.url, "Dataset", TIMEOUT_S)
    wait_until(lambda: charts(page).count() >= 2 and settled_images(page), TIMEOUT_S, "Dataset")
    save(page, "1-dataset", out)

    go_to(page, "Augmentations", TIMEOUT_S)
    wait_until(lambda: settled_images(page), TIMEOUT_S, "the augmentation preview")
    save(page, "2-augmentations", out)

    go_to(page, "Train", TIMEOUT_S)
    button(page, "Start").wait_for(timeout=TIMEOUT_S * 1000)
    wait_settled(page)
    set_slider(page, FORM.key("epochs"), str(epochs))
    press_slider(page, FORM.key("patience"), "End")
    set_slider(page, FORM.key("batch_size"), "16")
    for key, text in ((FORM.key("subset"), TOUR_IMAGES), (FORM.key("name"), RUN_NAME)):
        box = field(page, key)
        box.fill(text)
        box.press("Enter")
        wait_settled(page)
    button(page, "Start").click()
    wait_until(
        lambda: any(f"Run {RUN_NAME}" in text for text in alerts(page)),
        TRAIN_TIMEOUT_S,
        "the run to finish",
        interval_s=1,
    )
    wait_settled(page)
    scroll_to(page, page.locator(f'{MAIN} [data-testid="stProgress"]').first)
    save(page, "3-train", out)

    go_to(page, "Checkpoints", TIMEOUT_S)
    choose(page, VIEW.key("detail"), run)
    wait_settled(page)
    scroll_to(page, page.get_by_role("tab", name="Overview", exact=True))
    save(page, "4-checkpoints", out)
    page.get_by_role("tab", name="Errors", exact=True).click()
    wait_until(
        lambda: chart_marks(page, "rect mark", "predicted"),
        TIMEOUT_S,
        "the confusion matrix",
    )
    wait_settled(page)
    scroll_to(page, page.get_by_role("tab", name="Errors", exact=True))
    save(page, "5-checkpoints-errors", out)

    go_to(page, "Classify", TIMEOUT_S)
    choose(page, PICKS.key("run"), run)
    wait_settled(page)
    picture = sorted((server.data / "test" / SHOWN_CLASS).iterdir())[0]
    upload = scratch / f"{SHOWN_CLASS}.png"
    Image.open(picture).convert("RGB").save(upload)
    widget(page, IMAGES_UPLOAD).locator('input[type="file"]').set_input_files(str(upload))
    wait_until(
        lambda: chart_marks(page, "bar", "probability") and settled_images(page),
        TIMEOUT_S,
        "the top-5 chart",
    )
    scroll_to(page, widget(page, IMAGES_UPLOAD))
    save(page, "6-classify", out)

    go_to(page, "Inside the network", TIMEOUT_S)
    choose(page, INSIDE_PICKS.key("run"), run)
    wait_settled(page, TIMEOUT_S)
    wait_until(lambda: settled_images(page), TIMEOUT_S, "the feature maps")
    save(page, "7-inside", out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        default=os.environ.get("CIFAR_LAB_DATA", ""),
        help="the CIFAR-10 image folder (default: CIFAR_LAB_DATA)",
    )
    parser.add_argument(
        "--run",
        type=Path,
        required=True,
        help="a finished run folder that trained on all of --data (shown on Checkpoints, "
        "Classify and Inside)",
    )
    parser.add_argument("--out", type=Path, default=OUT, help="default: docs/screenshots")
    parser.add_argument("--epochs", type=int, default=2, help="of the short run on the Train page")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit(f"no Chromium at {CHROMIUM}: run scripts/install-browser.sh")
    data = Path(args.data).expanduser()
    if not args.data or not is_image_folder(data):
        sys.exit("give --data (or CIFAR_LAB_DATA): an image folder with train/ and test/")
    if not (args.run / "metrics.json").is_file():
        sys.exit(f"--run {args.run}: not a finished run folder (no metrics.json)")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cifar-lab-screenshots-") as scratch:
        scratch = Path(scratch)
        server = LabServer(data, scratch / "server")
        shutil.copytree(args.run, server.runs_dir / args.run.name)
        with server, chromium_page(scratch / "profile", WIDTH, HEIGHT) as page:
            tour(page, server, args.run.name, scratch, args.out, args.epochs)


if __name__ == "__main__":
    main()
