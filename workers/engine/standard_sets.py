"""Standard datasets imported from their publishers' URLs, and datasets imported from any URL.

``PRESETS`` lists each set's files, where they are published (mirrors after the
publisher, tried in order) and their checksums, and ``import_preset`` downloads them
(streamed, bounded, verified, retried: ``workers.engine.remote``), decodes them with
the readers in ``workers.engine.data.standard_formats`` (no unpickling) and stores the
arrays through the same store as an upload: the result is a ``DatasetInfo`` whose
SHA-256 is that of the content, so the same images and labels get the same hash
however they arrived. ``import_url`` does the same for one file at any URL, in an
upload format or a single-file standard format.

Downloads go to a scratch folder under the data directory that is removed afterwards,
whatever happened; a refused or failed import stores nothing.

Progress is reported as ``progress(fraction, stage)``: a fraction of the whole import
from 0 to 1 and a short text ("downloading train_32x32.mat", "decoding", "storing").
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from workers.engine.arrays import ArrayDataset
from workers.engine.data.standard_formats import (
    CIFAR10_LAYOUT,
    CIFAR100_LAYOUT,
    read_cifar_binary,
    read_idx_dataset,
    read_svhn_dataset,
)
from workers.engine.data.store import DatasetInfo, recall_source, remember_source, save_dataset
from workers.engine.datasets import FORMATS, import_dataset
from workers.engine.errors import ConfigError, DatasetError, DatasetFetchError
from workers.engine.remote import DEFAULT_RETRIES, DEFAULT_TIMEOUT_SECONDS, DownloadedFile, check_url, download

# Bump when a reader decodes the same files differently, so stores stop reusing old results.
STANDARD_LOADER_VERSION = 1
SCRATCH_FOLDER = "downloads"
# Shares of the progress bar: downloading, then decoding, then storing.
DOWNLOAD_SHARE = 0.8
DECODE_SHARE = 0.1
# Progress is reported when it moved by at least this much (or the stage changed).
PROGRESS_STEP = 0.01

Progress = Callable[[float, str], None]
DIGITS = tuple(str(digit) for digit in range(10))
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


@dataclass(frozen=True)
class StandardFormat:
    """A publisher's file layout: the files it needs (by role) and how they decode."""

    roles: tuple[str, ...]
    # Called with one path per role, in role order, and the name to use in errors.
    decode: Callable[..., ArrayDataset]


IDX_ROLES = ("train_images", "train_labels", "test_images", "test_labels")
STANDARD_FORMATS: dict[str, StandardFormat] = {
    "cifar10_binary": StandardFormat(roles=("archive",), decode=partial(read_cifar_binary, layout=CIFAR10_LAYOUT)),
    "cifar100_binary": StandardFormat(roles=("archive",), decode=partial(read_cifar_binary, layout=CIFAR100_LAYOUT)),
    "mnist_idx": StandardFormat(roles=IDX_ROLES, decode=partial(read_idx_dataset, class_names=DIGITS)),
    "fashion_mnist_idx": StandardFormat(
        roles=IDX_ROLES, decode=partial(read_idx_dataset, class_names=FASHION_MNIST_CLASSES)
    ),
    "svhn_mat": StandardFormat(roles=("train", "test"), decode=read_svhn_dataset),
}
# What ``import_url`` reads: the upload formats, and the standard formats that come as one file.
URL_FORMATS = (*FORMATS, *(name for name, spec in STANDARD_FORMATS.items() if len(spec.roles) == 1))


@dataclass(frozen=True)
class RemoteFile:
    role: str
    name: str
    # The published size, also the download's limit: a file of any other size cannot match the checksum.
    size: int
    checksum: str


@dataclass(frozen=True)
class Preset:
    key: str
    title: str
    summary: str
    homepage: str
    format: str
    # Base URLs holding every file, tried in order; the publisher's own first unless it often refuses.
    mirrors: tuple[str, ...]
    files: tuple[RemoteFile, ...]


def _idx_files(sizes: Sequence[int], checksums: Sequence[str]) -> tuple[RemoteFile, ...]:
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz")
    names += ("t10k-labels-idx1-ubyte.gz",)
    return tuple(
        RemoteFile(role=role, name=name, size=size, checksum=checksum)
        for role, name, size, checksum in zip(IDX_ROLES, names, sizes, checksums, strict=True)
    )


