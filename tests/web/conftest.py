"""Page fixtures: logged-in test clients, an experiment with runs in every status, and a headless browser."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.test import Client

from backend.experiments.models import RunStatus
from backend.experiments.services import experiment_create
from tests.conftest import FINALS, PASSWORD, add_curve, finish_run, set_execution

CHROMIUM = "/usr/bin/chromium"
# The dashboard is the site root; a failed login stays on /accounts/login/.
DASHBOARD_URL = re.compile(r"^http://[^/]+/$")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def client_as():
    """``client_as(user)`` gives a Django test client logged in as ``user`` (None: anonymous)."""

    def make(user) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    return make


@pytest.fixture
def experiment(team, owner, dataset, builtin_policies):
    """Two policies × two budgets × one seed, with runs finished, failed and still active."""
    experiment = experiment_create(
        team=team,
        user=owner,
        name="RS2 vs static on digits",
        dataset=dataset,
        model="mlp",
        recipe={"rounds": 20, "target_accuracy": 0.8},
        policies=[builtin_policies["rs2_without_replacement"], builtin_policies["random_static"]],
        budgets=[0.1, 0.3],
        seeds=[0],
    )
    runs = list(experiment.runs.order_by("policy__name", "budget"))
    set_execution(
        runs[0],
        status=RunStatus.SUCCEEDED,
        final_accuracy=0.8125,
        best_accuracy=0.84,
        selection_seconds=1.5,
        training_seconds=30.0,
    )
    # It first reaches the 0.8 target at 12.5 s of selection + training.
    add_curve(runs[0], [0.5, 0.8, 0.84, 0.8125], seconds_per_round=6.25)
    set_execution(runs[1], status=RunStatus.FAILED, error="CUDA out of memory\nTraceback (most recent call last): ...")
    set_execution(runs[2], status=RunStatus.RUNNING)
    return experiment


@pytest.fixture
def make_comparison(team, owner, dataset, builtin_policies):
    def make(*, seeds=(0, 1, 2), rounds=2, active=1):
        experiment = experiment_create(
            team=team,
            user=owner,
            name="RS2 against the controls",
            dataset=dataset,
            model="mlp",
            recipe={"rounds": rounds, "target_accuracy": 0.7},
            policies=[builtin_policies[key] for key in ("full", "random_static", "rs2_without_replacement")],
            budgets=[0.1, 0.3],
            seeds=list(seeds),
        )
        for run in experiment.runs.select_related("policy").order_by("-seed", "policy__name", "budget")[active:]:
            finals = FINALS[run.policy.strategy, run.budget]
            selection = 2.0 if run.policy.strategy == "random_static" else 0.0
            finish_run(run, finals[run.seed % 3], selection=selection, training=100.0 * run.budget)
        return experiment

    return make


@pytest.fixture
def comparison(make_comparison):
    """Fifteen runs, one still queued (seed 2 of full data)."""
    return make_comparison()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"browser tests need Chromium at {CHROMIUM}; scripts/test installs it")
        pytest.skip(f"browser tests need Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the ORM
    # calls that tests make between page actions are still synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        # Subprocesses started by later tests must not inherit it.
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def page(browser, live_server, transactional_db):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def log_in(page):
    """``log_in(user)`` submits the login form as ``user`` and waits for the dashboard."""

    def submit(user) -> None:
        page.goto("/accounts/login/")
        page.fill("input[name=username]", user.username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(DASHBOARD_URL)

    return submit


@pytest.fixture
def screenshot_dir(tmp_path) -> Path:
    """Where browser tests leave screenshots: $SAMPLEWISE_SCREENSHOT_DIR (var/screenshots under make test)."""
    directory = Path(os.environ.get("SAMPLEWISE_SCREENSHOT_DIR") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def stranger(browser, live_server):
    """A second browser context with no session: someone who only has a share link."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()
