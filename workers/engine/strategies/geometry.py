"""Geometry: coresets searched over a proxy's embeddings, predictions or gradient embeddings.

Each sampler trains its proxies once (``proxy.train_proxies``), reads their
outputs on the unaugmented training set, and runs one of the greedy searches
of ``greedy`` over them, per class partition where the method or the
``class_balanced`` option asks for it. With several proxy repeats, embeddings
(different feature spaces) are concatenated, so every proxy's distances count
equally, and probabilities (one space) are averaged.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from workers.engine.strategies import greedy
from workers.engine.strategies.base import Selection, SelectionContext, StaticSampler, class_quotas
from workers.engine.strategies.proxy import last_layer_gradients, mean_over, probabilities, proxy_outputs, targets

Search = Callable[[Tensor, int], Tensor]


def _partitioned(labels: np.ndarray, total: int, features: Tensor, search: Search) -> np.ndarray:
    """``search`` run within every class on its quota of ``total`` (``class_quotas``), positions mapped back."""
    picks = []
    for label, quota in class_quotas(labels, total).items():
        members = np.flatnonzero(labels == label)
        rows = torch.from_numpy(members).to(features.device)
        chosen = search(features[rows], quota).cpu().numpy()
        picks.append(members[chosen])
    return np.concatenate(picks).astype(np.int64)


def _search(sampler: StaticSampler, features: Tensor, search: Search) -> Selection:
    if sampler.params["class_balanced"]:
        return Selection(_partitioned(sampler.labels, sampler.round_size, features, search))
    return Selection(search(features, sampler.round_size).cpu().numpy().astype(np.int64))


def symmetric_kl(points: Tensor, centres: Tensor) -> Tensor:
    """``points × centres`` matrix of ½·KL(p‖q) + ½·KL(q‖p) between probability vectors.

    Expanded as ½·(Σ p log p + Σ q log q − p·log q − q·log p), so a block is
    two matrix products instead of a points × centres × classes tensor.
    Probabilities are clamped away from 0 so the logarithms stay finite.
    """
    points, centres = points.clamp(min=1e-12), centres.clamp(min=1e-12)
    log_points, log_centres = points.log(), centres.log()
    self_points = (points * log_points).sum(1, keepdim=True)
    self_centres = (centres * log_centres).sum(1)[None, :]
    cross = points @ log_centres.T + log_points @ centres.T
    return (0.5 * (self_points + self_centres - cross)).clamp_(min=0)


class KCenterGreedySampler(StaticSampler):
    """k-center greedy core-set over the proxy's penultimate embeddings (Euclidean).

    Sener & Savarese, "Active Learning for Convolutional Neural Networks: A
    Core-Set Approach", ICLR 2018: farthest-point traversal minimises the
    largest distance from any example to its nearest chosen one. The first
    centre is drawn from the run's selection stream; ``class_balanced``
    traverses every class on its own quota (DeepCore's ``balance``).
    """

    def choose(self, context: SelectionContext) -> Selection:
        embeddings = torch.cat([outputs.embeddings.float() for outputs in proxy_outputs(context, self.params)], 1)
        return _search(self, embeddings, lambda features, size: greedy.kcenter_greedy(features, size, rng=context.rng))


class ContextualDiversitySampler(StaticSampler):
    """k-center greedy under the contextual-diversity distance between the proxy's softmax outputs.

    Agarwal, Arora, Anand & Arora, "Contextual Diversity for Active Learning",
    ECCV 2020, as DeepCore adapts it to classification: the distance between
    two examples is the symmetric KL divergence ½·KL(p‖q) + ½·KL(q‖p) of their
    predicted class distributions, and the core-set is the farthest-point
    traversal under it. The probabilities of several proxies are averaged.
    ``class_balanced`` is on by default, as DeepCore's ``balance``.
    """

    def choose(self, context: SelectionContext) -> Selection:
        probs = mean_over([probabilities(outputs) for outputs in proxy_outputs(context, self.params)])
        return _search(
            self,
            probs,
            lambda features, size: greedy.kcenter_greedy(features, size, rng=context.rng, distance=symmetric_kl),
        )


class HerdingSampler(StaticSampler):
    """Herding over the proxy's penultimate embeddings.

    Welling, "Herding Dynamical Weights to Learn", ICML 2009; Chen, Welling &
    Smola, "Super-Samples from Kernel Herding", UAI 2010: each pick brings the
    mean embedding of the chosen set closest to the mean of all (of the class,
    with ``class_balanced``). DeepCore takes the farthest point instead of the
    closest at each step; this follows the papers (see ``greedy.herding``).
    """

    def choose(self, context: SelectionContext) -> Selection:
        embeddings = torch.cat([outputs.embeddings.float() for outputs in proxy_outputs(context, self.params)], 1)
        return _search(self, embeddings, greedy.herding)


class SubmodularSampler(StaticSampler):
    """Greedy maximisation of a submodular function of last-layer gradient embeddings, per class.

    Iyer, Khargonkar, Bilmes & Asnani, "Submodular Combinatorial Information
    Measures with Applications in Machine Learning", ALT 2021, and DeepCore's
    Submodular method: ``function`` is facility location, graph cut or
    log-determinant over the cosine similarity ``(1 + cos)/2`` of the proxy's
    last-layer gradients (concatenated over proxy repeats).

    It always runs per class partition, on the quotas of ``class_quotas``:
    these functions need pairwise similarities, and one class of CIFAR-10
    (5,000 examples) keeps them, and the class's gradients, within a few
    hundred MB where the whole set's would not; gradients of different labels
    differ in which class block carries the ``p − y`` residual, so cross-class
    similarities carry little of the coverage. DeepCore also offers a run over
    the whole set (``balance=False``), which builds the N × N kernel; it is not
    offered here. Facility location uses stochastic greedy by default (exact
    greedy takes ~30 s per 5,000-example class on one CPU core, stochastic
    greedy with ε = 0.01 ~0.3 s for 99.8 % of its objective); DeepCore's lazy
    greedy reaches the same exact-greedy answer. Log-determinant follows the
    paper's ``log det`` (with a unit ridge), not DeepCore's gain (see
    ``greedy.log_determinant``).
    """

    def choose(self, context: SelectionContext) -> Selection:
        outputs = proxy_outputs(context, self.params)
        labels = targets(context)
        function = self.params["function"]
        picks = []
        for label, quota in class_quotas(self.labels, self.round_size).items():
            members = torch.from_numpy(np.flatnonzero(self.labels == label)).to(context.device)
            gradients = torch.cat([last_layer_gradients(output, labels, members) for output in outputs], 1)
            if function == "facility_location":
                chosen, _ = greedy.facility_location(gradients, quota, rng=context.rng, epsilon=self.params["epsilon"])
            elif function == "graph_cut":
                chosen = greedy.graph_cut(gradients, quota, lam=self.params["lam"])
            else:
                chosen = greedy.log_determinant(gradients, quota)
            picks.append(members[chosen].cpu().numpy())
        return Selection(np.concatenate(picks).astype(np.int64))
