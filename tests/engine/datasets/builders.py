"""Small datasets written on the fly: images, archives and .npz files."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image


def image_bytes(value: int, *, size: tuple[int, int] = (4, 3), mode: str = "RGB", format: str = "PNG") -> bytes:
    """An image whose every pixel is ``value`` (in each channel)."""
    channels = {"L": 1, "RGB": 3}[mode]
    pixels = np.full((size[1], size[0], channels), value, dtype=np.uint8)
    image = Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels)
    buffer = io.BytesIO()
    image.save(buffer, format=format)
    return buffer.getvalue()


def image_tree(*, mode: str = "RGB", size: tuple[int, int] = (4, 3)) -> dict[str, bytes]:
    """train: cat ×2, dog ×3; test: cat ×1, dog ×1. Each image's value encodes where it is."""
    values = {
        "train/dog/b.png": 20,
        "train/dog/a.png": 10,
        "train/cat/2.png": 40,
        "train/cat/1.png": 30,
        "train/dog/c.png": 50,
        "test/dog/x.png": 60,
        "test/cat/y.png": 70,
    }
    return {name: image_bytes(value, mode=mode, size=size) for name, value in values.items()}


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def write_tar(path: Path, members: dict[str, bytes], *, mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def write_directory(root: Path, members: dict[str, bytes]) -> Path:
    for name, data in members.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


def write_npz(path: Path, **arrays) -> Path:
    with path.open("wb") as stream:
        np.savez(stream, **arrays)
    return path


def stored_files(data_dir: Path) -> list[str]:
    """Names of the files in the dataset store (arrays and sidecars)."""
    folder = data_dir / "datasets"
    return sorted(path.name for path in folder.iterdir() if path.is_file()) if folder.exists() else []
