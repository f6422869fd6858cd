"""Model builders: each registered model builds and maps a batch to class logits."""

from __future__ import annotations

import pytest
import torch

from workers.engine.errors import ConfigError
from workers.engine.models import MODELS, build_model


@pytest.mark.parametrize(
    "key, input_shape",
    [
        ("mlp", (20,)),
        ("mlp", (3, 8, 8)),
        ("cnn1d", (40,)),
        ("small_cnn", (3, 32, 32)),
        ("small_cnn", (1, 8, 8)),
        ("resnet18", (3, 32, 32)),
    ],
)
def test_every_model_maps_a_batch_to_logits(key, input_shape):
    model = build_model(key, input_shape=input_shape, num_classes=7)
    logits = model(torch.randn(2, *input_shape))
    assert logits.shape == (2, 7)
    logits.sum().backward()
    assert all(parameter.grad is not None for parameter in model.parameters())


def test_every_registered_model_has_a_builder():
    shapes = {"features": (12,), "sequence": (40,), "image": (3, 32, 32)}
    for key, spec in MODELS.items():
        model = build_model(key, input_shape=shapes[spec.inputs[0]], num_classes=3)
        assert isinstance(model, torch.nn.Module)


def test_resnet18_is_the_cifar_variant():
    model = build_model("resnet18", input_shape=(3, 32, 32), num_classes=10)
    stem = model.stem[0]
    assert stem.kernel_size == (3, 3) and stem.stride == (1, 1)
    assert not any(isinstance(module, torch.nn.MaxPool2d) for module in model.modules())
    assert 11_000_000 < sum(parameter.numel() for parameter in model.parameters()) < 11_300_000


def test_same_seed_builds_the_same_weights():
    torch.manual_seed(4)
    first = build_model("small_cnn", input_shape=(3, 32, 32), num_classes=10)
    torch.manual_seed(4)
    second = build_model("small_cnn", input_shape=(3, 32, 32), num_classes=10)
    for a, b in zip(first.parameters(), second.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    "key, input_shape, num_classes",
    [("cnn1d", (3, 8, 8), 10), ("small_cnn", (40,), 10), ("nope", (4,), 10), ("mlp", (4,), 1)],
)
def test_impossible_models_are_refused(key, input_shape, num_classes):
    with pytest.raises(ConfigError):
        build_model(key, input_shape=input_shape, num_classes=num_classes)
