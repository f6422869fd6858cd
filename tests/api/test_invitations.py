"""Invitations through the API: owners invite, list and revoke; the invitee alone lists, accepts and declines."""

import pytest
from django.urls import reverse

from backend.teams.models import Invitation, InvitationStatus, Membership, Role
from backend.teams.services import invitation_create
from tests.api.conftest import ROLES
from tests.conftest import make_user


@pytest.fixture
def nina(db):
    return make_user("nina")


@pytest.fixture
def invitation(team, owner, nina):
    return invitation_create(team=team, actor=owner, invited="nina@example.com", role=Role.EDITOR)


def members_url(team):
    return reverse("api-team-members", args=[team.pk])


def team_invitations_url(team):
    return reverse("api-team-invitations", args=[team.pk])


def revoke_url(invitation, team=None):
    return reverse("api-team-invitation-revoke", args=[(team or invitation.team).pk, invitation.pk])


def without_identity(body: dict) -> dict:
    """An invitation's response less what differs between any two invitations: its id, time and name."""
    return {key: value for key, value in body.items() if key not in ("id", "created_at", "invited")}


@pytest.mark.parametrize("known, unknown", [("nina", "ghost"), ("nina@example.com", "ghost@example.com")])
def test_inviting_an_unknown_name_is_answered_exactly_like_a_known_one(team, nina, as_role, known, unknown):
    client = as_role("owner")

    for_known = client.post(members_url(team), {"user": known, "role": "viewer"}, format="json")
    for_unknown = client.post(members_url(team), {"user": unknown, "role": "viewer"}, format="json")

    assert for_known.status_code == for_unknown.status_code == 201
    assert for_known.json().keys() == for_unknown.json().keys()
    assert without_identity(for_known.json()) == without_identity(for_unknown.json())
    assert (for_known.json()["invited"], for_unknown.json()["invited"]) == (known, unknown)
    assert for_known.headers.keys() == for_unknown.headers.keys()


@pytest.mark.parametrize("known, unknown", [("nina", "ghost"), ("nina@example.com", "ghost@example.com")])
def test_a_repeated_invitation_is_refused_alike_for_known_and_unknown_names(team, nina, as_role, known, unknown):
    client = as_role("owner")
    for name in (known, unknown):
        client.post(members_url(team), {"user": name, "role": "viewer"}, format="json")

    for_known = client.post(members_url(team), {"user": known, "role": "viewer"}, format="json")
    for_unknown = client.post(members_url(team), {"user": unknown, "role": "viewer"}, format="json")

    assert for_known.status_code == for_unknown.status_code == 400
    assert for_known.json()["user"] == [f"An invitation to {known} to join Vision is already pending."]
    assert for_unknown.json()["user"] == [f"An invitation to {unknown} to join Vision is already pending."]


def test_the_team_listing_shows_names_as_invited_and_never_who_they_reach(team, owner, nina, invitation, as_role):
    invitation_create(team=team, actor=owner, invited="ghost", role=Role.VIEWER)

    response = as_role("owner").get(team_invitations_url(team))

    assert response.status_code == 200
    rows = response.json()["results"]
    assert [(row["invited"], row["role"], row["status"]) for row in rows] == [
        ("ghost", "viewer", "pending"),
        ("nina@example.com", "editor", "pending"),
    ]
    assert {key for row in rows for key in row} == {
        "id",
        "team",
        "invited",
        "role",
        "status",
        "invited_by",
        "created_at",
    }


def test_the_team_listing_leaves_out_answered_invitations(team, nina, invitation, client_for):
    client_for(nina).post(reverse("api-invitation-decline", args=[invitation.pk]))

    assert client_for(invitation.invited_by).get(team_invitations_url(team)).json()["results"] == []


@pytest.mark.parametrize("role, expected", [("editor", 403), ("viewer", 403), ("outsider", 404)])
def test_only_owners_list_the_teams_invitations(role, expected, team, invitation, as_role):
    assert as_role(role).get(team_invitations_url(team)).status_code == expected


def test_the_owner_revokes_a_pending_invitation(team, nina, invitation, as_role, client_for):
    response = as_role("owner").post(revoke_url(invitation))

    assert response.status_code == 200
    assert response.json()["status"] == "revoked"
    assert client_for(nina).get(reverse("api-invitations")).json()["results"] == []


