import pytest
from django.urls import reverse

from backend.experiments.models import ShareLink
from backend.experiments.services import share_link_create


def links_url(experiment):
    return reverse("api-experiment-share-links", args=[experiment.pk])


def revoke_url(share_link):
    return reverse("api-share-link-revoke", args=[share_link.pk])


@pytest.fixture
def share_link(experiment, owner):
    return share_link_create(experiment=experiment, user=owner)


def test_the_owner_creates_a_share_link(experiment, as_role):
    response = as_role("owner").post(links_url(experiment))

    assert response.status_code == 201
    link = ShareLink.objects.get(pk=response.json()["id"])
    assert link.experiment == experiment
    assert response.json()["token"] == link.token and len(link.token) >= 32
    assert response.json()["is_active"] is True and response.json()["created_by"] == "olivia"


def test_the_owner_lists_share_links(experiment, share_link, as_role):
    response = as_role("owner").get(links_url(experiment))

    assert response.status_code == 200
    assert [row["token"] for row in response.json()["results"]] == [share_link.token]


@pytest.mark.parametrize("role, expected", [("editor", 403), ("viewer", 403), ("outsider", 404)])
def test_only_the_owner_sees_or_creates_share_links(role, expected, experiment, share_link, as_role):
    client = as_role(role)

    listed = client.get(links_url(experiment))
    created = client.post(links_url(experiment))

    assert (listed.status_code, created.status_code) == (expected, expected)
    assert share_link.token not in str(listed.content)
    assert ShareLink.objects.count() == 1


def test_the_owner_revokes_a_share_link(share_link, as_role):
    response = as_role("owner").post(revoke_url(share_link))

    assert response.status_code == 200
    assert response.json()["is_active"] is False
    share_link.refresh_from_db()
    assert share_link.revoked_at is not None


def test_revoking_twice_keeps_the_first_revocation_time(share_link, as_role):
    client = as_role("owner")
    first = client.post(revoke_url(share_link)).json()["revoked_at"]

    second = client.post(revoke_url(share_link))

    assert second.status_code == 200
    assert second.json()["revoked_at"] == first


@pytest.mark.parametrize("role, expected", [("editor", 403), ("viewer", 403), ("outsider", 404)])
def test_only_the_owner_revokes(role, expected, share_link, as_role):
    response = as_role(role).post(revoke_url(share_link))

    assert response.status_code == expected
    share_link.refresh_from_db()
    assert share_link.is_active


def test_a_missing_share_link_is_404(share_link, as_role):
    assert as_role("owner").post(reverse("api-share-link-revoke", args=[share_link.pk + 1000])).status_code == 404
