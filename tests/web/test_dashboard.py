import re

import pytest
from django.urls import reverse

from backend.experiments.services import experiment_create
from backend.teams.models import Membership, Role, Team


def counts_in(html: str) -> dict[str, str]:
    return dict((status, count) for count, status in re.findall(r'data-status="\w+">(\d+) (\w+)<', html))


def test_it_lists_the_current_teams_experiments_with_status_counts(client_as, owner, experiment):
    response = client_as(owner).get(reverse("dashboard"))

    html = response.content.decode()
    assert response.status_code == 200
    assert experiment.name in html
    assert counts_in(html) == {"queued": "1", "running": "1", "succeeded": "1", "failed": "1", "canceled": "0"}
    assert "10 %, 30 %" in html


def test_it_orders_experiments_newest_first(client_as, owner, team, dataset, builtin_policies, experiment):
    newer = experiment_create(
        team=team,
        user=owner,
        name="A newer one",
        dataset=dataset,
        model="mlp",
        recipe={},
        policies=[builtin_policies["full"]],
        budgets=[0.5],
        seeds=[1],
    )

    response = client_as(owner).get(reverse("dashboard"))

    assert [row["experiment"].pk for row in response.context["rows"]] == [newer.pk, experiment.pk]


@pytest.mark.parametrize("member", ["owner", "editor", "viewer"])
def test_every_member_sees_the_team_dashboard(client_as, request, member, experiment):
    response = client_as(request.getfixturevalue(member)).get(reverse("team_dashboard", args=["vision"]))

    assert response.status_code == 200
    assert experiment.name in response.content.decode()


def test_an_outsider_gets_404_for_the_team_dashboard(client_as, outsider, other_team, team):
    assert client_as(outsider).get(reverse("team_dashboard", args=["vision"])).status_code == 404


def test_an_outsider_only_sees_their_own_team(client_as, outsider, other_team, experiment):
    html = client_as(outsider).get(reverse("dashboard")).content.decode()

    assert "Elsewhere" in html
    assert experiment.name not in html and "Vision" not in html


def test_only_editors_and_owners_get_the_new_experiment_button(client_as, editor, viewer, team):
    create_url = reverse("experiment_create", args=["vision"])

    assert create_url in client_as(editor).get(reverse("dashboard")).content.decode()
    assert create_url not in client_as(viewer).get(reverse("dashboard")).content.decode()


def test_an_empty_team_says_how_to_start(client_as, editor, team):
    html = client_as(editor).get(reverse("dashboard")).content.decode()

    assert "No experiments yet" in html
    assert "Create the first experiment" in html


def test_a_user_without_a_team_is_invited_to_create_one(client_as, outsider):
    response = client_as(outsider).get(reverse("dashboard"))

    assert response.status_code == 200
    assert "You are not in a team yet" in response.content.decode()
    assert reverse("team_create") in response.content.decode()


def test_the_switcher_lists_the_users_teams_and_the_dashboard_remembers_the_last_one(client_as, owner, team):
    second = Team.objects.create(name="Audio", slug="audio")
    Membership.objects.create(team=second, user=owner, role=Role.VIEWER)
    client = client_as(owner)

    first_visit = client.get(reverse("dashboard"))
    client.get(reverse("team_dashboard", args=["vision"]))
    after_switch = client.get(reverse("dashboard"))

    assert [t.slug for t in first_visit.context["user_teams"]] == ["audio", "vision"]
    assert first_visit.context["team"] == second
    assert after_switch.context["team"] == team


def test_a_remembered_team_the_user_has_left_is_forgotten(client_as, owner, team):
    second = Team.objects.create(name="Audio", slug="audio")
    membership = Membership.objects.create(team=second, user=owner, role=Role.VIEWER)
    client = client_as(owner)
    client.get(reverse("team_dashboard", args=["audio"]))
    membership.delete()

    assert client.get(reverse("dashboard")).context["team"] == team
