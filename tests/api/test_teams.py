import pytest
from django.urls import reverse

from backend.teams.models import Membership, Role, Team
from tests.api.conftest import ROLES


def test_anonymous_gets_no_teams(team, client_for):
    assert client_for(None).get(reverse("api-teams")).status_code in (401, 403)


@pytest.mark.parametrize("role", ["owner", "editor", "viewer"])
def test_it_lists_the_callers_teams_with_their_role(role, as_role):
    response = as_role(role).get(reverse("api-teams"))

    assert response.status_code == 200
    assert [(row["name"], row["role"]) for row in response.json()["results"]] == [("Vision", role)]


def test_an_outsider_sees_only_their_own_team(as_role):
    response = as_role("outsider").get(reverse("api-teams"))

    assert [(row["name"], row["role"]) for row in response.json()["results"]] == [("Elsewhere", "owner")]


def test_creating_a_team_makes_the_creator_its_owner(outsider, client_for):
    response = client_for(outsider).post(reverse("api-teams"), {"name": "Speech"}, format="json")

    assert response.status_code == 201
    assert response.json()["role"] == "owner"
    team = Team.objects.get(pk=response.json()["id"])
    assert team.name == "Speech"
    assert Membership.objects.get(team=team).user == outsider
    assert Membership.objects.get(team=team).role == Role.OWNER


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_it_rejects_a_bad_team_name_and_writes_nothing(name, outsider, client_for):
    teams_before = Team.objects.count()

    response = client_for(outsider).post(reverse("api-teams"), {"name": name}, format="json")

    assert response.status_code == 400
    assert "name" in response.json()
    assert Team.objects.count() == teams_before


@pytest.mark.parametrize("role, expected", [(role, 404 if role == "outsider" else 200) for role in ROLES])
def test_team_detail_is_for_members_only(role, expected, team, as_role):
    response = as_role(role).get(reverse("api-team", args=[team.pk]))

    assert response.status_code == expected
    if expected == 200:
        assert response.json()["role"] == role
        assert response.json()["slug"] == "vision"


def test_a_missing_team_is_404(team, as_role):
    assert as_role("owner").get(reverse("api-team", args=[team.pk + 1000])).status_code == 404
