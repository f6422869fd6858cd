"""The members page in a real browser: an owner invites a member and revokes; errors show at the field."""

import pytest
from playwright.sync_api import expect

from backend.teams.models import Role
from tests.conftest import make_user

pytestmark = pytest.mark.browser


def test_an_owner_invites_a_member_by_email_with_a_role(page, log_in, owner, team):
    newcomer = make_user("nina")
    log_in(owner)
    page.click("nav a:has-text('Members')")

    page.fill("#add-member input[name=user]", "nina@example.com")
    page.select_option("#add-member select[name=role]", "editor")
    page.click("#add-member button[type=submit]")

    expect(page.locator(".messages")).to_contain_text("Invited nina@example.com as editor. They join once they accept.")
    row = page.locator("#pending-invitations tr[data-invitation='nina@example.com']")
    expect(row.locator(".badge")).to_have_text("Editor")
    expect(page.locator("tr[data-member=nina]")).to_have_count(0)
    invitation = team.invitations.get()
    assert (invitation.invitee, invitation.role, invitation.status) == (newcomer, Role.EDITOR, "pending")

    row.locator("button:has-text('Revoke')").click()

    expect(page.locator(".messages")).to_contain_text("Revoked the invitation to nina@example.com.")
    expect(page.locator("#pending-invitations tr[data-invitation]")).to_have_count(0)
    invitation.refresh_from_db()
    assert invitation.status == "revoked"


def test_a_current_member_is_reported_next_to_the_field(page, log_in, owner, team):
    log_in(owner)
    page.goto("/teams/vision/members/")

    page.fill("#add-member input[name=user]", "vera@example.com")
    page.click("#add-member button[type=submit]")

    expect(page.locator("#add-member [data-field=user] .error")).to_have_text("Already a member of Vision: vera.")
    assert not team.invitations.exists()


def test_a_viewer_sees_the_members_without_management_forms(page, log_in, viewer, team):
    log_in(viewer)
    page.goto("/teams/vision/members/")

    expect(page.locator("tr[data-member]")).to_have_count(3)
    expect(page.locator("#add-member")).to_have_count(0)
    expect(page.locator("#pending-invitations")).to_have_count(0)
    expect(page.locator("button:has-text('Remove')")).to_have_count(0)
