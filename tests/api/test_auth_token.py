import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from backend.datasets.models import Dataset
from backend.experiments.models import Execution, Run, ShareLink
from backend.teams.models import Team
from tests.conftest import PASSWORD

URL = reverse("api-token")


def test_it_gives_a_token_for_a_valid_username_and_password(owner):
    response = APIClient().post(URL, {"username": owner.username, "password": PASSWORD}, format="json")

    assert response.status_code == 200
    assert response.json() == {"token": Token.objects.get(user=owner).key}


def test_the_token_authenticates_api_requests(owner, team):
    token = APIClient().post(URL, {"username": owner.username, "password": PASSWORD}, format="json").json()["token"]

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.get(reverse("api-teams"))

    assert response.status_code == 200
    assert [row["name"] for row in response.json()["results"]] == ["Vision"]


def test_it_gives_the_same_token_twice(owner):
    first = APIClient().post(URL, {"username": owner.username, "password": PASSWORD}, format="json").json()
    second = APIClient().post(URL, {"username": owner.username, "password": PASSWORD}, format="json").json()

    assert first == second
    assert Token.objects.filter(user=owner).count() == 1


def test_it_rejects_a_wrong_password_and_creates_no_token(owner):
    response = APIClient().post(URL, {"username": owner.username, "password": "wrong"}, format="json")

    assert response.status_code == 400
    assert "non_field_errors" in response.json()
    assert not Token.objects.exists()


def test_it_names_a_missing_password(owner):
    response = APIClient().post(URL, {"username": owner.username}, format="json")

    assert response.status_code == 400
    assert "password" in response.json()


def test_an_invalid_token_is_refused(team):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    assert client.get(reverse("api-teams")).status_code in (401, 403)


def object_ids(experiment) -> dict[str, list[int]]:
    """Path arguments that point at real objects, so a refused request could have changed them."""
    share_link = ShareLink.objects.create(experiment=experiment)
    run = experiment.runs.first()
    return {
        "api-team": [experiment.team_id],
        "api-team-members": [experiment.team_id],
        "api-dataset": [experiment.dataset_id],
        "api-experiment": [experiment.pk],
        "api-experiment-cancel": [experiment.pk],
        "api-experiment-share-links": [experiment.pk],
        "api-share-link-revoke": [share_link.pk],
        "api-run": [run.pk],
        "api-run-cancel": [run.pk],
        "api-run-metrics": [run.pk],
    }


@pytest.mark.parametrize(
    "method, url_name",
    [
        ("get", "api-teams"),
        ("post", "api-teams"),
        ("get", "api-team"),
        ("get", "api-team-members"),
        ("post", "api-team-members"),
        ("get", "api-datasets"),
        ("post", "api-datasets"),
        ("get", "api-dataset"),
        ("delete", "api-dataset"),
        ("get", "api-policies"),
        ("post", "api-policies"),
        ("get", "api-experiments"),
        ("post", "api-experiments"),
        ("get", "api-experiment"),
        ("post", "api-experiment-cancel"),
        ("get", "api-experiment-share-links"),
        ("post", "api-experiment-share-links"),
        ("post", "api-share-link-revoke"),
        ("get", "api-runs"),
        ("get", "api-run"),
        ("post", "api-run-cancel"),
        ("get", "api-run-metrics"),
    ],
)
def test_anonymous_requests_are_refused_and_change_nothing(method, url_name, experiment, client_for):
    url = reverse(url_name, args=object_ids(experiment).get(url_name, []))
    state_before = (
        list(Execution.objects.order_by("pk").values_list("status", flat=True)),
        list(Run.objects.order_by("pk").values_list("canceled_at", flat=True)),
        list(ShareLink.objects.values_list("revoked_at", flat=True)),
        Team.objects.count(),
        Dataset.objects.count(),
    )

    response = getattr(client_for(None), method)(url, {"name": "Anonymous", "team": experiment.team_id}, format="json")

    assert response.status_code in (401, 403)
    assert (
        list(Execution.objects.order_by("pk").values_list("status", flat=True)),
        list(Run.objects.order_by("pk").values_list("canceled_at", flat=True)),
        list(ShareLink.objects.values_list("revoked_at", flat=True)),
        Team.objects.count(),
        Dataset.objects.count(),
    ) == state_before
