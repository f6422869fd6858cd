"""Greedy searches over a geometry, shared by the coreset samplers.

Every search here works on one matrix of features (``n × d``, on the device
the selection runs on) in batched torch operations, returns the chosen rows'
positions in the order they were picked, and bounds its memory:

* ``kcenter_greedy`` and ``herding`` keep O(n·d): one distance (or score)
  vector, updated with one matrix-vector product per pick, so they run over
  a whole 50,000-example training set;
* ``graph_cut`` and ``log_determinant`` compute one kernel row per pick
  (O(n·d) per step, O(n·size) memory for log-determinant's Cholesky factor);
* ``facility_location`` with exact greedy holds the ``n × n`` kernel, so it
  refuses more than ``MAX_KERNEL_POINTS`` points; with ``epsilon > 0``
  (stochastic greedy) it computes only the sampled candidates' kernel columns
  and has no such bound.

The submodular searches run over one class partition at a time (their
samplers partition by class), which is also how DeepCore runs them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

# 10,000² float32 similarities are 400 MB: the largest kernel exact facility location may hold.
MAX_KERNEL_POINTS = 10_000
# Rows per block when a kernel or distance matrix is computed piecewise.
CHUNK = 2048

Distance = Callable[[Tensor, Tensor], Tensor]
Similarity = Callable[[Tensor, Tensor], Tensor]


def squared_euclidean(points: Tensor, centres: Tensor) -> Tensor:
    """``points × centres`` squared Euclidean distances (clamped at 0 against rounding)."""
    products = points @ centres.T
    squares = (points * points).sum(1, keepdim=True) + (centres * centres).sum(1)[None, :]
    return (squares - 2 * products).clamp_(min=0)


def cosine_similarity(points: Tensor, others: Tensor) -> Tensor:
    """Cosine similarity shifted to [0, 1], ``(1 + cos) / 2``, as DeepCore's submodular kernel.

    Facility location and graph cut need non-negative similarities; the shift
    keeps the kernel positive semi-definite, as log-determinant needs.
    """
    return 0.5 + 0.5 * (F.normalize(points, dim=1) @ F.normalize(others, dim=1).T)


def _check_size(features: Tensor, size: int) -> None:
    if features.dim() != 2:
        raise ValueError(f"features must be a matrix, got shape {tuple(features.shape)}")
    if not 0 <= size <= features.shape[0]:
        raise ValueError(f"cannot choose {size} of {features.shape[0]} points")


def kcenter_greedy(
    features: Tensor,
    size: int,
    *,
    rng: np.random.Generator,
    initial: Tensor | None = None,
    distance: Distance = squared_euclidean,
) -> Tensor:
    """Farthest-point traversal (Gonzalez 1985; the core-set search of Sener & Savarese, ICLR 2018).

    Each pick is the point farthest from its nearest chosen centre. The first
    centre is drawn with ``rng`` unless ``initial`` (already chosen positions,
    not counted in ``size`` nor returned) seeds the centres. ``distance(points,
    centres)`` gives a ``points × centres`` matrix; only a running minimum over
    the centres is kept, so memory is O(n·d).
    """
    _check_size(features, size)
    n = features.shape[0]
    chosen = torch.zeros(n, dtype=torch.bool, device=features.device)
    picks: list[int] = []
    if initial is not None and len(initial):
        initial = initial.to(features.device)
        nearest = torch.full((n,), math.inf, device=features.device)
        for start in range(0, len(initial), CHUNK):
            block = distance(features, features[initial[start : start + CHUNK]])
            nearest = torch.minimum(nearest, block.min(1).values)
        chosen[initial] = True
    else:
        if size == 0:
            return torch.empty(0, dtype=torch.int64, device=features.device)
        first = int(rng.integers(n))
        picks.append(first)
        chosen[first] = True
        nearest = distance(features, features[first : first + 1])[:, 0]
    while len(picks) < size:
        # Chosen points are at distance 0 from themselves, but duplicates of them are too: mask explicitly.
        pick = int(nearest.masked_fill(chosen, -math.inf).argmax())
        picks.append(pick)
        chosen[pick] = True
        nearest = torch.minimum(nearest, distance(features, features[pick : pick + 1])[:, 0])
    return torch.tensor(picks, dtype=torch.int64, device=features.device)


def herding(features: Tensor, size: int) -> Tensor:
    """Kernel herding with a linear kernel (Welling, ICML 2009; Chen, Welling & Smola, UAI 2010).

    Pick ``t + 1`` is the point that brings the mean of the chosen set closest
    to the mean ``μ`` of all the features: ``argmin_x ‖(t + 1)·μ − Σ_chosen − x‖²``,
    which is ``argmin_x ‖x‖² − 2⟨(t + 1)·μ − Σ_chosen, x⟩``: one matrix-vector
    product per pick. (DeepCore takes the argmax of that distance, which moves
    the mean away from μ; this follows the papers.)
    """
    _check_size(features, size)
    features = features.float()
    mean = features.mean(0)
    squares = (features * features).sum(1)
    chosen = torch.zeros(features.shape[0], dtype=torch.bool, device=features.device)
    total = torch.zeros_like(mean)
    picks: list[int] = []
    for step in range(size):
        target = (step + 1) * mean - total
        score = (squares - 2 * (features @ target)).masked_fill(chosen, math.inf)
        pick = int(score.argmin())
        picks.append(pick)
        chosen[pick] = True
        total += features[pick]
    return torch.tensor(picks, dtype=torch.int64, device=features.device)


def _kernel(features: Tensor, similarity: Similarity) -> Tensor:
    if features.shape[0] > MAX_KERNEL_POINTS:
        raise ValueError(
            f"an exact greedy over {features.shape[0]} points would hold a {features.shape[0]}² kernel; "
            f"partition the data (at most {MAX_KERNEL_POINTS} points) or use stochastic greedy (epsilon > 0)"
        )
    blocks = [features[start : start + CHUNK] for start in range(0, features.shape[0], CHUNK)]
    return torch.cat([similarity(block, features) for block in blocks])


def _stochastic_sample_size(n: int, size: int, epsilon: float) -> int:
    """Candidates per step of stochastic greedy: (n / k)·log(1/ε) (Mirzasoleiman et al., AAAI 2015)."""
    return max(1, math.ceil(n / max(size, 1) * math.log(1 / epsilon)))


def facility_location(
    features: Tensor,
    size: int,
    *,
    rng: np.random.Generator,
    epsilon: float = 0.0,
    similarity: Similarity = cosine_similarity,
) -> tuple[Tensor, Tensor]:
    """Greedy maximisation of ``F(S) = Σ_i max_{j∈S} s(i, j)``, and each pick's share of the points.

    Returns the chosen positions in pick order and, for every chosen point, how
    many points (itself included) have it as their most similar chosen point:
    CRAIG's weights (Mirzasoleiman, Bilmes & Leskovec, ICML 2020); they sum to n.

    ``epsilon == 0`` runs exact greedy with vectorised marginal gains over the
    ``n × n`` kernel, so it refuses more than ``MAX_KERNEL_POINTS`` points.
    ``epsilon > 0`` runs stochastic greedy ("Lazier than lazy greedy",
    Mirzasoleiman et al., AAAI 2015): each step evaluates ``(n/size)·log(1/ε)``
    candidates drawn with ``rng``, whose kernel columns are computed on the fly,
    so memory stays O(n·candidates) and the result is ``1 − 1/e − ε`` optimal in
    expectation.
    """
    _check_size(features, size)
    features = features.float()
    n = features.shape[0]
    covered = torch.zeros(n, device=features.device)
    chosen = np.zeros(n, dtype=bool)
    picks: list[int] = []
    if epsilon == 0.0:
        kernel = _kernel(features, similarity)
        for _ in range(size):
            gains = torch.zeros(n, device=features.device)
            for start in range(0, n, CHUNK):
                rows = kernel[start : start + CHUNK] - covered[start : start + CHUNK, None]
                gains += rows.clamp_(min=0).sum(0)
            gains[torch.from_numpy(chosen).to(features.device)] = -math.inf
            pick = int(gains.argmax())
            picks.append(pick)
            chosen[pick] = True
            covered = torch.maximum(covered, kernel[:, pick])
    else:
        sample = _stochastic_sample_size(n, size, epsilon)
        for _ in range(size):
            available = np.flatnonzero(~chosen)
            candidates = rng.choice(available, size=min(sample, len(available)), replace=False)
            columns = similarity(features, features[torch.from_numpy(candidates).to(features.device)])
            gains = (columns - covered[:, None]).clamp_(min=0).sum(0)
            best = int(gains.argmax())
            pick = int(candidates[best])
            picks.append(pick)
            chosen[pick] = True
            covered = torch.maximum(covered, columns[:, best])
    indices = torch.tensor(picks, dtype=torch.int64, device=features.device)
    return indices, assignment_counts(features, indices, similarity)


def assignment_counts(features: Tensor, chosen: Tensor, similarity: Similarity = cosine_similarity) -> Tensor:
    """For each chosen point, how many of ``features`` are most similar to it among the chosen (ties: first)."""
    counts = torch.zeros(len(chosen), dtype=torch.int64, device=features.device)
    if len(chosen) == 0:
        return counts
    centres = features[chosen]
    for start in range(0, features.shape[0], CHUNK):
        nearest = similarity(features[start : start + CHUNK], centres).argmax(1)
        counts += torch.bincount(nearest, minlength=len(chosen))
    return counts


def _diagonal(features: Tensor, similarity: Similarity) -> Tensor:
    """Every point's similarity to itself, in diagonal blocks."""
    blocks = [features[start : start + CHUNK] for start in range(0, features.shape[0], CHUNK)]
    return torch.cat([similarity(block, block).diagonal() for block in blocks])


