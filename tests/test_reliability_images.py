"""Uploaded images of every awkward kind: decoded to the right RGB pixels and classified, or
refused with a clear ``ImageError``; decompression bombs are refused before any decoding."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import textwrap
import tracemalloc
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from lab import cli, runs
from lab.checkpoint import load_model
from lab.errors import ImageError
from lab.images import MAX_PIXELS
from lab.predict import MAX_FILE_BYTES, open_image, predict_images


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(width: int, height: int) -> bytes:
    """A valid 8-bit grey PNG of ``width`` x ``height`` black pixels, compressed row by row so
    building it never holds the decoded image: about 100 KB for 100 megapixels."""
    compressor = zlib.compressobj(9)
    row = bytes(width + 1)  # filter byte 0, then black pixels
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def patched_header_bomb(width: int, height: int) -> bytes:
    """A real 1x1 PNG whose IHDR (with a correct CRC) claims ``width`` x ``height``."""
    small = encode(Image.new("L", (1, 1)), "PNG")
    length = struct.unpack(">I", small[8:12])[0]
    header = bytearray(small[16 : 16 + length])
    header[0:8] = struct.pack(">II", width, height)
    return small[:8] + png_chunk(b"IHDR", bytes(header)) + small[16 + length + 4 :]


def pixels(image: Image.Image) -> np.ndarray:
    assert image.mode == "RGB"
    return np.asarray(image).astype(int)


# --- refused, with a clear message ---------------------------------------------------------------


def test_zero_byte_file_is_refused(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        open_image(path)


@pytest.mark.parametrize("keep", [0.5, 0.1])
def test_truncated_jpeg_is_refused(keep):
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = encode(Image.fromarray(noise), "JPEG")
    with pytest.raises(ImageError, match="damaged or truncated"):
        open_image(data[: int(len(data) * keep)], "cut.jpg")


def test_header_only_jpeg_is_refused():
    data = encode(Image.new("RGB", (8, 8)), "JPEG")
    with pytest.raises(ImageError, match="header.jpg"):
        open_image(data[:20], "header.jpg")


def test_text_file_named_png_is_refused(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not a picture, just text\n")
    with pytest.raises(ImageError, match="not an image"):
        open_image(path)


def test_folder_named_like_an_image_is_refused(tmp_path):
    (tmp_path / "album.png").mkdir()
    with pytest.raises(ImageError, match="not found"):
        open_image(tmp_path / "album.png")


def test_file_over_the_size_limit_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "huge.jpg"
    with path.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(ImageError, match="larger than 50 MB"):
        open_image(path)


@pytest.mark.parametrize("side", [30_000, 12_000])  # beyond Pillow's own limit, and within it
def test_header_bomb_is_refused_before_decoding(side):
    bomb = patched_header_bomb(side, side)
    assert struct.unpack(">II", bomb[16:24]) == (side, side)
    tracemalloc.start()
    with pytest.raises(ImageError, match="megapixels"):
        open_image(bomb, "bomb.png")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 5 * 2**20


def test_just_over_the_pixel_limit_is_refused_and_at_it_accepted():
    """The limit is ours (50 MP), well below Pillow's own warning at 89 MP."""
    side = int(MAX_PIXELS**0.5)
    with pytest.raises(ImageError, match="megapixels"):
        open_image(patched_header_bomb(side + 1, side + 1))
    with pytest.raises(ImageError, match="damaged or truncated"):  # passes the size check
        open_image(patched_header_bomb(side, side))


