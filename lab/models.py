"""The models: the course notebook's AlexNet and a CIFAR-native AlexNet, plus a layer summary.

``alexnet`` is the notebook's network layer for layer, so its ``state_dict`` keys are exactly the
notebook's (``features.0.weight`` ... ``classifier.6.bias``) and a notebook ``alex_net.pth``
loads strictly. ``alexnet_cifar`` keeps the AlexNet family (five convolutions with 64-192-384-
256-256 channels, three max-pools, BatchNorm, a dropout classifier) but its stem works on the
native 32 px images, which makes it about 40 times cheaper per image than the 227 px network.
``alexnet_whitened`` is the same family shaped for accuracy per FLOP, after the fastest CIFAR-10
trainers (airbench): a frozen patch-whitening first convolution set from the training images
(``init_whitening``), the later convolutions pooled early, and a global max-pool head.
"""

from __future__ import annotations

import torch
from torch import nn

from lab.config import ModelConfig
from lab.device import autocast


class AlexNet(nn.Module):
    """The course notebook's AlexNet with BatchNorm, for 227x227 input."""

    def __init__(self, num_classes: int = 10, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, stride=1, padding=2),
            nn.BatchNorm2d(192),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, stride=1, padding=1),
            nn.BatchNorm2d(384),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, stride=1, padding=1),
            nn.BatchNorm2d(256),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, stride=1, padding=1),
            nn.BatchNorm2d(256),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.AdaptiveAvgPool2d(output_size=(6, 6)),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(9216, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, 1024),
            nn.ReLU(inplace=True),
            nn.Linear(1024, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # flatten, not view: view fails on channels_last activations.
        return self.classifier(torch.flatten(self.features(x), 1))


def _conv_bn(c_in: int, c_out: int) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]


