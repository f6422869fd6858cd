"""Share links in the browser: owners manage them on the experiment page; a link opens a read-only experiment."""

import pytest
from django.urls import reverse

from backend.experiments.models import Attempt, RunStatus, ShareLink
from backend.experiments.services import experiment_create, share_link_create, share_link_revoke

MEMBERS = ("olivia", "eddie", "vera")


def detail_url(experiment):
    return reverse("experiment_detail", args=[experiment.pk])


def share_url(link):
    return reverse("share_experiment", args=[link.token])


@pytest.fixture
def share_link(experiment, owner):
    return share_link_create(experiment=experiment, user=owner)


@pytest.fixture
def other_experiment(team, owner, dataset, builtin_policies):
    """Another experiment of the same team: a share link to the first must not reveal it."""
    return experiment_create(
        team=team,
        user=owner,
        name="Secret pruning sweep",
        dataset=dataset,
        model="mlp",
        recipe={"rounds": 20, "target_accuracy": 0.8},
        policies=[builtin_policies["rs2_without_replacement"]],
        budgets=[0.1],
        seeds=[0],
    )


def assert_nothing_of_the_team(html: str) -> None:
    for username in MEMBERS:
        assert username not in html
        assert f"{username}@example.com" not in html
    assert "Vision" not in html and "/teams/" not in html
    assert 'href="/experiments/' not in html and 'href="/runs/' not in html
    assert "Secret pruning sweep" not in html
    assert "created by" not in html.lower() and "Log out" not in html and "/datasets" not in html


# ---------------------------------------------------------------------------
# The share panel on the experiment page
# ---------------------------------------------------------------------------


def test_the_owner_sees_the_share_panel_with_its_links(client_as, owner, share_link, experiment):
    revoked = share_link_create(experiment=experiment, user=owner)
    share_link_revoke(share_link=revoked, user=owner)

    html = client_as(owner).get(detail_url(experiment)).content.decode()

    assert 'data-action="create-share-link"' in html
    assert f'href="http://testserver{share_url(share_link)}" data-share-url' in html
    assert f'<tr data-share-link="{share_link.pk}" data-active="true">' in html
    assert f'<tr data-share-link="{revoked.pk}" data-active="false">' in html
    assert html.count('data-action="revoke-share-link"') == 1
    assert "by olivia" in html


@pytest.mark.parametrize("member", ["editor", "viewer"])
def test_editors_and_viewers_see_no_share_controls(client_as, request, member, share_link, experiment):
    html = client_as(request.getfixturevalue(member)).get(detail_url(experiment)).content.decode()

    assert "create-share-link" not in html and "revoke-share-link" not in html
    assert 'id="share"' not in html and share_link.token not in html


def test_the_owner_creates_a_share_link_from_the_page(client_as, owner, experiment):
    response = client_as(owner).post(reverse("share_link_create", args=[experiment.pk]), follow=True)

    link = ShareLink.objects.get()
    assert (link.experiment, link.created_by, link.revoked_at) == (experiment, owner, None)
    assert response.redirect_chain == [(detail_url(experiment), 302)]
    assert share_url(link) in response.content.decode()


def test_the_owner_revokes_a_share_link_from_the_page(client_as, owner, share_link, experiment):
    response = client_as(owner).post(reverse("share_link_revoke", args=[share_link.pk]))

    share_link.refresh_from_db()
    assert response.status_code == 302 and response["Location"] == detail_url(experiment)
    assert share_link.revoked_at is not None


@pytest.mark.parametrize("member, expected", [("editor", 403), ("viewer", 403), ("outsider", 404)])
def test_a_forged_create_or_revoke_by_a_non_owner_is_refused(
    client_as, request, member, expected, other_team, share_link, experiment
):
    client = client_as(request.getfixturevalue(member))

    created = client.post(reverse("share_link_create", args=[experiment.pk]))
    revoked = client.post(reverse("share_link_revoke", args=[share_link.pk]))

    assert (created.status_code, revoked.status_code) == (expected, expected)
    share_link.refresh_from_db()
    assert ShareLink.objects.count() == 1 and share_link.revoked_at is None


