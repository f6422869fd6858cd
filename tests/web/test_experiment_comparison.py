"""The experiment page's comparisons: leaderboard and budget table fragments, their polling and ETags, the plots."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from backend.experiments.models import ACTIVE_RUN_STATUSES, Execution, RunStatus
from tests.conftest import FINALS, finish_run, set_execution


def detail_url(experiment, **query):
    url = reverse("experiment_detail", args=[experiment.pk])
    return url + ("?" + "&".join(f"{key}={value}" for key, value in query.items()) if query else "")


def fragment_url(experiment, **query):
    url = reverse("experiment_leaderboard", args=[experiment.pk])
    return url + ("?" + "&".join(f"{key}={value}" for key, value in query.items()) if query else "")


def plot_url(experiment, name, fmt, **query):
    url = reverse("experiment_plot", args=[experiment.pk, name, fmt])
    return url + ("?" + "&".join(f"{key}={value}" for key, value in query.items()) if query else "")


def attribute(html, element_id, name):
    tag = re.search(rf'<section[^>]*id="{element_id}"[^>]*>', html, re.S).group(0)
    found = re.search(rf'{name}="([^"]*)"', tag)
    return found.group(1) if found else None


def strategies_in_order(html):
    return re.findall(r'<tr data-policy="\d+" data-strategy="([a-z0-9_]+)"', html)


def finish_everything(experiment):
    for run in experiment.runs.filter(execution__status__in=ACTIVE_RUN_STATUSES).select_related("policy"):
        finish_run(run, FINALS[run.policy.strategy, run.budget][run.seed % 3], selection=0.0, training=10.0)


@pytest.mark.parametrize("member", ["owner", "editor", "viewer"])
def test_the_page_shows_the_leaderboard_at_the_smallest_budget(client_as, request, member, comparison):
    response = client_as(request.getfixturevalue(member)).get(detail_url(comparison))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Leaderboard at 10 %" in html
    assert strategies_in_order(html) == ["rs2_without_replacement", "random_static", "full"]
    assert "81.0 ± 2.5 %" in html  # RS2: mean 0.81, t(0.975, 2) · s / √3 = 2.48 pp
    assert "tied for first" in html and "reference" in html and "partial" in html
    assert '<span class="verdict verdict-worse">worse</span>' in html
    assert html.count('<tr data-run="') == 15


def test_the_page_has_three_plot_slots_with_downloads(client_as, viewer, comparison):
    html = client_as(viewer).get(detail_url(comparison)).content.decode()

    slots = re.findall(r'data-vega-spec="([^"]+)" data-vega-version="([^"]+)"', html)
    assert sorted(url.split("?")[0].rsplit("/", 1)[1] for url, _ in slots) == ["budget.json", "cost.json", "time.json"]
    assert len({version for _, version in slots}) == 1
    time_spec = next(url for url, _ in slots if "time.json" in url)
    assert "budget=0.1" in time_spec and "target=0.7" in time_spec
    for fmt in ("png", "svg", "csv", "data.json"):
        assert f"/plots/cost.{fmt}" in html
    assert reverse("api-experiment-runs-csv", args=[comparison.pk]) in html


def test_the_query_chooses_budget_baseline_and_target(client_as, viewer, comparison, builtin_policies):
    static = builtin_policies["random_static"].pk

    html = client_as(viewer).get(detail_url(comparison, budget=0.3, baseline=static, target=55)).content.decode()

    assert "Leaderboard at 30 %" in html
    assert f'<option value="{static}" selected>' in html and '<option value="0.3" selected>' in html
    assert 'name="target" value="55"' in html and "Time to 55.0 %" in html
    assert '<span class="verdict verdict-baseline">baseline</span>' in html
    assert '<span class="verdict verdict-within-noise">within noise</span>' in html


def test_the_fragment_swapped_by_the_controls_keeps_the_choice_in_the_pages_address(client_as, viewer, comparison):
    response = client_as(viewer).get(fragment_url(comparison, budget=0.3, target=75), HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card card-flush leaderboard" id="leaderboard"')
    assert "<html" not in html
    assert response["HX-Replace-Url"] == detail_url(comparison, budget="0.3", target=75)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"budget": 0.2}, "budget"),
        ({"budget": "ten"}, "budget"),
        ({"baseline": 99999}, "baseline"),
        ({"target": 150}, "target"),
    ],
)
def test_a_bad_choice_is_named_and_the_default_shown(client_as, viewer, comparison, query, field):
    html = client_as(viewer).get(fragment_url(comparison, **query)).content.decode()

    assert f'data-error="{field}"' in html
    assert "Leaderboard at 10 %" in html and strategies_in_order(html)


def test_the_leaderboard_polls_with_its_etag_and_an_unchanged_experiment_answers_304(client_as, viewer, comparison):
    client = client_as(viewer)
    html = client.get(detail_url(comparison, budget=0.3)).content.decode()
    poll_url = attribute(html, "leaderboard", "hx-get").replace("&amp;", "&")
    etag = attribute(html, "leaderboard", "data-etag").replace("&quot;", '"')

    unchanged = client.get(poll_url, HTTP_HX_REQUEST="true", HTTP_IF_NONE_MATCH=etag)
    run = comparison.runs.filter(execution__status=RunStatus.QUEUED).get()
    set_execution(run, status=RunStatus.RUNNING)
    changed = client.get(poll_url, HTTP_HX_REQUEST="true", HTTP_IF_NONE_MATCH=etag)

    assert poll_url == fragment_url(comparison, budget="0.3")
    assert attribute(html, "leaderboard", "hx-trigger") == "every 5s"
    assert unchanged.status_code == 304 and not unchanged.content
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert attribute(changed.content.decode(), "leaderboard", "data-etag").replace("&quot;", '"') != etag


def test_polling_stops_once_no_run_is_active(client_as, viewer, comparison):
    finish_everything(comparison)

    html = client_as(viewer).get(detail_url(comparison)).content.decode()

    assert attribute(html, "leaderboard", "hx-get") is None
    assert attribute(html, "budget-table", "hx-get") is None
    assert 'id="runs"' in html and "partial" not in html


def test_the_budget_table_highlights_each_budgets_best_and_those_within_noise(client_as, viewer, comparison):
    response = client_as(viewer).get(reverse("experiment_budget_table", args=[comparison.pk]))

    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card card-flush budget-table" id="budget-table"')
    assert re.search(r'class="num best within-noise"[^>]*>81\.0 ± 2\.5 %', html)
    assert re.search(r'class="num within-noise"[^>]*>86\.7 ± 5\.2 %', html)  # static at 30 %, tied with RS2
    assert re.search(r'class="num"[^>]*>71\.0 ± 6\.6 %', html)  # static at 10 %, behind
    assert attribute(html, "budget-table", "data-polling") == "true"
    again = client_as(viewer).get(
        reverse("experiment_budget_table", args=[comparison.pk]),
        HTTP_IF_NONE_MATCH=attribute(html, "budget-table", "data-etag").replace("&quot;", '"'),
    )
    assert again.status_code == 304


def test_the_fragments_take_the_same_queries_however_many_runs(client_as, viewer, make_comparison):
    small = make_comparison(seeds=(0, 1))
    large = make_comparison(seeds=tuple(range(9)), rounds=3)
    client = client_as(viewer)

    counts = {}
    for experiment in (small, large):
        for name, url in (
            ("leaderboard", fragment_url(experiment, budget=0.3)),
            ("budget table", reverse("experiment_budget_table", args=[experiment.pk])),
        ):
            with CaptureQueriesContext(connection) as captured:
                assert client.get(url).status_code == 200
            counts.setdefault(name, []).append(len(captured))

    # Session, user, experiment, membership, version stamp, cells (and the curves for the leaderboard).
    assert counts == {"leaderboard": [7, 7], "budget table": [6, 6]}


def test_an_outsider_gets_404_for_fragments_and_plots(client_as, outsider, other_team, comparison):
    client = client_as(outsider)

    assert client.get(fragment_url(comparison)).status_code == 404
    assert client.get(reverse("experiment_budget_table", args=[comparison.pk])).status_code == 404
    assert client.get(plot_url(comparison, "budget", "json")).status_code == 404


def test_the_budget_plot_spec_and_its_data(client_as, viewer, comparison):
    client = client_as(viewer)

    spec = client.get(plot_url(comparison, "budget", "json")).json()
    data = client.get(plot_url(comparison, "budget", "data.json")).json()
    rows = list(csv.DictReader(io.StringIO(client.get(plot_url(comparison, "budget", "csv")).content.decode())))

    assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/")
    assert {(point["policy"], point["budget"]) for point in data["points"]} == {
        (policy, budget) for policy in ("Random static subset", "RS2 without replacement") for budget in (0.1, 0.3)
    }
    assert data["full"]["mean"] == pytest.approx(0.905)  # two of full data's three seeds have finished
    assert len(rows) == 5 and rows[-1]["policy"] == "Full data (reference)"


def test_the_time_plot_follows_budget_and_target(client_as, viewer, comparison):
    client = client_as(viewer)

    rows = client.get(plot_url(comparison, "time", "data.json", budget=0.3)).json()
    spec = json.dumps(client.get(plot_url(comparison, "time", "json", budget=0.3, target=0.85)).json())

    static = [row for row in rows if row["policy"] == "Random static subset"]
    assert [(row["round"], row["seconds"]) for row in static] == [(1, 17.0), (2, 32.0)]
    assert "at a 30" in spec and "target 85" in spec
    assert client.get(plot_url(comparison, "time", "json", budget=0.5)).status_code == 400
    assert client.get(plot_url(comparison, "time", "json", target=3)).status_code == 400


def test_the_cost_plot_marks_the_pareto_front(client_as, viewer, comparison):
    points = client_as(viewer).get(plot_url(comparison, "cost", "data.json")).json()

    front = {(point["policy"], point["budget"]) for point in points if point["pareto"]}
    assert ("RS2 without replacement", 0.1) in front and ("Random static subset", 0.1) not in front


@pytest.mark.parametrize(("fmt", "magic"), [("png", b"\x89PNG"), ("svg", b"<svg")])
def test_plots_download_as_png_and_svg(client_as, viewer, comparison, fmt, magic):
    response = client_as(viewer).get(plot_url(comparison, "cost", fmt))

    assert response.status_code == 200
    assert response.content.startswith(magic)
    assert response["Content-Disposition"] == f'attachment; filename="experiment-{comparison.pk}-cost.{fmt}"'


def test_the_plots_answer_304_while_nothing_changed(client_as, viewer, comparison):
    client = client_as(viewer)
    first = client.get(plot_url(comparison, "budget", "json"))

    assert client.get(plot_url(comparison, "budget", "json"), HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    Execution.objects.filter(cells__experiment=comparison, status=RunStatus.QUEUED).update(status=RunStatus.RUNNING)
    assert client.get(plot_url(comparison, "budget", "json"), HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 200


def row_html(html, strategy):
    return re.search(rf'<tr data-policy="\d+" data-strategy="{strategy}".*?</tr>', html, re.S).group(0)


def data_used(row):
    return re.search(r"<td[^>]*data-data-used[^>]*>(.*?)</td>", row, re.S).group(1)


def train_static_off_budget(experiment):
    """The static subset at 10 % trains on 47, 47 and 48 of the 100 examples a round over its 2 rounds."""
    for run in experiment.runs.filter(policy__strategy="random_static", budget=0.1):
        set_execution(run, samples_trained=(94, 94, 96)[run.seed], rounds_completed=2, rounds_planned=2)


def test_the_leaderboard_shows_the_data_used_and_marks_a_policy_off_its_budget(
    client_as, viewer, comparison, django_assert_num_queries
):
    train_static_off_budget(comparison)
    client = client_as(viewer)

    # Session, user, experiment, membership, version stamp, cells and curves: the data used costs no query.
    with django_assert_num_queries(7):
        html = client.get(fragment_url(comparison, budget=0.1)).content.decode()

    assert "Data used</th>" in html
    assert data_used(row_html(html, "random_static")) == '47.3 % <span class="off-budget-note">of a 10 % budget</span>'
    assert 'class="num off-budget" data-data-used title="Off budget' in row_html(html, "random_static")
    assert data_used(row_html(html, "rs2_without_replacement")) == "10.0 %"
    # Full data ran at r = 1, so all of the data is its budget even at 10 %; its queued seed does not count.
    assert data_used(row_html(html, "full")) == "100.0 %"


def test_the_budget_table_notes_a_cell_off_its_budget(client_as, viewer, comparison):
    train_static_off_budget(comparison)

    html = client_as(viewer).get(reverse("experiment_budget_table", args=[comparison.pk])).content.decode()

    off_budget = r'title="3 seeds, 47\.3 % of the data per round">71\.0 ± 6\.6 % <span[^>]*>used 47\.3 %</span>'
    assert re.search(off_budget, html)
    assert re.search(r'title="3 seeds, 30\.0 % of the data per round">86\.7 ± 5\.2 %</td>', html)
    assert html.count("off-budget-note") == 1


def test_the_runs_table_shows_the_data_each_run_used(client_as, viewer, comparison):
    train_static_off_budget(comparison)

    html = client_as(viewer).get(detail_url(comparison)).content.decode()

    run = comparison.runs.get(policy__strategy="random_static", budget=0.1, seed=2)
    row = re.search(rf'<tr data-run="{run.pk}".*?</tr>', html, re.S).group(0)
    assert data_used(row) == '48.0 % <span class="off-budget-note">of a 10 % budget</span>'
    queued = comparison.runs.get(execution__status=RunStatus.QUEUED)
    assert data_used(re.search(rf'<tr data-run="{queued.pk}".*?</tr>', html, re.S).group(0)) == "—"
