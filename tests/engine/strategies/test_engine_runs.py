"""Every proxy-based strategy, end to end through ``train_run``: its proxies' time lands in selection."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.engine.training.conftest import run_config, tiny_images
from workers.engine.strategies import STRATEGIES, budget_count
from workers.engine.training import Trainer, train_run

PROXY_STRATEGIES = sorted(key for key, s in STRATEGIES.items() if any(p.name == "proxy_rounds" for p in s.params))


def test_every_score_and_coreset_method_trains_a_proxy():
    # The 17 static score and coreset methods, and score resampling, which draws by one of their scores.
    assert len(PROXY_STRATEGIES) == 18 and "score_resampling" in PROXY_STRATEGIES


@pytest.mark.parametrize("key", PROXY_STRATEGIES)
def test_a_strategy_runs_on_images_and_is_charged_for_its_proxies(key, monkeypatch):
    proxy_seconds = []
    original = Trainer.train_proxy

    def timed_proxy(self, **kwargs):
        started = time.perf_counter()
        proxy = original(self, **kwargs)
        proxy_seconds.append(time.perf_counter() - started)
        return proxy

    monkeypatch.setattr(Trainer, "train_proxy", timed_proxy)
    dataset = tiny_images(train_size=60, test_size=30)
    params = {"proxy_rounds": 1}
    if key == "deepfool":
        params["max_iterations"] = 3
    config = run_config(
        model="small_cnn", strategy=key, params=params, budget=0.25, recipe={"rounds": 2, "eval_every": 1}
    )
    result = train_run(config, dataset)

    assert proxy_seconds, "the strategy trained no proxy"
    assert result.selection_seconds >= sum(proxy_seconds)
    assert result.samples_trained == 2 * budget_count(0.25, 60)
    assert result.final_accuracy is not None and np.isfinite(result.metrics[-1]["train_loss"])
    # Selection happens before the first round: the first evaluation, after round 1, already carries it.
    assert result.metrics[0]["wall_clock_seconds"] >= result.selection_seconds