@pytest.mark.parametrize("role, expected", [("editor", 403), ("viewer", 403), ("outsider", 404)])
def test_only_owners_revoke(role, expected, team, invitation, as_role):
    assert as_role(role).post(revoke_url(invitation)).status_code == expected
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.PENDING


def test_an_invitation_is_not_revoked_through_another_team(team, other_team, outsider, invitation, client_for):
    assert client_for(outsider).post(revoke_url(invitation, team=other_team)).status_code == 404
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.PENDING


def test_an_answered_invitation_cannot_be_revoked(team, nina, invitation, as_role, client_for):
    client_for(nina).post(reverse("api-invitation-accept", args=[invitation.pk]))

    assert as_role("owner").post(revoke_url(invitation)).status_code == 404
    assert Membership.objects.filter(team=team, user=nina).exists()


def test_the_invitee_lists_their_pending_invitations(team, owner, nina, invitation, client_for):
    response = client_for(nina).get(reverse("api-invitations"))

    assert response.status_code == 200
    assert [
        (row["id"], row["team"], row["team_name"], row["role"], row["invited_by"]) for row in response.json()["results"]
    ] == [(invitation.pk, team.pk, "Vision", "editor", "olivia")]


@pytest.mark.parametrize("someone", ROLES)
def test_nobody_else_sees_an_invitation_in_their_list(someone, nina, invitation, as_role):
    assert as_role(someone).get(reverse("api-invitations")).json()["results"] == []


def test_accepting_makes_the_invitee_a_member_with_the_invited_role(team, nina, invitation, client_for):
    response = client_for(nina).post(reverse("api-invitation-accept", args=[invitation.pk]))

    assert response.status_code == 200
    assert (response.json()["username"], response.json()["role"]) == ("nina", "editor")
    assert Membership.objects.get(team=team, user=nina).role == Role.EDITOR
    assert client_for(nina).get(reverse("api-team", args=[team.pk])).json()["role"] == "editor"


def test_declining_leaves_no_membership(team, nina, invitation, client_for):
    response = client_for(nina).post(reverse("api-invitation-decline", args=[invitation.pk]))

    assert response.status_code == 200
    assert response.json()["status"] == "declined"
    assert not Membership.objects.filter(user=nina).exists()
    assert client_for(nina).get(reverse("api-team", args=[team.pk])).status_code == 404


@pytest.mark.parametrize("answer", ["api-invitation-accept", "api-invitation-decline"])
@pytest.mark.parametrize("someone", ROLES)
def test_only_the_invitee_answers_and_others_are_told_it_does_not_exist(someone, answer, nina, invitation, as_role):
    assert as_role(someone).post(reverse(answer, args=[invitation.pk])).status_code == 404
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.PENDING
    assert not Membership.objects.filter(user=nina).exists()


@pytest.mark.parametrize("answer", ["api-invitation-accept", "api-invitation-decline"])
def test_an_invitation_is_answered_once(answer, team, nina, invitation, client_for):
    client = client_for(nina)
    assert client.post(reverse(answer, args=[invitation.pk])).status_code == 200

    assert client.post(reverse("api-invitation-accept", args=[invitation.pk])).status_code == 404
    assert client.post(reverse("api-invitation-decline", args=[invitation.pk])).status_code == 404
    assert Invitation.objects.get(pk=invitation.pk).status != InvitationStatus.PENDING


def test_anonymous_clients_are_refused(invitation, client_for):
    assert client_for(None).get(reverse("api-invitations")).status_code == 403
    assert client_for(None).post(reverse("api-invitation-accept", args=[invitation.pk])).status_code == 403
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.PENDING


def test_an_invitation_outlives_the_account_of_the_owner_who_sent_it(team, owner, editor, nina, invitation, client_for):
    Membership.objects.filter(team=team, user=editor).update(role=Role.OWNER)
    owner.delete()

    listed = client_for(editor).get(team_invitations_url(team)).json()["results"]
    mine = client_for(nina).get(reverse("api-invitations")).json()["results"]

    assert [(row["invited"], row["invited_by"]) for row in listed] == [("nina@example.com", None)]
    assert [(row["team_name"], row["invited_by"]) for row in mine] == [("Vision", None)]
    assert client_for(nina).post(reverse("api-invitation-accept", args=[invitation.pk])).status_code == 200