# Checksums: the MD5s the publishers list (CIFAR, Fashion-MNIST); MNIST's and SVHN's pages list
# none, so theirs are the MD5s that torchvision has pinned for these exact files for years.
PRESETS: dict[str, Preset] = {
    "cifar10": Preset(
        key="cifar10",
        title="CIFAR-10",
        summary="60,000 32×32 colour images in 10 classes (50,000 train, 10,000 test)",
        homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
        format="cifar10_binary",
        mirrors=("https://www.cs.toronto.edu/~kriz/",),
        files=(RemoteFile("archive", "cifar-10-binary.tar.gz", 170_052_171, "md5:c32a1d4ab5d03f1284b67883e8d87530"),),
    ),
    "cifar100": Preset(
        key="cifar100",
        title="CIFAR-100",
        summary="60,000 32×32 colour images in 100 classes (50,000 train, 10,000 test)",
        homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
        format="cifar100_binary",
        mirrors=("https://www.cs.toronto.edu/~kriz/",),
        files=(RemoteFile("archive", "cifar-100-binary.tar.gz", 168_513_733, "md5:03b5dce01913d631647c71ecec9e9cb8"),),
    ),
    "mnist": Preset(
        key="mnist",
        title="MNIST",
        summary="70,000 28×28 grayscale handwritten digits (60,000 train, 10,000 test)",
        homepage="http://yann.lecun.com/exdb/mnist/",
        format="mnist_idx",
        # The publisher's site has refused plain downloads at times; PyTorch's mirror serves the same files.
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        files=_idx_files(
            (9_912_422, 28_881, 1_648_877, 4_542),
            (
                "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873",
                "md5:d53e105ee54ea40749a09fcbcd1e9432",
                "md5:9fb629c4189551a2d022fa330f9573f3",
                "md5:ec29112dd5afa0611ce80d1b7f02629c",
            ),
        ),
    ),
    "fashion_mnist": Preset(
        key="fashion_mnist",
        title="Fashion-MNIST",
        summary="70,000 28×28 grayscale images of clothing in 10 classes (60,000 train, 10,000 test)",
        homepage="https://github.com/zalandoresearch/fashion-mnist",
        format="fashion_mnist_idx",
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        files=_idx_files(
            (26_421_880, 29_515, 4_422_102, 5_148),
            (
                "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                "md5:25c81989df183df01b3e8a0aad5dffbe",
                "md5:bef4ecab320f06d8554ea6380940ec79",
                "md5:bb300cfdad3c16e7a12a480ee83cd310",
            ),
        ),
    ),
    "svhn": Preset(
        key="svhn",
        title="SVHN (cropped digits)",
        summary="99,289 32×32 colour digits from house numbers (73,257 train, 26,032 test)",
        homepage="http://ufldl.stanford.edu/housenumbers/",
        format="svhn_mat",
        mirrors=("http://ufldl.stanford.edu/housenumbers/",),
        files=(
            RemoteFile("train", "train_32x32.mat", 182_040_794, "md5:e26dedcc434d2e4c54c9b2d4a06d8373"),
            RemoteFile("test", "test_32x32.mat", 64_275_384, "md5:eb5a983be6a315427106f1b164d9cef3"),
        ),
    ),
}


