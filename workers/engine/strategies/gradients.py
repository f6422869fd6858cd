"""Gradient matching: subsets whose (weighted) last-layer gradients stand in for the full data's or a validation set's.

Every sampler here trains its proxies once (``proxy.train_proxies``), reads
their outputs on the unaugmented training set and works on the last-layer
gradient embeddings ``(p − y) ⊗ [h, 1] · logit_scale`` (concatenated over
proxy repeats, so every proxy's gradient counts). Gradients are formed per
class partition, or in row chunks where a search runs over the whole set, so
the N × C·(D+1) matrix of a 50,000-example training set is never held at once.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from workers.engine.errors import ConfigError
from workers.engine.strategies import greedy
from workers.engine.strategies.base import (
    ModelOutputs,
    Selection,
    SelectionContext,
    StaticSampler,
    budget_count,
    class_quotas,
)
from workers.engine.strategies.proxy import last_layer_gradients, proxy_outputs, targets

# Gradient matrices of up to 2**26 float32 entries (256 MB) are held whole; larger ones are formed in row chunks.
MAX_HELD_ENTRIES = 2**26
# OMP stops once the residual is this small a fraction of the target: the subset already matches it.
RESIDUAL_TOLERANCE = 1e-6


class GradientRows:
    """The last-layer gradients of some training examples, concatenated over proxy repeats.

    Held as one matrix when it fits in ``MAX_HELD_ENTRIES``, otherwise
    recomputed from the proxies' logits and embeddings one row chunk at a
    time, so products with every row stay within a bounded memory.
    """

    def __init__(self, outputs: list[ModelOutputs], labels: Tensor, members: Tensor):
        self.outputs, self.labels, self.members = outputs, labels, members
        self.widths = [
            output.logits.shape[1] * (output.embeddings.shape[1] + int(output.has_bias)) for output in outputs
        ]
        self.width = sum(self.widths)
        self.chunk = max(1, MAX_HELD_ENTRIES // self.width)
        self.held = self._compute(members) if len(members) <= self.chunk else None

    def __len__(self) -> int:
        return len(self.members)

    def _compute(self, examples: Tensor) -> Tensor:
        return torch.cat([last_layer_gradients(output, self.labels, examples) for output in self.outputs], 1)

    def rows(self, positions: Tensor) -> Tensor:
        return self.held[positions] if self.held is not None else self._compute(self.members[positions])

    def blocks(self) -> Iterator[Tensor]:
        if self.held is not None:
            yield self.held
            return
        for start in range(0, len(self.members), self.chunk):
            yield self._compute(self.members[start : start + self.chunk])

    def dot(self, vector: Tensor) -> Tensor:
        """Every row's inner product with ``vector``."""
        return torch.cat([block @ vector for block in self.blocks()])

    def total(self) -> Tensor:
        return sum((block.sum(0) for block in self.blocks()), torch.zeros(self.width, device=self.members.device))


def _normalised(weights: np.ndarray) -> np.ndarray:
    """Weights rescaled to mean 1 over the subset, as training takes the mean of weighted losses."""
    return (weights / weights.mean()).astype(np.float32)


