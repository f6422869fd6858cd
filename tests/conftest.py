"""Shared fixtures: a team with an owner, an editor and a viewer, and an outsider."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient

from backend.datasets.models import Dataset, DatasetFormat, DatasetStatus
from backend.experiments.models import Execution, RunMetric, RunStatus
from backend.policies.models import SamplingPolicy
from backend.teams.models import Membership, Role, Team

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """The default hasher is deliberately slow; tests create and log in users by the hundred."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def private_queues(settings):
    """Runs enqueued by a test go to queues of its own: no development worker and no
    later test's worker finds them waiting."""
    settings.SAMPLEWISE_QUEUE_PREFIX = f"test-{uuid.uuid4().hex[:12]}-"


def make_user(username: str):
    return get_user_model().objects.create_user(username=username, email=f"{username}@example.com", password=PASSWORD)


@pytest.fixture
def owner(db):
    return make_user("olivia")


@pytest.fixture
def editor(db):
    return make_user("eddie")


@pytest.fixture
def viewer(db):
    return make_user("vera")


@pytest.fixture
def outsider(db):
    return make_user("oscar")


@pytest.fixture
def team(owner, editor, viewer):
    team = Team.objects.create(name="Vision", slug="vision")
    Membership.objects.create(team=team, user=owner, role=Role.OWNER)
    Membership.objects.create(team=team, user=editor, role=Role.EDITOR)
    Membership.objects.create(team=team, user=viewer, role=Role.VIEWER)
    return team


@pytest.fixture
def other_team(outsider):
    team = Team.objects.create(name="Elsewhere", slug="elsewhere")
    Membership.objects.create(team=team, user=outsider, role=Role.OWNER)
    return team


def ready_dataset(team, name: str, created_by) -> Dataset:
    """A ready dataset row; its arrays are not needed by tests that never train."""
    return Dataset.objects.create(
        team=team,
        name=name,
        format=DatasetFormat.NPZ,
        source=f"{name}.npz",
        status=DatasetStatus.READY,
        sha256=hashlib.sha256(name.encode()).hexdigest(),
        input_kind="features",
        input_shape=[64],
        class_names=[str(digit) for digit in range(10)],
        class_counts=[10] * 10,
        train_size=100,
        test_size=50,
        created_by=created_by,
    )


@pytest.fixture
def dataset(team, owner):
    return ready_dataset(team, "tiny-digits", owner)


@pytest.fixture
def builtin_policies(db):
    """The default policy of every strategy, keyed by strategy."""
    return {policy.strategy: policy for policy in SamplingPolicy.objects.filter(team=None)}


@pytest.fixture
def client_for():
    """``client_for(user)`` gives a DRF client logged in as ``user`` (None: anonymous)."""

    def make(user):
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


def set_execution(run, **fields) -> None:
    """Give the execution behind ``run`` these field values (status, figures, error...)."""
    Execution.objects.filter(pk=run.execution_id).update(**fields)


def add_curve(run, accuracies: list[float], *, seconds_per_round: float = 1.0) -> None:
    """Metric rows for the execution behind ``run``: one evaluation per round with these accuracies,
    each round training on exactly the cell's budget."""
    RunMetric.objects.bulk_create(
        RunMetric(
            execution_id=run.execution_id,
            epoch=epoch,
            step=epoch * 10,
            samples_seen=epoch * 100,
            wall_clock_seconds=epoch * seconds_per_round,
            test_accuracy=accuracy,
            lr=0.1,
            data_fraction=run.budget,
        )
        for epoch, accuracy in enumerate(accuracies, start=1)
    )


def finish_run(run, final: float, *, selection: float, training: float, curve: list[float] | None = None) -> None:
    """A succeeded execution behind ``run`` with a curve evaluated at equal steps of training after selection,
    each round training on exactly the cell's budget."""
    curve = curve if curve is not None else [0.6, final]
    set_execution(
        run,
        status=RunStatus.SUCCEEDED,
        final_accuracy=final,
        best_accuracy=max(curve),
        selection_seconds=selection,
        training_seconds=training,
        finished_at=timezone.now(),
    )
    RunMetric.objects.bulk_create(
        RunMetric(
            execution_id=run.execution_id,
            epoch=epoch,
            step=epoch,
            samples_seen=epoch,
            wall_clock_seconds=selection + training * epoch / len(curve),
            test_accuracy=accuracy,
            test_loss=1 - accuracy,
            lr=0.1 / epoch,
            data_fraction=run.budget,
        )
        for epoch, accuracy in enumerate(curve, start=1)
    )


# Final accuracy of seeds 0, 1, 2 by (strategy, budget); full data runs once, at r = 1.
FINALS = {
    ("rs2_without_replacement", 0.1): [0.80, 0.82, 0.81],
    ("random_static", 0.1): [0.70, 0.74, 0.69],
    ("rs2_without_replacement", 0.3): [0.86, 0.88, 0.87],
    ("random_static", 0.3): [0.85, 0.89, 0.86],
    ("full", 1.0): [0.90, 0.91, 0.92],
}
