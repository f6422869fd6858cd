import re

import pytest
from django.urls import reverse

from backend.teams.models import Invitation, InvitationStatus, Membership, Role
from backend.teams.services import invitation_create
from tests.conftest import make_user


def members_url():
    return reverse("team_members", args=["vision"])


def add_url():
    return reverse("member_add", args=["vision"])


def role_url(membership):
    return reverse("member_role", args=["vision", membership.pk])


def remove_url(membership):
    return reverse("member_remove", args=["vision", membership.pk])


def revoke_url(invitation):
    return reverse("invitation_revoke", args=["vision", invitation.pk])


@pytest.fixture
def newcomer(db):
    return make_user("nina")


@pytest.mark.parametrize("member", ["owner", "editor", "viewer"])
def test_every_member_sees_the_members_and_their_roles(client_as, request, member, team):
    response = client_as(request.getfixturevalue(member)).get(members_url())

    html = response.content.decode()
    assert response.status_code == 200
    for username, role in [("olivia", "Owner"), ("eddie", "Editor"), ("vera", "Viewer")]:
        assert f'data-member="{username}"' in html
        assert f">{role}</span>" in html


def test_an_outsider_gets_404(client_as, outsider, team):
    assert client_as(outsider).get(members_url()).status_code == 404


def test_only_owners_see_the_management_forms(client_as, owner, editor, team):
    assert 'id="add-member"' in client_as(owner).get(members_url()).content.decode()
    assert 'id="add-member"' not in client_as(editor).get(members_url()).content.decode()
    assert "member_role" not in client_as(editor).get(members_url()).content.decode()


@pytest.mark.parametrize("identifier", ["nina", "NINA@example.com"])
def test_an_owner_invites_a_member_by_username_or_email(client_as, owner, team, newcomer, identifier):
    response = client_as(owner).post(add_url(), {"user": identifier, "role": "editor"}, follow=True)

    assert response.redirect_chain == [(members_url(), 302)]
    assert [str(message) for message in response.context["messages"]] == [
        f"Invited {identifier} as editor. They join once they accept."
    ]
    assert Invitation.objects.get(team=team).invitee == newcomer
    assert not Membership.objects.filter(user=newcomer).exists()
    assert pending_rows(response) == [identifier]


def pending_rows(response) -> list[str]:
    return re.findall(r'<tr data-invitation="([^"]*)">', response.content.decode())


def invitation_row(response, name: str) -> str:
    """The pending row of ``name`` with its name and invitation id blanked out."""
    html = response.content.decode()
    row = re.search(rf'<tr data-invitation="{re.escape(name)}">.*?</tr>', html, re.S).group(0)
    return re.sub(r"/invitations/\d+/", "/invitations/N/", row.replace(name, "NAME"))


@pytest.mark.parametrize("known, unknown", [("nina", "ghost"), ("nina@example.com", "ghost@example.com")])
def test_inviting_an_unknown_name_looks_exactly_like_inviting_a_known_one(
    client_as, owner, team, newcomer, known, unknown
):
    client = client_as(owner)

    for_known = client.post(add_url(), {"user": known, "role": "viewer"}, follow=True)
    for_unknown = client.post(add_url(), {"user": unknown, "role": "viewer"}, follow=True)

    assert for_known.redirect_chain == for_unknown.redirect_chain == [(members_url(), 302)]
    messages = [
        [str(message).replace(name, "NAME") for message in response.context["messages"]]
        for response, name in ((for_known, known), (for_unknown, unknown))
    ]
    assert messages[0] == messages[1] == ["Invited NAME as viewer. They join once they accept."]
    assert invitation_row(for_unknown, known) == invitation_row(for_unknown, unknown)
    assert pending_rows(for_unknown) == [unknown, known]


def test_a_malformed_name_is_shown_at_the_user_field_and_nothing_is_written(client_as, owner, team):
    response = client_as(owner).post(add_url(), {"user": "no body", "role": "viewer"})

    assert response.status_code == 400
    assert response.context["add_form"].errors["user"] == ["'no body' is neither a username nor an email address."]
    assert 'data-field="user"' in response.content.decode()
    assert not Invitation.objects.exists()


def test_adding_an_existing_member_is_refused_at_the_user_field(client_as, owner, team):
    response = client_as(owner).post(add_url(), {"user": "vera", "role": "editor"})

    assert response.status_code == 400
    assert response.context["add_form"].errors["user"] == ["Already a member of Vision: vera."]
    assert team.memberships.get(user__username="vera").role == Role.VIEWER
    assert not Invitation.objects.exists()


def test_inviting_a_name_again_is_refused_at_the_user_field(client_as, owner, team):
    client = client_as(owner)
    client.post(add_url(), {"user": "ghost", "role": "viewer"})

    response = client.post(add_url(), {"user": "GHOST", "role": "owner"})

    assert response.status_code == 400
    assert response.context["add_form"].errors["user"] == ["An invitation to GHOST to join Vision is already pending."]
    assert list(Invitation.objects.values_list("invited", "role")) == [("ghost", "viewer")]


def test_an_unknown_role_is_refused_at_the_role_field(client_as, owner, team, newcomer):
    response = client_as(owner).post(add_url(), {"user": "nina", "role": "admin"})

    assert response.status_code == 400
    assert "role" in response.context["add_form"].errors
    assert not Invitation.objects.exists()