def graph_cut(features: Tensor, size: int, *, lam: float = 1.0, similarity: Similarity = cosine_similarity) -> Tensor:
    """Greedy maximisation of ``F(S) = λ·Σ_{i∈V, j∈S} s(i, j) − Σ_{i, j∈S} s(i, j)`` (Iyer et al., ALT 2021).

    The gain of ``j`` is ``λ·Σ_i s(i, j) − 2·Σ_{i∈S} s(i, j) − s(j, j)``: the
    column sums are computed once in blocks and the second term is a running
    vector that gains one kernel row per pick, so no ``n × n`` kernel is held.
    ``F`` is monotone for ``λ ≥ 2``; below that the later picks may lower it
    (greedy still picks the best remaining gain).
    """
    _check_size(features, size)
    features = features.float()
    n = features.shape[0]
    column_sums = torch.zeros(n, device=features.device)
    for start in range(0, n, CHUNK):
        column_sums += similarity(features[start : start + CHUNK], features).sum(0)
    self_similarity = _diagonal(features, similarity)
    to_chosen = torch.zeros(n, device=features.device)
    chosen = torch.zeros(n, dtype=torch.bool, device=features.device)
    picks: list[int] = []
    for _ in range(size):
        gains = (lam * column_sums - 2 * to_chosen - self_similarity).masked_fill(chosen, -math.inf)
        pick = int(gains.argmax())
        picks.append(pick)
        chosen[pick] = True
        to_chosen += similarity(features[pick : pick + 1], features)[0]
    return torch.tensor(picks, dtype=torch.int64, device=features.device)


