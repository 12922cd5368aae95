"""Augmentation: one frozen config, two implementations that agree.

* ``apply_reference`` runs torchvision's functional transforms on one PIL image: the readable
  reference, used for single-image previews and by the per-image (``reference``) pipeline.
* ``apply_batch`` runs the same transforms on a whole uint8 batch on the training device, every
  sample with its own parameters: translation, resize, flip and rotation are folded into one
  affine ``grid_sample``, so a 32 px image becomes a rotated 227 px one in a single pass.

Both take the parameters drawn by ``sample_params``, so each call can show what it drew. The
order follows the notebook: (random crop with padding) -> Resize -> RandomHorizontalFlip ->
RandomRotation -> colour jitter -> ToTensor -> Normalize -> (random erasing).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.transforms import InterpolationMode

from lab.config import AugmentConfig

# torchvision.transforms.RandomErasing defaults: erased area fraction and aspect ratio range.
ERASE_SCALE = (0.02, 0.33)
ERASE_RATIO = (0.3, 3.3)
# ITU-R 601-2 luma, as torchvision's rgb_to_grayscale.
GRAY_WEIGHTS = (0.2989, 0.587, 0.114)

Params = dict[str, torch.Tensor]


def sample_params(
    config: AugmentConfig,
    batch_size: int,
    input_size: tuple[int, int],
    generator: torch.Generator | None = None,
) -> Params:
    """Draw every sample's parameters (on the CPU; they are tiny)."""
    n = batch_size
    out_h, out_w = config.output_size(input_size)

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=generator)

    def factor(strength: float) -> torch.Tensor:
        return uniform(max(0.0, 1.0 - strength), 1.0 + strength)

    pad = config.translate
    area = uniform(*ERASE_SCALE) * out_h * out_w
    log_ratio = uniform(math.log(ERASE_RATIO[0]), math.log(ERASE_RATIO[1]))
    erase_h = (area * log_ratio.exp()).sqrt().round().clamp(1, out_h).long()
    erase_w = (area / log_ratio.exp()).sqrt().round().clamp(1, out_w).long()
    return {
        "flip": torch.rand(n, generator=generator) < config.hflip_p,
        "angle": uniform(-config.rotation, config.rotation),
        "dx": torch.randint(0, 2 * pad + 1, (n,), generator=generator),
        "dy": torch.randint(0, 2 * pad + 1, (n,), generator=generator),
        "brightness": factor(config.brightness),
        "contrast": factor(config.contrast),
        "saturation": factor(config.saturation),
        "erase": torch.rand(n, generator=generator) < config.erase_p,
        "erase_top": (torch.rand(n, generator=generator) * (out_h - erase_h + 1)).long(),
        "erase_left": (torch.rand(n, generator=generator) * (out_w - erase_w + 1)).long(),
        "erase_h": erase_h,
        "erase_w": erase_w,
    }


def describe_params(params: Params, index: int) -> dict[str, float | int | bool]:
    """One sample's parameters as plain values, for captions."""
    return {key: value[index].item() for key, value in params.items()}


def identity_params(config: AugmentConfig, batch_size: int, input_size: tuple[int, int]) -> Params:
    """Parameters that change nothing: no flip, no rotation, centred crop, unit factors."""
    params = sample_params(config, batch_size, input_size)
    params["flip"].zero_()
    params["angle"].zero_()
    params["dx"].fill_(config.translate)
    params["dy"].fill_(config.translate)
    for key in ("brightness", "contrast", "saturation"):
        params[key].fill_(1.0)
    params["erase"].zero_()
    return params


# --- reference: torchvision on one PIL image ----------------------------------------------------


