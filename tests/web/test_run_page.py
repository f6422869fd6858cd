"""The run page: who may open it, and what it shows of the run, its execution and its predictions."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone
from sklearn.metrics import confusion_matrix

from backend.experiments.models import Attempt, AttemptOutcome, RunStatus
from backend.experiments.services import experiment_create
from tests.conftest import add_curve, set_execution
from tests.planted import LABELS, PREDICTED, store_planted_dataset


def inline_rows(spec) -> list:
    """Every data row written inline anywhere in a Vega-Lite spec."""
    if isinstance(spec, dict):
        found = list(spec["values"]) if isinstance(spec.get("values"), list) else []
        return found + [row for value in spec.values() for row in inline_rows(value)]
    if isinstance(spec, list):
        return [row for value in spec for row in inline_rows(value)]
    return []


def run_url(run):
    return reverse("run_detail", args=[run.pk])


@pytest.fixture
def succeeded(experiment):
    return experiment.runs.get(execution__status=RunStatus.SUCCEEDED)


@pytest.fixture
def failed(experiment):
    return experiment.runs.get(execution__status=RunStatus.FAILED)


@pytest.mark.parametrize("member", ["owner", "editor", "viewer"])
def test_every_member_opens_a_run_page(client_as, request, member, succeeded):
    response = client_as(request.getfixturevalue(member)).get(run_url(succeeded))

    html = response.content.decode()
    assert response.status_code == 200
    assert '<span class="badge badge-succeeded" data-run-status="succeeded">Succeeded</span>' in html
    assert "81.2 %" in html and "RS2 vs static on digits" in html
    assert "{#" not in html and "{%" not in html  # no template source leaks into the page


def test_an_outsider_gets_404_for_the_page_and_its_plot_data(client_as, outsider, other_team, succeeded):
    client = client_as(outsider)

    response = client.get(run_url(succeeded))

    assert response.status_code == 404
    assert "RS2 vs static on digits" not in response.content.decode()
    assert client.get(reverse("run_curves_plot", args=[succeeded.pk, "csv"])).status_code == 404
    assert client.get(reverse("api-run-confusion", args=[succeeded.pk])).status_code == 404


def test_an_anonymous_visitor_is_sent_to_log_in(client, succeeded):
    response = client.get(run_url(succeeded))

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_a_missing_run_is_404(client_as, owner, team):
    assert client_as(owner).get(reverse("run_detail", args=[999999])).status_code == 404


def test_each_row_of_the_runs_table_links_to_its_run_page(client_as, viewer, experiment):
    html = client_as(viewer).get(reverse("experiment_detail", args=[experiment.pk])).content.decode()

    for run in experiment.runs.all():
        assert f'href="{run_url(run)}" data-run-link' in html


def test_the_page_shows_config_provenance_and_timings(client_as, viewer, succeeded):
    set_execution(
        succeeded,
        engine_version="0.4.0",
        engine_commit="abc123def456",
        torch_version="2.5.1",
        device_name="cpu",
        evaluation_seconds=2.0,
    )

    response = client_as(viewer).get(run_url(succeeded))

    html = response.content.decode()
    assert "0.4.0" in html and "abc123def456" in html and "2.5.1" in html
    assert "&quot;strategy&quot;: &quot;rs2_without_replacement&quot;" in html and "&quot;seed&quot;: 0" in html
    assert dict(response.context["timings"]) == {
        "Selection": "1.5 s",
        "Training": "30.0 s",
        "Evaluation": "2.0 s",
        "Total": "33.5 s",
    }
    assert '<dd data-timing="total">33.5 s</dd>' in html


def test_the_attempt_history_lists_every_lease(client_as, viewer, succeeded):
    started = timezone.now()
    Attempt.objects.create(
        execution=succeeded.execution,
        number=1,
        worker="cpu@alpha",
        device_name="cpu",
        torch_version="2.5.1",
        started_at=started,
        ended_at=started,
        outcome=AttemptOutcome.LOST,
        note="heartbeat went stale",
    )
    Attempt.objects.create(
        execution=succeeded.execution,
        number=2,
        worker="cpu@beta",
        device_name="cpu",
        started_at=started,
        outcome=AttemptOutcome.SUCCEEDED,
        resumed_from_round=7,
    )

    html = client_as(viewer).get(run_url(succeeded)).content.decode()

    assert '<tr data-attempt="1" data-outcome="lost">' in html
    assert '<tr data-attempt="2" data-outcome="succeeded">' in html
    assert "cpu@alpha" in html and "cpu@beta" in html and "Worker lost" in html and "heartbeat went stale" in html
    assert '<td class="num">7</td>' in html


def test_a_failed_run_shows_the_tail_of_its_error(client_as, viewer, failed):
    lines = [f"  frame {index}" for index in range(40)]
    set_execution(failed, error="\n".join(["Traceback (most recent call last):", *lines, "RuntimeError: boom"]))

    html = client_as(viewer).get(run_url(failed)).content.decode()

    assert "RuntimeError: boom" in html and "frame 39" in html
    # Only the last 25 lines: the start of a long traceback is the engine's call stack.
    assert "frame 15" not in html and "Traceback (most recent call last)" not in html


def test_the_curves_slot_points_at_the_runs_plot_spec(client_as, viewer, succeeded):
    html = client_as(viewer).get(run_url(succeeded)).content.decode()

    spec_url = reverse("run_curves_plot", args=[succeeded.pk, "json"])
    assert spec_url == f"/runs/{succeeded.pk}/plots/curves.json"
    assert f'data-vega-spec="{spec_url}"' in html
    for fmt in ("png", "svg", "csv"):
        assert f'href="/runs/{succeeded.pk}/plots/curves.{fmt}" download' in html


def test_the_curve_rows_are_the_stored_evaluations_in_long_form(succeeded):
    from backend.experiments.selectors import execution_curve_rows

    rows = execution_curve_rows(succeeded.execution)

    # add_curve stores accuracy and lr only: no losses, so no loss rows.
    assert [row for row in rows if row["round"] == 2] == [
        {"round": 2, "seconds": 12.5, "metric": "test_accuracy", "value": 0.8},
        {"round": 2, "seconds": 12.5, "metric": "lr", "value": 0.1},
    ]
    assert len(rows) == 8


def test_the_curves_download_as_csv_and_a_spec_with_the_stored_points(client_as, viewer, succeeded):
    client = client_as(viewer)

    csv = client.get(reverse("run_curves_plot", args=[succeeded.pk, "csv"]))
    spec = client.get(reverse("run_curves_plot", args=[succeeded.pk, "json"]))

    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    assert csv["Content-Disposition"] == f'attachment; filename="run-{succeeded.pk}-curves.csv"'
    lines = csv.content.decode().splitlines()
    assert lines[0] == "round,seconds,metric,value" and "4,25.0,test_accuracy,0.8125" in lines
    assert spec.status_code == 200 and spec.json()["$schema"].startswith("https://vega.github.io/schema/vega-lite/")
    assert {"round": 4, "seconds": 25.0, "metric": "test_accuracy", "value": 0.8125} in inline_rows(spec.json())


@pytest.mark.parametrize(
    "fmt, content_type, magic", [("png", "image/png", b"\x89PNG"), ("svg", "image/svg+xml", b"<svg")]
)
def test_the_curves_render_as_images_on_the_server(client_as, viewer, succeeded, fmt, content_type, magic):
    response = client_as(viewer).get(reverse("run_curves_plot", args=[succeeded.pk, fmt]))

    assert response.status_code == 200 and response["Content-Type"] == content_type
    assert response.content.lstrip()[: len(magic)] == magic


def test_a_run_without_evaluations_still_has_a_spec(client_as, viewer, experiment):
    queued = experiment.runs.get(execution__status=RunStatus.QUEUED)

    response = client_as(viewer).get(reverse("run_curves_plot", args=[queued.pk, "json"]))

    assert response.status_code == 200 and "$schema" in response.json()


def test_a_run_without_stored_predictions_says_so(client_as, viewer, succeeded):
    html = client_as(viewer).get(run_url(succeeded)).content.decode()

    assert "No predictions stored (run from an older engine)." in html
    assert "data-confusion>" not in html


@pytest.fixture
def planted_run(settings, tmp_path, team, owner, builtin_policies):
    """A succeeded run over a stored three-class dataset, with planted predictions for its 12 test examples."""
    settings.SAMPLEWISE_DATA_DIR = tmp_path
    dataset = store_planted_dataset(tmp_path, team, owner)
    experiment = experiment_create(
        team=team,
        user=owner,
        name="Planted",
        dataset=dataset,
        model="mlp",
        recipe={"rounds": 3},
        policies=[builtin_policies["random_static"]],
        budgets=[0.5],
        seeds=[0],
    )
    run = experiment.runs.get()
    set_execution(
        run,
        status=RunStatus.SUCCEEDED,
        final_accuracy=7 / 12,
        test_predictions=PREDICTED.tobytes(),
        test_predictions_dtype=PREDICTED.dtype.str,
    )
    add_curve(run, [0.4, 7 / 12])
    return run


def test_the_page_shows_per_class_accuracy_and_the_exact_confusion_matrix(client_as, viewer, planted_run):
    response = client_as(viewer).get(run_url(planted_run))

    html = response.content.decode()
    expected = confusion_matrix(LABELS, PREDICTED)
    assert response.context["confusion"].matrix == expected.tolist()
    assert [accuracy for _, accuracy, _ in response.context["per_class"]] == ["60.0 %", "75.0 %", "33.3 %"]
    assert html.count("<tr data-class=") == 3
    assert '<td class="num" data-class-accuracy>75.0 %</td>' in html
    assert "12 test examples: 7 correct" in html
    assert '<th class="num" scope="col">dog</th>' in html and "Rows are the true class" in html


def test_the_api_serves_the_confusion_matrix_with_class_names(client_for, viewer, planted_run):
    response = client_for(viewer).get(reverse("api-run-confusion", args=[planted_run.pk]))

    body = response.json()
    assert response.status_code == 200
    assert body["available"] is True and body["reason"] == ""
    assert body["class_names"] == ["cat", "dog", "bird"]
    assert body["matrix"] == confusion_matrix(LABELS, PREDICTED).tolist()
    assert [row["accuracy"] for row in body["per_class"]] == [3 / 5, 3 / 4, 1 / 3]
    assert [row["support"] for row in body["per_class"]] == [5, 4, 3]
    assert (body["total"], body["correct"], body["accuracy"]) == (12, 7, 7 / 12)


def test_the_api_says_why_a_run_has_no_confusion_matrix(client_for, viewer, succeeded):
    body = client_for(viewer).get(reverse("api-run-confusion", args=[succeeded.pk])).json()

    assert body["available"] is False and body["matrix"] is None
    assert body["reason"] == "no predictions stored (run from an older engine)"


def test_a_reused_run_links_the_other_experiments_of_the_team_sharing_it(
    client_as, viewer, team, owner, dataset, builtin_policies, succeeded
):
    again = experiment_create(
        team=team,
        user=owner,
        name="Same cell again",
        dataset=dataset,
        model="mlp",
        recipe={"rounds": 20, "target_accuracy": 0.8},
        policies=[builtin_policies["rs2_without_replacement"]],
        budgets=[0.1],
        seeds=[0],
    )
    reused = again.runs.get()
    assert reused.reused and reused.execution_id == succeeded.execution_id

    html = client_as(viewer).get(run_url(reused)).content.decode()
    original = client_as(viewer).get(run_url(succeeded)).content.decode()

    assert "Reused from another experiment" in html
    assert f'href="{reverse("experiment_detail", args=[succeeded.experiment_id])}"' in html
    assert "Other experiments reuse this run" in original and "Same cell again" in original


def test_the_runs_table_leaves_the_stored_predictions_in_the_database(client_as, viewer, planted_run):
    response = client_as(viewer).get(reverse("experiment_detail", args=[planted_run.experiment_id]))

    (row,) = response.context["rows"]
    assert "test_predictions" in row.run.execution.get_deferred_fields()


def test_an_active_runs_status_polls_and_shows_its_latest_round(client_as, viewer, experiment):
    running = experiment.runs.get(execution__status=RunStatus.RUNNING)
    add_curve(running, [0.3, 0.45])
    status_url = reverse("run_status_fragment", args=[running.pk])

    html = client_as(viewer).get(run_url(running)).content.decode()

    assert f'hx-get="{status_url}?shown=running" hx-trigger="every 5s"' in html
    assert "round 2 · 45.0 %" in html


def test_a_finished_runs_status_does_not_poll(client_as, viewer, succeeded):
    html = client_as(viewer).get(run_url(succeeded)).content.decode()

    assert "hx-get" not in html and "data-polling" not in html


def test_the_status_fragment_reloads_the_page_once_the_run_has_finished(client_as, viewer, experiment):
    running = experiment.runs.get(execution__status=RunStatus.RUNNING)
    client = client_as(viewer)
    status_url = reverse("run_status_fragment", args=[running.pk])

    still = client.get(status_url, {"shown": "running"}, HTTP_HX_REQUEST="true")
    set_execution(running, status=RunStatus.SUCCEEDED, final_accuracy=0.9)
    finished = client.get(status_url, {"shown": "running"}, HTTP_HX_REQUEST="true")

    assert still.content.decode().lstrip().startswith('<section class="card" id="summary"')
    assert "HX-Refresh" not in still
    assert finished["HX-Refresh"] == "true" and "90.0 %" in finished.content.decode()
    assert client_as(None).get(status_url).status_code == 302


def test_a_matrix_too_wide_to_read_is_left_to_the_api(client_as, viewer, settings, tmp_path, team, owner, planted_run):
    import numpy as np

    from workers.engine.arrays import ArrayDataset
    from workers.engine.data.store import save_dataset

    names = [f"class-{index}" for index in range(41)]
    labels = np.arange(82, dtype=np.int64) % 41
    info = save_dataset(
        ArrayDataset(
            x_train=np.zeros((41, 2), dtype=np.float32),
            y_train=np.arange(41, dtype=np.int64),
            x_test=np.zeros((82, 2), dtype=np.float32),
            y_test=labels,
            class_names=names,
            kind="features",
        ),
        tmp_path,
        "wide.npz",
    )
    dataset = planted_run.experiment.dataset
    dataset.sha256, dataset.class_names = info.sha256, names
    dataset.save()
    execution = planted_run.execution
    execution.config = {**execution.config, "dataset_sha256": info.sha256}
    execution.test_predictions, execution.test_predictions_dtype = labels.astype(np.uint8).tobytes(), "|u1"
    execution.save()

    response = client_as(viewer).get(run_url(planted_run))

    html = response.content.decode()
    assert html.count("<tr data-class=") == 41 and html.count("data-class-accuracy>100.0 %") == 41
    assert '<th class="num" scope="col">class-0</th>' not in html
    assert f"GET /api/v1/runs/{planted_run.pk}/confusion/" in html


def data_used_fact(html):
    return re.search(r'<dd data-fact="data-used"[^>]*>(.*?)</dd>', html, re.S).group(1)


def test_the_page_shows_the_data_used_beside_the_budget(client_as, viewer, succeeded):
    # 100 training examples × the recipe's 20 rounds.
    on_budget = round(succeeded.budget * 20 * 100)
    set_execution(succeeded, samples_trained=on_budget, rounds_completed=20, rounds_planned=20)
    client = client_as(viewer)

    kept = client.get(run_url(succeeded)).content.decode()
    set_execution(succeeded, samples_trained=946)
    strayed = client.get(run_url(succeeded)).content.decode()

    budget = f"{succeeded.budget * 100:g} %"
    assert f"<dt>Budget (per round)</dt><dd>{budget}</dd>" in kept
    assert data_used_fact(kept) == f"{succeeded.budget * 100:.1f} %"
    assert data_used_fact(strayed) == f'47.3 % <span class="off-budget-note">of a {budget} budget</span>'
    assert '<dd data-fact="data-used" class="off-budget">' in strayed


def test_an_unfinished_run_has_no_data_used_yet(client_as, viewer, experiment):
    running = experiment.runs.get(execution__status=RunStatus.RUNNING)
    add_curve(running, [0.5, 0.6])
    set_execution(running, samples_trained=946)

    html = client_as(viewer).get(run_url(running)).content.decode()

    assert data_used_fact(html) == "—"
