"""Score-based static methods: a proxy model scores every example, a rule from ``rules`` keeps r·N of them.

Each sampler computes one score per training example on the run's device, in
batches, averages it over the proxy repeats, and hands it to a selection rule
(keep the highest, the lowest, a middle band, or strata), over the whole set
or class by class with ``class_quotas``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from workers.engine.strategies import rules
from workers.engine.strategies.base import ModelOutputs, ProxyRun, Selection, SelectionContext, StaticSampler
from workers.engine.strategies.greedy import squared_euclidean
from workers.engine.strategies.proxy import (
    last_layer_gradients,
    mean_over,
    probabilities,
    proxy_outputs,
    targets,
    to_numpy,
    train_proxies,
)

# Floats a batch of per-example gradients or distances may hold at once (512 MiB in float32).
BATCH_FLOATS = 2**27
# DeepFool keeps a graph through the model for every example of a batch: bound its activations too.
DEEPFOOL_BATCH = 512
KMEANS_ITERATIONS = 20


def _batches(total: int, size: int, device: torch.device) -> Iterator[Tensor]:
    size = max(1, size)
    for start in range(0, total, size):
        yield torch.arange(start, min(start + size, total), device=device)


def el2n_scores(outputs: ModelOutputs, labels: Tensor) -> Tensor:
    """‖softmax(logits) − onehot(label)‖₂ per example."""
    residual = probabilities(outputs) - F.one_hot(labels, outputs.logits.shape[1]).float()
    return residual.norm(dim=1)


def forgetting_scores(proxy: ProxyRun) -> Tensor:
    """Forgetting events per example; never-learned examples rank above all (forgotten infinitely often)."""
    counts = torch.as_tensor(proxy.forgetting_counts, dtype=torch.float64)
    never = ~torch.as_tensor(proxy.ever_learned, dtype=torch.bool)
    return torch.where(never, counts.max() + 1, counts)


class ScoreSampler(StaticSampler):
    """Scores every example, then keeps ``round_size`` of them by ``rule``, optionally class by class."""

    def score(self, context: SelectionContext) -> np.ndarray:
        raise NotImplementedError

    def rule(self) -> rules.Rule:
        return rules.keep_highest(self.params.get("offset", 0.0))

    def choose(self, context: SelectionContext) -> Selection:
        scores = self.score(context)
        indices = rules.select(
            self.rule(),
            scores,
            self.labels,
            self.round_size,
            context.rng,
            class_balanced=self.params["class_balanced"],
        )
        return Selection(indices)


class EL2NSampler(ScoreSampler):
    """EL2N: keep the examples with the largest error-vector norm early in training.

    Paul, Ganguli and Dziugaite, "Deep Learning on a Data Diet: Finding
    Important Examples Early in Training", NeurIPS 2021. The score is
    ‖softmax − onehot‖₂ after ``proxy_rounds`` rounds, averaged over
    ``proxy_repeats`` initialisations; ``offset`` drops the very hardest
    fraction first (the paper's remedy for label noise at small budgets).
    """

    def score(self, context: SelectionContext) -> np.ndarray:
        labels = targets(context)
        return to_numpy(mean_over([el2n_scores(outputs, labels) for outputs in proxy_outputs(context, self.params)]))


class GraNdSampler(ScoreSampler):
    """GraNd: keep the examples with the largest expected loss-gradient norm.

    Paul, Ganguli and Dziugaite, "Deep Learning on a Data Diet: Finding
    Important Examples Early in Training", NeurIPS 2021. As in the paper the
    gradient is over all of the model's parameters (``gradient="all"``),
    computed per example with ``torch.func`` in batches, with the model in eval
    mode, and averaged over ``proxy_repeats`` initialisations (at
    initialisation by default). DeepCore uses only the last layer's gradient;
    ``gradient="last_layer"`` offers that cheaper variant.
    """

    def score(self, context: SelectionContext) -> np.ndarray:
        labels = targets(context)
        norms = []
        for proxy in train_proxies(context, self.params):
            if self.params["gradient"] == "all":
                norms.append(self._full_gradient_norms(proxy.model, context, labels))
            else:
                outputs = context.infer(proxy.model)
                chunk = BATCH_FLOATS // outputs.logits.shape[1] // (outputs.embeddings.shape[1] + 1)
                norms.append(
                    torch.cat(
                        [
                            last_layer_gradients(outputs, labels, indices).norm(dim=1)
                            for indices in _batches(len(labels), chunk, context.device)
                        ]
                    )
                )
        return to_numpy(mean_over(norms))

    @staticmethod
    def _full_gradient_norms(model: nn.Module, context: SelectionContext, labels: Tensor) -> Tensor:
        was_training = model.training
        model.eval()
        parameters = {name: value.detach() for name, value in model.named_parameters()}
        buffers = {name: value.detach() for name, value in model.named_buffers()}

        def loss(params: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
            logits = functional_call(model, (params, buffers), (x[None],))
            return F.cross_entropy(logits.float(), y[None])

        per_example = vmap(grad(loss), in_dims=(None, 0, 0))
        batch = BATCH_FLOATS // sum(value.numel() for value in parameters.values())
        norms = []
        for indices in _batches(len(labels), batch, context.device):
            gradients = per_example(parameters, context.train_inputs(indices), labels[indices])
            norms.append(torch.stack([g.flatten(1).pow(2).sum(1) for g in gradients.values()]).sum(0).sqrt())
        model.train(was_training)
        return torch.cat(norms)


class ForgettingSampler(ScoreSampler):
    """Forgetting: keep the examples forgotten most often while the proxy trains.

    Toneva et al., "An Empirical Study of Example Forgetting during Deep
    Neural Network Learning", ICLR 2019. A forgetting event is a presentation
    at which an example goes from classified correctly to incorrectly. As in
    the paper, examples never learned count as forgotten infinitely often and
    rank above every learned one; DeepCore gives them no events (a score of 0).
    """

    def score(self, context: SelectionContext) -> np.ndarray:
        return to_numpy(mean_over([forgetting_scores(proxy) for proxy in train_proxies(context, self.params)]))


class UncertaintySampler(ScoreSampler):
    """Uncertainty: keep the examples the proxy is least sure about.

    Coleman et al., "Selection via Proxy: Efficient Data Selection for Deep
    Learning", ICLR 2020. ``score`` is least confidence (1 − max p), entropy,
    or margin (the gap between the two most likely classes; a small gap is
    uncertain). Following the paper, the most uncertain examples are kept;
    some DeepCore versions keep the most confident end.
    """

    def score(self, context: SelectionContext) -> np.ndarray:
        return to_numpy(mean_over([self._uncertainty(outputs) for outputs in proxy_outputs(context, self.params)]))

    def _uncertainty(self, outputs: ModelOutputs) -> Tensor:
        p = probabilities(outputs)
        if self.params["score"] == "least_confidence":
            return 1 - p.max(dim=1).values
        if self.params["score"] == "entropy":
            return -(p * torch.log(p.clamp_min(1e-12))).sum(dim=1)
        top = p.topk(2, dim=1).values
        return 1 - (top[:, 0] - top[:, 1])


class DeepFoolSampler(ScoreSampler):
    """DeepFool: keep the examples with the smallest adversarial perturbation, the closest to the boundary.

    Ducoffe and Precioso, "Adversarial Active Learning for Deep Networks: a
    Margin Based Approach", arXiv 2018. The score is the norm of the minimal
    DeepFool perturbation (Moosavi-Dezfooli et al., CVPR 2016) that changes the
    proxy's predicted class, found by up to ``max_iterations`` linearisation
    steps with ``overshoot``; examples that never flip keep the perturbation
    reached, which is already large. Every batch steps together; examples that
    have flipped stop moving.
    """

    def rule(self) -> rules.Rule:
        return rules.keep_lowest()

    def score(self, context: SelectionContext) -> np.ndarray:
        norms = []
        for proxy in train_proxies(context, self.params):
            model = proxy.model
            was_training = model.training
            model.eval()
            probe = context.train_inputs(torch.arange(1, device=context.device))
            classes = context.classes
            batch = min(DEEPFOOL_BATCH, BATCH_FLOATS // (classes * probe[0].numel()))
            norms.append(
                torch.cat(
                    [
                        self._perturbation_norms(model, context.train_inputs(indices), classes)
                        for indices in _batches(context.num_samples, batch, context.device)
                    ]
                )
            )
            model.train(was_training)
        return to_numpy(mean_over(norms))

    def _perturbation_norms(self, model: nn.Module, inputs: Tensor, classes: int) -> Tensor:
        overshoot = self.params["overshoot"]
        rows = torch.arange(len(inputs), device=inputs.device)
        with torch.no_grad():
            original = model(inputs).argmax(dim=1)
        total = torch.zeros_like(inputs)
        active = torch.ones(len(inputs), dtype=torch.bool, device=inputs.device)
        for _ in range(self.params["max_iterations"]):
            x = (inputs + (1 + overshoot) * total).requires_grad_(True)
            logits = model(x).float()
            active &= logits.argmax(dim=1) == original
            if not active.any():
                break
            # Examples are independent in eval mode, so the gradient of a summed logit is every example's own.
            gradients = torch.stack(
                [torch.autograd.grad(logits[:, k].sum(), x, retain_graph=k < classes - 1)[0] for k in range(classes)],
                dim=1,
            ).flatten(2)
            with torch.no_grad():
                directions = gradients - gradients[rows, original][:, None, :]
                gaps = (logits - logits[rows, original][:, None]).abs()
                lengths = directions.norm(dim=2).clamp_min(1e-12)
                distances = gaps / lengths
                distances[rows, original] = float("inf")
                nearest = distances.argmin(dim=1)
                step = (gaps[rows, nearest] + 1e-4) / lengths[rows, nearest] ** 2
                update = step[:, None] * directions[rows, nearest]
                total += (update * active[:, None]).view_as(total)
        return ((1 + overshoot) * total).flatten(1).norm(dim=1).detach()


class CALSampler(ScoreSampler):
    """CAL: keep the contrastive examples, those predicted unlike their nearest neighbours.

    Margatina et al., "Active Learning by Acquiring Contrastive Examples",
    EMNLP 2021. As DeepCore adapts it to selection, the neighbours are the
    ``neighbors`` nearest training examples in the proxy's penultimate
    embedding space (within the example's class when class-balanced, as
    DeepCore does; over the whole set otherwise), found in chunks. The score
    is the paper's mean KL(p(neighbour) ‖ p(example)); DeepCore uses a
    symmetrised KL and a pretrained ImageNet model for the embeddings, and
    keeps the lowest scores; we keep the highest, as the paper acquires them.
    """

    def score(self, context: SelectionContext) -> np.ndarray:
        if self.params["class_balanced"]:
            groups = [np.flatnonzero(self.labels == label) for label in np.unique(self.labels)]
        else:
            groups = [np.arange(context.num_samples)]
        partitions = [torch.as_tensor(group, device=context.device) for group in groups]
        scores = []
        for outputs in proxy_outputs(context, self.params):
            log_p = F.log_softmax(outputs.logits.float(), dim=1)
            score = torch.zeros(context.num_samples, device=context.device)
            for members in partitions:
                neighbours = members[self._nearest(outputs.embeddings[members].float(), context.device)]
                # KL(neighbour ‖ example), averaged over the neighbours.
                log_q = log_p[neighbours]
                kl = (log_q.exp() * (log_q - log_p[members][:, None, :])).sum(dim=2)
                score[members] = kl.mean(dim=1)
            scores.append(score)
        return to_numpy(mean_over(scores))

    def _nearest(self, embeddings: Tensor, device: torch.device) -> Tensor:
        """Positions of each point's ``neighbors`` nearest other points, a chunk of rows at a time."""
        count = min(self.params["neighbors"], len(embeddings) - 1)
        found = []
        for rows in _batches(len(embeddings), BATCH_FLOATS // 4 // len(embeddings), device):
            distances = squared_euclidean(embeddings[rows], embeddings)
            distances[torch.arange(len(rows), device=device), rows] = float("inf")
            found.append(distances.topk(count, dim=1, largest=False).indices)
        return torch.cat(found)


class _PrototypeSampler(ScoreSampler):
    """Distance to a prototype in the proxy's embedding space; ``keep`` hard (farthest) or easy (nearest)."""

    def rule(self) -> rules.Rule:
        return rules.keep_highest() if self.params["keep"] == "hard" else rules.keep_lowest()

    def score(self, context: SelectionContext) -> np.ndarray:
        outputs = proxy_outputs(context, self.params)
        return to_numpy(mean_over([self.distances(o.embeddings.float(), context) for o in outputs]))

    def distances(self, embeddings: Tensor, context: SelectionContext) -> Tensor:
        raise NotImplementedError


class SupervisedPrototypesSampler(_PrototypeSampler):
    """Supervised prototypes: distance of each example's embedding to its class centroid.

    Sorscher et al., "Beyond neural scaling laws: beating power law scaling
    via data pruning", NeurIPS 2022 (the supervised-prototype metric of their
    ImageNet study). ``keep="hard"`` keeps the farthest, the paper's choice
    when data is plentiful; ``"easy"`` the nearest, its choice when scarce.
    """

    def distances(self, embeddings: Tensor, context: SelectionContext) -> Tensor:
        labels = targets(context)
        sums = embeddings.new_zeros(context.classes, embeddings.shape[1]).index_add_(0, labels, embeddings)
        counts = torch.bincount(labels, minlength=context.classes).clamp_min(1)
        centroids = sums / counts[:, None]
        return (embeddings - centroids[labels]).norm(dim=1)


class SelfSupervisedPrototypesSampler(_PrototypeSampler):
    """Self-supervised prototypes: distance of each embedding to its nearest k-means centroid.

    Sorscher et al., "Beyond neural scaling laws: beating power law scaling
    via data pruning", NeurIPS 2022. The paper clusters the embeddings of a
    self-supervised model (SwAV); we cluster the proxy's penultimate features,
    so labels shape the space through the proxy's training. k-means has
    ``clusters`` centroids (the number of classes by default), a k-means++
    start drawn from the run's selection stream, and a fixed number of
    Lloyd iterations.
    """

    def distances(self, embeddings: Tensor, context: SelectionContext) -> Tensor:
        clusters = min(self.params["clusters"] or context.classes, len(embeddings))
        centroids = self._kmeans_plus_plus(embeddings, clusters, context.rng)
        for _ in range(KMEANS_ITERATIONS):
            assignment = self._nearest_centroid(embeddings, centroids)[1]
            sums = torch.zeros_like(centroids).index_add_(0, assignment, embeddings)
            counts = torch.bincount(assignment, minlength=clusters)
            # An emptied cluster keeps its centroid rather than collapsing to the origin.
            centroids = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], centroids)
        return self._nearest_centroid(embeddings, centroids)[0].sqrt()

    @staticmethod
    def _nearest_centroid(embeddings: Tensor, centroids: Tensor) -> tuple[Tensor, Tensor]:
        """Squared distance to, and index of, each point's nearest centroid, a chunk of points at a time."""
        rows = BATCH_FLOATS // 4 // len(centroids)
        starts = range(0, len(embeddings), rows)
        parts = [squared_euclidean(embeddings[i : i + rows], centroids).min(dim=1) for i in starts]
        return torch.cat([p.values for p in parts]), torch.cat([p.indices for p in parts])

    def _kmeans_plus_plus(self, embeddings: Tensor, clusters: int, rng: np.random.Generator) -> Tensor:
        chosen = [int(rng.integers(len(embeddings)))]
        nearest = squared_euclidean(embeddings, embeddings[chosen]).squeeze(1)
        for _ in range(clusters - 1):
            weights = nearest.double().cpu().numpy()
            total = weights.sum()
            # All points on the centroids already: any further choice is as good as another.
            pick = int(rng.choice(len(weights), p=weights / total)) if total > 0 else int(rng.integers(len(weights)))
            chosen.append(pick)
            nearest = torch.minimum(nearest, squared_euclidean(embeddings, embeddings[[pick]]).squeeze(1))
        return embeddings[chosen].clone()