def test_an_anonymous_post_is_sent_to_log_in(client, share_link, experiment):
    response = client.post(reverse("share_link_revoke", args=[share_link.pk]))

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    share_link.refresh_from_db()
    assert share_link.revoked_at is None


def test_share_link_forms_only_accept_posts(client_as, owner, share_link, experiment):
    client = client_as(owner)

    assert client.get(reverse("share_link_create", args=[experiment.pk])).status_code == 405
    assert client.get(reverse("share_link_revoke", args=[share_link.pk])).status_code == 405
    assert ShareLink.objects.count() == 1


def test_the_forms_carry_a_csrf_token(owner, share_link, experiment):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    html = client.get(detail_url(experiment)).content.decode()
    forged = client.post(reverse("share_link_create", args=[experiment.pk]))

    assert html.count('name="csrfmiddlewaretoken"') >= 2
    assert forged.status_code == 403 and ShareLink.objects.count() == 1


# ---------------------------------------------------------------------------
# The share page
# ---------------------------------------------------------------------------


def test_anyone_with_the_link_sees_the_set_up_and_the_runs(client, share_link, experiment):
    response = client.get(share_url(share_link))

    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1>RS2 vs static on digits</h1>" in html
    assert "tiny-digits" in html and ">mlp<" in html
    assert '<span class="chip">10 %</span>' in html and '<span class="chip">30 %</span>' in html
    assert '<span class="chip">RS2 without replacement</span>' in html
    assert html.count('<tr data-run="') == 4 and "81.2 %" in html


def test_the_share_page_asks_search_engines_to_stay_away(client, share_link):
    response = client.get(share_url(share_link))

    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert '<meta name="robots" content="noindex, nofollow">' in response.content.decode()


def test_no_cache_keeps_a_share_page_once_its_link_is_revoked(client, share_link):
    response = client.get(share_url(share_link))

    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]


def test_the_share_page_shows_nothing_else_of_the_team(client, share_link, other_experiment):
    html = client.get(share_url(share_link)).content.decode()

    assert_nothing_of_the_team(html)


def test_the_share_page_has_no_controls_even_for_the_owner(client_as, owner, share_link):
    html = client_as(owner).get(share_url(share_link)).content.decode()

    assert "cancel-run" not in html and "cancel-experiment" not in html and "share-link" not in html
    # The leaderboard's choices are a GET form through the link; nothing can be posted from the page.
    assert 'method="post"' not in html.lower() and "csrfmiddlewaretoken" not in html
    assert 'action="/share/' in html
    assert_nothing_of_the_team(html)


def test_a_revoked_link_is_404(client, owner, share_link):
    run = share_link.experiment.runs.first()
    share_link_revoke(share_link=share_link, user=owner)

    assert client.get(share_url(share_link)).status_code == 404
    assert client.get(reverse("share_experiment_runs", args=[share_link.token])).status_code == 404
    assert client.get(reverse("share_run", args=[share_link.token, run.pk])).status_code == 404


def test_an_unknown_token_is_404(client, share_link):
    response = client.get(reverse("share_experiment", args=[share_link.token[:-1] + "x"]))

    assert response.status_code == 404
    assert "RS2 vs static on digits" not in response.content.decode()


def test_the_share_page_polls_its_own_read_only_fragment(client, share_link):
    fragment_url = reverse("share_experiment_runs", args=[share_link.token])

    html = client.get(share_url(share_link)).content.decode()
    fragment = client.get(fragment_url, HTTP_HX_REQUEST="true")

    assert fragment_url == f"/share/{share_link.token}/runs-fragment/"
    assert f'hx-get="{fragment_url}"' in html
    assert fragment.status_code == 200 and fragment["X-Robots-Tag"] == "noindex, nofollow"
    body = fragment.content.decode()
    assert body.lstrip().startswith('<section class="card card-flush runs" id="runs"')
    assert body.count('<tr data-run="') == 4 and "cancel-run" not in body
    assert f'hx-get="{fragment_url}"' in body


