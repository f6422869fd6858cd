"""Shared machinery of the score and coreset methods: proxy models and what is read from them.

A proxy is a separate model trained through the engine on the whole training
set for ``proxy_rounds`` rounds, ``proxy_repeats`` times from different
initialisations (seeds drawn from the run's selection stream, so the same run
seed gives the same proxies). Everything here runs inside a sampler's
``choose``, so its time is the run's selection time.

From a trained (or freshly initialised) proxy come per-example outputs on the
unaugmented training set: logits, softmax probabilities, penultimate-layer
embeddings, and last-layer gradient embeddings, the gradient of the
cross-entropy loss with respect to the final linear layer, in closed form
``(p − y) ⊗ [h, 1] · logit_scale`` (Ash et al., 2020; as in DeepCore). The proxy's parameters are declared
with the strategies, by ``registry.proxy_params``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from workers.engine.strategies.base import ModelOutputs, ProxyRun, SelectionContext


def train_proxies(context: SelectionContext, params: Mapping[str, Any]) -> list[ProxyRun]:
    """``proxy_repeats`` proxies, each from its own seed, trained for ``proxy_rounds`` rounds."""
    seeds = context.rng.integers(0, 2**31 - 1, size=params["proxy_repeats"])
    return [
        context.train_proxy(rounds=params["proxy_rounds"], seed=int(seed), model=params["proxy_model"])
        for seed in seeds
    ]


def proxy_outputs(context: SelectionContext, params: Mapping[str, Any]) -> list[ModelOutputs]:
    """Every proxy's outputs on the training set (one entry per repeat)."""
    return [context.infer(proxy.model) for proxy in train_proxies(context, params)]


def targets(context: SelectionContext) -> Tensor:
    return torch.as_tensor(context.labels, dtype=torch.int64, device=context.device)


def probabilities(outputs: ModelOutputs) -> Tensor:
    return F.softmax(outputs.logits.float(), dim=1)


def last_layer_gradients(outputs: ModelOutputs, labels: Tensor, indices: Tensor | None = None) -> Tensor:
    """Per-example gradient of the loss w.r.t. the last layer's weights (and bias), flattened: n × C·(D+1).

    ``indices`` restricts it to some examples, so that a class partition of a
    large dataset never holds every example's gradient at once.
    """
    logits, embeddings = outputs.logits, outputs.embeddings
    if indices is not None:
        logits, embeddings, labels = logits[indices], embeddings[indices], labels[indices]
    residual = F.softmax(logits.float(), dim=1) - F.one_hot(labels, logits.shape[1]).float()
    residual = residual * outputs.logit_scale
    weight_part = (residual[:, :, None] * embeddings[:, None, :]).flatten(1)
    if not outputs.has_bias:
        return weight_part
    return torch.cat([residual, weight_part], dim=1)


def example_losses(context: SelectionContext, model: torch.nn.Module, indices: np.ndarray | None = None) -> Tensor:
    """Cross-entropy of ``model`` on the examples of ``indices`` (all by default), in eval mode, unaugmented.

    This is the forward pass that online methods (hard mining, importance
    sampling, RHO-LOSS) spend on a candidate pool; called from ``select``, its
    time is selection time.
    """
    outputs = context.infer(model, indices=indices)
    labels = targets(context)
    if indices is not None:
        labels = labels[torch.as_tensor(np.asarray(indices, dtype=np.int64), device=labels.device)]
    return F.cross_entropy(outputs.logits.float(), labels, reduction="none")


def draw_pool(rng: np.random.Generator, candidates: np.ndarray | int, size: int) -> np.ndarray:
    """``size`` distinct candidates drawn uniformly (all of them, in random order, if there are fewer)."""
    candidates = np.arange(candidates) if isinstance(candidates, int) else np.asarray(candidates, dtype=np.int64)
    return rng.permutation(candidates)[: min(size, len(candidates))].astype(np.int64)


def mean_over(values: list[Tensor]) -> Tensor:
    return torch.stack(values).mean(dim=0)


def to_numpy(values: Tensor) -> np.ndarray:
    return values.detach().float().cpu().numpy()
