"""Class balance for imbalanced data: temperature sampling over classes, cooled down over the run.

Class c is drawn with probability p_c ∝ n_c^(1/T): T = 1 keeps the natural
proportions, a large T tends to equal shares. Either the round's examples are
drawn with those class shares (upsampling) or drawn uniformly and each class's
loss is weighted by p_c / (n_c / N) (upweighting); both give the same expected
gradient, but upsampling has the lower variance.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from workers.engine.strategies.base import Sampler, Selection, SelectionContext, largest_remainder_quotas


def temperature_shares(counts: np.ndarray, temperature: float) -> np.ndarray:
    """p_c ∝ n_c^(1/T) for the class sizes ``counts``, in logs so that large sizes and small T stay finite."""
    logits = np.log(np.asarray(counts, dtype=np.float64)) / temperature
    shares = np.exp(logits - logits.max())
    return shares / shares.sum()


def draw_class(rng: np.random.Generator, members: np.ndarray, quota: int) -> np.ndarray:
    """``quota`` examples of one class: distinct while the class has enough, then whole passes over it again.

    A quota of k·n + m over a class of n examples takes k shuffled passes over
    the class and m more distinct examples, so every example appears ⌊q/n⌋ or
    ⌈q/n⌉ times.
    """
    passes, rest = divmod(quota, len(members))
    picks = [rng.permutation(members) for _ in range(passes)]
    picks.append(rng.choice(members, size=rest, replace=False))
    return np.concatenate(picks)


class ClassTemperatureSampler(Sampler):
    """Class-temperature sampling with the Cooldown schedule: T falls from a start to an end value over the run.

    Li, Xu, Tan, Murray & Khashabi, "Upsample or Upweight? Balanced Training on
    Heavily Imbalanced Datasets", NAACL 2025 (arXiv 2410.04579, 2024). The paper
    balances languages; here the groups are classes. Class c is drawn with
    probability p_c ∝ n_c^(1/T). The paper shows that upsampling (temperature
    sampling) and upweighting (scalarization) agree under full gradient descent,
    that upsampling's lower gradient variance converges faster but overfits the
    small groups, and proposes Cooldown: start at a high temperature and lower it
    as training goes on. Here T falls linearly from ``temperature_start`` in the
    first round to ``temperature_end`` once ``cooldown_fraction`` of the run is
    done (1: in the last round) and stays there.

    ``mode = "upsample"`` draws each round's r·N examples with exact class quotas
    (largest remainders of p_c · r·N): distinct within a class while its quota
    fits, then further shuffled passes over the class, so a small class's
    examples repeat evenly. ``mode = "upweight"`` draws r·N distinct examples
    uniformly and weights each example of class c by p_c · N / n_c, the ratio of
    the tempered to the natural class share, so the expected loss is Σ_c p_c L_c
    as under upsampling; the weights are unbiased as they are and are not
    renormalised.

    Departures from the paper: it changes the temperature by training step, here
    it changes once per round (the engine selects per round), over the run's
    rounds; and with one round only, that round uses the end value. The linear
    shape and the defaults (5 → 1 over the whole run) are this engine's choice,
    not values taken from the paper's experiments.
    """

    def __init__(self, params: Mapping[str, Any], *, num_samples: int, budget: float, labels: np.ndarray):
        super().__init__(params, num_samples=num_samples, budget=budget, labels=labels)
        self.classes, self.counts = np.unique(labels, return_counts=True)
        self.members = [np.flatnonzero(labels == label) for label in self.classes]

    def temperature(self, round_index: int, rounds: int) -> float:
        """T in round ``round_index`` of ``rounds``: linear from start to end over the cooldown, then held."""
        start, end = self.params["temperature_start"], self.params["temperature_end"]
        span = self.params["cooldown_fraction"] * (rounds - 1)
        if round_index >= span:
            return end
        return start + (end - start) * round_index / span

    def shares(self, round_index: int, rounds: int) -> np.ndarray:
        """Every present class's share of round ``round_index``, in class order."""
        return temperature_shares(self.counts, self.temperature(round_index, rounds))

    def select(self, context: SelectionContext) -> Selection:
        shares = self.shares(context.round_index, context.rounds)
        if self.params["mode"] == "upweight":
            indices = context.rng.choice(self.num_samples, size=self.round_size, replace=False).astype(np.int64)
            class_weights = shares * self.num_samples / self.counts
            positions = np.searchsorted(self.classes, self.labels[indices])
            return Selection(indices, class_weights[positions].astype(np.float32))
        quotas = largest_remainder_quotas(shares * self.round_size, self.round_size)
        picks = [
            draw_class(context.rng, members, int(quota))
            for members, quota in zip(self.members, quotas, strict=True)
            if quota
        ]
        return Selection(context.rng.permutation(np.concatenate(picks)).astype(np.int64))
