"""Image-folder datasets: ``train/<class>/*`` and ``test/<class>/*`` in a zip, a tar or a directory.

Members are read into memory and decoded from there; nothing is ever extracted to
disk, so a member named ``../x`` cannot be written anywhere (such names are refused
all the same). Hidden files, macOS/Windows junk and loose files beside the split
folders (a README) are skipped. One wrapping folder (``cifar10/train/...``) is
allowed. Every image is decoded with Pillow into one mode: grayscale (``L``) when
all images are grayscale, otherwise RGB; 16-bit and float images are refused. All
images must have the same size and every test class must be a train class. Class
names are the sorted train folder names; within a split, images are ordered by class
and then by path, so the same images give the same arrays whatever the archive's
member order.

Archive bombs are refused by limiting the member count, the bytes read per member and
in total, the pixels per image and the decoded bytes (checked before decoding). Large
archives are decoded by a pool of worker processes, one per core. An optional
``progress(fraction, stage)`` callback hears how much of the archive has been read and
how many images have been decoded.
"""

from __future__ import annotations

import io
import lzma
import multiprocessing
import os
import sys
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from workers.engine.arrays import ArrayDataset
from workers.engine.errors import DatasetError

MAX_ARCHIVE_MEMBERS = 1_000_000
MAX_MEMBER_BYTES = 32 * 1024**2
MAX_ENCODED_BYTES = 4 * 1024**3
MAX_DECODED_BYTES = 4 * 1024**3
MAX_IMAGE_PIXELS = 4096 * 4096
# Formats read by Pillow's own decoders; others (EPS, for one) would call external programs.
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "PPM")
GRAYSCALE_MODES = frozenset({"1", "L", "LA", "La"})
# 8-bit colour modes that convert to RGB without loss of range; 16-bit and float images would be clipped.
COLOUR_MODES = frozenset({"P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"})
JUNK_NAMES = frozenset({"__MACOSX", "Thumbs.db", "desktop.ini"})
SPLITS = ("train", "test")
# Images per task handed to a decoding process: large enough to amortise the hand-off.
DECODE_CHUNK_SIZE = 1024
MAX_DECODE_WORKERS = 8
ARCHIVE_ERRORS = (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, zlib.error, lzma.LZMAError)
# Reading the members is quicker than decoding them: the share of the progress it takes.
READ_SHARE = 0.3
READING = "Reading the archive"
DECODING = "Decoding images"

Progress = Callable[[float, str], None]


def _no_progress(fraction: float, stage: str) -> None:
    pass


def _span(report: Progress, start: float, end: float) -> Progress:
    """``report`` for a step that covers ``start`` to ``end`` of the whole."""

    def spanned(fraction: float, stage: str) -> None:
        report(start + (end - start) * fraction, stage)

    return spanned


def read_image_folder(path: Path, source: str, progress: Progress | None = None) -> ArrayDataset:
    """Decode an image-folder archive or directory into canonical arrays; ``source`` names it in errors."""
    report = progress or _no_progress
    class_names, members = _layout(list(_read_members(path, source, _span(report, 0.0, READ_SHARE))), source)
    names = [name for name, _, _, _ in members]
    reference = _reference_size(source, names[0], members[0][3])
    width, height = reference[1]
    if len(members) * width * height * 3 > MAX_DECODED_BYTES:
        raise DatasetError(
            f"{source}: {len(members)} images of {width}×{height} decode to more than "
            f"{MAX_DECODED_BYTES} bytes; refusing the archive"
        )
    splits = np.array([split for _, split, _, _ in members], dtype=np.int64)
    labels = np.array([label for _, _, label, _ in members], dtype=np.int64)
    blobs = [data for _, _, _, data in members]
    del members
    pixels = _decode_all(source, names, blobs, reference, _span(report, READ_SHARE, 1.0))
    train_size = int(np.count_nonzero(splits == 0))
    return ArrayDataset(
        x_train=pixels[:train_size],
        y_train=labels[:train_size],
        x_test=pixels[train_size:],
        y_test=labels[train_size:],
        class_names=class_names,
        kind="image",
    )


def _read_members(path: Path, source: str, report: Progress) -> Iterator[tuple[tuple[str, ...], bytes]]:
    """Yield (path parts, bytes) of every regular, non-junk file, in archive order, within the limits."""
    budget = _ReadBudget(source)
    report(0.0, READING)
    if path.is_dir():
        yield from _directory_members(path, path, source, budget)
        return
    try:
        if zipfile.is_zipfile(path):
            yield from _zip_members(path, source, budget, report)
        else:
            yield from _tar_members(path, source, budget, report)
    except ARCHIVE_ERRORS as error:
        raise DatasetError(f"{source}: cannot read the archive ({error})") from None


