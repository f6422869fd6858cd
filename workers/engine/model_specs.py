"""The model catalogue: keys, titles and accepted inputs, without importing torch.

The web app validates experiments against it; ``workers.engine.models`` builds the networks.
"""

from __future__ import annotations

from dataclasses import dataclass

from workers.engine.errors import ConfigError


@dataclass(frozen=True)
class ModelSpec:
    key: str
    title: str
    # Input kinds the model accepts: "features" (flat vectors), "sequence"
    # (1-D signals), "image" (C×H×W).
    inputs: tuple[str, ...]


MODELS: dict[str, ModelSpec] = {
    spec.key: spec
    for spec in (
        ModelSpec("mlp", "Multi-layer perceptron", ("features", "sequence", "image")),
        ModelSpec("cnn1d", "1-D CNN (MNIST-1D)", ("sequence",)),
        ModelSpec("small_cnn", "Fast small CNN (32×32 images)", ("image",)),
        ModelSpec("resnet18", "ResNet-18, CIFAR variant", ("image",)),
    )
}


def get_model_spec(key: str, *, field: str = "model") -> ModelSpec:
    if not isinstance(key, str) or key not in MODELS:
        known = ", ".join(sorted(MODELS))
        raise ConfigError(field, f"unknown model {key!r}; known models: {known}")
    return MODELS[key]
