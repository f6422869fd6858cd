"""Create the demo user, team, MNIST-1D dataset and experiment (idempotent)."""

from __future__ import annotations

import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from backend.datasets.models import Dataset
from backend.datasets.services import dataset_create_builtin
from backend.experiments.models import Experiment
from backend.experiments.services import experiment_create
from backend.policies.models import SamplingPolicy
from backend.teams.models import Membership, Team
from backend.teams.services import team_create

DEMO_USERNAME = "demo"
DEMO_TEAM = "Demo team"
DEMO_DATASET = "MNIST-1D"
DEMO_EXPERIMENT = "MNIST-1D: RS2 vs random static vs full data"
DEMO_STRATEGIES = ("full", "random_static", "rs2_without_replacement")
DEMO_RECIPE = {"rounds": 40, "batch_size": 100, "lr": 0.05, "target_accuracy": 0.8, "eval_every": 2}


class Command(BaseCommand):
    help = "Create a demo user and team with a queued MNIST-1D experiment, so the first page is not empty."

    def handle(self, *args, **options):
        password = os.environ.get("SAMPLEWISE_DEMO_PASSWORD", "samplewise-demo")
        user = self._demo_user(password)
        team = self._demo_team(user)
        dataset = Dataset.objects.filter(team=team, name=DEMO_DATASET).first() or dataset_create_builtin(
            team=team,
            user=user,
            name=DEMO_DATASET,
            builtin="mnist1d",
            description="Generated offline, 40-step signals.",
        )
        experiment = Experiment.objects.filter(team=team, name=DEMO_EXPERIMENT).first()
        if experiment is None:
            policies = [SamplingPolicy.objects.get(team=None, strategy=key) for key in DEMO_STRATEGIES]
            experiment = experiment_create(
                team=team,
                user=user,
                name=DEMO_EXPERIMENT,
                description="Final accuracy and time-to-accuracy at 10 % and 30 % of the data per round.",
                dataset=dataset,
                model="cnn1d",
                recipe=DEMO_RECIPE,
                policies=policies,
                budgets=[0.1, 0.3],
                seeds=[0, 1],
            )
        self.stdout.write(
            f"Demo user: {DEMO_USERNAME} / {password}  team: {team.name}  "
            f"experiment: {experiment.name} ({experiment.runs.count()} runs)"
        )

    @transaction.atomic
    def _demo_user(self, password: str):
        User = get_user_model()
        user, created = User.objects.get_or_create(username=DEMO_USERNAME, defaults={"email": "demo@samplewise.local"})
        if created:
            user.set_password(password)
            user.save(update_fields=["password"])
        return user

    def _demo_team(self, user) -> Team:
        membership = Membership.objects.filter(user=user, team__name=DEMO_TEAM).select_related("team").first()
        if membership is not None:
            return membership.team
        team = team_create(name=DEMO_TEAM, owner=user)
        return team
