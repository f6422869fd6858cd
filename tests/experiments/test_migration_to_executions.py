"""Existing runs move onto executions: figures, curves and reuse survive; the target leaves the identity."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("experiments", "0002_run_resumed_from_round"), ("datasets", "0001_initial")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def old_apps():
    apps = migrate(BEFORE)
    yield apps
    executor = MigrationExecutor(connection)
    migrate(executor.loader.graph.leaf_nodes())


def recipe(target):
    return {"rounds": 5, "batch_size": 32, "target_accuracy": target, "eval_every": 1}


def config(seed, target):
    return {
        "dataset_sha256": "a" * 64,
        "model": "mlp",
        "recipe": recipe(target),
        "strategy": "rs2_without_replacement",
        "params": {},
        "budget": 0.1,
        "seed": seed,
    }


def test_runs_become_cells_of_executions_with_their_figures_and_curves(old_apps):
    Team = old_apps.get_model("teams", "Team")
    Dataset = old_apps.get_model("datasets", "Dataset")
    Policy = old_apps.get_model("policies", "SamplingPolicy")
    Experiment = old_apps.get_model("experiments", "Experiment")
    Run = old_apps.get_model("experiments", "Run")
    RunMetric = old_apps.get_model("experiments", "RunMetric")

    team = Team.objects.create(name="Old", slug="old")
    dataset = Dataset.objects.create(
        team=team, name="d", format="builtin", source="mnist1d", status="ready", sha256="a" * 64, input_shape=[40]
    )
    policy = Policy.objects.create(team=None, name="Old RS2", strategy="rs2_without_replacement", params={})
    now = timezone.now()

    def experiment(name, target):
        return Experiment.objects.create(
            team=team, name=name, dataset=dataset, model="mlp", recipe=recipe(target), recipe_hash=name,
            budgets=[0.1], seeds=[0, 1],
        )  # fmt: skip

    first = experiment("first", 0.5)
    done = Run.objects.create(
        experiment=first, policy=policy, budget=0.1, seed=0, config=config(0, 0.5), config_hash="h0",
        status="succeeded", final_accuracy=0.75, training_seconds=3.0, attempt=1, worker="cpu@old", finished_at=now,
    )  # fmt: skip
    running = Run.objects.create(
        experiment=first, policy=policy, budget=0.1, seed=1, config=config(1, 0.5), config_hash="h1",
        status="running", attempt=1, worker="cpu@old", checkpoint="/var/data/checkpoints/h1.pt",
    )  # fmt: skip
    for epoch in (1, 2, 3):
        RunMetric.objects.create(
            run=done, epoch=epoch, step=epoch, samples_seen=epoch, wall_clock_seconds=epoch, test_accuracy=0.25 * epoch,
            lr=0.1, data_fraction=0.1,
        )  # fmt: skip
    RunMetric.objects.create(
        run=running, epoch=1, step=1, samples_seen=1, wall_clock_seconds=1, test_accuracy=0.1, lr=0.1, data_fraction=0.1
    )
    # The same runs reused by a second experiment, and trained again by a third whose only difference is the target.
    second = experiment("second", 0.5)
    reuser = Run.objects.create(
        experiment=second, policy=policy, budget=0.1, seed=0, config=config(0, 0.5), config_hash="h0",
        reused_from=done, status="succeeded", final_accuracy=0.75,
    )  # fmt: skip
    third = experiment("third", 0.9)
    retrained = Run.objects.create(
        experiment=third, policy=policy, budget=0.1, seed=0, config=config(0, 0.9), config_hash="h0-target",
        status="failed", error="boom", finished_at=now,
    )  # fmt: skip

    new_apps = migrate([("experiments", "0005_runs_point_at_executions"), ("datasets", "0002_dataset_input_kind")])

    Execution = new_apps.get_model("experiments", "Execution")
    Cell = new_apps.get_model("experiments", "Run")
    Metric = new_apps.get_model("experiments", "RunMetric")
    Experiment = new_apps.get_model("experiments", "Experiment")
    Dataset = new_apps.get_model("datasets", "Dataset")

    finished = Execution.objects.get(status="succeeded")
    assert (finished.final_accuracy, finished.training_seconds, finished.worker) == (0.75, 3.0, "cpu@old")
    assert finished.engine_version == "unversioned" and "target_accuracy" not in finished.config["recipe"]
    assert list(Metric.objects.filter(execution=finished).values_list("epoch", "test_accuracy")) == [
        (1, 0.25),
        (2, 0.5),
        (3, 0.75),
    ]
    # Reuse is now a reference; the retraining that differed only in its target collapsed into the succeeded one.
    assert Cell.objects.get(pk=done.pk).execution_id == finished.pk
    assert Cell.objects.get(pk=reuser.pk).execution_id == finished.pk and Cell.objects.get(pk=reuser.pk).reused
    assert Cell.objects.get(pk=retrained.pk).execution_id == finished.pk
    # An unfinished run starts over under the current engine: no shared checkpoint, no partial curve.
    restarted = Cell.objects.get(pk=running.pk).execution
    assert (restarted.status, restarted.checkpoint, restarted.engine_version) == ("queued", "", "0.4.0")
    assert not Metric.objects.filter(execution=restarted).exists()
    assert Execution.objects.count() == 2
    # Experiments that differ only in their target are comparable now.
    hashes = set(Experiment.objects.values_list("recipe_hash", flat=True))
    assert len(hashes) == 1
    assert Dataset.objects.get().input_kind == "sequence"
