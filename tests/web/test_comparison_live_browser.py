"""The comparison end to end in a real browser with a real worker: create, watch it fill, read, download, share.

Screenshots of the leaderboard, the three plots and the run page go to $SAMPLEWISE_SCREENSHOT_DIR
when it is set (the README's test command sets var/screenshots), else to pytest's tmp_path.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import expect

from backend.datasets.services import dataset_create_builtin
from backend.experiments.models import Experiment, RunStatus
from tests.workers import conftest as worker_fixtures

pytestmark = [pytest.mark.browser, pytest.mark.worker]

start_worker = worker_fixtures.start_worker


def downloaded(page, selector: str) -> bytes:
    with page.expect_download() as download:
        page.click(selector)
    return Path(download.value.path()).read_bytes()


def test_a_team_creates_an_experiment_watches_it_rank_and_shares_it(
    page,
    log_in,
    owner,
    team,
    start_worker,
    stranger,
    screenshot_dir,
):
    start_worker()
    digits = dataset_create_builtin(team=team, user=owner, name="digits", builtin="digits")
    log_in(owner)

    # Configured in the form; a real worker trains the eight runs.
    page.click("a:has-text('New experiment')")
    page.fill("input[name=name]", "RS2 against a static subset")
    page.select_option("select[name=dataset]", str(digits.pk))
    page.check("label:has-text('RS2 without replacement') input")
    page.check("label:has-text('Random static subset') input")
    page.fill("input[name=budgets]", "10, 30")
    page.fill("input[name=seeds]", "0, 1")
    page.fill("input[name=rounds]", "4")
    page.fill("input[name=target_accuracy]", "50")
    page.click("button:has-text('Create experiment')")
    expect(page.locator("h1")).to_have_text("RS2 against a static subset")
    experiment = Experiment.objects.get(name="RS2 against a static subset")
    page.evaluate("window.notReloaded = true")

    # The leaderboard fills as runs finish, without a reload, and stops polling when all are done.
    rs2 = page.locator("#leaderboard tr[data-strategy=rs2_without_replacement]")
    static = page.locator("#leaderboard tr[data-strategy=random_static]")
    expect(rs2).to_contain_text("2/2", timeout=180_000)
    expect(static).to_contain_text("2/2", timeout=60_000)
    expect(page.locator("#leaderboard[data-polling]")).to_have_count(0, timeout=15_000)
    # The runs at the other budget finish too, seen through the polled runs table and budget table.
    expect(page.locator("#runs [data-status=succeeded].badge")).to_have_text("8 succeeded", timeout=180_000)
    expect(page.locator("#budget-table[data-polling]")).to_have_count(0, timeout=15_000)
    assert page.evaluate("window.notReloaded") is True
    assert set(experiment.runs.values_list("execution__status", flat=True)) == {RunStatus.SUCCEEDED}
    expect(rs2.locator(".verdict")).to_have_text("baseline")
    assert static.locator(".verdict").inner_text().strip() in {"better", "worse", "within noise"}

    # Switch the budget; the plots are drawn, and a point tells its values on hover.
    page.select_option("select[name=budget]", "0.3")
    expect(page.locator("#leaderboard-heading")).to_have_text("Leaderboard at 30 %")
    for name in ("budget", "time", "cost"):
        expect(page.locator(f"[data-plot={name}] .plot-view svg").first).to_be_visible(timeout=15_000)
    page.locator("[data-plot=budget] .plot-view svg .mark-symbol path").first.hover(force=True)
    tooltip = page.locator("#vg-tooltip-element")
    expect(tooltip).to_be_visible()
    expect(tooltip).to_contain_text("%")

    page.add_style_tag(content=".topbar { position: static; }")  # keep the bar out of element screenshots
    page.locator("#leaderboard").screenshot(path=screenshot_dir / "live-leaderboard.png")
    for name in ("budget", "time", "cost"):
        page.locator(f"[data-plot={name}]").screenshot(path=screenshot_dir / f"live-plot-{name}.png")
    page.screenshot(path=screenshot_dir / "live-experiment.png", full_page=True)

    # Downloads: the drawings and the data behind them.
    assert downloaded(page, "[data-plot=time] a[data-download=svg]").lstrip().startswith((b"<svg", b"<?xml"))
    assert downloaded(page, "[data-plot=budget] a[data-download=png]").startswith(b"\x89PNG")
    rows = list(csv.DictReader(io.StringIO(downloaded(page, "#leaderboard a[data-download=leaderboard-csv]").decode())))
    assert {row["policy"] for row in rows} == {"RS2 without replacement", "Random static subset"}
    assert all(row["budget"] == "0.3" for row in rows)

    # The run page: status, curves, confusion matrix.
    page.locator("tr[data-run] a[data-run-link]").first.click()
    expect(page.locator("[data-run-status]")).to_have_text("Succeeded")
    expect(page.locator("#curves .plot-view svg").first).to_be_visible(timeout=15_000)
    expect(page.locator("table.confusion-matrix")).to_be_visible()
    page.screenshot(path=screenshot_dir / "live-run.png", full_page=True)

    # Share it: a stranger sees the comparisons, until the link is revoked.
    page.goto(f"/experiments/{experiment.pk}/")
    page.click("button[data-action=create-share-link]")
    address = page.locator("a[data-share-url]").get_attribute("href")
    stranger.goto(address)
    expect(stranger.locator("#leaderboard tr[data-strategy=rs2_without_replacement]")).to_contain_text("2/2")
    expect(stranger.locator("[data-plot=cost] .plot-view svg").first).to_be_visible(timeout=15_000)
    expect(stranger.locator("text=olivia")).to_have_count(0)
    page.click("button[data-action=revoke-share-link]")
    expect(page.locator("tr[data-share-link][data-active=false]")).to_have_count(1)
    assert stranger.goto(address).status == 404
