import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from backend.datasets import imports
from backend.datasets.models import Dataset, DatasetFormat, DatasetStatus
from tests.conftest import PASSWORD
from tests.datasets.imports import Unreadable, csv_upload, imports_inline, npz_bytes, npz_upload, store_contents

URL = reverse("api-datasets")
imports_inline = imports_inline


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.SAMPLEWISE_DATA_DIR = tmp_path / "data"
    return settings.SAMPLEWISE_DATA_DIR


def upload_url(team) -> str:
    return f"{URL}?team={team.pk}"


def detail(client, dataset_id: int) -> dict:
    return client.get(reverse("api-dataset", args=[dataset_id])).json()


def test_an_editor_creates_a_builtin_dataset(team, as_role):
    response = as_role("editor").post(URL, {"team": team.pk, "name": "Digits", "builtin": "digits"}, format="json")

    assert response.status_code == 201, response.json()
    dataset = Dataset.objects.get(pk=response.json()["id"])
    assert (dataset.team, dataset.format, dataset.source) == (team, DatasetFormat.BUILTIN, "digits")
    assert dataset.status == DatasetStatus.READY
    assert response.json()["num_classes"] == 10
    assert response.json()["train_size"] + response.json()["test_size"] == 1797
    assert response.json()["input_shape"] == [1, 8, 8]