def test_each_run_links_to_its_page_under_the_share_link(client, share_link, experiment):
    html = client.get(share_url(share_link)).content.decode()

    for run in experiment.runs.all():
        assert f'href="/share/{share_link.token}/runs/{run.pk}/" data-run-link' in html


# ---------------------------------------------------------------------------
# Run pages under a share link
# ---------------------------------------------------------------------------


def test_a_shared_run_page_shows_the_run_and_nothing_else_of_the_team(client, share_link, experiment):
    run = experiment.runs.get(execution__status=RunStatus.SUCCEEDED)
    Attempt.objects.create(execution=run.execution, number=1, worker="gpu-box-7@lab", device_name="cpu")

    response = client.get(reverse("share_run", args=[share_link.token, run.pk]))

    html = response.content.decode()
    assert response.status_code == 200 and response["X-Robots-Tag"] == "noindex, nofollow"
    assert '<meta name="robots" content="noindex, nofollow">' in html
    assert "81.2 %" in html and '<tr data-attempt="1"' in html
    # Worker host names are the team's infrastructure, not part of the results.
    assert "gpu-box-7@lab" not in html
    assert f'href="{share_url(share_link)}"' in html
    spec_url = reverse("share_run_curves_plot", args=[share_link.token, run.pk, "json"])
    assert f'data-vega-spec="{spec_url}"' in html
    assert_nothing_of_the_team(html)


def test_a_reused_run_under_a_share_link_names_no_other_experiment(client, owner, share_link, other_experiment):
    run = other_experiment.runs.get()
    original = share_link.experiment.runs.get(execution=run.execution)
    reused_link = share_link_create(experiment=other_experiment, user=owner)

    first = client.get(reverse("share_run", args=[share_link.token, original.pk])).content.decode()
    second = client.get(reverse("share_run", args=[reused_link.token, run.pk])).content.decode()

    assert "Secret pruning sweep" not in first and "Other experiments reuse" not in first
    assert "Reused from another experiment" in second and "RS2 vs static on digits" not in second


def test_a_run_of_another_experiment_is_404_under_the_link(client, share_link, other_experiment):
    foreign = other_experiment.runs.get()

    assert client.get(reverse("share_run", args=[share_link.token, foreign.pk])).status_code == 404
    plot = reverse("share_run_curves_plot", args=[share_link.token, foreign.pk, "csv"])
    assert client.get(plot).status_code == 404


def test_a_shared_runs_curves_download(client, share_link, experiment):
    run = experiment.runs.get(execution__status=RunStatus.SUCCEEDED)

    response = client.get(reverse("share_run_curves_plot", args=[share_link.token, run.pk, "csv"]))

    assert response.status_code == 200 and response["X-Robots-Tag"] == "noindex, nofollow"
    assert "4,25.0,test_accuracy,0.8125" in response.content.decode().splitlines()


def test_a_shared_active_run_polls_its_status_through_the_link(client, share_link, experiment, other_experiment):
    running = experiment.runs.get(execution__status=RunStatus.RUNNING)
    status_url = reverse("share_run_status_fragment", args=[share_link.token, running.pk])

    html = client.get(reverse("share_run", args=[share_link.token, running.pk])).content.decode()
    fragment = client.get(status_url, {"shown": "running"})
    foreign = reverse("share_run_status_fragment", args=[share_link.token, other_experiment.runs.get().pk])

    assert f'hx-get="{status_url}?shown=running"' in html
    assert fragment.status_code == 200 and fragment["X-Robots-Tag"] == "noindex, nofollow"
    assert client.get(foreign).status_code == 404


