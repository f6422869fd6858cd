import pytest
from django.urls import reverse

from backend.experiments.services import experiment_create
from backend.policies.models import SamplingPolicy
from tests.api.conftest import ROLES
from workers.engine.strategies import STRATEGIES, resolve_strategy_params

LIST_URL = reverse("api-policies")


def detail_url(policy):
    return reverse("api-policy", args=[policy.pk])


def names(response) -> set[str]:
    return {row["name"] for row in response.json()["results"]}


@pytest.mark.parametrize("role", ["owner", "editor", "viewer"])
def test_members_see_builtins_and_their_teams_policies(role, team_policy, foreign_policy, builtin_policies, as_role):
    response = as_role(role).get(LIST_URL)

    assert response.status_code == 200
    assert names(response) == {policy.name for policy in builtin_policies.values()} | {"Balanced RS2"}


def test_an_outsider_sees_builtins_and_only_their_own_policies(team_policy, foreign_policy, as_role):
    response = as_role("outsider").get(LIST_URL)

    assert "Their RS2" in names(response)
    assert "Balanced RS2" not in names(response)
    assert len(names(response)) == len(STRATEGIES) + 1


def test_there_is_a_builtin_policy_for_every_strategy(as_role):
    response = as_role("viewer").get(LIST_URL, {"builtin": "true"})

    rows = response.json()["results"]
    assert {row["strategy"] for row in rows} == set(STRATEGIES)
    assert all(row["is_builtin"] and row["team"] is None for row in rows)


@pytest.mark.parametrize(
    "query, expected",
    [
        (lambda team: {"team": team.pk}, {"Balanced RS2"}),
        (lambda team: {"strategy": "rs2_with_replacement"}, {"Balanced RS2", "RS2 with replacement"}),
        (lambda team: {"builtin": "false"}, {"Balanced RS2"}),
    ],
    ids=["team", "strategy", "not-builtin"],
)
def test_policies_filter_by_team_strategy_and_origin(query, expected, team, team_policy, foreign_policy, as_role):
    response = as_role("viewer").get(LIST_URL, query(team))

    assert response.status_code == 200
    assert names(response) == expected


@pytest.mark.parametrize("role", ROLES)
def test_anyone_logged_in_reads_a_builtin_policy(role, builtin_policies, as_role):
    policy = builtin_policies["rs2_without_replacement"]

    response = as_role(role).get(detail_url(policy))

    assert response.status_code == 200
    assert response.json()["strategy"] == "rs2_without_replacement"


@pytest.mark.parametrize("role, expected", [(role, 404 if role == "outsider" else 200) for role in ROLES])
def test_a_team_policy_is_for_members_only(role, expected, team_policy, as_role):
    response = as_role(role).get(detail_url(team_policy))

    assert response.status_code == expected
    if expected == 200:
        assert response.json()["params"] == {"class_balanced": True}


def test_anonymous_cannot_read_policies(builtin_policies, client_for):
    assert client_for(None).get(LIST_URL).status_code in (401, 403)


@pytest.mark.parametrize("role", ["owner", "editor"])
def test_editors_and_owners_create_policies_with_defaults_filled(role, team, as_role):
    payload = {"team": team.pk, "name": "Static balanced", "strategy": "random_static", "params": {}}

    response = as_role(role).post(LIST_URL, payload, format="json")

    assert response.status_code == 201, response.json()
    policy = SamplingPolicy.objects.get(pk=response.json()["id"])
    assert (policy.team, policy.strategy, policy.params) == (team, "random_static", {"class_balanced": False})
    assert response.json()["is_builtin"] is False


