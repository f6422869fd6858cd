"""Fixtures for the API tests: an experiment with runs, team policies and objects of another team."""

from __future__ import annotations

import hashlib

import pytest

from backend.datasets.models import Dataset, DatasetFormat, DatasetStatus
from backend.experiments.services import experiment_create
from backend.policies.models import SamplingPolicy
from tests.conftest import ready_dataset

ROLES = ("owner", "editor", "viewer", "outsider")


@pytest.fixture
def as_role(request, team, other_team, client_for):
    """``as_role("viewer")`` gives a client logged in as that member of ``team`` (or the outsider)."""

    def make(role: str):
        return client_for(request.getfixturevalue(role))

    return make


def add_dataset(team, name: str, **fields) -> Dataset:
    """A ready CSV dataset row in ``team``; ``fields`` override its recorded shape and counts."""
    values = dict(
        format=DatasetFormat.CSV,
        source=f"{name}.csv",
        status=DatasetStatus.READY,
        sha256=hashlib.sha256(name.encode()).hexdigest(),
        input_shape=[4],
        class_names=["a", "b"],
        class_counts=[5, 5],
        train_size=10,
        test_size=4,
    )
    values.update(fields)
    return Dataset.objects.create(team=team, name=name, **values)


@pytest.fixture
def budgeted_policies(builtin_policies):
    return [
        builtin_policies["random_static"],
        builtin_policies["rs2_without_replacement"],
        builtin_policies["rs2_with_replacement"],
    ]


@pytest.fixture
def experiment(team, editor, dataset, builtin_policies):
    """Two policies × one budget × two seeds: four queued runs."""
    return experiment_create(
        team=team,
        user=editor,
        name="RS2 vs static",
        dataset=dataset,
        model="mlp",
        recipe={"rounds": 5},
        policies=[builtin_policies["random_static"], builtin_policies["rs2_without_replacement"]],
        budgets=[0.1],
        seeds=[0, 1],
    )


@pytest.fixture
def team_policy(team, editor):
    return SamplingPolicy.objects.create(
        team=team, name="Balanced RS2", strategy="rs2_with_replacement", params={"class_balanced": True}
    )


@pytest.fixture
def foreign_policy(other_team, outsider):
    return SamplingPolicy.objects.create(
        team=other_team, name="Their RS2", strategy="rs2_with_replacement", params={"class_balanced": False}
    )


@pytest.fixture
def foreign_dataset(other_team, outsider):
    return ready_dataset(other_team, "their-digits", outsider)
