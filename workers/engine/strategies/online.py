"""Online loss-based selection: the model being trained scores examples as it goes.

Two kinds live here. ``loss_importance`` and ``hard_mining`` draw a uniform
candidate pool every round and run one forward pass of the current model on
it (``proxy.example_losses``); that pass is selection time. ``ucb`` and
``epsilon_greedy`` spend no forward pass at all: they keep per-example running
statistics of the losses the examples had when they were last trained on
(``context.losses``), checkpointed with the sampler.

The papers select per mini-batch; the engine selects once per round (epoch),
so every sampler here picks a whole round's r·N examples at once, scored by
the model as it stands at the start of the round.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from workers.engine.strategies.base import Sampler, Selection, SelectionContext
from workers.engine.strategies.proxy import draw_pool, example_losses, targets, to_numpy


def pool_size(pool_factor: float, round_size: int, num_samples: int) -> int:
    """B = pool_factor · r·N candidates (halves rounded up), never fewer than the round nor more than the data."""
    return min(num_samples, max(round_size, math.floor(pool_factor * round_size + 0.5)))


def importance_scores(context: SelectionContext, pool: np.ndarray, score: str) -> np.ndarray:
    """The current model's importance of each pool example: its loss, or the gradient-norm upper bound.

    The bound is ‖∂loss/∂logits‖₂ = ‖softmax − onehot‖₂ (Katharopoulos & Fleuret, 2018), up to
    a factor from the network's Lipschitz constants that is the same for every example; the
    normalisation into probabilities cancels it, so it is left out (as is the model's logit
    scale, for the same reason).
    """
    if score == "loss":
        return to_numpy(example_losses(context, context.model, pool)).astype(np.float64)
    outputs = context.infer(context.model, indices=pool)
    logits = outputs.logits.float()
    labels = targets(context)[torch.as_tensor(pool, device=logits.device)]
    residual = F.softmax(logits, dim=1) - F.one_hot(labels, logits.shape[1]).float()
    return to_numpy(residual.norm(dim=1)).astype(np.float64)


def sampling_probabilities(scores: np.ndarray, smoothing: float) -> np.ndarray:
    """p ∝ score, mixed with the uniform distribution in proportion ``smoothing``.

    A pool whose scores are all zero (every example fitted exactly) gives the uniform distribution.
    """
    total = scores.sum()
    uniform = np.full(len(scores), 1.0 / len(scores))
    if not np.isfinite(total) or total <= 0:
        return uniform
    return (1.0 - smoothing) * scores / total + smoothing * uniform


class LossImportanceSampler(Sampler):
    """Importance sampling by loss or its gradient-norm upper bound, with unbiased weights.

    Katharopoulos & Fleuret (2018), "Not All Samples Are Created Equal: Deep
    Learning with Importance Sampling", ICML. Each round: presample a pool of
    B = pool_factor · r·N examples uniformly, score them with one forward pass of
    the current model (the upper bound ‖softmax − onehot‖₂ of the per-example
    gradient norm, or the loss), draw r·N of them with replacement with
    p_i ∝ score_i (mixed with uniform by ``smoothing``), and weight each draw by
    w_i = 1 / (B · p_i), so that the weighted mean loss is an unbiased estimate
    of the pool's mean loss, hence of the full data's.

    Departures: the paper presamples B and resamples b for every mini-batch; here
    one pool of pool_factor · r·N is scored per round and the whole round is drawn
    from it, with the model of the start of the round. The paper also switches
    importance sampling on only once its estimated variance reduction τ passes a
    threshold τ_th and trains uniformly before; here it is on from the first round.
    The default pool factor 5 is the paper's CIFAR ratio (B = 640 for b = 128).
    """

    def select(self, context: SelectionContext) -> Selection:
        size = pool_size(self.params["pool_factor"], self.round_size, self.num_samples)
        pool = draw_pool(context.rng, self.num_samples, size)
        scores = importance_scores(context, pool, self.params["score"])
        probabilities = sampling_probabilities(scores, self.params["smoothing"])
        draws = context.rng.choice(len(pool), size=self.round_size, replace=True, p=probabilities)
        weights = 1.0 / (len(pool) * probabilities[draws])
        return Selection(pool[draws], weights.astype(np.float32))


class HardMiningSampler(Sampler):
    """Online hard example mining: the r·N highest-loss examples of a uniform candidate pool.

    Shrivastava, Gupta & Girshick (2016), "Training Region-based Object Detectors
    with Online Hard Example Mining", CVPR: run the current model forward over many
    candidates, back-propagate only the highest-loss ones. Sahayam, Zakkam &
    Jayaraman (2023), "Can we learn better with hard samples?" (arXiv 2304.03486)
    apply the same idea to image classification, training on the highest-loss
    mini-batches of an epoch.

    Each round: a pool of pool_factor · r·N examples drawn uniformly (all of them
    when that reaches N), one eval-mode, unaugmented forward pass of the current
    model on it, keep the r·N of highest loss (ties go to the earlier draw).
    Departures: OHEM selects among the regions of each mini-batch's images (with
    non-maximum suppression), Sahayam et al. rank whole mini-batches; here examples
    are ranked once per round. The default pool factor 10 keeps one example in ten,
    the ratio RHO-LOSS (Mindermann et al., 2022) uses for its own top-loss selection,
    so the two online top-k rules in this registry compare like for like; OHEM's
    ratio is larger still (64 of about 2,000 regions per image).
    """

    def select(self, context: SelectionContext) -> Selection:
        size = pool_size(self.params["pool_factor"], self.round_size, self.num_samples)
        pool = draw_pool(context.rng, self.num_samples, size)
        losses = to_numpy(example_losses(context, context.model, pool))
        hardest = np.argsort(-losses, kind="stable")[: self.round_size]
        return Selection(pool[hardest])


class LossStatisticsSampler(Sampler):
    """Keeps an exponentially weighted mean and variance of every example's training loss.

    The statistics are fed by the losses the engine records while training
    (``context.losses``, no forward pass): at the start of each round, the
    examples trained in the round before take in the loss they had then. With
    weight α (``ema_weight``) on the newest loss x and δ = x − mean::

        mean ← mean + α·δ
        variance ← (1 − α)·(variance + α·δ²)

    (the incremental exponentially weighted variance); an example's first loss
    sets its mean, with variance 0. Examples never trained on have no statistics
    and rank first, in random order, ahead of every scored example (the bandit
    rule of pulling every arm once before comparing bounds).
    """

    def __init__(self, params: Mapping[str, Any], *, num_samples: int, budget: float, labels: np.ndarray):
        super().__init__(params, num_samples=num_samples, budget=budget, labels=labels)
        self.mean = np.zeros(num_samples, dtype=np.float64)
        self.variance = np.zeros(num_samples, dtype=np.float64)
        self.observations = np.zeros(num_samples, dtype=np.int64)
        self.last_selection: np.ndarray | None = None

    def scores(self) -> np.ndarray:
        raise NotImplementedError

    def observe(self, indices: np.ndarray, losses: np.ndarray) -> None:
        """Fold one new loss per example of ``indices`` into its statistics."""
        alpha = self.params["ema_weight"]
        first = self.observations[indices] == 0
        delta = losses - self.mean[indices]
        mean = np.where(first, losses, self.mean[indices] + alpha * delta)
        variance = np.where(first, 0.0, (1 - alpha) * (self.variance[indices] + alpha * delta**2))
        self.mean[indices] = mean
        self.variance[indices] = variance
        self.observations[indices] += 1

    def _take_in_last_round(self, context: SelectionContext) -> None:
        if self.last_selection is None:
            return
        indices = np.unique(self.last_selection)
        losses = context.losses[indices].astype(np.float64)
        # A loss is missing only if the round was never trained (a run stopped before it).
        seen = np.isfinite(losses)
        self.observe(indices[seen], losses[seen])

    def ranking(self, context: SelectionContext) -> np.ndarray:
        """Every example, best first: unseen ones (random order), then by score, ties in random order."""
        priority = np.where(self.observations == 0, np.inf, self.scores())
        shuffled = context.rng.permutation(self.num_samples)
        return shuffled[np.argsort(-priority[shuffled], kind="stable")]

    def choose(self, context: SelectionContext) -> np.ndarray:
        raise NotImplementedError

    def select(self, context: SelectionContext) -> Selection:
        self._take_in_last_round(context)
        chosen = self.choose(context).astype(np.int64)
        self.last_selection = chosen
        return Selection(chosen.copy())

    def state_dict(self) -> dict[str, Any]:
        return {
            "mean": torch.from_numpy(self.mean),
            "variance": torch.from_numpy(self.variance),
            "observations": torch.from_numpy(self.observations),
            "last_selection": None if self.last_selection is None else torch.from_numpy(self.last_selection),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.mean = state["mean"].numpy().astype(np.float64)
        self.variance = state["variance"].numpy().astype(np.float64)
        self.observations = state["observations"].numpy().astype(np.int64)
        last = state["last_selection"]
        self.last_selection = None if last is None else last.numpy().astype(np.int64)


class UCBSampler(LossStatisticsSampler):
    """Upper-confidence-bound dynamic pruning: keep the r·N examples of highest mean + c · variance of loss.

    Raju, Daruwalla & Lipasti (2021), "Accelerating Deep Learning with Dynamic Data
    Pruning" (arXiv 2111.12621). Each example is an arm whose reward is its training
    loss; its score is the exponentially weighted mean of its losses plus ``confidence``
    (c) times their exponentially weighted variance, so examples whose loss swings
    (the paper's "sometimes" samples) are revisited even when their mean is modest.
    The round trains on the r·N examples of highest score; never-trained examples
    come first.

    Departures: the statistics are updated once per round, from the losses the engine
    recorded while training the previous round's examples, rather than batch by batch,
    and the subset is chosen again every round. The fixed per-round budget leaves no
    room for a scoring pass over all the data, so examples never trained on are
    explored first. The bonus is c times the variance itself, not its square root, as
    in the public reimplementation of the method in sodabori/dataset_pruning.
    """

    def scores(self) -> np.ndarray:
        return self.mean + self.params["confidence"] * self.variance

    def choose(self, context: SelectionContext) -> np.ndarray:
        return self.ranking(context)[: self.round_size]


def random_share(epsilon: float, round_size: int) -> int:
    """ε · r·N examples drawn uniformly (halves rounded up), the rest greedy."""
    return min(round_size, math.floor(epsilon * round_size + 0.5))


class EpsilonGreedySampler(LossStatisticsSampler):
    """ε-greedy dynamic pruning: the (1 − ε)·r·N highest mean-loss examples plus ε·r·N uniformly from the rest.

    Raju, Daruwalla & Lipasti (2021), "Accelerating Deep Learning with Dynamic Data
    Pruning" (arXiv 2111.12621). The score of an example is the exponentially weighted
    mean of its training losses; exploiting keeps the highest-scoring ones, exploring
    draws ε of the round uniformly among all the others, so stale scores of pruned
    examples get refreshed. Never-trained examples rank above every scored one in
    the greedy share.

    Departures: as for ``ucb``, the statistics come from the losses recorded in
    training and are updated once per round, and unseen examples are explored first.
    """

    def scores(self) -> np.ndarray:
        return self.mean

    def choose(self, context: SelectionContext) -> np.ndarray:
        explored = random_share(self.params["epsilon"], self.round_size)
        ranking = self.ranking(context)
        greedy = ranking[: self.round_size - explored]
        rest = ranking[self.round_size - explored :]
        return np.concatenate([greedy, context.rng.choice(rest, size=explored, replace=False)])
