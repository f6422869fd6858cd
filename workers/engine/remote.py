"""Downloads over HTTP(S): streamed to disk, bounded in size, checked against a checksum, retried.

The body goes to a temporary file beside the destination in fixed-size chunks, so it
never sits in memory whole, and is renamed into place only once it is complete and
matches the publisher's checksum: a failed or refused download leaves nothing behind.

Errors say whether trying again could help. A ``Content-Length`` over the limit, a
body that runs past it, a 4xx answer and a checksum mismatch are ``DatasetError``s,
raised at once. Connection failures, timeouts, 5xx answers and bodies cut short are
retried with exponential backoff; when every attempt failed they end as a
``DatasetFetchError``, which callers may give back to be tried later.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from workers.engine.errors import ConfigError, DatasetError, DatasetFetchError
from workers.engine.version import ENGINE_VERSION

CHUNK_BYTES = 1 << 20
DEFAULT_RETRIES = 3
# Per connection attempt and per read, not for the whole download.
DEFAULT_TIMEOUT_SECONDS = 60.0
BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
SCHEMES = ("http", "https")
# Hex digits of each digest a publisher may give.
CHECKSUM_LENGTHS = {"md5": 32, "sha256": 64}
# Answers that say "not now" rather than "no": worth another try.
TRANSIENT_STATUSES = frozenset({408, 425, 429})
USER_AGENT = f"samplewise/{ENGINE_VERSION} (dataset import)"

logger = logging.getLogger(__name__)

# Called with the bytes received so far and the announced total (None when the server gives none).
ByteProgress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class Checksum:
    algorithm: str
    hexdigest: str

    @classmethod
    def parse(cls, text: str) -> Checksum:
        """``md5:<hex>`` or ``sha256:<hex>``; bare hex is read by its length (32 digits md5, 64 sha256)."""
        algorithm, _, digest = text.strip().lower().rpartition(":")
        if not algorithm:
            algorithm = next((name for name, length in CHECKSUM_LENGTHS.items() if length == len(digest)), "")
        length = CHECKSUM_LENGTHS.get(algorithm)
        if length is None or len(digest) != length or any(digit not in "0123456789abcdef" for digit in digest):
            raise ConfigError(
                "checksum", f"{text!r} is not a checksum; give md5:<32 hex digits> or sha256:<64 hex digits>"
            )
        return cls(algorithm, digest)

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hexdigest}"


@dataclass(frozen=True)
class DownloadedFile:
    path: Path
    size: int
    sha256: str


class _TransientFailure(Exception):
    """One attempt failed in a way another attempt may not."""


def check_url(url: str) -> None:
    """ConfigError naming ``url`` unless it is an absolute http(s) URL."""
    try:
        parts = urllib.parse.urlsplit(url) if isinstance(url, str) else None
        valid = parts is not None and parts.scheme.lower() in SCHEMES and bool(parts.hostname) and parts.port != 0
    except ValueError:  # an unclosed IPv6 bracket, a port that is not a number
        valid = False
    if not valid:
        raise ConfigError("url", f"{url!r} is not an http:// or https:// URL")


def download(
    url: str,
    destination: Path | str,
    *,
    max_bytes: int,
    checksum: str | Checksum | None = None,
    retries: int = DEFAULT_RETRIES,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    progress: ByteProgress | None = None,
) -> DownloadedFile:
    """Fetch ``url`` into ``destination`` (replacing it), at most ``max_bytes``, verified against ``checksum``.

    ``retries`` is how many more attempts follow a failed one that may pass; each
    attempt starts again from the first byte.
    """
    check_url(url)
    expected = Checksum.parse(checksum) if isinstance(checksum, str) else checksum
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise ConfigError("max_bytes", f"must be a positive number of bytes, not {max_bytes!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigError("retries", f"must be a whole number of at least 0, not {retries!r}")
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff_seconds(attempt))
        try:
            return _attempt(url, destination, max_bytes, expected, timeout, progress)
        except _TransientFailure as failure:
            failures.append(str(failure))
            logger.warning("download of %s failed (attempt %d of %d): %s", url, attempt + 1, retries + 1, failure)
    attempts = "1 attempt" if len(failures) == 1 else f"{len(failures)} attempts"
    raise DatasetFetchError(f"{url}: download failed after {attempts}: {failures[-1]}")


def backoff_seconds(attempt: int) -> float:
    """The pause before retry number ``attempt`` (1, 2, ...): doubling from BACKOFF_SECONDS, capped."""
    return min(BACKOFF_SECONDS * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS)


def _attempt(
    url: str,
    destination: Path,
    max_bytes: int,
    expected: Checksum | None,
    timeout: float,
    progress: ByteProgress | None,
) -> DownloadedFile:
    handle, temporary_name = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".part")
    temporary = Path(temporary_name)
    try:
        with os.fdopen(handle, "wb") as stream:
            size, digests = _receive(url, stream, max_bytes, expected, timeout, progress)
        if expected is not None:
            actual = digests[expected.algorithm].hexdigest()
            if actual != expected.hexdigest:
                raise DatasetError(
                    f"{url}: the download's {expected.algorithm} is {actual}, but the publisher gives "
                    f"{expected.hexdigest}; refusing it"
                )
        os.replace(temporary, destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return DownloadedFile(path=destination, size=size, sha256=digests["sha256"].hexdigest())


def _receive(
    url: str,
    stream,
    max_bytes: int,
    expected: Checksum | None,
    timeout: float,
    progress: ByteProgress | None,
) -> tuple[int, dict]:
    """Stream the body into ``stream``; returns its size and its digests (sha256, and the expected one's)."""
    # Asking for no compression keeps the byte count and the checksum those of the published file.
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()
        answer = f"the server answered HTTP {error.code} {error.reason}"
        if error.code >= 500 or error.code in TRANSIENT_STATUSES:
            raise _TransientFailure(answer) from None
        raise DatasetError(f"{url}: {answer}") from None
    except (OSError, http.client.HTTPException) as error:
        reason = error.reason if isinstance(error, urllib.error.URLError) else error
        raise _TransientFailure(f"cannot connect ({reason})") from None
    with response:
        # http.client's own reading of Content-Length: None when absent, invalid or chunked.
        announced = getattr(response, "length", None)
        if announced is not None and announced > max_bytes:
            raise DatasetError(f"{url}: the server announces {announced} bytes, over the {max_bytes} byte limit")
        digests = {"sha256": hashlib.sha256()}
        if expected is not None:
            digests.setdefault(expected.algorithm, hashlib.new(expected.algorithm))
        received = 0
        while True:
            try:
                # One byte past the limit is enough to know the body is too large.
                chunk = response.read(min(CHUNK_BYTES, max_bytes + 1 - received))
            except (OSError, http.client.HTTPException) as error:
                raise _TransientFailure(f"the connection broke after {received} bytes ({error!r})") from None
            if not chunk:
                break
            received += len(chunk)
            if received > max_bytes:
                raise DatasetError(f"{url}: the download runs past the {max_bytes} byte limit; stopped there")
            stream.write(chunk)
            for digest in digests.values():
                digest.update(chunk)
            if progress is not None:
                progress(received, announced)
    if announced is not None and received < announced:
        raise _TransientFailure(f"the download was cut short: {received} of {announced} bytes arrived")
    return received, digests