class _ReadBudget:
    def __init__(self, source: str):
        self.source = source
        self.members = 0
        self.bytes = 0

    def count_member(self) -> None:
        self.members += 1
        if self.members > MAX_ARCHIVE_MEMBERS:
            raise DatasetError(f"{self.source}: more than {MAX_ARCHIVE_MEMBERS} members; refusing the archive")

    def check_size(self, name: str, size: int) -> None:
        if size > MAX_MEMBER_BYTES:
            raise DatasetError(
                f"{self.source}: {name}: {size} bytes is over the {MAX_MEMBER_BYTES} byte limit per file"
            )
        self.bytes += size
        if self.bytes > MAX_ENCODED_BYTES:
            raise DatasetError(
                f"{self.source}: the files hold more than {MAX_ENCODED_BYTES} bytes; refusing the archive"
            )


def _member_parts(name: str, source: str) -> tuple[str, ...] | None:
    """The path components of a member; None for junk to skip; DatasetError for unsafe paths."""
    normalized = name.replace("\\", "/")
    parts = tuple(part for part in normalized.split("/") if part and part != ".")
    if normalized.startswith("/") or normalized[1:2] == ":" or ".." in parts:
        raise DatasetError(
            f"{source}: member {name!r} has an unsafe path (absolute or with '..'); refusing the archive"
        )
    if not parts or any(part.startswith(".") or part in JUNK_NAMES for part in parts):
        return None
    return parts


def _zip_members(
    path: Path, source: str, budget: _ReadBudget, report: Progress
) -> Iterator[tuple[tuple[str, ...], bytes]]:
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        for position, info in enumerate(infos):
            report(position / len(infos), READING)
            budget.count_member()
            parts = _member_parts(info.filename, source)
            if parts is None or info.is_dir():
                continue
            if info.flag_bits & 0x1:
                raise DatasetError(f"{source}: {info.filename}: encrypted members are not supported")
            budget.check_size(info.filename, info.file_size)
            with archive.open(info) as member:
                # The declared size bounds the read; a lying header cannot make it grow.
                data = member.read(info.file_size + 1)
            if len(data) != info.file_size:
                raise DatasetError(f"{source}: {info.filename}: size does not match the archive's directory")
            yield parts, data


def _tar_members(
    path: Path, source: str, budget: _ReadBudget, report: Progress
) -> Iterator[tuple[tuple[str, ...], bytes]]:
    size = max(path.stat().st_size, 1)
    # Stream mode reads the (compressed) archive once, front to back, without seeking,
    # so the position in the file says how much of it has been read.
    with path.open("rb") as raw, tarfile.open(fileobj=raw, mode="r|*") as archive:
        for member in archive:
            report(min(raw.tell() / size, 1.0), READING)
            budget.count_member()
            parts = _member_parts(member.name, source)
            if parts is None or member.isdir():
                continue
            if not member.isreg():
                raise DatasetError(f"{source}: {member.name}: links and special files are not accepted")
            budget.check_size(member.name, member.size)
            stream = archive.extractfile(member)
            data = stream.read() if stream is not None else b""
            yield parts, data


def _directory_members(
    root: Path, folder: Path, source: str, budget: _ReadBudget
) -> Iterator[tuple[tuple[str, ...], bytes]]:
    for entry in sorted(os.scandir(folder), key=lambda entry: entry.name):
        budget.count_member()
        relative = Path(entry.path).relative_to(root).as_posix()
        if _member_parts(relative, source) is None:
            continue
        if entry.is_symlink():
            raise DatasetError(f"{source}: {relative}: symbolic links are not accepted")
        if entry.is_dir():
            yield from _directory_members(root, Path(entry.path), source, budget)
        elif entry.is_file():
            budget.check_size(relative, entry.stat().st_size)
            yield tuple(relative.split("/")), Path(entry.path).read_bytes()
        else:
            raise DatasetError(f"{source}: {relative}: special files are not accepted")


def _layout(
    members: list[tuple[tuple[str, ...], bytes]], source: str
) -> tuple[list[str], list[tuple[str, int, int, bytes]]]:
    """Class names, and (name, split, label, bytes) per image sorted by split, class and path."""
    # Loose files beside the folders (a README, a licence) belong to no class.
    members = [(parts, data) for parts, data in members if len(parts) > 1]
    if not members:
        raise DatasetError(f"{source}: no folders found; expected train/<class>/<image> and test/<class>/<image>")
    first = members[0][0][0]
    wrapped = first not in SPLITS and all(parts[0] == first for parts, _ in members)
    seen: set[tuple[str, ...]] = set()
    located = []
    for parts, data in members:
        name = "/".join(parts)
        inner = parts[1:] if wrapped else parts
        if len(inner) == 1:
            continue
        if len(inner) != 3 or inner[0] not in SPLITS:
            raise DatasetError(f"{source}: {name}: expected train/<class>/<image> or test/<class>/<image>")
        if inner in seen:
            raise DatasetError(f"{source}: {name}: appears twice in the archive")
        seen.add(inner)
        located.append((SPLITS.index(inner[0]), inner[1], inner[2], name, data))
    classes = {
        split: sorted({entry[1] for entry in located if entry[0] == index}) for index, split in enumerate(SPLITS)
    }
    for split in SPLITS:
        if not classes[split]:
            raise DatasetError(f"{source}: no {split}/ folder with images; expected {split}/<class>/<image>")
    unknown = sorted(set(classes["test"]) - set(classes["train"]))
    if unknown:
        raise DatasetError(
            f"{source}: test class(es) {', '.join(unknown)} have no train/ folder "
            f"(train classes: {', '.join(classes['train'])})"
        )
    located.sort(key=lambda entry: entry[:3])
    index = {name: position for position, name in enumerate(classes["train"])}
    return classes["train"], [(name, split, index[label], data) for split, label, _, name, data in located]