def test_a_viewer_cannot_create_policies(team, as_role):
    before = SamplingPolicy.objects.count()

    response = as_role("viewer").post(
        LIST_URL, {"team": team.pk, "name": "Mine", "strategy": "random_static"}, format="json"
    )

    assert response.status_code == 403
    assert SamplingPolicy.objects.count() == before


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"strategy": "no_such_strategy"}, "strategy"),
        ({"strategy": "random_static", "params": {"class_balanced": "yes"}}, "params.class_balanced"),
        ({"strategy": "random_static", "params": {"fraction": 0.5}}, "params.fraction"),
        ({"strategy": "random_static", "params": [1, 2]}, "params"),
        ({"strategy": "random_static", "name": ""}, "name"),
        ({"strategy": "random_static", "name": "Balanced RS2"}, "name"),
        ({"strategy": "random_static", "team": "abc"}, "team"),
    ],
)
def test_bad_policy_payloads_name_the_field_and_store_nothing(payload, field, team, team_policy, as_role):
    before = SamplingPolicy.objects.count()

    response = as_role("editor").post(LIST_URL, {"team": team.pk, "name": "New", **payload}, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert SamplingPolicy.objects.count() == before


def out_of_range_params():
    """For every declared parameter of every strategy, one value its schema refuses."""
    for strategy in STRATEGIES.values():
        for param in strategy.params:
            if param.maximum is not None:
                yield strategy.key, param.name, param.maximum + 1
            if param.minimum is not None:
                yield strategy.key, param.name, param.minimum - 1
            if param.choices:
                yield strategy.key, param.name, "no-such-choice"
            if param.type == "bool":
                yield strategy.key, param.name, 1


@pytest.mark.parametrize("strategy, name, value", list(out_of_range_params()))
def test_every_out_of_range_strategy_parameter_is_a_400_naming_it(strategy, name, value, team, as_role):
    before = SamplingPolicy.objects.count()

    response = as_role("editor").post(
        LIST_URL, {"team": team.pk, "name": "New", "strategy": strategy, "params": {name: value}}, format="json"
    )

    assert response.status_code == 400
    assert f"params.{name}" in response.json()
    assert SamplingPolicy.objects.count() == before


def test_an_outsider_cannot_create_a_policy_in_the_team(team, as_role):
    before = SamplingPolicy.objects.count()

    response = as_role("outsider").post(
        LIST_URL, {"team": team.pk, "name": "Sneaky", "strategy": "random_static"}, format="json"
    )

    assert response.status_code == 400
    assert "team" in response.json()
    assert SamplingPolicy.objects.count() == before


@pytest.mark.parametrize("role, expected", [("owner", 204), ("editor", 204), ("viewer", 403), ("outsider", 404)])
def test_editors_and_owners_delete_team_policies(role, expected, team_policy, as_role):
    response = as_role(role).delete(detail_url(team_policy))

    assert response.status_code == expected
    assert SamplingPolicy.objects.filter(pk=team_policy.pk).exists() == (expected != 204)


def test_builtin_policies_cannot_be_deleted(builtin_policies, as_role):
    policy = builtin_policies["full"]

    response = as_role("owner").delete(detail_url(policy))

    assert response.status_code == 403
    assert SamplingPolicy.objects.filter(pk=policy.pk).exists()


def test_a_policy_used_by_an_experiment_cannot_be_deleted(team, editor, dataset, team_policy, as_role):
    experiment_create(
        team=team,
        user=editor,
        name="Uses the team policy",
        dataset=dataset,
        model="mlp",
        recipe={},
        policies=[team_policy],
        budgets=[0.5],
        seeds=[0],
    )

    response = as_role("editor").delete(detail_url(team_policy))

    assert response.status_code == 409
    assert "experiment" in response.json()["detail"]
    assert SamplingPolicy.objects.filter(pk=team_policy.pk).exists()


def use_in_experiment(policy, *, team, editor, dataset):
    return experiment_create(
        team=team,
        user=editor,
        name=f"Uses {policy.name}",
        dataset=dataset,
        model="mlp",
        recipe={},
        policies=[policy],
        budgets=[0.5],
        seeds=[0],
    )


@pytest.mark.parametrize("role", ["owner", "editor"])
def test_editors_and_owners_rename_and_reparameterise_a_team_policy(role, team_policy, as_role):
    payload = {"name": "Plain RS2", "description": "Without balance", "params": {"class_balanced": False}}

    response = as_role(role).patch(detail_url(team_policy), payload, format="json")

    assert response.status_code == 200, response.json()
    team_policy.refresh_from_db()
    assert (team_policy.name, team_policy.description, team_policy.params) == (
        "Plain RS2",
        "Without balance",
        {"class_balanced": False},
    )
    assert response.json()["params"] == {"class_balanced": False}


def test_patched_parameters_replace_the_old_ones_with_defaults_filled(team, editor, as_role):
    policy = SamplingPolicy.objects.create(
        team=team, name="Hard EL2N", strategy="el2n", params={"offset": 0.2, "proxy_rounds": 3}
    )

    response = as_role("editor").patch(detail_url(policy), {"params": {"proxy_rounds": 7}}, format="json")

    assert response.status_code == 200, response.json()
    policy.refresh_from_db()
    assert policy.params == {**resolve_strategy_params("el2n", {}), "proxy_rounds": 7}
    assert policy.params["offset"] == 0.0


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"params": {"class_balanced": "yes"}}, "params.class_balanced"),
        ({"params": {"fraction": 0.5}}, "params.fraction"),
        ({"params": [1]}, "params"),
        ({"name": "  "}, "name"),
        ({"name": "Other RS2"}, "name"),
        ({"strategy": "random_static"}, "strategy"),
    ],
)
def test_a_bad_patch_names_the_field_and_changes_nothing(payload, field, team, team_policy, as_role):
    SamplingPolicy.objects.create(team=team, name="Other RS2", strategy="rs2_with_replacement", params={})
    before = SamplingPolicy.objects.filter(pk=team_policy.pk).values().get()

    response = as_role("editor").patch(detail_url(team_policy), payload, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert SamplingPolicy.objects.filter(pk=team_policy.pk).values().get() == before


@pytest.mark.parametrize("role, expected", [("viewer", 403), ("outsider", 404)])
def test_viewers_and_outsiders_cannot_patch_a_team_policy(role, expected, team_policy, as_role):
    response = as_role(role).patch(detail_url(team_policy), {"name": "Mine now"}, format="json")

    assert response.status_code == expected
    team_policy.refresh_from_db()
    assert team_policy.name == "Balanced RS2"


def test_builtin_policies_are_read_only(builtin_policies, as_role):
    policy = builtin_policies["random_static"]

    response = as_role("owner").patch(detail_url(policy), {"params": {"class_balanced": True}}, format="json")

    assert response.status_code == 403
    policy.refresh_from_db()
    assert policy.params == {"class_balanced": False}


def test_the_parameters_of_a_policy_an_experiment_uses_cannot_change(team, editor, dataset, team_policy, as_role):
    use_in_experiment(team_policy, team=team, editor=editor, dataset=dataset)

    response = as_role("editor").patch(detail_url(team_policy), {"params": {"class_balanced": False}}, format="json")

    assert response.status_code == 409
    assert "experiment" in response.json()["detail"]
    team_policy.refresh_from_db()
    assert team_policy.params == {"class_balanced": True}


def test_a_policy_an_experiment_uses_can_still_be_renamed(team, editor, dataset, team_policy, as_role):
    use_in_experiment(team_policy, team=team, editor=editor, dataset=dataset)

    response = as_role("editor").patch(
        detail_url(team_policy), {"name": "Balanced RS2 (paper)", "params": {"class_balanced": True}}, format="json"
    )

    assert response.status_code == 200, response.json()
    team_policy.refresh_from_db()
    assert (team_policy.name, team_policy.params) == ("Balanced RS2 (paper)", {"class_balanced": True})
