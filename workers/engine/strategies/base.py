"""What every strategy shares: budgets, the selection context, samplers and their declaration.

A strategy declares a key, a family (static / dynamic / weighted), a parameter
schema with defaults, and whether the data budget applies to it. Its sampler
picks the examples of every round from a ``SelectionContext`` and keeps
whatever it needs between rounds in a checkpointable state.

This module imports no torch at run time: the web app reads the registry.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from workers.engine.params import Param

if TYPE_CHECKING:
    import torch
    from torch import nn

STATIC = "static"
DYNAMIC = "dynamic"
WEIGHTED = "weighted"


def budget_count(fraction: float, total: int) -> int:
    """round(fraction × total), halves rounded up, never below 1.

    Python's round() sends halves to even (round(2.5) == 2), which would make
    budgets of 0.5 on odd sizes drift; a budget is never allowed to vanish.
    """
    return max(1, math.floor(fraction * total + 0.5))


@dataclass
class Selection:
    """The examples to train on this round; ``weights`` (if any) multiply their per-sample losses."""

    indices: np.ndarray
    weights: np.ndarray | None = None


@dataclass
class ModelOutputs:
    """A model's outputs on every training example, without augmentation, on the run's device.

    ``embeddings`` are the penultimate-layer features the last linear layer
    reads; ``logits = (embeddings @ W.T + b) · logit_scale``.
    """

    logits: torch.Tensor
    embeddings: torch.Tensor
    logit_scale: float
    has_bias: bool


@dataclass
class ProxyRun:
    """What a proxy training run gives a strategy.

    ``forgetting_counts`` counts, per example, the presentations at which it
    went from classified correctly to incorrectly; ``ever_learned`` says whether
    it was ever classified correctly (both as seen in training, with augmentation).
    """

    model: nn.Module
    losses: np.ndarray
    result: Any
    forgetting_counts: np.ndarray | None = None
    ever_learned: np.ndarray | None = None


def _not_available(name: str) -> Callable[..., Any]:
    def unavailable(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError(f"this selection context offers no {name}")

    return unavailable


@dataclass
class SelectionContext:
    """Everything a strategy may look at when it picks a round's examples.

    ``losses`` holds the last training loss seen for every example (NaN where
    an example was never trained on); it is copied from the device only when
    a strategy reads it. ``train_proxy(rounds=..., seed=..., budget=..., model=...,
    subset=...)`` trains a separate model through the same engine (``rounds=0``
    gives it untrained, as initialised from ``seed``; ``subset`` restricts it to
    those examples); ``infer(model, indices=...)`` runs a model over every
    training example (or a candidate pool) and returns its ``ModelOutputs``.
    Their time counts as selection time because selection is what calls them,
    so a forward pass spent on scoring is selection time too.
    """

    round_index: int
    num_samples: int
    budget: float
    labels: np.ndarray
    rng: np.random.Generator
    model: nn.Module
    device: torch.device
    read_losses: Callable[[], np.ndarray]
    train_proxy: Callable[..., ProxyRun]
    infer: Callable[..., ModelOutputs] = _not_available("inference")
    num_classes: int = 0
    # Training inputs and targets on the device, prepared as the model sees them without augmentation.
    train_inputs: Callable[..., torch.Tensor] = _not_available("training inputs")
    # Rounds the run trains for in all: what annealing and cooldown schedules count towards.
    rounds: int = 0

    @cached_property
    def losses(self) -> np.ndarray:
        return self.read_losses()

    @cached_property
    def classes(self) -> int:
        return self.num_classes or int(self.labels.max()) + 1


def largest_remainder_quotas(exact: np.ndarray, total: int) -> np.ndarray:
    """Whole numbers as close to the ``exact`` quotas (which sum to ``total``) as integers allow, summing to it.

    Every quota gets its floor; the few left over go to the largest remainders,
    ties to the lower index (a stable sort, whatever the RNG).
    """
    exact = np.asarray(exact, dtype=np.float64)
    quotas = np.floor(exact).astype(np.int64)
    remainder = total - int(quotas.sum())
    order = np.argsort(-(exact - quotas), kind="stable")
    quotas[order[:remainder]] += 1
    return quotas


def class_quotas(labels: np.ndarray, total: int) -> dict[int, int]:
    """Split ``total`` over the classes in proportion to their sizes (largest remainders).

    The quotas sum to ``total`` exactly, so a class-balanced subset has the same
    size as an unbalanced one and trains for the same number of steps.
    """
    classes, counts = np.unique(labels, return_counts=True)
    quotas = largest_remainder_quotas(counts * (total / len(labels)), total)
    return {int(label): int(quota) for label, quota in zip(classes, quotas, strict=True)}


def draw_subset(rng: np.random.Generator, labels: np.ndarray, size: int, class_balanced: bool) -> np.ndarray:
    """``size`` distinct examples, optionally the same share of every class, in random order."""
    if not class_balanced:
        return rng.choice(len(labels), size=size, replace=False).astype(np.int64)
    picks = [
        rng.choice(np.flatnonzero(labels == label), size=quota, replace=False)
        for label, quota in class_quotas(labels, size).items()
    ]
    return rng.permutation(np.concatenate(picks)).astype(np.int64)


class Sampler:
    """Selection rule of one strategy for one run.

    ``round_size`` is fixed for the whole run so the engine can lay the
    learning-rate schedule over the exact number of steps before training.
    A sampler whose rounds vary in size (``fixed_size = False``) gives its
    expected round size there; the engine spreads each of its rounds over
    the same stretch of the schedule.
    """

    fixed_size = True

    def __init__(self, params: Mapping[str, Any], *, num_samples: int, budget: float, labels: np.ndarray):
        self.params = dict(params)
        self.num_samples = num_samples
        self.budget = budget
        self.labels = labels
        self.round_size = budget_count(budget, num_samples)

    def planned_rounds(self, rounds: int) -> int:
        return rounds

    def select(self, context: SelectionContext) -> Selection:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what ``state_dict`` saved; stateless samplers have nothing to restore."""