class AlexNetCifar(nn.Module):
    """AlexNet for native 32x32 input: 3x3 stem without stride, pools at 32, 16 and 8 px."""

    def __init__(self, num_classes: int = 10, width: float = 1.0, dropout: float = 0.5) -> None:
        super().__init__()
        c1, c2, c3, c4, c5 = (max(8, round(c * width)) for c in (64, 192, 384, 256, 256))
        self.features = nn.Sequential(
            *_conv_bn(3, c1),
            nn.MaxPool2d(2),
            *_conv_bn(c1, c2),
            nn.MaxPool2d(2),
            *_conv_bn(c2, c3),
            *_conv_bn(c3, c4),
            *_conv_bn(c4, c5),
            nn.MaxPool2d(2),
            # 4x4 already at 32 px; other input sizes (an image folder of 64 px images) still fit.
            nn.AdaptiveAvgPool2d((4, 4)),
        )
        hidden = max(64, round(1024 * width))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(c5 * 4 * 4, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


# Side of the whitening filters: 2x2 patches of 3 channels have 12 directions, and the stem keeps
# each whitened direction and its negative, so the ReLU after it loses nothing.
WHITEN_KERNEL = 2
WHITEN_CHANNELS = 2 * 3 * WHITEN_KERNEL**2
# Added to the patch covariance's eigenvalues, so near-constant directions are not blown up.
WHITEN_EPS = 5e-4


class _BatchNormBias(nn.BatchNorm2d):
    """BatchNorm with a learned shift but no learned scale: the following convolution (or the
    head) can scale anyway, and dropping the scale lets a high learning rate stay stable."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, eps=1e-12, momentum=0.4)
        self.weight.requires_grad_(False)


def _conv_identity(c_in: int, c_out: int) -> nn.Conv2d:
    """A 3x3 convolution whose first ``c_in`` filters start as the identity (pass the input
    through), so the deep stack trains from the first step as if it were shallow."""
    conv = nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False)
    nn.init.dirac_(conv.weight.data[: min(c_in, c_out)])
    return conv


def _whitened_stage(conv: nn.Conv2d, pool: bool) -> list[nn.Module]:
    """A convolution, optionally a 2x2 max-pool (before BatchNorm: a quarter of the work),
    BatchNorm without scale, ReLU."""
    pooled = [nn.MaxPool2d(2)] if pool else []
    return [conv, *pooled, _BatchNormBias(conv.out_channels), nn.ReLU(inplace=True)]


class AlexNetWhitened(nn.Module):
    """AlexNet family for 32 px input, shaped for accuracy per FLOP on a CPU.

    conv1 (2x2 patch whitening, frozen) -> conv2 -> pool -> conv3 -> pool -> conv4 -> conv5 ->
    pool -> global max-pool -> linear, each convolution followed by BatchNorm and ReLU. Width 1
    is 64-256-256-256 channels after the whitening stem (about 210 MFLOP per image); the logits
    are scaled down (``LOGIT_SCALE``) so the large learning rates of Nesterov SGD stay stable.
    """

    LOGIT_SCALE = 1 / 9

    def __init__(self, num_classes: int = 10, width: float = 1.0, dropout: float = 0.0) -> None:
        super().__init__()
        c2, c3, c4, c5 = (max(8, round(c * width)) for c in (64, 256, 256, 256))
        whiten = nn.Conv2d(3, WHITEN_CHANNELS, kernel_size=WHITEN_KERNEL, bias=True)
        whiten.weight.requires_grad_(False)
        nn.init.zeros_(whiten.bias)
        self.features = nn.Sequential(
            *_whitened_stage(whiten, pool=False),
            *_whitened_stage(_conv_identity(WHITEN_CHANNELS, c2), pool=True),
            *_whitened_stage(_conv_identity(c2, c3), pool=True),
            *_whitened_stage(_conv_identity(c3, c4), pool=False),
            *_whitened_stage(_conv_identity(c4, c5), pool=True),
            nn.AdaptiveMaxPool2d(1),
        )
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(c5, num_classes, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1)) * self.LOGIT_SCALE


@torch.no_grad()
def init_whitening(model: AlexNetWhitened, images: torch.Tensor) -> None:
    """Set the frozen stem of an ``AlexNetWhitened`` from preprocessed training images: its
    filters project each 2x2 patch on the eigenvectors of the patches' covariance, scaled to
    unit variance, so the next layer sees decorrelated inputs from the first step."""
    stem = model.features[0]
    k = WHITEN_KERNEL
    covariance = torch.zeros(3 * k * k, 3 * k * k, dtype=torch.float64)
    count = 0
    for chunk in images.split(500):  # chunks keep the patch copies to a few MB
        patches = chunk.double().unfold(2, k, 1).unfold(3, k, 1)  # (N, C, H', W', k, k)
        flat = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, 3 * k * k)
        covariance += flat.T @ flat
        count += len(flat)
    covariance /= count
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    filters = (eigenvectors.T / (eigenvalues + WHITEN_EPS).sqrt().unsqueeze(1)).view(-1, 3, k, k)
    stem.weight.copy_(torch.cat((filters, -filters)).to(stem.weight.dtype))


def build_model(config: ModelConfig, num_classes: int = 10) -> nn.Module:
    """A freshly initialised model for ``config``."""
    if config.name == "alexnet":
        return AlexNet(num_classes=num_classes, dropout=config.dropout)
    if config.name == "alexnet_whitened":
        return AlexNetWhitened(num_classes=num_classes, width=config.width, dropout=config.dropout)
    return AlexNetCifar(num_classes=num_classes, width=config.width, dropout=config.dropout)


def _layer_flops(module: nn.Module, inputs: torch.Tensor, output: torch.Tensor) -> int:
    """Multiply-adds counted as two FLOPs, per image."""
    if isinstance(module, nn.Conv2d):
        per_output = (
            module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
        )
        return 2 * per_output * output[0].numel()
    if isinstance(module, nn.Linear):
        return 2 * module.in_features * module.out_features
    if isinstance(module, (nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d, nn.AdaptiveAvgPool2d)):
        return output[0].numel()
    return 0


def summarize(model: nn.Module, input_size: int) -> list[dict]:
    """One row per leaf layer: name, type, output shape, parameters and FLOPs per image."""
    rows: list[dict] = []
    hooks = []
    for name, module in model.named_modules():
        if list(module.children()):
            continue

        def hook(mod, inputs, output, name=name):
            rows.append(
                {
                    "layer": name,
                    "type": type(mod).__name__,
                    "output_shape": tuple(output.shape[1:]),
                    "params": sum(p.numel() for p in mod.parameters()),
                    "flops": _layer_flops(mod, inputs[0], output),
                }
            )

        hooks.append(module.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, input_size, input_size))
    finally:
        for handle in hooks:
            handle.remove()
        model.train(was_training)
    return rows


def predict_logits(
    model: nn.Module,
    x: torch.Tensor,
    *,
    device: torch.device,
    precision: str = "fp32",
    tta_flip: bool = False,
) -> torch.Tensor:
    """float32 logits of a preprocessed batch; with ``tta_flip`` averaged with the mirror image."""
    with autocast(device, precision):
        logits = model(x).float()
        if tta_flip:
            logits = (logits + model(x.flip(3)).float()) / 2
    return logits