MEMORY_PROBE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from PIL import Image
    from lab.errors import ImageError
    from lab.predict import open_image

    def kilobytes(key):
        lines = Path("/proc/self/status").read_text().splitlines()
        return int(next(line for line in lines if line.startswith(key)).split()[1])

    def growth_mb(step):
        # Peak resident memory of the step alone: Linux resets the peak on "5" > clear_refs.
        Path("/proc/self/clear_refs").write_text("5")
        before = kilobytes("VmRSS:")
        step()
        return (kilobytes("VmHWM:") - before) // 1024

    def refuse():
        try:
            open_image(sys.argv[1])
            print("decoded")
        except ImageError as error:
            print("refused:", error)

    def decode():  # control: what decoding the same file costs
        Image.MAX_IMAGE_PIXELS = None
        Image.open(sys.argv[1]).load()

    print(growth_mb(refuse))
    print(growth_mb(decode))
    """
)


@pytest.mark.slow
def test_compressible_bomb_is_refused_with_bounded_memory(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_bomb(8_000, 8_000))  # 64 megapixels of black in about 60 KB
    assert path.stat().st_size < 200_000
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    outcome, refused_growth, decoded_growth = done.stdout.strip().splitlines()
    assert outcome.startswith("refused:") and "8000x8000" in outcome
    assert int(refused_growth) < 10  # MB: nothing was decoded
    assert int(decoded_growth) > 50  # MB: the control shows the probe sees a decode


# --- decoded to the right pixels ----------------------------------------------------------------


def test_16_bit_png_is_scaled_to_8_bits():
    values = np.array([[0, 257 * 100, 65535, 40000]], dtype=np.uint16)
    image = Image.fromarray(values)
    assert image.mode.startswith("I;16")
    out = pixels(open_image(encode(image, "PNG")))
    assert out[0, :, 0].tolist() == [0, 100, 255, 155]
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_palette_png_keeps_its_colours():
    colours = [(200, 10, 10), (10, 200, 10), (10, 10, 200), (250, 250, 0)]
    rgb = np.array([colours], dtype=np.uint8)
    palette = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    assert palette.mode == "P"
    assert pixels(open_image(encode(palette, "PNG")))[0].tolist() == [list(c) for c in colours]


def test_transparent_palette_png_shows_white_where_transparent():
    image = Image.new("P", (2, 1))
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.putpixel((1, 0), 1)
    out = pixels(open_image(encode(image, "PNG", transparency=0)))
    assert out[0].tolist() == [[255, 255, 255], [0, 0, 255]]


@pytest.mark.parametrize(
    ("mode", "colour", "expected"),
    [
        ("RGBA", (0, 0, 255, 0), (255, 255, 255)),
        ("RGBA", (0, 0, 255, 128), (127, 127, 255)),
        ("RGBA", (0, 0, 255, 255), (0, 0, 255)),
        ("LA", (40, 128), (147, 147, 147)),
    ],
)
def test_transparent_png_is_composited_on_white(mode, colour, expected):
    out = pixels(open_image(encode(Image.new(mode, (3, 3), colour), "PNG")))
    assert np.abs(out - np.array(expected)).max() <= 1


def test_cmyk_jpeg_becomes_rgb_with_the_right_colours():
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red ink
    out = pixels(open_image(encode(cmyk, "JPEG", quality=95)))
    assert np.abs(out - np.array([255, 0, 0])).max() <= 8


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_grayscale_becomes_three_equal_channels(fmt):
    out = pixels(open_image(encode(Image.new("L", (8, 8), 77), fmt)))
    assert np.abs(out - 77).max() <= 1


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (8, 8), colour) for colour in [(255, 0, 0), (0, 0, 255)]]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    assert np.abs(pixels(open_image(data)) - np.array([255, 0, 0])).max() <= 2


def quadrants(height: int = 40, width: int = 60) -> np.ndarray:
    """An upright picture: red top-left, green top-right, blue bottom-left, white bottom-right."""
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[: height // 2, : width // 2] = (255, 0, 0)
    image[: height // 2, width // 2 :] = (0, 255, 0)
    image[height // 2 :, : width // 2] = (0, 0, 255)
    image[height // 2 :, width // 2 :] = (255, 255, 255)
    return image


@pytest.mark.parametrize(
    ("orientation", "turns"),
    [(3, 2), (6, 1), (8, -1)],  # EXIF: 180 degrees, camera turned right, turned left
)
def test_exif_rotated_jpeg_is_shown_upright(orientation, turns):
    upright = quadrants()
    stored = np.ascontiguousarray(np.rot90(upright, k=turns))  # what the camera wrote
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(Image.fromarray(stored), "JPEG", quality=95, exif=exif.tobytes())
    out = pixels(open_image(data))
    assert out.shape == upright.shape
    assert np.abs(out - upright.astype(int)).mean() < 4


# --- classified like the original ---------------------------------------------------------------


@pytest.fixture(scope="module")
def model_and_images(tiny_folder, tiny_run):
    run_dir = tiny_run
    originals = {
        name: Image.open(tiny_folder / "test" / name / "0000.png").convert("RGB")
        for name in ("circle", "square", "stripes")
    }
    return load_model(run_dir / runs.BEST), originals


def variants(image: Image.Image, other: Image.Image) -> dict[str, bytes]:
    """The same picture in the formats users upload."""
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(np.asarray(image), k=1)))
    return {
        "palette png": encode(image.convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
        "opaque rgba png": encode(image.convert("RGBA"), "PNG"),
        "cmyk jpeg": encode(image.convert("CMYK"), "JPEG", quality=95),
        "animated gif": encode(image, "GIF", save_all=True, append_images=[other]),
        "exif-rotated jpeg": encode(stored, "JPEG", quality=95, exif=exif.tobytes()),
        "6000x4000 photo": encode(image.resize((6000, 4000), Image.Resampling.BICUBIC), "JPEG"),
    }


def test_every_format_is_classified_like_the_original(model_and_images):
    loaded, originals = model_and_images
    names = list(originals)
    for index, (name, image) in enumerate(originals.items()):
        (reference,) = predict_images(loaded, [image])
        assert reference.label == name  # the model knows these three pictures
        other = originals[names[(index + 1) % len(names)]]
        for fmt, data in variants(image, other).items():
            decoded = open_image(data, fmt)
            (prediction,) = predict_images(loaded, [decoded])
            assert prediction.label == name, (name, fmt, prediction.labels)


@pytest.mark.parametrize(
    "image",
    [
        Image.fromarray(np.full((8, 8), 40000, dtype=np.uint16)),
        Image.new("L", (8, 8), 90),
        Image.new("1", (8, 8), 1),
        Image.fromarray(np.random.default_rng(0).random((8, 8)).astype(np.float32)),
    ],
    ids=["16-bit", "grey", "1-bit", "float tiff"],
)
def test_colourless_images_are_classified_too(model_and_images, image):
    loaded, _ = model_and_images
    fmt = "TIFF" if image.mode == "F" else "PNG"
    (prediction,) = predict_images(loaded, [open_image(encode(image, fmt))])
    assert prediction.label in loaded.classes
    assert prediction.all_probabilities.sum() == pytest.approx(1.0, abs=1e-5)


def test_cli_refuses_a_bad_image_in_one_line(model_and_images, tmp_path, capsys):
    loaded, _ = model_and_images
    bad = tmp_path / "holiday.png"
    bad.write_text("<html>not found</html>")
    assert cli.main(["predict", str(loaded.path), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holiday.png: not an image" in err


# --- any bytes at all ----------------------------------------------------------------------------

SIGNATURES = [
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff\xe0",
    b"GIF89a",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"RIFF\x00\x00\x00\x00WEBP",
    b"\x00\x00\x01\x00",
    b"P6\n",
]
SEED_IMAGE = Image.fromarray(np.random.default_rng(2).integers(0, 256, (12, 12, 3), np.uint8))
SEEDS = [
    encode(SEED_IMAGE, fmt)
    for fmt in ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "ICO", "PPM", "TGA")
]


def decodes_or_refuses(data: bytes) -> None:
    try:
        image = open_image(data, "upload")
    except ImageError as error:
        assert str(error).startswith("upload:")
    else:
        assert image.mode == "RGB" and image.width * image.height <= MAX_PIXELS


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from([b"", *SIGNATURES]), body=st.binary(max_size=2048))
def test_random_bytes_decode_to_rgb_or_raise_image_error(prefix, body):
    decodes_or_refuses(prefix + body)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(SEEDS),
    edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=8),
    keep=st.floats(0.05, 1.0),
)
def test_damaged_real_images_decode_to_rgb_or_raise_image_error(seed, edits, keep):
    data = bytearray(seed[: max(1, int(len(seed) * keep))])
    for where, value in edits:
        data[int(where * len(data))] = value
    decodes_or_refuses(bytes(data))