def apply_reference(
    image: Image.Image,
    config: AugmentConfig,
    params: Params,
    index: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
) -> torch.Tensor:
    """Transform one PIL image with sample ``index`` of ``params``; returns a float (3, H, W)."""
    p = describe_params(params, index)
    image = image.convert("RGB")
    if config.translate:
        width, height = image.size
        image = TF.pad(image, config.translate, fill=0)
        image = TF.crop(image, int(p["dy"]), int(p["dx"]), height, width)
    if config.resize:
        image = TF.resize(image, [config.resize, config.resize], InterpolationMode.BILINEAR)
    if p["flip"]:
        image = TF.hflip(image)
    if config.rotation:
        fill = [config.rotation_fill] * 3
        image = TF.rotate(image, p["angle"], InterpolationMode.NEAREST, fill=fill)
    if config.brightness:
        image = TF.adjust_brightness(image, p["brightness"])
    if config.contrast:
        image = TF.adjust_contrast(image, p["contrast"])
    if config.saturation:
        image = TF.adjust_saturation(image, p["saturation"])
    tensor = TF.to_tensor(image)
    if config.normalize:
        tensor = TF.normalize(tensor, list(mean), list(std))
    if p["erase"]:
        box = (int(p["erase_top"]), int(p["erase_left"]), int(p["erase_h"]), int(p["erase_w"]))
        tensor = TF.erase(tensor, *box, v=torch.tensor(0.0))
    return tensor


class ReferenceAugment:
    """Per-image callable for a torchvision Dataset: draws its parameters, then applies them."""

    def __init__(
        self, config: AugmentConfig, mean: tuple[float, ...], std: tuple[float, ...], train: bool
    ) -> None:
        self.config = config
        self.mean, self.std = mean, std
        self.train = train

    def __call__(self, image: Image.Image) -> torch.Tensor:
        size = (image.size[1], image.size[0])
        if self.train:
            params = sample_params(self.config, 1, size)
        else:
            params = identity_params(self.config, 1, size)
        config = self.config if self.train else eval_config(self.config)
        return apply_reference(image, config, params, 0, self.mean, self.std)


# --- batched: the same transforms on a uint8 batch on the training device -----------------------


def eval_config(config: AugmentConfig) -> AugmentConfig:
    """The test-time transform of a training config: resize and normalise only."""
    return AugmentConfig(resize=config.resize, hflip_p=0.0, normalize=config.normalize)


def _normalize(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    m = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    s = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - m) / s


def _grayscale(x: torch.Tensor) -> torch.Tensor:
    w = torch.tensor(GRAY_WEIGHTS, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True)


def _geometry(
    x: torch.Tensor,
    config: AugmentConfig,
    params: Params,
    pad_fill: torch.Tensor,
    rotation_fill: torch.Tensor,
) -> torch.Tensor:
    """Translation, resize, flip and rotation as one affine resampling per sample.

    ``pad_fill`` and ``rotation_fill`` are per-channel values (in the units of ``x``) for what
    the translation's zero padding and the rotation's uncovered corners show."""
    n, _, in_h, in_w = x.shape
    out_h, out_w = config.output_size((in_h, in_w))
    device = x.device
    angle = torch.deg2rad(params["angle"].to(device, torch.float32))
    cos, sin = angle.cos(), angle.sin()
    # Output -> pre-rotation coordinates (normalised, y down), in pixel units to respect aspect.
    sx, sy = out_w / 2.0, out_h / 2.0
    rot = torch.stack(
        [
            torch.stack([cos, -sin * sy / sx], dim=1),
            torch.stack([sin * sx / sy, cos], dim=1),
        ],
        dim=1,
    )
    flip = torch.where(params["flip"].to(device), -1.0, 1.0)
    linear = rot.clone()
    linear[:, 0, :] *= flip.view(n, 1)
    pad = config.translate
    shift = torch.stack(
        [
            2.0 * (params["dx"].to(device, torch.float32) - pad) / in_w,
            2.0 * (params["dy"].to(device, torch.float32) - pad) / in_h,
        ],
        dim=1,
    )
    theta = torch.cat([linear, shift.unsqueeze(2)], dim=2)
    grid = F.affine_grid(theta, [n, 3, out_h, out_w], align_corners=False)
    # "border" matches PIL's edge handling when resizing; regions that the reference fills
    # (zero padding of the translation, the rotation's fill) are masked in exactly below.
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    gx, gy = grid[..., 0], grid[..., 1]
    outside = ((gx.abs() > 1.0) | (gy.abs() > 1.0)).unsqueeze(1)
    out = torch.where(outside, pad_fill, out)
    if config.rotation:
        # Pre-rotation coordinates from the same grid: take the shift off (the flip only
        # changes a sign), so no second grid is needed.
        rx = gx - shift[:, 0].view(n, 1, 1)
        ry = gy - shift[:, 1].view(n, 1, 1)
        uncovered = ((rx.abs() > 1.0) | (ry.abs() > 1.0)).unsqueeze(1)
        out = torch.where(uncovered, rotation_fill, out)
    return out


