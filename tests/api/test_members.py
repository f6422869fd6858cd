import pytest
from django.urls import reverse

from backend.teams.models import Invitation, Membership, Role
from tests.api.conftest import ROLES
from tests.conftest import make_user


def members_url(team):
    return reverse("api-team-members", args=[team.pk])


def member_url(membership):
    return reverse("api-team-member", args=[membership.team_id, membership.pk])


@pytest.fixture
def newcomer(db):
    return make_user("nina")


@pytest.mark.parametrize("role, expected", [(role, 404 if role == "outsider" else 200) for role in ROLES])
def test_any_member_lists_the_members(role, expected, team, as_role):
    response = as_role(role).get(members_url(team))

    assert response.status_code == expected
    if expected == 200:
        assert [(row["username"], row["role"]) for row in response.json()["results"]] == [
            ("eddie", "editor"),
            ("olivia", "owner"),
            ("vera", "viewer"),
        ]


def test_listing_members_does_not_query_per_member(team, as_role, django_assert_max_num_queries):
    for index in range(10):
        Membership.objects.create(team=team, user=make_user(f"member{index}"), role=Role.VIEWER)
    client = as_role("viewer")

    with django_assert_max_num_queries(5):
        response = client.get(members_url(team))

    assert len(response.json()["results"]) == 13


@pytest.mark.parametrize("identifier", ["nina", "NINA@example.com"])
def test_adding_a_member_invites_them_and_makes_no_membership_yet(identifier, team, newcomer, as_role):
    response = as_role("owner").post(members_url(team), {"user": identifier, "role": "editor"}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert (body["invited"], body["role"], body["status"], body["invited_by"]) == (
        identifier,
        "editor",
        "pending",
        "olivia",
    )
    assert Invitation.objects.get(pk=body["id"]).invitee == newcomer
    assert not Membership.objects.filter(user=newcomer).exists()


@pytest.mark.parametrize("role, expected", [("editor", 403), ("viewer", 403), ("outsider", 404)])
@pytest.mark.parametrize("identifier", ["nina", "ghost"])
def test_only_the_owner_adds_members(role, expected, identifier, team, newcomer, as_role):
    response = as_role(role).post(members_url(team), {"user": identifier, "role": "viewer"}, format="json")

    assert response.status_code == expected
    assert not Invitation.objects.exists()


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"user": "vera", "role": "viewer"}, "user"),
        ({"user": "VERA@example.com", "role": "owner"}, "user"),
        ({"user": "not a name!", "role": "viewer"}, "user"),
        ({"user": "nina", "role": "admin"}, "role"),
        ({"role": "viewer"}, "user"),
    ],
)
def test_adding_a_member_rejects_bad_input_and_writes_nothing(payload, field, team, newcomer, as_role):
    before = Membership.objects.count()

    response = as_role("owner").post(members_url(team), payload, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert Membership.objects.count() == before
    assert not Invitation.objects.exists()


def test_the_owner_changes_a_role(team, editor, as_role):
    membership = Membership.objects.get(team=team, user=editor)

    response = as_role("owner").patch(member_url(membership), {"role": "viewer"}, format="json")

    assert response.status_code == 200
    assert response.json()["role"] == "viewer"
    membership.refresh_from_db()
    assert membership.role == Role.VIEWER


@pytest.mark.parametrize("role, expected", [("editor", 403), ("viewer", 403), ("outsider", 404)])
def test_only_the_owner_changes_roles(role, expected, team, viewer, as_role):
    membership = Membership.objects.get(team=team, user=viewer)

    response = as_role(role).patch(member_url(membership), {"role": "owner"}, format="json")

    assert response.status_code == expected
    membership.refresh_from_db()
    assert membership.role == Role.VIEWER


def test_the_last_owner_cannot_be_demoted(team, owner, as_role):
    membership = Membership.objects.get(team=team, user=owner)

    response = as_role("owner").patch(member_url(membership), {"role": "editor"}, format="json")

    assert response.status_code == 409
    membership.refresh_from_db()
    assert membership.role == Role.OWNER


def test_an_owner_can_step_down_once_another_owner_exists(team, owner, editor, as_role):
    Membership.objects.filter(team=team, user=editor).update(role=Role.OWNER)
    membership = Membership.objects.get(team=team, user=owner)

    response = as_role("owner").patch(member_url(membership), {"role": "viewer"}, format="json")

    assert response.status_code == 200
    membership.refresh_from_db()
    assert membership.role == Role.VIEWER


def test_the_owner_removes_a_member(team, viewer, as_role):
    membership = Membership.objects.get(team=team, user=viewer)

    response = as_role("owner").delete(member_url(membership))

    assert response.status_code == 204
    assert not Membership.objects.filter(pk=membership.pk).exists()


@pytest.mark.parametrize("role, expected", [("editor", 403), ("viewer", 403), ("outsider", 404)])
def test_only_the_owner_removes_members(role, expected, team, viewer, as_role):
    membership = Membership.objects.get(team=team, user=viewer)

    response = as_role(role).delete(member_url(membership))

    assert response.status_code == expected
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_the_last_owner_cannot_be_removed(team, owner, as_role):
    membership = Membership.objects.get(team=team, user=owner)

    response = as_role("owner").delete(member_url(membership))

    assert response.status_code == 409
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_a_membership_of_another_team_is_not_found_through_this_team(team, other_team, as_role):
    foreign = Membership.objects.get(team=other_team)
    url = reverse("api-team-member", args=[team.pk, foreign.pk])

    assert as_role("owner").delete(url).status_code == 404
    assert as_role("owner").patch(url, {"role": "viewer"}, format="json").status_code == 404
    assert Membership.objects.filter(pk=foreign.pk, role=Role.OWNER).exists()
