"""A big upload is kept at the size a page shows: ``open_image(max_side=)`` decodes a JPEG at a
reduced scale and shrinks anything else right after decoding, so a 7000 x 7000 PNG of a few
hundred KB costs the server a few hundred KB, not the 147 MB of its pixels, and leaves no freed
memory behind (measured in a subprocess)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image, ImageDraw

from lab.predict import SHOWN_SIDE, open_image, shown_size

BIG = 7000


def big_picture(width: int = BIG, height: int = BIG) -> Image.Image:
    """A large picture that compresses well (flat colours and ellipses), as a scan or a
    rendered poster does."""
    image = Image.new("RGB", (width, height), (40, 90, 160))
    draw = ImageDraw.Draw(image)
    for i in range(0, min(width, height), 350):
        draw.ellipse((i, i, i + 2000, i + 1200), fill=(200, (i // 35) % 255, 60))
    return image


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def big_png() -> bytes:
    data = encoded(big_picture(), "PNG")
    assert len(data) < 1_000_000  # a small file that decodes to 147 MB of pixels
    return data


def test_a_big_png_is_kept_at_the_shown_side(big_png):
    image = open_image(big_png, "big.png", max_side=SHOWN_SIDE)
    assert image.size == (SHOWN_SIDE, SHOWN_SIDE) and image.mode == "RGB"
    assert np.asarray(image).nbytes == SHOWN_SIDE * SHOWN_SIDE * 3  # 0.8 MB, not 147 MB
    # The same picture, smaller: its colours are those of the original.
    small = np.asarray(big_picture().resize((SHOWN_SIDE, SHOWN_SIDE), Image.Resampling.BOX))
    assert np.abs(np.asarray(image, np.float32) - small).mean() < 4


def test_a_big_jpeg_keeps_its_orientation_and_aspect():
    picture = big_picture(6000, 3000)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned a quarter clockwise: 3000 wide, 6000 high
    data = encoded(picture, "JPEG", exif=exif, quality=80)
    image = open_image(data, "photo.jpg", max_side=SHOWN_SIDE)
    assert image.size == (SHOWN_SIDE // 2, SHOWN_SIDE)
    assert shown_size(data, "photo.jpg") == (
        3000,
        6000,
    )  # the size it was given at, from its header


def test_a_small_image_is_left_as_it_is():
    picture = Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 48, 3), np.uint8))
    data = encoded(picture, "PNG")
    kept = open_image(data, "small.png", max_side=SHOWN_SIDE)
    assert kept.size == (48, 32)
    np.testing.assert_array_equal(np.asarray(kept), np.asarray(open_image(data, "small.png")))


MEASURE = textwrap.dedent(
    """
    import gc, json, sys
    from lab.predict import open_image

    def rss_mb():
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmRSS"))
        return int(line.split()[1]) / 1024

    data = sys.stdin.buffer.read()
    max_side = json.loads(sys.argv[1])
    before = rss_mb()
    kept = [open_image(data, "big.png", max_side=max_side) for _ in range(3)]
    gc.collect()
    print(json.dumps({"grown_mb": rss_mb() - before, "size": kept[0].size}))
    """
)


def grown_after_three_uploads(data: bytes, max_side: int | None) -> float:
    """How much larger a fresh process is after decoding ``data`` three times and keeping the
    three images."""
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, json.dumps(max_side)],
        input=data,
        capture_output=True,
        check=True,
        timeout=300,
    )
    return json.loads(done.stdout)["grown_mb"]


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_three_big_uploads_leave_the_process_barely_larger(big_png):
    shrunk = grown_after_three_uploads(big_png, SHOWN_SIDE)
    full = grown_after_three_uploads(big_png, None)
    print(
        f"RSS grown by three 7000x7000 PNG uploads: {shrunk:.0f} MB kept at {SHOWN_SIDE} px, "
        f"{full:.0f} MB kept whole"
    )
    assert full > 3 * 140  # three pictures of 147 MB each
    assert shrunk < 32