def import_preset(
    name: str,
    data_dir: Path | str,
    *,
    base_url: str | None = None,
    max_bytes: int | None = None,
    progress: Progress | None = None,
    retries: int = DEFAULT_RETRIES,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> DatasetInfo:
    """Download, verify, decode and store the standard dataset ``name`` (a key of PRESETS).

    ``base_url`` replaces the preset's mirrors with one that holds the same files under
    the same names (the checksums still apply). ``max_bytes`` caps the whole download.
    """
    preset = PRESETS.get(name)
    if preset is None:
        raise ConfigError("preset", f"unknown standard dataset {name!r}; choose one of {', '.join(PRESETS)}")
    if base_url is not None:
        check_url(base_url)
    if max_bytes is not None and (isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1):
        raise ConfigError("max_bytes", f"must be a positive number of bytes, not {max_bytes!r}")
    mirrors = (base_url,) if base_url is not None else preset.mirrors
    budget = sum(file.size for file in preset.files) if max_bytes is None else max_bytes
    reporter = _Reporter(progress, [file.size for file in preset.files])
    with _scratch(data_dir) as scratch:
        downloaded = []
        for index, file in enumerate(preset.files):
            if budget < 1:
                raise DatasetError(f"{preset.title}: the download passes the {max_bytes} byte limit")
            fetched = _download_from_mirrors(
                file,
                mirrors,
                scratch / file.name,
                max_bytes=min(file.size, budget),
                retries=retries,
                timeout=timeout,
                progress=reporter.downloading(index, file.name),
                title=preset.title,
            )
            budget -= fetched.size
            downloaded.append(fetched)
        info = _decode_and_store(preset.format, downloaded, data_dir, preset.title, reporter)
    reporter.report(1.0, "ready")
    return info


def import_url(
    url: str,
    data_dir: Path | str,
    *,
    format: str,
    max_bytes: int,
    checksum: str | None = None,
    label_column: str = "label",
    progress: Progress | None = None,
    retries: int = DEFAULT_RETRIES,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> DatasetInfo:
    """Download one dataset file from ``url`` (at most ``max_bytes``, checked against ``checksum`` if given),
    decode it as ``format`` (one of URL_FORMATS) and store it."""
    check_url(url)
    if format not in URL_FORMATS:
        several = [name for name in STANDARD_FORMATS if name not in URL_FORMATS]
        hint = f" ({', '.join(several)} come as several files: import them as a preset)" if format in several else ""
        raise ConfigError("format", f"unknown format {format!r}; expected one of {', '.join(URL_FORMATS)}{hint}")
    name = _file_name(url)
    reporter = _Reporter(progress, [1])
    with _scratch(data_dir) as scratch:
        fetched = download(
            url,
            scratch / name,
            max_bytes=max_bytes,
            checksum=checksum,
            retries=retries,
            timeout=timeout,
            progress=reporter.downloading(0, name),
        )
        if format in FORMATS:
            reporter.report(DOWNLOAD_SHARE, "decoding")
            info = import_dataset(fetched.path, data_dir, format=format, label_column=label_column, original_name=name)
        else:
            info = _decode_and_store(format, [fetched], data_dir, name, reporter)
    reporter.report(1.0, "ready")
    return info


def _download_from_mirrors(
    file: RemoteFile,
    mirrors: Sequence[str],
    destination: Path,
    *,
    max_bytes: int,
    retries: int,
    timeout: float,
    progress,
    title: str,
) -> DownloadedFile:
    """The file from the first mirror that serves it intact; the error names every mirror tried."""
    failures: list[DatasetError] = []
    for mirror in mirrors:
        url = urllib.parse.urljoin(mirror if mirror.endswith("/") else f"{mirror}/", file.name)
        try:
            return download(
                url,
                destination,
                max_bytes=max_bytes,
                checksum=file.checksum,
                retries=retries,
                timeout=timeout,
                progress=progress,
            )
        except DatasetError as error:
            failures.append(error)
    message = f"{title}: cannot download {file.name}: " + "; ".join(str(error) for error in failures)
    # Worth trying again later only if some mirror failed for a passing reason.
    if any(isinstance(error, DatasetFetchError) for error in failures):
        raise DatasetFetchError(message)
    raise DatasetError(message)


def _decode_and_store(
    format: str, files: Sequence[DownloadedFile], data_dir: Path | str, source: str, reporter: _Reporter
) -> DatasetInfo:
    """Decode downloaded files and store the arrays, as ``import_dataset`` does for an upload."""
    source_key = {
        "loader_version": STANDARD_LOADER_VERSION,
        "format": format,
        "file_sha256": [file.sha256 for file in files],
    }
    known = recall_source(source_key, data_dir)
    if known is not None:
        return known
    reporter.report(DOWNLOAD_SHARE, "decoding")
    dataset = STANDARD_FORMATS[format].decode(*(file.path for file in files), source=source)
    reporter.report(DOWNLOAD_SHARE + DECODE_SHARE, "storing")
    info = save_dataset(dataset, data_dir, source)
    remember_source(source_key, info, data_dir)
    return info


@contextlib.contextmanager
def _scratch(data_dir: Path | str) -> Iterator[Path]:
    """A fresh folder for downloads beside the store, removed on the way out whatever happened."""
    parent = Path(data_dir) / SCRATCH_FOLDER
    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=parent, prefix="import-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _file_name(url: str) -> str:
    """The last segment of the URL's path, for errors and format detection; never a path."""
    name = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name
    name = "".join(character for character in name if character.isalnum() or character in "._-")
    return name.lstrip(".") or "download"


class _Reporter:
    """Turns per-file byte counts and stages into one fraction, reported only when it moved visibly."""

    def __init__(self, progress: Progress | None, weights: Sequence[int]):
        self.progress = progress
        total = sum(weights)
        # Each download's slice of the bar: from the previous one's end to its own.
        self.bounds = [DOWNLOAD_SHARE * (sum(weights[:index]) / total) for index in range(len(weights) + 1)]
        self.last: tuple[float, str] | None = None

    def downloading(self, index: int, name: str) -> Callable[[int, int | None], None]:
        stage = f"downloading {name}"
        start, end = self.bounds[index], self.bounds[index + 1]
        self.report(start, stage)

        def received(done: int, total: int | None) -> None:
            if total:
                self.report(min(start + (end - start) * done / total, end), stage)

        return received

    def report(self, fraction: float, stage: str) -> None:
        if self.progress is None:
            return
        if self.last is not None:
            # Rounding may put a slice's end a hair before the next one's start; the bar never moves back.
            fraction = max(fraction, self.last[0])
            if stage == self.last[1] and fraction < min(self.last[0] + PROGRESS_STEP, 1.0):
                return
        self.last = (fraction, stage)
        self.progress(fraction, stage)