class CraigSampler(StaticSampler):
    """CRAIG: per-class facility location over gradient distances, weighted by the examples each pick stands for.

    Mirzasoleiman, Bilmes & Leskovec, "Coresets for Data-efficient Training of
    Machine Learning Models", ICML 2020. Within every class (quotas of
    ``class_quotas``), greedy facility location maximises
    ``Σ_i max_{j∈S} (d₀ − ‖g_i − g_j‖)`` over the proxy's last-layer gradients,
    the paper's similarity and DeepCore's (which takes ``d₀`` as the class's
    largest distance plus 10⁻³). Any ``d₀`` at least the largest distance gives
    the same greedy picks and assignments (it only shifts every gain by a
    constant), so ``d₀`` is the bound ``2·max_i ‖g_i − ḡ‖``, found in O(n·d)
    instead of a pass over all pairs. Each pick's weight is the number of
    class examples closest to it (the cluster sizes, which sum to the class
    size), rescaled to mean 1 over the subset.

    The search always runs per class, as DeepCore's default ``balance``:
    DeepCore's global alternative builds the N × N kernel. Facility location
    uses stochastic greedy by default (``epsilon``, as the submodular coreset),
    where the paper and DeepCore use lazy greedy, which reaches exact greedy's
    answer (``epsilon = 0``, classes of at most 10,000 examples).
    """

    def choose(self, context: SelectionContext) -> Selection:
        outputs = proxy_outputs(context, self.params)
        labels = targets(context)
        picks, counts = [], []
        for label, quota in class_quotas(self.labels, self.round_size).items():
            if quota == 0:
                continue
            members = np.flatnonzero(self.labels == label)
            rows = torch.from_numpy(members).to(context.device)
            features = torch.cat([last_layer_gradients(output, labels, rows) for output in outputs], 1)
            similarity = _distance_similarity(features)
            chosen, represented = greedy.facility_location(
                features, quota, rng=context.rng, epsilon=self.params["epsilon"], similarity=similarity
            )
            picks.append(members[chosen.cpu().numpy()])
            counts.append(represented.cpu().numpy())
        return Selection(np.concatenate(picks).astype(np.int64), _normalised(np.concatenate(counts).astype(np.float64)))


def _distance_similarity(features: Tensor) -> greedy.Similarity:
    """``d₀ − ‖a − b‖`` with ``d₀ = 2·max_i ‖g_i − ḡ‖``, at least every pairwise distance (triangle inequality)."""
    bound = 2 * (features - features.mean(0)).norm(dim=1).max()

    def similarity(points: Tensor, others: Tensor) -> Tensor:
        return bound - greedy.squared_euclidean(points, others).sqrt()

    return similarity


def nonnegative_least_squares(gram: Tensor, correlations: Tensor, start: Tensor) -> Tensor:
    """``argmin_{w ≥ 0} ½ wᵀ·gram·w − correlationsᵀw`` by Lawson and Hanson's active set, warm-started.

    ``gram`` is positive definite (the ridge keeps it so) and ``start`` must
    be optimal over its own positive entries, as the previous OMP step's
    solution is, so a step typically costs one solve over the support.
    """
    weights = start.clone()
    passive = weights > 0
    tolerance = 1e-10 * float(correlations.abs().max().clamp(min=1e-30))
    for _ in range(3 * len(weights) + 1):
        slack = (correlations - gram @ weights).masked_fill(passive, -math.inf)
        entering = int(slack.argmax())
        if slack[entering] <= tolerance:
            break
        passive[entering] = True
        while True:
            solution = torch.zeros_like(weights)
            solution[passive] = torch.linalg.solve(gram[passive][:, passive], correlations[passive])
            blocking = passive & (solution <= 0)
            if not blocking.any():
                weights = solution
                break
            # Step from the feasible weights towards the solution until the first weight reaches zero.
            ratios = weights[blocking] / (weights[blocking] - solution[blocking]).clamp(min=1e-30)
            weights = weights + ratios.min() * (solution - weights)
            passive &= weights > 1e-12
            weights = weights.masked_fill(~passive, 0.0)
    return weights


