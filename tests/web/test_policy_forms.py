"""Policy forms generated from each strategy's parameter schema: create, edit and delete a team's policies."""

import re

import pytest
from django.urls import reverse

from backend.experiments.services import experiment_create
from backend.policies.models import SamplingPolicy
from workers.engine.strategies import STRATEGIES, resolve_strategy_params

LIST_URL = reverse("team_policies", args=["vision"])


def edit_url(policy):
    return reverse("policy_edit", args=[policy.pk])


def delete_url(policy):
    return reverse("policy_delete", args=[policy.pk])


def field_errors(html: str, field: str, strategy: str | None = None) -> list[str]:
    """The error messages shown inside the wrapper of ``data-field=field`` (in one strategy's fieldset)."""
    if strategy is not None:
        html = re.search(rf'data-strategy="{strategy}"[^>]*>(.*?)</fieldset>', html, re.S).group(1)
    wrapper = re.search(rf'data-field="{re.escape(field)}">(.*?)</div>\s*(?=<div class="field|</div>)', html, re.S)
    assert wrapper, f"no field {field} on the page"
    return re.findall(r'<p class="error">(.*?)</p>', wrapper.group(1))


def as_submitted(strategy: str, **params) -> dict[str, str]:
    """What a browser submits for a strategy's fields: every default as shown, then the changed ones.

    An unticked checkbox sends nothing.
    """
    values: dict[str, object] = {param.name: param.default for param in STRATEGIES[strategy].params}
    values.update(params)
    submitted = {}
    for name, value in values.items():
        if value is True:
            submitted[f"{strategy}-{name}"] = "on"
        elif value is not False:
            submitted[f"{strategy}-{name}"] = "" if value is None else str(value)
    return submitted


def create(client, strategy: str, name: str = "Tuned", **params):
    return client.post(
        LIST_URL, {"strategy": strategy, "name": name, "description": "", **as_submitted(strategy, **params)}
    )


@pytest.fixture
def team_policy(team):
    return SamplingPolicy.objects.create(
        team=team, name="Hard EL2N", strategy="el2n", params=resolve_strategy_params("el2n", {"offset": 0.1})
    )


def used_by_an_experiment(policy, *, team, owner, dataset):
    experiment_create(
        team=team,
        user=owner,
        name="Uses the policy",
        dataset=dataset,
        model="mlp",
        recipe={},
        policies=[policy],
        budgets=[0.5],
        seeds=[0],
    )


def test_the_form_has_a_field_for_every_declared_parameter_of_every_strategy(client_as, editor, team):
    response = client_as(editor).get(LIST_URL)

    assert response.status_code == 200
    forms = {form.strategy.key: form for form in response.context["params_forms"]}
    assert set(forms) == set(STRATEGIES)
    for key, strategy in STRATEGIES.items():
        assert list(forms[key].fields) == [param.name for param in strategy.params]
    html = response.content.decode()
    assert re.search(r'<input type="number" name="ccs-hard_cutoff" value="0.1" step="any" min="0" max="0.9"', html)
    assert '<option value="forgetting">forgetting</option>' in html


def test_a_strategy_named_in_the_address_is_chosen_and_its_fields_shown(client_as, editor, team):
    html = client_as(editor).get(LIST_URL, {"strategy": "infobatch"}).content.decode()

    assert re.search(r'<fieldset class="strategy-params" data-strategy="infobatch">', html)
    assert re.search(r'<fieldset class="strategy-params" data-strategy="el2n" hidden disabled>', html)
    assert '<option value="infobatch" selected>' in html


def test_an_editor_creates_a_policy_from_its_strategys_form(client_as, editor, team):
    client = client_as(editor)

    response = create(client, "el2n", name="Late EL2N", offset="0.2", proxy_rounds="20", class_balanced=True)

    assert response.status_code == 302
    policy = SamplingPolicy.objects.get(team=team, name="Late EL2N")
    assert policy.strategy == "el2n"
    assert policy.params == resolve_strategy_params(
        "el2n", {"offset": 0.2, "proxy_rounds": 20, "proxy_repeats": 1, "class_balanced": True}
    )
    listed = client.get(response.url)
    assert "Created Late EL2N." in listed.content.decode()
    assert [row["policy"] for row in listed.context["team_rows"]] == [policy]


