"""Workers with separate data directories share the work; one fetches the dataset from the web app by hash."""

from __future__ import annotations

import pytest

from backend.datasets.services import dataset_create_builtin
from backend.experiments.models import Run, RunStatus
from backend.experiments.services import experiment_create
from tests.workers.conftest import wait_for
from workers.engine.datasets import dataset_path

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

WORKER_TOKEN = "worker-secret-for-this-test-only-0123456789"


def test_a_worker_without_the_dataset_fetches_it_by_hash_and_both_workers_run(
    team, owner, editor, builtin_policies, settings, live_server, start_worker, tmp_path
):
    settings.SAMPLEWISE_WORKER_TOKEN = WORKER_TOKEN
    local = start_worker()
    remote_data = tmp_path / "remote-data"
    remote = start_worker(
        {
            "SAMPLEWISE_DATA_DIR": str(remote_data),
            "SAMPLEWISE_API_URL": live_server.url,
            "SAMPLEWISE_WORKER_TOKEN": WORKER_TOKEN,
        }
    )
    digits = dataset_create_builtin(team=team, user=owner, name="digits", builtin="digits")
    assert not dataset_path(digits.sha256, remote_data).exists()

    experiment = experiment_create(
        team=team,
        user=editor,
        name="two machines",
        dataset=digits,
        model="mlp",
        recipe={"rounds": 4, "batch_size": 16},
        policies=[builtin_policies["rs2_without_replacement"]],
        budgets=[0.5],
        seeds=list(range(8)),
    )
    runs = Run.objects.filter(experiment=experiment).select_related("execution")
    wait_for(
        lambda: runs.filter(execution__status=RunStatus.SUCCEEDED).count() == 8,
        timeout=240,
        message=f"all runs; local log:\n{local.log()}\nremote log:\n{remote.log()}",
    )

    hosts = {run.execution.worker.split("@")[0] for run in runs}
    assert len(hosts) == 2, hosts
    # The remote worker holds a verified copy under the same hash, fetched over HTTP.
    assert dataset_path(digits.sha256, remote_data).is_file()
    assert f"fetched dataset {digits.sha256} from {live_server.url}/api/v1/datasets/files/" in remote.log()
    assert "fetched dataset" not in local.log()
