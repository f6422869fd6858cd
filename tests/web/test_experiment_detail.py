import pytest
from django.urls import reverse

from backend.experiments.execution import queue_name
from backend.experiments.models import ACTIVE_RUN_STATUSES, Execution, RunStatus
from backend.experiments.presence import worker_presence_beat
from backend.experiments.services import experiment_cancel as cancel_experiment
from backend.experiments.services import experiment_create
from tests.conftest import add_curve, set_execution
from workers.engine.version import ENGINE_VERSION


def detail_url(experiment):
    return reverse("experiment_detail", args=[experiment.pk])


def runs_url(experiment):
    return reverse("experiment_runs", args=[experiment.pk])


@pytest.mark.parametrize("member", ["owner", "editor", "viewer"])
def test_every_member_sees_the_set_up_and_the_runs(client_as, request, member, experiment):
    response = client_as(request.getfixturevalue(member)).get(detail_url(experiment))

    html = response.content.decode()
    assert response.status_code == 200
    assert "tiny-digits" in html and ">mlp<" in html and "CPU" in html
    assert '<span class="chip">10 %</span>' in html and '<span class="chip">30 %</span>' in html
    assert html.count('<tr data-run="') == 4


def test_an_outsider_gets_404(client_as, outsider, other_team, experiment):
    response = client_as(outsider).get(detail_url(experiment))

    assert response.status_code == 404
    assert "belongs to a team you are not in" in response.content.decode()
    assert experiment.name not in response.content.decode()
    assert client_as(outsider).get(runs_url(experiment)).status_code == 404


def test_a_missing_experiment_is_404(client_as, owner, team):
    assert client_as(owner).get(reverse("experiment_detail", args=[999999])).status_code == 404


def test_the_runs_table_shows_results_as_percentages_and_seconds(client_as, viewer, experiment):
    response = client_as(viewer).get(detail_url(experiment))

    succeeded = next(row for row in response.context["rows"] if row.status == RunStatus.SUCCEEDED)
    assert (succeeded.final_accuracy, succeeded.best_accuracy) == ("81.2 %", "84.0 %")
    assert (succeeded.time_to_target, succeeded.selection, succeeded.training) == ("12.5 s", "1.5 s", "30.0 s")
    html = response.content.decode()
    assert "81.2 %" in html and "12.5 s" in html
    assert '<span class="badge badge-failed">Failed</span>' in html


def test_a_failed_run_shows_the_first_line_of_its_error(client_as, viewer, experiment):
    html = client_as(viewer).get(detail_url(experiment)).content.decode()

    assert ">CUDA out of memory</td>" in html


def test_the_status_counts_cover_every_status(client_as, viewer, experiment):
    response = client_as(viewer).get(detail_url(experiment))

    assert {count.status: count.count for count in response.context["counts"]} == {
        "queued": 1,
        "running": 1,
        "succeeded": 1,
        "failed": 1,
        "canceled": 0,
    }


def test_editors_see_cancel_buttons_for_active_runs_only(client_as, editor, experiment):
    html = client_as(editor).get(detail_url(experiment)).content.decode()

    assert html.count('data-action="cancel-run"') == 2
    assert 'data-action="cancel-experiment"' in html


def test_a_viewer_sees_no_cancel_buttons(client_as, viewer, experiment):
    html = client_as(viewer).get(detail_url(experiment)).content.decode()

    assert "cancel-run" not in html and "cancel-experiment" not in html


def test_the_table_polls_while_runs_are_active(client_as, viewer, experiment):
    html = client_as(viewer).get(detail_url(experiment)).content.decode()

    assert f'hx-get="{runs_url(experiment)}"' in html
    assert 'hx-trigger="every 5s"' in html


def test_the_table_stops_polling_when_no_run_is_active(client_as, viewer, experiment):
    Execution.objects.filter(cells__experiment=experiment, status__in=ACTIVE_RUN_STATUSES).update(
        status=RunStatus.CANCELED
    )

    html = client_as(viewer).get(runs_url(experiment)).content.decode()

    assert "hx-get" not in html and "hx-trigger" not in html
    assert 'data-status="canceled"' in html


