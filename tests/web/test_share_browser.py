"""Sharing in a real browser: an owner shares an experiment, a stranger opens it logged out, the owner revokes it.

Screenshots of the share and run pages go to $SAMPLEWISE_SCREENSHOT_DIR when it is set, else to pytest's tmp_path.
"""

import pytest
from playwright.sync_api import expect

from backend.experiments.models import RunStatus, ShareLink

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def assert_fits(page, name: str) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} is {overflow}px wider than the window"


def test_an_owner_shares_an_experiment_a_stranger_opens_it_and_the_owner_revokes_it(
    page, log_in, owner, experiment, stranger, screenshot_dir
):
    log_in(owner)
    page.goto(f"/experiments/{experiment.pk}/")

    page.click("button[data-action=create-share-link]")

    expect(page.locator(".messages")).to_contain_text("Created a read-only share link")
    address = page.locator("a[data-share-url]").get_attribute("href")
    assert address.endswith(f"/share/{ShareLink.objects.get().token}/")

    stranger.goto(address)
    expect(stranger.locator("h1")).to_have_text(experiment.name)
    expect(stranger.locator("tr[data-run]")).to_have_count(4)
    expect(stranger.locator("tr[data-status=succeeded]")).to_contain_text("81.2 %")
    expect(stranger.locator("button")).to_have_count(0)
    expect(stranger.locator("text=olivia")).to_have_count(0)
    stranger.screenshot(path=screenshot_dir / "share-experiment-desktop.png", full_page=True)

    succeeded = experiment.runs.get(execution__status=RunStatus.SUCCEEDED)
    stranger.click(f"tr[data-run='{succeeded.pk}'] a[data-run-link]")
    expect(stranger.locator("[data-run-status]")).to_have_text("Succeeded")
    expect(stranger.locator("[data-fact=final-accuracy]")).to_have_text("81.2 %")
    stranger.screenshot(path=screenshot_dir / "share-run-desktop.png", full_page=True)

    page.click("button[data-action=revoke-share-link]")
    expect(page.locator(".messages")).to_contain_text("Revoked the share link")
    expect(page.locator("tr[data-share-link][data-active=false]")).to_have_count(1)

    response = stranger.goto(address)
    assert response.status == 404
    expect(stranger.locator("h1")).to_have_text("Not found")


def test_a_viewer_sees_no_share_controls(page, log_in, viewer, experiment):
    log_in(viewer)
    page.goto(f"/experiments/{experiment.pk}/")

    expect(page.locator("tr[data-run]")).to_have_count(4)
    expect(page.locator("#share")).to_have_count(0)
    expect(page.locator("button:has-text('Share'), button:has-text('Revoke')")).to_have_count(0)


def test_the_run_and_share_pages_fit_a_phone(page, log_in, owner, experiment, stranger, screenshot_dir):
    from backend.experiments.services import share_link_create

    link = share_link_create(experiment=experiment, user=owner)
    failed = experiment.runs.get(execution__status=RunStatus.FAILED)
    page.set_viewport_size(PHONE)
    stranger.set_viewport_size(PHONE)
    log_in(owner)

    for name, url in {
        "experiment-share-panel": f"/experiments/{experiment.pk}/",
        "run-failed": f"/runs/{failed.pk}/",
    }.items():
        page.goto(url)
        page.screenshot(path=screenshot_dir / f"{name}-phone.png", full_page=True)
        assert_fits(page, name)
    stranger.goto(f"/share/{link.token}/")
    stranger.screenshot(path=screenshot_dir / "share-experiment-phone.png", full_page=True)
    assert_fits(stranger, "share page")
