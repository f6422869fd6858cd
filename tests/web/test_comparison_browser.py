"""The experiment page's comparisons in a real browser: choosing budget and baseline, plots, live updates."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import expect

from backend.experiments.models import ACTIVE_RUN_STATUSES
from tests.conftest import FINALS, finish_run

pytestmark = pytest.mark.browser


def test_a_viewer_switches_budget_and_baseline_without_a_reload(page, log_in, viewer, comparison, builtin_policies):
    log_in(viewer)
    page.goto(f"/experiments/{comparison.pk}/")
    expect(page.locator("#leaderboard-heading")).to_have_text("Leaderboard at 10 %")
    page.evaluate("window.notReloaded = true")

    page.select_option("select[name=budget]", "0.3")

    expect(page.locator("#leaderboard-heading")).to_have_text("Leaderboard at 30 %")
    assert "budget=0.3" in page.url
    static = builtin_policies["random_static"].pk
    page.select_option("select[name=baseline]", str(static))
    expect(page.locator(f"#leaderboard tr[data-policy='{static}'] .verdict")).to_have_text("baseline")
    expect(page.locator("#leaderboard tr[data-strategy=rs2_without_replacement] .verdict")).to_have_text("within noise")
    assert f"baseline={static}" in page.url and page.evaluate("window.notReloaded") is True
    page.reload()
    expect(page.locator("#leaderboard-heading")).to_have_text("Leaderboard at 30 %")


def test_the_plots_are_drawn_and_download(page, log_in, viewer, comparison, tmp_path):
    log_in(viewer)
    page.goto(f"/experiments/{comparison.pk}/")

    for name in ("budget", "time", "cost"):
        expect(page.locator(f"[data-plot={name}] .plot-view svg").first).to_be_visible(timeout=15_000)
    with page.expect_download() as download:
        page.click("[data-plot=cost] a[data-download=csv]")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert {row["policy"] for row in rows} == {"Full data", "Random static subset", "RS2 without replacement"}
    with page.expect_download() as download:
        page.click("[data-plot=budget] a[data-download=png]")
    assert Path(download.value.path()).read_bytes().startswith(b"\x89PNG")
    with page.expect_download() as download:
        page.click("#leaderboard a[data-download=leaderboard-csv]")
    assert "final_accuracy_mean" in Path(download.value.path()).read_text()


def test_the_leaderboard_keeps_its_content_while_nothing_changes_and_fills_when_runs_finish(
    page, log_in, viewer, comparison
):
    log_in(viewer)
    page.goto(f"/experiments/{comparison.pk}/")
    full = page.locator("#leaderboard tr[data-strategy=full]")
    expect(full.locator(".badge-partial")).to_have_count(1)
    responses = []
    page.on("response", lambda response: responses.append(response.status) if "/leaderboard/" in response.url else None)
    page.evaluate("document.getElementById('leaderboard').dataset.marker = 'first'")

    # A poll of an unchanged experiment is a 304, and the fragment stays as it is.
    page.wait_for_timeout(6_000)
    assert 304 in responses
    assert page.evaluate("document.getElementById('leaderboard').dataset.marker") == "first"
    expect(full).to_contain_text("2/3")

    for run in comparison.runs.filter(execution__status__in=ACTIVE_RUN_STATUSES).select_related("policy"):
        finish_run(run, FINALS[run.policy.strategy, run.budget][run.seed], selection=0.0, training=100.0)

    expect(full).to_contain_text("3/3", timeout=12_000)
    expect(full.locator(".badge-partial")).to_have_count(0)
    expect(page.locator("#leaderboard[data-polling]")).to_have_count(0)
    expect(page.locator("#leaderboard .live")).to_have_count(0)