def test_an_upload_is_stored_and_answered_at_once_with_the_pending_dataset(
    team, as_role, data_dir, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(imports, "_send", sent.append)

    with django_capture_on_commit_callbacks(execute=True):
        response = as_role("editor").post(upload_url(team), {"name": "Blobs", "file": npz_upload()}, format="multipart")

    assert response.status_code == 202, response.json()
    body = response.json()
    assert (body["status"], body["progress"], body["stage"]) == ("pending", 0.0, "Waiting for a worker")
    assert (body["sha256"], body["train_size"]) == ("", 0)
    assert sent == [body["id"]]
    stored = Dataset.objects.get(pk=body["id"]).stored_upload
    assert store_contents(data_dir) == {"uploads": [stored], "arrays": []}
    assert (data_dir / "uploads" / stored).read_bytes() == npz_bytes()


def test_an_owner_imports_an_npz_upload(team, as_role, imports_inline):
    client = as_role("owner")

    with imports_inline():
        response = client.post(
            upload_url(team), {"name": "Blobs", "file": npz_upload(), "description": "two blobs"}, format="multipart"
        )

    assert response.status_code == 202, response.json()
    body = detail(client, response.json()["id"])
    assert (body["status"], body["progress"], body["error"]) == ("ready", 1.0, "")
    assert (body["format"], body["source"], body["description"]) == ("npz", "blobs.npz", "two blobs")
    assert (body["train_size"], body["test_size"], body["input_shape"], body["input_kind"]) == (40, 10, [3], "features")
    assert body["class_counts"] == [20, 20]
    assert len(body["sha256"]) == 64


def test_a_csv_upload_uses_the_named_label_column(team, as_role, imports_inline):
    client = as_role("editor")

    with imports_inline():
        response = client.post(
            upload_url(team),
            {"name": "Plants", "file": csv_upload("species"), "label_column": "species"},
            format="multipart",
        )

    assert response.status_code == 202, response.json()
    body = detail(client, response.json()["id"])
    assert body["status"] == "ready"
    assert body["class_names"] == ["a", "b", "c"]
    assert body["train_size"] + body["test_size"] == 30


def test_a_viewer_cannot_create_datasets(team, as_role):
    response = as_role("viewer").post(URL, {"team": team.pk, "name": "Digits", "builtin": "digits"}, format="json")

    assert response.status_code == 403
    assert not Dataset.objects.exists()


def test_an_outsider_naming_the_team_gets_a_team_error(team, as_role):
    response = as_role("outsider").post(URL, {"team": team.pk, "name": "Digits", "builtin": "digits"}, format="json")

    assert response.status_code == 400
    assert "team" in response.json()
    assert not Dataset.objects.exists()


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"name": "Digits", "builtin": "cifar100"}, "builtin"),
        ({"name": "", "builtin": "digits"}, "name"),
        ({"name": "tiny-digits", "builtin": "digits"}, "name"),
        ({"name": "Digits", "builtin": "digits", "team": "abc"}, "team"),
        ({"name": "Nothing"}, "file"),
        ({"name": "Both", "builtin": "digits", "file": "x"}, "builtin"),
        ({"name": "Inline", "file": "x"}, "file"),
    ],
)
def test_bad_builtin_payloads_name_the_field_and_store_nothing(payload, field, team, dataset, as_role, data_dir):
    before = Dataset.objects.count()

    response = as_role("editor").post(URL, {"team": team.pk, **payload}, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert Dataset.objects.count() == before


@pytest.mark.parametrize(
    "upload, extra, message",
    [
        (lambda: SimpleUploadedFile("garbage.npz", b"not an archive"), {}, "garbage.npz: not a readable .npz file"),
        (lambda: npz_upload(x_test=np.zeros((10, 5), dtype=np.float32)), {}, "they must match"),
        (lambda: npz_upload(y_train=np.array([{"a": 1}] * 40, dtype=object)), {}, "holds Python objects"),
        (lambda: csv_upload("species"), {"label_column": "kind"}, "plants.csv: no label column 'kind'"),
    ],
    ids=["corrupt-npz", "mismatched-shapes", "pickled-objects", "missing-label-column"],
)
def test_a_bad_upload_fails_on_its_dataset_row_and_nothing_is_kept(
    upload, extra, message, team, as_role, data_dir, imports_inline
):
    client = as_role("editor")

    with imports_inline():
        response = client.post(upload_url(team), {"name": "Broken", "file": upload(), **extra}, format="multipart")

    assert response.status_code == 202, response.json()
    body = detail(client, response.json()["id"])
    assert body["status"] == "failed"
    assert message in body["error"]
    assert (body["sha256"], body["train_size"]) == ("", 0)
    assert store_contents(data_dir) == {"uploads": [], "arrays": []}


@pytest.mark.parametrize(
    "upload, extra, field",
    [
        (SimpleUploadedFile("notes.txt", b"hello"), {}, "file"),
        (SimpleUploadedFile("empty.npz", b""), {}, "file"),
        (None, {}, "file"),
        (SimpleUploadedFile("table.csv", b"a,label\n1,x\n"), {"label_column": " "}, "label_column"),
        (SimpleUploadedFile("x.npz", b"x"), {"name": "tiny-digits"}, "name"),
        (SimpleUploadedFile("x.npz", b"x"), {"builtin": "digits"}, "builtin"),
    ],
    ids=["unknown-suffix", "empty-file", "no-file", "blank-label-column", "taken-name", "builtin-in-an-upload"],
)
def test_what_can_be_told_without_decoding_is_refused_at_once(upload, extra, field, team, dataset, as_role, data_dir):
    before = Dataset.objects.count()
    payload = {"name": "Refused", **({"file": upload} if upload is not None else {"file": ""}), **extra}

    response = as_role("editor").post(upload_url(team), payload, format="multipart")

    assert response.status_code == 400
    assert field in response.json()
    assert Dataset.objects.count() == before
    assert store_contents(data_dir) == {"uploads": [], "arrays": []}


def body_that_cannot_be_read(client, url: str, length: int):
    return client.generic(
        "POST",
        url,
        content_type="multipart/form-data; boundary=samplewise",
        CONTENT_LENGTH=str(length),
        **{"wsgi.input": Unreadable()},
    )


def test_a_content_length_over_the_limit_is_refused_before_the_body_is_read(team, as_role, settings, data_dir):
    settings.SAMPLEWISE_MAX_UPLOAD_BYTES = 4096

    response = body_that_cannot_be_read(as_role("editor"), upload_url(team), 4097)

    assert response.status_code == 413
    assert "4,096 byte limit" in response.json()["file"][0]
    assert not Dataset.objects.exists()
    assert store_contents(data_dir) == {"uploads": [], "arrays": []}


@pytest.mark.parametrize(
    "role, query, status, field",
    [
        ("viewer", "?team={team}", 403, None),
        ("outsider", "?team={team}", 400, "team"),
        ("editor", "", 400, "team"),
        ("editor", "?team=abc", 400, "team"),
    ],
    ids=["viewer", "outsider", "no-team", "bad-team"],
)
def test_the_team_is_checked_before_the_body_is_read(role, query, status, field, team, as_role, data_dir):
    response = body_that_cannot_be_read(as_role(role), URL + query.format(team=team.pk), 1024)

    assert response.status_code == status
    assert field is None or field in response.json()
    assert store_contents(data_dir) == {"uploads": [], "arrays": []}


def test_a_body_naming_another_team_is_refused(team, other_team, as_role, data_dir):
    response = as_role("editor").post(
        upload_url(team), {"team": other_team.pk, "name": "Blobs", "file": npz_upload()}, format="multipart"
    )

    assert response.status_code == 400
    assert "team" in response.json()
    assert not Dataset.objects.exists()
    assert store_contents(data_dir) == {"uploads": [], "arrays": []}


def session_client(user, *, csrf_token: str | None) -> APIClient:
    client = APIClient(enforce_csrf_checks=True)
    client.login(username=user.username, password=PASSWORD)
    if csrf_token is not None:
        client.cookies["csrftoken"] = csrf_token
        client.credentials(HTTP_X_CSRFTOKEN=csrf_token)
    return client


def test_a_session_viewer_is_refused_before_the_body_is_read(team, viewer, data_dir):
    # Django's CSRF check reads a form body; for uploads it comes after the access check.
    response = body_that_cannot_be_read(session_client(viewer, csrf_token="a" * 32), upload_url(team), 1024)

    assert response.status_code == 403
    assert "CSRF" not in response.json()["detail"]


def test_a_session_upload_still_needs_its_csrf_token(team, editor, data_dir):
    response = session_client(editor, csrf_token=None).post(
        upload_url(team), {"name": "Blobs", "file": npz_upload()}, format="multipart"
    )

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not Dataset.objects.exists()


def test_a_session_upload_with_its_csrf_token_is_accepted(team, editor, data_dir):
    response = session_client(editor, csrf_token="a" * 32).post(
        upload_url(team), {"name": "Blobs", "file": npz_upload()}, format="multipart"
    )

    assert response.status_code == 202, response.json()
    assert Dataset.objects.get().status == DatasetStatus.PENDING


def test_a_session_builtin_create_still_needs_its_csrf_token(team, editor):
    response = session_client(editor, csrf_token=None).post(
        URL, {"team": team.pk, "name": "Digits", "builtin": "digits"}, format="json"
    )

    assert response.status_code == 403
    assert not Dataset.objects.exists()
