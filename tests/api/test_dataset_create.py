import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from backend.datasets.models import Dataset, DatasetFormat, DatasetStatus

URL = reverse("api-datasets")


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.SAMPLEWISE_DATA_DIR = tmp_path / "data"
    return settings.SAMPLEWISE_DATA_DIR


def npz_upload(name="blobs.npz", **overrides) -> SimpleUploadedFile:
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.normal(size=(40, 3)).astype(np.float32),
        "y_train": np.arange(40) % 2,
        "x_test": rng.normal(size=(10, 3)).astype(np.float32),
        "y_test": np.arange(10) % 2,
    }
    arrays.update(overrides)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="application/octet-stream")


def csv_upload(label_column="species") -> SimpleUploadedFile:
    rows = [f"{index % 3},{index * 0.5},{['a', 'b', 'c'][index % 3]}" for index in range(30)]
    content = "\n".join([f"width,height,{label_column}", *rows]) + "\n"
    return SimpleUploadedFile("plants.csv", content.encode(), content_type="text/csv")


def test_an_editor_creates_a_builtin_dataset(team, as_role):
    response = as_role("editor").post(URL, {"team": team.pk, "name": "Digits", "builtin": "digits"}, format="json")

    assert response.status_code == 201, response.json()
    dataset = Dataset.objects.get(pk=response.json()["id"])
    assert (dataset.team, dataset.format, dataset.source) == (team, DatasetFormat.BUILTIN, "digits")
    assert dataset.status == DatasetStatus.READY
    assert response.json()["num_classes"] == 10
    assert response.json()["train_size"] + response.json()["test_size"] == 1797
    assert response.json()["input_shape"] == [1, 8, 8]


def test_an_owner_imports_an_npz_upload(team, as_role):
    response = as_role("owner").post(
        URL, {"team": team.pk, "name": "Blobs", "file": npz_upload(), "description": "two blobs"}, format="multipart"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["format"], body["source"], body["description"]) == ("npz", "blobs.npz", "two blobs")
    assert (body["train_size"], body["test_size"], body["input_shape"]) == (40, 10, [3])
    assert body["class_counts"] == [20, 20]


def test_a_csv_upload_uses_the_named_label_column(team, as_role):
    response = as_role("editor").post(
        URL,
        {"team": team.pk, "name": "Plants", "file": csv_upload("species"), "label_column": "species"},
        format="multipart",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["class_names"] == ["a", "b", "c"]
    assert response.json()["train_size"] + response.json()["test_size"] == 30


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
    ],
)
def test_bad_builtin_payloads_name_the_field_and_store_nothing(payload, field, team, dataset, as_role, data_dir):
    before = Dataset.objects.count()

    response = as_role("editor").post(URL, {"team": team.pk, **payload}, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert Dataset.objects.count() == before


@pytest.mark.parametrize(
    "upload, extra",
    [
        (SimpleUploadedFile("garbage.npz", b"not an archive"), {}),
        (SimpleUploadedFile("notes.txt", b"hello"), {}),
        (lambda: npz_upload(x_test=np.zeros((10, 5), dtype=np.float32)), {}),
        (lambda: npz_upload(y_train=np.array([{"a": 1}] * 40, dtype=object)), {}),
        (lambda: csv_upload("species"), {"label_column": "kind"}),
    ],
    ids=["corrupt-npz", "unknown-suffix", "mismatched-shapes", "pickled-objects", "missing-label-column"],
)
def test_bad_uploads_name_the_file_and_store_nothing(upload, extra, team, as_role, data_dir):
    upload = upload() if callable(upload) else upload

    response = as_role("editor").post(
        URL, {"team": team.pk, "name": "Broken", "file": upload, **extra}, format="multipart"
    )

    assert response.status_code == 400
    assert "file" in response.json()
    assert not Dataset.objects.exists()
    assert list((data_dir / "uploads").glob("*")) == []


def test_an_upload_without_a_file_names_the_file(team, as_role):
    response = as_role("editor").post(URL, {"team": team.pk, "name": "Empty", "file": ""}, format="multipart")

    assert response.status_code == 400
    assert "file" in response.json()
    assert not Dataset.objects.exists()
