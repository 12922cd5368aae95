"""Opening image files without trusting them: a decompression bomb is refused from its header,
before a single pixel is decoded. The data scanner (``lab.data``) and classification
(``lab.predict``) both open images through ``open_checked``.
"""

from __future__ import annotations

import os
import warnings
from typing import IO

from PIL import Image

from lab.errors import ImageError

# Largest image accepted: 50 megapixels (a 8660x5773 photo) decodes to 150 MB of RGB.
MAX_PIXELS = 50_000_000


def open_checked(file: str | os.PathLike | IO[bytes], name: str) -> Image.Image:
    """``Image.open``, refusing an image of more than ``MAX_PIXELS`` from its header with an
    ``ImageError``; decoding is left to the caller. Pillow's errors for a file that is no
    image pass through."""
    too_large = (
        f"{name}: more than the {MAX_PIXELS // 1_000_000} megapixels accepted "
        "(a decompression bomb, or a photo to downscale first)"
    )
    try:
        # Pillow warns about damaged metadata and big images; the outcome here is an image or
        # an error, so its warnings would only be noise on stderr.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(file)
    except Image.DecompressionBombError as error:
        raise ImageError(too_large) from error
    width, height = image.size  # from the header: nothing decoded yet
    if width * height > MAX_PIXELS:
        image.close()
        raise ImageError(f"{too_large}: {width}x{height} pixels")
    return image
