"""Every page at desktop and phone widths: nothing wider than the window; screenshots for review.

Screenshots go to $SAMPLEWISE_SCREENSHOT_DIR when it is set, else to pytest's tmp_path.
"""

import pytest

from backend.policies.models import SamplingPolicy
from tests.conftest import make_user

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def pages(team, experiment):
    SamplingPolicy.objects.create(
        team=team,
        name="Class-balanced RS2 with replacement",
        strategy="rs2_with_replacement",
        params={"class_balanced": True},
    )
    return {
        "dashboard": "/",
        "members": "/teams/vision/members/",
        "datasets": "/teams/vision/datasets/",
        "policies": "/teams/vision/policies/",
        "leaderboards": "/teams/vision/leaderboard/",
        "experiment": f"/experiments/{experiment.pk}/",
        "experiment-create": "/teams/vision/experiments/new/",
        "password-change": "/accounts/password/",
    }


def assert_fits(page, name: str) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} is {overflow}px wider than the window"


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_every_team_page_fits_the_window(page, log_in, owner, pages, screenshot_dir, viewport):
    page.set_viewport_size(VIEWPORTS[viewport])
    log_in(owner)
    for name, url in pages.items():
        page.goto(url)
        page.screenshot(path=screenshot_dir / f"{name}-{viewport}.png", full_page=True)
        assert_fits(page, name)


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_pages_with_errors_and_menus_fit_the_window(page, log_in, owner, pages, screenshot_dir, viewport):
    page.set_viewport_size(VIEWPORTS[viewport])
    log_in(owner)
    page.goto(pages["experiment-create"])
    page.fill("input[name=budgets]", "0, 250")
    page.fill("input[name=lr]", "0")
    page.click("button:has-text('Create experiment')")
    page.wait_for_selector("[data-field=budgets] .error")
    page.screenshot(path=screenshot_dir / f"experiment-create-errors-{viewport}.png", full_page=True)
    assert_fits(page, "experiment-create with errors")

    # Past the form's own checks, the engine's recipe validation names the field.
    page.fill("input[name=name]", "Sweep")
    page.select_option("select[name=dataset]", index=1)
    page.check("label:has-text('RS2 without replacement') input")
    page.fill("input[name=budgets]", "10, 30")
    page.click("button:has-text('Create experiment')")
    page.wait_for_selector("[data-field=lr] .error")
    page.screenshot(path=screenshot_dir / f"experiment-create-engine-error-{viewport}.png", full_page=True)
    assert_fits(page, "experiment-create with an engine error")

    page.goto(pages["members"])
    page.fill("#add-member input[name=user]", "vera")
    page.click("#add-member button[type=submit]")
    page.wait_for_selector("#add-member .error")
    page.click(".team-switcher summary")
    page.screenshot(path=screenshot_dir / f"members-errors-{viewport}.png", full_page=True)
    assert_fits(page, "members with errors")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_login_and_welcome_pages_fit_the_window(page, log_in, transactional_db, screenshot_dir, viewport):
    page.set_viewport_size(VIEWPORTS[viewport])
    page.goto("/accounts/login/")
    page.screenshot(path=screenshot_dir / f"login-{viewport}.png", full_page=True)
    assert_fits(page, "login")

    log_in(make_user("nina"))
    page.click(".user-menu summary")
    page.screenshot(path=screenshot_dir / f"welcome-{viewport}.png", full_page=True)
    assert_fits(page, "welcome")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_error_pages_fit_the_window(page, log_in, viewer, team, screenshot_dir, viewport):
    page.set_viewport_size(VIEWPORTS[viewport])
    log_in(viewer)
    for name, url, heading in [
        ("403", "/teams/vision/experiments/new/", "Not allowed"),
        ("404", "/teams/nope/", "Not found"),
    ]:
        page.goto(url)
        assert page.locator("h1").inner_text() == heading
        page.screenshot(path=screenshot_dir / f"{name}-{viewport}.png", full_page=True)
        assert_fits(page, name)
