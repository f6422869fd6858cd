"""The worker's local dataset cache, filled from the web app by SHA-256 when a dataset is missing.

Workers on other machines share no filesystem with the web app: they download
the canonical file once, and the engine verifies its hash before storing it.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import urllib.request
from pathlib import Path

from django.conf import settings

from workers.engine.arrays import ArrayDataset
from workers.engine.datasets import dataset_path, load_dataset, store_file
from workers.engine.errors import DatasetError, DatasetFetchError

DOWNLOAD_TIMEOUT_SECONDS = 300

logger = logging.getLogger(__name__)


def ensure_dataset(sha256: str) -> ArrayDataset:
    data_dir = Path(settings.SAMPLEWISE_DATA_DIR)
    if not dataset_path(sha256, data_dir).exists():
        fetch_dataset(sha256, data_dir)
    return load_dataset(sha256, data_dir)


def fetch_dataset(sha256: str, data_dir: Path) -> None:
    base_url = settings.SAMPLEWISE_API_URL
    if not base_url:
        raise DatasetFetchError(
            f"dataset {sha256} is not in {data_dir} and SAMPLEWISE_API_URL is not set, so it cannot be fetched"
        )
    url = f"{base_url.rstrip('/')}/api/v1/datasets/files/{sha256}/"
    request = urllib.request.Request(
        url,
        headers={"Authorization": f"Token {settings.SAMPLEWISE_WORKER_TOKEN}"},
    )
    scratch = data_dir / "downloads"
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=scratch, suffix=".npz", delete=False) as destination:
        temporary = Path(destination.name)
        try:
            with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
                shutil.copyfileobj(response, destination)
        except OSError as error:
            temporary.unlink(missing_ok=True)
            raise DatasetFetchError(f"could not fetch dataset {sha256} from {base_url}: {error}") from None
    try:
        store_file(temporary, data_dir, expected_sha256=sha256)
    except DatasetError as error:
        # A truncated or damaged download: fetching again may well succeed.
        raise DatasetFetchError(f"the copy of dataset {sha256} fetched from {base_url} is unusable: {error}") from None
    finally:
        temporary.unlink(missing_ok=True)
    logger.info("fetched dataset %s from %s", sha256, url)