def test_the_partial_holds_only_the_runs_section(client_as, viewer, experiment):
    response = client_as(viewer).get(runs_url(experiment), HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section class="card card-flush runs" id="runs"')
    assert "<html" not in html and html.count('<tr data-run="') == 4


def test_a_reused_run_is_marked(client_as, owner, team, dataset, experiment):
    finished = experiment.runs.get(execution__status=RunStatus.SUCCEEDED)
    again = experiment_create(
        team=team,
        user=owner,
        name="Same cell again",
        dataset=dataset,
        model="mlp",
        recipe={"rounds": 20, "target_accuracy": 0.8},
        policies=[finished.policy],
        budgets=[finished.budget],
        seeds=[0],
    )

    response = client_as(owner).get(detail_url(again))

    assert [(row.reused, row.status, row.final_accuracy) for row in response.context["rows"]] == [
        (True, RunStatus.SUCCEEDED, "81.2 %")
    ]
    assert "badge-reused" in response.content.decode()


def test_opening_an_experiment_makes_its_team_current(client_as, owner, team, experiment):
    client = client_as(owner)
    client.post(reverse("team_create"), {"name": "Another"})

    response = client.get(detail_url(experiment))

    assert response.context["team"] == team
    assert client.get(reverse("dashboard")).context["team"] == team


def test_a_running_run_shows_its_latest_round_and_accuracy(client_as, viewer, experiment):
    running = experiment.runs.get(execution__status=RunStatus.RUNNING)
    add_curve(running, [0.41, 0.5625])

    response = client_as(viewer).get(runs_url(experiment))

    row = next(row for row in response.context["rows"] if row.run.pk == running.pk)
    assert row.progress == "round 2 · 56.2 %"
    assert '<span class="progress-note">round 2 · 56.2 %</span>' in response.content.decode()
    assert all(other.progress == "" for other in response.context["rows"] if other.status != RunStatus.RUNNING)


def test_a_resumed_run_says_where_it_resumed_while_it_runs(client_as, viewer, experiment):
    running = experiment.runs.get(execution__status=RunStatus.RUNNING)
    add_curve(running, [0.41, 0.5, 0.52])
    set_execution(running, resumed_from_round=2)

    response = client_as(viewer).get(runs_url(experiment))

    row = next(row for row in response.context["rows"] if row.run.pk == running.pk)
    assert row.progress == "round 3 · 52.0 % · resumed from round 2"


def test_a_withdrawn_cell_of_a_shared_execution_reads_canceled_while_the_other_experiment_runs_it(
    client_as, owner, team, dataset, experiment
):
    running = experiment.runs.get(execution__status=RunStatus.RUNNING)
    sharing = experiment_create(
        team=team,
        user=owner,
        name="Shares one cell",
        dataset=dataset,
        model="mlp",
        recipe={"rounds": 20, "target_accuracy": 0.8},
        policies=[running.policy],
        budgets=[running.budget],
        seeds=[0],
    )

    cancel_experiment(experiment=experiment, user=owner)

    mine = {row.run.pk: row.status for row in client_as(owner).get(runs_url(experiment)).context["rows"]}
    theirs = [row.status for row in client_as(owner).get(runs_url(sharing)).context["rows"]]
    assert mine[running.pk] == RunStatus.CANCELED
    assert theirs == [RunStatus.RUNNING]
    running.execution.refresh_from_db()
    assert running.execution.status == RunStatus.RUNNING


def test_a_queue_without_a_live_worker_is_named_on_the_page(client_as, viewer, experiment):
    html = client_as(viewer).get(detail_url(experiment)).content.decode()

    assert 'data-waiting="cpu"' in html
    assert "No CPU worker is online: 1 queued run of this experiment waits" in html


def test_a_live_worker_on_the_queue_silences_the_notice(client_as, viewer, experiment):
    worker_presence_beat(name="cpu@box", queues=[queue_name("cpu")], device_kind="cpu", engine_version=ENGINE_VERSION)

    html = client_as(viewer).get(detail_url(experiment)).content.decode()

    assert "data-waiting" not in html