def apply_batch(
    images: torch.Tensor,
    config: AugmentConfig,
    params: Params,
    mean: tuple[float, ...],
    std: tuple[float, ...],
) -> torch.Tensor:
    """Transform a uint8 batch ``(N, 3, H, W)`` with per-sample ``params``; float32 output."""
    x = images.float().div_(255.0)
    device = x.device
    geometric = config.translate or config.rotation or config.hflip_p > 0
    jitter = config.brightness or config.contrast or config.saturation
    # Without colour jitter, normalising the small input before resampling is the same affine
    # map and costs (32/227)^2 of normalising the output; the fills are normalised instead.
    normalize_first = config.normalize and geometric and not jitter
    pad_fill = torch.zeros(1, 3, 1, 1, device=device)
    rotation_fill = torch.full((1, 3, 1, 1), config.rotation_fill / 255.0, device=device)
    if normalize_first:
        x = _normalize(x, mean, std)
        pad_fill, rotation_fill = (
            _normalize(pad_fill, mean, std),
            _normalize(rotation_fill, mean, std),
        )
    if geometric:
        x = _geometry(x, config, params, pad_fill, rotation_fill)
    elif config.resize and x.shape[-2:] != (config.resize, config.resize):
        x = F.interpolate(
            x, size=(config.resize, config.resize), mode="bilinear", antialias=True
        ).clamp_(0.0, 1.0)
    if config.brightness:
        x = (x * params["brightness"].to(device).view(-1, 1, 1, 1)).clamp_(0.0, 1.0)
    if config.contrast:
        c = params["contrast"].to(device).view(-1, 1, 1, 1)
        gray_mean = _grayscale(x).mean(dim=(1, 2, 3), keepdim=True)
        x = (c * x + (1 - c) * gray_mean).clamp_(0.0, 1.0)
    if config.saturation:
        s = params["saturation"].to(device).view(-1, 1, 1, 1)
        x = (s * x + (1 - s) * _grayscale(x)).clamp_(0.0, 1.0)
    if config.normalize and not normalize_first:
        x = _normalize(x, mean, std)
    if config.erase_p > 0:
        h, w = x.shape[-2:]
        rows = torch.arange(h, device=device).view(1, h, 1)
        cols = torch.arange(w, device=device).view(1, 1, w)
        top, left = params["erase_top"].to(device), params["erase_left"].to(device)
        height, width = params["erase_h"].to(device), params["erase_w"].to(device)
        inside = (
            (rows >= top.view(-1, 1, 1))
            & (rows < (top + height).view(-1, 1, 1))
            & (cols >= left.view(-1, 1, 1))
            & (cols < (left + width).view(-1, 1, 1))
            & params["erase"].to(device).view(-1, 1, 1)
        )
        x = x.masked_fill(inside.unsqueeze(1), 0.0)
    return x


def preprocess_batch(
    images: torch.Tensor, config: AugmentConfig, mean: tuple[float, ...], std: tuple[float, ...]
) -> torch.Tensor:
    """The deterministic test-time transform (resize, normalise) of a uint8 batch."""
    test_config = eval_config(config)
    params = identity_params(test_config, images.shape[0], tuple(images.shape[-2:]))
    return apply_batch(images, test_config, params, mean, std)
