"""Deleting an experiment in a real browser: the confirmation step, keeping it, then deleting it."""

import pytest
from playwright.sync_api import expect

from backend.experiments.models import Experiment

pytestmark = pytest.mark.browser


def test_an_editor_confirms_before_an_experiment_is_deleted(page, log_in, editor, experiment):
    log_in(editor)
    page.goto(f"/experiments/{experiment.pk}/")

    page.click("[data-action=delete-experiment]")
    expect(page.locator("h1")).to_have_text(f"Delete {experiment.name}?")
    expect(page.locator("[data-deletion-runs]")).to_contain_text("Its 4 runs")
    page.click("a:has-text('Keep it')")
    expect(page.locator("h1")).to_have_text(experiment.name)
    assert Experiment.objects.filter(pk=experiment.pk).exists()

    page.click("[data-action=delete-experiment]")
    page.click("[data-action=confirm-delete]")

    expect(page.locator(".messages")).to_contain_text(f"Deleted {experiment.name} and its 4 runs.")
    expect(page.locator(f"tr[data-experiment='{experiment.pk}']")).to_have_count(0)
    assert not Experiment.objects.filter(pk=experiment.pk).exists()