def matching_pursuit(gradients: GradientRows, target: Tensor, size: int, *, lam: float) -> tuple[Tensor, Tensor]:
    """Non-negative orthogonal matching pursuit: at most ``size`` rows, weights ``w ≥ 0``, ``Σ w_i g_i ≈ target``.

    Each step adds the row most aligned with the residual, then re-solves
    ``min_{w ≥ 0} ‖Σ_S w_i g_i − target‖² + lam·‖w‖²`` over the chosen rows
    (``nonnegative_least_squares`` on their Gram matrix, grown one row a step).
    A row whose weight the solve sends to zero leaves the support for good.
    It stops early when the residual is ~0 or no remaining row has a positive
    inner product with it (adding one could not get a positive weight).
    Returns the chosen positions and their (positive) weights.
    """
    device = target.device
    tried = torch.zeros(len(gradients), dtype=torch.bool, device=device)
    support = torch.empty(0, dtype=torch.int64, device=device)
    atoms = torch.empty(0, gradients.width, device=device)
    gram = torch.empty(0, 0, dtype=torch.float64, device=device)
    correlations = torch.empty(0, dtype=torch.float64, device=device)
    weights = torch.empty(0, dtype=torch.float64, device=device)
    factor = torch.empty(0, 0, dtype=torch.float64, device=device)
    residual = target.clone()
    target_norm = float(target.norm())
    while len(support) < size and not bool(tried.all()):
        if float(residual.norm()) <= RESIDUAL_TOLERANCE * target_norm:
            break
        projections = gradients.dot(residual).masked_fill(tried, -math.inf)
        pick = int(projections.argmax())
        if projections[pick] <= 0:
            break
        tried[pick] = True
        atom = gradients.rows(torch.tensor([pick], device=device))[0]
        cross = (atoms @ atom).double()
        corner = (atom @ atom).double().reshape(1, 1) + lam
        gram = torch.cat([torch.cat([gram, cross[:, None]], 1), torch.cat([cross[None, :], corner], 1)])
        correlations = torch.cat([correlations, (atom @ target).double().reshape(1)])
        support = torch.cat([support, torch.tensor([pick], device=device)])
        atoms = torch.cat([atoms, atom[None, :]])
        # Usually every weight stays positive: then the ridge solution over the support, from a Cholesky
        # factor grown by one row (O(k²)), is the answer; otherwise the active set resolves it (O(k³)).
        row = torch.linalg.solve_triangular(factor, cross[:, None], upper=False)[:, 0]
        diagonal = (corner[0, 0] - row @ row).clamp(min=1e-12).sqrt().reshape(1, 1)
        factor = torch.cat([torch.cat([factor, factor.new_zeros(len(row), 1)], 1), torch.cat([row[None], diagonal], 1)])
        solution = torch.cholesky_solve(correlations[:, None], factor)[:, 0]
        if bool((solution > 0).all()):
            weights = solution
        else:
            weights = nonnegative_least_squares(gram, correlations, torch.cat([weights, weights.new_zeros(1)]))
            keep = weights > 0
            support, atoms, weights = support[keep], atoms[keep], weights[keep]
            gram, correlations = gram[keep][:, keep], correlations[keep]
            factor = torch.linalg.cholesky(gram)
        residual = target - atoms.T @ weights.float()
    return support, weights


class GradMatchSampler(StaticSampler):
    """GRAD-MATCH: a weighted subset whose gradient sum matches the full data's, by non-negative OMP.

    Killamsetty, Sivasubramanian, Ramakrishnan, De & Iyer, "GRAD-MATCH:
    Gradient Matching based Data Subset Selection for Efficient Deep Model
    Training", ICML 2021. The target is the summed last-layer gradient of each
    class (``class_balanced``, DeepCore's default) or of the whole training
    set; ``matching_pursuit`` picks examples and weights ``w ≥ 0`` with the L2
    regulariser ``lam`` (0.5, as the authors' configurations; DeepCore's
    default is 1). Weights are rescaled to mean 1 over the subset.

    DeepCore solves an unconstrained ridge problem at every step and applies
    non-negativity once at the end, then keeps only the examples with
    non-zero weights, so its subset can fall short of the budget. Here every
    step solves the non-negative problem, and when OMP stops early (residual
    ~0, or no example left that would get a positive weight) the budget is
    filled with examples drawn at random from the rest of the partition,
    each with weight 1 (it stands for itself), as the authors' code does.
    """

    def choose(self, context: SelectionContext) -> Selection:
        outputs = proxy_outputs(context, self.params)
        labels = targets(context)
        if self.params["class_balanced"]:
            partitions = [
                (np.flatnonzero(self.labels == label), quota)
                for label, quota in class_quotas(self.labels, self.round_size).items()
            ]
        else:
            partitions = [(np.arange(self.num_samples), self.round_size)]
        picks, weights = [], []
        for members, quota in partitions:
            if quota == 0:
                continue
            gradients = GradientRows(outputs, labels, torch.from_numpy(members).to(context.device))
            chosen, chosen_weights = matching_pursuit(gradients, gradients.total(), quota, lam=self.params["lam"])
            chosen, chosen_weights = chosen.cpu().numpy(), chosen_weights.cpu().numpy()
            missing = quota - len(chosen)
            fill = context.rng.choice(np.setdiff1d(np.arange(len(members)), chosen), size=missing, replace=False)
            picks.append(members[np.concatenate([chosen, fill])])
            weights.append(np.concatenate([chosen_weights, np.ones(missing)]))
        return Selection(np.concatenate(picks).astype(np.int64), _normalised(np.concatenate(weights)))


