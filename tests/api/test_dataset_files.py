import numpy as np
import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from backend.datasets.models import Dataset
from tests.api.conftest import add_dataset
from tests.datasets.imports import imports_inline, npz_upload
from workers.engine.arrays import ArrayDataset
from workers.engine.datasets import dataset_path, load_dataset, save_dataset, store_file

WORKER_TOKEN = "worker-secret-for-the-test-suite"
imports_inline = imports_inline


@pytest.fixture
def data_dir(settings, tmp_path):
    settings.SAMPLEWISE_DATA_DIR = tmp_path / "server"
    settings.SAMPLEWISE_WORKER_TOKEN = WORKER_TOKEN
    return settings.SAMPLEWISE_DATA_DIR


@pytest.fixture
def stored(team, data_dir):
    """A dataset row whose canonical file is in the server's store."""
    rng = np.random.default_rng(0)
    arrays = ArrayDataset(
        x_train=rng.normal(size=(12, 3)).astype(np.float32),
        y_train=np.arange(12, dtype=np.int64) % 2,
        x_test=rng.normal(size=(4, 3)).astype(np.float32),
        y_test=np.arange(4, dtype=np.int64) % 2,
        class_names=["left", "right"],
        kind="features",
    )
    info = save_dataset(arrays, data_dir, "pairs")
    return add_dataset(team, "pairs", sha256=info.sha256, input_shape=[3], class_names=["left", "right"])


def file_url(sha256: str) -> str:
    return reverse("api-dataset-file", args=[sha256])


def worker_client(token: str = WORKER_TOKEN) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_a_worker_downloads_the_canonical_file_and_can_store_it(stored, data_dir, tmp_path):
    response = worker_client().get(file_url(stored.sha256))

    assert response.status_code == 200
    downloaded = tmp_path / "download.npz"
    downloaded.write_bytes(b"".join(response.streaming_content))
    assert downloaded.read_bytes() == dataset_path(stored.sha256, data_dir).read_bytes()
    worker_store = tmp_path / "worker"
    store_file(downloaded, worker_store, expected_sha256=stored.sha256)
    assert load_dataset(stored.sha256, worker_store).class_names == ["left", "right"]


@pytest.mark.parametrize("token", ["wrong-secret", ""])
def test_a_wrong_worker_token_is_refused(token, stored):
    assert worker_client(token).get(file_url(stored.sha256)).status_code in (401, 403)


def test_no_worker_token_is_accepted_when_none_is_configured(stored, settings):
    settings.SAMPLEWISE_WORKER_TOKEN = ""

    assert worker_client("").get(file_url(stored.sha256)).status_code in (401, 403)


def test_anonymous_cannot_download(stored, client_for):
    assert client_for(None).get(file_url(stored.sha256)).status_code in (401, 403)


@pytest.mark.parametrize("role, expected", [("owner", 200), ("editor", 200), ("viewer", 200), ("outsider", 404)])
def test_people_download_only_their_teams_datasets(role, expected, stored, as_role):
    assert as_role(role).get(file_url(stored.sha256)).status_code == expected


def test_an_unregistered_hash_is_404_even_for_a_worker(stored):
    assert worker_client().get(file_url("0" * 64)).status_code == 404


def test_a_registered_dataset_whose_file_is_gone_is_404(stored, data_dir):
    dataset_path(stored.sha256, data_dir).unlink()

    response = worker_client().get(file_url(stored.sha256))

    assert response.status_code == 404
    assert "store" in response.json()["detail"]


def test_the_worker_token_opens_no_other_endpoint(stored):
    assert worker_client().get(reverse("api-datasets")).status_code in (401, 403)


def test_an_upload_is_served_by_its_hash_once_the_worker_has_imported_it(team, as_role, data_dir, imports_inline):
    with imports_inline():
        response = as_role("editor").post(
            f"{reverse('api-datasets')}?team={team.pk}", {"name": "Blobs", "file": npz_upload()}, format="multipart"
        )
    dataset = Dataset.objects.get(pk=response.json()["id"])

    download = worker_client().get(file_url(dataset.sha256))

    assert download.status_code == 200
    assert b"".join(download.streaming_content) == dataset_path(dataset.sha256, data_dir).read_bytes()
