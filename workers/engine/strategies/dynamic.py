"""Dynamic resampling and pruning: a fresh subset every round, from a static score or from the last losses.

``ScoreResamplingSampler`` turns a score of the static library into a new
weighted draw every round, as the RS2 repository's ``*_sampling`` methods do.
``InfoBatchSampler`` and ``SeTaSampler`` prune from the loss each example had
when it was last trained on (free: the engine records it), so their rounds
vary in size; the budget is the fraction they are expected to train on, and
the realised fraction is what every metric row's ``data_fraction`` reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.cluster import KMeans

from workers.engine.strategies.base import Sampler, Selection, SelectionContext, budget_count
from workers.engine.strategies.registry import get_strategy, resolve_strategy_params

PROXY_PARAMS = ("proxy_rounds", "proxy_repeats", "proxy_model")
# InfoBatch's own code never keeps less than a tenth of the well-learned examples (its weights would explode).
MAX_PRUNE_PROBABILITY = 0.9


def annealed_rounds(fraction: float, rounds: int) -> int:
    """How many of the last rounds train without pruning: ``fraction`` of them, halves rounded up."""
    return min(rounds, budget_count(fraction, rounds)) if fraction > 0 else 0


def weighted_draw(rng: np.random.Generator, probabilities: np.ndarray, size: int, *, replace: bool) -> np.ndarray:
    """``size`` examples drawn with these probabilities, with or without replacement.

    Without replacement this is successive sampling (each draw in proportion to
    the probabilities of the examples not yet drawn), computed at once by the
    Gumbel top-k trick. Examples of probability zero are drawn only when fewer
    than ``size`` have any, uniformly among themselves.
    """
    if replace:
        return rng.choice(len(probabilities), size=size, replace=True, p=probabilities).astype(np.int64)
    with np.errstate(divide="ignore"):
        keys = np.log(probabilities) + rng.gumbel(size=len(probabilities))
    zero = probabilities <= 0
    keys[zero] = -np.inf
    chosen = np.argsort(-keys, kind="stable")[:size]
    missing = size - int((~zero).sum())
    if missing > 0:
        chosen = np.concatenate([np.flatnonzero(~zero), rng.choice(np.flatnonzero(zero), missing, replace=False)])
        chosen = rng.permutation(chosen)
    return chosen.astype(np.int64)


class ScoreResamplingSampler(Sampler):
    """A static score turned into a fresh weighted draw of r·N examples every round.

    Okanovic et al., "Repeated Random Sampling for Minimizing the
    Time-to-Accuracy of Learning", ICLR 2024: the authors' repository adds
    ``*_sampling`` variants of DeepCore's score methods (forgetting, GraNd,
    uncertainty, CAL, CRAIG) that compute the score once and then draw a new
    subset every epoch with ``np.random.choice(p=softmax(score),
    replace=False)``, the like-for-like comparison with RS2's uniform draws.
    The score is one of the static library's that keep their highest-scoring
    examples (``score``: EL2N, GraNd, forgetting, uncertainty, CAL, distance to
    a supervised or self-supervised prototype), computed once by its own
    sampler with this policy's proxy parameters and the score's other
    parameters at their defaults, inside the first round's selection.
    ``weighting="softmax"`` draws by softmax(score / temperature) as that
    repository does; the default ``"proportional"`` draws in proportion to the
    score itself (shifted to be non-negative), so that a score twice as large
    is drawn twice as often. ``smoothing`` mixes the distribution with the
    uniform one.
    """

    def __init__(self, params: Mapping[str, Any], *, num_samples: int, budget: float, labels: np.ndarray):
        super().__init__(params, num_samples=num_samples, budget=budget, labels=labels)
        self.probabilities: np.ndarray | None = None

    def _score(self, context: SelectionContext) -> np.ndarray:
        key = self.params["score"]
        params = resolve_strategy_params(key, {name: self.params[name] for name in PROXY_PARAMS})
        scorer = get_strategy(key).sampler_class()(
            params, num_samples=self.num_samples, budget=self.budget, labels=self.labels
        )
        return np.asarray(scorer.score(context), dtype=np.float64)

    def _distribution(self, scores: np.ndarray) -> np.ndarray:
        if self.params["weighting"] == "softmax":
            logits = scores / self.params["temperature"]
            weights = np.exp(logits - logits.max())
        else:
            weights = scores - min(0.0, scores.min())
        total = weights.sum()
        uniform = np.full(len(scores), 1 / len(scores))
        distribution = weights / total if total > 0 else uniform
        smoothing = self.params["smoothing"]
        return (1 - smoothing) * distribution + smoothing * uniform

    def select(self, context: SelectionContext) -> Selection:
        if self.probabilities is None:
            self.probabilities = self._distribution(self._score(context))
        return Selection(
            weighted_draw(context.rng, self.probabilities, self.round_size, replace=self.params["replacement"])
        )

    def state_dict(self) -> dict[str, Any]:
        import torch

        return {"probabilities": None if self.probabilities is None else torch.from_numpy(self.probabilities)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        probabilities = state["probabilities"]
        self.probabilities = None if probabilities is None else probabilities.numpy().astype(np.float64)


class InfoBatchSampler(Sampler):
    """InfoBatch: drop well-learned examples at random and rescale the rest, full data at the end.

    Qin et al., "InfoBatch: Lossless Training Speed Up by Unbiased Dynamic Data
    Pruning", ICLR 2024. Each round, every example whose last training loss is
    below the mean of all examples' last losses is dropped with probability p;
    as in the authors' code, exactly k = ⌊(1 − p)·n⌋ of the n such examples
    are kept, drawn at random. Their losses are weighted by n / k, which is the
    paper's 1/(1 − p) whenever (1 − p)·n is whole and otherwise corrects for
    the rounding of k, so the expected gradient of a round is exactly the full
    data's. Examples never trained
    on count as not yet learned, so the first round trains on everything. The
    last ``anneal`` fraction of rounds (the paper's 1 − δ) trains on all the
    data without weights.

    The budget r is the fraction of the data the run is expected to train on.
    Unless ``prune_ratio`` fixes p (the paper's setting, 0.5), p is set each
    round so that the examples trained on so far plus those still to come
    (pruned rounds at their target size, annealed rounds in full) come to
    r × rounds × N; it never exceeds 0.9, where the authors' code stops. When
    the budget is below what pruning only well-learned examples can reach, p
    stays at that limit and the run trains on more than r: the realised fraction
    is what each metric row's ``data_fraction`` reports.
    """

    fixed_size = False

    def __init__(self, params: Mapping[str, Any], *, num_samples: int, budget: float, labels: np.ndarray):
        super().__init__(params, num_samples=num_samples, budget=budget, labels=labels)
        self.trained = 0
        self.last_prune_probability: float | None = None

    def prune_probability(self, context: SelectionContext, below: int) -> float:
        """This round's p: the paper's fixed value, or the one that keeps the run on its budget."""
        if self.params["prune_ratio"] is not None:
            return float(self.params["prune_ratio"])
        if below == 0:
            return 0.0
        annealed = annealed_rounds(self.params["anneal"], context.rounds)
        pruned_left = context.rounds - annealed - context.round_index
        remaining = self.budget * context.rounds * self.num_samples - self.trained - annealed * self.num_samples
        target = remaining / max(1, pruned_left)
        probability = (self.num_samples - target) / below
        return float(np.clip(probability, 0.0, MAX_PRUNE_PROBABILITY))

    def select(self, context: SelectionContext) -> Selection:
        annealed = annealed_rounds(self.params["anneal"], context.rounds)
        if context.round_index >= context.rounds - annealed:
            self.trained += self.num_samples
            self.last_prune_probability = 0.0
            return Selection(context.rng.permutation(self.num_samples).astype(np.int64))
        losses = context.losses
        seen = ~np.isnan(losses)
        well_learned = np.zeros(self.num_samples, dtype=bool)
        if seen.any():
            well_learned[seen] = losses[seen] < losses[seen].mean()
        candidates = np.flatnonzero(well_learned)
        probability = self.prune_probability(context, len(candidates))
        # The tolerance keeps float error from dropping a whole example ((1 − 0.9) · 600 is 59.99…).
        keep = int(np.floor((1 - probability) * len(candidates) + 1e-9))
        kept = context.rng.choice(candidates, keep, replace=False)
        indices = np.concatenate([np.flatnonzero(~well_learned), kept]).astype(np.int64)
        weights = np.ones(len(indices), dtype=np.float32)
        if keep < len(candidates) and keep > 0:
            weights[len(indices) - keep :] = len(candidates) / keep
        order = context.rng.permutation(len(indices))
        self.trained += len(indices)
        self.last_prune_probability = probability
        return Selection(indices[order], weights[order])

    def state_dict(self) -> dict[str, Any]:
        return {"trained": self.trained, "last_prune_probability": self.last_prune_probability}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.trained = int(state["trained"])
        self.last_prune_probability = state["last_prune_probability"]


class SeTaSampler(Sampler):
    """SeTa: random pruning, loss clusters, and a window sliding from easy to hard clusters.

    Zhou, Gao and Wang, "Scale Efficient Training for Large Datasets", CVPR
    2025. Each round: keep a random ``1 − prune_ratio`` of the examples; group
    them into ``groups`` clusters of their last training loss by k-means,
    ordered from the lowest-loss (easiest) to the highest; train on a window of
    round(groups × ``window_scale``) consecutive clusters that slides one
    cluster harder every round and starts over at the easiest when it reaches
    the hardest (the first round trains on every cluster). The last ``anneal``
    fraction of rounds (the paper's 1 − δ) trains on a random ``1 − prune_ratio``
    of all the data. No weights, as in the paper.

    The budget r is the expected fraction trained on: unless ``prune_ratio`` is
    given, the random share kept is r / window_scale (at most all), which a
    window holding its share of the examples turns into r. Clusters differ in
    size, so rounds vary; each metric row's ``data_fraction`` reports the
    realised fraction. Examples never trained on have no loss yet; they join
    the hardest cluster, as the paper's initial score (above any loss) places them.
    """

    fixed_size = False

    def __init__(self, params: Mapping[str, Any], *, num_samples: int, budget: float, labels: np.ndarray):
        super().__init__(params, num_samples=num_samples, budget=budget, labels=labels)
        self.iterations = 0

    @property
    def keep_ratio(self) -> float:
        if self.params["prune_ratio"] is not None:
            return 1.0 - float(self.params["prune_ratio"])
        return min(1.0, self.budget / self.params["window_scale"])

    def _clusters(self, losses: np.ndarray, seed: int) -> list[np.ndarray]:
        """Positions in ``losses`` by k-means cluster of their value, from the lowest centre to the highest."""
        groups = self.params["groups"]
        if len(np.unique(losses)) < groups:
            # Too few distinct values to cluster: equal chunks in loss order.
            return list(np.array_split(np.argsort(losses, kind="stable"), groups))
        assignment = KMeans(n_clusters=groups, n_init=1, random_state=seed).fit_predict(losses[:, None])
        clusters = [np.flatnonzero(assignment == cluster) for cluster in range(groups)]
        return sorted(clusters, key=lambda members: float(losses[members].mean()))

    def select(self, context: SelectionContext) -> Selection:
        size = max(1, int(self.num_samples * self.keep_ratio))
        sampled = context.rng.permutation(self.num_samples)[:size].astype(np.int64)
        annealed = annealed_rounds(self.params["anneal"], context.rounds)
        if context.round_index >= context.rounds - annealed:
            return Selection(sampled)
        losses = context.losses[sampled]
        ceiling = np.nanmax(losses) + 1.0 if np.isfinite(losses).any() else 1.0
        losses = np.where(np.isnan(losses), ceiling, losses)
        clusters = self._clusters(losses, int(context.rng.integers(2**31 - 1)))
        if self.iterations > 0:
            groups = len(clusters)
            window = max(1, round(groups * self.params["window_scale"]))
            start = self.iterations % (groups - window + 1)
            clusters = clusters[start : start + window]
        self.iterations += 1
        chosen = np.concatenate(clusters) if clusters else np.empty(0, dtype=np.int64)
        if len(chosen) == 0:
            chosen = np.arange(min(1, len(sampled)))
        return Selection(context.rng.permutation(sampled[chosen]).astype(np.int64))

    def state_dict(self) -> dict[str, Any]:
        return {"iterations": self.iterations}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.iterations = int(state["iterations"])
