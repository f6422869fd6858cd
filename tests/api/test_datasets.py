import pytest
from django.urls import reverse

from backend.datasets.models import Dataset, DatasetStatus
from tests.api.conftest import ROLES, add_dataset

LIST_URL = reverse("api-datasets")


def detail_url(dataset):
    return reverse("api-dataset", args=[dataset.pk])


@pytest.mark.parametrize("role", ["owner", "editor", "viewer"])
def test_members_list_their_teams_datasets(role, dataset, foreign_dataset, as_role):
    response = as_role(role).get(LIST_URL)

    assert response.status_code == 200
    assert [row["name"] for row in response.json()["results"]] == ["tiny-digits"]
    row = response.json()["results"][0]
    assert row["num_classes"] == 10 and row["created_by"] == "olivia" and row["status"] == "ready"


def test_an_outsider_sees_none_of_the_teams_datasets(dataset, foreign_dataset, as_role):
    response = as_role("outsider").get(LIST_URL)

    assert [row["name"] for row in response.json()["results"]] == ["their-digits"]


def test_anonymous_cannot_list_datasets(dataset, client_for):
    assert client_for(None).get(LIST_URL).status_code in (401, 403)


@pytest.mark.parametrize(
    "query, names",
    [
        ({"status": "failed"}, ["broken"]),
        ({"format": "npz"}, ["tiny-digits"]),
        ({"search": "DIG"}, ["tiny-digits"]),
        ({"ordering": "-train_size"}, ["big", "tiny-digits", "broken"]),
    ],
)
def test_datasets_filter_by_status_format_and_name(query, names, team, dataset, as_role):
    add_dataset(team, "broken", status=DatasetStatus.FAILED, sha256="", train_size=0)
    add_dataset(team, "big", train_size=1000)

    response = as_role("viewer").get(LIST_URL, query)

    assert response.status_code == 200
    assert [row["name"] for row in response.json()["results"]] == names


def test_filtering_by_another_teams_id_shows_nothing(dataset, foreign_dataset, other_team, as_role):
    response = as_role("viewer").get(LIST_URL, {"team": other_team.pk})

    assert response.status_code == 200
    assert response.json()["results"] == []


def test_filtering_by_team_keeps_that_teams_datasets(team, dataset, as_role):
    response = as_role("viewer").get(LIST_URL, {"team": team.pk})

    assert [row["id"] for row in response.json()["results"]] == [dataset.pk]


def test_listing_datasets_does_not_query_per_row(team, dataset, as_role, django_assert_max_num_queries):
    for index in range(20):
        add_dataset(team, f"set-{index}")
    client = as_role("viewer")

    with django_assert_max_num_queries(4):
        response = client.get(LIST_URL)

    assert response.json()["count"] == 21


@pytest.mark.parametrize("role, expected", [(role, 404 if role == "outsider" else 200) for role in ROLES])
def test_dataset_detail_is_for_members_only(role, expected, dataset, as_role):
    response = as_role(role).get(detail_url(dataset))

    assert response.status_code == expected
    if expected == 200:
        assert response.json()["sha256"] == dataset.sha256
        assert response.json()["class_counts"] == [10] * 10


@pytest.mark.parametrize("role, expected", [("owner", 204), ("editor", 204), ("viewer", 403), ("outsider", 404)])
def test_editors_and_owners_delete_datasets(role, expected, dataset, as_role):
    response = as_role(role).delete(detail_url(dataset))

    assert response.status_code == expected
    assert Dataset.objects.filter(pk=dataset.pk).exists() == (expected != 204)


def test_a_dataset_used_by_an_experiment_cannot_be_deleted(dataset, experiment, as_role):
    response = as_role("editor").delete(detail_url(dataset))

    assert response.status_code == 409
    assert "experiment" in response.json()["detail"]
    assert Dataset.objects.filter(pk=dataset.pk).exists()
