"""The experiment page in a real browser: the runs table, cancelling, live refresh, and creation."""

import pytest
from playwright.sync_api import expect

from backend.experiments.models import Execution, Experiment, RunStatus

pytestmark = pytest.mark.browser


def test_an_owner_opens_an_experiment_from_the_dashboard_and_sees_its_runs(page, log_in, owner, experiment):
    log_in(owner)

    page.click(f"a:has-text('{experiment.name}')")

    expect(page.locator("h1")).to_have_text(experiment.name)
    expect(page.locator("tr[data-run]")).to_have_count(4)
    expect(page.locator("tr[data-status=succeeded]")).to_contain_text("81.2 %")
    expect(page.locator("tr[data-status=failed]")).to_contain_text("CUDA out of memory")


def test_a_viewer_sees_no_cancel_button(page, log_in, viewer, experiment):
    log_in(viewer)
    page.goto(f"/experiments/{experiment.pk}/")

    expect(page.locator("tr[data-run]")).to_have_count(4)
    expect(page.locator("button:has-text('Cancel')")).to_have_count(0)


def test_an_editor_cancels_a_running_run(page, log_in, editor, experiment):
    running = experiment.runs.get(execution__status=RunStatus.RUNNING)
    log_in(editor)
    page.goto(f"/experiments/{experiment.pk}/")

    page.click(f"tr[data-run='{running.pk}'] button:has-text('Cancel')")

    expect(page.locator(f"tr[data-run='{running.pk}'] .badge")).to_have_text("Canceled")
    running.refresh_from_db()
    running.execution.refresh_from_db()
    assert running.status == RunStatus.CANCELED


def test_the_runs_table_refreshes_itself_and_stops_when_nothing_is_active(page, log_in, viewer, experiment):
    log_in(viewer)
    page.goto(f"/experiments/{experiment.pk}/")
    expect(page.locator("#runs[data-polling]")).to_have_count(1)

    # A worker finishing the remaining runs, seen only through the page's polling.
    executions = Execution.objects.filter(cells__experiment=experiment)
    executions.filter(status=RunStatus.RUNNING).update(status=RunStatus.SUCCEEDED, final_accuracy=0.5)
    executions.filter(status=RunStatus.QUEUED).update(status=RunStatus.CANCELED)

    expect(page.locator("[data-status=succeeded].badge")).to_have_text("2 succeeded", timeout=12_000)
    expect(page.locator("#runs[data-polling]")).to_have_count(0)
    expect(page.locator("tr[data-status=canceled]")).to_have_count(1)


def test_an_editor_creates_an_experiment_after_fixing_a_mistake(page, log_in, editor, dataset):
    log_in(editor)
    page.click("a:has-text('New experiment')")

    page.fill("input[name=name]", "Quick sweep")
    page.select_option("select[name=dataset]", str(dataset.pk))
    page.check("label:has-text('RS2 with replacement') input")
    page.fill("input[name=budgets]", "10, 200")
    page.fill("input[name=seeds]", "0")
    page.fill("input[name=rounds]", "5")
    page.click("button:has-text('Create experiment')")

    expect(page.locator("[data-field=budgets] .error")).to_contain_text("at most 100; got 200")
    assert not Experiment.objects.exists()

    page.fill("input[name=budgets]", "10, 20")
    page.click("button:has-text('Create experiment')")

    expect(page.locator("h1")).to_have_text("Quick sweep")
    expect(page.locator("tr[data-run]")).to_have_count(2)
    assert Experiment.objects.get().recipe["rounds"] == 5