def mean_gradient(logits: Tensor, embeddings: Tensor, labels: Tensor, *, logit_scale: float, has_bias: bool) -> Tensor:
    """The mean of ``last_layer_gradients`` over these examples, as ``residualᵀ·[1, h]`` without the n × C·D rows."""
    residual = (F.softmax(logits.float(), dim=1) - F.one_hot(labels, logits.shape[1]).float()) * logit_scale
    weight_part = (residual.T @ embeddings.float()).flatten() / len(labels)
    if not has_bias:
        return weight_part
    return torch.cat([residual.mean(0), weight_part])


class _ValidationGradient:
    """The validation loss's last-layer gradient after one SGD step of size ``eta`` on the chosen examples' gradients.

    Only the last layer moves, so the validation logits move by
    ``−eta · logit_scale · (ΔW·h + Δb)`` and their gradient is recomputed in
    closed form, per proxy repeat (each its own slice of the concatenated
    gradients).
    """

    def __init__(self, outputs: list[ModelOutputs], labels: Tensor, validation: Tensor, widths: list[int], eta: float):
        self.outputs, self.eta, self.widths = outputs, eta, widths
        self.labels = labels[validation]
        self.logits = [output.logits[validation].float() for output in outputs]
        self.embeddings = [output.embeddings[validation].float() for output in outputs]

    def at(self, step: Tensor) -> Tensor:
        """The validation gradient at the proxies' last layers moved by ``−eta · step`` (a concatenated gradient)."""
        parts = []
        for output, logits, embeddings, piece in zip(
            self.outputs, self.logits, self.embeddings, step.split(self.widths), strict=True
        ):
            classes = logits.shape[1]
            bias, weight = (piece[:classes], piece[classes:]) if output.has_bias else (None, piece)
            shift = embeddings @ weight.reshape(classes, -1).T
            if bias is not None:
                shift = shift + bias
            moved = logits - self.eta * output.logit_scale * shift
            parts.append(
                mean_gradient(moved, embeddings, self.labels, logit_scale=output.logit_scale, has_bias=output.has_bias)
            )
        return torch.cat(parts)


