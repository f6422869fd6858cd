"""RHO-LOSS: planted losses whose answer is known, real irreducible-loss models, and whole runs."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from torch import nn

from tests.engine.strategies.conftest import trainer
from tests.engine.training.conftest import assert_resumes_identically, blobs, run_config
from workers.engine.errors import ConfigError
from workers.engine.strategies import ModelOutputs, ProxyRun, SelectionContext, budget_count, class_quotas, make_sampler
from workers.engine.strategies.proxy import example_losses, to_numpy
from workers.engine.training import Trainer, train_run

CONFIDENT, UNSURE = 6.0, -3.0


def planted_context(current: np.ndarray, irreducible: np.ndarray, labels: np.ndarray, rounds_log: list):
    """A context whose current model and IL model put logit ``current[i]`` / ``irreducible[i]`` on the true class.

    Each model's loss on example i is log(1 + e^(−logit)) over two classes, so a
    high logit means a low loss; ``rounds_log`` records every IL model trained.
    """
    labels = np.asarray(labels, dtype=np.int64)
    il_model, current_model = nn.Linear(1, 1), nn.Linear(1, 1)

    def logits_of(model, indices=None):
        margins = irreducible if model is il_model else current
        logits = np.zeros((len(labels), 2))
        logits[np.arange(len(labels)), labels] = margins
        chosen = np.arange(len(labels)) if indices is None else np.asarray(indices)
        return ModelOutputs(torch.tensor(logits[chosen], dtype=torch.float32), torch.zeros(len(chosen), 1), 1.0, True)

    def train_proxy(**kwargs):
        rounds_log.append(kwargs)
        return ProxyRun(model=il_model, losses=np.zeros(len(labels)), result=None)

    return SelectionContext(
        round_index=0,
        num_samples=len(labels),
        budget=0.0,
        labels=labels,
        rng=np.random.default_rng(0),
        model=current_model,
        device=torch.device("cpu"),
        read_losses=lambda: np.full(len(labels), np.nan),
        train_proxy=train_proxy,
        infer=lambda model, indices=None: logits_of(model, indices),
        num_classes=2,
    )


def test_it_keeps_the_learnable_points_and_skips_the_noisy_and_the_learnt():
    # 60 examples of two classes in three kinds of 20: noisy (both models unsure), learnt (both confident),
    # learnable (the current model unsure, the IL model confident). Only the last have a reducible loss.
    kinds = np.repeat(["noisy", "learnt", "learnable"], 20)
    labels = np.arange(60) % 2
    current = np.where(kinds == "learnt", CONFIDENT, UNSURE)
    irreducible = np.where(kinds == "noisy", UNSURE, CONFIDENT)
    trained = []
    context = planted_context(current, irreducible, labels, trained)
    sampler = make_sampler("rho_loss", {}, budget=0.2, labels=labels)
    selection = sampler.select(context)

    assert len(selection.indices) == sampler.round_size == 12
    assert set(kinds[selection.indices]) == {"learnable"}
    assert len(trained) == 1 and np.array_equal(trained[0]["subset"], sampler.holdout)
    # The IL losses are kept: a second round trains nothing more.
    sampler.select(context)
    assert len(trained) == 1


def noisy_blobs(seed: int, flipped: int = 24):
    """Blobs whose first ``flipped`` labels are moved to the next class."""
    dataset = blobs(seed=seed)
    dataset.y_train = dataset.y_train.copy()
    dataset.y_train[:flipped] = (dataset.y_train[:flipped] + 1) % dataset.num_classes
    return dataset


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_on_planted_label_noise_it_selects_far_fewer_noisy_points_than_top_loss(seed):
    run = trainer(noisy_blobs(seed), strategy="full", recipe={"rounds": 2})
    run.fit()
    context = run.selection_context(2)
    sampler = make_sampler("rho_loss", {}, budget=0.1, labels=run.data.labels)
    selection = sampler.select(context)

    # The pool (10 × 24 candidates) covers every example not held out, so top-loss ranks the same set.
    candidates = sampler.candidates()
    losses = to_numpy(example_losses(context, context.model, candidates))
    top_loss = candidates[np.argsort(-losses, kind="stable")[: sampler.round_size]]
    noisy_available = int((candidates < 24).sum())
    top_loss_noisy = int((top_loss < 24).sum())
    rho_noisy = int((selection.indices < 24).sum())
    # The half-trained model's highest losses are the mislabelled points; RHO-LOSS passes most of them over.
    assert top_loss_noisy >= 0.8 * noisy_available
    assert rho_noisy <= top_loss_noisy / 3


def test_the_holdout_is_a_stratified_split_that_is_never_selected():
    dataset = blobs(train_size=120)
    run = trainer(dataset)
    sampler = make_sampler(
        "rho_loss", {"holdout_fraction": 0.25, "irreducible_rounds": 1}, budget=0.5, labels=dataset.y_train
    )
    selected = np.concatenate([sampler.select(run.selection_context(index)).indices for index in range(6)])

    holdout = sampler.holdout
    assert len(holdout) == budget_count(0.25, 120) == 30
    assert dict(zip(*np.unique(dataset.y_train[holdout], return_counts=True), strict=True)) == class_quotas(
        dataset.y_train, 30
    )
    assert not np.isin(selected, holdout).any()
    assert np.array_equal(np.union1d(holdout, sampler.candidates()), np.arange(120))


def test_a_budget_beyond_the_examples_not_held_out_is_clipped_to_them():
    dataset = blobs(train_size=90, num_classes=3)
    params = {"holdout_fraction": 0.1, "irreducible_rounds": 1}
    sampler = make_sampler("rho_loss", params, budget=0.95, labels=dataset.y_train)
    assert budget_count(0.95, 90) == 86
    assert sampler.round_size == 90 - 9
    selection = sampler.select(trainer(dataset).selection_context(0))
    assert np.array_equal(np.sort(selection.indices), sampler.candidates())

    result = train_run(run_config(strategy="rho_loss", params=params, budget=0.95, recipe={"rounds": 2}), dataset)
    assert result.samples_trained == 2 * 81


def test_a_holdout_that_leaves_nothing_to_select_is_rejected_by_name():
    with pytest.raises(ConfigError) as error:
        make_sampler("rho_loss", {"holdout_fraction": 0.9}, budget=0.5, labels=np.zeros(1, dtype=np.int64))
    assert error.value.field == "params.holdout_fraction"


def test_a_run_is_charged_for_its_irreducible_loss_model_and_resumes_without_training_it_again(tmp_path, monkeypatch):
    proxies = []
    original = Trainer.train_proxy

    def recorded_proxy(self, **kwargs):
        started = time.perf_counter()
        proxy = original(self, **kwargs)
        proxies.append((kwargs, proxy, time.perf_counter() - started))
        return proxy

    monkeypatch.setattr(Trainer, "train_proxy", recorded_proxy)
    dataset = blobs()
    params = {"holdout_fraction": 0.2, "irreducible_rounds": 3, "pool_factor": 2}
    config = run_config(strategy="rho_loss", params=params, budget=0.25, recipe={"rounds": 6, "eval_every": 2})
    uninterrupted = train_run(config, dataset)

    ((kwargs, proxy, proxy_seconds),) = proxies
    assert kwargs["rounds"] == 3 and len(kwargs["subset"]) == 48
    assert proxy.result.samples_trained == 3 * 48
    assert uninterrupted.selection_seconds >= proxy_seconds
    # The irreducible-loss model trains before the first round: the first evaluation's clock already carries it.
    assert uninterrupted.metrics[0]["wall_clock_seconds"] >= proxy_seconds
    assert uninterrupted.samples_trained == 6 * 60

    proxies.clear()
    assert_resumes_identically(config, dataset, tmp_path / "run.pt")
    # The uninterrupted run and the stopped one each trained it; the resumed run restored it.
    assert len(proxies) == 2, "the resumed run trained its irreducible-loss model again"