class ModerateSampler(ScoreSampler):
    """Moderate coreset: keep the examples at a moderate distance from their class's median embedding.

    Xia et al., "Moderate Coreset: A Universal Method of Data Selection for
    Real-world Data-efficient Deep Learning", ICLR 2023. The score is the
    distance of an example's proxy embedding to its class's per-dimension
    median; the kept examples are the band of scores around the median score.
    By default the band is taken within each class (``class_balanced``); the
    authors' code takes one band over the whole set, which ``class_balanced=false``
    reproduces.
    """

    def rule(self) -> rules.Rule:
        return rules.keep_middle()

    def score(self, context: SelectionContext) -> np.ndarray:
        labels = targets(context)
        scores = []
        for outputs in proxy_outputs(context, self.params):
            embeddings = outputs.embeddings.float()
            distance = torch.zeros(len(labels), device=embeddings.device)
            for label in torch.unique(labels):
                members = labels == label
                median = embeddings[members].median(dim=0).values
                distance[members] = (embeddings[members] - median).norm(dim=1)
            scores.append(distance)
        return to_numpy(mean_over(scores))


class CCSSampler(ScoreSampler):
    """Coverage-centric coreset selection: strata over a difficulty score, the hardest dropped.

    Zheng et al., "Coverage-centric Coreset Selection for High Pruning Rates",
    ICLR 2023. The score is EL2N or forgetting (never-learned examples
    highest, as in ``forgetting``); the hardest ``hard_cutoff`` fraction is
    dropped, and the budget is spread over ``strata`` equal-width score bins
    from the smallest bin up, drawn at random within each bin.
    """

    def rule(self) -> rules.Rule:
        return rules.keep_strata(self.params["hard_cutoff"], self.params["strata"])

    def score(self, context: SelectionContext) -> np.ndarray:
        proxies = train_proxies(context, self.params)
        if self.params["score"] == "forgetting":
            return to_numpy(mean_over([forgetting_scores(proxy) for proxy in proxies]))
        labels = targets(context)
        return to_numpy(mean_over([el2n_scores(context.infer(proxy.model), labels) for proxy in proxies]))
