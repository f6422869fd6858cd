"""The strategy catalogue: every strategy by family, with its paper and its parameters."""

import re

import pytest
from django.urls import reverse

from tests.conftest import make_user
from workers.engine.strategies import STRATEGIES

URL = reverse("strategy_catalogue")


def section(html: str, attribute: str, value: str) -> str:
    """The HTML of the element carrying ``attribute="value"``, up to its closing tag."""
    tag = {"data-family": "section", "data-strategy": "article", "data-param": "tr"}[attribute]
    match = re.search(rf'<{tag}[^>]*{attribute}="{value}"[^>]*>(.*?)</{tag}>', html, re.S)
    assert match, f"no {attribute}={value} on the page"
    return match.group(1)


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def test_it_needs_a_login(client, db):
    response = client.get(URL)

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_every_strategy_is_listed_once_under_its_family(client_as, viewer, team):
    html = client_as(viewer).get(URL).content.decode()

    for family in ("static", "dynamic", "weighted"):
        listed = re.findall(r'<article class="strategy" id="(\w+)"', section(html, "data-family", family))
        assert listed == [key for key, strategy in STRATEGIES.items() if strategy.family == family]


def test_each_cited_strategy_shows_its_paper(client_as, viewer, team):
    html = client_as(viewer).get(URL).content.decode()

    for key, strategy in STRATEGIES.items():
        paper, shown = strategy.paper, section(html, "data-strategy", key)
        if paper is None:
            continue
        assert paper.authors.replace("&", "&amp;") in shown and str(paper.year) in shown, key
        if paper.url:
            assert f'<a href="{paper.url}" rel="noopener">{paper.title}</a>' in shown, key
        else:
            assert f"<cite>{paper.title}</cite>" in shown, key


def test_a_control_says_it_reproduces_no_paper(client_as, viewer, team):
    shown = section(client_as(viewer).get(URL).content.decode(), "data-strategy", "full")

    assert "A control: it reproduces no paper." in shown
    assert "The budget does not apply" in shown
    assert "No parameters." in shown


@pytest.mark.parametrize(
    "strategy, param, expected",
    [
        ("ccs", "hard_cutoff", "hard_cutoff float 0.1 0 to 0.9 Fraction of the hardest examples"),
        ("ccs", "score", "score choice el2n el2n forgetting Difficulty score"),
        ("glister", "validation_fraction", "validation_fraction float 0.1 above 0, at most 0.5 Share of"),
        ("self_supervised_prototypes", "clusters", "clusters int none 1 to 10000 or none k-means centroids"),
        ("random_static", "class_balanced", "class_balanced bool false true or false Draw the same share"),
    ],
)
def test_each_parameter_shows_its_type_default_range_and_help(strategy, param, expected, client_as, viewer, team):
    html = section(client_as(viewer).get(URL).content.decode(), "data-strategy", strategy)

    assert text(section(html, "data-param", param)).startswith(expected)


def test_editors_get_a_link_to_a_new_policy_of_each_strategy_and_viewers_do_not(client_as, editor, viewer, team):
    editor_html = client_as(editor).get(URL).content.decode()
    viewer_html = client_as(viewer).get(URL).content.decode()

    links = re.findall(r'href="/teams/vision/policies/\?strategy=(\w+)#new-policy"', editor_html)
    assert sorted(links) == sorted(STRATEGIES)
    assert "?strategy=" not in viewer_html


def test_someone_in_no_team_still_reads_the_catalogue(client_as, db):
    response = client_as(make_user("nomad")).get(URL)

    assert response.status_code == 200
    assert response.context["team"] is None
    assert "?strategy=" not in response.content.decode()
