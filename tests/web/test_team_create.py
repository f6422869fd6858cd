from django.urls import reverse

from backend.teams.models import Membership, Role, Team


def test_it_creates_a_team_owned_by_its_creator(client_as, outsider):
    response = client_as(outsider).post(reverse("team_create"), {"name": "Speech lab"})

    team = Team.objects.get(name="Speech lab")
    assert response.status_code == 302 and response.url == reverse("team_dashboard", args=[team.slug])
    assert Membership.objects.get(team=team).user == outsider
    assert Membership.objects.get(team=team).role == Role.OWNER


def test_the_new_team_becomes_the_current_one(client_as, owner, team):
    client = client_as(owner)
    client.post(reverse("team_create"), {"name": "Speech lab"})

    assert client.get(reverse("dashboard")).context["team"].name == "Speech lab"


def test_a_blank_name_is_shown_at_the_field_and_nothing_is_created(client_as, outsider):
    response = client_as(outsider).post(reverse("team_create"), {"name": "   "})

    assert response.status_code == 400
    assert response.context["form"].errors["name"] == ["This field is required."]
    assert not Team.objects.exists()


def test_an_overlong_name_is_refused(client_as, owner, team):
    response = client_as(owner).post(reverse("team_create"), {"name": "x" * 101})

    assert response.status_code == 400
    assert "name" in response.context["form"].errors
    assert Team.objects.count() == 1


def test_it_only_accepts_post(client_as, owner):
    assert client_as(owner).get(reverse("team_create")).status_code == 405
