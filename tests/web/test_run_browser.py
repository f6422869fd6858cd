"""The run page in a real browser: it follows an active run, reloads with the final figures, draws its curves.

A screenshot of the drawn page goes to $SAMPLEWISE_SCREENSHOT_DIR when it is set, else to pytest's tmp_path.
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from backend.experiments.models import RunStatus
from tests.conftest import add_curve, set_execution

pytestmark = pytest.mark.browser


def test_a_run_page_follows_its_run_and_reloads_once_it_has_finished(page, log_in, viewer, experiment):
    running = experiment.runs.get(execution__status=RunStatus.RUNNING)
    log_in(viewer)
    page.click(f"a[href='/experiments/{experiment.pk}/']")
    page.click(f"tr[data-run='{running.pk}'] a[data-run-link]")
    expect(page.locator("#summary[data-polling]")).to_have_count(1)

    add_curve(running, [0.3, 0.55])
    expect(page.locator("#summary .progress-note")).to_have_text("round 2 · 55.0 %", timeout=12_000)
    set_execution(running, status=RunStatus.SUCCEEDED, final_accuracy=0.55, best_accuracy=0.55)

    expect(page.locator("[data-run-status]")).to_have_text("Succeeded", timeout=12_000)
    expect(page.locator("[data-fact=final-accuracy]")).to_have_text("55.0 %")
    expect(page.locator("#summary[data-polling]")).to_have_count(0)
    expect(page.locator("[data-confusion-missing]")).to_have_text("No predictions stored (run from an older engine).")


def test_a_run_page_draws_its_learning_curves(page, log_in, viewer, experiment, tmp_path):
    succeeded = experiment.runs.get(execution__status=RunStatus.SUCCEEDED)
    log_in(viewer)

    page.goto(f"/runs/{succeeded.pk}/")

    expect(page.locator("#curves [data-vega-drawn]")).to_have_count(1)
    expect(page.locator("#curves [data-vega-drawn] svg").first).to_be_visible()
    assert page.locator("#curves [data-vega-error]").count() == 0
    directory = Path(os.environ.get("SAMPLEWISE_SCREENSHOT_DIR") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=directory / "run-desktop.png", full_page=True)
