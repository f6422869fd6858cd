"""Invitations in a real browser: an owner invites two people; one accepts and joins, the other declines."""

import pytest
from playwright.sync_api import expect

from backend.teams.models import Invitation, InvitationStatus, Membership, Role
from tests.conftest import make_user

pytestmark = pytest.mark.browser


def invite(page, invited: str, role: str) -> None:
    page.fill("#add-member input[name=user]", invited)
    page.select_option("#add-member select[name=role]", role)
    page.click("#add-member button[type=submit]")
    expect(page.locator(".messages")).to_contain_text(f"Invited {invited} as {role}.")


def log_out(page) -> None:
    page.click(".user-menu summary")
    page.click(".user-menu button:has-text('Log out')")
    page.wait_for_url("**/accounts/login/**")


def test_one_invitee_accepts_and_joins_the_other_declines(page, log_in, owner, team):
    nina, omar = make_user("nina"), make_user("omar")
    log_in(owner)
    page.goto("/teams/vision/members/")
    invite(page, "nina", "editor")
    invite(page, "omar@example.com", "viewer")
    expect(page.locator("#pending-invitations tr[data-invitation]")).to_have_count(2)
    log_out(page)

    log_in(nina)
    panel = page.locator("#my-invitations")
    expect(panel.locator("tr[data-invitation-team]")).to_have_count(1)
    expect(panel.locator("tr[data-invitation-team=Vision] .badge")).to_have_text("Editor")
    panel.locator("button:has-text('Accept')").click()

    expect(page.locator(".messages")).to_contain_text("You joined Vision as editor.")
    expect(page.locator("h1")).to_have_text("Vision")
    expect(page.locator(".page-header")).to_contain_text("You are editor of this team.")
    expect(page.locator(".team-switcher .menu-label")).to_have_text("Vision")
    expect(page.locator("#my-invitations")).to_have_count(0)
    assert Membership.objects.get(team=team, user=nina).role == Role.EDITOR
    log_out(page)

    log_in(omar)
    expect(page.locator("#my-invitations tr[data-invitation-team=Vision]")).to_have_count(1)
    page.locator("#my-invitations button:has-text('Decline')").click()

    expect(page.locator(".messages")).to_contain_text("You declined the invitation to Vision.")
    expect(page.locator("#my-invitations")).to_contain_text("No invitations waiting")
    page.goto("/")
    expect(page.locator(".welcome")).to_contain_text("You are not in a team yet")
    assert not Membership.objects.filter(user=omar).exists()
    assert Invitation.objects.get(invitee=omar).status == InvitationStatus.DECLINED
