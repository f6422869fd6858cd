"""The upload page: who may open it, what an upload is answered with, and what is refused before the body is read."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from backend.datasets import imports
from backend.datasets.models import Dataset, DatasetStatus
from tests.datasets.imports import Unreadable, npz_bytes, npz_upload, store_contents

JSON = {"HTTP_ACCEPT": "application/json"}


def upload_url(slug: str = "vision") -> str:
    return reverse("dataset_upload", args=[slug])


def status_url(dataset) -> str:
    return reverse("dataset_import_status", args=[dataset.pk])


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.SAMPLEWISE_DATA_DIR = tmp_path / "data"
    return settings.SAMPLEWISE_DATA_DIR


@pytest.fixture
def sent(monkeypatch):
    ids: list[int] = []
    monkeypatch.setattr(imports, "_send", ids.append)
    return ids


@pytest.mark.parametrize("member", ["owner", "editor"])
def test_editors_and_owners_get_the_form_with_the_size_limit(member, request, client_as, team, settings):
    settings.SAMPLEWISE_MAX_UPLOAD_BYTES = 5 * 1024**2

    response = client_as(request.getfixturevalue(member)).get(upload_url())

    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="upload-form"' in html and 'enctype="multipart/form-data"' in html
    assert 'accept=".zip,.tar.gz,.tgz,.npz,.csv"' in html
    assert "At most 5.0\xa0MB." in html
    assert f'"maxBytes": {5 * 1024**2}' in html
    assert "js/upload.js" in html and "css/upload.css" in html


def test_the_datasets_page_links_to_the_upload_for_editors_only(client_as, editor, viewer, team):
    assert (
        f'href="{upload_url()}" data-action="upload"'
        in client_as(editor).get(reverse("team_datasets", args=["vision"])).content.decode()
    )
    assert upload_url() not in client_as(viewer).get(reverse("team_datasets", args=["vision"])).content.decode()


@pytest.mark.parametrize("member, status", [("viewer", 403), ("outsider", 404)])
def test_viewers_and_outsiders_cannot_open_the_form(member, status, request, client_as, team, other_team):
    assert client_as(request.getfixturevalue(member)).get(upload_url()).status_code == status


def test_anonymous_is_sent_to_log_in(client_as, team):
    response = client_as(None).get(upload_url())

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_an_upload_is_answered_at_once_with_the_import_to_follow(
    client_as, editor, team, data_dir, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_as(editor).post(upload_url(), {"name": "Blobs", "file": npz_upload()}, **JSON)

    assert response.status_code == 202
    dataset = Dataset.objects.get()
    assert response.json() == {
        "id": dataset.pk,
        "name": "Blobs",
        "status": "pending",
        "status_label": "Pending",
        "progress": 0.0,
        "stage": "Waiting for a worker",
        "error": "",
        "status_url": status_url(dataset),
    }
    assert sent == [dataset.pk]
    assert (data_dir / "uploads" / dataset.stored_upload).read_bytes() == npz_bytes()


def test_an_upload_through_the_plain_form_lands_on_the_datasets_page(client_as, editor, team, sent):
    response = client_as(editor).post(upload_url(), {"name": "Blobs", "file": npz_upload()}, follow=True)

    assert response.redirect_chain == [(reverse("team_datasets", args=["vision"]), 302)]
    html = response.content.decode()
    assert "Uploaded Blobs" in html and "badge-pending" in html


def test_the_uploaded_file_is_received_straight_into_the_store(client_as, editor, team, data_dir, sent):
    # Larger than Django's in-memory limit for uploads, which would otherwise keep it in the web process.
    content = npz_bytes() + b"\0" * (3 * 1024**2)

    client_as(editor).post(upload_url(), {"name": "Big", "file": SimpleUploadedFile("big.npz", content)}, **JSON)

    dataset = Dataset.objects.get()
    assert store_contents(data_dir)["uploads"] == [dataset.stored_upload]
    assert (data_dir / "uploads" / dataset.stored_upload).read_bytes() == content


@pytest.mark.parametrize(
    "payload, field, message",
    [
        ({"name": "Notes", "file": SimpleUploadedFile("notes.txt", b"hi")}, "file", "Unsupported file type"),
        ({"name": "Empty", "file": SimpleUploadedFile("empty.npz", b"")}, "file", "The submitted file is empty."),
        ({"name": "Nothing"}, "file", "This field is required."),
        ({"name": "tiny-digits", "file": SimpleUploadedFile("x.npz", b"x")}, "name", "already has a dataset"),
    ],
    ids=["wrong-type", "empty", "no-file", "taken-name"],
)
def test_a_refused_upload_names_the_field_and_stores_nothing(
    payload, field, message, client_as, editor, team, dataset, data_dir
):
    response = client_as(editor).post(upload_url(), payload, **JSON)

    assert response.status_code == 400
    assert message in response.json()["errors"][field][0]
    assert Dataset.objects.count() == 1
    assert store_contents(data_dir) == {"uploads": [], "arrays": []}


def test_the_plain_form_shows_the_error_next_to_the_file(client_as, editor, team):
    response = client_as(editor).post(upload_url(), {"name": "Notes", "file": SimpleUploadedFile("notes.txt", b"hi")})

    html = response.content.decode()
    assert response.status_code == 400
    assert 'class="field has-error" data-field="file"' in html
    assert "Unsupported file type &#x27;notes.txt&#x27;" in html


def unreadable_post(client: Client, url: str, length: int, **extra):
    return client.generic(
        "POST",
        url,
        content_type="multipart/form-data; boundary=samplewise",
        CONTENT_LENGTH=str(length),
        **{"wsgi.input": Unreadable()},
        **extra,
    )


def test_a_request_over_the_limit_is_refused_before_its_body_is_read(client_as, editor, team, settings, data_dir):
    settings.SAMPLEWISE_MAX_UPLOAD_BYTES = 4096

    response = unreadable_post(client_as(editor), upload_url(), 10_000, **JSON)

    assert response.status_code == 413
    assert response.json() == {
        "errors": {"file": ["The upload is 10,000 bytes, over the 4,096 byte limit for datasets."]}
    }
    assert store_contents(data_dir) == {"uploads": [], "arrays": []}


def test_the_plain_form_shows_the_limit_next_to_the_file(client_as, editor, team, settings):
    settings.SAMPLEWISE_MAX_UPLOAD_BYTES = 4096

    response = unreadable_post(client_as(editor), upload_url(), 10_000)

    assert response.status_code == 413
    assert "over the 4,096 byte limit" in response.content.decode()


@pytest.mark.parametrize("member, status", [("viewer", 403), ("outsider", 404), (None, 302)])
def test_access_is_decided_before_the_body_is_read(member, status, request, client_as, team, other_team):
    user = request.getfixturevalue(member) if member else None

    response = unreadable_post(client_as(user), upload_url(), 1024)

    assert response.status_code == status


def test_the_csrf_token_is_still_required(editor, team):
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)

    response = client.post(upload_url(), {"name": "Blobs", "file": npz_upload()}, **JSON)

    assert response.status_code == 403
    assert not Dataset.objects.exists()


def test_a_failed_import_can_be_uploaded_again_under_its_name(client_as, editor, team, sent):
    client = client_as(editor)
    client.post(upload_url(), {"name": "Blobs", "file": npz_upload()}, **JSON)
    Dataset.objects.update(status=DatasetStatus.FAILED, error="blobs.npz: broken", stored_upload="")

    response = client.post(upload_url(), {"name": "Blobs", "file": npz_upload()}, **JSON)

    assert response.status_code == 202
    assert list(Dataset.objects.values_list("name", "status")) == [("Blobs", "pending")]


def test_members_follow_the_import_and_outsiders_get_404(client_as, editor, viewer, outsider, team, sent):
    client_as(editor).post(upload_url(), {"name": "Blobs", "file": npz_upload()}, **JSON)
    dataset = Dataset.objects.get()
    Dataset.objects.filter(pk=dataset.pk).update(status=DatasetStatus.IMPORTING, progress=0.4, stage="Decoding images")

    state = client_as(viewer).get(status_url(dataset)).json()

    assert (state["status"], state["status_label"], state["progress"], state["stage"]) == (
        "importing",
        "Importing",
        0.4,
        "Decoding images",
    )
    assert client_as(outsider).get(status_url(dataset)).status_code == 404


def test_the_datasets_page_shows_an_import_in_progress(client_as, editor, team, sent):
    client_as(editor).post(upload_url(), {"name": "Blobs", "file": npz_upload()}, **JSON)
    Dataset.objects.update(status=DatasetStatus.IMPORTING, progress=0.42, stage="Decoding images")

    html = client_as(editor).get(reverse("team_datasets", args=["vision"])).content.decode()

    assert "badge-importing" in html and "Decoding images · 42 %" in html
