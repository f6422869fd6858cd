"""The invitee's side of invitations: the dashboard panel, the invitations page, accepting and declining."""

import re

import pytest
from django.urls import reverse

from backend.teams.models import InvitationStatus, Membership, Role
from backend.teams.services import invitation_create
from tests.conftest import make_user


@pytest.fixture
def nina(db):
    return make_user("nina")


@pytest.fixture
def invitation(team, owner, nina):
    return invitation_create(team=team, actor=owner, invited="nina@example.com", role=Role.EDITOR)


def accept_url(invitation):
    return reverse("invitation_accept", args=[invitation.pk])


def decline_url(invitation):
    return reverse("invitation_decline", args=[invitation.pk])


def invited_teams(response) -> list[str]:
    return re.findall(r'<tr data-invitation-team="([^"]*)">', response.content.decode())


def test_a_user_without_a_team_finds_the_invitation_on_the_welcome_page(client_as, nina, invitation):
    response = client_as(nina).get(reverse("dashboard"))

    html = response.content.decode()
    assert "You are not in a team yet" in html
    assert invited_teams(response) == ["Vision"]
    assert accept_url(invitation) in html and decline_url(invitation) in html


def test_a_member_of_another_team_finds_the_invitation_on_their_dashboard(client_as, owner, team, outsider, other_team):
    invitation = invitation_create(team=other_team, actor=outsider, invited="olivia", role=Role.VIEWER)

    response = client_as(owner).get(reverse("dashboard"))

    assert response.context["team"].slug == "vision"
    assert invited_teams(response) == ["Elsewhere"]
    assert accept_url(invitation) in response.content.decode()


def test_the_dashboard_has_no_invitations_panel_without_invitations(client_as, owner, team):
    assert 'id="my-invitations"' not in client_as(owner).get(reverse("dashboard")).content.decode()


def test_the_invitations_page_lists_only_the_users_pending_invitations(client_as, owner, nina, invitation, other_team):
    invitation_create(team=other_team, actor=other_team.memberships.get().user, invited="vera", role=Role.VIEWER)
    invitation_create(team=other_team, actor=other_team.memberships.get().user, invited="ghost", role=Role.VIEWER)

    response = client_as(nina).get(reverse("invitations"))

    assert response.status_code == 200
    assert invited_teams(response) == ["Vision"]
    assert "1 pending invitation" in response.content.decode()
    assert "Editor" in response.content.decode() and "olivia" in response.content.decode()


def test_the_invitations_page_says_when_there_are_none(client_as, owner, team):
    response = client_as(owner).get(reverse("invitations"))

    assert invited_teams(response) == []
    assert "No invitations waiting" in response.content.decode()


def test_the_account_menu_links_to_the_invitations(client_as, owner, team):
    assert f'href="{reverse("invitations")}"' in client_as(owner).get(reverse("dashboard")).content.decode()


def test_accepting_joins_the_team_with_the_invited_role(client_as, nina, team, invitation):
    response = client_as(nina).post(accept_url(invitation), follow=True)

    assert response.redirect_chain == [(reverse("team_dashboard", args=["vision"]), 302)]
    assert [str(message) for message in response.context["messages"]] == ["You joined Vision as editor."]
    assert response.context["membership"].role == Role.EDITOR
    assert [team.slug for team in response.context["user_teams"]] == ["vision"]
    assert invited_teams(response) == []


def test_declining_leaves_the_user_outside_the_team(client_as, nina, team, invitation):
    client = client_as(nina)

    response = client.post(decline_url(invitation), follow=True)

    assert response.redirect_chain == [(reverse("invitations"), 302)]
    assert [str(message) for message in response.context["messages"]] == ["You declined the invitation to Vision."]
    assert invited_teams(response) == []
    assert not Membership.objects.filter(user=nina).exists()
    assert client.get(reverse("team_dashboard", args=["vision"])).status_code == 404


@pytest.mark.parametrize("url", [accept_url, decline_url])
@pytest.mark.parametrize("someone", ["owner", "editor", "outsider"])
def test_someone_elses_invitation_is_not_found(client_as, request, nina, invitation, url, someone):
    assert client_as(request.getfixturevalue(someone)).post(url(invitation)).status_code == 404
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.PENDING
    assert not Membership.objects.filter(user=nina).exists()


@pytest.mark.parametrize("url", [accept_url, decline_url])
def test_a_revoked_invitation_is_not_found(client_as, owner, nina, invitation, url):
    client_as(owner).post(reverse("invitation_revoke", args=["vision", invitation.pk]))

    assert client_as(nina).post(url(invitation)).status_code == 404
    assert not Membership.objects.filter(user=nina).exists()


def test_answers_only_accept_post(client_as, nina, invitation):
    assert client_as(nina).get(accept_url(invitation)).status_code == 405
    assert client_as(nina).get(decline_url(invitation)).status_code == 405
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.PENDING


def test_anonymous_visitors_are_sent_to_log_in(client_as, invitation):
    anonymous = client_as(None)
    responses = [
        anonymous.get(reverse("invitations")),
        anonymous.post(accept_url(invitation)),
        anonymous.post(decline_url(invitation)),
    ]

    assert [(response.status_code, response.url.split("?")[0]) for response in responses] == [
        (302, reverse("login"))
    ] * 3
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.PENDING
