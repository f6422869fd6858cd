"""RHO-LOSS: train on the points whose loss the current model can still reduce.

A point's reducible loss is its loss under the model being trained minus its
irreducible loss, the loss of a model trained on held-out data only. Noisy or
ambiguous points have a high loss under both models, points already learnt a low
loss under both, so the difference singles out points that are learnable, worth
learning and not yet learnt. The irreducible-loss model is trained once, through
the engine, inside the first round's selection, so its cost is selection time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from workers.engine.errors import ConfigError
from workers.engine.strategies.base import Sampler, Selection, SelectionContext, budget_count, class_quotas
from workers.engine.strategies.proxy import draw_pool, example_losses, to_numpy


class RhoLossSampler(Sampler):
    """RHO-LOSS: keep the candidates with the highest reducible loss (training loss − irreducible loss).

    Mindermann, Brauner, Razzak, Sharma, Kirsch, Xu, Höltgen, Gomez, Morisot,
    Farquhar & Gal, "Prioritized Training on Points that are Learnable, Worth
    Learning, and Not Yet Learnt", ICML 2022.

    Before the first round a class-stratified ``holdout_fraction`` of the training
    set is drawn with the run's selection stream and held out: it is never
    selected for the model being trained. An irreducible-loss (IL) model
    (``irreducible_model``, the run's architecture by default) trains on it alone
    for ``irreducible_rounds`` rounds through the engine, and its loss on every
    training example is computed once and kept, as in the paper. Each round then
    draws a candidate pool of ``pool_factor × r·N`` examples (all of them if fewer
    remain) uniformly from the examples not held out, runs the current model over
    it (eval mode, unaugmented) and keeps the r·N with the highest reducible loss.

    Departures from the paper: the paper holds out a separate labelled split; here
    it is carved out of the training set. The paper selects within every large
    mini-batch (n_b of n_B = 10 n_b points); the engine selects once per round, so
    the pool is one large "batch" of ``pool_factor × r·N`` candidates scored with
    the model as it stands at the start of the round. When r·N exceeds the
    examples not held out, the round size is clipped to them (every available
    example is trained on every round), so such a run trains fewer than r·N
    examples a round and its schedule spans those steps.
    """

    def __init__(self, params: Mapping[str, Any], *, num_samples: int, budget: float, labels: np.ndarray):
        super().__init__(params, num_samples=num_samples, budget=budget, labels=labels)
        self.holdout_quotas = class_quotas(labels, budget_count(self.params["holdout_fraction"], num_samples))
        available = num_samples - sum(self.holdout_quotas.values())
        if available < 1:
            raise ConfigError("params.holdout_fraction", f"holds out all {num_samples} training examples")
        self.round_size = min(self.round_size, available)
        self.holdout: np.ndarray | None = None
        self.irreducible_losses: np.ndarray | None = None

    def _draw_holdout(self, rng: np.random.Generator) -> np.ndarray:
        """Sorted indices of the held-out examples, each class's share of them."""
        picks = [
            rng.choice(np.flatnonzero(self.labels == label), size=quota, replace=False)
            for label, quota in self.holdout_quotas.items()
        ]
        return np.sort(np.concatenate(picks)).astype(np.int64)

    def _prepare(self, context: SelectionContext) -> None:
        """Hold out the split, train the IL model on it and score every training example once."""
        self.holdout = self._draw_holdout(context.rng)
        seed = int(context.rng.integers(0, 2**31 - 1))
        irreducible = context.train_proxy(
            rounds=self.params["irreducible_rounds"],
            seed=seed,
            model=self.params["irreducible_model"],
            subset=self.holdout,
        )
        self.irreducible_losses = to_numpy(example_losses(context, irreducible.model)).astype(np.float32)

    def candidates(self) -> np.ndarray:
        """The examples a round may select: all but the held-out ones."""
        held_out = np.zeros(self.num_samples, dtype=bool)
        held_out[self.holdout] = True
        return np.flatnonzero(~held_out).astype(np.int64)

    def select(self, context: SelectionContext) -> Selection:
        if self.holdout is None:
            self._prepare(context)
        pool = draw_pool(context.rng, self.candidates(), self.params["pool_factor"] * self.round_size)
        training_losses = to_numpy(example_losses(context, context.model, pool))
        reducible = training_losses - self.irreducible_losses[pool]
        # Stable, so ties keep the pool's random order.
        keep = np.argsort(-reducible, kind="stable")[: self.round_size]
        return Selection(pool[keep])

    def state_dict(self) -> dict[str, Any]:
        import torch

        return {
            "holdout": None if self.holdout is None else torch.from_numpy(self.holdout),
            "irreducible_losses": None
            if self.irreducible_losses is None
            else torch.from_numpy(self.irreducible_losses),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        holdout, losses = state["holdout"], state["irreducible_losses"]
        self.holdout = None if holdout is None else holdout.numpy().astype(np.int64)
        self.irreducible_losses = None if losses is None else losses.numpy().astype(np.float32)
