"""Model registry: architectures a recipe can name, and their builders.

Every model ends in one linear layer, ``classifier``, over penultimate-layer
features: ``forward(x) == classifier(features(x)) * logit_scale``. Strategies
read those features (embeddings) and the layer (last-layer gradients).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import Tensor, nn

from workers.engine.errors import ConfigError
from workers.engine.model_specs import MODELS, ModelSpec, get_model_spec

__all__ = ["MODELS", "ModelSpec", "build_model", "get_model_spec"]


class MLP(nn.Module):
    logit_scale = 1.0

    def __init__(self, input_size: int, num_classes: int, hidden: int = 256):
        super().__init__()
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(input_size, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(hidden, num_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


class CNN1d(nn.Module):
    """Strided 1-D convolutions, then a linear layer over the flattened positions.

    Keeping position information (flatten rather than global pooling) matters on
    MNIST-1D, where a digit's template sits at a random offset but its shape is
    read left to right.
    """

    logit_scale = 1.0

    def __init__(self, length: int, num_classes: int, widths: tuple[int, ...] = (32, 64, 128)):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for index, width in enumerate(widths):
            kernel = 5 if index == 0 else 3
            layers += [
                nn.Conv1d(channels, width, kernel, stride=2, padding=kernel // 2, bias=False),
                nn.BatchNorm1d(width),
                nn.GELU(),
            ]
            channels = width
            length = (length + 1) // 2
        self.convolutions = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels * length, num_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.convolutions(x.unsqueeze(1)).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


class ConvGroup(nn.Module):
    """conv → (max-pool) → BN → GELU → conv → BN → GELU, as in fast CIFAR-10 trainers.

    Pooling right after the first convolution keeps the second convolution and
    both batch norms at a quarter of the resolution, which is where the speed comes from.
    """

    def __init__(self, channels_in: int, channels_out: int, pool: bool):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(channels_in, channels_out, 3, padding=1, bias=False),
            nn.MaxPool2d(2) if pool else nn.Identity(),
            nn.BatchNorm2d(channels_out),
            nn.GELU(),
            nn.Conv2d(channels_out, channels_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels_out),
            nn.GELU(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class SmallCNN(nn.Module):
    """Three conv groups and a max-pooled linear head: a few million multiply-adds per 32×32 image.

    There is no full-resolution stem: the first convolution reads the 3 input
    channels directly and is pooled at once, since full-resolution layers
    dominate the cost on a CPU.
    """

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, widths: tuple[int, ...] = (32, 64, 128)):
        super().__init__()
        channels_in, height, width = input_shape
        groups: list[nn.Module] = []
        for channels_out in widths:
            # Pool only while the map stays at least 2×2, so batch norm always
            # sees more than one value per channel (small inputs, batch of one).
            pool = min(height, width) >= 4
            groups.append(ConvGroup(channels_in, channels_out, pool))
            if pool:
                height, width = height // 2, width // 2
            channels_in = channels_out
        self.groups = nn.Sequential(*groups)
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.classifier = nn.Linear(channels_in, num_classes, bias=False)
        # Max-pooled GELU features are large; a fixed down-scaling of the
        # logits keeps the initial softmax soft, as fast CIFAR-10 trainers do.
        self.logit_scale = 1 / 8

    def features(self, x: Tensor) -> Tensor:
        return self.pool(self.groups(x)).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x)) * self.logit_scale


class BasicBlock(nn.Module):
    def __init__(self, channels_in: int, channels_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels_out)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels_out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or channels_in != channels_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(channels_in, channels_out, 1, stride=stride, bias=False),
                nn.BatchNorm2d(channels_out),
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18 for 32×32 inputs: a 3×3 stem and no max-pool, as in the RS2 paper's CIFAR-10 runs."""

    logit_scale = 1.0

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(channels, 64, 3, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
        )
        stages: list[nn.Module] = []
        channels_in = 64
        for channels_out, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            stages += [BasicBlock(channels_in, channels_out, stride), BasicBlock(channels_out, channels_out, 1)]
            channels_in = channels_out
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(512, num_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.pool(self.stages(self.stem(x))).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


def _image_shape(key: str, input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(input_shape) != 3:
        raise ConfigError("model", f"{key} needs C×H×W image inputs; got shape {tuple(input_shape)}")
    return (int(input_shape[0]), int(input_shape[1]), int(input_shape[2]))


def _build_mlp(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    return MLP(math.prod(input_shape), num_classes)


def _build_cnn1d(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    if len(input_shape) != 1:
        raise ConfigError("model", f"cnn1d needs 1-D sequence inputs; got shape {tuple(input_shape)}")
    return CNN1d(int(input_shape[0]), num_classes)


def _build_small_cnn(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    return SmallCNN(_image_shape("small_cnn", input_shape), num_classes)


def _build_resnet18(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    return ResNet18(_image_shape("resnet18", input_shape)[0], num_classes)


BUILDERS: dict[str, Callable[[tuple[int, ...], int], nn.Module]] = {
    "mlp": _build_mlp,
    "cnn1d": _build_cnn1d,
    "small_cnn": _build_small_cnn,
    "resnet18": _build_resnet18,
}


def build_model(key: str, *, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """A freshly initialised model; its weights come from torch's global RNG (seed it first)."""
    get_model_spec(key)
    if num_classes < 2:
        raise ConfigError("num_classes", f"must be at least 2; got {num_classes}")
    return BUILDERS[key](tuple(input_shape), num_classes)
