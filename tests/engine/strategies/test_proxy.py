"""The shared machinery: proxies trained through the engine, their outputs, and the registry's shape."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

from tests.engine.strategies.conftest import real_context, trainer
from tests.engine.training.conftest import blobs, tiny_images
from workers.engine.strategies import STRATEGIES, Sampler, StaticSampler
from workers.engine.strategies.proxy import example_losses, last_layer_gradients, proxy_outputs, targets


def test_a_proxy_with_no_rounds_is_the_model_as_initialised_from_its_seed():
    run = trainer(blobs())
    first = run.train_proxy(rounds=0, seed=7).model
    again = run.train_proxy(rounds=0, seed=7).model
    other = run.train_proxy(rounds=0, seed=8).model
    for a, b in zip(first.parameters(), again.parameters(), strict=True):
        assert torch.equal(a, b)
    assert not all(torch.equal(a, b) for a, b in zip(first.parameters(), other.parameters(), strict=True))


def test_a_trained_proxy_learns_and_counts_its_forgetting_events():
    run = trainer(blobs(), recipe={"lr": 0.05})
    proxy = run.train_proxy(rounds=4, seed=0)
    assert proxy.result.samples_trained == 4 * 240
    assert proxy.ever_learned.mean() > 0.9
    assert proxy.forgetting_counts.dtype == np.int64 and proxy.forgetting_counts.shape == (240,)
    # A forgetting event needs an earlier correct presentation, and there are only four.
    assert (proxy.forgetting_counts[~proxy.ever_learned] == 0).all()
    assert proxy.forgetting_counts.max() <= 2


def test_inference_gives_the_models_logits_and_penultimate_features_unaugmented():
    dataset = tiny_images()
    run = trainer(dataset, model="small_cnn", recipe={"augment_flip": True, "augment_translate": 2})
    outputs = run.infer(run.model, batch_size=40)
    assert outputs.embeddings.shape == (96, 128) and outputs.logits.shape == (96, 3)
    assert run.model.training, "inference puts the model back in training mode"
    run.model.eval()
    with torch.no_grad():
        expected = run.model(run.data.train_inputs(torch.arange(96)))
    torch.testing.assert_close(outputs.logits, expected, rtol=1e-4, atol=1e-5)


def test_inference_on_a_candidate_pool_gives_those_examples_rows_in_order():
    run = trainer(blobs())
    everything = run.infer(run.model)
    pool = np.array([7, 3, 200, 3])
    some = run.infer(run.model, indices=pool)
    assert torch.allclose(some.logits, everything.logits[pool])
    assert torch.allclose(some.embeddings, everything.embeddings[pool])
    losses = example_losses(run.selection_context(0), run.model, pool)
    expected = F.cross_entropy(everything.logits[pool], torch.as_tensor(run.data.labels[pool]), reduction="none")
    assert torch.allclose(losses, expected)


def test_a_proxy_on_a_subset_trains_on_those_examples_only():
    run = trainer(blobs())
    subset = np.arange(0, 240, 4)
    proxy = run.train_proxy(rounds=3, subset=subset)
    assert proxy.result.samples_trained == 3 * len(subset)
    seen = ~np.isnan(proxy.losses)
    assert np.array_equal(np.flatnonzero(seen), subset)


def test_last_layer_gradient_embeddings_equal_autograd_on_the_last_layer():
    dataset = blobs(train_size=40)
    run = trainer(dataset)
    outputs = run.infer(run.model)
    labels = torch.as_tensor(dataset.y_train)
    gradients = last_layer_gradients(outputs, labels)
    layer = run.model.classifier
    for index in (0, 17, 39):
        layer.zero_grad()
        logits = layer(outputs.embeddings[index : index + 1])
        F.cross_entropy(logits, labels[index : index + 1]).backward()
        expected = torch.cat([layer.bias.grad, layer.weight.grad.flatten()])
        torch.testing.assert_close(gradients[index], expected, rtol=1e-4, atol=1e-6)
    subset = torch.tensor([3, 5])
    torch.testing.assert_close(last_layer_gradients(outputs, labels, subset), gradients[subset])


def test_proxy_repeats_draw_their_seeds_from_the_run_seed():
    params = {"proxy_rounds": 0, "proxy_repeats": 2, "proxy_model": None}

    def embeddings(seed):
        return [outputs.embeddings for outputs in proxy_outputs(real_context(blobs(), seed=seed), params)]

    first, second = embeddings(0)
    assert not torch.equal(first, second)
    again = embeddings(0)
    assert torch.equal(first, again[0]) and torch.equal(second, again[1])
    assert not torch.equal(first, embeddings(1)[0])
    assert torch.equal(targets(real_context(blobs())), torch.as_tensor(blobs().y_train))


def test_every_strategy_names_an_importable_sampler_that_cites_its_source():
    for key, strategy in STRATEGIES.items():
        sampler = strategy.sampler_class()
        assert issubclass(sampler, Sampler), key
        docstring = inspect.getdoc(sampler) or ""
        assert docstring, f"{key} has no docstring"
        if not sampler.__module__.endswith(".controls"):
            # Every method beyond the controls cites its paper: authors and a year.
            assert re.search(r"\b(19|20)\d\d\b", docstring), f"{key} cites no paper"
        if strategy.family == "static" and key not in ("full", "full_short"):
            assert issubclass(sampler, StaticSampler), key
        if not issubclass(sampler, StaticSampler) and key not in ("full", "full_short"):
            # A subset that changes every round makes a strategy dynamic (or weighted, when it reweights).
            assert strategy.family in ("dynamic", "weighted"), key


def test_the_registry_is_read_without_importing_torch():
    code = (
        "import sys; from workers.engine.strategies import STRATEGIES; "
        "[s.describe() for s in STRATEGIES.values()]; "
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert completed.stdout.strip() == "[]"