class GlisterSampler(StaticSampler):
    """GLISTER: greedy selection that most raises a held-out validation likelihood after one step on the subset.

    Killamsetty, Sivasubramanian, Ramakrishnan & Iyer, "GLISTER:
    Generalization based Data Subset Selection for Efficient and Robust
    Learning", AAAI 2021. A class-stratified ``validation_fraction`` of the
    training set is drawn with the run's selection stream and held out: as in
    the paper, the validation set is disjoint from the set the subset is
    chosen from (DeepCore, given no validation set, validates on the training
    set itself). Under the paper's one-step Taylor approximation on the last
    layer, adding example ``i`` raises the validation log-likelihood by
    ``eta · g_i · g_val``; after each pick, ``g_val`` is recomputed at the
    last layer moved by ``−eta ×`` the chosen examples' mean gradient, as
    DeepCore does (with the model's logit scale, which DeepCore's models do
    not have). ``class_balanced`` (DeepCore's default) runs the greedy per
    class against that class's validation examples. ``epsilon > 0`` runs
    stochastic greedy (each step scores ``(n/k)·log(1/ε)`` random candidates);
    DeepCore's default lazy greedy scores every candidate, as ``epsilon = 0``.
    """

    def __init__(self, params: Mapping[str, Any], *, num_samples: int, budget: float, labels: np.ndarray):
        super().__init__(params, num_samples=num_samples, budget=budget, labels=labels)
        held_out = class_quotas(labels, budget_count(self.params["validation_fraction"], num_samples))
        sizes = dict(zip(*np.unique(labels, return_counts=True), strict=True))
        remaining = {int(label): int(sizes[label]) - held_out[int(label)] for label in sizes}
        if self.params["class_balanced"]:
            short = {
                label: (quota, remaining[label])
                for label, quota in class_quotas(labels, self.round_size).items()
                if quota > remaining[label]
            }
            if short:
                label, (quota, left) = next(iter(short.items()))
                raise ConfigError(
                    "params.validation_fraction",
                    f"leaves {left} examples of class {label} to choose from, fewer than its quota of {quota}",
                )
        elif self.round_size > sum(remaining.values()):
            raise ConfigError(
                "params.validation_fraction",
                f"leaves {sum(remaining.values())} examples to choose from, fewer than the budget's {self.round_size}",
            )

    def _split(self, rng: np.random.Generator) -> np.ndarray:
        """Whether each example is held out for validation (the same share of every class)."""
        validation = np.zeros(self.num_samples, dtype=bool)
        total = budget_count(self.params["validation_fraction"], self.num_samples)
        for label, quota in class_quotas(self.labels, total).items():
            validation[rng.choice(np.flatnonzero(self.labels == label), size=quota, replace=False)] = True
        return validation

    def choose(self, context: SelectionContext) -> Selection:
        validation = self._split(context.rng)
        outputs = proxy_outputs(context, self.params)
        labels = targets(context)
        if self.params["class_balanced"]:
            partitions = [
                (self.labels == label, quota) for label, quota in class_quotas(self.labels, self.round_size).items()
            ]
        else:
            partitions = [(np.ones(self.num_samples, dtype=bool), self.round_size)]
        picks = []
        for partition, quota in partitions:
            if quota == 0:
                continue
            members = np.flatnonzero(partition & ~validation)
            held_out = torch.from_numpy(np.flatnonzero(partition & validation)).to(context.device)
            gradients = GradientRows(outputs, labels, torch.from_numpy(members).to(context.device))
            objective = _ValidationGradient(outputs, labels, held_out, gradients.widths, self.params["eta"])
            chosen = self._greedy(gradients, objective, quota, context.rng)
            picks.append(members[chosen])
        return Selection(np.concatenate(picks).astype(np.int64))

    def _greedy(
        self, gradients: GradientRows, objective: _ValidationGradient, size: int, rng: np.random.Generator
    ) -> np.ndarray:
        device = gradients.members.device
        n = len(gradients)
        epsilon = self.params["epsilon"]
        sample = n if epsilon == 0 else max(1, math.ceil(n / size * math.log(1 / epsilon)))
        chosen = np.zeros(n, dtype=bool)
        picks: list[int] = []
        total = torch.zeros(gradients.width, device=device)
        validation_gradient = objective.at(total)
        for _ in range(size):
            if sample >= n:
                gains = gradients.dot(validation_gradient).masked_fill(torch.from_numpy(chosen).to(device), -math.inf)
                pick = int(gains.argmax())
            else:
                available = np.flatnonzero(~chosen)
                candidates = rng.choice(available, size=min(sample, len(available)), replace=False)
                rows = gradients.rows(torch.from_numpy(candidates).to(device))
                pick = int(candidates[int((rows @ validation_gradient).argmax())])
            picks.append(pick)
            chosen[pick] = True
            total += gradients.rows(torch.tensor([pick], device=device))[0]
            validation_gradient = objective.at(total / len(picks))
        return np.asarray(picks, dtype=np.int64)
