"""The greedy searches on geometries whose answers are known by construction."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from workers.engine.strategies import greedy
from workers.engine.strategies.greedy import (
    cosine_similarity,
    facility_location,
    graph_cut,
    herding,
    kcenter_greedy,
    log_determinant,
    squared_euclidean,
)


def planted_clusters(sizes: list[int], *, dims: int = 16, spread: float = 0.3, seed: int = 0):
    """Points around orthogonal directions scaled by 10: far apart in distance and in cosine."""
    generator = torch.Generator().manual_seed(seed)
    cluster = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    centres = 10 * torch.eye(dims)[: len(sizes)]
    points = centres[cluster] + spread * torch.randn(len(cluster), dims, generator=generator)
    return points, cluster


def facility_value(features: torch.Tensor, chosen: torch.Tensor) -> float:
    return float(cosine_similarity(features, features[chosen]).max(1).values.sum())


def graph_cut_value(features: torch.Tensor, chosen: torch.Tensor, lam: float) -> float:
    kernel = cosine_similarity(features, features)
    return float(lam * kernel[:, chosen].sum() - kernel[chosen][:, chosen].sum())


def test_kcenter_picks_one_point_per_planted_cluster_first():
    points, cluster = planted_clusters([30, 10, 50, 20, 40])
    for seed in range(3):
        picks = kcenter_greedy(points, 8, rng=np.random.default_rng(seed))
        assert sorted(cluster[picks[:5]].tolist()) == [0, 1, 2, 3, 4]
        assert len(set(picks.tolist())) == 8


def test_kcenter_from_initial_centres_goes_to_the_clusters_they_leave_uncovered():
    points, cluster = planted_clusters([20, 20, 20, 20])
    initial = torch.tensor([0, 25])
    picks = kcenter_greedy(points, 2, rng=np.random.default_rng(0), initial=initial)
    assert sorted(cluster[picks].tolist()) == [2, 3]


def test_herding_brings_the_running_mean_to_the_mean_faster_than_random_subsets():
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(300, 8, generator=generator) * torch.linspace(0.5, 3, 8) + 2
    mean = features.mean(0)
    picks = herding(features, 60)
    rng = np.random.default_rng(0)
    errors = []
    for k in (5, 10, 20, 40, 60):
        error = float((features[picks[:k]].mean(0) - mean).norm())
        random_errors = [float((features[rng.choice(300, k, replace=False)].mean(0) - mean).norm()) for _ in range(50)]
        assert error < np.mean(random_errors) / 3
        errors.append(error)
    assert errors == sorted(errors, reverse=True)


@pytest.mark.parametrize("search", ["facility_location", "graph_cut"])
def test_coverage_objectives_grow_with_the_budget_and_smaller_budgets_are_prefixes(search):
    points, _ = planted_clusters([15, 25, 10, 30], spread=2.0)

    def run(size):
        if search == "facility_location":
            return facility_location(points, size, rng=np.random.default_rng(0))[0]
        return graph_cut(points, size, lam=2.0)

    full = run(12)
    for size in (1, 4, 7):
        assert torch.equal(run(size), full[:size])
    if search == "facility_location":
        values = [facility_value(points, full[:k]) for k in range(1, 13)]
    else:
        values = [graph_cut_value(points, full[:k], lam=2.0) for k in range(1, 13)]
    assert all(later >= earlier - 1e-4 for earlier, later in zip(values, values[1:], strict=False))
    assert values[-1] > values[0]


@pytest.mark.parametrize("search", ["facility_location", "graph_cut", "log_determinant"])
def test_submodular_searches_cover_planted_clusters_better_than_random_subsets(search):
    # Equal clusters: graph cut's λ·(column sum) term rewards a big cluster's second point over a small one's first.
    points, cluster = planted_clusters([25, 25, 25, 25])
    if search == "facility_location":
        picks = facility_location(points, 4, rng=np.random.default_rng(0))[0]
    else:
        picks = getattr(greedy, search)(points, 4)
    assert sorted(cluster[picks].tolist()) == [0, 1, 2, 3]
    rng = np.random.default_rng(0)
    random_coverage = [facility_value(points, torch.from_numpy(rng.choice(100, 4, replace=False))) for _ in range(50)]
    assert facility_value(points, picks) > np.mean(random_coverage)


def test_log_determinant_never_picks_a_near_duplicate_before_covering_every_cluster():
    # Each cluster is one point and nine near-copies of it; the largest cluster comes first.
    points, cluster = planted_clusters([10, 10, 10, 10, 10, 10], spread=0.01)
    picks = log_determinant(points, 6)
    assert sorted(cluster[picks].tolist()) == [0, 1, 2, 3, 4, 5]


def test_facility_location_counts_for_each_pick_the_points_it_is_nearest_to():
    sizes = [12, 30, 7, 21]
    points, cluster = planted_clusters(sizes)
    picks, counts = facility_location(points, 4, rng=np.random.default_rng(0))
    assert counts.sum() == sum(sizes)
    assert counts.tolist() == [sizes[c] for c in cluster[picks].tolist()]


def test_stochastic_facility_location_is_seeded_and_close_to_exact_greedy():
    points, _ = planted_clusters([40] * 8, spread=3.0)
    exact, _ = facility_location(points, 16, rng=np.random.default_rng(0))
    first, counts = facility_location(points, 16, rng=np.random.default_rng(3), epsilon=0.01)
    again, _ = facility_location(points, 16, rng=np.random.default_rng(3), epsilon=0.01)
    assert torch.equal(first, again) and len(set(first.tolist())) == 16 and counts.sum() == 320
    assert facility_value(points, first) >= 0.98 * facility_value(points, exact)


def test_exact_facility_location_refuses_a_kernel_beyond_its_bound(monkeypatch):
    monkeypatch.setattr(greedy, "MAX_KERNEL_POINTS", 50)
    points, _ = planted_clusters([30, 30])
    with pytest.raises(ValueError, match="partition the data"):
        facility_location(points, 5, rng=np.random.default_rng(0))
    picks, _ = facility_location(points, 5, rng=np.random.default_rng(0), epsilon=0.1)
    assert len(set(picks.tolist())) == 5


def test_greedy_searches_run_on_50000_points_and_on_5000_point_partitions_without_an_n_by_n_matrix():
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(50_000, 32, generator=generator)
    shapes: list[tuple[int, ...]] = []

    def recording(function):
        def measured(a, b):
            result = function(a, b)
            shapes.append(tuple(result.shape))
            return result

        return measured

    started = time.perf_counter()
    picks = kcenter_greedy(features, 500, rng=np.random.default_rng(0), distance=recording(squared_euclidean))
    partition = features[:5000]
    chosen, _ = facility_location(
        partition, 500, rng=np.random.default_rng(0), epsilon=0.01, similarity=recording(cosine_similarity)
    )
    elapsed = time.perf_counter() - started
    assert len(set(picks.tolist())) == 500 and len(set(chosen.tolist())) == 500
    # The largest block either search held: one column per pick, or one per sampled candidate.
    assert max(rows * columns for rows, columns in shapes) <= 50_000 * greedy.CHUNK
    assert elapsed < 10, f"took {elapsed:.1f} s"
