"""Clone and extend in a real browser with a real worker: only the new runs queue, the others keep their results."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from backend.datasets.services import dataset_create_builtin
from backend.experiments.models import Execution, Experiment, RunStatus
from backend.experiments.services import experiment_create
from tests.conftest import finish_run
from tests.workers import conftest as worker_fixtures

pytestmark = [pytest.mark.browser, pytest.mark.worker]

start_worker = worker_fixtures.start_worker


def test_a_team_clones_an_experiment_then_extends_it_and_only_the_new_run_trains(
    page, log_in, owner, team, builtin_policies, start_worker
):
    start_worker()
    digits = dataset_create_builtin(team=team, user=owner, name="digits", builtin="digits")
    original = experiment_create(
        team=team,
        user=owner,
        name="RS2 on digits",
        dataset=digits,
        model="mlp",
        recipe={"rounds": 2},
        policies=[builtin_policies["rs2_without_replacement"]],
        budgets=[0.3],
        seeds=[0],
    )
    # Seed 0 has finished with figures no worker would produce: were it trained again, they would change.
    seed_0 = original.runs.get()
    finish_run(seed_0, 0.4321, selection=0.5, training=3.5)
    finished = Execution.objects.get(pk=seed_0.execution_id)
    log_in(owner)

    # Clone: the form starts from the experiment, and the preview says the clone reuses its run.
    page.goto(f"/experiments/{original.pk}/")
    page.click("[data-action=clone-experiment]")
    expect(page.locator("h1")).to_have_text("Clone RS2 on digits")
    expect(page.locator("input[name=name]")).to_have_value("RS2 on digits (copy)")
    expect(page.locator("input[name=seeds]")).to_have_value("0")
    expect(page.locator("input[name=rounds]")).to_have_value("2")
    expect(page.locator("[data-preview-reused]")).to_have_attribute("data-preview-reused", "1")
    expect(page.locator("[data-preview-estimate]")).to_have_text("nothing to train")
    page.fill("input[name=name]", "RS2 on digits, again")
    page.click("button:has-text('Create experiment')")
    expect(page.locator("h1")).to_have_text("RS2 on digits, again")
    clone = Experiment.objects.get(name="RS2 on digits, again")
    shared = clone.runs.get()
    assert shared.reused and shared.execution_id == seed_0.execution_id
    expect(page.locator(f"tr[data-run='{shared.pk}']")).to_have_attribute("data-status", RunStatus.SUCCEEDED)
    expect(page.locator(f"tr[data-run='{shared.pk}']")).to_contain_text("43.2 %")

    # Extend the clone with a seed: the preview counts one run to train, estimated from the finished one.
    page.click("[data-action=extend-experiment]")
    expect(page.locator("h1")).to_have_text("Extend RS2 on digits, again")
    page.fill("input[name=seeds]", "1")
    expect(page.locator("[data-preview-runs]")).to_have_attribute("data-preview-runs", "1")
    expect(page.locator("[data-preview-reused]")).to_have_attribute("data-preview-reused", "0")
    expect(page.locator("[data-preview-to-train]")).to_have_attribute("data-preview-to-train", "1")
    expect(page.locator("[data-preview-estimate]")).to_have_text(re.compile(r"^about 4\.0 s$"))
    page.click("button:has-text('Add runs')")

    expect(page.locator("tr[data-run]")).to_have_count(2)
    new = clone.runs.get(seed=1)
    new_row = page.locator(f"tr[data-run='{new.pk}']")
    assert not new.reused and Execution.objects.count() == 2
    # Only the new run queues, and the real worker trains it while the page polls.
    expect(new_row).to_have_attribute("data-status", RunStatus.SUCCEEDED, timeout=120_000)
    expect(page.locator("#runs [data-status=succeeded].badge")).to_have_text("2 succeeded")
    assert Execution.objects.get(pk=new.execution_id).attempts.count() == 1
    # The existing run kept its result: never claimed, never trained again.
    expect(page.locator(f"tr[data-run='{shared.pk}']")).to_contain_text("43.2 %")
    again = Execution.objects.get(pk=seed_0.execution_id)
    assert (again.attempt, again.finished_at, again.final_accuracy) == (0, finished.finished_at, 0.4321)
    assert not again.attempts.exists()
