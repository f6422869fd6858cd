"""Receiving an uploaded dataset file: refused by its declared size before the body is read, then
written as it arrives into the store's uploads folder, where the import task finds it.

A page or API view calls ``upload_intake`` after its access check and before anything reads
the request body (Django's CSRF check reads a form body, so such views run it afterwards).
The request's ``Content-Length`` bounds what the server reads, so a request declaring more
than ``SAMPLEWISE_MAX_UPLOAD_BYTES`` is refused at once and no larger body is ever read.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import TemporaryUploadedFile, UploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest

from backend.datasets.imports import uploads_dir
from backend.errors import ApplicationError

# Files being received carry this prefix until they are stored under their own name.
INCOMING_PREFIX = ".incoming-"


def too_large(size: int) -> ApplicationError:
    limit = settings.SAMPLEWISE_MAX_UPLOAD_BYTES
    return ApplicationError(
        f"The upload is {size:,} bytes, over the {limit:,} byte limit for datasets.", field="file", status_code=413
    )


def declared_length(request: HttpRequest) -> int:
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def upload_intake(request: HttpRequest) -> None:
    """Refuse a request that declares more than the upload limit, and receive its files into the store.

    Call it before the body is read: it reads nothing, and the handlers it installs
    only take effect when the body is parsed.
    """
    size = declared_length(request)
    if size > settings.SAMPLEWISE_MAX_UPLOAD_BYTES:
        raise too_large(size)
    request.upload_handlers = [IncomingUploadHandler(request)]


class IncomingUploadedFile(TemporaryUploadedFile):
    """An uploaded file being written into the uploads folder (removed when closed unless it was stored)."""

    def __init__(self, name, content_type, size, charset, content_type_extra=None):
        directory = uploads_dir()
        directory.mkdir(parents=True, exist_ok=True)
        file = tempfile.NamedTemporaryFile(prefix=INCOMING_PREFIX, suffix=".part", dir=directory)  # noqa: SIM115
        UploadedFile.__init__(self, file, name, content_type, size, charset, content_type_extra)


class IncomingUploadHandler(FileUploadHandler):
    """Writes every file of the request to disk in the uploads folder as it streams in, whatever its size,
    so the web process never holds an upload in memory and storing it is a link, not a copy."""

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self.file = IncomingUploadedFile(self.file_name, self.content_type, 0, self.charset, self.content_type_extra)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.file.write(raw_data)

    def file_complete(self, file_size: int) -> UploadedFile:
        self.file.seek(0)
        self.file.size = file_size
        return self.file

    def upload_interrupted(self) -> None:
        if hasattr(self, "file"):
            self.file.close()


def upload_suffix(filename: str) -> str:
    """``pets.tar.gz`` -> ``.tar.gz``: kept on the stored file so a person reading the folder can tell what it is."""
    suffixes = Path(filename).suffixes[-2:]
    suffix = "".join(part for part in suffixes if part.isascii() and part[1:].isalnum())
    return suffix.lower()[:16]


def upload_store(upload: UploadedFile) -> str:
    """Put ``upload`` into the uploads folder under a new name and return that name.

    A file received by ``IncomingUploadHandler`` is already there and is linked in
    place; any other is copied in chunks through a temporary file.
    """
    directory = uploads_dir()
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{uuid.uuid4().hex}{upload_suffix(upload.name or '')}"
    target = directory / name
    if isinstance(upload, TemporaryUploadedFile):
        try:
            os.link(upload.temporary_file_path(), target)
            return name
        except OSError:
            pass  # another filesystem: copy instead
    handle, temporary = tempfile.mkstemp(prefix=INCOMING_PREFIX, suffix=".part", dir=directory)
    try:
        with os.fdopen(handle, "wb") as destination:
            for chunk in upload.chunks():
                destination.write(chunk)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return name