def log_determinant(
    features: Tensor, size: int, *, ridge: float = 1.0, similarity: Similarity = cosine_similarity
) -> Tensor:
    """Greedy maximisation of ``F(S) = log det(K_S + ridge·I)`` (Iyer et al., ALT 2021).

    The gain of ``j`` is ``log d_j²`` with ``d_j²`` the variance of ``j`` left
    unexplained by the chosen points, ``K_jj + ridge − ‖c_j‖²``; an incremental
    Cholesky factor ``c`` (n × size) updates every ``d²`` with one kernel row
    per pick (the fast greedy MAP of Chen, Zhang & Zhou, NeurIPS 2018), so no
    ``n × n`` kernel is held. The ridge keeps every gain finite, and ``F``
    monotone, when the kernel is rank-deficient. (DeepCore's gain is
    ``‖c_j‖²`` itself, maximised, which favours points the chosen set already
    explains; this follows the paper's log-determinant.)
    """
    _check_size(features, size)
    features = features.float()
    n = features.shape[0]
    residual = _diagonal(features, similarity) + ridge
    factor = torch.zeros(n, size, device=features.device)
    chosen = torch.zeros(n, dtype=torch.bool, device=features.device)
    picks: list[int] = []
    for step in range(size):
        pick = int(residual.masked_fill(chosen, -math.inf).argmax())
        picks.append(pick)
        chosen[pick] = True
        row = similarity(features[pick : pick + 1], features)[0]
        row[pick] += ridge
        column = (row - factor[:, :step] @ factor[pick, :step]) / residual[pick].clamp(min=1e-12).sqrt()
        factor[:, step] = column
        residual = residual - column * column
    return torch.tensor(picks, dtype=torch.int64, device=features.device)