def test_an_empty_nullable_parameter_is_stored_as_its_null_default(client_as, editor, team):
    response = create(client_as(editor), "self_supervised_prototypes", clusters="", proxy_model="", keep="easy")

    assert response.status_code == 302
    params = SamplingPolicy.objects.get(team=team, name="Tuned").params
    assert (params["clusters"], params["proxy_model"], params["keep"]) == (None, None, "easy")


def test_every_value_the_engine_refuses_is_shown_at_its_own_field_and_nothing_is_stored(client_as, editor, team):
    response = create(client_as(editor), "ccs", hard_cutoff="0.95", strata="0", proxy_repeats="abc", score="median")

    assert response.status_code == 400
    html = response.content.decode()
    assert field_errors(html, "params.hard_cutoff", "ccs") == ["Must be at most 0.9"]
    assert field_errors(html, "params.strata", "ccs") == ["Must be at least 1"]
    assert field_errors(html, "params.proxy_repeats", "ccs") == ["Enter a whole number."]
    assert field_errors(html, "params.score", "ccs") == ["Must be one of el2n, forgetting; got &#x27;median&#x27;"]
    assert field_errors(html, "params.proxy_rounds", "ccs") == []
    assert re.search(r'<fieldset class="strategy-params" data-strategy="ccs">', html)
    assert not SamplingPolicy.objects.filter(team=team).exists()


def test_an_empty_value_that_may_not_be_null_is_refused_at_its_field(client_as, editor, team):
    response = create(client_as(editor), "el2n", offset="")

    assert response.status_code == 400
    assert field_errors(response.content.decode(), "params.offset", "el2n") == ["May not be null"]
    assert not SamplingPolicy.objects.filter(team=team).exists()


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"strategy": "", "name": "X"}, "strategy", "This field is required."),
        ({"strategy": "no_such_strategy", "name": "X"}, "strategy", "Select a valid choice."),
        ({"strategy": "full", "name": "Hard EL2N"}, "name", "This team already has a policy named"),
        ({"strategy": "full", "name": ""}, "name", "This field is required."),
    ],
)
def test_a_bad_strategy_or_name_is_shown_at_its_field(data, field, message, client_as, editor, team, team_policy):
    response = client_as(editor).post(LIST_URL, {"description": "", **data})

    assert response.status_code == 400
    assert message in " ".join(field_errors(response.content.decode(), field))
    assert SamplingPolicy.objects.filter(team=team).count() == 1


def test_a_viewer_sees_no_form_and_cannot_create(client_as, viewer, team):
    html = client_as(viewer).get(LIST_URL).content.decode()

    assert 'id="new-policy"' not in html
    assert create(client_as(viewer), "full").status_code == 403
    assert not SamplingPolicy.objects.filter(team=team).exists()


def test_an_outsider_can_neither_see_nor_create(client_as, outsider, team):
    assert client_as(outsider).get(LIST_URL).status_code == 404
    assert create(client_as(outsider), "full").status_code == 404
    assert not SamplingPolicy.objects.filter(team=team).exists()


def test_team_policies_link_to_their_edit_page_and_built_ins_do_not(client_as, editor, viewer, team, team_policy):
    editor_html = client_as(editor).get(LIST_URL).content.decode()
    viewer_html = client_as(viewer).get(LIST_URL).content.decode()

    assert re.findall(r'href="/policies/(\d+)/edit/"', editor_html) == [str(team_policy.pk)]
    assert "/edit/" not in viewer_html


def test_the_edit_form_holds_the_stored_parameters(client_as, editor, team_policy):
    response = client_as(editor).get(edit_url(team_policy))

    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'name="el2n-offset" value="0.1"', html)
    assert 'name="name" value="Hard EL2N"' in html


