"""Pixel helpers for display: nearest-neighbour upscaling, image strips, inline pictures, and
the key that identifies a picture in a cache."""

from __future__ import annotations

import base64
import hashlib
import io

import numpy as np
import torch
from PIL import Image

# Small images are shown about this many pixels wide, upscaled without smoothing.
DISPLAY_SIDE = 96


def chw_to_hwc(image: torch.Tensor) -> np.ndarray:
    """A uint8 ``(3, H, W)`` tensor as an ``(H, W, 3)`` array."""
    return image.permute(1, 2, 0).numpy()


def upscale(image: np.ndarray, side: int = DISPLAY_SIDE) -> np.ndarray:
    """Enlarge by a whole factor with nearest neighbour, so 32 px images stay crisp."""
    factor = max(1, side // max(image.shape[0], image.shape[1]))
    if factor == 1:
        return image
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def strip(images: list[np.ndarray], gap: int = 4) -> np.ndarray:
    """Equal-sized HWC images side by side with a white gap: one picture per row is far
    cheaper to send and lay out than one element per image."""
    height, width = images[0].shape[:2]
    out = np.full((height, len(images) * (width + gap) - gap, 3), 255, dtype=np.uint8)
    for i, image in enumerate(images):
        out[:, i * (width + gap) : i * (width + gap) + width] = image
    return out


def tensor_picture(tensor: torch.Tensor, spread: float = 2.5) -> np.ndarray:
    """A normalised float ``(3, H, W)`` tensor as a picture: 0 is mid-grey, +-``spread``
    standard deviations are white and black, so what the network receives is visible."""
    pixels = ((tensor.float().cpu() / (2 * spread)) + 0.5).clamp(0, 1)
    return (pixels.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def inline_png(image: np.ndarray) -> str:
    """An HWC uint8 picture as a ``data:`` URL that the page carries itself. Streamlit serves
    other pictures as media files that the next script run deletes, so a page whose pictures
    change on every step of a slider moved with the keyboard leaves the browser fetching files
    already gone (a 404 and a broken picture); an inline one cannot go missing."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def image_key(image: Image.Image) -> str:
    """What identifies an image in a cache of what was computed from it (Grad-CAM, the Inside
    page's lenses): a hash of its pixels."""
    pixels = np.asarray(image.convert("RGB"))
    return hashlib.sha256(pixels.tobytes() + str(pixels.shape).encode()).hexdigest()[:20]
