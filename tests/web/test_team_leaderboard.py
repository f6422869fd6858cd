"""The team leaderboard page: what the team has run, and each combination's pooled leaderboard."""

from __future__ import annotations

import re

from django.urls import reverse

from backend.experiments.models import Execution
from backend.experiments.services import experiment_create


def leaderboard_url(team, **query):
    url = reverse("team_leaderboard", args=[team.slug])
    return url + ("?" + "&".join(f"{key}={value}" for key, value in query.items()) if query else "")


def strategies_in_order(html):
    return re.findall(r'<tr data-policy="\d+" data-strategy="([a-z0-9_]+)"', html)


def test_the_page_lists_what_the_team_ran_and_shows_the_first_leaderboard(client_as, viewer, team, comparison):
    response = client_as(viewer).get(leaderboard_url(team))

    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('<tr data-set="') == 2
    assert "tiny-digits · mlp at 10 %" in html
    assert strategies_in_order(html) == ["rs2_without_replacement", "random_static", "full"]
    assert reverse("api-team-leaderboard-csv", args=[team.pk]) in html


def test_a_reused_run_counts_once_on_the_page(client_as, viewer, owner, team, dataset, comparison):
    experiment_create(
        team=team,
        user=owner,
        name="Again",
        dataset=dataset,
        model="mlp",
        recipe={"rounds": 2, "target_accuracy": 0.7},
        policies=list(comparison.policies.all()),
        budgets=[0.3],
        seeds=[0, 1, 2],
    )

    html = client_as(viewer).get(leaderboard_url(team, dataset=dataset.pk, budget=0.3)).content.decode()

    assert "tiny-digits · mlp at 30 %" in html
    static = re.search(r'data-strategy="random_static".*?</tr>', html, re.S).group(0)
    assert ">3/3<" in static


def test_the_baseline_and_target_can_be_chosen(client_as, viewer, team, dataset, comparison, builtin_policies):
    static = builtin_policies["random_static"].pk

    html = client_as(viewer).get(leaderboard_url(team, dataset=dataset.pk, baseline=static, target=60)).content.decode()

    assert f'<option value="{static}" selected>' in html and "Time to 60.0 %" in html
    assert '<span class="verdict verdict-better">better</span>' in html


def test_a_combination_the_team_never_ran_is_named(client_as, viewer, team, comparison):
    html = client_as(viewer).get(leaderboard_url(team, model="resnet18")).content.decode()

    assert 'data-error="dataset"' in html and 'id="team-leaderboard"' not in html


def test_the_navigation_and_the_dataset_page_lead_here(client_as, viewer, team, dataset, comparison):
    html = client_as(viewer).get(reverse("team_datasets", args=[team.slug])).content.decode()

    assert f'href="{leaderboard_url(team)}"' in html
    assert f'href="{leaderboard_url(team, dataset=dataset.pk)}"' in html


def test_an_outsider_gets_404(client_as, outsider, other_team, team, comparison):
    assert client_as(outsider).get(leaderboard_url(team)).status_code == 404


def test_the_pooled_leaderboard_shows_the_data_used_and_marks_a_policy_off_its_budget(
    client_as, viewer, team, dataset, comparison
):
    # The static subset at 10 % trains on 47 of the 100 examples a round over its 2 rounds.
    Execution.objects.filter(cells__experiment=comparison, cells__policy__strategy="random_static").filter(
        cells__budget=0.1
    ).update(samples_trained=94, rounds_completed=2)

    html = client_as(viewer).get(leaderboard_url(team, dataset=dataset.pk, budget=0.1)).content.decode()

    static = re.search(r'data-strategy="random_static".*?</tr>', html, re.S).group(0)
    rs2 = re.search(r'data-strategy="rs2_without_replacement".*?</tr>', html, re.S).group(0)
    assert '47.0 % <span class="off-budget-note">of a 10 % budget</span></td>' in static
    assert "data-data-used>10.0 %</td>" in rs2