def test_an_editor_changes_a_policys_parameters_and_name(client_as, editor, team_policy):
    data = {"name": "Harder EL2N", "description": "Drops more"}
    data.update(as_submitted("el2n", offset="0.3", proxy_rounds="10", proxy_repeats="2"))

    response = client_as(editor).post(edit_url(team_policy), data)

    assert response.status_code == 302
    team_policy.refresh_from_db()
    assert (team_policy.name, team_policy.description) == ("Harder EL2N", "Drops more")
    assert team_policy.params == resolve_strategy_params(
        "el2n", {"offset": 0.3, "proxy_rounds": 10, "proxy_repeats": 2}
    )


def test_a_bad_edit_is_shown_at_its_field_and_changes_nothing(client_as, editor, team_policy):
    data = {"name": "Renamed", "description": "", **as_submitted("el2n", offset="2")}

    response = client_as(editor).post(edit_url(team_policy), data)

    assert response.status_code == 400
    assert field_errors(response.content.decode(), "params.offset") == ["Must be at most 0.9"]
    team_policy.refresh_from_db()
    assert (team_policy.name, team_policy.params["offset"]) == ("Hard EL2N", 0.1)


def test_a_used_policy_keeps_its_parameters_but_can_be_renamed(client_as, owner, editor, team, dataset, team_policy):
    used_by_an_experiment(team_policy, team=team, owner=owner, dataset=dataset)
    before = dict(team_policy.params)
    page = client_as(editor).get(edit_url(team_policy)).content.decode()

    response = client_as(editor).post(edit_url(team_policy), {"name": "Paper EL2N", "el2n-offset": "0.5"})

    assert "Used by 1 experiment" in page
    assert re.search(r'name="el2n-offset" value="0.1"[^>]* disabled', page)
    assert response.status_code == 302
    team_policy.refresh_from_db()
    assert (team_policy.name, team_policy.params) == ("Paper EL2N", before)


@pytest.mark.parametrize("member, expected", [("viewer", 403), ("outsider", 404)])
def test_only_editors_and_owners_reach_the_edit_and_delete_of_a_policy(
    member, expected, request, client_as, team_policy
):
    client = client_as(request.getfixturevalue(member))

    assert client.get(edit_url(team_policy)).status_code == expected
    assert client.post(edit_url(team_policy), {"name": "Mine"}).status_code == expected
    assert client.post(delete_url(team_policy)).status_code == expected
    team_policy.refresh_from_db()
    assert team_policy.name == "Hard EL2N"


def test_built_in_policies_have_no_edit_or_delete(client_as, owner, team, builtin_policies):
    policy = builtin_policies["el2n"]

    assert client_as(owner).get(edit_url(policy)).status_code == 404
    assert client_as(owner).post(delete_url(policy)).status_code == 404
    assert SamplingPolicy.objects.filter(pk=policy.pk).exists()


def test_an_editor_deletes_an_unused_policy(client_as, editor, team, team_policy):
    page = client_as(editor).get(edit_url(team_policy)).content.decode()

    response = client_as(editor).post(delete_url(team_policy))

    assert f'action="{delete_url(team_policy)}"' in page
    assert response.status_code == 302 and response.url == LIST_URL
    assert not SamplingPolicy.objects.filter(pk=team_policy.pk).exists()


def test_deleting_a_used_policy_is_refused_with_a_clear_message(client_as, owner, team, dataset, team_policy):
    used_by_an_experiment(team_policy, team=team, owner=owner, dataset=dataset)

    response = client_as(owner).post(delete_url(team_policy), follow=True)

    html = response.content.decode()
    assert "Policy &#x27;Hard EL2N&#x27; cannot be deleted while experiments use it." in html
    assert "used by 1 experiment(s)" in html
    assert "cannot be deleted while experiments use it" in html
    assert f'action="{delete_url(team_policy)}"' not in html
    assert SamplingPolicy.objects.filter(pk=team_policy.pk).exists()
