import pytest
from django.urls import reverse

from backend.datasets.models import Dataset, DatasetFormat, DatasetStatus


def datasets_url(slug="vision"):
    return reverse("team_datasets", args=[slug])


@pytest.mark.parametrize("member", ["owner", "editor", "viewer"])
def test_every_member_sees_the_teams_datasets(client_as, request, member, dataset):
    response = client_as(request.getfixturevalue(member)).get(datasets_url())

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-dataset="tiny-digits"' in html
    assert "NumPy .npz" in html and "badge-ready" in html
    assert '<td class="num">100</td>' in html and '<td class="num">50</td>' in html
    assert f'title="{dataset.sha256}">{dataset.sha256[:12]}</td>' in html


def test_it_shows_the_input_shape_and_number_of_classes(client_as, owner, dataset):
    Dataset.objects.filter(pk=dataset.pk).update(input_shape=[3, 32, 32])

    html = client_as(owner).get(datasets_url()).content.decode()

    assert "3 × 32 × 32" in html
    assert '<td class="num" title="0, 1, 2, 3, 4, 5, 6, 7, 8, 9">10</td>' in html


def test_it_hides_other_teams_datasets(client_as, owner, team, other_team, outsider, dataset):
    Dataset.objects.create(team=other_team, name="secret-set", format=DatasetFormat.CSV, source="s.csv")

    html = client_as(owner).get(datasets_url()).content.decode()

    assert "secret-set" not in html


def test_a_failed_import_shows_its_status_and_error(client_as, owner, team):
    Dataset.objects.create(
        team=team,
        name="broken",
        format=DatasetFormat.CSV,
        source="b.csv",
        status=DatasetStatus.FAILED,
        error="no label",
    )

    html = client_as(owner).get(datasets_url()).content.decode()

    assert "badge-failed" in html and "no label" in html


def test_an_empty_team_is_told_how_to_add_a_dataset(client_as, owner, team):
    html = client_as(owner).get(datasets_url()).content.decode()

    assert "No datasets in Vision yet" in html


def test_an_outsider_gets_404(client_as, outsider, dataset):
    assert client_as(outsider).get(datasets_url()).status_code == 404


def test_an_unknown_team_gets_404(client_as, owner, team):
    assert client_as(owner).get(datasets_url("nope")).status_code == 404
