import pytest
from django.urls import reverse

from backend.policies.models import SamplingPolicy
from workers.engine.strategies import STRATEGIES


def policies_url():
    return reverse("team_policies", args=["vision"])


@pytest.mark.parametrize("member", ["owner", "editor", "viewer"])
def test_every_member_sees_every_built_in_policy_with_its_family(client_as, request, member, team, builtin_policies):
    response = client_as(request.getfixturevalue(member)).get(policies_url())

    assert response.status_code == 200
    shown = {row["policy"].strategy: row["family"] for row in response.context["builtin_rows"]}
    assert shown == {key: strategy.family for key, strategy in STRATEGIES.items()}
    assert 'data-policy="RS2 without replacement"' in response.content.decode()


def test_it_lists_the_teams_own_policies_with_their_parameters(client_as, owner, team, other_team):
    SamplingPolicy.objects.create(
        team=team, name="Balanced static", strategy="random_static", params={"class_balanced": True}
    )
    SamplingPolicy.objects.create(team=other_team, name="Their policy", strategy="full", params={})

    response = client_as(owner).get(policies_url())

    html = response.content.decode()
    assert [row["policy"].name for row in response.context["team_rows"]] == ["Balanced static"]
    assert "class_balanced = True" in html
    assert "Their policy" not in html


def test_a_team_without_policies_is_pointed_at_the_built_in_ones(client_as, viewer, team):
    html = client_as(viewer).get(policies_url()).content.decode()

    assert "has no policies of its own yet" in html


def test_an_outsider_gets_404(client_as, outsider, team):
    assert client_as(outsider).get(policies_url()).status_code == 404
