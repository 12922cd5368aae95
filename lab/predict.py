"""Safe image decoding and single-image prediction.

Any image Pillow can read (any size or mode, 16-bit, palette, transparent, CMYK, EXIF-rotated,
animated: first frame) becomes RGB, then the checkpoint's input size and normalisation, exactly
as the notebook's test transform (Resize, ToTensor, Normalize). Decompression bombs are refused
from the header, before any pixel is decoded (``lab.images``).
"""

from __future__ import annotations

import ctypes
import functools
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image, ImageOps, UnidentifiedImageError
from torchvision.transforms import InterpolationMode

from lab.checkpoint import LoadedModel
from lab.device import resolve_precision
from lab.errors import ImageError
from lab.images import MAX_PIXELS, open_checked  # noqa: F401 (MAX_PIXELS: for the Classify page)
from lab.models import predict_logits

# Largest file accepted, in bytes.
MAX_FILE_BYTES = 50 * 1024 * 1024
# Background for transparent images: white, as they are usually shown.
TRANSPARENT_BACKGROUND = (255, 255, 255)
# Longest side, in pixels, of an image opened to be shown (``open_image(max_side=)``): more than
# any page shows (192 px) or any network reads (227 px), a fraction of a photo's memory.
SHOWN_SIDE = 512
# Decoding an image of more pixels than this frees enough memory to hand back to the system.
LARGE_DECODE = 4_000_000
# EXIF orientations that turn a picture a quarter: its width and height swap when it is shown.
QUARTER_TURNS = frozenset({5, 6, 7, 8})
EXIF_ORIENTATION = 0x0112

ImageSource = str | os.PathLike | bytes | BinaryIO


def _read_bytes(source: ImageSource, name: str) -> bytes:
    if isinstance(source, bytes):
        data = source
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"{name}: file not found")
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise ImageError(f"{name}: file larger than {MAX_FILE_BYTES // 2**20} MB")
            data = path.read_bytes()
        except OSError as error:
            raise ImageError(f"{name}: cannot read the file ({error.strerror or error})") from error
    else:
        data = source.read(MAX_FILE_BYTES + 1)
    if len(data) == 0:
        raise ImageError(f"{name}: the file is empty (0 bytes)")
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(f"{name}: file larger than {MAX_FILE_BYTES // 2**20} MB")
    return data


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode.startswith("I;16"):
        # v * 255 / 65535 is v // 257: integer maths keeps a 50-megapixel image at 3 bytes a
        # pixel instead of the 8 of a float64 copy.
        return Image.fromarray((np.asarray(image) // 257).astype(np.uint8)).convert("RGB")
    if image.mode in ("I", "F"):
        array = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        top = 65535.0 if image.mode == "I" else max(float(array.max(initial=0.0)), 1.0)
        array = np.clip(array * (255.0 / top), 0, 255).astype(np.uint8)
        return Image.fromarray(array).convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, TRANSPARENT_BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def open_image(
    source: ImageSource, name: str | None = None, max_side: int | None = None
) -> Image.Image:
    """Decode an image safely into RGB, or raise ``ImageError`` saying why not. With
    ``max_side``, the image is kept at most that many pixels on its longer side: a JPEG decodes
    at a reduced scale (Pillow's draft), anything else shrinks right after decoding, so a
    7000 x 7000 upload costs what it shows, not the 147 MB of its pixels."""
    name = name or (str(source) if isinstance(source, (str, os.PathLike)) else "image")
    data = _read_bytes(source, name)
    try:
        # Pillow warns about damaged metadata; the outcome here is an RGB image or an
        # ImageError, so its warnings would only be noise on stderr.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = open_checked(io.BytesIO(data), name)
            image.seek(0)  # animated images: the first frame
            if max_side is not None:
                image.draft(None, (max_side, max_side))  # JPEG only; a no-op for the others
            image.load()
            large = image.width * image.height > LARGE_DECODE
            image = _to_rgb(ImageOps.exif_transpose(image) or image)
    except ImageError:
        raise
    except UnidentifiedImageError as error:
        raise ImageError(f"{name}: not an image, or in a format Pillow cannot read") from error
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise ImageError(f"{name}: damaged or truncated image ({error})") from error
    if max_side is not None:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        if large:
            release_freed_memory()
    return image


def shown_size(data: bytes, name: str) -> tuple[int, int]:
    """Width and height of an image as it is shown (its EXIF orientation applied), read from
    its header without decoding a pixel: the size an upload had before ``open_image`` shrank
    it. Call it on data ``open_image`` has accepted."""
    with open_checked(io.BytesIO(data), name) as image:
        width, height = image.size
        turned = image.getexif().get(EXIF_ORIENTATION) in QUARTER_TURNS
    return (height, width) if turned else (width, height)


def release_freed_memory() -> None:
    """Hand the memory freed after a large decode back to the system. glibc keeps freed heap
    memory for reuse, so the full-size copies of one big upload left a server hundreds of MB
    larger for good; elsewhere (no ``malloc_trim``) this does nothing."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim`` from the running process's own symbols; None without glibc."""
    try:
        return getattr(ctypes.CDLL(None), "malloc_trim", None)
    except (OSError, TypeError):  # no process handle to load symbols from (Windows)
        return None


def preprocess_image(
    image: Image.Image, input_size: int, mean: tuple[float, ...], std: tuple[float, ...]
) -> torch.Tensor:
    """The notebook's test transform: Resize to the input size, ToTensor, Normalize."""
    resized = TF.resize(image, [input_size, input_size], InterpolationMode.BILINEAR, antialias=True)
    return TF.normalize(TF.to_tensor(resized), list(mean), list(std))


def network_view(
    tensor: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]
) -> np.ndarray:
    """A preprocessed (3, H, W) tensor back as an HWC uint8 picture: what the network sees."""
    m = torch.tensor(mean).view(3, 1, 1)
    s = torch.tensor(std).view(3, 1, 1)
    pixels = (tensor.float().cpu() * s + m).clamp(0, 1)
    return (pixels.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


@dataclass(frozen=True)
class Prediction:
    """Top-k classes of one image, most probable first, and the full probability vector."""

    labels: list[str]
    probabilities: list[float]
    all_probabilities: np.ndarray

    @property
    def label(self) -> str:
        return self.labels[0]

    @property
    def confidence(self) -> float:
        return self.probabilities[0]

    def to_dict(self) -> dict:
        return {
            "top_k": [
                {"label": lab, "probability": p}
                for lab, p in zip(self.labels, self.probabilities, strict=True)
            ]
        }


def predict_images(
    loaded: LoadedModel,
    images: list[Image.Image],
    top_k: int = 5,
    precision: str | None = None,
) -> list[Prediction]:
    """Classify RGB images with a loaded checkpoint, in the run's own precision unless
    ``precision`` asks for another; returns one ``Prediction`` per image."""
    if not images:
        return []
    device = next(loaded.model.parameters()).device
    precision = resolve_precision(precision or loaded.precision, device)
    batch = torch.stack(
        [preprocess_image(img, loaded.input_size, loaded.mean, loaded.std) for img in images]
    ).to(device)
    loaded.model.eval()
    with torch.inference_mode():
        logits = predict_logits(
            loaded.model,
            batch,
            device=device,
            precision=precision,
            tta_flip=loaded.config.train.tta_flip,
        )
    probabilities = torch.softmax(logits, dim=1).cpu().numpy()
    k = max(1, min(top_k, len(loaded.classes)))
    results = []
    for row in probabilities:
        order = np.argsort(-row)[:k]
        results.append(
            Prediction([loaded.classes[i] for i in order], [float(row[i]) for i in order], row)
        )
    return results
