"""An import reports how far it has got, through the callback its caller gives it."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.datasets.builders import image_bytes, stored_files, write_npz, write_tar, write_zip
from workers.engine.data import images
from workers.engine.datasets import LOADER_SHARE, import_dataset


class Recorder:
    def __init__(self):
        self.reports: list[tuple[float, str]] = []

    def __call__(self, fraction: float, stage: str) -> None:
        self.reports.append((fraction, stage))

    @property
    def fractions(self) -> list[float]:
        return [fraction for fraction, _ in self.reports]

    def stages(self) -> list[str]:
        """The stages in the order they were first reported."""
        return list(dict.fromkeys(stage for _, stage in self.reports))


def many_images(count_per_class: int = 6) -> dict[str, bytes]:
    members = {}
    for label in ("cat", "dog"):
        for index in range(count_per_class):
            members[f"train/{label}/{index}.png"] = image_bytes(index * 10)
        members[f"test/{label}/0.png"] = image_bytes(200)
    return members


@pytest.mark.parametrize("writer, name", [(write_zip, "pets.zip"), (write_tar, "pets.tar.gz")])
def test_an_image_archive_reports_reading_then_decoding_up_to_done(writer, name, tmp_path, data_dir, monkeypatch):
    monkeypatch.setattr(images, "DECODE_CHUNK_SIZE", 4)
    archive = writer(tmp_path / name, many_images())
    recorder = Recorder()

    import_dataset(archive, data_dir, progress=recorder)

    assert recorder.fractions == sorted(recorder.fractions)
    assert recorder.fractions[0] == 0.0 and recorder.fractions[-1] == 1.0
    assert recorder.stages() == [
        "Checking the file",
        "Reading the archive",
        "Decoding images",
        "Storing the arrays",
        "Imported",
    ]
    decoding = [fraction for fraction, stage in recorder.reports if stage == "Decoding images"]
    # 14 images in chunks of 4: four chunks, each reported as it is done, ending where the loader's share ends.
    assert decoding[-4:] == pytest.approx(
        [LOADER_SHARE * (images.READ_SHARE + (1 - images.READ_SHARE) * done / 4) for done in (1, 2, 3, 4)]
    )
    reading = [fraction for fraction, stage in recorder.reports if stage == "Reading the archive"]
    assert len(reading) > len(many_images()) // 2


def test_an_npz_reports_its_stages(tmp_path, data_dir):
    x = np.arange(24, dtype=np.float32).reshape(8, 3)
    labels = np.arange(8) % 2
    path = write_npz(tmp_path / "arrays.npz", x_train=x, y_train=labels, x_test=x[:4], y_test=labels[:4])
    recorder = Recorder()

    import_dataset(path, data_dir, progress=recorder)

    assert recorder.reports == [
        (0.0, "Checking the file"),
        (0.0, "Reading the arrays"),
        (LOADER_SHARE, "Storing the arrays"),
        (1.0, "Imported"),
    ]


def test_a_file_imported_before_is_done_at_once(tmp_path, data_dir):
    archive = write_zip(tmp_path / "pets.zip", many_images())
    import_dataset(archive, data_dir)
    recorder = Recorder()

    import_dataset(archive, data_dir, progress=recorder)

    assert recorder.reports == [(0.0, "Checking the file"), (1.0, "Imported before")]


class Stop(Exception):
    pass


def test_a_callback_that_raises_stops_the_import_and_nothing_is_stored(tmp_path, data_dir):
    archive = write_zip(tmp_path / "pets.zip", many_images())

    def stop_while_decoding(fraction: float, stage: str) -> None:
        if stage == "Decoding images":
            raise Stop

    with pytest.raises(Stop):
        import_dataset(archive, data_dir, progress=stop_while_decoding)

    assert stored_files(data_dir) == []
