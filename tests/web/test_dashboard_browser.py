"""The dashboard in a real browser: logging in, the experiment list, creating a team."""

import pytest
from playwright.sync_api import expect

from backend.datasets.models import Dataset, DatasetFormat, DatasetStatus
from backend.experiments.models import RunStatus
from backend.experiments.services import experiment_create
from backend.policies.models import SamplingPolicy
from backend.teams.models import Membership, Role, Team
from backend.teams.services import team_create
from tests.conftest import make_user, set_execution

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(transactional_db):
    """A user set up like the demo: one team, a ready dataset and an experiment part-way through."""
    user = make_user("demo")
    team = team_create(name="Demo lab", owner=user)
    dataset = Dataset.objects.create(
        team=team,
        name="mnist1d",
        format=DatasetFormat.BUILTIN,
        source="mnist1d",
        status=DatasetStatus.READY,
        sha256="a" * 64,
        input_shape=[40],
        class_names=[str(digit) for digit in range(10)],
        train_size=4000,
        test_size=1000,
    )
    experiment = experiment_create(
        team=team,
        user=user,
        name="RS2 vs static subset",
        dataset=dataset,
        model="cnn1d",
        recipe={"rounds": 100},
        policies=list(SamplingPolicy.objects.filter(strategy__in=["rs2_without_replacement", "random_static"])),
        budgets=[0.05, 0.1, 0.3],
        seeds=[0],
    )
    runs = list(experiment.runs.order_by("pk"))
    for run, status in zip(runs, [RunStatus.SUCCEEDED] * 3 + [RunStatus.RUNNING, RunStatus.FAILED], strict=False):
        set_execution(run, status=status)
    return user, team, experiment


def test_the_demo_user_logs_in_and_sees_the_experiment_with_its_status_counts(page, log_in, demo):
    user, team, experiment = demo

    log_in(user)

    row = page.locator(f"tr[data-experiment='{experiment.pk}']")
    expect(row).to_contain_text("RS2 vs static subset")
    expect(row.locator("[data-status=succeeded]")).to_have_text("3 succeeded")
    expect(row.locator("[data-status=running]")).to_have_text("1 running")
    expect(row.locator("[data-status=failed]")).to_have_text("1 failed")
    expect(row.locator("[data-status=queued]")).to_have_text("1 queued")
    expect(page.locator(".team-switcher summary")).to_have_text("Demo lab")


def test_a_wrong_password_keeps_the_visitor_on_the_login_page(page, demo):
    page.goto("/accounts/login/")
    page.fill("input[name=username]", "demo")
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")

    expect(page.locator(".form-errors")).to_contain_text("Please enter a correct username and password")


def test_a_new_user_creates_a_team_and_lands_on_its_dashboard(page, log_in, transactional_db):
    newcomer = make_user("nina")
    log_in(newcomer)
    expect(page.locator("h1")).to_contain_text("Welcome to Samplewise")

    page.fill("#new-team input[name=name]", "Speech lab")
    page.click("#new-team button[type=submit]")

    expect(page.locator("h1")).to_have_text("Speech lab")
    expect(page.locator(".messages")).to_contain_text("you are its owner")
    assert Membership.objects.get(team__name="Speech lab").user == newcomer


def test_the_team_switcher_opens_another_team(page, log_in, demo):
    user, team, _ = demo
    other = Team.objects.create(name="Audio", slug="audio")
    Membership.objects.create(team=other, user=user, role=Role.VIEWER)
    log_in(user)

    page.click(".team-switcher summary")
    page.click(".team-switcher a:has-text('Audio')")

    expect(page.locator("h1")).to_have_text("Audio")
    expect(page.locator(".team-switcher summary")).to_have_text("Audio")
    expect(page.locator(".empty")).to_contain_text("Editors and owners of Audio create experiments")


def test_logging_out_from_the_user_menu(page, log_in, demo):
    log_in(demo[0])

    page.click(".user-menu summary")
    page.click(".user-menu button:has-text('Log out')")

    expect(page.locator("h1")).to_have_text("Log in")
    page.goto("/")
    expect(page.locator("h1")).to_have_text("Log in")


def test_an_open_menu_closes_on_a_click_elsewhere_or_escape(page, log_in, demo):
    log_in(demo[0])

    page.click(".team-switcher summary")
    expect(page.locator(".team-switcher .menu-panel")).to_be_visible()
    page.mouse.click(1100, 800)
    expect(page.locator(".team-switcher .menu-panel")).to_be_hidden()

    page.click(".user-menu summary")
    page.keyboard.press("Escape")
    expect(page.locator(".user-menu .menu-panel")).to_be_hidden()