def test_the_share_page_costs_the_same_queries_however_many_runs(client, owner, team, dataset, builtin_policies):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_for(seeds: list[int]) -> int:
        experiment = experiment_create(
            team=team,
            user=owner,
            name=f"{len(seeds)} seeds",
            dataset=dataset,
            model="mlp",
            recipe={"rounds": 20},
            policies=[builtin_policies["random_static"], builtin_policies["rs2_with_replacement"]],
            budgets=[0.2, 0.4],
            seeds=seeds,
        )
        link = share_link_create(experiment=experiment, user=owner)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(share_url(link)).status_code == 200
        return len(queries)

    assert queries_for([1]) == queries_for([2, 3, 4, 5, 6])


# ---------------------------------------------------------------------------
# The comparisons through the link
# ---------------------------------------------------------------------------


def shared(name, link, *args):
    return reverse(name, args=[link.token, *args])


def test_the_share_page_shows_the_leaderboard_and_plots_through_the_link(client, share_link):
    html = client.get(share_url(share_link)).content.decode()

    assert 'id="leaderboard"' in html and 'id="budget-table"' in html
    assert "81.2" in html  # the finished run's accuracy, in the leaderboard
    for name in ("budget", "time", "cost"):
        assert f'data-vega-spec="/share/{share_link.token}/plots/{name}.json' in html
    assert f'href="/share/{share_link.token}/leaderboard.csv' in html
    assert f'href="/share/{share_link.token}/runs.csv"' in html
    assert "/api/" not in html
    assert_nothing_of_the_team(html)


def test_the_comparisons_fragments_plots_and_exports_answer_through_the_link(client, share_link):
    leaderboard = client.get(shared("share_experiment_leaderboard", share_link), {"budget": "0.1"})
    assert leaderboard.status_code == 200 and "81.2" in leaderboard.content.decode()
    assert leaderboard["X-Robots-Tag"] == "noindex, nofollow"
    assert client.get(shared("share_experiment_budget_table", share_link)).status_code == 200

    spec = client.get(shared("share_experiment_plot", share_link, "budget", "json")).json()
    assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/")
    svg = client.get(shared("share_experiment_plot", share_link, "cost", "svg"))
    assert svg["Content-Type"] == "image/svg+xml" and b"<svg" in svg.content

    board = client.get(shared("share_experiment_leaderboard_json", share_link), {"budget": "0.1"}).json()
    assert board["budget"] == 0.1 and board["rows"]
    csv_text = client.get(shared("share_experiment_leaderboard_csv", share_link), {"budget": "0.1"}).content.decode()
    assert csv_text.splitlines()[0].startswith("budget,target,rank,") and len(csv_text.splitlines()) > 1
    runs = client.get(shared("share_experiment_runs_json", share_link)).json()
    assert len(runs) == 4 and any(run["curve"] for run in runs)
    runs_csv = client.get(shared("share_experiment_runs_csv", share_link)).content.decode()
    assert runs_csv.splitlines()[0].startswith("run_id,policy_id,policy,")


def test_bad_choices_through_the_link_are_400_naming_the_field(client, share_link):
    response = client.get(shared("share_experiment_leaderboard_json", share_link), {"budget": "0.77"})

    assert response.status_code == 400 and "budget" in response.content.decode()


def test_every_comparison_url_of_a_revoked_link_is_404(client, owner, share_link):
    urls = [
        shared("share_experiment_leaderboard", share_link),
        shared("share_experiment_budget_table", share_link),
        shared("share_experiment_plot", share_link, "time", "png"),
        shared("share_experiment_leaderboard_json", share_link),
        shared("share_experiment_leaderboard_csv", share_link),
        shared("share_experiment_runs_json", share_link),
        shared("share_experiment_runs_csv", share_link),
    ]
    assert all(client.get(url).status_code == 200 for url in urls)

    share_link_revoke(share_link=share_link, user=owner)

    assert [client.get(url).status_code for url in urls] == [404] * len(urls)