@pytest.mark.parametrize("member", ["editor", "viewer"])
def test_editors_and_viewers_cannot_add_members(client_as, request, member, team, newcomer):
    response = client_as(request.getfixturevalue(member)).post(add_url(), {"user": "nina", "role": "viewer"})

    assert response.status_code == 403
    assert not Invitation.objects.exists()


def test_an_outsider_cannot_add_members(client_as, outsider, team, newcomer):
    assert client_as(outsider).post(add_url(), {"user": "nina", "role": "owner"}).status_code == 404
    assert not Invitation.objects.exists()


def test_only_owners_see_the_pending_invitations(client_as, owner, editor, viewer, team):
    client_as(owner).post(add_url(), {"user": "ghost", "role": "viewer"})

    assert 'id="pending-invitations"' in client_as(owner).get(members_url()).content.decode()
    for member in (editor, viewer):
        html = client_as(member).get(members_url()).content.decode()
        assert 'id="pending-invitations"' not in html and "ghost" not in html


def test_an_owner_revokes_an_invitation(client_as, owner, team, newcomer):
    invitation = invitation_create(team=team, actor=owner, invited="nina", role=Role.EDITOR)

    response = client_as(owner).post(revoke_url(invitation), follow=True)

    assert response.redirect_chain == [(members_url(), 302)]
    assert [str(message) for message in response.context["messages"]] == ["Revoked the invitation to nina."]
    assert pending_rows(response) == []
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.REVOKED


@pytest.mark.parametrize("member, expected", [("editor", 403), ("viewer", 403), ("outsider", 404)])
def test_only_owners_revoke_invitations(client_as, request, owner, team, other_team, member, expected):
    invitation = invitation_create(team=team, actor=owner, invited="ghost", role=Role.EDITOR)

    assert client_as(request.getfixturevalue(member)).post(revoke_url(invitation)).status_code == expected
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.PENDING


def test_an_invitation_of_another_team_is_not_found(client_as, owner, team, other_team, outsider):
    foreign = invitation_create(team=other_team, actor=outsider, invited="ghost", role=Role.EDITOR)

    assert client_as(owner).post(revoke_url(foreign)).status_code == 404
    foreign.refresh_from_db()
    assert foreign.status == InvitationStatus.PENDING


def test_an_owner_changes_a_role(client_as, owner, viewer, team):
    membership = team.memberships.get(user=viewer)

    response = client_as(owner).post(role_url(membership), {"role": "editor"})

    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.role == Role.EDITOR


def test_demoting_the_last_owner_is_shown_on_their_row_and_changes_nothing(client_as, owner, team):
    membership = team.memberships.get(user=owner)

    response = client_as(owner).post(role_url(membership), {"role": "viewer"})

    assert response.status_code == 400
    row = next(row for row in response.context["rows"] if row["membership"].pk == membership.pk)
    assert row["error"] == "A team must keep at least one owner."
    assert "A team must keep at least one owner." in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == Role.OWNER


def test_a_viewer_cannot_change_roles(client_as, viewer, team):
    membership = team.memberships.get(user=viewer)

    assert client_as(viewer).post(role_url(membership), {"role": "owner"}).status_code == 403
    membership.refresh_from_db()
    assert membership.role == Role.VIEWER


def test_a_membership_of_another_team_is_not_found(client_as, owner, team, other_team):
    foreign = other_team.memberships.get()

    assert client_as(owner).post(role_url(foreign), {"role": "viewer"}).status_code == 404
    assert client_as(owner).post(remove_url(foreign)).status_code == 404
    foreign.refresh_from_db()
    assert foreign.role == Role.OWNER


def test_an_owner_removes_a_member(client_as, owner, editor, team):
    response = client_as(owner).post(remove_url(team.memberships.get(user=editor)))

    assert response.status_code == 302 and response.url == members_url()
    assert not team.memberships.filter(user=editor).exists()


def test_removing_the_last_owner_is_refused(client_as, owner, team):
    membership = team.memberships.get(user=owner)

    response = client_as(owner).post(remove_url(membership))

    assert response.status_code == 400
    assert team.memberships.filter(pk=membership.pk).exists()


def test_an_owner_who_leaves_goes_back_to_the_dashboard(client_as, owner, editor, team):
    team.memberships.filter(user=editor).update(role=Role.OWNER)

    response = client_as(owner).post(remove_url(team.memberships.get(user=owner)))

    assert response.status_code == 302 and response.url == reverse("dashboard")
    assert not team.memberships.filter(user=owner).exists()


def test_an_editor_cannot_remove_members(client_as, editor, viewer, team):
    assert client_as(editor).post(remove_url(team.memberships.get(user=viewer))).status_code == 403
    assert team.memberships.filter(user=viewer).exists()


def test_the_write_endpoints_only_accept_post(client_as, owner, team):
    membership = team.memberships.get(user=owner)
    client = client_as(owner)

    assert client.get(add_url()).status_code == 405
    assert client.get(role_url(membership)).status_code == 405
    assert client.get(remove_url(membership)).status_code == 405
    invitation = invitation_create(team=team, actor=owner, invited="ghost", role=Role.EDITOR)
    assert client.get(revoke_url(invitation)).status_code == 405
