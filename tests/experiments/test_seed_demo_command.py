from django.contrib.auth import authenticate
from django.core.management import call_command

from backend.experiments.models import Experiment, RunStatus
from backend.teams.models import Membership, Role


def test_it_creates_a_demo_user_team_dataset_and_queued_experiment_once(db, tmp_path, settings):
    settings.SAMPLEWISE_DATA_DIR = tmp_path

    call_command("seed_demo")
    call_command("seed_demo")

    user = authenticate(username="demo", password="samplewise-demo")
    assert user is not None
    membership = Membership.objects.get(user=user)
    assert membership.role == Role.OWNER
    experiment = Experiment.objects.get(team=membership.team)
    assert experiment.dataset.status == "ready" and experiment.dataset.train_size == 4000
    runs = experiment.runs.all()
    # full ignores the budget: 2 seeds; random static and RS2: 2 budgets x 2 seeds each.
    assert runs.count() == 10
    assert sorted({(run.policy.strategy, run.budget) for run in runs}) == [
        ("full", 1.0),
        ("random_static", 0.1),
        ("random_static", 0.3),
        ("rs2_without_replacement", 0.1),
        ("rs2_without_replacement", 0.3),
    ]
    assert all(run.status == RunStatus.QUEUED for run in runs)