def _decode_all(
    source: str, names: list[str], blobs: list[bytes], reference: tuple[str, tuple[int, int]], report: Progress
) -> np.ndarray:
    """Decode every image, in chunks, into one N×C×H×W uint8 array in the given order."""
    starts = range(0, len(names), DECODE_CHUNK_SIZE)
    name_chunks = [names[start : start + DECODE_CHUNK_SIZE] for start in starts]
    blob_chunks = [blobs[start : start + DECODE_CHUNK_SIZE] for start in starts]
    workers = min(_decode_cores(), len(name_chunks))
    report(0.0, DECODING)
    if workers < 2:
        decoded = map(_decode_chunk, repeat(source), name_chunks, blob_chunks, repeat(reference))
        chunks = _collect(decoded, len(name_chunks), report)
    else:
        pool = ProcessPoolExecutor(workers, mp_context=_pool_context())
        try:
            decoded = pool.map(_decode_chunk, repeat(source), name_chunks, blob_chunks, repeat(reference))
            chunks = _collect(decoded, len(name_chunks), report)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    width, height = reference[1]
    channels = max(chunk.shape[3] for chunk in chunks)
    pixels = np.empty((len(names), channels, height, width), dtype=np.uint8)
    start = 0
    while chunks:
        chunk = chunks.pop(0)  # each chunk is freed once copied
        # A grayscale chunk broadcasts over 3 channels when others are RGB, as Pillow's L -> RGB does.
        pixels[start : start + len(chunk)] = chunk.transpose(0, 3, 1, 2)
        start += len(chunk)
    return pixels


def _collect(decoded: Iterator[np.ndarray], total: int, report: Progress) -> list[np.ndarray]:
    """The decoded chunks in order, reporting each as it arrives."""
    chunks = []
    for chunk in decoded:
        chunks.append(chunk)
        report(len(chunks) / total, DECODING)
    return chunks


def _decode_cores() -> int:
    # Daemonic processes (a Celery prefork child, for one) may not start children at all.
    if not sys.platform.startswith("linux") or multiprocessing.current_process().daemon:
        return 1
    return min(len(os.sched_getaffinity(0)), MAX_DECODE_WORKERS)


def _pool_context():
    # Not plain fork: the caller is often multi-threaded (a web server, a test live server,
    # torch's thread pool), and a child forked while another thread holds a lock can hang
    # forever. The fork server is a clean single-threaded process to fork from.
    return multiprocessing.get_context("forkserver")


def _open_image(source: str, name: str, data: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
    except UnidentifiedImageError:
        raise DatasetError(f"{source}: {name}: not an image ({', '.join(IMAGE_FORMATS)} are read)") from None
    except Exception as error:  # Pillow raises many kinds for broken headers.
        raise DatasetError(f"{source}: {name}: corrupt image ({error})") from None
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        image.close()
        raise DatasetError(f"{source}: {name}: {width}×{height} is over the {MAX_IMAGE_PIXELS} pixel limit")
    return image


def _reference_size(source: str, name: str, data: bytes) -> tuple[str, tuple[int, int]]:
    with _open_image(source, name, data) as image:
        return name, image.size


def _decode_chunk(
    source: str, names: list[str], blobs: list[bytes], reference: tuple[str, tuple[int, int]]
) -> np.ndarray:
    """Decode images to one n×H×W×C uint8 array: C=1 if all are grayscale, else 3."""
    reference_name, size = reference
    pixels = []
    for name, data in zip(names, blobs, strict=True):
        with _open_image(source, name, data) as image:
            if image.size != size:
                raise DatasetError(
                    f"{source}: {name}: image is {image.size[0]}×{image.size[1]} but {reference_name} is "
                    f"{size[0]}×{size[1]}; all images must have the same size"
                )
            if image.mode not in GRAYSCALE_MODES | COLOUR_MODES:
                raise DatasetError(
                    f"{source}: {name}: image mode {image.mode} is not supported; save 8-bit grayscale or colour images"
                )
            target_mode = "L" if image.mode in GRAYSCALE_MODES else "RGB"
            try:
                image.load()
                array = np.asarray(image if image.mode == target_mode else image.convert(target_mode))
            except Exception as error:  # truncated or corrupt data surfaces when pixels are decoded
                raise DatasetError(f"{source}: {name}: corrupt image ({error})") from None
        pixels.append(array[:, :, None] if array.ndim == 2 else array)
    channels = max(array.shape[2] for array in pixels)
    return np.stack([np.broadcast_to(array, (*array.shape[:2], channels)) for array in pixels])