class FixedSubsetSampler(Sampler):
    """The same given examples every round: a proxy trained on a held-out split."""

    def __init__(self, subset: np.ndarray, *, labels: np.ndarray):
        super().__init__({}, num_samples=len(labels), budget=len(subset) / len(labels), labels=labels)
        self.subset = np.asarray(subset, dtype=np.int64)
        self.round_size = len(self.subset)

    def select(self, context: SelectionContext) -> Selection:
        return Selection(self.subset.copy())


class StaticSampler(Sampler):
    """Chooses one subset (and optional weights) before the first round and trains on it every round.

    Subclasses implement ``choose``; its cost (proxy training, scoring, search)
    lands in the first round's selection time, and the choice is checkpointed,
    so a resumed run never pays for it twice.
    """

    def __init__(self, params: Mapping[str, Any], *, num_samples: int, budget: float, labels: np.ndarray):
        super().__init__(params, num_samples=num_samples, budget=budget, labels=labels)
        self.subset: np.ndarray | None = None
        self.weights: np.ndarray | None = None

    def choose(self, context: SelectionContext) -> Selection:
        raise NotImplementedError

    def select(self, context: SelectionContext) -> Selection:
        if self.subset is None:
            chosen = self.choose(context)
            indices = np.asarray(chosen.indices, dtype=np.int64)
            if len(indices) != self.round_size or len(np.unique(indices)) != len(indices):
                raise RuntimeError(
                    f"{type(self).__name__} chose {len(indices)} examples ({len(np.unique(indices))} distinct); "
                    f"its budget is {self.round_size}"
                )
            self.subset = indices
            self.weights = None if chosen.weights is None else np.asarray(chosen.weights, dtype=np.float32)
        weights = None if self.weights is None else self.weights.copy()
        return Selection(self.subset.copy(), weights)

    def state_dict(self) -> dict[str, Any]:
        import torch

        return {
            "subset": None if self.subset is None else torch.from_numpy(self.subset),
            "weights": None if self.weights is None else torch.from_numpy(self.weights),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        subset, weights = state["subset"], state.get("weights")
        self.subset = None if subset is None else subset.numpy().astype(np.int64)
        self.weights = None if weights is None else weights.numpy().astype(np.float32)


@dataclass(frozen=True)
class Paper:
    """The publication a strategy reproduces, as its sampler's docstring cites it.

    ``authors`` is the citation's author list as written there; ``url`` is an
    arXiv or proceedings page, empty where none could be confirmed.
    """

    title: str
    authors: str
    year: int
    url: str = ""

    def describe(self) -> dict[str, Any]:
        return {"title": self.title, "authors": self.authors, "year": self.year, "url": self.url}


@dataclass(frozen=True)
class Strategy:
    """A strategy's declaration.

    ``sampler`` is ``"module:Class"``, imported only when a run is built, so
    that reading the registry never loads torch (a class is accepted too).
    ``paper`` is what the strategy reproduces; controls that cite nothing have none.
    """

    key: str
    family: str
    title: str
    description: str
    sampler: str | type[Sampler]
    params: tuple[Param, ...] = ()
    uses_budget: bool = True
    paper: Paper | None = None

    def sampler_class(self) -> type[Sampler]:
        if not isinstance(self.sampler, str):
            return self.sampler
        module, _, name = self.sampler.partition(":")
        return getattr(importlib.import_module(module), name)

    def describe(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "family": self.family,
            "title": self.title,
            "description": self.description,
            "uses_budget": self.uses_budget,
            "params": [param.describe() for param in self.params],
            "paper": self.paper.describe() if self.paper else None,
        }
