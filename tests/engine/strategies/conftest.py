"""Selection contexts for strategy tests: a real trainer's, or one whose proxy outputs are planted."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from tests.engine.training.conftest import run_config
from workers.engine.arrays import ArrayDataset
from workers.engine.strategies import ModelOutputs, ProxyRun, SelectionContext, make_sampler
from workers.engine.training import Callbacks, DeviceData, Trainer, check_run_config


def trainer(dataset: ArrayDataset, **overrides) -> Trainer:
    """A trainer on ``dataset`` (CPU), whose ``_select`` builds the context the engine gives strategies."""
    config = check_run_config(run_config(**overrides))
    return Trainer(config, DeviceData(dataset, torch.device("cpu"), channels_last=False), callbacks=Callbacks())


def real_context(dataset: ArrayDataset, *, seed: int = 0, **overrides) -> SelectionContext:
    """The context a run's first round sees, with real proxy training and inference."""
    return trainer(dataset, seed=seed, **overrides).selection_context(0)


def bare_context(
    labels: np.ndarray,
    *,
    round_index: int = 0,
    rounds: int = 0,
    rng: np.random.Generator | None = None,
    seed: int = 0,
    losses: np.ndarray | Callable[[], np.ndarray] | None = None,
    infer: Callable[..., ModelOutputs] | None = None,
    num_classes: int = 0,
) -> SelectionContext:
    """A context with planted last losses (NaN: never trained) that fails the test if a proxy is trained.

    ``infer``, when given, answers forward passes; without it a forward pass fails the test too.
    """
    labels = np.asarray(labels, dtype=np.int64)

    def no_proxy(**_):
        raise AssertionError("this strategy trains no proxy")

    def no_inference(*_args, **_kwargs):
        raise AssertionError("this strategy spends no forward pass")

    if losses is None:
        read_losses = lambda: np.full(len(labels), np.nan)  # noqa: E731
    elif callable(losses):
        read_losses = losses
    else:
        read_losses = lambda: np.asarray(losses, dtype=np.float64)  # noqa: E731
    return SelectionContext(
        round_index=round_index,
        num_samples=len(labels),
        budget=0.0,
        labels=labels,
        rng=np.random.default_rng(seed) if rng is None else rng,
        model=nn.Identity(),
        device=torch.device("cpu"),
        read_losses=read_losses,
        train_proxy=no_proxy,
        infer=infer or no_inference,
        num_classes=num_classes,
        rounds=rounds,
    )


def planted_outputs(logits: np.ndarray, embeddings: np.ndarray, *, has_bias: bool = True) -> ModelOutputs:
    return ModelOutputs(
        logits=torch.as_tensor(logits, dtype=torch.float32),
        embeddings=torch.as_tensor(embeddings, dtype=torch.float32),
        logit_scale=1.0,
        has_bias=has_bias,
    )


def planted_context(
    labels: np.ndarray,
    outputs: ModelOutputs | Callable[[int], ModelOutputs],
    *,
    seed: int = 0,
    forgetting_counts: np.ndarray | None = None,
    ever_learned: np.ndarray | None = None,
    losses: np.ndarray | None = None,
) -> SelectionContext:
    """A context whose every proxy yields ``outputs`` (or ``outputs(repeat)``) and the given learning record.

    ``infer`` ignores the model it is handed and returns the planted outputs of
    the proxy trained last, so a strategy's rule can be checked on outputs whose
    answer is known by construction.
    """
    labels = np.asarray(labels, dtype=np.int64)
    proxies: list[int] = []

    def outputs_of(repeat: int) -> ModelOutputs:
        return outputs(repeat) if callable(outputs) else outputs

    def train_proxy(**_kwargs) -> ProxyRun:
        proxies.append(len(proxies))
        model = nn.Linear(1, 1)
        model.repeat = proxies[-1]
        return ProxyRun(
            model=model,
            losses=np.zeros(len(labels)) if losses is None else losses,
            result=None,
            forgetting_counts=forgetting_counts,
            ever_learned=ever_learned,
        )

    return SelectionContext(
        round_index=0,
        num_samples=len(labels),
        budget=0.0,
        labels=labels,
        rng=np.random.default_rng(seed),
        model=nn.Identity(),
        device=torch.device("cpu"),
        read_losses=lambda: np.full(len(labels), np.nan),
        train_proxy=train_proxy,
        infer=lambda model, **_: outputs_of(getattr(model, "repeat", 0)),
        num_classes=int(labels.max()) + 1,
    )


def choose(key: str, context: SelectionContext, budget: float, params: dict | None = None):
    """The static selection strategy ``key`` makes in ``context`` at this budget."""
    sampler = make_sampler(key, params or {}, budget=budget, labels=context.labels)
    return sampler, sampler.select(context)
